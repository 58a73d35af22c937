#!/usr/bin/env python3
"""Server CPU on the receive path: what `printscp serve` spends while DCMTK's dcmprscu prints one film.

For each film (STANDARD\\4,5 on 14INX17IN, --images images of --size x --size 12-bit pixels, sent by
`dcmprscu` exactly as benchmarks/print_vs_dcmprscp.py sends them) it reads the server process's CPU time
(utime + stime of /proc/<pid>/stat, every thread, finished ones included) just before dcmprscu starts and
just after it exits: association, Printer N-GET, P-LUT, Film Session, Film Box, the Image Box N-SETs,
N-ACTION (the job durably spooled), N-DELETEs and release. Rendering must not fall inside that window, so
the server runs the bundled config.toml with `faults.print_delay` set (--render-delay, default 0.5 s): the
job waits that long, without CPU, before it renders. The script waits for each film to be in the archive
before sending the next one, so every window starts with an idle server.

/proc's CPU times count in clock ticks (10 ms): each film's figure is that coarse, the median over many
films is not (the rounding falls anywhere within a tick). The server's CPU while idle (select() timeouts
of its threads) is measured over --idle seconds and shown per second, not subtracted. Per thread, the
script reads /proc/<pid>/task/*/stat every 5 ms during each film (a thread that ends loses at most its
last 5 ms) and sums by role: threads started during the film (the association's: connection handler,
reactor, DUL) and the long-lived ones (spool writer, print worker, acceptor...).

With --py-spy OUT the server is also sampled by py-spy (`.venv/bin/pip install py-spy`) for the timed
films, counting only samples that hold the GIL (py-spy's idle detection does not work here): OUT gets
py-spy's raw (collapsed stack) output, the per-thread figures get a role each (by the stacks sampled in
the thread), and the script prints the hottest functions (own time) per role. py-spy slows the server.

With --cprofile OUT the server runs under benchmarks/thread_profile.py instead: cProfile, timed by each
thread's own CPU clock, in the association's reactor and DUL threads, the transcript writer's work and the
spool's image writes. The script prints each role's CPU per film and its costliest functions by cumulative
time, with their calls per film (cProfile slows small Python calls: compare parts, not runs with and without).

    .venv/bin/python benchmarks/receive_cpu.py [--films N] [--warmup N] [--images 20] [--size 512]
        [--render-delay S] [--idle S] [--py-spy OUT] [--cprofile OUT] [--keep] [--no-transcripts]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from dcmtk import IHEFULL, DcmtkPrintClient, dcmtk_environment, write_image  # noqa: E402
from print_vs_dcmprscp import send_timed, wait_for_jobs  # noqa: E402
from servers import (  # noqa: E402
    FILM_SIZE,
    LAYOUT,
    PRINTSCP_AE,
    add_film_options,
    cpu_seconds,
    listening_port,
    parse_film_options,
    phantom,
    stop,
    work_folder,
)

TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def server(
    folder: Path, render_delay: float, transcripts: bool = True, cprofile: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """`printscp serve` with the bundled config (only faults.print_delay changed, and transcripts.enabled
    with `transcripts` false) on a free loopback port; with `cprofile`, run by thread_profile.py."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / "config.toml").read_text()
    text, count = re.subn(r"(?m)^print_delay = \S+", f"print_delay = {render_delay}", text)
    if count != 1:
        raise SystemExit("config.toml has no 'print_delay = ...' line to change")
    if not transcripts:
        text, count = re.subn(r"(?m)^enabled = true(?=\s+# .*transcripts)", "enabled = false", text)
        if count != 1:
            raise SystemExit("config.toml has no '[transcripts] enabled = true' line to change")
    config = folder / "config.toml"
    config.write_text(text)
    archive = folder / "films"
    log_path = folder / "printscp.log"
    command = [str(REPO / ".venv" / "bin" / "printscp"), "serve", "--config", str(config)]
    if cprofile is not None:
        python, profiler = REPO / ".venv" / "bin" / "python", REPO / "benchmarks" / "thread_profile.py"
        command = [str(python), str(profiler), str(cprofile), *command[1:]]
    command += ["--host", "127.0.0.1", "--port", "0", "--archive", str(archive)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dcmtk_environment())
    try:
        yield process, listening_port(process, log_path), archive
    finally:
        stop(process)


@contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy sampling `pid` (250 Hz, native frames off, per thread) while the block runs."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy", path=str(REPO / ".venv" / "bin")) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [spy, "record", "-r", "250", "--threads", "--gil", "-f", "raw", "-o", str(output), "--pid", str(pid)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        if not output.exists():
            raise SystemExit(f"py-spy wrote nothing:\n{err.decode(errors='replace')}")


_THREAD = re.compile(r"^thread \((?P<tid>(?:0x)?[0-9A-Fa-f]+)\)(?:: (?P<name>.*))?$")

# The role of a thread by what its stack runs: py-spy's thread names are not reliable (it keeps the name it
# first saw for a thread ident, and Python reuses idents), the thread ids (Linux tids) are.
ROLES = (
    ("DUL", ("DULServiceProvider.run_reactor", "_GuardedDUL.run_reactor", "_EventDrivenDUL.run_reactor")),
    ("association reactor", ("ReactorAssociation.run_reactor", "Association.run_reactor")),
    ("connection handler", ("process_request_thread",)),
    ("spool writer", ("spool.py",)),
    ("print worker (render)", ("jobs.py",)),
    ("acceptor", ("serve_forever",)),
)


def stack_role(frames: list[str]) -> str | None:
    for role, markers in ROLES:
        if any(marker in frame for frame in frames for marker in markers):
            return role
    return None


def read_py_spy(output: Path) -> tuple[dict[int, str], dict[str, collections.Counter[str]]]:
    """tid -> role (by the stacks sampled in it), and role -> own-time frame -> samples."""
    votes: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    own: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in output.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        match = _THREAD.match(stack.split(";", 1)[0])
        if not match or not count_text.isdigit():
            continue
        tid = int(match.group("tid"), 0)
        frames = stack.split(";")[1:]
        role = stack_role(frames) or (match.group("name") or "?")
        votes[tid][role] += int(count_text)
        if frames:
            own[role][frames[-1]] += int(count_text)
    return {tid: counter.most_common(1)[0][0] for tid, counter in votes.items()}, own


class ThreadSampler:
    """CPU ticks of every thread of a process, read from /proc/<pid>/task/*/stat every `interval` seconds
    between start() and stop(): threads that end inside the window lose at most their last interval."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid, self.interval = pid, interval
        self.totals: collections.Counter[int] = collections.Counter()  # tid -> ticks over every window
        self.born: set[int] = set()  # threads started inside a window
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> dict[int, int]:
        ticks = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended since the listing
                continue
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
        return ticks

    def start(self) -> None:
        self._stop.clear()
        first = self._read()
        self._thread = threading.Thread(target=self._run, args=(first,), daemon=True)
        self._thread.start()

    def _run(self, first: dict[int, int]) -> None:
        last = dict(first)
        while True:
            stopping = self._stop.wait(self.interval)
            last.update(self._read())
            if stopping:
                break
        for tid, ticks in last.items():
            self.totals[tid] += ticks - first.get(tid, 0)
            if tid not in first:
                self.born.add(tid)

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()


def report_threads(sampler: ThreadSampler, films: int, roles: dict[int, str]) -> None:
    per_role: collections.Counter[str] = collections.Counter()
    for tid, ticks in sampler.totals.items():
        role = roles.get(tid) or ("started in the window" if tid in sampler.born else "long-lived, not sampled")
        per_role[role] += ticks
    print(f"  per thread, ms per film (/proc/<pid>/task/*/stat sampled every {1000 * sampler.interval:.0f} ms):")
    for role, ticks in per_role.most_common():
        if ticks:
            print(f"    {role:<32} {1000 * ticks / TICK / films:6.1f}")


def report_frames(own: dict[str, collections.Counter[str]], films: int) -> None:
    ms = 1000 / 250 / films
    print(f"\npy-spy, samples holding the GIL, ms per film at 250 Hz ({films} films; rendering included):")
    for role, frames in sorted(own.items(), key=lambda item: -sum(item[1].values())):
        total = sum(frames.values())
        if total * ms < 0.5:
            continue
        print(f"  {role}: {total * ms:.1f}; hottest own-time frames:")
        for frame, count in frames.most_common(10):
            print(f"    {count * ms:6.1f}  {frame[:150]}")


def report_cprofile(out: Path, films: int, top: int = 15) -> None:
    """thread_profile.py's statistics: each role's thread CPU per film, its costliest functions by cumulative
    time (calls into them included) and by own time."""
    runs = json.loads(Path(f"{out}-runs.json").read_text())
    print(f"\ncProfile, thread CPU time (time.thread_time), ms per film ({films} films; cProfile slows calls):")
    for role, count in runs.items():
        path = Path(f"{out}-{role.replace(' ', '-')}.prof")
        if not count or not path.exists():
            continue
        entries = [
            (key, value)
            for key, value in cast(dict[Any, Any], pstats.Stats(str(path)).stats).items()  # type: ignore[attr-defined]
            if key[2] not in _WRAPPERS and not key[0].endswith(("threading.py", "thread_profile.py"))
        ]
        total = sum(value[2] for _, value in entries)
        print(f"  {role}: {1000 * total / films:.1f} ({count} runs)")
        for label, column, shown in (("cumulative", 3, top), ("own", 2, top // 2)):
            print(f"    by {label} time:")
            for (filename, line, name), value in sorted(entries, key=lambda item: -item[1][column])[:shown]:
                where = filename.replace(str(REPO) + "/", "").split("site-packages/")[-1]
                ms, calls = 1000 * value[column] / films, value[1] / films
                print(f"      {ms:7.2f}  {calls:7.1f} calls  {name} ({where}:{line})")


# thread_profile.py's own wrapper, and the end of each profile
_WRAPPERS = {"run", "<method 'disable' of '_lsprof.Profiler' objects>"}


def wait_idle(pid: int, timeout: float = 30) -> None:
    """Until the server has used no CPU tick for 0.1 s (the end of a job's rendering and archiving)."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now == before:
            return
        before = now
    raise SystemExit(f"printscp did not become idle within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_film_options(parser, films=15, warmup=2)
    parser.add_argument("--render-delay", type=float, default=0.5, help="faults.print_delay, s (default 0.5)")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of idle server measured (default 2)")
    parser.add_argument("--py-spy", type=Path, help="also sample the server with py-spy into this raw file")
    parser.add_argument(
        "--cprofile", type=Path, metavar="OUT", help="run printscp under thread_profile.py: statistics in OUT-*.prof"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--no-transcripts", action="store_true", help="transcripts.enabled = false: without the bench's recorder"
    )
    args = parse_film_options(parser)

    with work_folder("printscp-receive-", args.keep) as workdir:
        source = write_image(workdir / "source.dcm", phantom(args.size))
        serving = server(workdir / "printscp", args.render_delay, not args.no_transcripts, args.cprofile)
        with serving as (process, port, archive):
            client = DcmtkPrintClient(workdir / "client", "127.0.0.1", port, PRINTSCP_AE, printer=IHEFULL)
            job = client.prepare([source] * args.images, LAYOUT, FILM_SIZE)
            wait_idle(process.pid)  # done starting (imports, the web console, the workers' start)
            idle_start = cpu_seconds(process.pid)
            time.sleep(args.idle)
            idle = (cpu_seconds(process.pid) - idle_start) / args.idle
            for number in range(args.warmup):
                send_timed(client, job)
                wait_for_jobs(archive, number + 1)
            cpu: list[float] = []
            wall: list[float] = []
            if args.cprofile is not None:
                wait_idle(process.pid)
                process.send_signal(signal.SIGUSR1)  # thread_profile.py: drop the warm-up's statistics
            sampler = ThreadSampler(process.pid)
            with py_spy(process.pid, args.py_spy):
                for number in range(args.warmup, args.warmup + args.films):
                    wait_idle(process.pid)
                    sampler.start()
                    before = cpu_seconds(process.pid)
                    _, elapsed, _ = send_timed(client, job)
                    after = cpu_seconds(process.pid)
                    sampler.stop()
                    cpu.append(after - before)
                    wall.append(elapsed)
                    wait_for_jobs(archive, number + 1)
                    if elapsed >= args.render_delay:
                        raise SystemExit(f"dcmprscu took {elapsed:.3f} s: raise --render-delay above it")

    print(
        f"printscp receive CPU, {args.images} x {args.size}x{args.size} 12-bit per film, dcmprscu IHEFULL, "
        f"{args.films} films (+{args.warmup} warm-up), {os.cpu_count()} CPUs"
    )
    print(
        f"  server CPU per film, dcmprscu start to exit: median {1000 * statistics.median(cpu):.1f} ms, "
        f"mean {1000 * statistics.fmean(cpu):.1f} ms (clock tick {1000 / TICK:.0f} ms)"
    )
    print(f"  dcmprscu wall per film: median {1000 * statistics.median(wall):.1f} ms")
    print(f"  server CPU while idle: {1000 * idle:.1f} ms per second")
    print(f"  per film, ms: {' '.join(f'{1000 * c:.0f}' for c in cpu)}")
    roles, own = read_py_spy(args.py_spy) if args.py_spy is not None else ({}, {})
    report_threads(sampler, args.films, roles)
    if own:
        report_frames(own, args.films)
    if args.cprofile is not None:
        report_cprofile(args.cprofile, args.films)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
