"""The print queue and spool without sockets: durability, order, events, faults, failures."""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing.forkserver
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import bundled_config
from test_engine import META, PLUT, dataset, film_box_request, image_request, lut_request, reference, wire
from waiting import wait_until

import printscp.jobs
import printscp.spool
from printscp import uids
from printscp.archive.film_index import FilmIndex
from printscp.archive.store import FilmArchive
from printscp.config import FaultConfig, IdentityConfig, QueueConfig
from printscp.engine import AssociationInfo, PrintEngine
from printscp.errors import PrintError, QueueFull
from printscp.events import EventReport
from printscp.jobs import PrintQueue
from printscp.model.enums import ExecutionStatus, PrinterStatus
from printscp.model.printer import Printer
from printscp.model.record import GrayscaleImage, PrintRequest
from printscp.printing import RENDER_NICENESS, PrintTask
from printscp.spool import Spool, load_spooled

FILM_BOX, SESSION = uids.BASIC_FILM_BOX, uids.BASIC_FILM_SESSION


class Association:
    """One association's engine on a real PrintQueue, with the events it would be sent."""

    def __init__(self, queue: PrintQueue, printer: Printer, calling: str = "MODALITY") -> None:
        self.events: list[EventReport] = []
        self.requests: list[PrintRequest] = []  # as the engine froze them, pixels in memory
        self.queue = queue
        info = AssociationInfo(calling, "PRINTSCP", print_job_negotiated=True)
        self.engine = PrintEngine(queue.config.printer, printer, info, self)

    def prepare(self, image: GrayscaleImage) -> None:
        self.queue.prepare(image)

    def submit(self, request: PrintRequest) -> str:
        self.requests.append(request)
        return self.queue.submit(request, self.events.append)

    def print_job(self, uid: str) -> Any:
        return self.queue.job(uid)

    def print(
        self,
        value: int = 2000,
        fmt: str = "STANDARD\\1,1",
        copies: str = "1",
        priority: str = "MED",
        label: str = "",
        **image_box_attributes: Any,
    ) -> str:
        """A film session with one film box holding one image, printed; returns the Print Job UID."""
        if self.engine.hierarchy.film_session is not None:
            self.engine.n_delete(META, SESSION, self.engine.hierarchy.film_session.sop_instance_uid)
        session = self.engine.n_create(
            META,
            SESSION,
            None,
            wire(dataset(NumberOfCopies=copies, PrintPriority=priority, FilmSessionLabel=label or "LABEL")),
        )
        assert session.affected_sop_instance_uid is not None
        box = self.engine.n_create(META, FILM_BOX, None, film_box_request(session.affected_sop_instance_uid, fmt))
        image_box = str(box.dataset.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)  # type: ignore
        self.engine.n_set(
            META,
            uids.BASIC_GRAYSCALE_IMAGE_BOX,
            image_box,
            image_request(1, np.full((32, 32), value, dtype=np.uint16), **image_box_attributes),
        )
        reply = self.engine.n_action(META, FILM_BOX, box.affected_sop_instance_uid, 1, None)  # type: ignore
        assert reply.dataset is not None
        return str(reply.dataset[0x21000500].value[0].ReferencedSOPInstanceUID)


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[Any]:
    made: list[PrintQueue] = []

    def make(
        queue: QueueConfig | None = None,
        faults: FaultConfig | None = None,
        printer: Printer | None = None,
        on_stored: Any = None,
        threads: bool = False,
        index: FilmIndex | None = None,
        sections: dict[str, Any] | None = None,
    ) -> tuple[PrintQueue, Printer]:
        """A queue on the bundled config; `threads`: render in threads of this process, where a test can
        replace printscp.jobs.print_spooled (the render worker processes import their own); `index`: the
        archive's index (default: SQLite in the archive folder); `sections`: config sections replaced whole."""
        printer = printer or Printer()
        config = bundled_config(tmp_path / "films", queue, faults, sections=sections)
        pool = ThreadPoolExecutor(printscp.jobs.render_workers(config)) if threads else None
        archive = FilmArchive(config.archive.folder, config.printer, index) if index is not None else None
        print_queue = PrintQueue(
            config, {config.network.ae_title: printer}, archive=archive, on_stored=on_stored, pool=pool
        )
        made.append(print_queue)
        return print_queue, printer

    yield make
    for queue in made:
        queue.stop()


def statuses(events: list[EventReport], job: str) -> list[tuple[int, str]]:
    return [
        (e.event_type_id, str(e.information.ExecutionStatusInfo))
        for e in events  # type: ignore[union-attr]
        if e.sop_instance_uid == job
    ]


def test_a_job_goes_pending_printing_done_with_its_events(make_queue: Any) -> None:
    queue, printer = make_queue()
    scu = Association(queue, printer)
    job = scu.print(label="CHEST")
    assert queue.wait_idle()
    assert statuses(scu.events, job) == [(1, "QUEUED"), (2, "NORMAL"), (3, "NORMAL")]
    assert {str(e.information.FilmSessionLabel) for e in scu.events} == {"CHEST"}  # type: ignore[union-attr]
    record = queue.job(job)
    assert record is not None and record.execution_status is ExecutionStatus.DONE and record.stored is not None
    assert record.stored.pdfs[0].exists()
    n_get = scu.engine.n_get(uids.PRINT_JOB, uids.PRINT_JOB, job, [])
    assert n_get.dataset is not None
    assert (n_get.dataset.ExecutionStatus, n_get.dataset.Originator, n_get.dataset.PrintPriority) == (
        "DONE",
        "MODALITY",
        "MED",
    )
    assert not list(queue.spool.jobs.iterdir())  # printed: gone from the spool


def test_spool_round_trip_keeps_everything_the_renderer_needs(make_queue: Any, tmp_path: Path) -> None:
    queue, printer = make_queue()
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # WAIT: the job stays in the spool
    scu = Association(queue, printer)
    plut = scu.engine.n_create(PLUT, PLUT, None, lut_request()).affected_sop_instance_uid
    study = dataset(PatientName="DOE^JANE", PatientID="42")
    request = dataset(FilmSessionLabel="ROUND TRIP", NumberOfCopies="2", PrintPriority="HIGH")
    request.ProposedStudySequence = [study]
    session = scu.engine.n_create(META, SESSION, None, wire(request)).affected_sop_instance_uid
    box_request = film_box_request(session, "ROW\\1,1", Trim="YES", BorderDensity="120")  # type: ignore[arg-type]
    box_request.ReferencedPresentationLUTSequence = [reference(PLUT, plut)]  # type: ignore[arg-type]
    box = scu.engine.n_create(META, FILM_BOX, None, wire(box_request))
    images = [str(i.ReferencedSOPInstanceUID) for i in box.dataset.ReferencedImageBoxSequence]  # type: ignore
    pixels = (np.arange(48 * 64).reshape(48, 64) % 4096).astype(np.uint16)
    scu.engine.n_set(
        META,
        uids.BASIC_GRAYSCALE_IMAGE_BOX,
        images[1],
        image_request(2, pixels, Polarity="REVERSE", RequestedImageSize="50"),
    )
    scu.engine.n_action(META, FILM_BOX, box.affected_sop_instance_uid, 1, None)  # type: ignore[arg-type]
    (original,) = scu.requests
    (spooled,) = Spool(tmp_path / "films").pending()
    restored = spooled.request
    assert dataclasses.replace(restored, films=()) == dataclasses.replace(original, films=())
    film, before = restored.films[0], original.films[0]
    assert dataclasses.replace(film, image_boxes=()) == dataclasses.replace(before, image_boxes=())
    empty, full = film.image_boxes
    assert empty.image is None and full.image is not None and full.image.pixels.tolist() == pixels.tolist()
    assert full.presentation_lut is not None and before.image_boxes[1].presentation_lut is not None
    assert full.presentation_lut.lut_data.tolist() == before.image_boxes[1].presentation_lut.lut_data.tolist()  # type: ignore
    assert dataclasses.replace(full, image=None, presentation_lut=None) == dataclasses.replace(
        before.image_boxes[1], image=None, presentation_lut=None
    )


def test_priority_orders_the_queue(make_queue: Any) -> None:
    queue, printer = make_queue()
    printer.set_status(PrinterStatus.FAILURE, "PRINTER OFFLINE")  # hold everything until all are queued
    scu = Association(queue, printer)
    jobs = {
        priority: scu.print(priority=priority, label=name)
        for priority, name in (("LOW", "first low"), ("HIGH", "high"), ("MED", "med"))
    }
    later_low = scu.print(priority="LOW", label="second low")
    assert queue.depth == 4 and queue.job(jobs["HIGH"]).execution_status is ExecutionStatus.PENDING  # type: ignore
    printer.set_status(PrinterStatus.NORMAL)
    assert queue.wait_idle()
    # started in priority order (the workers may finish them in another)
    started = [e.sop_instance_uid for e in scu.events if e.event_type_id == 2]
    assert started == [jobs["HIGH"], jobs["MED"], jobs["LOW"], later_low]


def test_bounded_queue_refuses_with_c601_and_c602(make_queue: Any) -> None:
    queue, printer = make_queue(QueueConfig(size=2))
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")
    scu = Association(queue, printer)
    scu.print()
    scu.print()
    with pytest.raises(QueueFull):
        queue.submit(scu.requests[0])
    with pytest.raises(PrintError) as error:
        scu.print()
    assert error.value.status == 0xC602
    session = scu.engine.hierarchy.film_session
    assert session is not None
    with pytest.raises(PrintError) as error:
        scu.engine.n_action(META, SESSION, session.sop_instance_uid, 1, None)
    assert error.value.status == 0xC601


def test_printer_failure_policy_fail(make_queue: Any) -> None:
    queue, printer = make_queue(QueueConfig(on_printer_failure="FAIL"))
    printer.set_status(PrinterStatus.FAILURE, "COVER OPEN")
    scu = Association(queue, printer)
    job = scu.print()
    assert queue.wait_idle()
    assert statuses(scu.events, job) == [(1, "QUEUED"), (4, "COVER OPEN")]
    assert queue.archive.jobs() == []


def test_render_error_fails_the_job_and_the_next_one_prints(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue, printer = make_queue(threads=True)
    real = printscp.jobs.print_spooled

    def broken_for_bad(task: PrintTask) -> Any:
        if load_spooled(task.spool_folder).request.film_session_label == "BAD":
            raise ValueError("the renderer fell over")
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", broken_for_bad)
    scu = Association(queue, printer)
    bad = scu.print(label="BAD")
    good = scu.print(label="GOOD")
    assert queue.wait_idle()
    assert statuses(scu.events, bad)[-1] == (4, "INVALID PAGE DES")
    assert statuses(scu.events, good)[-1] == (3, "NORMAL")
    (set_aside,) = list(queue.spool.failed.iterdir())
    assert set_aside.name == bad and "the renderer fell over" in (set_aside / "error.txt").read_text()


def test_fault_fail_every_nth_job(make_queue: Any) -> None:
    queue, printer = make_queue(faults=FaultConfig(fail_every=2))
    scu = Association(queue, printer)
    jobs = [scu.print() for _ in range(4)]
    assert queue.wait_idle()
    assert [statuses(scu.events, j)[-1] for j in jobs] == [(3, "NORMAL"), (4, "FILM JAM")] * 2
    assert len(queue.archive.jobs()) == 2


def test_fault_run_out_of_film_until_reset(make_queue: Any) -> None:
    queue, printer = make_queue(faults=FaultConfig(films_in_supply=3))
    changes: list[tuple[str, str]] = []
    printer.add_listener(lambda old, new: changes.append((new.printer_status.value, new.printer_status_info)))
    scu = Association(queue, printer)
    first = scu.print(copies="2")
    second = scu.print()  # the 3rd film: the magazine is empty after it
    third = scu.print()
    assert queue.wait_idle(5) is False  # the third waits for film
    assert printer.state.printer_status is PrinterStatus.FAILURE and changes == [("FAILURE", "SUPPLY EMPTY")]
    assert [statuses(scu.events, j)[-1][0] for j in (first, second, third)] == [3, 3, 1]
    printer.set_status(PrinterStatus.NORMAL)  # film loaded
    assert queue.wait_idle()
    assert statuses(scu.events, third)[-1] == (3, "NORMAL")


def test_delay_makes_printing_take_time(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue, printer = make_queue(faults=FaultConfig(print_delay=0.4), threads=True)
    rendering_allowed = threading.Event()  # set only once the N-ACTION has been answered
    rendered_at: list[float] = []
    real = printscp.jobs.print_spooled

    def held_print(task: PrintTask) -> Any:
        rendered_at.append(time.monotonic())
        assert rendering_allowed.wait(30), "the N-ACTION was not answered before the print"
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", held_print)
    scu = Association(queue, printer)
    start = time.monotonic()
    job = scu.print()  # answered before the print was done: the print cannot finish before the next lines
    wait_until(
        lambda: queue.job(job).execution_status is ExecutionStatus.PRINTING,  # type: ignore[union-attr]
        5,
        "the job PRINTING",
    )
    rendering_allowed.set()
    assert queue.wait_idle()
    assert queue.job(job).execution_status is ExecutionStatus.DONE  # type: ignore[union-attr]
    assert rendered_at[0] - start > 0.4  # the delay kept it PRINTING before it rendered


def test_restart_prints_the_spool_once(make_queue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queue, printer = make_queue()
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")
    scu = Association(queue, printer)
    waiting = scu.print(label="waiting")
    already = scu.print(label="already printed")
    queue.stop()
    # the second job reached the archive before the crash, but its spool folder was not yet removed
    spooled = {job.job_uid: job for job in Spool(tmp_path / "films").pending()}
    task = PrintTask(already, spooled[already].folder, queue.archive.folder, queue.config.printer)
    queue.archive.index_stored(printscp.jobs.print_spooled(task))
    rendered = []
    real = printscp.jobs.print_spooled

    def recording(task: PrintTask) -> Any:
        rendered.append(task.job_uid)
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", recording)
    again, _ = make_queue(threads=True)
    assert again.wait_idle()
    assert rendered == [waiting]  # the other is not printed twice
    assert sorted(j.manifest["print_job_uid"] for j in again.archive.jobs()) == sorted([waiting, already])
    assert again.job(waiting).execution_status is ExecutionStatus.DONE  # type: ignore[union-attr]
    assert not list(again.spool.jobs.iterdir())


def test_finished_jobs_are_forgotten_after_keep_finished_jobs(make_queue: Any) -> None:
    queue, printer = make_queue(QueueConfig(keep_finished_jobs=0.2))
    job = Association(queue, printer).print()
    assert queue.wait_idle() and queue.job(job) is not None
    wait_until(lambda: queue.job(job) is None, 5, "the finished job forgotten")


def test_live_image_files_go_with_their_images(make_queue: Any) -> None:
    queue, printer = make_queue()
    scu = Association(queue, printer)
    session = scu.engine.n_create(META, SESSION, None, None).affected_sop_instance_uid
    box = scu.engine.n_create(META, FILM_BOX, None, film_box_request(session, "STANDARD\\2,1"))  # type: ignore
    images = [str(i.ReferencedSOPInstanceUID) for i in box.dataset.ReferencedImageBoxSequence]  # type: ignore
    for position, uid in enumerate(images, start=1):
        scu.engine.n_set(META, uids.BASIC_GRAYSCALE_IMAGE_BOX, uid, image_request(position))
    queue.spool._writer.submit(lambda: None).result()  # noqa: SLF001  (writes done)
    assert len(list(queue.spool.live.iterdir())) == 2
    scu.engine.n_set(META, uids.BASIC_GRAYSCALE_IMAGE_BOX, images[0], image_request(1))  # replaces image 1
    gc.collect()
    queue.spool._writer.submit(lambda: None).result()  # noqa: SLF001
    assert len(list(queue.spool.live.iterdir())) == 2
    scu.engine.close()  # association ended
    gc.collect()
    queue.spool._writer.submit(lambda: None).result()  # noqa: SLF001
    deadline = time.monotonic() + 5
    while list(queue.spool.live.iterdir()):
        assert time.monotonic() < deadline, list(queue.spool.live.iterdir())
        time.sleep(0.01)


def test_concurrent_submissions_keep_every_job(make_queue: Any) -> None:
    queue, printer = make_queue(QueueConfig(size=100))
    results: list[str] = []
    errors: list[BaseException] = []

    def print_some() -> None:
        try:
            scu = Association(queue, printer)
            for _ in range(5):
                results.append(scu.print())
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=print_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(results)) == 20
    assert queue.wait_idle()
    assert sorted(j.manifest["print_job_uid"] for j in queue.archive.jobs()) == sorted(results)


def test_racing_submissions_never_overfill_the_queue(make_queue: Any) -> None:
    queue, printer = make_queue(QueueConfig(size=3))
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # nothing leaves the queue
    scu = Association(queue, printer)
    scu.print()
    template = scu.requests[0]
    accepted: list[str] = []
    refused: list[int] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        try:
            accepted.append(queue.submit(template))
        except QueueFull:
            refused.append(1)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(accepted), len(refused), queue.depth) == (2, 6, 3)


def test_an_error_after_archiving_neither_fails_the_job_nor_stops_the_worker(make_queue: Any) -> None:
    def broken_forwarding(stored: Any) -> None:
        raise OSError("the outbox disk is gone")

    queue, printer = make_queue(on_stored=broken_forwarding)
    scu = Association(queue, printer)
    first, second = scu.print(), scu.print()
    assert queue.wait_idle()
    assert statuses(scu.events, first)[-1] == (3, "NORMAL")
    assert statuses(scu.events, second)[-1] == (3, "NORMAL")  # the worker lived on
    assert len(queue.archive.jobs()) == 2


def test_jobs_of_different_sessions_render_at_once(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue, printer = make_queue(threads=True)
    both_printing = threading.Barrier(2, timeout=10)  # broken (an error) unless two renders run together
    real = printscp.jobs.print_spooled

    def together(task: PrintTask) -> Any:
        both_printing.wait()
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", together)
    first, second = Association(queue, printer, "CT"), Association(queue, printer, "MR")
    jobs = [first.print(), second.print()]
    assert queue.wait_idle()
    assert [statuses(scu.events, job)[-1] for scu, job in zip((first, second), jobs, strict=True)] == [
        (3, "NORMAL"),
        (3, "NORMAL"),
    ]


def test_the_jobs_of_one_film_session_print_in_order(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Print Priority orders jobs of different sessions, never the jobs of one session (H.4.1.2.4)."""
    queue, printer = make_queue(threads=True)
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # hold everything until all are queued
    printing: list[str] = []
    overlapped: list[str] = []
    lock = threading.Lock()
    real = printscp.jobs.print_spooled

    def recording(task: PrintTask) -> Any:
        label = load_spooled(task.spool_folder).request.film_session_label
        with lock:
            overlapped.extend(label for other in printing if other == label)
            printing.append(label)
        time.sleep(0.05)  # long enough for a wrongly started second job of the session to overlap
        try:
            return real(task)
        finally:
            with lock:
                printing.remove(label)

    monkeypatch.setattr(printscp.jobs, "print_spooled", recording)
    scu = Association(queue, printer)
    session = scu.engine.n_create(META, SESSION, None, wire(dataset(PrintPriority="LOW", FilmSessionLabel="ONE")))
    uid = session.affected_sop_instance_uid
    assert uid is not None
    jobs = []
    for priority in ("LOW", "HIGH", "MED"):  # the session's priority changes between its prints
        scu.engine.n_set(META, SESSION, uid, wire(dataset(PrintPriority=priority)))
        box = scu.engine.n_create(META, FILM_BOX, None, film_box_request(uid, "STANDARD\\1,1"))
        image_box = str(box.dataset.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)  # type: ignore
        scu.engine.n_set(META, uids.BASIC_GRAYSCALE_IMAGE_BOX, image_box, image_request(1))
        reply = scu.engine.n_action(META, FILM_BOX, box.affected_sop_instance_uid, 1, None)  # type: ignore[arg-type]
        jobs.append(str(reply.dataset[0x21000500].value[0].ReferencedSOPInstanceUID))  # type: ignore[index]
    other = Association(queue, printer, "OTHER").print(priority="HIGH", label="OTHER")
    printer.set_status(PrinterStatus.NORMAL)
    assert queue.wait_idle()
    done = [e.sop_instance_uid for e in scu.events if e.event_type_id == 3]
    assert done == jobs  # in the order asked for, whatever their priority
    assert overlapped == []  # and one after the other
    assert queue.job(other).execution_status is ExecutionStatus.DONE  # type: ignore[union-attr]


def test_pending_is_the_first_event_even_when_a_worker_takes_the_job_at_once(
    make_queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """found-from-outside 1: the PENDING event went out as PRINTING when a worker took the job before
    submit() reported it. The "queued" log line is held here until the job is PRINTING, which is the
    moment the old code reported the job's (by then PRINTING) status."""
    queue, printer = make_queue(threads=True)

    class HoldQueuedLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("print job") and "queued" in record.getMessage():
                uid = record.getMessage().split()[2]
                wait_until(lambda: queue.job(uid).execution_status is not ExecutionStatus.PENDING, 10, "PRINTING")  # type: ignore[union-attr]

    caplog.set_level(logging.INFO, logger="printscp.jobs")
    hold = HoldQueuedLine()
    logging.getLogger("printscp.jobs").addHandler(hold)
    try:
        scu = Association(queue, printer)
        job = scu.print()
        assert queue.wait_idle()
    finally:
        logging.getLogger("printscp.jobs").removeHandler(hold)
    assert [event for event, _ in statuses(scu.events, job)] == [1, 2, 3]


def test_a_job_that_keeps_killing_its_worker_fails_and_the_next_prints(
    make_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, printer = make_queue(threads=True)
    real = printscp.jobs.print_spooled
    attempts: list[str] = []

    def dies_on_poison(task: PrintTask) -> Any:
        if load_spooled(task.spool_folder).request.film_session_label == "POISON":
            attempts.append(task.job_uid)
            raise BrokenProcessPool("the worker died")
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", dies_on_poison)
    scu = Association(queue, printer)
    poison, good = scu.print(label="POISON"), scu.print(label="GOOD")
    assert queue.wait_idle()
    assert len(attempts) == printscp.jobs.CRASH_ATTEMPTS
    assert statuses(scu.events, poison)[-1] == (4, "INSUFFIC MEMORY")
    assert statuses(scu.events, good)[-1] == (3, "NORMAL")
    assert [p.name for p in queue.spool.failed.iterdir()] == [poison]


def test_a_job_whose_worker_died_is_printed_again_without_ocr(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tesseract runs inside the render worker: if reading a film's text is what killed it, the film must
    still print. The first attempt (OCR on) dies; the second is given the identity settings with OCR off."""
    queue, printer = make_queue(threads=True, sections={"identity": IdentityConfig(ocr=True)})
    real = printscp.jobs.print_spooled
    ocr_on: list[bool] = []

    def dies_reading_text(task: PrintTask) -> Any:
        assert task.identity is not None
        ocr_on.append(task.identity.config.ocr)
        if task.identity.config.ocr:
            raise BrokenProcessPool("the worker died")
        return real(task)

    monkeypatch.setattr(printscp.jobs, "print_spooled", dies_reading_text)
    scu = Association(queue, printer)
    job = scu.print()
    assert queue.wait_idle()
    assert ocr_on == [True, False]
    assert statuses(scu.events, job)[-1] == (3, "NORMAL")


def _render_workers() -> list[int]:
    """Process ids of the render workers: the children of the forkserver process."""
    server = multiprocessing.forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]  # noqa: SLF001
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server:
            found.append(int(stat.parent.name))
    return found


def test_killed_render_workers_are_replaced_and_no_job_is_lost(
    make_queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    queue, printer = make_queue()  # real worker processes
    scu = Association(queue, printer)
    first = scu.print()
    assert queue.wait_idle()
    # the worker's own log line reaches the server's log (relayed by a listener thread: it may come just after)
    wait_until(
        lambda: any(r.name == "printscp.archive.store" and first in r.getMessage() for r in caplog.records),
        10,
        "the render worker's log line in the server's log",
    )
    workers = _render_workers()
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not set(workers) & set(_render_workers()), 10, "the workers gone")
    second = scu.print()
    assert queue.wait_idle(60)
    assert statuses(scu.events, second)[-1] == (3, "NORMAL")
    assert sorted(j.manifest["print_job_uid"] for j in queue.archive.jobs()) == sorted([first, second])


def test_render_workers_yield_the_cpu_to_the_associations(make_queue: Any) -> None:
    """Under load the server's associations come first: a film is acknowledged once spooled, so rendering
    (and its OCR) runs at a lower priority (issue 12: 8 clients at once, 4.9 -> 5.6 acknowledged films/s)."""
    queue, _ = make_queue()  # real worker processes (each sets its priority when it starts)
    lower = min(19, os.getpriority(os.PRIO_PROCESS, 0) + RENDER_NICENESS)

    def priorities() -> set[int]:
        return {os.getpriority(os.PRIO_PROCESS, pid) for pid in _render_workers()}

    wait_until(lambda: priorities() == {lower}, 10, f"every render worker at niceness {lower}")


def test_a_kill_while_a_printed_job_is_deleted_leaves_no_half_job(
    make_queue: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CI once found a printed job in failed/ after kill -9: the kill had come while its spool folder was being
    # deleted, and the next start could not read what was left in jobs/
    queue, printer = make_queue()
    printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # WAIT: the job stays in the spool
    scu = Association(queue, printer)
    session = scu.engine.n_create(META, SESSION, None, wire(dataset())).affected_sop_instance_uid
    box = scu.engine.n_create(META, FILM_BOX, None, wire(film_box_request(session, "STANDARD\\1,1")))
    image = str(box.dataset.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)  # type: ignore[union-attr]
    pixels = np.zeros((16, 16), np.uint16)
    scu.engine.n_set(META, uids.BASIC_GRAYSCALE_IMAGE_BOX, image, image_request(1, pixels))
    scu.engine.n_action(META, FILM_BOX, box.affected_sop_instance_uid, 1, None)  # type: ignore[arg-type]
    spool = Spool(tmp_path / "films")
    (spooled,) = spool.pending()

    def killed_midway(path: Path, ignore_errors: bool = False) -> None:
        (Path(path) / "job.json").unlink()  # the first file went, then the process died
        raise KeyboardInterrupt

    monkeypatch.setattr(printscp.spool.shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        spool.remove(spooled.job_uid)
    monkeypatch.undo()
    after = Spool(tmp_path / "films")  # the next start
    assert after.pending() == []
    assert list(after.failed.iterdir()) == [] and list(after.jobs.iterdir()) == []
