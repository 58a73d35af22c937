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
  printscp's resident memory (VmRSS) once each job is in the archive, where a leak would show as growth.

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
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from dcmtk import (  # noqa: E402  (the DCMTK harness of the interoperability tests)
    IHEFULL,
    DcmtkPrintClient,
    PreparedJob,
    PrintLog,
    dcmtk_environment,
    is_success_or_warning,
    run,
    tool,
    write_config,
    write_image,
)

from printscp.archive.store import FilmArchive  # noqa: E402

LAYOUT = (4, 5)  # dcmpsprt --layout columns rows: STANDARD\4,5
FILM_SIZE = "14INX17IN"
PRINTSCP_AE = "PRINTSCP"
DCMPRSCP_AE = "DCMPRSCP"
DCMPRSCP_SECTION = "DCMPRSCP"
STARTUP_TIMEOUT = 30.0


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
    jobs: int = 0
    max_send_pdv: str = "?"


# --- source images ---------------------------------------------------------------------------------------


def phantom(size: int) -> np.ndarray:
    """A 12-bit image with smooth structure and some noise, so that no stage gets an easy constant."""
    y, x = np.mgrid[0:size, 0:size] / size
    smooth = 2048 + 1500 * np.sin(6 * x) * np.cos(4 * y) + 400 * (x - y)
    noise = np.random.default_rng(size).normal(0, 60, (size, size))
    return np.asarray(np.clip(smooth + noise, 0, 4095).astype(np.uint16))


# --- servers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_kib(pid: int, field: str = "VmHWM") -> int:
    """A memory figure of /proc/<pid>/status: VmHWM (peak resident) or VmRSS (resident now)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    if not match:
        raise SystemExit(f"no {field} for process {pid}")
    return int(match.group(1))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def printscp_server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """`printscp serve` with the bundled config on a free loopback port; yields (process, port, archive)."""
    archive = folder / "films"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "printscp.log"
    command = [
        str(REPO / ".venv" / "bin" / "printscp"),
        "serve",
        "--config",
        str(REPO / "config.toml"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--archive",
        str(archive),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dcmtk_environment())
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
            if match:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"printscp did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        yield process, int(match.group(1)), archive
    finally:
        stop(process)


@contextmanager
def dcmprscp_server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """dcmprscp with its own config and database on a free port; yields (process, port, database)."""
    port = free_port()
    database = folder / "database"
    section = {
        "Type": "LOCALPRINTER",
        "Hostname": "localhost",  # required for LOCALPRINTER; dcmprscp binds 0.0.0.0 anyway
        "Port": str(port),
        "Aetitle": DCMPRSCP_AE,
        "Description": "DCMTK reference print SCP",
        "MaxPDU": "131072",  # the largest DCMTK allows
        "ImplicitOnly": "false",
        "DisableNewVRs": "false",
        "Supports12Bit": "true",
        "SupportsPresentationLUT": "true",
        "PresentationLUTMatchRequired": "false",
        "PresentationLUTinFilmSession": "false",
        "SupportsTrim": "true",
        "SupportsImageSize": "true",
        "SupportsDecimateCrop": "true",
        "DisplayFormat": "1,1\\2,2\\4,5",
        "FilmSizeID": "8INX10IN\\14INX17IN",
        "MediumType": "PAPER\\CLEAR FILM\\BLUE FILM",
        "FilmDestination": "MAGAZINE\\PROCESSOR",
        "MagnificationType": "REPLICATE\\BILINEAR\\CUBIC\\NONE",
        "ResolutionID": "STANDARD\\HIGH",
        "BorderDensity": "BLACK\\WHITE",
        "EmptyImageDensity": "BLACK\\WHITE",
        "MaxDensity": "320",
        "MinDensity": "20",
    }
    config = write_config(folder / "dcmprscp.cfg", database, {DCMPRSCP_SECTION: section}, DCMPRSCP_AE)
    (folder / "spool").mkdir(exist_ok=True)
    log_path = folder / "dcmprscp.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [tool("dcmprscp"), "--config", str(config), "--printer", DCMPRSCP_SECTION],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dcmtk_environment(),
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:  # dcmprscp answers C-ECHO on its print port
            echo = run([tool("echoscu"), "--call", DCMPRSCP_AE, "127.0.0.1", str(port)])
            if echo.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dcmprscp did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield process, port, database
    finally:
        stop(process)


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


def run_case(case: Case, workdir: Path, repeat: int, warmup: int) -> tuple[Timings, Timings]:
    folder = workdir / case.name.replace(" ", "")
    source = write_image(folder / "source.dcm", phantom(case.size))
    images = [source] * case.images
    ours, theirs = Timings(), Timings()
    with (
        printscp_server(folder / "printscp") as (scp, scp_port, archive),
        dcmprscp_server(folder / "dcmprscp") as (ref, ref_port, database),
    ):
        ours_client = DcmtkPrintClient(folder / "client-printscp", "127.0.0.1", scp_port, PRINTSCP_AE, printer=IHEFULL)
        theirs_client = DcmtkPrintClient(
            folder / "client-dcmprscp", "127.0.0.1", ref_port, DCMPRSCP_AE, printer=IHEFULL
        )
        ours_job = ours_client.prepare(images, LAYOUT, FILM_SIZE)  # dcmpsprt, outside the timing
        theirs_job = theirs_client.prepare(images, LAYOUT, FILM_SIZE)
        for number in range(warmup + repeat):
            # printscp: the job must land in the archive with its PDF
            started_ns, elapsed, log = send_timed(ours_client, ours_job)
            jobs = wait_for_jobs(archive, number + 1)
            pdf = jobs[-1] / "film-1.pdf"
            if not pdf.is_file() or pdf.stat().st_size == 0:
                raise SystemExit(f"printscp run {number + 1}: no PDF in {jobs[-1]}")
            # the job folder is renamed into its day folder in one step: that is when it appears
            appeared = (jobs[-1].parent.stat().st_mtime_ns - started_ns) / 1e9
            if number >= warmup:
                ours.wall.append(elapsed)
                ours.stored.append(appeared)
            ours.max_send_pdv = max_send_pdv(log)
            ours.resident_kib.append(proc_status_kib(scp.pid, "VmRSS"))
            if number == 0:
                ours.first_job_peak_rss_kib = proc_status_kib(scp.pid)

            # dcmprscp: one more Stored Print in its database
            _, elapsed, log = send_timed(theirs_client, theirs_job)
            stored = list(database.glob("SP_*.dcm"))
            if len(stored) != number + 1:
                raise SystemExit(f"dcmprscp run {number + 1}: {len(stored)} stored prints in {database}")
            if number >= warmup:
                theirs.wall.append(elapsed)
            theirs.max_send_pdv = max_send_pdv(log)
            if number == 0:
                theirs.first_job_peak_rss_kib = proc_status_kib(ref.pid)
        ours.peak_rss_kib = proc_status_kib(scp.pid)
        theirs.peak_rss_kib = proc_status_kib(ref.pid)
        ours.jobs = theirs.jobs = warmup + repeat
    return ours, theirs


# --- report ----------------------------------------------------------------------------------------------


def dcmtk_version() -> str:
    result = subprocess.run([tool("dcmprscp"), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"dcmprscp v(\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case and server (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (films, logs)")
    parser.add_argument(
        "--cases", default="1,2,3", help="which cases to run, by number: 1 x 512, 20 x 512, 20 x 2048 (default 1,2,3)"
    )
    args = parser.parse_args()
    try:
        cases = [CASES[int(number) - 1] for number in args.cases.split(",")]
    except (ValueError, IndexError):
        parser.error(f"--cases takes numbers from 1 to {len(CASES)}, comma-separated")
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")

    workdir = Path(tempfile.mkdtemp(prefix="printscp-bench-"))
    print(
        f"printscp vs dcmprscp (DCMTK {dcmtk_version()}), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {args.repeat} timed runs + {args.warmup} warm-up per case and server"
    )
    print(
        f"every job: dcmprscu --dump, IHEFULL client profile, STANDARD\\{LAYOUT[0]},{LAYOUT[1]} on "
        f"{FILM_SIZE}, 12-bit MONOCHROME2; times are medians in seconds\n"
    )
    header = (
        f"{'case':<16} {'printscp wall':>13} {'printscp PDF':>13} {'dcmprscp wall':>13} "
        f"{'ratio':>6} {'PDF ratio':>9}  {'printscp RSS':>12} {'dcmprscp RSS':>12}"
    )
    print(header)
    print("-" * len(header))
    results = []
    try:
        for case in cases:
            ours, theirs = run_case(case, workdir, args.repeat, args.warmup)
            results.append((case, ours, theirs))
            ours_wall, theirs_wall = statistics.median(ours.wall), statistics.median(theirs.wall)
            ours_pdf = statistics.median(ours.stored)
            print(
                f"{case.name:<16} {ours_wall:>13.3f} {ours_pdf:>13.3f} "
                f"{theirs_wall:>13.3f} {ours_wall / theirs_wall:>6.2f} {ours_pdf / theirs_wall:>9.2f}  "
                f"{ours.peak_rss_kib / 1024:>9.0f} MiB {theirs.peak_rss_kib / 1024:>8.0f} MiB",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"\nfiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

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
    print("\nprintscp resident memory (VmRSS) once each job is in the archive, MiB:")
    for case, ours, _ in results:
        print(f"  {case.name:<16} {' '.join(f'{kib / 1024:.0f}' for kib in ours.resident_kib)}")
    big = results[-1]
    print(
        f"printscp server peak RSS for {big[0].name}: {big[1].peak_rss_kib / 1024:.0f} MiB "
        f"({big[1].first_job_peak_rss_kib / 1024:.0f} MiB after its first job)"
    )
    print(
        f"largest PDV dcmprscu could send: printscp {results[0][1].max_send_pdv} bytes, "
        f"dcmprscp {results[0][2].max_send_pdv} bytes"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
