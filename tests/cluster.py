"""Several `printscp serve` nodes behind HAProxy on one machine: the harness of the cluster tests and benchmark.

`Cluster(folder, nodes=3)` starts N nodes, each a `printscp serve` process with a config file of its own
(written here from the bundled config.toml: one render worker, no OCR, no web console) on a free loopback
port, then HAProxy in front of them on another free port, with the configuration `haproxy_config` writes. It
returns once HAProxy accepts connections and its stats socket shows every node UP, i.e. once each node has
passed HAProxy's health check, a real DICOM C-ECHO (A-ASSOCIATE-RQ for Verification, C-ECHO-RQ, A-RELEASE-RQ,
each answer matched). `kill(node)` sends SIGKILL; `wait_for_state(node, "DOWN")` polls the stats socket.

Two modes:

* today (`shared=False`, the default): single-node printscp as it is, each node its own archive folder and
  SQLite index. HAProxy spreads associations; a film is printed by the node its association landed on.
* cluster (`shared=True`, needs issue 18's cluster mode): every node on one archive folder and one
  PostgreSQL database (`postgres_url`), `[cluster] enabled = true` with its own node_id. `cluster_mode_available()`
  says whether this printscp accepts that configuration at all.

`haproxy_config` is also what docs/deployment.md explains and what deploy/haproxy.cfg was written from (a test
checks that the health check bytes there are the same as here).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from serve import ServeProcess

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0  # seconds for a node or HAProxy to start, health checks passed

# --- the health check: a DICOM C-ECHO in bytes (PS3.8 9.3) -----------------------------------------------------

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # DICOM Application Context Name (PS3.7 A.2.1)
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
CHECK_CALLING_AE = "HAPROXY_CHECK"
# The Implementation Class UID the check announces (PS3.7 D.3.3.2 requires one): a UUID-derived UID (PS3.5
# B.2), made once for this check, so that no organisation's root is borrowed.
CHECK_IMPLEMENTATION_UID = "2.25.86713251640187431965839201617282604981"
CHECK_IMPLEMENTATION_VERSION = "HAPROXY_CHECK"
MAX_PDU = 16384  # what the check accepts: HAProxy reads a check's answer into one 16 KiB buffer (tune.bufsize)


def _item(item_type: int, value: bytes) -> bytes:
    """A PDU item or sub-item: type, reserved, 2-byte big-endian length (PS3.8 9.3.2)."""
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16, b" ")


def associate_rq(called_ae: str = "PRINTSCP", calling_ae: str = CHECK_CALLING_AE) -> bytes:
    """A-ASSOCIATE-RQ proposing Verification in Implicit VR Little Endian, presentation context 1 (PS3.8 9.3.2)."""
    presentation_context = (
        bytes([1, 0, 0, 0]) + _item(0x30, VERIFICATION.encode()) + _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN.encode())
    )
    user_information = (
        _item(0x51, struct.pack(">I", MAX_PDU))
        + _item(0x52, CHECK_IMPLEMENTATION_UID.encode())
        + _item(0x55, CHECK_IMPLEMENTATION_VERSION.encode())
    )
    body = (
        struct.pack(">HH", 1, 0)  # protocol version 1, reserved
        + _ae(called_ae)
        + _ae(calling_ae)
        + bytes(32)
        + _item(0x10, APPLICATION_CONTEXT.encode())
        + _item(0x20, presentation_context)
        + _item(0x50, user_information)
    )
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def _element(group: int, element: int, value: bytes) -> bytes:
    """A command set element, Implicit VR Little Endian (PS3.7 E.1): tag, 4-byte length, value."""
    return struct.pack("<HHI", group, element, len(value)) + value


def c_echo_rq(message_id: int = 1) -> bytes:
    """P-DATA-TF with one PDV: the command set of a C-ECHO-RQ (PS3.7 9.3.5) on presentation context 1."""
    uid = VERIFICATION.encode()
    uid += b"\0" * (len(uid) % 2)  # UI values are padded to even length with NUL
    elements = (
        _element(0x0000, 0x0002, uid)  # Affected SOP Class UID
        + _element(0x0000, 0x0100, struct.pack("<H", 0x0030))  # Command Field: C-ECHO-RQ
        + _element(0x0000, 0x0110, struct.pack("<H", message_id))  # Message ID
        + _element(0x0000, 0x0800, struct.pack("<H", 0x0101))  # Command Data Set Type: none
    )
    command = _element(0x0000, 0x0000, struct.pack("<I", len(elements))) + elements  # Command Group Length
    pdv = bytes([1, 0x03]) + command  # presentation context 1; message control header: command, last fragment
    body = struct.pack(">I", len(pdv)) + pdv
    return struct.pack(">BBI", 0x04, 0, len(body)) + body


RELEASE_RQ = struct.pack(">BBIxxxx", 0x05, 0, 4)  # A-RELEASE-RQ (PS3.8 9.3.6)

# What each answer must be, as HAProxy's `rbinary` regexes on the answer in hexadecimal: the PDU type first
# (02 A-ASSOCIATE-AC, 04 P-DATA-TF, 06 A-RELEASE-RP); in the C-ECHO-RSP, Status (0000,0900) = 0x0000, Success,
# on a byte boundary ((..)* keeps the match on whole bytes).
EXPECT_ASSOCIATE_AC = "^02"
EXPECT_ECHO_SUCCESS = "^04(..)*00000009020000000000"
EXPECT_RELEASE_RP = "^06"


def dicom_check_lines(called_ae: str = "PRINTSCP") -> list[str]:
    """The `tcp-check` rules of the C-ECHO health check, for a backend with `option tcp-check`."""
    return [
        "tcp-check connect",
        f"tcp-check send-binary {associate_rq(called_ae).hex()} comment A-ASSOCIATE-RQ",
        f'tcp-check expect rbinary {EXPECT_ASSOCIATE_AC} comment "A-ASSOCIATE-AC (accepted)"',
        f"tcp-check send-binary {c_echo_rq().hex()} comment C-ECHO-RQ",
        f'tcp-check expect rbinary {EXPECT_ECHO_SUCCESS} comment "C-ECHO-RSP Success"',
        f"tcp-check send-binary {RELEASE_RQ.hex()} comment A-RELEASE-RQ",
        f"tcp-check expect rbinary {EXPECT_RELEASE_RP} comment A-RELEASE-RP",
    ]


# --- the HAProxy configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One printscp node as HAProxy sees it: a name, its DICOM address, and its web console's port (for the
    HTTP /healthz check)."""

    name: str
    host: str
    port: int
    web_port: int | None = None


def haproxy_config(
    backends: Sequence[Backend],
    bind: str,
    stats_socket: Path | None = None,
    check: str = "dicom",
    called_ae: str = "PRINTSCP",
    max_associations: int = 10,
    inter: str = "2s",
    fall: int = 2,
    rise: int = 2,
) -> str:
    """An HAProxy configuration for printscp nodes (docs/deployment.md, "Cluster", explains each line).

    `check`: "dicom" (a C-ECHO, the tcp-check rules of `dicom_check_lines`) or "http" (GET /healthz on each
    node's web console, `Backend.web_port`). `max_associations`: the nodes' network.max_associations; HAProxy
    sends a node one association fewer at once (maxconn), queueing the rest, so that a node under full load
    still has a slot for the health check's association and is not marked DOWN for being busy.
    """
    if check not in ("dicom", "http"):
        raise ValueError(f"check must be dicom or http, not {check!r}")
    lines = ["global", "    maxconn 4096"]
    if stats_socket is not None:
        lines.append(f"    stats socket {stats_socket} mode 600 level admin")
    lines += [
        "",
        "defaults",
        "    mode tcp",
        "    option tcpka",  # TCP keep-alive both ways: a peer that vanished is noticed on idle associations
        "    timeout connect 5s",
        "    timeout client 5m",  # longer than any timeout of printscp's (idle_timeout 60 s, dimse 30 s),
        "    timeout server 5m",  # so printscp, not HAProxy, ends an idle association, with an A-ABORT
        "    timeout tunnel 5m",
        "    timeout client-fin 30s",  # a client gone without acknowledging the close
        "    timeout queue 60s",  # an association waiting for a free node slot (maxconn) this long is closed
        "    timeout check 5s",
        "    retries 2",
        "    option redispatch",  # a connect that fails is retried on another node
        "",
        "frontend dicom",
        f"    bind {bind}",
        "    default_backend printscp",
        "",
        "backend printscp",
        "    balance leastconn",
    ]
    if check == "dicom":
        lines += ["    option tcp-check", *(f"    {line}" for line in dicom_check_lines(called_ae))]
    else:
        lines += ["    option httpchk GET /healthz", "    http-check expect status 200"]
    lines.append(f"    default-server inter {inter} fall {fall} rise {rise} maxconn {max(1, max_associations - 1)}")
    for backend in backends:
        line = f"    server {backend.name} {backend.host}:{backend.port} check"
        if check == "http":
            if backend.web_port is None:
                raise ValueError(f"{backend.name}: the http check needs the node's web port")
            line += f" port {backend.web_port}"
        lines.append(line)
    return "\n".join(lines) + "\n"


# --- processes ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `condition()` until true; fail naming `what` (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def node_config(
    render_workers: int = 1,
    print_delay: float = 0,
    index_url: str | None = None,
    node_id: str | None = None,
    lease_seconds: int = 10,
    heartbeat_seconds: int = 2,
    ocr: bool = False,
    reuse_port: bool = False,
) -> str:
    """A node's config.toml: the bundled one with `render_workers` workers and no OCR unless `ocr` (three nodes
    share two cores here); with `index_url`, [index] url; with `node_id`, [cluster] enabled (issue 18's cluster
    mode); with `reuse_port`, network.reuse_port (nodes on one port)."""
    text = (REPO / "config.toml").read_text()
    text = re.sub(r"(?m)^workers = \d+", f"workers = {render_workers}", text)
    if not ocr:
        text = re.sub(r"(?m)^ocr = true", "ocr = false", text)
    if reuse_port:
        text, count = re.subn(r"(?m)^reuse_port = false", "reuse_port = true", text)
        assert count == 1, "config.toml has no 'reuse_port = false' line"
    text = re.sub(r"(?m)^print_delay = \d+", f"print_delay = {print_delay}", text)
    if index_url is not None:
        text += f'\n[index]\nurl = "{index_url}"\npool_size = 4\n'
    if node_id is not None:
        text += (
            f'\n[cluster]\nenabled = true\nnode_id = "{node_id}"\n'
            f"lease_seconds = {lease_seconds}\nheartbeat_seconds = {heartbeat_seconds}\n"
        )
    return text


@dataclass
class Node:
    """One `printscp serve` process: its folder (config, log), archive and DICOM port."""

    name: str
    folder: Path
    archive: Path
    port: int
    config_text: str
    server: ServeProcess | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.folder / f"serve-{self.starts}.log"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.server.process if self.server is not None else None

    def start(self) -> None:
        """Start (or start again, on the same port), and return once it listens."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.toml"
        config.write_text(self.config_text)
        self.starts += 1
        self.server = ServeProcess(config, self.log, "--archive", str(self.archive), port=self.port)

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.alive

    def kill(self) -> None:
        """SIGKILL: no goodbye, as when the machine dies."""
        assert self.server is not None
        self.server.kill()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s; the exit status."""
        return self.server.stop() if self.server is not None else None


class HAProxy:
    """HAProxy in the foreground (-db) with a configuration file, its stats socket beside it."""

    def __init__(self, folder: Path, backends: Sequence[Backend], check: str = "dicom", **options: object) -> None:
        self.folder = folder
        self.socket = folder / "haproxy.sock"
        self.config = folder / "haproxy.cfg"
        self.log = folder / "haproxy.log"
        self.backends = list(backends)
        self.check = check
        self.options = options
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")  # a user's PATH may lack sbin
        if binary is None:
            raise RuntimeError("HAProxy is not installed (Debian: apt-get install haproxy)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # another process may take the free port before HAProxy binds it
            self.port = free_port()
            text = haproxy_config(
                self.backends,
                f"127.0.0.1:{self.port}",
                self.socket,
                self.check,
                **self.options,  # type: ignore[arg-type]
            )
            self.config.write_text(text)
            check = subprocess.run([binary, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True)
            if check.returncode != 0:
                raise AssertionError(f"haproxy -c refused {self.config}:\n{check.stdout}{check.stderr}")
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen([binary, "-db", "-f", str(self.config)], stdout=log, stderr=log)
            try:
                wait_for(self._accepting, STARTUP_TIMEOUT, f"HAProxy accepting on {self.port}")
                return
            except AssertionError:
                if self.process.poll() is None:
                    raise
        raise AssertionError(f"HAProxy did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"HAProxy exited:\n{self.log.read_text(errors='replace')[-3000:]}")
        if not self.socket.exists():
            return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def command(self, text: str) -> str:
        """One command on the stats socket (the runtime API), its answer."""
        with socket.socket(socket.AF_UNIX) as connection:
            connection.settimeout(10)
            connection.connect(str(self.socket))
            connection.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of the printscp backend's servers, by name: status (UP, DOWN, ...), stot (sessions
        so far), scur (now), check_status (L7OK, L4CON, L7RSP, ...)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "printscp" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def state(self, name: str) -> str:
        """UP (its last check passed), DOWN, DRAIN, MAINT, or a transition: "UP 1/2" (failing, not down yet),
        "DOWN 1/2" (passing, not up yet). A server starts "UP" before its first check: see `healthy`."""
        return self.servers()[name]["status"]

    def healthy(self, name: str) -> bool:
        """UP, and because its health check passed (check_status L7OK), not only assumed up at the start."""
        server = self.servers()[name]
        return server["status"] == "UP" and server["check_status"].startswith("L7OK")

    def wait_for_state(self, name: str, state: str, timeout: float = 30) -> None:
        if state == "UP":
            wait_for(lambda: self.healthy(name), timeout, f"HAProxy shows {name} UP, its check passed")
        else:
            wait_for(lambda: self.state(name) == state, timeout, f"HAProxy shows {name} {state}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# --- the cluster -------------------------------------------------------------------------------------------------


def cluster_mode_available() -> bool:
    """Whether this printscp knows issue 18's cluster mode: its config loader accepts a [cluster] section (an
    unknown section is an error that names it), so a node could be started with one."""
    from printscp.config import ConfigError, load_config

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(node_config(index_url="postgresql://nobody@127.0.0.1:1/none", node_id="probe"))
        try:
            load_config(path)
        except ConfigError as exc:
            if "cluster" not in str(exc):
                raise  # refused for another reason: the probe itself is wrong
            return False
    return True


@dataclass
class Cluster:
    """N printscp nodes behind HAProxy, or all on one port (`shared_port`: network.reuse_port, no HAProxy). A
    context manager: everything it started is stopped at the end."""

    folder: Path
    nodes_count: int = 3
    shared: bool = False  # cluster mode: one archive folder, one database
    postgres_url: str | None = None
    print_delay: float = 0
    render_workers: int = 1
    inter: str = "500ms"  # health check interval: short, so that tests wait little for a DOWN
    shared_port: bool = False  # every node on one port, the kernel spreading the connections
    ocr: bool = False  # the bundled config's OCR (off: three nodes share two cores here)
    nodes: list[Node] = field(default_factory=list)
    haproxy: HAProxy | None = None

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def shared_archive(self) -> Path:
        return self.folder / "shared-archive"

    def start(self) -> None:
        if self.shared and self.postgres_url is None:
            raise ValueError("cluster mode needs a PostgreSQL database (postgres_url)")
        taken: set[int] = set()
        shared_port = free_port() if self.shared_port else None
        for number in range(1, self.nodes_count + 1):
            name = f"node{number}"
            port = shared_port or free_port()
            while port in taken and shared_port is None:
                port = free_port()
            taken.add(port)
            archive = self.shared_archive if self.shared else self.folder / name / "archive"
            text = node_config(
                self.render_workers,
                self.print_delay,
                self.postgres_url,
                node_id=name if self.shared else None,
                ocr=self.ocr,
                reuse_port=self.shared_port,
            )
            node = Node(name, self.folder / name, archive, port, text)
            self.nodes.append(node)
            node.start()
        if self.shared_port:
            return
        backends = [Backend(node.name, "127.0.0.1", node.port) for node in self.nodes]
        self.haproxy = HAProxy(self.folder / "haproxy", backends, inter=self.inter, fall=2, rise=1)
        self.haproxy.start()
        for node in self.nodes:
            self.haproxy.wait_for_state(node.name, "UP", STARTUP_TIMEOUT)

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: HAProxy, or the port every node listens on."""
        if self.shared_port:
            return ("127.0.0.1", self.nodes[0].port)
        assert self.haproxy is not None
        return ("127.0.0.1", self.haproxy.port)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def kill(self, name: str) -> None:
        self.node(name).kill()

    def archives(self) -> list[Path]:
        return [self.shared_archive] if self.shared else [node.archive for node in self.nodes]

    def jobs(self) -> list[dict[str, object]]:
        """The manifests of every complete job folder in the archive(s), each with "_node" (whose archive)
        and "_folder" added."""
        from printscp.archive.store import JOB_MANIFESTS

        found = []
        for node in self.nodes if not self.shared else self.nodes[:1]:
            for path in node.archive.glob(JOB_MANIFESTS):
                try:
                    manifest = json.loads(path.read_bytes())
                except (OSError, ValueError):  # not there any more, or being written: not complete
                    continue
                manifest["_node"] = node.name if not self.shared else ""
                manifest["_folder"] = str(path.parent)
                found.append(manifest)
        return found

    def archived_film_boxes(self, prefix: str = "") -> Counter[str]:
        """Film Box UID -> how many times it is in the archive(s), over the jobs of callers `prefix*`."""
        return Counter(
            str(film["film_box_uid"])
            for job in self.jobs()
            if str(job["calling_ae_title"]).startswith(prefix)
            for film in job["films"]  # type: ignore[attr-defined]
        )

    def indexed_films(self) -> list[dict[str, object]]:
        """Every film row of the index(es): each node's SQLite file today, the one database in cluster mode."""
        from printscp.archive.film_index import FilmFilter

        if self.shared:
            from printscp.archive.pg_index import PostgresFilmIndex

            assert self.postgres_url is not None
            index = PostgresFilmIndex(self.postgres_url, pool_size=1)
            try:
                return index.find_films(FilmFilter())
            finally:
                index.close()
        from printscp.archive.index import SqliteFilmIndex
        from printscp.archive.store import INDEX

        rows: list[dict[str, object]] = []
        for node in self.nodes:
            if not (node.archive / INDEX).exists():
                continue
            sqlite_index = SqliteFilmIndex(node.archive / INDEX)
            try:
                rows += sqlite_index.find_films(FilmFilter())
            finally:
                sqlite_index.close()
        return rows

    def indexed_film_boxes(self) -> Counter[str]:
        """Film Box UID -> how many rows of the index(es) have it."""
        return Counter(str(row["film_box_uid"]) for row in self.indexed_films())

    def logs(self, tail: int = 3000) -> str:
        """The end of every node's logs and HAProxy's, for a failing assertion's message."""
        parts = []
        for node in self.nodes:
            for log in sorted(node.folder.glob("serve-*.log")):
                parts.append(f"--- {node.name} {log.name}\n{log.read_text(errors='replace')[-tail:]}")
        if self.haproxy is not None and self.haproxy.log.exists():
            parts.append(f"--- haproxy\n{self.haproxy.log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.stop()
        for node in self.nodes:
            if node.alive:
                node.stop()


# --- print clients ---------------------------------------------------------------------------------------------


@dataclass
class Film:
    """One dcmprscu run through HAProxy: one film, one association."""

    calling_ae_title: str
    seconds: float
    log: object  # dcmtk.PrintLog

    @property
    def accepted(self) -> bool:
        """Its N-ACTION succeeded: it must be printed, whatever else failed."""
        from dcmtk import is_success_or_warning

        actions = self.log.find("N-ACTION RSP")  # type: ignore[attr-defined]
        return len(actions) == 1 and actions[0].status is not None and is_success_or_warning(actions[0].status)

    @property
    def printed(self) -> bool:
        return bool(self.log.printed)  # type: ignore[attr-defined]

    @property
    def film_box_uid(self) -> str | None:
        """The Film Box this film printed (the N-ACTION's SOP instance), which the archive's manifest and the
        index keep. (The Print Job UID is not known here: printscp names it in the N-ACTION response only
        when the SCU negotiated Print Job, and dcmprscu does not.)"""
        actions = self.log.find("N-ACTION RSP") or self.log.find("N-ACTION RQ")  # type: ignore[attr-defined]
        return str(actions[0].sop_instance) if len(actions) == 1 and actions[0].sop_instance else None


@dataclass
class Round:
    """The films of one print_round, when it started (time.monotonic()) and its wall time: first dcmprscu
    start to last exit."""

    films: list[Film]
    started: float
    wall: float


def print_round(
    address: tuple[str, int],
    workdir: Path,
    clients: int,
    films: int,
    prefix: str,
    images: Sequence[Path],
    layout: tuple[int, int] = (2, 2),
    on_film: Callable[[Film], None] | None = None,
) -> Round:
    """`clients` DCMTK print clients at once, each printing `films` films one after another (one dcmprscu
    run, one association, each), calling AE titles `<prefix>C<n>`. dcmpsprt prepares each client's Stored
    Print first, untimed. `on_film` is called with each film as it ends (from the clients' threads)."""
    import threading

    from dcmtk import DcmtkPrintClient

    prepared = []
    for number in range(1, clients + 1):
        title = f"{prefix}C{number}"
        client = DcmtkPrintClient(workdir / title, address[0], address[1], calling_ae_title=title)
        prepared.append((client, client.prepare(images, layout)))
    done: list[Film] = []
    lock = threading.Lock()

    def run(client: object, job: object) -> None:
        for _ in range(films):
            started = time.monotonic()
            log = client.send(job)  # type: ignore[attr-defined]
            film = Film(client.calling_ae_title, time.monotonic() - started, log)  # type: ignore[attr-defined]
            with lock:
                done.append(film)
            if on_film is not None:
                on_film(film)

    threads = [threading.Thread(target=run, args=pair) for pair in prepared]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Round(done, started, time.monotonic() - started)
