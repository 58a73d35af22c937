#!/usr/bin/env python3
"""K print clients at once against printscp and against DCMTK's dcmprscp: films/s, latency, refusals, archive.

For each K of --clients (default 1, 4, 8), K DCMTK `dcmprscu` clients print at the same time, each its
--films films (default 5) one after another, every film 20 images of 512x512 12-bit on STANDARD\\4,5,
14INX17IN (case 2 of print_vs_dcmprscp.py), each film one dcmprscu run (one association). First against a
fresh `printscp serve` (the bundled config.toml as it is, a new archive, a free loopback port), then against
a fresh dcmprscp; each server gets one untimed warm-up film first. Per server and K it prints:

* films/s: films printed (every DIMSE status success or warning) / wall time from the first dcmprscu start
  to the last exit;
* latency per printed film, p50 and p95: from its dcmprscu start to its exit;
* refusals: films with any failed DIMSE status (say C602, queue full, on N-ACTION) or a failed association,
  read from each dcmprscu --dump log with the DCMTK harness of the tests; what they were is listed;
* printscp only, the archive: each film's time from its dcmprscu start until its job folder (with the PDF)
  appeared in the archive, p50 and p95 (the ctime of the job folder, set when printscp renames it complete
  into YYYY/MM/DD/; file system clock, a few ms coarse), films/s until the last one was there, and a check
  that every film whose N-ACTION succeeded is in the archive exactly once: job folders per client (each
  client calls with its own AE title, which the manifest keeps), job UIDs, and rows of the `films` table of
  films/index.sqlite. A missing or duplicated film makes the script exit 1;
* peak memory: printscp's process tree (the peak sum of VmRSS over the server and its worker processes,
  sampled every ~10 ms), dcmprscp's VmHWM.

Before that, time-to-PDF: single films on an idle printscp, each waited for in the archive before the next:
N-ACTION (the requested_at the manifest keeps) to job folder in the archive, and dcmprscu start to job
folder, against the film's wall time (issue 12: time-to-PDF <= 2 x wall).

dcmprscp serves one association at a time (its main loop handles each association to the end in its own
process and forks nothing; dcmpstat.cfg has no setting for more: MaxAssociations there is dcmqrscp's), so
its K clients take turns, waiting in the listen backlog. It stores what it receives and renders nothing;
printscp renders a PDF and a PNG of every film. The comparison is what print clients wait for.

Not timed: the source image, dcmpsprt rendering each client's Stored Print into its own database, server
start-up and the warm-up film. TCP_NODELAY=1 is set for every DCMTK process. Takes 2-4 minutes with the
defaults on 2 cores. Run from the repository root:

    .venv/bin/python benchmarks/concurrent_clients.py [--clients 1,4,8] [--films 5] [--pdf-films 3] [--keep]
        [--profile DIR] [--hold-renders] [--nodes N]

With --nodes N (2 or more), printscp is N cluster nodes (docs/deployment.md) on one port, network.reuse_port:
the kernel spreads the clients' connections over them. They share one archive folder and one PostgreSQL
database, which the script starts as the tests do (tests/postgres.py) with a new database per K; each node runs
the bundled config.toml with one render worker. Exactly once is then checked against the PostgreSQL index,
and peak memory is the sum of each node's tree's peak.

(Not "concurrent.py": a module of that name in benchmarks/ hides the standard library's concurrent.futures
from every script that puts this folder on sys.path.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from servers import (
    DCMPRSCP_AE,
    FILM_SIZE,
    LAYOUT,
    PRINTSCP_AE,
    REPO,
    TreeMemory,
    cpu_seconds,
    dcmprscp_server,
    dcmtk_version,
    phantom,
    printscp_server,
    proc_status_kib,
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

from printscp.archive.store import INDEX, JOB_MANIFESTS  # noqa: E402

IMAGES, SIZE = 20, 512
WARMUP_AE = "WARMUP"
ARCHIVE_TIMEOUT = 60.0  # seconds to wait for the archive after the last client, plus 3 s per film
SETTLE = 0.5  # seconds to wait once every film is there, to catch one that comes twice


def client_ae(number: int) -> str:
    return f"CLIENT{number}"


@dataclass
class Film:
    """One dcmprscu run: one film of one client."""

    client: int
    number: int  # 1, 2, ... within its client
    started_ns: int  # wall clock, to compare with file times
    seconds: float = 0.0  # dcmprscu start to exit
    log: PrintLog | None = None
    error: str | None = None  # the run itself failed (timeout)
    archived: float | None = None  # printscp: seconds from dcmprscu start until its job folder appeared

    @property
    def accepted(self) -> bool:
        """N-ACTION succeeded: the film must be printed, whatever else failed."""
        if self.log is None:
            return False
        actions = self.log.find("N-ACTION RSP")
        return len(actions) == 1 and actions[0].status is not None and is_success_or_warning(actions[0].status)

    @property
    def printed(self) -> bool:
        return self.log is not None and self.log.printed

    def refusals(self) -> list[str]:
        """What went wrong: each failed response as "N-ACTION RSP 0xC602", or the first error line."""
        if self.error is not None:
            return [self.error]
        assert self.log is not None
        failed = [f"{m.type} 0x{m.status:04X}" if m.status is not None else m.type for m in self.log.failures]
        if failed:
            return failed
        if not self.log.printed:
            errors = self.log.errors
            return [errors[0][3:].strip() if errors else f"dcmprscu exit {self.log.returncode}, no N-ACTION"]
        return []


@dataclass
class Run:
    """K clients against one server."""

    server: str
    clients: int
    films: list[Film]
    wall: float  # first dcmprscu start to last exit
    peak_kib: int = 0  # printscp: peak of the tree's VmRSS sum; dcmprscp: VmHWM
    archive_wall: float | None = None  # printscp: first start until the last film was in the archive
    once: str = ""  # "OK" or "FAIL": every accepted film stored exactly once (details in notes)
    once_ok: bool = True
    server_cpu: float = 0.0  # CPU seconds of the server (printscp: its process tree) until every film is in
    client_cpu: float = 0.0  # CPU seconds of the dcmprscu processes
    receive_cpu: float | None = None  # printscp: CPU seconds of the server process alone (receive, spool, index)
    notes: list[str] = field(default_factory=list)

    @property
    def printed(self) -> list[Film]:
        return [film for film in self.films if film.printed]

    @property
    def refused(self) -> list[Film]:
        return [film for film in self.films if not film.printed]

    @property
    def films_per_second(self) -> float:
        return len(self.printed) / self.wall if self.wall > 0 else 0.0


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the dcmprscu runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def figure(value: float | None, width: int = 6, digits: int = 3) -> str:
    """A right-aligned figure, or "-" for none (no film to measure)."""
    return f"{value:>{width}.{digits}f}" if value is not None and value == value else f"{'-':>{width}}"


# --- clients -------------------------------------------------------------------------------------------------


def send(client: DcmtkPrintClient, job: PreparedJob, client_index: int, number: int) -> Film:
    """One dcmprscu run, timed from its start to its exit; a run that fails outright is a refused film."""
    film = Film(client_index, number, time.time_ns())
    started = time.perf_counter()
    try:
        film.log = client.send(job)
    except Exception as error:  # a dcmprscu that hangs past the harness timeout: a failed film, not a crash
        film.error = f"{type(error).__name__}: {error}"
    film.seconds = time.perf_counter() - started
    return film


def run_clients(clients: list[tuple[DcmtkPrintClient, PreparedJob]], films: int) -> tuple[list[Film], float]:
    """Every client in its own thread, all released at once, each sending its films one after another."""
    barrier = threading.Barrier(len(clients))
    results: list[list[Film]] = [[] for _ in clients]

    def work(index: int) -> None:
        client, job = clients[index]
        barrier.wait()
        for number in range(1, films + 1):
            results[index].append(send(client, job, index, number))

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [film for films_of_client in results for film in films_of_client]
    first = min(film.started_ns for film in done)
    last = max(film.started_ns + int(film.seconds * 1e9) for film in done)
    return done, (last - first) / 1e9


def prepare_clients(
    folder: Path, port: int, called: str, count: int, images: list[Path]
) -> list[tuple[DcmtkPrintClient, PreparedJob]]:
    """One client and one Stored Print (dcmpsprt, untimed) per calling AE title."""
    prepared = []
    for index in range(count):
        calling = client_ae(index)
        client = DcmtkPrintClient(folder / calling.lower(), "127.0.0.1", port, called, calling, printer=IHEFULL)
        prepared.append((client, client.prepare(images, LAYOUT, FILM_SIZE)))
    return prepared


def warm_up(folder: Path, port: int, called: str, images: list[Path]) -> None:
    client = DcmtkPrintClient(folder / "warmup", "127.0.0.1", port, called, WARMUP_AE, printer=IHEFULL)
    log = client.send(client.prepare(images, LAYOUT, FILM_SIZE))
    if not log.printed:
        raise SystemExit(f"the warm-up film failed against {called}:\n{log.summary()}")


# --- the printscp archive --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedJob:
    folder: Path
    manifest: dict[str, Any]
    appeared_ns: int  # ctime of the job folder: its rename into the day folder

    @property
    def calling_ae_title(self) -> str:
        return str(self.manifest.get("calling_ae_title", ""))

    @property
    def requested_ns(self) -> int:
        return int(datetime.fromisoformat(self.manifest["requested_at"]).timestamp() * 1e9)


def archived_jobs(archive: Path) -> list[ArchivedJob]:
    """The complete job folders of the archive, in the order they were requested."""
    jobs = []
    for path in archive.glob(JOB_MANIFESTS):
        try:
            manifest = json.loads(path.read_bytes())
            appeared = path.parent.stat().st_ctime_ns
        except (OSError, ValueError):
            continue
        jobs.append(ArchivedJob(path.parent, manifest, appeared))
    return sorted(jobs, key=lambda job: job.requested_ns)


def wait_for_archive(archive: Path, count: int, timeout: float) -> list[ArchivedJob]:
    """The archive once it holds `count` jobs (and SETTLE s more, so a doubled film shows), or at timeout."""
    deadline = time.monotonic() + timeout
    while len(list(archive.glob(JOB_MANIFESTS))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(SETTLE)
    return archived_jobs(archive)


FILM_ROWS = "SELECT COUNT(*), COUNT(DISTINCT job_uid) FROM films"


def sqlite_rows(archive: Path) -> Callable[[], tuple[int, int]]:
    """(rows, distinct job UIDs) of the `films` table of the archive's SQLite index; (-1, -1) unreadable."""

    def count() -> tuple[int, int]:
        try:
            with sqlite3.connect(f"file:{archive / INDEX}?mode=ro", uri=True, timeout=5) as db:
                rows, distinct = db.execute(FILM_ROWS).fetchone()
        except sqlite3.Error:
            return -1, -1
        return int(rows), int(distinct)

    return count


def postgres_rows(url: str) -> Callable[[], tuple[int, int]]:
    """The same of the nodes' one PostgreSQL index."""

    def count() -> tuple[int, int]:
        import psycopg

        with psycopg.connect(url) as db:
            found = db.execute(FILM_ROWS).fetchone()
        assert found is not None
        return int(found[0]), int(found[1])

    return count


def index_rows(count: Callable[[], tuple[int, int]], expected: int, timeout: float = 5.0) -> tuple[int, int]:
    """`count()` once it finds `expected` rows, or at timeout: the index follows the rename, so wait a bit."""
    deadline = time.monotonic() + timeout
    while (found := count())[0] < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def check_archive(run: Run, archive: Path, clients: int, count_rows: Callable[[], tuple[int, int]]) -> None:
    """Match each accepted film to its job folder (by calling AE title, in order), time it, and check that
    every accepted film is there exactly once."""
    accepted = [film for film in run.films if film.accepted]
    expected = len(accepted) + 1  # and the warm-up film
    jobs = wait_for_archive(archive, expected, ARCHIVE_TIMEOUT + 3 * len(run.films))
    problems = []
    for index in range(clients):
        mine = [job for job in jobs if job.calling_ae_title == client_ae(index)]
        films = [film for film in accepted if film.client == index]  # in the order they were sent
        if len(mine) != len(films):
            problems.append(f"{client_ae(index)}: {len(mine)} job(s) for {len(films)} accepted film(s)")
            continue
        for film, job in zip(films, mine, strict=True):
            film.archived = (job.appeared_ns - film.started_ns) / 1e9
    known = {client_ae(index) for index in range(clients)} | {WARMUP_AE}
    strangers = [job for job in jobs if job.calling_ae_title not in known]
    if strangers:
        problems.append(f"{len(strangers)} job(s) from unknown callers")
    uids = Counter(job.folder.name for job in jobs)
    doubled = [uid for uid, count in uids.items() if count > 1]
    if doubled:
        problems.append(f"{len(doubled)} job UID(s) in more than one folder")
    no_pdf = [job for job in jobs if not any(path.stat().st_size for path in job.folder.glob("film-*.pdf"))]
    if no_pdf:
        problems.append(f"{len(no_pdf)} job folder(s) without a PDF")
    rows, distinct = index_rows(count_rows, len(jobs))
    if rows != len(jobs) or distinct != len(jobs):
        problems.append(f"index: {rows} film row(s), {distinct} job UID(s) for {len(jobs)} job folder(s)")
    missing, extra = max(0, expected - len(jobs)), max(0, len(jobs) - expected)
    if missing:
        problems.insert(0, f"{missing} missing")
    if extra:
        problems.insert(0, f"{extra} too many")
    run.once_ok = not problems
    run.once = "OK" if run.once_ok else "FAIL"
    if problems:
        found = f"{len(jobs)} job(s) for {expected} accepted film(s)"
        run.notes.append(f"printscp K={run.clients}, archive: {found}: " + "; ".join(problems))
    archived = [film.started_ns + int((film.archived or 0) * 1e9) for film in accepted if film.archived is not None]
    if archived:
        first = min(film.started_ns for film in run.films)
        run.archive_wall = (max(archived) - first) / 1e9


# --- one K against each server -------------------------------------------------------------------------------


@dataclass
class Printscp:
    """printscp as the clients see it: one `printscp serve`, or --nodes cluster nodes on one port."""

    port: int
    archive: Path
    trees: list[TreeMemory]  # one per server process: it and its render workers
    count_rows: Callable[[], tuple[int, int]]  # of its index's films table

    def reset_peak(self) -> None:
        for tree in self.trees:
            tree.reset_peak()

    def cpu_seconds(self) -> float:
        return sum(tree.cpu_seconds() for tree in self.trees)

    def server_cpu_seconds(self) -> float:
        """The server processes alone (receive, spool, index), render workers not counted."""
        return sum(cpu_seconds(tree.root) for tree in self.trees)

    def render_workers(self) -> list[int]:
        return [pid for tree in self.trees for pid in tree.descendants()]

    def peak_kib(self) -> int:
        """With several nodes the sum of each node's peak: at most that much at once."""
        return sum(max(tree.peak_kib, tree.sample()) for tree in self.trees)


@contextmanager
def one_server(folder: Path, profile: Path | None) -> Iterator[Printscp]:
    with printscp_server(folder / "server", profile) as scp:
        yield Printscp(scp.port, scp.folder, [scp.memory], sqlite_rows(scp.folder))


def shared_port_nodes(nodes: int, postgres: Any) -> Callable[[Path, Path | None], Any]:
    """--nodes: `nodes` cluster nodes on one port (network.reuse_port), one archive folder, a new PostgreSQL
    database each time; the bundled config but one render worker per node (the nodes share the cores)."""

    @contextmanager
    def serve(folder: Path, profile: Path | None) -> Iterator[Printscp]:
        from cluster import Cluster

        url = postgres.database()
        with Cluster(folder / "nodes", nodes, True, url, shared_port=True, ocr=True) as cluster:
            trees = [TreeMemory(node.process.pid).start() for node in cluster.nodes if node.process is not None]
            try:
                yield Printscp(cluster.address[1], cluster.shared_archive, trees, postgres_rows(url))
            finally:
                for tree in trees:
                    tree.stop()

    return serve


def printscp_run(
    folder: Path,
    clients: int,
    films: int,
    images: list[Path],
    profile: Path | None = None,
    hold: bool = False,
    serve: Callable[[Path, Path | None], Any] = one_server,
) -> Run:
    """`hold`: the render workers are stopped (SIGSTOP) while the clients print and continued after, so
    films/s is what accepting prints alone allows."""
    with serve(folder, profile) as scp:
        warm_up(folder, scp.port, PRINTSCP_AE, images)
        prepared = prepare_clients(folder, scp.port, PRINTSCP_AE, clients, images)
        wait_for_archive(scp.archive, 1, ARCHIVE_TIMEOUT)
        scp.reset_peak()
        cpu_before, clients_before = scp.cpu_seconds(), children_cpu()
        receive_before = scp.server_cpu_seconds()
        held = scp.render_workers() if hold else []
        for pid in held:
            os.kill(pid, signal.SIGSTOP)
        try:
            done, wall = run_clients(prepared, films)
        finally:
            for pid in held:
                os.kill(pid, signal.SIGCONT)
        run = Run("printscp", clients, done, wall)
        check_archive(run, scp.archive, clients, scp.count_rows)
        run.server_cpu, run.client_cpu = scp.cpu_seconds() - cpu_before, children_cpu() - clients_before
        run.receive_cpu = scp.server_cpu_seconds() - receive_before
        run.peak_kib = scp.peak_kib()
    return run


def dcmprscp_run(folder: Path, clients: int, films: int, images: list[Path]) -> Run:
    with dcmprscp_server(folder / "server") as ref:
        warm_up(folder, ref.port, DCMPRSCP_AE, images)
        prepared = prepare_clients(folder, ref.port, DCMPRSCP_AE, clients, images)
        cpu_before, clients_before = cpu_seconds(ref.pid), children_cpu()
        done, wall = run_clients(prepared, films)
        run = Run("dcmprscp", clients, done, wall)
        run.server_cpu, run.client_cpu = cpu_seconds(ref.pid) - cpu_before, children_cpu() - clients_before
        stored = len(list(ref.folder.glob("SP_*.dcm")))
        expected = 1 + sum(film.accepted for film in done)
        run.once_ok = stored == expected
        run.once = "OK" if run.once_ok else "FAIL"
        if not run.once_ok:
            run.notes.append(f"dcmprscp K={clients}: {stored} Stored Print(s) for {expected} accepted film(s)")
        run.peak_kib = proc_status_kib(ref.pid)
    return run


def time_to_pdf(folder: Path, films: int, images: list[Path]) -> list[tuple[float, float, float]]:
    """(wall, N-ACTION to PDF, dcmprscu start to PDF) of single films on an idle printscp."""
    results = []
    with printscp_server(folder / "server") as scp:
        warm_up(folder, scp.port, PRINTSCP_AE, images)
        wait_for_archive(scp.folder, 1, ARCHIVE_TIMEOUT)
        ((client, job),) = prepare_clients(folder, scp.port, PRINTSCP_AE, 1, images)
        for number in range(1, films + 1):
            film = send(client, job, 0, number)
            if not film.printed:
                raise SystemExit(f"time-to-PDF film {number} failed: {'; '.join(film.refusals())}")
            jobs = wait_for_archive(scp.folder, number + 1, ARCHIVE_TIMEOUT)
            mine = [job for job in jobs if job.calling_ae_title == client_ae(0)]
            if len(mine) != number:
                raise SystemExit(f"time-to-PDF film {number}: {len(mine)} job(s) in {scp.folder}")
            last = mine[-1]
            results.append(
                (film.seconds, (last.appeared_ns - last.requested_ns) / 1e9, (last.appeared_ns - film.started_ns) / 1e9)
            )
    return results


# --- report --------------------------------------------------------------------------------------------------


def bundled_settings() -> str:
    config = tomllib.loads((REPO / "config.toml").read_text())
    queue, network = config.get("queue", {}), config.get("network", {})
    workers = config.get("render", {}).get("workers", "not set")
    return (
        f"queue.size {queue.get('size', 'default')}, render.workers {workers}, network.max_associations "
        f"{network.get('max_associations', 'default')}, network.max_connections_per_ip "
        f"{network.get('max_connections_per_ip', 'default')}"
    )


HEADER = (
    f"{'K':>2} {'server':<9} {'films':>5} {'done':>5} {'refused':>7} {'films/s':>8} {'p50 s':>6} {'p95 s':>6}"
    f"  | {'archive p50':>11} {'p95':>6} {'films/s':>8} {'exactly once':>13} | {'peak RSS':>9}"
    f" | {'CPU ms/film server':>18} {'of which process':>16} {'clients':>7}"
)


def row(run: Run) -> str:
    latencies = [film.seconds for film in run.printed]
    line = (
        f"{run.clients:>2} {run.server:<9} {len(run.films):>5} {len(run.printed):>5} {len(run.refused):>7} "
        f"{run.films_per_second:>8.2f} {figure(percentile(latencies, 50))} {figure(percentile(latencies, 95))}  | "
    )
    if run.server == "printscp":
        archived = [film.archived for film in run.films if film.archived is not None]
        rate = len(archived) / run.archive_wall if run.archive_wall else float("nan")
        line += f"{figure(percentile(archived, 50), 11)} {figure(percentile(archived, 95))} {figure(rate, 8, 2)} "
    else:
        line += f"{'':>11} {'':>6} {'':>8} "
    line += f"{run.once:>13} | {run.peak_kib / 1024:>5.0f} MiB"
    per_film = 1000 / max(len(run.printed), 1)
    own = f"{run.receive_cpu * per_film:>16.0f}" if run.receive_cpu is not None else f"{'':>16}"
    return line + f" | {run.server_cpu * per_film:>18.0f} {own} {run.client_cpu * per_film:>7.0f}"


def refusal_summary(run: Run) -> str:
    reasons = Counter(reason for film in run.refused for reason in film.refusals())
    listed = ", ".join(f"{reason} x{count}" for reason, count in reasons.most_common())
    return f"{run.server} K={run.clients}: {len(run.refused)} of {len(run.films)} films refused: {listed}"


def parse_clients(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="numbers of clients at once, comma-separated (1,4,8)")
    parser.add_argument("--films", type=int, default=5, help="films each client prints, one after another (5)")
    parser.add_argument("--pdf-films", type=int, default=3, help="single films timed for time-to-PDF (3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archives, logs)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="run each K's printscp under py-spy, raw stacks in DIR/K<k>.txt"
    )
    parser.add_argument(
        "--hold-renders",
        action="store_true",
        help="stop printscp's render workers while the clients print (accepting alone), continue them after",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="printscp as this many cluster nodes on one port (network.reuse_port) with PostgreSQL (1)",
    )
    args = parser.parse_args()
    try:
        counts = parse_clients(args.clients)
    except ValueError:
        parser.error("--clients takes positive numbers, comma-separated, e.g. 1,4,8")
    if args.films < 1 or args.pdf_films < 1 or args.nodes < 1:
        parser.error("--films, --pdf-films and --nodes must be at least 1")
    if args.profile and args.nodes > 1:
        parser.error("--profile runs one printscp under py-spy: not with --nodes")

    workdir = Path(tempfile.mkdtemp(prefix="printscp-concurrent-"))
    print(
        f"concurrent print clients: printscp vs dcmprscp (DCMTK {dcmtk_version()}), Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(
        f"every film: one dcmprscu --dump run (IHEFULL client profile), {IMAGES} x {SIZE}x{SIZE} 12-bit on "
        f"STANDARD\\{LAYOUT[0]},{LAYOUT[1]}, {FILM_SIZE}; K clients at once, {args.films} films each, one after "
        "another"
    )
    if args.nodes == 1:
        print(f"printscp: the bundled config.toml as it is ({bundled_settings()})")
    else:
        print(
            f"printscp: {args.nodes} cluster nodes on one port (network.reuse_port: the kernel spreads the "
            "connections), one archive folder, one PostgreSQL database started here; each the bundled config.toml "
            "with render.workers 1 (time-to-PDF: one node as bundled)"
        )
    print(
        "dcmprscp: one association at a time (no fork; dcmpstat.cfg has no setting for more), so its K clients "
        "take turns in the listen backlog\n"
    )
    runs: list[tuple[Run, Run]] = []
    postgres = None
    try:
        serve: Callable[[Path, Path | None], Any] = one_server
        if args.nodes > 1:
            from postgres import PostgresServer

            postgres = PostgresServer()
            postgres.start()
            serve = shared_port_nodes(args.nodes, postgres)
        source = write_image(workdir / "source.dcm", phantom(SIZE))
        images = [source] * IMAGES
        pdf = time_to_pdf(workdir / "time-to-pdf", args.pdf_films, images)
        wall = statistics.median(result[0] for result in pdf)
        action = statistics.median(result[1] for result in pdf)
        start = statistics.median(result[2] for result in pdf)
        print(f"time-to-PDF, {args.pdf_films} single film(s) on an idle printscp after a warm-up (medians):")
        print(
            f"  wall (dcmprscu start to exit) {wall:.3f} s; N-ACTION to PDF in the archive {action:.3f} s "
            f"({action / wall:.2f} x wall); dcmprscu start to PDF {start:.3f} s ({start / wall:.2f} x wall)"
        )
        print("  each: " + "  ".join(f"{w:.3f}/{a:.3f}/{s:.3f}" for w, a, s in pdf) + "  (wall/N-ACTION/start to PDF)")
        print("  issue 12 target: time-to-PDF <= 2 x wall\n")

        print("latency: dcmprscu start to exit of printed films; archive: dcmprscu start to job folder in the archive")
        print(
            "exactly once: printscp's job folders and index rows against its accepted films; dcmprscp's Stored "
            "Prints\npeak RSS: printscp's process tree (sum of VmRSS, sampled every ~10 ms), dcmprscp's VmHWM"
        )
        print(HEADER)
        print("-" * len(HEADER))
        for count in counts:
            profile = args.profile / f"K{count}.txt" if args.profile else None
            ours = printscp_run(
                workdir / f"printscp-K{count}", count, args.films, images, profile, args.hold_renders, serve
            )
            print(row(ours), flush=True)
            theirs = dcmprscp_run(workdir / f"dcmprscp-K{count}", count, args.films, images)
            print(row(theirs), flush=True)
            runs.append((ours, theirs))
    finally:
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"\nfiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    notes = [note for pair in runs for run in pair for note in run.notes]
    refusals = [refusal_summary(run) for pair in runs for run in pair if run.refused]
    if refusals or notes:
        print()
    for line in refusals + notes:
        print(line)
    print(
        "\nsummary (films/s: printed films / first dcmprscu start to last exit; issue 12 at K=8: 0 refused, "
        "every film in the archive exactly once, printscp films/s >= dcmprscp's):"
    )
    failed = False
    for ours, theirs in runs:
        ratio = ours.films_per_second / theirs.films_per_second if theirs.films_per_second else float("nan")
        print(
            f"  K={ours.clients}: printscp {ours.films_per_second:.2f} films/s, dcmprscp "
            f"{theirs.films_per_second:.2f} films/s, ratio {ratio:.2f}; refused {len(ours.refused)} / "
            f"{len(theirs.refused)}; exactly once {'OK' if ours.once_ok else 'FAIL'}"
        )
        failed |= not ours.once_ok
    if failed:
        print("a film is missing from printscp's archive, or is there more than once")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
