#!/usr/bin/env python3
"""`printscp serve` with cProfile in the threads that receive: for receive_cpu.py --cprofile.

    python benchmarks/thread_profile.py OUT serve [printscp serve's options]

runs printscp's command line in this process with a profiler, timed by the CPU clock of the thread it runs in
(time.thread_time: no time spent waiting for the interpreter lock or the network), around:
- each association's reactor (net/compat.py run_guarded_acceptor) and its DUL thread (_GuardedDUL.run_reactor);
- each piece of work of the transcript writer (bench/recorder.py _Writer.submit's work);
- each image the spool writes (spool.py _save).

SIGUSR1 drops what was collected so far (receive_cpu.py sends it after its warm-up films). When printscp
exits, the statistics of each role go to OUT-<role>.prof (pstats), with the number of runs in OUT-runs.json.
cProfile slows the code it profiles, calls to small Python functions most: its figures are for comparing
parts with one another, not for comparing with receive_cpu.py's figures without it.
"""

from __future__ import annotations

import cProfile
import functools
import json
import pstats
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROLES = ("association reactor", "DUL", "transcript writer", "spool writer")


class Collected:
    """The profiles of finished runs, by role (each thread's run, or each piece of work, has its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.profiles: dict[str, list[cProfile.Profile]] = {role: [] for role in ROLES}

    def add(self, role: str, profile: cProfile.Profile) -> None:
        with self._lock:
            self.profiles[role].append(profile)

    def reset(self) -> None:
        with self._lock:
            self.profiles = {role: [] for role in ROLES}

    def dump(self, out: str) -> None:
        with self._lock:
            runs = {}
            for role, profiles in self.profiles.items():
                runs[role] = len(profiles)
                if profiles:
                    stats = pstats.Stats(profiles[0])
                    for profile in profiles[1:]:
                        stats.add(profile)
                    stats.dump_stats(f"{out}-{role.replace(' ', '-')}.prof")
        Path(f"{out}-runs.json").write_text(json.dumps(runs))


def profiled(collected: Collected, role: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            return function(*args, **kwargs)
        finally:
            profile.disable()
            collected.add(role, profile)

    return run


def install(collected: Collected) -> None:
    from printscp import spool
    from printscp.bench import recorder
    from printscp.net import compat

    compat.run_guarded_acceptor = profiled(collected, "association reactor", compat.run_guarded_acceptor)
    compat._GuardedDUL.run_reactor = profiled(collected, "DUL", compat._GuardedDUL.run_reactor)  # type: ignore[method-assign]
    spool._save = profiled(collected, "spool writer", spool._save)
    submit = recorder._Writer.submit

    def submit_profiled(self: Any, work: Callable[[], None], size: int = 0) -> None:
        submit(self, profiled(collected, "transcript writer", work), size)

    recorder._Writer.submit = submit_profiled  # type: ignore[method-assign]


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    collected = Collected()
    install(collected)
    signal.signal(signal.SIGUSR1, lambda signum, frame: collected.reset())
    from printscp.cli import main as printscp

    try:
        return printscp(argv)
    finally:
        collected.dump(out)


if __name__ == "__main__":
    raise SystemExit(main())
