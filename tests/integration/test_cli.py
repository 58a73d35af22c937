"""The printscp command line as a user runs it: real processes, real signals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PRINTSCP = [sys.executable, "-m", "printscp"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PRINTSCP, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int, log: list[str]) -> None:
        self.process, self.port, self.log = process, port, log


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    process = subprocess.Popen(
        [*PRINTSCP, "serve", "--config", str(REPO / "config.toml"), "--host", "127.0.0.1", "--port", "0",
         "--ae-title", "CLI_PRINTER", "--archive", str(tmp_path / "films")],
        stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stderr is not None
    log: list[str] = []
    deadline = time.monotonic() + 20
    port = None
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        log.append(line)
        match = re.search(r"printscp (\S+) listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            assert match.group(1) == "CLI_PRINTER"  # --ae-title overrides the file
            port = int(match.group(2))
    assert port is not None, "".join(log)
    yield Served(process, port, log)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_answers_echo_and_stops_on_sigterm(served: Served, tmp_path: Path) -> None:
    echo = run("echo", "127.0.0.1", str(served.port), "--ae-title", "CLI_PRINTER")
    assert echo.returncode == 0, echo.stderr
    assert "success" in echo.stdout
    assert any(str(tmp_path / "films") in line for line in served.log), "--archive overrides the file"
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=15) == 0
    rest = served.process.stderr.read() if served.process.stderr else ""
    assert "C-ECHO from PRINTSCP_ECHO" in rest and "printscp stopped" in rest


def test_serve_stops_on_ctrl_c(served: Served) -> None:
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 0


def test_echo_fails_when_nobody_listens() -> None:
    echo = run("echo", "127.0.0.1", "1", "--timeout", "5")
    assert echo.returncode == 1
    assert "association failed" in echo.stderr


def test_config_errors_name_the_key_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[printer.defaults]\nfilm_size_id = 'HUGE'\n")
    result = run("serve", "--config", str(bad))
    assert result.returncode == 2
    assert "printer.defaults.film_size_id" in result.stderr
    result = run("serve", "--port", "99999")
    assert result.returncode == 2 and "network.port" in result.stderr


def test_port_in_use_is_reported(served: Served) -> None:
    result = run("serve", "--host", "127.0.0.1", "--port", str(served.port), timeout=20)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{served.port}" in result.stderr


def test_printer_commands_change_a_running_server(served: Served, tmp_path: Path) -> None:
    import threading

    from printscu import META, PrintSCU
    from pynetdicom import evt

    from printscp import uids

    options = ["--config", str(REPO / "config.toml"), "--port", str(served.port), "--archive", str(tmp_path / "films")]
    status = run("printer", "status", *options)
    assert status.returncode == 0 and "printer: NORMAL (NORMAL)" in status.stdout
    events: list[tuple[int, str]] = []
    arrived = threading.Event()

    def on_event(event: Any) -> tuple[int, None]:
        info = event.event_information if event.request.EventInformation.getvalue() else None
        events.append((int(event.request.EventTypeID), str(info.PrinterStatusInfo) if info else ""))
        arrived.set()
        return 0, None

    with PrintSCU(("127.0.0.1", served.port), contexts=(META,), called="CLI_PRINTER",
                  handlers=[(evt.EVT_N_EVENT_REPORT, on_event)]) as scu:
        changed = run("printer", "set", "FAILURE", "film jam", *options)
        assert changed.returncode == 0 and "printer: FAILURE (FILM JAM)" in changed.stdout
        assert arrived.wait(10)
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None and (printer.PrinterStatus, printer.PrinterStatusInfo) == ("FAILURE", "FILM JAM")
    assert events == [(3, "FILM JAM")]
    refused = run("printer", "set", "WARNING", "NOT A TERM", *options)
    assert refused.returncode == 1 and "not a Printer Status Info defined term" in refused.stderr
    assert "printer: FAILURE (FILM JAM)" in run("printer", "status", *options).stdout
    wrong_port = run("printer", "status", "--port", "1", "--archive", str(tmp_path / "films"))
    assert wrong_port.returncode == 1 and "no printscp is serving" in wrong_port.stderr
    # the channel is loopback only and not the DICOM port
    endpoint = json.loads((tmp_path / "films" / f".printscp-{served.port}.admin").read_text())
    assert endpoint["port"] != served.port
    assert oct((tmp_path / "films" / f".printscp-{served.port}.admin").stat().st_mode & 0o777) == "0o600"
