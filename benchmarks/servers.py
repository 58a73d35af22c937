"""The servers the print benchmarks run: `printscp serve` and DCMTK's dcmprscp, and how much memory they use.

Shared by print_vs_dcmprscp.py and concurrent_clients.py. Each server is started fresh on a free loopback port with
a folder of its own (printscp: the bundled config.toml and a new archive; dcmprscp: a config and database
written here) and stopped when its `with` block ends.

Memory: printscp may render in child worker processes, so besides the main process's VmHWM (peak) and
VmRSS (now) from /proc/<pid>/status, `TreeMemory` samples the sum of VmRSS over the server process and all
its descendants every ~10 ms and keeps the peak. A sum of VmRSS counts pages that forked processes share
once per process, so it is an upper bound of what the tree holds, not PSS.

Profiling: `printscp_server(..., profile=PATH)` runs the server under `py-spy record` (raw folded stacks,
subprocesses and threads included) and stops it with SIGINT, so that py-spy writes PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from dcmtk import (  # noqa: E402  (the DCMTK harness of the interoperability tests)
    IHEFULL,
    dcmtk_environment,
    free_port,
    run,
    tool,
    write_config,
)

LAYOUT = (4, 5)  # dcmpsprt --layout columns rows: STANDARD\4,5
FILM_SIZE = "14INX17IN"
PRINTSCP_AE = "PRINTSCP"
DCMPRSCP_AE = "DCMPRSCP"
DCMPRSCP_SECTION = "DCMPRSCP"
STARTUP_TIMEOUT = 30.0
SAMPLE_INTERVAL = 0.01  # seconds between two samples of the process tree's memory
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PSS_EVERY = 3  # tree samples per Pss sample

__all__ = [
    "DCMPRSCP_AE",
    "FILM_SIZE",
    "LAYOUT",
    "PRINTSCP_AE",
    "REPO",
    "Server",
    "TreeMemory",
    "dcmprscp_server",
    "dcmtk_version",
    "free_port",
    "listening_port",
    "phantom",
    "printscp_server",
    "proc_status_kib",
    "stop",
    "work_folder",
]


@contextmanager
def work_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A new temporary folder for a script's servers, clients and films: removed when the block ends, or with
    `keep` (--keep) left in place and named."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            print(f"\nfiles kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


# --- source images ---------------------------------------------------------------------------------------


def add_film_options(parser: argparse.ArgumentParser, films: int, warmup: int) -> None:
    """--images, --size, --films and --warmup of a script that prints films of LAYOUT one after another."""
    parser.add_argument("--images", type=int, default=20, help="images per film, at most 20 (20)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns of each image (512)")
    parser.add_argument("--films", type=int, default=films, help=f"timed films ({films})")
    parser.add_argument("--warmup", type=int, default=warmup, help=f"untimed films first ({warmup})")


def parse_film_options(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with add_film_options' checked (one clear line and exit 2 otherwise)."""
    args = parser.parse_args()
    if not 1 <= args.images <= LAYOUT[0] * LAYOUT[1] or args.films < 1 or args.warmup < 0:
        parser.error(f"--images 1 to {LAYOUT[0] * LAYOUT[1]}, --films at least 1, --warmup at least 0")
    return args


def phantom(size: int) -> np.ndarray:
    """A 12-bit image with smooth structure and some noise, so that no stage gets an easy constant."""
    y, x = np.mgrid[0:size, 0:size] / size
    smooth = 2048 + 1500 * np.sin(6 * x) * np.cos(4 * y) + 400 * (x - y)
    noise = np.random.default_rng(size).normal(0, 60, (size, size))
    return np.asarray(np.clip(smooth + noise, 0, 4095).astype(np.uint16))


# --- memory ------------------------------------------------------------------------------------------------


def proc_status_kib(pid: int, field: str = "VmHWM") -> int:
    """A memory figure of /proc/<pid>/status: VmHWM (peak resident) or VmRSS (resident now)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    if not match:
        raise SystemExit(f"no {field} for process {pid}")
    return int(match.group(1))


def _parent(pid: int) -> int | None:
    """The parent of a process (field 4 of /proc/<pid>/stat, after the command name in parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:  # gone
        return None
    return int(stat[stat.rindex(b")") + 2 :].split(maxsplit=2)[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, ended ones included); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _proportional_kib(pid: int) -> int | None:
    """Pss of a process (/proc/<pid>/smaps_rollup): its private pages plus its share of pages it shares
    (a forked worker shares the forkserver's libraries), so a sum over processes counts each page once."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _resident_kib(pid: int) -> int | None:
    """VmRSS of a process, from /proc/<pid>/statm (the same figure as status, cheaper to read)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE_KIB
    except (OSError, IndexError, ValueError):  # gone, or a zombie
        return None


class TreeMemory:
    """The sum of VmRSS over a process and all its descendants, sampled by a thread; keeps the peak.

    This kernel may lack /proc/<pid>/task/*/children, so descendants are found from the parent field of
    /proc/*/stat. Each sample lists /proc and reads the stat of pids it has not seen yet only: a pid is a
    descendant if its parent is one when it is first seen (a worker whose parent exits stays counted).
    """

    def __init__(self, root: int, interval: float = SAMPLE_INTERVAL) -> None:
        self.root = root
        self.interval = interval
        self.peak_kib = 0
        self.pss_peak_kib = 0  # the peak of the sum of Pss, sampled every PSS_EVERY samples (it costs more)
        self.samples = 0
        self.most_processes = 1
        self._tree = {root}
        self._others: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tree-memory-{root}", daemon=True)

    def start(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _refresh(self) -> None:
        pids = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        self._tree &= pids
        self._others &= pids
        for pid in sorted(pids - self._tree - self._others):  # a child's pid is usually above its parent's
            (self._tree if _parent(pid) in self._tree else self._others).add(pid)

    def sample(self) -> int:
        """The tree's VmRSS sum now, KiB (and count it towards the peak)."""
        with self._lock:
            self._refresh()
            total = 0
            for pid in list(self._tree):
                kib = _resident_kib(pid)
                if kib is None:
                    self._tree.discard(pid)
                else:
                    total += kib
            self.samples += 1
            self.peak_kib = max(self.peak_kib, total)
            if self.samples % PSS_EVERY == 0:
                pss = sum(_proportional_kib(pid) or 0 for pid in self._tree)
                self.pss_peak_kib = max(self.pss_peak_kib, pss)
            self.most_processes = max(self.most_processes, len(self._tree))
            return total

    def descendants(self) -> list[int]:
        """The processes of the tree below its root (printscp: the forkserver and its render workers)."""
        with self._lock:
            self._refresh()
            return sorted(self._tree - {self.root})

    def cpu_seconds(self) -> float:
        """CPU time of the tree's processes alive now (render workers included), seconds."""
        with self._lock:
            self._refresh()
            return sum(cpu_seconds(pid) for pid in self._tree)

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_kib = 0
            self.pss_peak_kib = 0


# --- servers -----------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A running server: the process we started, the pid that serves (printscp's own under py-spy), its
    port, its folder of results (printscp: the archive; dcmprscp: its database) and the memory of its
    process tree: sampled in the background for printscp; for dcmprscp, which forks nothing and whose VmHWM
    says it all, only when `memory.sample()` is called (no thread taking CPU beside the reference)."""

    process: subprocess.Popen[bytes]
    pid: int
    port: int
    folder: Path
    memory: TreeMemory
    profile: Path | None = None
    log: Path | None = None


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=30 if sig == signal.SIGINT else 10)  # py-spy writes its profile first
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def listening_port(process: subprocess.Popen[bytes], log: Path, what: str = "printscp") -> int:
    """The port `printscp serve` (started with --host 127.0.0.1) says in `log` that it listens on, once it
    says so; exit naming `what` if it ends or says nothing within STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not (match := re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return int(match.group(1))


def _child_of(pid: int, timeout: float) -> int:
    """The first child process of `pid` (the command py-spy started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir("/proc"):
            if name.isdigit() and _parent(int(name)) == pid:
                return int(name)
        time.sleep(0.01)
    raise SystemExit(f"process {pid} started no child in {timeout} s")


@contextmanager
def printscp_server(folder: Path, profile: Path | None = None, config: Path | None = None) -> Iterator[Server]:
    """`printscp serve` with `config` (default: the bundled config.toml) on a free loopback port and the
    archive `folder`/films (new, or the one a server before it left there); under `py-spy record` writing
    raw stacks to `profile` if given."""
    archive = folder / "films"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "printscp.log"
    command = [
        str(REPO / ".venv" / "bin" / "printscp"),
        "serve",
        "--config",
        str(config or REPO / "config.toml"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--archive",
        str(archive),
    ]
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        py_spy = REPO / ".venv" / "bin" / "py-spy"
        if not py_spy.exists():
            raise SystemExit(f"--profile needs py-spy: {REPO / '.ci' / 'setup'} --test installs it")
        record = ["record", "-r", "250", "-s", "--threads", "-f", "raw", "-o", str(profile)]
        command = [str(py_spy), *record, "--", *command]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dcmtk_environment())
    memory: TreeMemory | None = None
    pid: int | None = None
    try:
        port = listening_port(process, log_path)
        pid = process.pid if profile is None else _child_of(process.pid, STARTUP_TIMEOUT)
        memory = TreeMemory(pid).start()
        yield Server(process, pid, port, archive, memory, profile, log_path)
    finally:
        if memory is not None:
            memory.stop()
        if profile is None:
            stop(process)
        else:
            # printscp stops as on Ctrl-C, its worker processes with it; py-spy sees it exit and writes the
            # profile (py-spy itself, sent SIGINT, would write it too but SIGKILL printscp, orphaning workers)
            if pid is not None and process.poll() is None:
                os.kill(pid, signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
            if process.poll() is None:
                stop(process, signal.SIGINT)
            if not profile.exists():
                print(f"py-spy wrote no profile:\n{log_path.read_text(errors='replace')[-2000:]}", file=sys.stderr)


@contextmanager
def dcmprscp_server(folder: Path, port: int | None = None) -> Iterator[Server]:
    """dcmprscp with its own config and database on `port` (default: a free one).

    dcmprscp serves one association at a time: its main loop negotiates an association and handles it to
    the end in the same process (no fork), and no setting of dcmpstat.cfg changes that (MaxAssociations is
    a [QUERY_RETRIEVE] key, of dcmqrscp). Clients that connect meanwhile wait in the listen backlog.
    """
    port = port or free_port()
    database = folder / "database"
    section = {
        "Type": "LOCALPRINTER",
        "Hostname": "localhost",  # required for LOCALPRINTER; dcmprscp binds 0.0.0.0 anyway
        "Port": str(port),
        "Aetitle": DCMPRSCP_AE,
        "Description": "DCMTK reference print SCP",
        **IHEFULL,  # what the clients believe of the printer, and the SCP then offers
        "MaxPDU": "131072",  # the largest DCMTK allows
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
        yield Server(process, process.pid, port, database, TreeMemory(process.pid), None, log_path)
    finally:
        stop(process)


def dcmtk_version() -> str:
    result = subprocess.run([tool("dcmprscp"), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"dcmprscp v(\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"
