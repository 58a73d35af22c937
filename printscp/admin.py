"""The local admin channel: change and read the status of a running server's printers.

Only the local user who runs the server can use it. The server listens on a Unix socket (never on the
network, never the DICOM port) inside a private folder of its own (mode 0700, made with mkdtemp in the
temporary folder), the socket itself mode 0600; it writes `<archive>/.printscp-<DICOM port>.admin`, mode
0600, naming that socket and its PID. `printscp printer ...`, given the same --config/--archive/--port as
`serve`, reads the file and sends one JSON line; the server answers one JSON line. Three locks, each enough
alone against another local user: the admin file and the socket's folder cannot be read or entered by
anyone else, and the server checks the connecting process's user id (SO_PEERCRED, from the kernel, not from
the client) and refuses any user but its own with "not authorized". Root passes the file permissions like
any root, but is refused by the peer check unless the server runs as root.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from printscp.bench.faults import FaultPlan
from printscp.config import ConfigError
from printscp.identity.model import Identity, patient
from printscp.model.enums import PrinterStatus
from printscp.model.printer import Printer
from printscp.relay.queue import RelayQueue

log = logging.getLogger(__name__)


class AdminError(Exception):
    """The admin channel cannot be reached, or refused the command."""


class QueueView(Protocol):
    @property
    def depth(self) -> int: ...

    def depth_of(self, printer: str) -> int: ...


def admin_file(archive: Path, dicom_port: int) -> Path:
    return archive / f".printscp-{dicom_port}.admin"


class AdminServer:
    def __init__(
        self,
        printers: Mapping[str, Printer],
        queue: QueueView,
        archive: Path,
        dicom_port: int,
        faults: FaultPlan | None = None,
        assign: Callable[[str, Identity, str], Any] | None = None,
        relays: RelayQueue | None = None,
    ) -> None:
        """`printers`: every printer's status by AE title, the default printer first; `faults`: the server's
        fault plan, which `fault_add`, `fault_list` and `fault_clear` change and read."""
        self.printers, self.queue = dict(printers), queue
        self.faults = faults if faults is not None else FaultPlan()
        self.assign = assign  # PrintServer.assign_identity: `printscp films assign` beside a running server
        self.relays = relays  # `printscp relay retry` beside a running server
        self.path = admin_file(archive, dicom_port)
        self._folder = Path(tempfile.mkdtemp(prefix="printscp-admin-"))  # mode 0700
        self.socket_path = self._folder / "admin.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(self.socket_path))  # in a folder only we can enter: nobody else sees it before
        os.chmod(self.socket_path, 0o600)  # it is made private here
        self._socket.listen(8)
        self._thread = threading.Thread(target=self._serve, name="printscp-admin", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"socket": str(self.socket_path), "pid": os.getpid()}, file)
        os.replace(temporary, self.path)
        self._thread.start()

    def stop(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux: the socket would keep
        # listening and the thread would live on. shutdown() makes that accept() fail.
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        shutil.rmtree(self._folder, ignore_errors=True)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed by stop()
                return
            with connection:
                connection.settimeout(5)
                try:
                    line = _read_line(connection)  # read first: a refused client still gets its answer
                    uid = peer_uid(connection)
                    if uid != os.getuid():
                        log.warning("admin: refused a command from user id %d (the server's is %d)", uid, os.getuid())
                        reply: dict[str, Any] = {"error": "not authorized: only the user who runs the server"}
                    else:
                        reply = self._handle(json.loads(line))
                except Exception as exc:  # a bad command never stops the channel
                    reply = {"error": str(exc)}
                try:
                    connection.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:  # the client went away
                    pass

    def _handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """`status` of one printer ("printer": its AE title) or of all; `set` one (the default printer's
        if none is named)."""
        action, named = command.get("command"), command.get("printer")
        if named is not None and named not in self.printers:
            return {"error": f"no printer {named!r} (printers: {', '.join(self.printers)})"}
        if isinstance(action, str) and action.startswith("fault_"):
            return self._fault_command(action, command)
        if action == "assign" and self.assign is not None:
            identity = patient(dict(command.get("identity", {})))
            self.assign(str(command["job_uid"]), identity, str(command.get("by", "?")))
            return {"assigned": command["job_uid"]}
        if action == "relay_retry":
            if self.relays is None:
                return {"error": "no printer of this server relays"}
            try:
                relay = self.relays.retry(str(command.get("job_uid")))
            except KeyError:
                return {"error": f"no relay of print job {command.get('job_uid')}"}
            except ValueError as exc:
                return {"error": str(exc)}
            return {"retried": relay.job_uid}
        if action == "set":
            ae_title = named if named is not None else next(iter(self.printers))
            status = PrinterStatus(str(command.get("status", "")).upper())
            info = command.get("info")
            self.printers[ae_title].set_status(status, str(info).upper() if info else None)
            log.info("admin: printer %s status set to %s", ae_title, status.value)
            shown = [ae_title]
        elif action == "status":
            shown = [named] if named is not None else list(self.printers)
        else:
            return {"error": f"unknown command {action!r}"}
        printers = []
        for ae_title in shown:
            state = self.printers[ae_title].state
            printers.append(
                {
                    "ae_title": ae_title,
                    "printer_status": state.printer_status.value,
                    "printer_status_info": state.printer_status_info,
                    "queue_depth": self.queue.depth_of(ae_title),
                }
            )
        return {"printers": printers, "queue_depth": self.queue.depth}

    def _fault_command(self, action: str, command: dict[str, Any]) -> dict[str, Any]:
        """The fault plan (bench/faults.py), not persisted: `fault_add` with a rule's keys as in
        [[faults.plan]] ("printer" optional: any printer), `fault_list` and `fault_clear` of every rule or,
        with "printer", of the rules for that printer."""
        printer = command.get("printer")
        reply: dict[str, Any] = {}
        if action == "fault_add":
            try:
                added = self.faults.add_table({k: v for k, v in command.items() if k != "command"})
            except ConfigError as exc:
                return {"error": f"fault add: {exc}"}
            log.info("admin: fault plan rule added: %s", added.rule)
            reply["added"] = added.as_json()
        elif action == "fault_clear":
            reply["cleared"] = self.faults.clear(printer)
            log.info("admin: %d fault plan rule(s) cleared", reply["cleared"])
        elif action != "fault_list":
            return {"error": f"unknown command {action!r}"}
        reply["rules"] = [rule.as_json() for rule in self.faults.rules(printer)]
        return reply


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket, as the kernel recorded it (Linux)."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def _read_line(connection: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n") and len(data) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def send(archive: Path, dicom_port: int, command: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
    """Send one command to the server serving `archive` on `dicom_port`; returns its reply."""
    path = admin_file(archive, dicom_port)
    try:
        with open(path, encoding="utf-8") as file:
            endpoint = json.load(file)
    except FileNotFoundError:
        raise AdminError(f"no printscp is serving {archive} on port {dicom_port} (no {path.name})") from None
    except PermissionError:
        raise AdminError(f"not authorized: {path} belongs to the user who runs the server") from None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(endpoint["socket"]))
            connection.sendall(json.dumps(command).encode() + b"\n")
            reply: dict[str, Any] = json.loads(_read_line(connection))
    except PermissionError:
        raise AdminError("not authorized: only the user who runs the server can use its admin channel") from None
    except (OSError, ValueError, KeyError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AdminError(f"printscp on port {dicom_port} does not answer ({why}); is it still running?") from None
    if "error" in reply:
        raise AdminError(reply["error"])
    return reply
