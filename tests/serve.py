"""`printscp serve` as a separate process, for tests that kill it (SIGKILL), restart it, or run several.

    server = ServeProcess(config, folder / "server.log", "--archive", str(archive))
    ... print to ("127.0.0.1", server.port) ...
    server.kill()  # or server.stop()

It runs without the web console on 127.0.0.1, `--port 0` unless a port is given, its output in `log`; the
constructor returns once the log says it listens (no fixed sleeps).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0  # seconds; only matters when it does not start
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class ServeProcess:
    def __init__(self, config: Path, log: Path, *options: str, port: int = 0) -> None:
        self.config, self.log = config, log
        command = [sys.executable, "-m", "printscp", "serve", "--no-web", "--config", str(config)]
        command += ["--host", "127.0.0.1", "--port", str(port), *options]
        with open(log, "wb") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
        wait_until(self._listening, STARTUP_TIMEOUT, f"printscp serve listening ({log})")
        self.port = int(_LISTENING.findall(self.log.read_text(errors="replace"))[-1])

    def _listening(self) -> bool:
        text = self.log.read_text(errors="replace")
        assert self.process.poll() is None, f"printscp serve exited {self.process.returncode}:\n{text[-3000:]}"
        return _LISTENING.search(text) is not None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, as when the machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 30 s; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def printscp(*args: str) -> subprocess.CompletedProcess[str]:
    """A `printscp` command (films list, relay retry, node drain ...), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "printscp", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )
