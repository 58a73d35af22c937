"""The local admin channel: change and read the printer's status on a running server.

The server listens on a loopback TCP port of its own (never the DICOM port) and writes
`<archive>/.printscp-<DICOM port>.admin`, readable by its owner only, holding that port and a random
token. `printscp printer ...`, given the same --config/--archive/--port as `serve`, reads the file and
sends one JSON line with the token; the server answers one JSON line. Only a user who can read the
file can use the channel.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any, Protocol

from printscp.model.enums import PrinterStatus
from printscp.model.printer import Printer

log = logging.getLogger(__name__)


class AdminError(Exception):
    """The admin channel cannot be reached, or refused the command."""


class QueueView(Protocol):
    @property
    def depth(self) -> int: ...


def admin_file(archive: Path, dicom_port: int) -> Path:
    return archive / f".printscp-{dicom_port}.admin"


class AdminServer:
    def __init__(self, printer: Printer, queue: QueueView, archive: Path, dicom_port: int) -> None:
        self.printer, self.queue = printer, queue
        self.path = admin_file(archive, dicom_port)
        self._token = secrets.token_hex(16)
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, name="printscp-admin", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"port": self._socket.getsockname()[1], "token": self._token, "pid": os.getpid()}, file)
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
                    reply = self._handle(json.loads(_read_line(connection)))
                except Exception as exc:  # a bad command never stops the channel
                    reply = {"error": str(exc)}
                connection.sendall(json.dumps(reply).encode() + b"\n")

    def _handle(self, command: dict[str, Any]) -> dict[str, Any]:
        if not secrets.compare_digest(str(command.get("token", "")), self._token):
            return {"error": "wrong token"}
        if command.get("command") == "set":
            status = PrinterStatus(str(command.get("status", "")).upper())
            info = command.get("info")
            self.printer.set_status(status, str(info).upper() if info else None)
            log.info("admin: printer status set to %s", status.value)
        elif command.get("command") != "status":
            return {"error": f"unknown command {command.get('command')!r}"}
        state = self.printer.state
        return {
            "printer_status": state.printer_status.value,
            "printer_status_info": state.printer_status_info,
            "queue_depth": self.queue.depth,
        }


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
    try:
        with socket.create_connection(("127.0.0.1", endpoint["port"]), timeout=timeout) as connection:
            connection.sendall(json.dumps({**command, "token": endpoint["token"]}).encode() + b"\n")
            reply: dict[str, Any] = json.loads(_read_line(connection))
    except OSError as exc:
        raise AdminError(
            f"printscp on port {dicom_port} does not answer ({exc.strerror or exc}); is it still running?"
        ) from None
    if "error" in reply:
        raise AdminError(reply["error"])
    return reply
