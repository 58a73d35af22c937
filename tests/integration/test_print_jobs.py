"""Print jobs, printer status and N-EVENT-REPORT over real associations."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RunningServer
from printscu import META, PrintSCU
from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.events import Event
from waiting import wait_until

import printscp.jobs
from printscp import uids
from printscp.admin import send
from printscp.archive.store import StoredJob
from printscp.config import FaultConfig, QueueConfig
from printscp.model.enums import PrinterStatus
from printscp.printing import PrintTask

FILM_BOX, SESSION = uids.BASIC_FILM_BOX, uids.BASIC_FILM_SESSION
PRINT_CONTEXTS = (META, uids.PRINT_JOB, uids.PRINTER)


@dataclass
class Received:
    """Event reports an SCU received: (time, SOP class, instance, event type, information)."""

    reports: list[tuple[float, str, str, int, Dataset | None]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)  # the thread that served each report
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, event: Event) -> tuple[int, None]:
        request: Any = event.request
        information = event.event_information if request.EventInformation.getvalue() else None
        with self.lock:
            self.threads.append(threading.current_thread())
            self.reports.append(
                (
                    time.monotonic(),
                    str(request.AffectedSOPClassUID),
                    str(request.AffectedSOPInstanceUID),
                    int(request.EventTypeID),
                    information,
                )
            )
        return 0x0000, None

    def of(self, sop_class_uid: str, instance: str | None = None) -> list[tuple[float, str, str, int, Dataset | None]]:
        with self.lock:
            return [r for r in self.reports if r[1] == sop_class_uid and (instance is None or r[2] == instance)]


def scu_with_events(running: RunningServer, received: Received, calling: str = "EVENTS") -> PrintSCU:
    return PrintSCU(
        running.address, contexts=PRINT_CONTEXTS, calling=calling, handlers=[(evt.EVT_N_EVENT_REPORT, received.handler)]
    )


def print_one(scu: PrintSCU, label: str = "JOB") -> str:
    session = scu.film_session(FilmSessionLabel=label)
    box, boxes, _ = scu.film_box(session)
    scu.set_image(boxes[0], 1, np.full((64, 64), 2000, dtype=np.uint16))
    action = scu.n_action(FILM_BOX, box)
    assert action.status == 0 and action.dataset is not None
    (item,) = action.dataset[0x21000500].value  # Referenced Print Job Sequence, PS3.4 Table H.4-8
    assert item.ReferencedSOPClassUID == uids.PRINT_JOB
    return str(item.ReferencedSOPInstanceUID)


def test_print_job_events_arrive_in_order_at_the_moments_of_the_work(
    start_server: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the print cannot finish until the test has seen Pending and Printing: the renderer waits for this
    rendering_allowed = threading.Event()
    real = printscp.jobs.print_spooled

    def held_print(task: PrintTask) -> StoredJob:
        assert rendering_allowed.wait(30), "the test never let the print finish"
        return real(task)

    # render in threads of this process, where the test can hold the print
    monkeypatch.setattr(printscp.jobs, "render_pool", lambda config: ThreadPoolExecutor(2))
    monkeypatch.setattr(printscp.jobs, "print_spooled", held_print)
    running = start_server(faults=FaultConfig(print_delay=0.5))
    received = Received()
    with scu_with_events(running, received) as scu:
        job = print_one(scu, "EVENT TEST")
        # Pending (sent when the job was queued) and Printing arrive while the print is held unfinished...
        wait_until(lambda: len(received.of(uids.PRINT_JOB, job)) >= 2, 15, "Pending and Printing")
        during = scu.n_get(uids.PRINT_JOB, job)
        assert during.status == 0 and during.dataset is not None
        assert (during.dataset.ExecutionStatus, during.dataset.ExecutionStatusInfo) == ("PRINTING", "NORMAL")
        assert len(received.of(uids.PRINT_JOB, job)) == 2  # ...and Done not before the print is done
        rendering_allowed.set()
        wait_until(lambda: len(received.of(uids.PRINT_JOB, job)) == 3, 15, "Done")
    events = received.of(uids.PRINT_JOB, job)
    assert [e[3] for e in events] == [1, 2, 3]  # Pending, Printing, Done
    assert [str(e[4].ExecutionStatusInfo) for e in events] == ["QUEUED", "NORMAL", "NORMAL"]  # type: ignore
    assert {str(e[4].FilmSessionLabel) for e in events} == {"EVENT TEST"}  # type: ignore[union-attr]
    assert {str(e[4].PrinterName) for e in events} == {"printscp"}  # type: ignore[union-attr]
    _, printing, done = (e[0] for e in events)
    assert done - printing > 0.45  # Done only after the print took its time (print_delay), not in a burst
    # the job outlives its association: another SCU reads it
    with PrintSCU(running.address, contexts=(uids.PRINT_JOB,), calling="LATER") as later:
        after = later.n_get(uids.PRINT_JOB, job)
        assert after.status == 0 and after.dataset is not None
        assert (after.dataset.ExecutionStatus, after.dataset.Originator, after.dataset.PrinterName) == (
            "DONE",
            "EVENTS",
            "printscp",
        )
        assert later.n_get(uids.PRINT_JOB, "1.2.3.4.5").status == 0x0112


def test_no_print_job_events_without_the_print_job_context(running: RunningServer) -> None:
    received = Received()
    with PrintSCU(running.address, contexts=(META,), handlers=[(evt.EVT_N_EVENT_REPORT, received.handler)]) as scu:
        session = scu.film_session()
        box, boxes, _ = scu.film_box(session)
        scu.set_image(boxes[0], 1, np.zeros((8, 8), dtype=np.uint16))
        action = scu.n_action(FILM_BOX, box)
        assert action.status == 0 and action.command.CommandDataSetType == 0x0101  # no Action Reply either
        assert running.server.queue.wait_idle()
    assert received.reports == []


def test_a_printer_status_change_reaches_every_association(running: RunningServer) -> None:
    first, second = Received(), Received()
    with scu_with_events(running, first, "FIRST") as a, scu_with_events(running, second, "SECOND") as b:
        assert a.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
        assert b.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
        running.server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
        running.server.printer.set_status(PrinterStatus.NORMAL)
        wait_until(lambda: len(first.of(uids.PRINTER)) == 2 and len(second.of(uids.PRINTER)) == 2, 15, "both reports")
        printer = a.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None and printer.PrinterStatus == "NORMAL"
    for received in (first, second):
        (warning, normal) = received.of(uids.PRINTER)
        assert (warning[2], warning[3], normal[3]) == (uids.PRINTER_INSTANCE, 2, 1)  # Warning, then Normal
        assert str(warning[4].PrinterStatusInfo) == "SUPPLY LOW" and normal[4] is None  # type: ignore[union-attr]


def test_an_scu_associating_while_the_printer_fails_is_told(running: RunningServer) -> None:
    running.server.printer.set_status(PrinterStatus.FAILURE, "FILM JAM")
    received = Received()
    with scu_with_events(running, received) as scu:
        wait_until(lambda: len(received.of(uids.PRINTER)) == 1, 15, "the report")
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset.PrinterStatusInfo == "FILM JAM"  # type: ignore
    ((_, _, _, event_type, information),) = received.of(uids.PRINTER)
    assert event_type == 3 and str(information.PrinterStatusInfo) == "FILM JAM"  # type: ignore[union-attr]


def test_events_never_race_the_scus_requests(running: RunningServer) -> None:
    """Events fire from another thread while the SCU hammers requests on the same association."""
    received = Received()
    rounds, requests = 200, 0
    with scu_with_events(running, received, "HAMMER") as scu:
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
        (server_side,) = running.server.associations
        stop = threading.Event()

        def fire() -> None:
            for i in range(rounds):
                status = PrinterStatus.WARNING if i % 2 == 0 else PrinterStatus.NORMAL
                running.server.printer.set_status(status, "SUPPLY LOW" if i % 2 == 0 else None)
                time.sleep(0.002)  # test input, not a readiness wait: spreads the events among the requests
            stop.set()

        firing = threading.Thread(target=fire)
        firing.start()
        while not stop.is_set() or len(received.of(uids.PRINTER)) < rounds:
            response = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010])
            assert response.status == 0 and response.dataset is not None  # never misrouted
            requests += 1
            assert requests < 50000
        firing.join()
        assert scu.assoc.is_established and not scu.assoc.is_aborted
    events = received.of(uids.PRINTER)
    assert [e[3] for e in events] == [2, 1] * (rounds // 2)  # none lost, none out of order
    assert server_side.events_sent == rounds
    # each went out while the SCU waited for the response to one of its requests (net/notify.py)
    assert server_side.events_sent_idle == 0, (requests, server_side.events_sent_idle)
    assert all(r.Status == 0 for r in scu.responses)


def test_a_request_that_comes_while_an_event_waits_for_its_response_is_served_after_it(
    running: RunningServer,
) -> None:
    """An idle SCU gets its events unasked; a request it sends before answering one is held, then served."""
    answering = threading.Event()
    received = Received()

    def slow_handler(event: Event) -> tuple[int, None]:
        assert answering.wait(15), "the test never let the event be answered"
        return received.handler(event)

    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, handlers=[(evt.EVT_N_EVENT_REPORT, slow_handler)]) as scu:
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
        (server_side,) = running.server.associations
        running.server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
        wait_until(lambda: server_side.events_sent == 1, 15, "the event sent to the quiet SCU")

        def answer_once_held() -> None:
            deadline = time.monotonic() + 15
            while server_side.requests_held == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            answering.set()

        answerer = threading.Thread(target=answer_once_held)
        answerer.start()
        response = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)  # sent while the event waits for its answer
        answerer.join()
        assert response.status == 0 and response.dataset is not None
        assert response.dataset.PrinterStatus == "WARNING"
        assert (server_side.requests_held, server_side.events_sent_idle) == (1, 1)
        assert [e[3] for e in received.of(uids.PRINTER)] == [2]
        assert scu.assoc.is_established


STOCK_SCU = Path(__file__).parents[1] / "stock_scu.py"


@dataclass
class DimseTrace:
    """For each association, how many of the SCU's requests were unanswered when each event report went out."""

    outstanding: dict[Any, set[int]] = field(default_factory=dict)
    at_events: dict[Any, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, event: Event) -> None:
        command = event.message.command_set  # type: ignore[attr-defined]
        with self.lock:
            if "MessageIDBeingRespondedTo" not in command:  # a request of the SCU
                self.outstanding.setdefault(event.assoc, set()).add(int(command.MessageID))

    def sent(self, event: Event) -> None:
        command = event.message.command_set  # type: ignore[attr-defined]
        with self.lock:
            outstanding = self.outstanding.setdefault(event.assoc, set())
            if "MessageIDBeingRespondedTo" in command:
                outstanding.discard(int(command.MessageIDBeingRespondedTo))
            elif command.CommandField == 0x0100:  # N-EVENT-REPORT-RQ
                self.at_events.setdefault(event.assoc, []).append(len(outstanding))


def test_a_stock_pynetdicom_scu_polling_its_print_job_gets_events_only_while_it_waits(
    start_server: Callable[..., RunningServer],
) -> None:
    """found-from-outside item 2: SCUs on pynetdicom as installed (not patched by net/compat.py) poll N-GET on
    their Print Jobs while the job's events arrive. pynetdicom 3.0.4 cannot take an event report that comes
    as it starts a request or releases (net/notify.py): its association hung or aborted about one run in
    eight under load. The server sends each event while the SCU waits for a response, so none can come then."""
    running = start_server(faults=FaultConfig(print_delay=0.2))
    trace = DimseTrace()
    server = running.server._server
    assert server is not None
    server.bind(evt.EVT_DIMSE_RECV, trace.received)
    server.bind(evt.EVT_DIMSE_SENT, trace.sent)
    command = [sys.executable, str(STOCK_SCU), str(running.port), "--films", "2", "--timeout", "20"]
    scus = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        # before the fix, one SCU in a few waited here for ever: its send_* and its reactor each waited for
        # the other (net/notify.py)
        results = [json.loads(scu.communicate(timeout=60)[0]) for scu in scus]
    finally:
        for scu in scus:
            scu.kill()
            scu.wait()
    for result in results:
        assert result["error"] is None and result["released"] and not result["aborted"], result
        assert [statuses[-1] for statuses in result["statuses"]] == ["DONE", "DONE"], result
    with trace.lock:
        at_events = list(trace.at_events.values())
    assert len(at_events) == 3
    # every event report went out while that SCU waited for the response to one of its requests
    assert all(outstanding == 1 for counts in at_events for outstanding in counts), at_events
    assert sorted(len(counts) for counts in at_events) == sorted(len(result["events"]) for result in results)


def test_a_requestor_gets_the_responses_its_reactor_takes(running: RunningServer) -> None:
    """pynetdicom's requestor lets its reactor take a response (net/compat.py, item 4); the test SCUs
    and printscp's forwarder are requestors. Widening the window between the reactor's checkpoint
    wait and its `_is_paused = False` makes that race happen in every run, not 1 CI run in many."""
    with PrintSCU(running.address) as scu:
        checkpoint = scu.assoc._reactor_checkpoint
        wait = checkpoint.wait

        def slow_wait(timeout: float | None = None) -> bool:
            result = wait(timeout)
            if threading.current_thread() is scu.assoc:
                time.sleep(0.005)  # test input, not a readiness wait: the widened race window
            return result

        checkpoint.wait = slow_wait  # type: ignore[method-assign]
        scu.assoc.dimse_timeout = 5
        for _ in range(100):
            assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010]).status == 0
        assert scu.assoc.is_established


def test_an_event_report_leaves_a_parked_requestor_reactor_parked(running: RunningServer) -> None:
    """pynetdicom serves an event report in a thread of its own whose _serve_request ends with
    `_is_paused = False`; landing while a send_* has parked the reactor, that made the next send_*
    wait for ever (net/compat.py, item 5). Park the reactor as send_n_get does and let an event come."""
    received = Received()
    with scu_with_events(running, received) as scu:
        assoc = scu.assoc
        assoc._reactor_checkpoint.clear()
        wait_until(lambda: assoc._is_paused, 15, "the reactor parked")
        running.server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
        wait_until(lambda: len(received.of(uids.PRINTER)) == 1, 15, "the event report")
        (server_side,) = running.server.associations
        (event_thread,) = received.threads
        event_thread.join(15)  # the event thread has returned from the handler and ended
        assert not event_thread.is_alive()
        still_paused = assoc._is_paused
        assoc._reactor_checkpoint.set()
        assert still_paused
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset.PrinterStatus == "WARNING"  # type: ignore
        assert server_side.events_sent == 1


def in_accept(thread: threading.Thread) -> bool:
    """Whether `thread` is blocked in socket.accept() (its innermost Python frame)."""
    frame = sys._current_frames().get(thread.ident or 0)
    return frame is not None and frame.f_code.co_name == "accept" and frame.f_code.co_filename == socket.__file__


def test_a_stopped_server_closes_its_admin_channel(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()
    admin = running.server._admin
    assert admin is not None
    socket_path = json.loads(admin.path.read_text())["socket"]
    assert send(admin.path.parent, running.port, {"command": "status"})["printers"][0]["printer_status"] == "NORMAL"
    # its thread is back in accept(), where close() alone left it
    wait_until(lambda: in_accept(admin._thread), 15, "the admin thread back in accept()")
    running.server.stop()
    with pytest.raises(FileNotFoundError), socket.socket(socket.AF_UNIX) as client:  # the admin socket is gone
        client.connect(socket_path)
    assert not admin.path.exists()
    assert not admin._thread.is_alive()


def test_queue_full_statuses_over_the_network(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(queue=QueueConfig(size=1))
    running.server.printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # nothing leaves the queue
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        box, boxes, _ = scu.film_box(session)
        scu.set_image(boxes[0], 1, np.zeros((8, 8), dtype=np.uint16))
        assert scu.n_action(FILM_BOX, box).status == 0
        full = scu.n_action(FILM_BOX, box)
        assert full.status == 0xC602 and "queue is full" in full.comment
        assert scu.n_action(SESSION, session).status == 0xC601
    running.server.printer.set_status(PrinterStatus.NORMAL)
    assert len(running.jobs()) == 1


def test_printer_configuration_retrieval(running: RunningServer) -> None:
    with PrintSCU(running.address, contexts=(uids.PRINTER_CONFIGURATION_RETRIEVAL,)) as scu:
        response = scu.n_get(uids.PRINTER_CONFIGURATION_RETRIEVAL, uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE)
        assert response.status == 0 and response.dataset is not None
        (item,) = response.dataset.PrinterConfigurationSequence
        assert uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META in item.SOPClassesSupported
        assert (item.PrintingBitDepth, item.DefaultMagnificationType, item.DefaultPrinterResolutionID) == (
            8,
            "BILINEAR",
            "STANDARD",
        )
        first = item.MediaInstalledSequence[0]
        assert (first.ItemNumber, first.MediumType, first.FilmSizeID) == (1, "CLEAR FILM", "14INX17IN")
        formats = {
            (f.ImageDisplayFormat, f.FilmSizeID, f.PrinterResolutionID): f
            for f in item.SupportedImageDisplayFormatsSequence
        }
        standard = formats[("STANDARD\\1,1", "14INX17IN", "STANDARD")]
        assert (standard.Columns, standard.Rows) == (4200, 5100)  # 14 x 17 in at 300 dpi
        assert ("SLIDE", "14INX17IN", "HIGH") in formats
        assert item.DecimateCropResult == "DEF DECIMATE"
        wrong = scu.n_get(uids.PRINTER_CONFIGURATION_RETRIEVAL, "1.2.3")
        assert wrong.status == 0x0112


def test_an_scu_associating_with_a_failed_printer_is_served(
    start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    """The Printer's FAILURE event arrives right after the A-ASSOCIATE-AC, while the requestor is still taking
    in the AC's contexts: it used to abort its own association (compat `_accepted_context`), and its next
    request then waited for ever (1 new server in 3 with pynetdicom's DEBUG log on, rarely without)."""
    caplog.set_level(logging.DEBUG, logger="pynetdicom")  # test input: pynetdicom's PDU dumps widen the window

    def associate_and_create(address: tuple[str, int], outcome: list[int]) -> None:
        with PrintSCU(address) as scu:
            outcome.append(scu.n_create(SESSION).status)

    for attempt in range(20):
        running = start_server()
        running.server.printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")
        outcome: list[int] = []
        worker = threading.Thread(target=associate_and_create, args=(running.address, outcome), daemon=True)
        worker.start()
        worker.join(20)
        assert outcome == [0], f"server {attempt}: {'no response' if worker.is_alive() else outcome}"
        running.server.stop()
