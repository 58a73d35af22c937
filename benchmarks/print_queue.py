#!/usr/bin/env python3
"""What the durable print queue buys, and how fast event reports flow.

1. A 20 x 512x512 12-bit film (STANDARD\\4,5, 14INX17IN) is printed by a pynetdicom SCU in its own
   process, which negotiates Print Job and measures:
   * N-ACTION: from sending N-ACTION-RQ to its response (when the SCU can go on),
   * DONE: from sending N-ACTION-RQ to the Print Job's Done N-EVENT-REPORT.
   Once with printscp as it is (the job is made durable, answered, then printed) and once printing
   synchronously (the same server, with the N-ACTION waiting until the film is in the archive).
2. Events per second: the server changes the printer status N times as fast as it can while one SCU
   listens, (a) doing nothing else, (b) hammering Printer N-GETs on the same association.

    .venv/bin/python benchmarks/print_queue.py [--repeat N] [--events N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

from printscp.cli import configure_logging  # noqa: E402

# --- the SCU, run as `print_queue.py --client ...` in its own process ----------------------------------------


def client(port: int, mode: str, repeat: int, events: int) -> None:
    import numpy as np
    from ct_phantom import ct_series
    from printscu import META, PrintSCU
    from pynetdicom import evt
    from pynetdicom.events import Event

    from printscp import uids

    done_at: dict[str, float] = {}
    received: list[float] = []

    def on_event(event: Event) -> tuple[int, None]:
        now = time.perf_counter()
        request: Any = event.request
        if str(request.AffectedSOPClassUID) == uids.PRINT_JOB and request.EventTypeID == 3:
            done_at[str(request.AffectedSOPInstanceUID)] = now
        elif str(request.AffectedSOPClassUID) == uids.PRINTER:
            received.append(now)
        return 0, None

    with PrintSCU(
        ("127.0.0.1", port),
        contexts=(META, uids.PRINT_JOB, uids.PRINTER),
        calling="BENCH",
        handlers=[(evt.EVT_N_EVENT_REPORT, on_event)],
    ) as scu:
        if mode == "print":
            images = ct_series(20, 512)
            for _ in range(repeat):
                session = scu.film_session()
                box, boxes, _ = scu.film_box(session, "STANDARD\\4,5", FilmSizeID="14INX17IN")
                for position, pixels in enumerate(images, start=1):
                    assert scu.set_image(boxes[position - 1], position, pixels).status == 0
                start = time.perf_counter()
                action = scu.n_action(uids.BASIC_FILM_BOX, box)
                answered = time.perf_counter()
                assert action.status == 0 and action.dataset is not None
                job = str(action.dataset[0x21000500].value[0].ReferencedSOPInstanceUID)
                while job not in done_at:
                    time.sleep(0.001)
                print(json.dumps({"n_action": answered - start, "done": done_at[job] - start}), flush=True)
                scu.n_delete(uids.BASIC_FILM_SESSION, session)
        else:
            print(json.dumps({"ready": True}), flush=True)
            requests = 0
            while len(received) < events:
                if mode == "hammer":
                    assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010]).status == 0
                    requests += 1
                else:
                    time.sleep(0.001)
            print(
                json.dumps({"first": received[0], "last": received[-1], "count": len(received), "requests": requests}),
                flush=True,
            )
    del np


# --- the server side ----------------------------------------------------------------------------------------


def start_server(folder: Path, synchronous: bool):  # type: ignore[no-untyped-def]
    from conftest import bundled_config

    from printscp.net.server import PrintServer

    server = PrintServer(bundled_config(folder))
    if synchronous:  # the N-ACTION waits for the print, as printscp did before it had a queue
        submit = server.queue.submit

        def submit_and_print(request, notify=None):  # type: ignore[no-untyped-def]
            job = submit(request, notify)
            server.queue.wait_idle()
            return job

        server.queue.submit = submit_and_print  # type: ignore[method-assign]
    _, port = server.start("127.0.0.1", 0)
    return server, port


def run_client(port: int, mode: str, repeat: int = 1, events: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--client", str(port), mode, str(repeat), str(events)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def print_times(synchronous: bool, repeat: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        server, port = start_server(Path(folder), synchronous)
        try:
            process = run_client(port, "print", repeat + 1)
            lines = [json.loads(line) for line in process.stdout or []]
            assert process.wait() == 0 and len(lines) == repeat + 1, lines
        finally:
            server.stop()
    runs = lines[1:]  # the first is a warm-up
    return [r["n_action"] for r in runs], [r["done"] for r in runs]


def event_rate(mode: str, events: int) -> tuple[float, int]:
    from printscp.model.enums import PrinterStatus

    with tempfile.TemporaryDirectory() as folder:
        server, port = start_server(Path(folder), False)
        try:
            process = run_client(port, mode, events=events)
            assert process.stdout is not None
            assert json.loads(process.stdout.readline())["ready"]
            while not server.associations or not server.associations[0].is_established:
                time.sleep(0.01)

            def fire() -> None:
                for i in range(events):
                    if i % 2 == 0:
                        server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
                    else:
                        server.printer.set_status(PrinterStatus.NORMAL)

            threading.Thread(target=fire).start()
            result = json.loads(process.stdout.readline())
            assert process.wait() == 0 and result["count"] == events
        finally:
            server.stop()
    return events / (result["last"] - result["first"]), result["requests"]


def main() -> int:
    configure_logging("WARNING")  # as `printscp serve` runs, pynetdicom's per-message logging off
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"print queue benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs; medians of "
        f"{args.repeat} prints of 20 x 512x512 12-bit images on STANDARD\\4,5, 14INX17IN\n"
    )
    print(f"{'':<24} {'N-ACTION answered':>18} {'film DONE':>10}")
    for name, synchronous in (("with the queue", False), ("printing synchronously", True)):
        answered, done = print_times(synchronous, args.repeat)
        print(f"{name:<24} {statistics.median(answered):>16.3f} s {statistics.median(done):>8.3f} s", flush=True)
    print()
    for mode, label in (("listen", "SCU only listening"), ("hammer", "SCU sending Printer N-GETs meanwhile")):
        rate, requests = event_rate(mode, args.events)
        extra = f" ({requests} N-GETs answered meanwhile)" if requests else ""
        print(f"events per second, {label}: {rate:.0f}{extra}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        raise SystemExit(main())
