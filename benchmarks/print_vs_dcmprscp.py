#!/usr/bin/env python3
"""printscp against DCMTK's own print SCP (dcmprscp): the same dcmprscu jobs, timed side by side.

What it measures, per case (1 x 512x512, 20 x 512x512 and 20 x 2048x2048 12-bit images, all on one
STANDARD\\4,5 film of 14INX17IN):

* wall time of one print job as a print client sees it: from the start of `dcmprscu` to its exit
  (association, Printer N-GET, P-LUT, Film Session, Film Box, the N-SETs, N-ACTION, N-DELETEs, release),
  median of --repeat runs, for printscp and for dcmprscp, and the ratio printscp / dcmprscp;
* for printscp also the time from dcmprscu's start until the job folder with the film's PDF appeared in
  the archive (the mtime of the folder it was renamed into; file system clock, a few ms coarse), and its
  ratio to dcmprscp's wall time. printscp answers N-ACTION once the job is durably spooled and renders
  it afterwards, so the PDF can appear after dcmprscu has exited;
* the peak resident memory (VmHWM from /proc/<pid>/status) of each server process, which is started
  fresh for every case: after the case's first job and after all its jobs (warm-up + repeats); and
  printscp's resident memory (VmRSS) once each job is in the archive, where a leak would show as growth;
* printscp's whole process tree too (it may render in worker processes): the peak of the sum of VmRSS
  over the server and all its descendants, sampled every ~10 ms by a thread (servers.TreeMemory), and that
  sum once each job is in the archive. Shared pages count once per process: an upper bound.

--memory-series [N] runs only the 20 x 2048x2048 film, N times (default 50) against printscp alone, one
job at a time, each waited for in the archive, and prints main and tree VmRSS after each job, after job 5
against after job N, and the peaks (issue 12: peak <= 320 MiB, after job 50 within 10% of after job 5).

--profile DIR runs printscp under `py-spy record -r 250 -s --threads -f raw` (py-spy comes with the test
extra) and stops it with SIGINT so py-spy writes DIR/printscp-<case>.txt: folded stacks with their counts,
for flamegraph.pl or speedscope. Profiling slows printscp down: do not compare its times.

dcmprscp does not render anything: it stores each N-SET's pixels as a Hardcopy Grayscale object and the
film as a Stored Print in its database. printscp renders a PDF and a PNG of the film. The comparison is
"what a print client waits for", not equal work.

Not timed: writing the source images and dcmpsprt rendering them into each client's database (done once
per case and server before any timing), and one warm-up job per server and case (--warmup).
Every run is checked: printscp must have stored a new job with its PDF, dcmprscp a new Stored Print, and
every DIMSE status in dcmprscu's --dump log must be success or warning; otherwise the script stops.
TCP_NODELAY=1 is set for every DCMTK process (client and dcmprscp); printscp sets it on its sockets.

Run from the repository root:

    .venv/bin/python benchmarks/print_vs_dcmprscp.py [--repeat N] [--warmup N] [--keep] [--cases 1,2,3]
        [--profile DIR]
    .venv/bin/python benchmarks/print_vs_dcmprscp.py --memory-series [N] [--keep] [--profile DIR]

The servers are started by servers.py, which concurrent_clients.py shares.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from servers import (
    DCMPRSCP_AE,
    FILM_SIZE,
    LAYOUT,
    PRINTSCP_AE,
    REPO,
    Server,
    dcmprscp_server,
    dcmtk_version,
    phantom,
    printscp_server,
    proc_status_kib,
    work_folder,
)

sys.path.insert(0, str(REPO / "tests"))

from dcmtk import (  # noqa: E402  (the DCMTK harness of the interoperability tests)
    IHEFULL,
    DcmtkPrintClient,
    PreparedJob,
    PrintLog,
    is_success_or_warning,
    write_image,
)

from printscp.archive.store import FilmArchive  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    images: int
    size: int


CASES = (Case("1 x 512x512", 1, 512), Case("20 x 512x512", 20, 512), Case("20 x 2048x2048", 20, 2048))


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    stored: list[float] = field(default_factory=list)  # printscp: until the job is in the archive
    peak_rss_kib: int = 0  # over every job of the case
    first_job_peak_rss_kib: int = 0
    resident_kib: list[int] = field(default_factory=list)  # VmRSS once each job is done: growth = a leak
    # printscp: the sum of VmRSS over the server and its worker processes (servers.TreeMemory)
    tree_peak_kib: int = 0
    first_job_tree_peak_kib: int = 0
    tree_resident_kib: list[int] = field(default_factory=list)
    profile: Path | None = None  # printscp under py-spy: where the raw stacks went
    jobs: int = 0
    max_send_pdv: str = "?"


# --- one timed run -------------------------------------------------------------------------------------------


def send_timed(client: DcmtkPrintClient, job: PreparedJob) -> tuple[float, float, PrintLog]:
    """(wall clock start in ns, seconds from dcmprscu start to exit, its log); fails on any bad status."""
    started_ns = time.time_ns()
    started = time.perf_counter()
    log = client.send(job)
    elapsed = time.perf_counter() - started
    if not log.printed or not all(is_success_or_warning(status) for _, _, status in log.statuses):
        raise SystemExit(f"print job failed against port {client.port}:\n{log.summary()}")
    return started_ns, elapsed, log


def printscp_job_folders(archive: Path) -> list[Path]:
    """Stored jobs, oldest first."""
    return [job.folder for job in FilmArchive(archive).jobs()]


def wait_for_jobs(archive: Path, count: int, timeout: float = 120) -> list[Path]:
    """printscp answers N-ACTION once the job is spooled and prints it afterwards: wait for the film."""
    deadline = time.monotonic() + timeout
    while len(jobs := printscp_job_folders(archive)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"printscp: {len(jobs)} of {count} jobs in {archive} after {timeout} s")
        time.sleep(0.002)
    return jobs


def max_send_pdv(log: PrintLog) -> str:
    match = re.search(r"Max Send PDV: (\d+)", log.text)
    return match.group(1) if match else "?"


def print_on_printscp(
    client: DcmtkPrintClient, job: PreparedJob, scp: Server, number: int
) -> tuple[float, float, PrintLog]:
    """Send job `number` (1, 2, ...) and wait until it is in the archive with its PDF: (seconds from dcmprscu
    start to exit, seconds from dcmprscu start until the job folder appeared, dcmprscu's checked log)."""
    started_ns, elapsed, log = send_timed(client, job)
    jobs = wait_for_jobs(scp.folder, number)
    pdf = jobs[-1] / "film-1.pdf"
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise SystemExit(f"printscp run {number}: no PDF in {jobs[-1]}")
    # the job folder is renamed into its day folder in one step: that is when it appears
    appeared = (jobs[-1].parent.stat().st_mtime_ns - started_ns) / 1e9
    return elapsed, appeared, log


def run_case(
    case: Case, workdir: Path, repeat: int, warmup: int, profile: Path | None = None
) -> tuple[Timings, Timings]:
    folder = workdir / case.name.replace(" ", "")
    source = write_image(folder / "source.dcm", phantom(case.size))
    images = [source] * case.images
    ours, theirs = Timings(), Timings()
    ours.profile = profile
    with (
        printscp_server(folder / "printscp", profile) as scp,
        dcmprscp_server(folder / "dcmprscp") as ref,
    ):
        ours_client = DcmtkPrintClient(folder / "client-printscp", "127.0.0.1", scp.port, PRINTSCP_AE, printer=IHEFULL)
        theirs_client = DcmtkPrintClient(
            folder / "client-dcmprscp", "127.0.0.1", ref.port, DCMPRSCP_AE, printer=IHEFULL
        )
        ours_job = ours_client.prepare(images, LAYOUT, FILM_SIZE)  # dcmpsprt, outside the timing
        theirs_job = theirs_client.prepare(images, LAYOUT, FILM_SIZE)
        for number in range(warmup + repeat):
            # printscp: the job must land in the archive with its PDF
            elapsed, appeared, log = print_on_printscp(ours_client, ours_job, scp, number + 1)
            if number >= warmup:
                ours.wall.append(elapsed)
                ours.stored.append(appeared)
            ours.max_send_pdv = max_send_pdv(log)
            ours.resident_kib.append(proc_status_kib(scp.pid, "VmRSS"))
            ours.tree_resident_kib.append(scp.memory.sample())
            if number == 0:
                ours.first_job_peak_rss_kib = proc_status_kib(scp.pid)
                ours.first_job_tree_peak_kib = scp.memory.peak_kib

            # dcmprscp: one more Stored Print in its database
            _, elapsed, log = send_timed(theirs_client, theirs_job)
            stored = list(ref.folder.glob("SP_*.dcm"))
            if len(stored) != number + 1:
                raise SystemExit(f"dcmprscp run {number + 1}: {len(stored)} stored prints in {ref.folder}")
            if number >= warmup:
                theirs.wall.append(elapsed)
            theirs.max_send_pdv = max_send_pdv(log)
            if number == 0:
                theirs.first_job_peak_rss_kib = proc_status_kib(ref.pid)
        ours.peak_rss_kib = proc_status_kib(scp.pid)
        ours.tree_peak_kib = max(scp.memory.peak_kib, scp.memory.sample())
        theirs.peak_rss_kib = proc_status_kib(ref.pid)
        ours.jobs = theirs.jobs = warmup + repeat
    return ours, theirs


def memory_series(workdir: Path, jobs: int, profile: Path | None = None) -> None:
    """20 x 2048x2048 films one after another against printscp alone: resident memory job by job."""
    case = CASES[-1]
    folder = workdir / "memory-series"
    source = write_image(folder / "source.dcm", phantom(case.size))
    print(
        f"printscp memory over {jobs} films of {case.name} 12-bit (STANDARD\\{LAYOUT[0]},{LAYOUT[1]}, {FILM_SIZE}), "
        "one dcmprscu job at a time,\neach waited for in the archive; main = the server process, tree = the "
        "sum of VmRSS over it and its descendants (sampled every ~10 ms for the peak)\n"
    )
    print(f"{'job':>4} {'wall s':>7} {'PDF s':>7} {'main VmRSS':>11} {'tree VmRSS':>11} {'tree peak':>10}")
    main_kib: list[int] = []
    tree_kib: list[int] = []
    with printscp_server(folder / "printscp", profile) as scp:
        client = DcmtkPrintClient(folder / "client-printscp", "127.0.0.1", scp.port, PRINTSCP_AE, printer=IHEFULL)
        job = client.prepare([source] * case.images, LAYOUT, FILM_SIZE)
        for number in range(1, jobs + 1):
            elapsed, appeared, _ = print_on_printscp(client, job, scp, number)
            main_kib.append(proc_status_kib(scp.pid, "VmRSS"))
            tree_kib.append(scp.memory.sample())
            print(
                f"{number:>4} {elapsed:>7.3f} {appeared:>7.3f} {main_kib[-1] / 1024:>7.0f} MiB "
                f"{tree_kib[-1] / 1024:>7.0f} MiB {scp.memory.peak_kib / 1024:>6.0f} MiB",
                flush=True,
            )
        main_peak_kib = proc_status_kib(scp.pid)
        tree_peak_kib = max(scp.memory.peak_kib, scp.memory.sample())
        processes = scp.memory.most_processes
    early = min(5, jobs)
    print(f"\nprintscp resident memory (VmRSS), MiB, after job {early} / after job {jobs} (ratio):")
    for name, series in (("main", main_kib), ("tree", tree_kib)):
        print(
            f"  {name}  {series[early - 1] / 1024:6.0f} / {series[-1] / 1024:6.0f}  "
            f"({series[-1] / series[early - 1]:.2f})"
        )
    print(
        f"peak RSS: main (VmHWM) {main_peak_kib / 1024:.0f} MiB, tree {tree_peak_kib / 1024:.0f} MiB "
        f"(sum of Pss, shared pages counted once: {scp.memory.pss_peak_kib / 1024:.0f} MiB) "
        f"({processes} process{'es' if processes > 1 else ''} in the tree at most)"
    )
    print("issue 12 target: peak RSS <= 320 MiB, and VmRSS after job 50 within 10% of after job 5 (ratio <= 1.10)")
    if profile is not None:
        print(f"py-spy profile (raw folded stacks): {profile}")


# --- report ----------------------------------------------------------------------------------------------


def profile_path(directory: Path | None, name: str) -> Path | None:
    return None if directory is None else directory.resolve() / f"printscp-{name.replace(' ', '')}.txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case and server (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (films, logs)")
    parser.add_argument(
        "--cases", default="1,2,3", help="which cases to run, by number: 1 x 512, 20 x 512, 20 x 2048 (default 1,2,3)"
    )
    parser.add_argument(
        "--memory-series",
        type=int,
        nargs="?",
        const=50,
        metavar="N",
        help="instead: N films of 20 x 2048x2048 against printscp alone, its memory job by job (N default 50)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run printscp under py-spy record, raw folded stacks in DIR/printscp-<case>.txt",
    )
    args = parser.parse_args()
    try:
        cases = [CASES[int(number) - 1] for number in args.cases.split(",")]
    except (ValueError, IndexError):
        parser.error(f"--cases takes numbers from 1 to {len(CASES)}, comma-separated")
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    if args.memory_series is not None and args.memory_series < 1:
        parser.error("--memory-series takes at least 1 job")

    if args.memory_series is not None:
        with work_folder("printscp-bench-", args.keep) as workdir:
            memory_series(workdir, args.memory_series, profile_path(args.profile, "memory-series"))
        return 0

    print(
        f"printscp vs dcmprscp (DCMTK {dcmtk_version()}), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {args.repeat} timed runs + {args.warmup} warm-up per case and server"
    )
    print(
        f"every job: dcmprscu --dump, IHEFULL client profile, STANDARD\\{LAYOUT[0]},{LAYOUT[1]} on "
        f"{FILM_SIZE}, 12-bit MONOCHROME2; times are medians in seconds\nprintscp RSS: the main process's "
        "peak (VmHWM) / the peak of the sum of VmRSS over it and its worker processes\n"
    )
    header = (
        f"{'case':<16} {'printscp wall':>13} {'printscp PDF':>13} {'dcmprscp wall':>13} "
        f"{'ratio':>6} {'PDF ratio':>9}  {'printscp RSS (main / tree peak)':>31} {'dcmprscp RSS':>12}"
    )
    print(header)
    print("-" * len(header))
    results = []
    with work_folder("printscp-bench-", args.keep) as workdir:
        for case in cases:
            ours, theirs = run_case(case, workdir, args.repeat, args.warmup, profile_path(args.profile, case.name))
            results.append((case, ours, theirs))
            ours_wall, theirs_wall = statistics.median(ours.wall), statistics.median(theirs.wall)
            ours_pdf = statistics.median(ours.stored)
            ours_rss = f"{ours.peak_rss_kib / 1024:.0f} / {ours.tree_peak_kib / 1024:.0f} MiB"
            print(
                f"{case.name:<16} {ours_wall:>13.3f} {ours_pdf:>13.3f} "
                f"{theirs_wall:>13.3f} {ours_wall / theirs_wall:>6.2f} {ours_pdf / theirs_wall:>9.2f}  "
                f"{ours_rss:>31} {theirs.peak_rss_kib / 1024:>8.0f} MiB",
                flush=True,
            )

    print("\nall runs (seconds, dcmprscu start to exit):")
    for case, ours, theirs in results:
        print(f"  {case.name:<16} printscp {' '.join(f'{t:.3f}' for t in ours.wall)}")
        print(f"  {'':<16} dcmprscp {' '.join(f'{t:.3f}' for t in theirs.wall)}")
    print("\npeak RSS (VmHWM) of the server processes, MiB: after the first job / after all jobs of the case")
    for case, ours, theirs in results:
        print(
            f"  {case.name:<16} printscp {ours.first_job_peak_rss_kib / 1024:5.0f} / "
            f"{ours.peak_rss_kib / 1024:5.0f}   dcmprscp {theirs.first_job_peak_rss_kib / 1024:4.0f} / "
            f"{theirs.peak_rss_kib / 1024:4.0f}   ({ours.jobs} jobs each)"
        )
    print("printscp process tree, peak sum of VmRSS, MiB: after the first job / after all jobs of the case")
    for case, ours, _ in results:
        print(
            f"  {case.name:<16} printscp {ours.first_job_tree_peak_kib / 1024:5.0f} / {ours.tree_peak_kib / 1024:5.0f}"
        )
    print("\nprintscp resident memory once each job is in the archive, MiB (main: VmRSS; tree: sum of VmRSS):")
    for case, ours, _ in results:
        print(f"  {case.name:<16} main {' '.join(f'{kib / 1024:.0f}' for kib in ours.resident_kib)}")
        print(f"  {'':<16} tree {' '.join(f'{kib / 1024:.0f}' for kib in ours.tree_resident_kib)}")
    big = results[-1]
    print(
        f"printscp server peak RSS for {big[0].name}: {big[1].peak_rss_kib / 1024:.0f} MiB "
        f"({big[1].first_job_peak_rss_kib / 1024:.0f} MiB after its first job); process tree "
        f"{big[1].tree_peak_kib / 1024:.0f} MiB ({big[1].first_job_tree_peak_kib / 1024:.0f} MiB)"
    )
    print(
        f"largest PDV dcmprscu could send: printscp {results[0][1].max_send_pdv} bytes, "
        f"dcmprscp {results[0][2].max_send_pdv} bytes"
    )
    if args.profile is not None:
        print("\npy-spy profiles of printscp (raw folded stacks, one line per stack with its sample count):")
        for case, ours, _ in results:
            print(f"  {case.name:<16} {ours.profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
