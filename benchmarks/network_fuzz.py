#!/usr/bin/env python3
"""10,000 mutated print requests over real associations against `printscp serve` (issue 11 acceptance).

The requests and mutations are those of tests/integration/test_network_fuzz.py, sent in rounds of
1,000 per association to a real `printscp serve` with the bundled config (a free port, a temporary
archive). Prints the outcomes by status, the internal errors (must be 0), the time per request, whether
every association was served to the end, and whether the server still prints a film afterwards.

    .venv/bin/python benchmarks/network_fuzz.py [--requests N] [--seed S]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "integration")]

from printscu import PrintSCU  # noqa: E402
from test_network_fuzz import fuzz  # noqa: E402

from printscp import uids  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, server: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # polling the port: the server announces readiness no other way
    raise SystemExit(f"printscp did not listen on {port} within {timeout} s (exit status {server.poll()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="printscp-fuzz-") as folder, tempfile.TemporaryFile("w+") as log:
        command = [sys.executable, "-m", "printscp", "--log-level", "ERROR", "serve"]
        command += ["--config", str(REPO / "config.toml"), "--port", str(port), "--archive", folder]
        server = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log,  # a file: a pipe nobody reads would fill up and stop the server
            text=True,
        )
        try:
            wait_for_port(port, server)
            outcomes: Counter[str] = Counter()
            start = time.monotonic()
            done = 0
            while done < args.requests:
                batch = min(1000, args.requests - done)
                outcomes += fuzz(("127.0.0.1", port), batch, seed=args.seed + done)
                done += batch
            elapsed = time.monotonic() - start
            with PrintSCU(("127.0.0.1", port)) as scu:
                session = scu.film_session()
                box, images, _ = scu.film_box(session)
                assert scu.set_image(images[0], 1, np.full((32, 32), 2000, dtype=np.uint16)).status == 0
                printed = scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
            alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.seek(0)
            errors = log.read()
    sent = sum(n for key, n in outcomes.items() if key != "not sendable")
    print(f"{args.requests} mutated requests, seed {args.seed}: {sent} sent, {outcomes['not sendable']} not sendable")
    print(f"internal errors: {outcomes['internal error']}")
    for key, count in sorted(outcomes.items()):
        if key not in ("not sendable", "internal error"):
            print(f"  status {key}: {count}")
    print(f"{1000 * elapsed / max(sent, 1):.2f} ms per request; every association served to the end")
    print(f"server alive after: {alive}; a film printed after: {printed}")
    tracebacks = errors.count("Traceback")
    print(f"tracebacks in the server's log: {tracebacks}")
    return 0 if outcomes["internal error"] == 0 and alive and printed else 1


if __name__ == "__main__":
    raise SystemExit(main())
