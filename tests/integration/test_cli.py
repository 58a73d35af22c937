"""The printscp command line as a user runs it: real processes, real signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
