"""Print jobs: an acknowledged request is spooled durably, then printed by render worker processes.

N-ACTION calls `PrintQueue.submit`, which writes the job to the spool (see spool.py), reports it PENDING
and returns its Print Job SOP Instance UID; the SCU is answered at once. Up to queue.size jobs may wait;
beyond, or when the spool's disk is full, N-ACTION gets C601 / C602 (print queue full).

A dispatcher thread hands jobs to `render.workers` worker processes (printing.py: a worker reads the job
from the spool, renders its films and writes them into the archive), best Print Priority first (HIGH, MED,
LOW; first come first within one), and never two jobs of one Film Session at once, so a session's films
print in the order they were asked for. When a worker is done, the server indexes the job, removes it from
the spool and reports it DONE. Each change of a job's Execution Status (PENDING, PRINTING, DONE, FAILURE;
PS3.3 C.13.8) is sent as a Print Job N-EVENT-REPORT to the association that made the job, in the order
the changes happen (PS3.4 H.4.4): the change and the event are queued under one lock.

One queue and one pool of workers serve every printer of the server; each job prints on the printer its
association's Called AE Title selected, with that printer's profile. While a printer is in FAILURE, its jobs
wait as PENDING (queue.on_printer_failure = WAIT) or fail (FAIL); other printers' jobs go on. The scripted
faults of each printer ([faults], [printers.AE.faults]) make its jobs fail, print slowly, or run it out of
film, for testing how an SCU copes.

On start, the jobs left in the spool by a previous process are printed; one whose films already
reached the archive is only removed from the spool, never printed twice. A worker process that dies
(killed, out of memory) takes no job with it: its job is still spooled and is tried again, up to
CRASH_ATTEMPTS times.

A full or read-only disk is not the job's fault. An N-ACTION whose job cannot be spooled is answered with a
failure (C601 / C602 when the disk is full, 0110 Processing failure otherwise, the reason in the Error
Comment) and nothing is acknowledged; the SCU may send the N-ACTION again. A job already acknowledged whose
films cannot be written into the archive stays in the spool, PENDING with INSUFFIC MEMORY (PRINTER DOWN for
a read-only or forbidden archive), and printing is tried again every STORAGE_RETRY seconds until space
returns: it is never set aside in failed/ for lack of space.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import logging.handlers
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from pydicom.uid import generate_uid

from printscp.archive.store import FilmArchive, StoredJob
from printscp.config import Config
from printscp.errors import PrintError, QueueFull
from printscp.events import Notify, print_job_event
from printscp.identity.sources import IdentitySettings
from printscp.model.enums import PRINTER_STATUS_INFO_TERMS, ExecutionStatus, PrinterStatus, PrintPriority
from printscp.model.printer import Printer, PrinterState
from printscp.model.record import Image, PrintRequest
from printscp.printing import PrintTask, print_spooled, start_worker
from printscp.relay import Delivery
from printscp.relay.queue import DONE, FAILED, PENDING, PRINTING, Relay, RelayQueue
from printscp.spool import Spool, SpooledJob
from printscp.status import Status

log = logging.getLogger(__name__)

_PRIORITY_RANK = {PrintPriority.HIGH: 0, PrintPriority.MED: 1, PrintPriority.LOW: 2}
STORAGE_RETRY = 2.0  # seconds between attempts to archive a job while the disk is full or read-only
CRASH_ATTEMPTS = 3  # a job whose worker process died this often fails (it may be what kills them)
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(exc: BaseException) -> TypeGuard[OSError]:
    """Whether `exc` is the disk's fault (full, read-only, forbidden), not the job's: worth trying again."""
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE | _NOT_WRITABLE


@dataclass
class PrintJob:
    """A Print Job SOP Instance (PS3.4 H.4.4, PS3.3 C.13.8): what N-GET and the events report."""

    sop_instance_uid: str
    print_priority: PrintPriority
    creation: datetime
    originator: str  # AE title of the SCU that asked for the print
    printer: str  # AE title of the printer that prints it
    film_session_label: str
    films: int  # sheets to print, copies included
    execution_status: ExecutionStatus = ExecutionStatus.PENDING
    execution_status_info: str = "QUEUED"
    finished_at: float | None = None  # time.monotonic() when DONE or FAILURE
    notify: Notify | None = field(default=None, repr=False)  # events go to the association that made it
    stored: StoredJob | None = None
    # for the dispatcher
    sequence: int = field(default=0, repr=False)  # order of acknowledgement
    film_session_uid: str = field(default="", repr=False)
    folder: Path = field(default=Path(), repr=False)  # in the spool
    attempts: int = field(default=0, repr=False)  # worker processes that died printing it
    render_seconds: float | None = None  # from being handed to a render worker to its films in the archive


def render_workers(config: Config) -> int:
    return config.render.workers or len(os.sched_getaffinity(0))


def render_pool(config: Config) -> Executor:
    """The render workers: processes forked from a clean server process that has the renderer imported.

    forkserver, not fork: the server has threads (a forked copy of a lock held by another thread
    never opens). Workers are started when the first job comes and live as long as the pool.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["printscp.printing"])
    workers = render_workers(config)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=start_worker,
        initargs=(os.getpid(), _worker_log(), logging.root.level, config.identity.ocr),
    )
    for _ in range(workers):  # start them now, not when the first film waits for them
        pool.submit(os.getpid)
    return pool


class _Relay(logging.Handler):
    """Hands a worker's log record to the server's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


_log_listener: logging.handlers.QueueListener | None = None
_log_queue: Any = None


def _worker_log() -> Any:
    """The queue through which every worker process logs (one per server process, started once)."""
    global _log_listener, _log_queue
    if _log_listener is None:
        _log_queue = multiprocessing.get_context("forkserver").Queue()
        _log_listener = logging.handlers.QueueListener(_log_queue, _Relay())
        _log_listener.start()
    return _log_queue


@dataclass
class _Supply:
    """A printer's scripted-fault counters."""

    jobs_started: int = 0  # jobs begun, for faults.fail_every
    films_taken: int = 0  # films of the jobs started since film was loaded, for faults.films_in_supply


@dataclass
class _Running:
    job: PrintJob
    future: Future[StoredJob] | None = None  # None while faults.print_delay holds it
    start_at: float = 0.0  # time.monotonic() to hand it to a worker
    pool: Executor | None = None  # the pool it runs in (a broken pool is replaced)
    handed_at: float = 0.0  # time.monotonic() when handed to a worker


class PrintQueue:
    def __init__(
        self,
        config: Config,
        printers: Mapping[str, Printer],
        archive: FilmArchive | None = None,
        on_stored: Callable[[StoredJob], None] | None = None,
        pool: Executor | None = None,
        relays: RelayQueue | None = None,
    ) -> None:
        """`printers`: the status of every printer of `config.all_printers`, by AE title; `relays`: where the
        jobs of printers with relay_to go as well (relay/queue.py)."""
        self.config = config
        self.printers = dict(printers)
        self._settings = config.all_printers
        self._supplies = {ae_title: _Supply() for ae_title in self._settings}
        self.archive = archive or FilmArchive(config.archive.folder, config.printer)
        self._on_stored = on_stored
        # the spool first: a folder that cannot hold it stops us before worker processes exist (a pool left
        # behind by a failed start made the interpreter's exit print tracebacks after the operator's one line)
        self.spool = self._open_spool()
        self._own_pool = pool is None
        self._pool = pool if pool is not None else render_pool(config)
        self._slots = render_workers(config)  # jobs handed to the pool at once: it never holds a backlog
        self._jobs: dict[str, PrintJob] = {}
        self._waiting: list[PrintJob] = []
        self._running: dict[str, _Running] = {}
        self._done: list[_Running] = []  # finished in a worker, to be completed by the dispatcher
        self._condition = threading.Condition()
        self._stopping = False
        self._arriving = 0  # N-ACTIONs being spooled: they have their place in the queue already
        self._storage_down = False  # the last attempt to archive failed for lack of space (or a read-only disk)
        self._storage_retry_at = 0.0  # time.monotonic() before which no job is started while storage is down
        self._observers: list[Callable[[PrintJob], None]] = []
        self._identity = IdentitySettings.of(config)
        self.relays = relays
        self._relay_trouble: dict[str, dict[str, str]] = {}  # printer -> target -> its Printer Status Info
        self._following = threading.Lock()  # a job's status follows its relay one change at a time
        if relays is not None:
            relays.observe(self._relay_changed)
        for job in self.spool.pending():  # acknowledged before a restart: print them now
            self._requeue(job)
        if self._waiting:
            log.info("%d print job(s) from the spool will be printed", len(self._waiting))
        self._listeners = {ae: functools.partial(self._printer_changed, ae) for ae in self.printers}
        for ae_title, printer in self.printers.items():
            printer.add_listener(self._listeners[ae_title])
        self._dispatcher = threading.Thread(target=self._run, name="print-dispatcher", daemon=True)
        self._dispatcher.start()

    def _open_spool(self) -> Spool:
        return Spool(self.config.archive.folder)

    def _requeue(self, spooled: SpooledJob) -> None:
        """A job acknowledged before a restart, still in the spool: print it now."""
        if self.relays is not None:  # killed between spooling and queueing its relay: queue it now
            self.relays.add(spooled)
        self._enqueue(spooled, None)

    # --- called from associations ------------------------------------------------------------------

    def prepare(self, image: Image) -> None:
        """An Image Box received an image: start writing it to the spool in the background."""
        self.spool.prepare(image)

    def submit(self, request: PrintRequest, notify: Notify | None = None) -> str:
        """Spool a print durably and queue it; returns the Print Job SOP Instance UID."""
        with self._condition:  # a place in the queue is taken before spooling, so racing N-ACTIONs cannot overfill
            if len(self._waiting) + self._arriving >= self.config.queue.size:
                raise QueueFull(f"the print queue is full ({self.config.queue.size} jobs); try again later")
            self._arriving += 1
        try:
            job_uid = generate_uid()
            try:
                spooled = self.spool.add(job_uid, request)  # durable from here on
            except OSError as exc:
                raise _not_spooled(exc) from None
            relay = self._add_relay(spooled)
            job = self._enqueue(spooled, notify)
        finally:
            with self._condition:
                self._arriving -= 1
        if relay is not None and relay.acknowledge == "after_relay":
            self._wait_for_relay(job_uid)
        log.info(
            "print job %s queued: %d film(s) from %s, priority %s",
            job_uid,
            job.films,
            request.calling_ae_title,
            request.print_priority.value,
        )
        return job_uid

    def _add_relay(self, spooled: SpooledJob) -> Relay | None:
        """Queue the job's relays, durably, before the N-ACTION is answered."""
        if self.relays is None:
            return None
        try:
            return self.relays.add(spooled)
        except OSError as exc:
            self.spool.remove(spooled.job_uid)
            raise _not_spooled(exc) from None

    def _wait_for_relay(self, job_uid: str) -> None:
        """relay.acknowledge = after_relay: the N-ACTION succeeds only once every target printed the films."""
        assert self.relays is not None
        timeout = self.config.relay.after_relay_timeout
        relay = self.relays.wait(job_uid, timeout)
        assert relay is not None
        for name, target in relay.targets.items():
            if target.state == DONE:
                continue
            if target.state == FAILED:
                code = target.last_status
                failure = code is not None and 0xA000 <= code <= 0xCFFF
                status = Status(code) if failure and code in _STATUSES else None
                # within LO's 64 characters whatever the target said (the log has it whole)
                why = f"0x{code:04X}" if code is not None else target.last_error.removeprefix(f"{name}: ")
                raise PrintError(f"relay to {name} failed: {why}"[:64], status=status or Status.PROCESSING_FAILURE)
            raise PrintError(f"relay: {name} did not print it in {timeout:g} s"[:64], status=Status.PROCESSING_FAILURE)

    def observe(self, observer: Callable[[PrintJob], None]) -> None:
        """Call `observer` with each job whose Execution Status changes (from the thread that changes it; it
        must not block, and must not raise)."""
        self._observers.append(observer)

    def jobs(self) -> list[PrintJob]:
        """Copies of every Print Job N-GET can read: queued, printing, finished less than keep_finished_jobs ago."""
        with self._condition:
            self._expire()
            return [dataclasses.replace(job, notify=None) for job in self._jobs.values()]

    def job(self, sop_instance_uid: str) -> PrintJob | None:
        """A Print Job for N-GET: queued, printing, or finished less than keep_finished_jobs ago."""
        with self._condition:
            self._expire()
            return self._jobs.get(sop_instance_uid)

    # --- state ---------------------------------------------------------------------------------------

    def _enqueue(self, spooled: SpooledJob, notify: Notify | None) -> PrintJob:
        """Add a spooled job; only what N-GET and the dispatcher need is kept, not its pixels."""
        job = self._print_job(spooled, notify)
        with self._condition:
            self._jobs[job.sop_instance_uid] = job
            # found-from-outside 1: PENDING is reported before any worker can see the job
            self._report(job)
            self._waiting.append(job)
            self._condition.notify_all()
            seen = dataclasses.replace(job, notify=None)
        for observer in self._observers:
            observer(seen)
        return job

    def _print_job(self, spooled: SpooledJob, notify: Notify | None) -> PrintJob:
        request = spooled.request
        printer = request.printer_ae_title
        if printer not in self._settings:  # spooled before a restart with another config.toml
            log.warning(
                "print job %s was for printer %s, which is no longer configured; printed by %s",
                spooled.job_uid,
                printer,
                self.config.network.ae_title,
            )
            printer = self.config.network.ae_title
        return PrintJob(
            spooled.job_uid,
            request.print_priority,
            request.requested_at,
            request.calling_ae_title,
            printer,
            request.film_session_label,
            len(request.collated_order),
            notify=notify,
            sequence=spooled.sequence,
            film_session_uid=request.films[0].film_session_uid if request.films else spooled.job_uid,
            folder=spooled.folder,
        )

    def _expire(self) -> None:
        keep = self.config.queue.keep_finished_jobs
        now = time.monotonic()
        for uid in [
            uid for uid, job in self._jobs.items() if job.finished_at is not None and now - job.finished_at > keep
        ]:
            del self._jobs[uid]

    def _report(self, job: PrintJob) -> None:
        """Queue the job's current status as an event; called with the lock held, so events keep their order."""
        if job.notify is not None:
            job.notify(
                print_job_event(
                    job.sop_instance_uid,
                    job.execution_status,
                    job.execution_status_info,
                    job.film_session_label,
                    self._settings[job.printer].profile.name,
                )
            )

    def _change(self, job: PrintJob, status: ExecutionStatus, info: str, finished: bool = False) -> None:
        with self._condition:
            job.execution_status, job.execution_status_info = status, info
            self._report(job)
            if finished:
                job.finished_at = time.monotonic()
                job.notify = None  # no more events: let the association go
            seen = dataclasses.replace(job, notify=None)
        log.info("print job %s %s", job.sop_instance_uid, status.value)
        for observer in self._observers:
            observer(seen)

    def _finish(self, job: PrintJob, status: ExecutionStatus, info: str) -> None:
        self._change(job, status, info, finished=True)

    def _printer_changed(self, ae_title: str, old: PrinterState, new: PrinterState) -> None:
        with self._condition:
            if new.printer_status is PrinterStatus.NORMAL:
                self._supplies[ae_title].films_taken = 0  # someone put film in (printscp printer set NORMAL)
            self._condition.notify_all()

    def _printable(self, job: PrintJob) -> bool:
        """Whether the job's printer takes a job now (called with the lock held)."""
        failed = self.printers[job.printer].state.printer_status is PrinterStatus.FAILURE
        if failed and "FAILURE" in self._relay_trouble.get(job.printer, {}).values():
            failed = False  # a target's failure, shown on this printer: its archive copy still prints
        if failed and self.config.queue.on_printer_failure == "WAIT":
            return False
        supply = self._settings[job.printer].faults.films_in_supply
        # the last films are being printed: then SUPPLY EMPTY
        return not supply or self._supplies[job.printer].films_taken < supply

    # --- the dispatcher ------------------------------------------------------------------------------

    def _next(self) -> tuple[list[_Running], PrintJob | None, list[_Running]] | None:
        """Wait until a worker finished a job, or a job can start, or a delayed job is due."""
        with self._condition:
            while not self._stopping:
                now = time.monotonic()
                done, self._done = self._done, []
                due = [r for r in self._running.values() if r.future is None and r.start_at <= now]
                job = self._take(now)
                if job is not None:
                    self._running[job.sop_instance_uid] = _Running(job)
                if done or due or job is not None:
                    return done, job, due
                self._condition.wait(self._wait_time(now))
            return None

    def _take(self, now: float) -> PrintJob | None:
        """The job to start now, out of the waiting ones (called with the lock held)."""
        job = self._startable(now)
        if job is not None:
            self._waiting.remove(job)
        return job

    def _startable(self, now: float) -> PrintJob | None:
        """The best waiting job that may start now: a free worker, a printer that prints, storage back,
        and no earlier job of its Film Session still waiting or printing."""
        if not self._waiting or len(self._running) >= self._slots or now < self._storage_retry_at:
            return None
        busy = {r.job.film_session_uid for r in self._running.values()}
        first_of_session: dict[str, PrintJob] = {}
        for job in sorted(self._waiting, key=lambda j: j.sequence):
            first_of_session.setdefault(job.film_session_uid, job)
        candidates = [j for s, j in first_of_session.items() if s not in busy and self._printable(j)]
        return min(candidates, key=lambda j: (_PRIORITY_RANK[j.print_priority], j.sequence), default=None)

    def _wait_time(self, now: float) -> float | None:
        times = [r.start_at for r in self._running.values() if r.future is None]
        if self._waiting and self._storage_retry_at > now:
            times.append(self._storage_retry_at)
        return max(0.0, min(times) - now) if times else None

    def _run(self) -> None:
        while (work := self._next()) is not None:
            done, job, due = work
            for running in done:
                self._complete(running)
            if job is not None:
                self._start(job)
            for running in due:
                self._hand_to_worker(running)

    def _start(self, job: PrintJob) -> None:
        state = self.printers[job.printer].state
        if state.printer_status is PrinterStatus.FAILURE:  # on_printer_failure = FAIL
            self._drop(job, ExecutionStatus.FAILURE, state.printer_status_info)
            return
        supply = self._supplies[job.printer]
        if not self._storage_down:  # a retry while the disk is full stays PENDING until it is archived
            supply.jobs_started += 1
            self._change(job, ExecutionStatus.PRINTING, "NORMAL")
        faults = self._settings[job.printer].faults
        if faults.fail_every and supply.jobs_started % faults.fail_every == 0:
            self._drop(job, ExecutionStatus.FAILURE, "FILM JAM")
            return
        with self._condition:
            running = self._running[job.sop_instance_uid]
            running.start_at = time.monotonic() + faults.print_delay
            supply.films_taken += job.films
        if not faults.print_delay:
            self._hand_to_worker(running)

    def _drop(self, job: PrintJob, status: ExecutionStatus, info: str) -> None:
        """A job that ends without printing (printer failure, a scripted fault)."""
        self._unspool(job)
        self._finish(job, status, info)
        with self._condition:
            del self._running[job.sop_instance_uid]
            self._condition.notify_all()

    def _unspool(self, job: PrintJob) -> None:
        """The job is printed (or dropped): out of the spool."""
        self.spool.remove(job.sop_instance_uid)

    def _hand_to_worker(self, running: _Running) -> None:
        job = running.job
        stored = self.archive.find(job.sop_instance_uid, job.creation)
        future: Future[StoredJob]
        if stored is not None:  # archived before a crash, its spool folder not yet removed
            log.info("print job %s was already in the archive; not printed again", job.sop_instance_uid)
            future = Future()
            future.set_result(stored)
        else:
            with self._condition:  # a core no other job uses: this film's PNG is drawn beside its PDF
                spare = len(self._running) < self._slots
            task = PrintTask(
                job.sop_instance_uid,
                job.folder,
                self.archive.folder,
                self._settings[job.printer].profile,
                2 if spare else 1,
                self.config.render.png_dpi,
                self._identity if not job.attempts else self._identity.without_ocr(),
                self.archive.incoming,
            )
            try:
                future = self._pool.submit(print_spooled, task)
            except BrokenProcessPool as exc:  # a worker died since the last job: the pool needs renewing
                future = Future()
                future.set_exception(exc)
            except RuntimeError as exc:  # shut down under us (stop)
                future = Future()
                future.set_exception(exc)
        with self._condition:
            running.future, running.pool, running.handed_at = future, self._pool, time.monotonic()
        future.add_done_callback(lambda _: self._worker_done(running))

    def _worker_done(self, running: _Running) -> None:
        with self._condition:
            self._done.append(running)
            self._condition.notify_all()

    def _complete(self, running: _Running) -> None:
        job, future = running.job, running.future
        assert future is not None
        try:
            exc = None if future.cancelled() else future.exception()
            if future.cancelled():  # by a pool renewed after a worker died: not this job's fault
                with self._condition:
                    self._waiting.append(job)
            elif exc is None:
                job.render_seconds = time.monotonic() - running.handed_at
                self._printed(job, future.result())
            elif storage_error(exc):
                self._wait_for_storage(job, exc)
            elif isinstance(exc, BrokenProcessPool):
                self._worker_died(running)
            elif isinstance(exc, RuntimeError) and self._stopping:
                pass  # stays in the spool: printed after the next start
            else:
                self._failed(job, exc)
        finally:  # only now: wait_idle() must not see the job neither waiting nor running before it is done
            with self._condition:
                del self._running[job.sop_instance_uid]
                self._condition.notify_all()

    def _printed(self, job: PrintJob, stored: StoredJob) -> None:
        self.archive.index_stored(stored)
        job.stored = stored
        relay = None
        if self.relays is not None and self.relays.relay(job.sop_instance_uid) is not None:
            relay = self.relays.stored(job.sop_instance_uid)  # paper targets may print it now
        self._unspool(job)
        if self._storage_down:
            self._storage_down = False
            log.warning("the archive can be written again: printing resumes")
        if relay is None:
            self._finish(job, ExecutionStatus.DONE, "NORMAL")
        else:
            self._follow_relay(job, relay)
        if self._on_stored is not None:  # forwarding, retention: after the film is safe in the archive
            try:
                self._on_stored(stored)
            except Exception:  # the job is printed and archived whatever happens here
                log.exception("after print job %s was archived", job.sop_instance_uid)
        supply = self._settings[job.printer].faults.films_in_supply
        with self._condition:
            empty = bool(supply) and self._supplies[job.printer].films_taken >= supply
        printer = self.printers[job.printer]
        if empty and printer.state.printer_status is not PrinterStatus.FAILURE:
            printer.set_status(PrinterStatus.FAILURE, "SUPPLY EMPTY")

    # --- relays (relay/queue.py): a job with targets is DONE once they printed it too ---------------------

    def _follow_relay(self, job: PrintJob, relay: Relay) -> None:
        """The job is archived; its Execution Status now follows its relay (PS3.3 C.13.8): PENDING while a
        target waits, PRINTING while one prints, DONE when all printed, FAILURE when one was given up. From
        the relay's thread and the dispatcher's: one at a time, with the relay as it is now, never after the
        job finished."""
        assert self.relays is not None
        with self._following:
            if job.finished_at is None:
                self._follow(job, self.relays.relay(job.sop_instance_uid) or relay)

    def _follow(self, job: PrintJob, relay: Relay) -> None:
        states = [t.state for t in relay.targets.values()]
        if FAILED in states:
            info = next(t.printer_status_info for t in relay.targets.values() if t.state == FAILED)
            self._finish(job, ExecutionStatus.FAILURE, _execution_status_info(info, "PRINTER DOWN"))
        elif all(state == DONE for state in states):
            self._finish(job, ExecutionStatus.DONE, "NORMAL")
        elif PRINTING in states:
            self._change(job, ExecutionStatus.PRINTING, "NORMAL")
        else:
            assert self.relays is not None
            waiting = {name: t for name, t in relay.targets.items() if t.state == PENDING}
            info = next((t.printer_status_info for t in waiting.values() if t.printer_status_info), "")
            down = any(self.relays.unreachable(name) for name in waiting)
            self._change(
                job, ExecutionStatus.PENDING, _execution_status_info(info, "PRINTER DOWN" if down else "QUEUED")
            )

    def _relay_changed(self, relay: Relay, target: str, delivery: Delivery | None) -> None:
        # the printer's status first: an SCU told DONE finds the printer as the target left it
        if delivery is not None:
            self._reflect(relay.printer, target, delivery)
        job = self._relay_job(relay.job_uid)
        if job is not None and job.stored is not None:
            self._follow_relay(job, relay)

    def _relay_job(self, job_uid: str) -> PrintJob | None:
        """The job whose Execution Status follows this relay here (None: none)."""
        with self._condition:
            return self._jobs.get(job_uid)

    def _reflect(self, printer_ae: str, target: str, delivery: Delivery) -> None:
        """The target's printer status shows in the status of the printer that relays to it: WARNING or FAILURE
        with its Printer Status Info (WARNING PRINTER DOWN while it cannot be reached); NORMAL again once no
        target of the printer is in trouble. A FAILURE that comes from a target does not stop printscp's own
        printing (see _printable)."""
        printer = self.printers.get(printer_ae)
        if printer is None:
            return
        trouble = self._relay_trouble.setdefault(printer_ae, {})
        if (
            delivery.printer_status in ("WARNING", "FAILURE")
            and delivery.printer_status_info in PRINTER_STATUS_INFO_TERMS
        ):
            trouble[target] = delivery.printer_status
            printer.set_status(PrinterStatus(delivery.printer_status), delivery.printer_status_info)
        elif not delivery.delivered and delivery.status is None:
            trouble[target] = "WARNING"
            printer.set_status(PrinterStatus.WARNING, "PRINTER DOWN")
        elif trouble.pop(target, None) is not None and not trouble:
            printer.set_status(PrinterStatus.NORMAL)

    def _failed(self, job: PrintJob, exc: BaseException) -> None:
        """A job that cannot print fails; the printer goes on."""
        info = "INSUFFIC MEMORY" if isinstance(exc, MemoryError) else "INVALID PAGE DES"
        log.error("print job %s failed", job.sop_instance_uid, exc_info=exc)
        try:
            self.spool.set_aside(job.folder, "".join(traceback.format_exception(exc)))
        except OSError:
            log.exception("print job %s could not be set aside in the spool", job.sop_instance_uid)
        if self.relays is not None:
            self.relays.not_rendered(job.sop_instance_uid)
        self._finish(job, ExecutionStatus.FAILURE, info)

    def _wait_for_storage(self, job: PrintJob, exc: OSError) -> None:
        """The archive cannot take the job now: keep it (spooled, waiting) and try again later."""
        if not self._storage_down:
            self._storage_down = True
            log.error(
                "print job %s cannot be archived (%s); it stays in the spool and is tried again every %g s",
                job.sop_instance_uid,
                exc.strerror or exc,
                STORAGE_RETRY,
            )
        self._change(job, ExecutionStatus.PENDING, "INSUFFIC MEMORY" if exc.errno in _NO_SPACE else "PRINTER DOWN")
        with self._condition:
            self._storage_retry_at = time.monotonic() + STORAGE_RETRY
            self._waiting.append(job)

    def _worker_died(self, running: _Running) -> None:
        """The worker process printing the job died (killed, out of memory): renew the pool, try again."""
        job = running.job
        job.attempts += 1
        if running.pool is self._pool and self._own_pool:
            log.error("a render worker process died; the render workers are restarted")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = render_pool(self.config)
        if job.attempts >= CRASH_ATTEMPTS:
            self._failed(job, MemoryError(f"the render worker died {job.attempts} times printing this job"))
            return
        # Tesseract runs inside the worker (identity/ocr.py): if it was what crashed, the film prints without it
        log.warning("print job %s is printed again, without OCR (its worker died)", job.sop_instance_uid)
        with self._condition:
            self._waiting.append(job)
            self._condition.notify_all()

    # --- life --------------------------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 60) -> bool:
        """True once every queued job is finished (for tests and benchmarks)."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._waiting and not self._running and not self._done and not self._arriving,
                timeout=timeout,
            )

    @property
    def depth(self) -> int:
        with self._condition:
            return len(self._waiting)

    def depth_of(self, printer: str) -> int:
        """Jobs waiting for one printer."""
        with self._condition:
            return sum(job.printer == printer for job in self._waiting)

    def stop(self) -> None:
        """Finish the jobs being rendered; the others stay in the spool for the next start."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._dispatcher.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._condition:
            finished = [r for r in self._done if r.future and not r.future.cancelled() and not r.future.exception()]
            self._done = []
        for running in finished:  # rendered while we stopped: index them now rather than at the next start
            with self._condition:
                self._running.pop(running.job.sop_instance_uid, None)
            self._printed(running.job, running.future.result())  # type: ignore[union-attr]
        for ae_title, printer in self.printers.items():
            printer.remove_listener(self._listeners[ae_title])
        self.spool.close()


_STATUSES = frozenset(int(s) for s in Status)


def _execution_status_info(info: str, otherwise: str) -> str:
    """A target's Printer Status Info as our Execution Status Info, when it is a defined term (PS3.3 C.13.9.1)."""
    return info if info in PRINTER_STATUS_INFO_TERMS and info != "NORMAL" else otherwise


def _not_spooled(exc: OSError) -> Exception:
    """What an N-ACTION whose job could not be made durable is answered.

    A full disk is a full print queue (PS3.4 H.4.1.2.4 C601, H.4.2.2.4 C602: "print queue is full"; the
    SCU may try again later). Any other disk error (read-only, forbidden) is 0110 Processing failure. The
    Error Comment says which, within LO's 64 characters.
    """
    if exc.errno in _NO_SPACE:
        log.error("a print could not be spooled: %s; the N-ACTION is answered print queue full", exc)
        return QueueFull(f"print queue full: {exc.strerror or 'no space for the spool'}")
    log.error("a print could not be spooled: %s; the N-ACTION fails with %s", exc, Status.PROCESSING_FAILURE)
    return PrintError(f"spool not writable: {exc.strerror or exc}", status=Status.PROCESSING_FAILURE)
