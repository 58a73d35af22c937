#!/usr/bin/env python3
"""Two printscp variants side by side, films sent to each in turn: dcmprscu wall time and server CPU per film.

The machine's speed drifts by 10-30% over minutes here, so a change is measured against what it changes in
one command, alternating: film 1 to A, film 1 to B, film 2 to A... Each variant is a git revision of this
repository (checked out in a temporary worktree; "." is the working tree as it is), optionally with
":no-transcripts" ([transcripts] enabled = false in its config.toml). Each runs `python -m printscp serve`
from its own tree with its own bundled config.toml (web console off, a free loopback port, a new archive).

Per film: dcmprscu's wall time (start to exit) and the server process's CPU time (utime + stime of every
thread, /proc) over the same window; each film is waited for in the archive before the next one is sent,
so rendering falls outside the window. It prints medians, means (finer than the CPU's 10 ms ticks over many films)
and every run. Run from the repository root:

    .venv/bin/python benchmarks/alternate.py 951f348 . [--size 2048] [--images 20] [--films 8] [--warmup 1]
    .venv/bin/python benchmarks/alternate.py . .:no-transcripts --size 2048
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from print_vs_dcmprscp import send_timed, wait_for_jobs
from servers import (
    FILM_SIZE,
    LAYOUT,
    PRINTSCP_AE,
    REPO,
    add_film_options,
    cpu_seconds,
    listening_port,
    parse_film_options,
    phantom,
    stop,
)

sys.path.insert(0, str(REPO / "tests"))

from dcmtk import IHEFULL, DcmtkPrintClient, PreparedJob, dcmtk_environment, write_image  # noqa: E402

NO_TRANSCRIPTS = ":no-transcripts"


@dataclass
class Variant:
    name: str
    port: int
    pid: int
    archive: Path
    client: DcmtkPrintClient | None = None
    job: PreparedJob | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


@contextmanager
def source_tree(revision: str, folder: Path) -> Iterator[Path]:
    """The repository at `revision` ("." : the working tree) in a temporary worktree."""
    if revision == ".":
        yield REPO
        return
    tree = folder / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), revision], check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)


@contextmanager
def serve(spec: str, folder: Path) -> Iterator[Variant]:
    revision, transcripts = (spec[: -len(NO_TRANSCRIPTS)], False) if spec.endswith(NO_TRANSCRIPTS) else (spec, True)
    folder.mkdir(parents=True)
    with source_tree(revision, folder) as tree:
        text = (tree / "config.toml").read_text()
        if not transcripts:
            text, count = re.subn(r"(?m)^enabled = true(?=\s+# \(printscp transcripts)", "enabled = false", text)
            if count != 1:
                raise SystemExit(f"{spec}: its config.toml has no '[transcripts] enabled = true' line")
        config = folder / "config.toml"
        config.write_text(text)
        log = folder / "printscp.log"
        command = [str(REPO / ".venv" / "bin" / "python"), "-m", "printscp", "serve", "--no-web"]
        command += ["--config", str(config), "--host", "127.0.0.1", "--port", "0", "--archive", str(folder / "films")]
        env = {**dcmtk_environment(), "PYTHONPATH": str(tree)}
        with open(log, "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=tree)
        try:
            yield Variant(spec, listening_port(process, log, spec), process.pid, folder / "films")
        finally:
            stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help='a git revision, "." for the working tree; ":no-transcripts" appended: without')
    parser.add_argument("b", help="the same for the other variant")
    add_film_options(parser, films=8, warmup=1)  # per variant
    args = parse_film_options(parser)
    workdir = Path(tempfile.mkdtemp(prefix="printscp-alternate-"))
    try:
        source = write_image(workdir / "source.dcm", phantom(args.size))
        with ExitStack() as stack:
            variants = [stack.enter_context(serve(spec, workdir / f"v{n}")) for n, spec in enumerate((args.a, args.b))]
            for n, variant in enumerate(variants):
                variant.client = DcmtkPrintClient(
                    workdir / f"client{n}", "127.0.0.1", variant.port, PRINTSCP_AE, printer=IHEFULL
                )
                variant.job = variant.client.prepare([source] * args.images, LAYOUT, FILM_SIZE)
            for number in range(1, args.warmup + args.films + 1):
                for variant in variants:
                    assert variant.client is not None and variant.job is not None
                    before = cpu_seconds(variant.pid)
                    _, wall, _ = send_timed(variant.client, variant.job)
                    cpu = cpu_seconds(variant.pid) - before
                    wait_for_jobs(variant.archive, number)
                    if number > args.warmup:
                        variant.walls.append(wall)
                        variant.cpus.append(cpu)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.images} x {args.size}x{args.size} 12-bit per film, dcmprscu IHEFULL, {args.films} films per variant "
        f"(+{args.warmup} warm-up), sent to each in turn; median and mean, then every run (ms)"
    )
    for variant in variants:
        # /proc counts CPU in 10 ms ticks: the median is a multiple of 10, the mean over many films is finer
        print(
            f"  {variant.name:<24} wall {statistics.median(variant.walls) * 1000:7.1f} "
            f"{statistics.mean(variant.walls) * 1000:7.1f}  server CPU {statistics.median(variant.cpus) * 1000:4.0f} "
            f"{statistics.mean(variant.cpus) * 1000:6.1f}  (CPU: clock ticks of 10 ms)"
        )
    for variant in variants:
        print(f"  {variant.name:<24} walls {' '.join(f'{w * 1000:.0f}' for w in variant.walls)}")
        print(f"  {'':<24} CPU   {' '.join(f'{c * 1000:.0f}' for c in variant.cpus)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
