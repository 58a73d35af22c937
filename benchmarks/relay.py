#!/usr/bin/env python3
"""printscp as a print gateway (issue 20): a target that is down, a kill -9, a slow target, after_relay.

A gateway is `printscp serve` (servers.py: a free loopback port, an archive of its own) with the bundled
config.toml plus `relay_to = [TARGET]` under [printer], `[nodes.TARGET]` on a loopback port and the web
console off; [relay] as bundled (retry_seconds = 5, doubling up to 20 s) unless said. Modalities are
pynetdicom print SCUs (tests/printscu.py). Every film is STANDARD\\2,2, 14INX17IN, four 512x512 12-bit images
whose first pixels say which film and image box they are, so that the target's copies can be told apart.

1. Outage, on_spool (--outage 60 s, --films 10). DCMTK's dcmprscp, the target, is NOT running. One
   association (negotiating Print Job) prints the films one after another: N-ACTION latency p50/p95. The
   Print Jobs are read with N-GET every 2 s while the target is down (which also keeps the association from
   going idle): what the last round said. --outage seconds after the first film, dcmprscp starts on the
   node's port: seconds from its start until every film is stored there (the newest Stored Print's mtime;
   dcmprscp writes one per N-ACTION, and a Hardcopy Grayscale image per Image Box N-SET), until every
   `<archive>/.relay/*/relay.json` says DONE, and until every Print Job N-GET says DONE. Exactly once:
   Stored Prints against films, and each film's marked images among dcmprscp's Hardcopy images (a film
   stored twice shows twice, a lost one not at all); the relay attempts relay.json counts, the gateway's
   "relayed to" log lines, and dcmprscp's warnings (without --verbose it logs no N-ACTION).
2. Outage with kill -9: the same, but the gateway gets SIGKILL half-way through the outage (the Print Jobs
   are read just before) and is started again on the same archive (its render workers, if any are still
   running 5 s later, are named and killed); a new association reads the Print Jobs again; then dcmprscp
   starts: films stored, duplicates, lost.
3. Slow target, --modalities 8 at once, --films-each 3 films each, one association each: to the gateway
   (on_spool) whose target is a second `printscp serve` answering each Film Box N-ACTION 2 s late (a fault
   plan rule), then the same modalities straight to dcmprscp. Refusals (a failed status or association),
   acknowledgements/s (films acknowledged / first association request to last release) and the ratio
   gateway / dcmprscp, N-ACTION latency; for the gateway, how long until the slow target had every film
   (relay.json DONE; each exactly once by Film Session Label in its archive).
4. after_relay: single films (--latency-films, after one warm-up film) to a gateway with acknowledge =
   "after_relay" whose target is a running dcmprscp, against the same films straight to that dcmprscp:
   N-ACTION latency, medians and ratio.

Not timed: server start-up, source images, warm-up films. The relay's own retry_seconds = 5 is why a target
that comes back waits for the next try (up to 20 s after a long outage). Exit 1 if a film was lost,
duplicated or refused by the gateway. Takes ~4 minutes with the defaults, ~1.5 with --quick. From the
repository root:

    .venv/bin/python benchmarks/relay.py [--outage 60] [--films 10] [--modalities 8] [--films-each 3]
        [--latency-films 5] [--scenarios outage,kill,slow,after_relay] [--quick] [--keep] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from servers import (
    DCMPRSCP_AE,
    FILM_SIZE,
    REPO,
    Server,
    dcmprscp_server,
    dcmtk_version,
    free_port,
    phantom,
    printscp_server,
)

sys.path.insert(0, str(REPO / "tests"))

from printscu import META, PrintSCU  # noqa: E402  (the pynetdicom print SCU of the tests)
from pynetdicom import evt  # noqa: E402
from pynetdicom.events import Event  # noqa: E402

from printscp import uids  # noqa: E402
from printscp.archive.store import JOB_MANIFESTS  # noqa: E402
from printscp.relay.queue import DONE, read_relays  # noqa: E402

SIZE = 512
FORMAT = "STANDARD\\2,2"
IMAGES = 4
MARK = 4001  # first pixel of every image: then its film number and image box position
SLOW_AE = "SLOWFILM"  # the slow target printscp's AE title (its [nodes] key in the gateway)
SLOW_DELAY = 2.0  # seconds the slow target holds each Film Box N-ACTION
POLL = 2.0  # seconds between two rounds of Print Job N-GETs while the target is down
TARGET_SECONDS = 30.0  # issue 20: every film at the target within 30 s after it returns
ARRIVAL_TIMEOUT = 120.0  # seconds to wait for the films at a target before giving up on them
ORPHAN_WAIT = 5.0  # seconds the gateway's render workers get to end by themselves after its kill -9
SETTLE = 2.0  # seconds to wait once every film is there, to catch one that comes twice
STORED_PRINT = "1.2.840.10008.5.1.1.27"  # dcmprscp's retired Stored Print Storage, one per N-ACTION
HARDCOPY_GRAYSCALE = "1.2.840.10008.5.1.1.29"  # and a Hardcopy Grayscale Image per Image Box N-SET
EXECUTION_STATUS, EXECUTION_STATUS_INFO = 0x21000020, 0x21000030
PRINT_JOB_EVENTS = {1: "PENDING", 2: "PRINTING", 3: "DONE", 4: "FAILURE"}  # PS3.4 H.4.4.1.2


# --- configs ---------------------------------------------------------------------------------------------------


def bundled() -> str:
    """The bundled config.toml with the web console off (two servers would want the same port)."""
    text = (REPO / "config.toml").read_text()
    return re.sub(r"(\n\[web\][^\n]*\nenabled = )true", r"\1false", text, count=1)


def gateway_config(folder: Path, target: str, port: int, acknowledge: str = "on_spool") -> Path:
    """The bundled config whose [printer] relays to the DICOM print SCP `target` at 127.0.0.1:`port`."""
    text = bundled().replace("\n[printer]\n", f'\n[printer]\nrelay_to = ["{target}"]\n', 1)
    text = re.sub(r'\nacknowledge = "on_spool"', f'\nacknowledge = "{acknowledge}"', text, count=1)
    text += f'\n[nodes.{target}]\nhost = "127.0.0.1"\nport = {port}\n'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gateway.toml").write_text(text)
    return folder / "gateway.toml"


def slow_target_config(folder: Path) -> Path:
    """The bundled config, called SLOW_AE, answering every Film Box N-ACTION SLOW_DELAY s late."""
    text = re.sub(r'\nae_title = "PRINTSCP"', f'\nae_title = "{SLOW_AE}"', bundled(), count=1)
    text += f'\n[[faults.plan]]\non = "N-ACTION"\nsop_class = "FilmBox"\ndelay = {SLOW_DELAY}\ncount = 0\n'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slow-target.toml").write_text(text)
    return folder / "slow-target.toml"


# --- the modality ----------------------------------------------------------------------------------------------


def film_images(base: np.ndarray, number: int) -> list[np.ndarray]:
    """The four images of film `number`: the phantom, its first pixels marking film and image box."""
    images = []
    for position in range(1, IMAGES + 1):
        image = base.copy()
        image[0, :3] = (MARK, number, position)
        images.append(image)
    return images


@dataclass
class Film:
    number: int
    label: str
    status: int | None = None  # the N-ACTION's, None: not reached
    comment: str = ""  # its Error Comment, or what failed before it
    seconds: float = float("nan")  # N-ACTION request to response
    job: str = ""  # the Print Job UID it answered

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and (self.status == 0 or self.status & 0xF000 == 0xB000)

    def refusal(self) -> str:
        return f"N-ACTION 0x{self.status:04X} {self.comment}".strip() if self.status is not None else self.comment


class Modality:
    """One association to a print SCP, negotiating Print Job; counts the Print Job event reports it gets."""

    def __init__(self, port: int, called: str, calling: str = "MODALITY") -> None:
        self.events: Counter[str] = Counter()
        handlers = [(evt.EVT_N_EVENT_REPORT, self._event)]
        self.scu = PrintSCU(("127.0.0.1", port), (META, uids.PRINT_JOB), calling, called, handlers=handlers)

    def _event(self, event: Event) -> tuple[int, None]:
        request: Any = event.request
        if str(request.AffectedSOPClassUID) == uids.PRINT_JOB:
            self.events[PRINT_JOB_EVENTS.get(int(request.EventTypeID), str(request.EventTypeID))] += 1
        return 0, None

    def print_film(self, number: int, label: str, images: list[np.ndarray]) -> Film:
        """Film Session, Film Box, four Image Box N-SETs, N-ACTION (timed), N-DELETE of the session."""
        film = Film(number, label)
        scu = self.scu
        try:
            session = scu.film_session(FilmSessionLabel=label)
            box, boxes, _ = scu.film_box(session, FORMAT, FilmSizeID=FILM_SIZE)
            for position, (uid, pixels) in enumerate(zip(boxes, images, strict=True), 1):
                status = scu.set_image(uid, position, pixels).status
                if status != 0 and status & 0xF000 != 0xB000:
                    film.comment = f"Image Box N-SET 0x{status:04X}"
                    return film
            started = time.perf_counter()
            action = scu.n_action(uids.BASIC_FILM_BOX, box)
            film.seconds = time.perf_counter() - started
            film.status, film.comment = action.status, action.comment
            if action.dataset is not None and 0x21000500 in action.dataset:  # Referenced Print Job Sequence
                film.job = str(action.dataset[0x21000500].value[0].ReferencedSOPInstanceUID)
            scu.n_delete(uids.BASIC_FILM_SESSION, session)
        except Exception as error:  # a refused request (PrintSCU asserts), an aborted association
            film.comment = film.comment or f"{type(error).__name__}: {error}"
        return film

    def job_status(self, job: str) -> str:
        """'PENDING PRINTER DOWN', 'DONE NORMAL'... as the Print Job's N-GET says; the status if it failed."""
        try:
            got = self.scu.n_get(uids.PRINT_JOB, job, [EXECUTION_STATUS, EXECUTION_STATUS_INFO])
        except Exception:  # no response: the association is gone
            return "no answer"
        if got.status != 0 or got.dataset is None:
            return f"N-GET 0x{got.status:04X}"
        return f"{got.dataset.get('ExecutionStatus', '?')} {got.dataset.get('ExecutionStatusInfo', '')}".strip()

    def job_statuses(self, films: Sequence[Film]) -> Counter[str]:
        return Counter(self.job_status(film.job) for film in films if film.job)

    def release(self) -> None:
        if self.scu.assoc.is_established:
            self.scu.assoc.release()


# --- what the servers hold ---------------------------------------------------------------------------------------


def stored_prints(database: Path) -> list[Path]:
    """dcmprscp's Stored Print files (SP_*.dcm), one per N-ACTION it answered."""
    return sorted(database.glob("SP_*.dcm"))


def stored_films(database: Path) -> tuple[int, Counter[int]]:
    """(Stored Prints, how many times each film's first image box is among dcmprscp's Hardcopy images)."""
    films: Counter[int] = Counter()
    prints = 0
    for path in sorted(database.glob("*.dcm")):
        ds = dcmread(path)
        if ds.SOPClassUID == STORED_PRINT:
            prints += 1
        elif ds.SOPClassUID == HARDCOPY_GRAYSCALE:
            first = ds.pixel_array[0, :3]
            if int(first[0]) == MARK and int(first[2]) == 1:
                films[int(first[1])] += 1
    return prints, films


def relay_states(archive: Path) -> Counter[str]:
    return Counter(target.state for relay in read_relays(archive) for target in relay.targets.values())


def relay_attempts(archive: Path) -> int:
    return sum(target.attempts for relay in read_relays(archive) for target in relay.targets.values())


def relayed_lines(log: Path, target: str) -> list[str]:
    """The gateway's log lines of relays that reached `target` ("print job X relayed to TARGET (attempt n,
    association id)")."""
    return [line for line in log.read_text(errors="replace").splitlines() if f" relayed to {target} " in line]


def failure_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if "relay to" in line and "fail" in line]


def warnings(log: Path) -> Counter[str]:
    """dcmprscp's warnings and errors (not --verbose: it logs no N-ACTION), by text."""
    lines = log.read_text(errors="replace").splitlines()
    return Counter(
        line for line in lines if line.startswith(("W: ", "E: ")) and not re.match(r"W: (\$dcmtk|\d{4}-|started)", line)
    )


def labels(archive: Path) -> Counter[str]:
    """Film Session Labels of the print jobs in a printscp archive, with how many jobs each has."""
    found: Counter[str] = Counter()
    for path in archive.glob(JOB_MANIFESTS):
        found[json.loads(path.read_text())["film_session"]["film_session_label"]] += 1
    return found


def wait_for(condition: Callable[[], bool], timeout: float, tick: Callable[[], None] | None = None) -> float | None:
    """Seconds until `condition()` held (None: not within `timeout`); `tick` runs every POLL / 2 s meanwhile."""
    started = time.monotonic()
    ticked = started
    while not condition():
        now = time.monotonic()
        if now - started > timeout:
            return None
        if tick is not None and now - ticked >= POLL / 2:
            tick()
            ticked = now
        time.sleep(0.05)
    return time.monotonic() - started


def percentile(values: Sequence[float], q: float) -> float:
    values = [v for v in values if v == v]
    return float(np.percentile(values, q)) if values else float("nan")


def seconds(value: float | None, digits: int = 1) -> str:
    return f"{value:.{digits}f} s" if value is not None and value == value else "-"


def counted(counter: Counter[str]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counter.most_common()) or "none"


# --- 1 and 2: the target down ------------------------------------------------------------------------------------


@dataclass
class Outage:
    kill: bool
    films: list[Film] = field(default_factory=list)
    during: Counter[str] = field(default_factory=Counter)  # Print Job N-GETs, last round before the target starts
    before_kill: Counter[str] = field(default_factory=Counter)  # kill -9: the last round before it
    ever_done: int = 0  # N-GETs that said DONE while the target was down
    after: Counter[str] = field(default_factory=Counter)  # Print Job N-GETs once every film was at the target
    events: Counter[str] = field(default_factory=Counter)
    outage: float = 0.0  # first film to dcmprscp's start, seconds
    stored_after: float | None = None  # dcmprscp's start to the newest Stored Print of the last film
    done_after: float | None = None  # dcmprscp's start until every relay.json said DONE
    jobs_done_after: float | None = None  # dcmprscp's start until every Print Job N-GET said DONE
    stored: int = 0  # Stored Prints at dcmprscp
    per_film: Counter[int] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    relayed_lines: list[str] = field(default_factory=list)
    failure_lines: int = 0
    target_log: Counter[str] = field(default_factory=Counter)  # dcmprscp's log lines (it logs only warnings)
    restart: dict[str, Any] = field(default_factory=dict)  # kill -9: what was left, what came back
    notes: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Film]:
        return [film for film in self.films if film.acknowledged]

    @property
    def duplicates(self) -> int:
        """Films stored more than once: more Stored Prints than films, or a film's images more than once."""
        doubled = sum(count - 1 for count in self.per_film.values() if count > 1)
        return max(doubled, self.stored - len(self.acknowledged))

    @property
    def lost(self) -> int:
        """Films not stored: fewer Stored Prints than films, or a film whose images are not there."""
        missing = sum(1 for film in self.acknowledged if self.per_film[film.number] == 0)
        return max(missing, len(self.acknowledged) - self.stored)

    @property
    def exactly_once(self) -> bool:
        expected = len(self.acknowledged)
        return self.stored == expected and all(self.per_film[film.number] == 1 for film in self.acknowledged)


def kill_gateway(gateway: Server) -> list[str]:
    """SIGKILL the gateway. Its descendants (render workers) still alive ORPHAN_WAIT s later are killed too, and
    returned as "pid command line"."""
    workers = gateway.memory.descendants()
    gateway.process.send_signal(signal.SIGKILL)
    gateway.process.wait(10)
    deadline = time.monotonic() + ORPHAN_WAIT
    while (left := [pid for pid in workers if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    named = []
    for pid in left:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):  # it ended just now
            continue
        named.append(f"{pid} {command.strip()[:150]}")
    return named


def outage_run(folder: Path, films: int, outage: float, base: np.ndarray, kill: bool) -> Outage:
    result = Outage(kill)
    port = free_port()  # dcmprscp's, once it runs
    config = gateway_config(folder, DCMPRSCP_AE, port)
    with printscp_server(folder / "gateway", config=config) as gateway:
        modality = Modality(gateway.port, "PRINTSCP")
        first = time.monotonic()
        for number in range(1, films + 1):
            result.films.append(modality.print_film(number, f"OUTAGE {number}", film_images(base, number)))
        if not kill:
            target_returns(folder, result, gateway, modality, port, first, outage)
            return result
        poll_until(result, modality, first, outage / 2)
        result.before_kill = result.during
        result.restart["relays_on_disk"] = len(read_relays(gateway.folder))
        result.restart["killed_at"] = time.monotonic() - first
        result.restart["orphans"] = kill_gateway(gateway)
        result.events += modality.events
        modality.scu.assoc.abort()
        assert gateway.log is not None
        gateway.log.rename(gateway.log.with_name("printscp-killed.log"))
    with printscp_server(folder / "gateway", config=config) as gateway:  # the same archive
        result.restart["relays_read"] = len(read_relays(gateway.folder))
        result.restart["restarted_at"] = time.monotonic() - first
        modality = Modality(gateway.port, "PRINTSCP")  # a new association: the old one died with the gateway
        result.restart["n_get"] = modality.job_statuses(result.acknowledged)
        modality.release()
        target_returns(folder, result, gateway, None, port, first, outage)
    return result


def poll_until(result: Outage, modality: Modality, first: float, until: float) -> None:
    """Read every Print Job with N-GET each POLL s until `until` s after the first film, and once more."""
    while True:
        statuses = modality.job_statuses(result.acknowledged)
        result.during = statuses
        result.ever_done += sum(count for status, count in statuses.items() if status.startswith("DONE"))
        left = until - (time.monotonic() - first)
        if left <= 0:
            return
        time.sleep(min(POLL, left))


def target_returns(
    folder: Path, result: Outage, gateway: Server, modality: Modality | None, port: int, first: float, outage: float
) -> None:
    """Once the outage has lasted `outage` s since the first film, start dcmprscp and time the films' arrival.
    `modality`: the association that printed, which reads its Print Jobs meanwhile; None (after a kill -9):
    a new association reads them once, at the end."""
    if modality is not None:
        poll_until(result, modality, first, outage)
    else:
        time.sleep(max(0.0, outage - (time.monotonic() - first)))
    acknowledged = result.acknowledged
    expected = len(acknowledged)
    result.outage = time.monotonic() - first
    started, started_wall = time.monotonic(), time.time()
    with dcmprscp_server(folder / "target", port=port) as target:

        def keep_alive() -> None:  # N-GETs keep the association from going idle (server and SCU time-outs)
            if modality is not None:
                modality.job_statuses(acknowledged)

        if wait_for(lambda: len(stored_prints(target.folder)) >= expected, ARRIVAL_TIMEOUT, keep_alive) is not None:
            mtimes = sorted(path.stat().st_mtime for path in stored_prints(target.folder))
            result.stored_after = mtimes[expected - 1] - started_wall if expected else 0.0
        if wait_for(lambda: relay_states(gateway.folder)[DONE] >= expected, ARRIVAL_TIMEOUT, keep_alive) is not None:
            result.done_after = time.monotonic() - started

        def all_done() -> bool:
            assert modality is not None
            return sum(n for s, n in modality.job_statuses(acknowledged).items() if s.startswith("DONE")) == expected

        if modality is not None and wait_for(all_done, ARRIVAL_TIMEOUT) is not None:
            result.jobs_done_after = time.monotonic() - started
        time.sleep(SETTLE)
        modality = modality or Modality(gateway.port, "PRINTSCP")
        result.after = modality.job_statuses(acknowledged)
        result.events += modality.events
        modality.release()
        result.stored, result.per_film = stored_films(target.folder)
        assert target.log is not None
        result.target_log = warnings(target.log)
    result.states = relay_states(gateway.folder)
    result.attempts = relay_attempts(gateway.folder)
    assert gateway.log is not None
    logs = [gateway.log.with_name("printscp-killed.log"), gateway.log]
    for log in logs:
        if log.exists():
            result.relayed_lines += relayed_lines(log, DCMPRSCP_AE)
            result.failure_lines += len(failure_lines(log))


# --- 3: a slow target, modalities at once ------------------------------------------------------------------------


@dataclass
class Crowd:
    server: str
    films: list[Film]
    wall: float  # first association request to last release
    delivered: float | None = None  # gateway: first association request until every relay was DONE
    delivered_after_last: float | None = None  # ... after the last modality's release
    target_labels: Counter[str] = field(default_factory=Counter)  # gateway: the slow target's archive
    expected_at_target: int = 0

    @property
    def acknowledged(self) -> list[Film]:
        return [film for film in self.films if film.acknowledged]

    @property
    def refused(self) -> list[Film]:
        return [film for film in self.films if not film.acknowledged]

    @property
    def rate(self) -> float:
        return len(self.acknowledged) / self.wall if self.wall > 0 else float("nan")

    def refusals(self) -> str:
        return counted(Counter(film.refusal() for film in self.refused))


def crowd(
    port: int, called: str, modalities: int, films_each: int, base: np.ndarray
) -> tuple[list[Film], float, float]:
    """`modalities` threads released at once, each one association printing `films_each` films (after one
    warm-up film); returns every film, when they were released and when the last association ended."""
    warm_up = Modality(port, called, "WARMUP")
    warm_up.print_film(0, "WARMUP", film_images(base, 0))
    warm_up.release()
    numbers = [[100 * (m + 1) + k + 1 for k in range(films_each)] for m in range(modalities)]
    images = {number: film_images(base, number) for row in numbers for number in row}
    barrier = threading.Barrier(modalities + 1)
    results: list[list[Film]] = [[] for _ in range(modalities)]
    ended = [0.0] * modalities

    def work(index: int) -> None:
        barrier.wait()
        try:
            modality = Modality(port, called, f"MODALITY{index + 1}")
        except Exception as error:  # refused, or no answer within the ACSE timeout
            results[index] = [Film(n, f"M{index + 1}", comment=f"association: {error}") for n in numbers[index]]
            ended[index] = time.monotonic()
            return
        try:
            for k, number in enumerate(numbers[index]):
                results[index].append(modality.print_film(number, f"M{index + 1} F{k + 1}", images[number]))
        finally:
            modality.release()
            ended[index] = time.monotonic()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(modalities)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return [film for row in results for film in row], started, max(ended)


def slow_target_run(folder: Path, modalities: int, films_each: int, base: np.ndarray) -> Crowd:
    with printscp_server(folder / "slow-target", config=slow_target_config(folder)) as target:
        config = gateway_config(folder, SLOW_AE, target.port)
        with printscp_server(folder / "gateway", config=config) as gateway:
            films, started, ended = crowd(gateway.port, "PRINTSCP", modalities, films_each, base)
            run = Crowd("gateway", films, ended - started)
            run.expected_at_target = len(run.acknowledged) + 1  # and the warm-up film
            timeout = ARRIVAL_TIMEOUT + 3 * SLOW_DELAY * run.expected_at_target
            if wait_for(lambda: relay_states(gateway.folder)[DONE] >= run.expected_at_target, timeout) is not None:
                run.delivered = time.monotonic() - started
                run.delivered_after_last = run.delivered - run.wall
            wait_for(lambda: sum(labels(target.folder).values()) >= run.expected_at_target, ARRIVAL_TIMEOUT)
            time.sleep(SETTLE)
            run.target_labels = labels(target.folder)
    return run


def direct_run(folder: Path, modalities: int, films_each: int, base: np.ndarray) -> Crowd:
    with dcmprscp_server(folder / "dcmprscp") as target:
        films, started, ended = crowd(target.port, DCMPRSCP_AE, modalities, films_each, base)
        run = Crowd("dcmprscp", films, ended - started)
        run.expected_at_target = len(run.acknowledged) + 1
        stored, _ = stored_films(target.folder)
        run.target_labels = Counter({"Stored Prints": stored})
    return run


# --- 4: after_relay ----------------------------------------------------------------------------------------------


@dataclass
class AfterRelay:
    via: list[Film]  # through the gateway, acknowledge = after_relay
    direct: list[Film]  # straight to dcmprscp
    stored: int = 0  # Stored Prints at dcmprscp, warm-up films included

    @property
    def ratio(self) -> float:
        direct = statistics.median(film.seconds for film in self.direct)
        return statistics.median(film.seconds for film in self.via) / direct if direct else float("nan")


def after_relay_run(folder: Path, films: int, base: np.ndarray) -> AfterRelay:
    def print_films(port: int, called: str) -> list[Film]:
        modality = Modality(port, called)
        modality.print_film(0, "WARMUP", film_images(base, 0))
        printed = [modality.print_film(n, f"LATENCY {n}", film_images(base, n)) for n in range(1, films + 1)]
        modality.release()
        return printed

    with dcmprscp_server(folder / "dcmprscp") as target:
        config = gateway_config(folder, DCMPRSCP_AE, target.port, "after_relay")
        with printscp_server(folder / "gateway", config=config) as gateway:
            via = print_films(gateway.port, "PRINTSCP")
        direct = print_films(target.port, DCMPRSCP_AE)
        return AfterRelay(via, direct, len(stored_prints(target.folder)))


# --- report ------------------------------------------------------------------------------------------------------


@contextmanager
def section(title: str) -> Iterator[list[tuple[str, str, str]]]:
    """Rows (what, measured, issue 20's target) of one scenario, printed when the block ends."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    print(f"\n{title}")
    for what, measured, target in rows:
        print(f"  {what:<54} {measured:<40} {target}".rstrip())
    sys.stdout.flush()


def verdict(met: bool, target: str) -> str:
    return f"{target:<14} {'met' if met else 'MISSED'}"


def outage_rows(rows: list[tuple[str, str, str]], run: Outage, outage: float) -> None:
    acknowledged = run.acknowledged
    latencies = [film.seconds for film in acknowledged]
    expected = len(acknowledged)
    rows.append(("films acknowledged (N-ACTION success)", f"{expected} of {len(run.films)}", ""))
    rows += [(f"  refused: film {f.number}", f.refusal(), "") for f in run.films if not f.acknowledged]
    rows.append(
        ("N-ACTION latency p50 / p95", f"{percentile(latencies, 50):.3f} / {percentile(latencies, 95):.3f} s", "")
    )
    if run.kill:
        restart = run.restart
        orphans = restart["orphans"]
        rows.append(("kill -9 of the gateway", f"{restart['killed_at']:.1f} s after the first film", ""))
        rows.append(
            (
                "  relays on disk before / read at the restart",
                f"{restart['relays_on_disk']} / {restart['relays_read']}",
                "",
            )
        )
        rows.append((f"  its processes still running {ORPHAN_WAIT:.0f} s after it (killed)", str(len(orphans)), ""))
        rows += [("", orphan, "") for orphan in orphans]
        rows.append(("  Print Job N-GET after the restart", counted(restart["n_get"]), ""))
    if run.kill:  # the association that printed died with the gateway: its Print Jobs, read before the kill
        pending = sum(n for status, n in run.before_kill.items() if status.startswith("PENDING"))
        rows.append(
            ("Print Job N-GET before the kill", counted(run.before_kill), verdict(pending == expected, "PENDING"))
        )
    else:
        pending = sum(n for status, n in run.during.items() if status.startswith("PENDING"))
        met = pending == expected and run.ever_done == 0
        rows.append(("Print Job N-GET at the end of the outage", counted(run.during), verdict(met, "PENDING")))
    rows.append(("dcmprscp started after (first film to its start)", seconds(run.outage), f"{outage:.0f} s"))
    rows.append(
        (
            "its start -> every film stored there",
            seconds(run.stored_after),
            verdict(run.stored_after is not None and run.stored_after <= TARGET_SECONDS, f"<= {TARGET_SECONDS:.0f} s"),
        )
    )
    rows.append(("its start -> every relay.json DONE", seconds(run.done_after), ""))
    if not run.kill:
        rows.append(("its start -> every Print Job N-GET DONE", seconds(run.jobs_done_after), ""))
    stored = f"{run.stored} / {run.duplicates} / {run.lost}"
    rows.append(("stored at dcmprscp / duplicates / lost", stored, verdict(run.exactly_once, "exactly once")))
    per_film = Counter(run.per_film[film.number] for film in acknowledged)
    copies = counted(Counter({f"{k} cop{'y' if k == 1 else 'ies'}": n for k, n in per_film.items()}))
    rows.append(("  films by copies among its Hardcopy images", copies, ""))
    done = sum(n for status, n in run.after.items() if status.startswith("DONE"))
    if run.kill:
        rows.append(("Print Job N-GET after (new association)", counted(run.after), ""))
    else:
        rows.append(("Print Job N-GET after", counted(run.after), verdict(done == expected, "DONE")))
    rows.append(("relay.json states", counted(run.states), ""))
    rows.append(("relay attempts (relay.json)", str(run.attempts), ""))
    rows.append(
        ('gateway log: "relayed to" / "relay ... failed" lines', f"{len(run.relayed_lines)} / {run.failure_lines}", "")
    )
    rows.append(("Print Job N-EVENT-REPORTs the modality got", counted(run.events), ""))
    rows += [(f"dcmprscp log x{count}", line, "") for line, count in run.target_log.most_common()]


def crowd_rows(rows: list[tuple[str, str, str]], gateway: Crowd, direct: Crowd, modalities: int) -> None:
    for run in (gateway, direct):
        latencies = [film.seconds for film in run.acknowledged]
        name = "printscp gateway" if run.server == "gateway" else "dcmprscp (DCMTK) directly"
        rows.append(
            (
                f"{name}: acknowledged / refused",
                f"{len(run.acknowledged)} / {len(run.refused)}",
                verdict(not run.refused, "0 refused") if run.server == "gateway" else "",
            )
        )
        if run.refused:
            rows.append(("  refusals", run.refusals(), ""))
        rows.append(("  acknowledgements/s (wall)", f"{run.rate:.2f} ({run.wall:.1f} s)", ""))
        rows.append(
            ("  N-ACTION latency p50 / p95", f"{percentile(latencies, 50):.3f} / {percentile(latencies, 95):.3f} s", "")
        )
    ratio = gateway.rate / direct.rate if direct.rate else float("nan")
    rows.append(("acknowledgements/s ratio gateway / dcmprscp", f"{ratio:.2f}", ""))
    rows.append(
        (
            "first association -> every relay at the slow target",
            f"{seconds(gateway.delivered)} ({seconds(gateway.delivered_after_last)} after the last release)",
            f">= {gateway.expected_at_target * SLOW_DELAY:.0f} s of delays",
        )
    )
    once = all(count == 1 for count in gateway.target_labels.values())
    rows.append(
        (
            "slow target's archive: films / doubled",
            f"{sum(gateway.target_labels.values())} of {gateway.expected_at_target} / "
            f"{sum(1 for count in gateway.target_labels.values() if count > 1)}",
            verdict(once and sum(gateway.target_labels.values()) == gateway.expected_at_target, "exactly once"),
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the target is down (60)")
    parser.add_argument("--films", type=int, default=10, help="films printed during the outage (10)")
    parser.add_argument("--modalities", type=int, default=8, help="modalities at once against the slow target (8)")
    parser.add_argument("--films-each", type=int, default=3, help="films each of those prints (3)")
    parser.add_argument("--latency-films", type=int, default=5, help="films timed with after_relay (5)")
    parser.add_argument("--scenarios", default="outage,kill,slow,after_relay", help="which, comma-separated (all four)")
    parser.add_argument(
        "--quick", action="store_true", help="a fast check: --outage 10 --films 4 --films-each 2 --latency-films 2"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archives, logs)")
    parser.add_argument("--note", default="", help="a line for the header, e.g. what else ran on the machine")
    args = parser.parse_args()
    if args.quick:
        args.outage, args.films, args.films_each, args.latency_films = 10.0, 4, 2, 2
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(scenarios) - {"outage", "kill", "slow", "after_relay"}
    if unknown or not scenarios:
        parser.error(f"--scenarios: {', '.join(sorted(unknown)) or 'none'}; choose from outage,kill,slow,after_relay")
    if min(args.films, args.modalities, args.films_each, args.latency_films) < 1 or args.outage < 0:
        parser.error("the numbers of films and modalities must be at least 1, --outage at least 0")

    workdir = Path(tempfile.mkdtemp(prefix="printscp-relay-"))
    print(
        f"printscp as a print gateway (issue 20): {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"DCMTK {dcmtk_version()}, {platform.system()} {platform.release()}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start"
    )
    if args.note:
        print(f"note: {args.note}")
    print(
        f"every film: {FORMAT}, {FILM_SIZE}, {IMAGES} x {SIZE}x{SIZE} 12-bit, from a pynetdicom print SCU; the "
        "gateway: `printscp serve`, bundled config.toml + relay_to, [relay] retry_seconds = 5 (backoff to 20 s)"
    )
    base = phantom(SIZE)
    failed = False
    try:
        for name in scenarios:
            folder = workdir / name
            if name in ("outage", "kill"):
                kill = name == "kill"
                title = (
                    f"{'2' if kill else '1'}. target (dcmprscp) down {args.outage:.0f} s, {args.films} films on one "
                    f"association, acknowledge = on_spool{', kill -9 of the gateway half-way' if kill else ''}"
                )
                with section(title) as rows:
                    run = outage_run(folder, args.films, args.outage, base, kill)
                    outage_rows(rows, run, args.outage)
                failed |= not run.exactly_once or len(run.acknowledged) < len(run.films)
            elif name == "slow":
                title = (
                    f"3. slow target (printscp, Film Box N-ACTION answered {SLOW_DELAY:.0f} s late), "
                    f"{args.modalities} modalities at once x {args.films_each} films, one association each; "
                    "against the same straight to dcmprscp"
                )
                with section(title) as rows:
                    gateway = slow_target_run(folder, args.modalities, args.films_each, base)
                    direct = direct_run(folder, args.modalities, args.films_each, base)
                    crowd_rows(rows, gateway, direct, args.modalities)
                labels_ok = sum(gateway.target_labels.values()) == gateway.expected_at_target and all(
                    count == 1 for count in gateway.target_labels.values()
                )
                failed |= bool(gateway.refused) or not labels_ok
            else:
                title = (
                    f"4. acknowledge = after_relay to a running dcmprscp: {args.latency_films} single films on "
                    "one association after a warm-up film, against the same straight to dcmprscp"
                )
                with section(title) as rows:
                    result = after_relay_run(folder, args.latency_films, base)
                    timed = (("via the gateway (after_relay)", result.via), ("straight to dcmprscp", result.direct))
                    for label, films in timed:
                        times = " ".join(f"{film.seconds:.3f}" for film in films)
                        refused = sum(not film.acknowledged for film in films)
                        median = statistics.median(film.seconds for film in films)
                        rows.append(
                            (
                                f"N-ACTION latency {label}",
                                f"median {median:.3f} s ({times})",
                                f"{refused} refused" if refused else "",
                            )
                        )
                    rows.append(("ratio gateway / dcmprscp (medians)", f"{result.ratio:.2f}", ""))
                    expected = 2 * (args.latency_films + 1)
                    rows.append(("Stored Prints at dcmprscp", f"{result.stored} of {expected}", ""))
                failed |= any(not film.acknowledged for film in result.via)
    finally:
        if args.keep:
            print(f"\nfiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        print("a film was refused by the gateway, lost, or delivered twice (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
