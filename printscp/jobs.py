"""Print jobs: an acknowledged request is spooled durably, then printed by a worker thread.

N-ACTION calls `PrintQueue.submit`, which writes the job to the spool (see spool.py) and returns its
Print Job SOP Instance UID; the SCU is answered at once. One worker takes jobs by Print Priority
(HIGH, MED, LOW; first come first within a priority) and renders them into the archive. Each change
of a job's Execution Status (PENDING, PRINTING, DONE, FAILURE; PS3.3 C.13.8) is sent as a Print Job
N-EVENT-REPORT to the association that made the job, when it happens (PS3.4 H.4.4).

While the printer is in FAILURE, jobs wait as PENDING (queue.on_printer_failure = WAIT) or fail
(FAIL). The scripted faults of config.toml ([faults]) make jobs fail, print slowly, or run the
printer out of film, for testing how an SCU copes.

On start, the jobs left in the spool by a previous process are printed; one whose films already
reached the archive is only removed from the spool, never printed twice.

A full or read-only disk is not the job's fault. An N-ACTION whose job cannot be spooled is answered with a
failure (0213 Resource limitation when the disk is full, 0110 Processing failure otherwise, the reason in
the Error Comment) and nothing is acknowledged; the SCU may send the N-ACTION again. A job already
acknowledged whose films cannot be written into the archive stays in the spool, PENDING with INSUFFIC
MEMORY (PRINTER DOWN for a read-only or forbidden archive), and is tried again every STORAGE_RETRY seconds
until space returns: it is never set aside in failed/ for lack of space.
"""

from __future__ import annotations

import errno
import heapq
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeGuard

from pydicom.uid import generate_uid

from printscp.archive.store import FilmArchive, StoredJob
from printscp.config import Config
from printscp.errors import PrintError, QueueFull
from printscp.events import Notify, print_job_event
from printscp.model.enums import ExecutionStatus, PrinterStatus, PrintPriority
from printscp.model.printer import Printer, PrinterState
from printscp.model.profile import PrinterProfile
from printscp.model.record import GrayscaleImage, PrintRequest
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo
from printscp.spool import Spool, SpooledJob
from printscp.status import Status

log = logging.getLogger(__name__)

_PRIORITY_RANK = {PrintPriority.HIGH: 0, PrintPriority.MED: 1, PrintPriority.LOW: 2}
STORAGE_RETRY = 2.0  # seconds between attempts to archive a job while the disk is full or read-only
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
    film_session_label: str
    films: int  # sheets to print, copies included
    execution_status: ExecutionStatus = ExecutionStatus.PENDING
    execution_status_info: str = "QUEUED"
    finished_at: float | None = None  # time.monotonic() when DONE or FAILURE
    notify: Notify | None = field(default=None, repr=False)  # events go to the association that made it
    stored: StoredJob | None = None


def print_request(job_uid: str, request: PrintRequest, profile: PrinterProfile, archive: FilmArchive) -> StoredJob:
    """Render every film of a request and store them as one job in the archive."""
    info = DocumentInfo(
        title=request.film_session_label or f"Film from {request.calling_ae_title}",
        subject=request.calling_ae_title,
        author=profile.name,
    )
    return archive.store(job_uid, request, render_job(request, profile, info), datetime.now().astimezone())


class PrintQueue:
    def __init__(
        self,
        config: Config,
        printer: Printer,
        archive: FilmArchive | None = None,
        on_stored: Callable[[StoredJob], None] | None = None,
    ) -> None:
        self.config = config
        self.profile = config.printer
        self.printer = printer
        self.archive = archive or FilmArchive(config.archive.folder, config.printer)
        self._on_stored = on_stored
        self.spool = Spool(config.archive.folder)
        self._jobs: dict[str, PrintJob] = {}
        self._waiting: list[tuple[int, int, str]] = []  # heap of (priority rank, sequence, job uid)
        self._spooled: dict[str, SpooledJob] = {}
        self._condition = threading.Condition()
        self._stopping = False
        self._busy = False
        self._arriving = 0  # N-ACTIONs being spooled: they have their place in the queue already
        self._started = 0  # jobs the worker has begun, for faults.fail_every
        self._storage_down = False  # the last attempt to archive failed for lack of space (or a read-only disk)
        self._films_used = 0  # for faults.films_in_supply
        for job in self.spool.pending():  # acknowledged before a restart: print them now
            self._enqueue(job, None)
        if self._waiting:
            log.info("%d print job(s) from the spool will be printed", len(self._waiting))
        printer.add_listener(self._printer_changed)
        self._worker = threading.Thread(target=self._run, name="print-worker", daemon=True)
        self._worker.start()

    # --- called from associations ------------------------------------------------------------------

    def prepare(self, image: GrayscaleImage) -> None:
        """An Image Box received an image: start writing it to the spool in the background."""
        self.spool.prepare(image)

    def submit(self, request: PrintRequest, notify: Notify | None = None) -> str:
        """Spool a print durably and queue it; returns the Print Job SOP Instance UID."""
        with self._condition:  # a place in the queue is taken before spooling, so racing N-ACTIONs cannot overfill
            if len(self._waiting) + self._arriving >= self.config.queue.size:
                raise QueueFull
            self._arriving += 1
        try:
            job_uid = generate_uid()
            try:
                spooled = self.spool.add(job_uid, request)  # durable from here on
            except OSError as exc:
                raise _not_spooled(exc) from None
            job = self._enqueue(spooled, notify)
        finally:
            with self._condition:
                self._arriving -= 1
        log.info(
            "print job %s queued: %d film(s) from %s, priority %s",
            job_uid,
            job.films,
            request.calling_ae_title,
            request.print_priority.value,
        )
        self._event(job)
        return job_uid

    def job(self, sop_instance_uid: str) -> PrintJob | None:
        """A Print Job for N-GET: queued, printing, or finished less than keep_finished_jobs ago."""
        with self._condition:
            self._expire()
            return self._jobs.get(sop_instance_uid)

    # --- state ---------------------------------------------------------------------------------------

    def _enqueue(self, spooled: SpooledJob, notify: Notify | None) -> PrintJob:
        request = spooled.request
        job = PrintJob(
            spooled.job_uid,
            request.print_priority,
            request.requested_at,
            request.calling_ae_title,
            request.film_session_label,
            len(request.collated_order),
            notify=notify,
        )
        with self._condition:
            self._jobs[job.sop_instance_uid] = job
            self._spooled[job.sop_instance_uid] = spooled
            heapq.heappush(self._waiting, (_PRIORITY_RANK[request.print_priority], spooled.sequence, spooled.job_uid))
            self._condition.notify_all()
        return job

    def _expire(self) -> None:
        keep = self.config.queue.keep_finished_jobs
        now = time.monotonic()
        for uid in [
            uid for uid, job in self._jobs.items() if job.finished_at is not None and now - job.finished_at > keep
        ]:
            del self._jobs[uid]

    def _event(self, job: PrintJob) -> None:
        if job.notify is not None:
            job.notify(
                print_job_event(
                    job.sop_instance_uid,
                    job.execution_status,
                    job.execution_status_info,
                    job.film_session_label,
                    self.profile.name,
                )
            )

    def _printer_changed(self, old: PrinterState, new: PrinterState) -> None:
        if new.printer_status is PrinterStatus.NORMAL:
            self._films_used = 0  # someone put film in (printscp printer set NORMAL)
        with self._condition:
            self._condition.notify_all()

    # --- the worker ----------------------------------------------------------------------------------

    def _next(self) -> tuple[PrintJob, SpooledJob] | None:
        """The next job to work on, waiting for one (and for a printer that can print)."""
        with self._condition:
            while not self._stopping:
                failed = self.printer.state.printer_status is PrinterStatus.FAILURE
                if self._waiting and (not failed or self.config.queue.on_printer_failure == "FAIL"):
                    _, _, uid = heapq.heappop(self._waiting)
                    self._busy = True
                    return self._jobs[uid], self._spooled.pop(uid)
                self._condition.wait()
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            job, spooled = item
            try:
                self._print(job, spooled)
                if self._storage_down:
                    self._storage_down = False
                    log.warning("the archive can be written again: printing resumes")
            except Exception as exc:
                if storage_error(exc):
                    self._wait_for_storage(job, spooled, exc)
                    continue
                # a job that cannot print fails; the printer goes on
                info = "INSUFFIC MEMORY" if isinstance(exc, MemoryError) else "INVALID PAGE DES"
                log.exception("print job %s failed", job.sop_instance_uid)
                try:
                    self.spool.set_aside(spooled.folder, traceback.format_exc())
                except OSError:
                    log.exception("print job %s could not be set aside in the spool", job.sop_instance_uid)
                self._finish(job, ExecutionStatus.FAILURE, info)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def _wait_for_storage(self, job: PrintJob, spooled: SpooledJob, exc: OSError) -> None:
        """The archive cannot take the job now: keep it (spooled, first in line) and try again later."""
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
            self._spooled[job.sop_instance_uid] = spooled
            heapq.heappush(
                self._waiting, (_PRIORITY_RANK[spooled.request.print_priority], spooled.sequence, spooled.job_uid)
            )
            self._busy = False
            self._condition.wait_for(lambda: self._stopping, timeout=STORAGE_RETRY)

    def _print(self, job: PrintJob, spooled: SpooledJob) -> None:
        state = self.printer.state
        if state.printer_status is PrinterStatus.FAILURE:  # on_printer_failure = FAIL
            self.spool.remove(job.sop_instance_uid)
            self._finish(job, ExecutionStatus.FAILURE, state.printer_status_info)
            return
        if not self._storage_down:  # a retry while the disk is full stays PENDING until it is archived
            self._started += 1
            self._change(job, ExecutionStatus.PRINTING, "NORMAL")
        faults = self.config.faults
        if faults.fail_every and self._started % faults.fail_every == 0:
            self.spool.remove(job.sop_instance_uid)
            self._finish(job, ExecutionStatus.FAILURE, "FILM JAM")
            return
        if faults.print_delay:
            with self._condition:
                self._condition.wait_for(lambda: self._stopping, timeout=faults.print_delay)
                if self._stopping:  # stay in the spool: printed after the next start
                    return
        stored = self.archive.find(job.sop_instance_uid, spooled.request.requested_at)
        if stored is None:
            stored = print_request(job.sop_instance_uid, spooled.request, self.profile, self.archive)
        else:
            log.info("print job %s was already in the archive; not printed again", job.sop_instance_uid)
        job.stored = stored
        self.spool.remove(job.sop_instance_uid)
        self._finish(job, ExecutionStatus.DONE, "NORMAL")
        if self._on_stored is not None:  # forwarding, retention: after the film is safe in the archive
            try:
                self._on_stored(stored)
            except Exception:  # the job is printed and archived whatever happens here
                log.exception("after print job %s was archived", job.sop_instance_uid)
        if faults.films_in_supply:
            self._films_used += job.films
            if self._films_used >= faults.films_in_supply:
                self.printer.set_status(PrinterStatus.FAILURE, "SUPPLY EMPTY")

    def _change(self, job: PrintJob, status: ExecutionStatus, info: str) -> None:
        with self._condition:
            job.execution_status, job.execution_status_info = status, info
            notify = job.notify
        log.info("print job %s %s", job.sop_instance_uid, status.value)
        if notify is not None:
            notify(print_job_event(job.sop_instance_uid, status, info, job.film_session_label, self.profile.name))

    def _finish(self, job: PrintJob, status: ExecutionStatus, info: str) -> None:
        self._change(job, status, info)
        with self._condition:
            job.finished_at = time.monotonic()
            job.notify = None  # no more events: let the association go

    # --- life --------------------------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 60) -> bool:
        """True once every queued job is finished (for tests and benchmarks)."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._waiting and not self._busy, timeout=timeout)

    @property
    def depth(self) -> int:
        with self._condition:
            return len(self._waiting)

    def stop(self) -> None:
        """Finish the job being printed; the others stay in the spool for the next start."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._worker.join()
        self.printer.remove_listener(self._printer_changed)
        self.spool.close()


def _not_spooled(exc: OSError) -> PrintError:
    """The failure status of an N-ACTION whose job could not be made durable.

    PS3.7 10.1.4.1.10 lists 0213 Resource limitation among the N-ACTION failures: the request was right and
    the printer is short of a resource (the SCU may try again later). Any other disk error (read-only,
    forbidden) is 0110 Processing failure. The Error Comment says which, within LO's 64 characters.
    """
    status = Status.RESOURCE_LIMITATION if exc.errno in _NO_SPACE else Status.PROCESSING_FAILURE
    log.error("a print could not be spooled: %s; the N-ACTION fails with %s", exc, status)
    return PrintError(f"spool not writable: {exc.strerror or exc}", status=status)
