"""A paper printer for the tests: CUPS's ippeveprinter (Debian cups-ipp-utils) on a free loopback port.

ippeveprinter will not start without a D-Bus for DNS-SD even with advertising off, so each printer gets a
private dbus-daemon on a socket in its folder (shared/notes/found-from-outside.md). It keeps every document it
receives in `spool` (-k). Without a command it simulates printing by sleeping 5 to 15 s per job; the default
`command` here is /bin/true, which "prints" at once, so a job completes as soon as it is received. A command
of the test's own (a script) can fail jobs and set printer-state-reasons with `STATE: +media-jam-error` lines on
its stderr, as a CUPS filter does.

    with ippeveprinter(tmp_path) as printer:
        print_on_paper(pdfs, "office", PaperPrinter(printer.uri), "job")
        assert list(printer.spool.glob("*.pdf"))
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dcmtk import free_port
from waiting import wait_until

READY_TIMEOUT = 30  # seconds for dbus-daemon and ippeveprinter to come up; only matters when they do not


def available() -> bool:
    """Whether the tools are installed (.ci/setup --test installs them)."""
    return all(shutil.which(tool) for tool in ("ippeveprinter", "ipptool", "dbus-daemon"))


@dataclass
class IppEvePrinter:
    uri: str  # ipp://127.0.0.1:PORT/ipp/print
    spool: Path  # where each received document lands, as JOBID-JOBNAME.pdf
    port: int
    folder: Path
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def documents(self) -> list[Path]:
        """The documents received so far, in job order."""
        return sorted(self.spool.glob("*.pdf"), key=lambda path: int(path.name.split("-", 1)[0]))

    def stop(self) -> None:
        """Stop ippeveprinter and its D-Bus (idempotent); the spool stays."""
        while self._processes:
            process = self._processes.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def log(self) -> str:
        return (self.folder / "ippeveprinter.log").read_text(errors="replace")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def ippeveprinter(
    folder: Path, name: str = "printscp-test", command: str = "/bin/true", port: int | None = None
) -> Iterator[IppEvePrinter]:
    """Start ippeveprinter (PDF only, monochrome) in `folder`; yield it once it accepts connections."""
    folder.mkdir(parents=True, exist_ok=True)
    spool = folder / "spool"
    spool.mkdir(exist_ok=True)
    bus = folder / "bus"
    port = port or free_port()
    printer = IppEvePrinter(f"ipp://127.0.0.1:{port}/ipp/print", spool, port, folder)
    try:
        with (folder / "dbus.log").open("wb") as dbus_log:
            printer._processes.append(
                subprocess.Popen(
                    ["dbus-daemon", "--session", f"--address=unix:path={bus}", "--nofork", "--nopidfile"],
                    stdout=dbus_log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_until(bus.exists, READY_TIMEOUT, "dbus-daemon's socket")
        environment = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
        arguments = ["ippeveprinter", "-p", str(port), "-d", str(spool), "-k", "-f", "application/pdf", "-r", "off"]
        if command:
            arguments += ["-c", command]
        with (folder / "ippeveprinter.log").open("wb") as eve_log:
            eve = subprocess.Popen([*arguments, name], stdout=eve_log, stderr=subprocess.STDOUT, env=environment)
        printer._processes.append(eve)

        def up() -> bool:
            assert eve.poll() is None, f"ippeveprinter exited {eve.returncode}: {printer.log()}"
            return _answers(port)

        wait_until(up, READY_TIMEOUT, f"ippeveprinter on port {port}")
        yield printer
    finally:
        printer.stop()
