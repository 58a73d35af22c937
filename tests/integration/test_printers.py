"""Several printers on one port: the Called AE Title picks the printer, over real associations."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import BUNDLED_CONFIG, RunningServer
from printscu import META, PrintSCU
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event
from waiting import wait_until

from printscp import cli, uids
from printscp.archive.film_index import FilmFilter
from printscp.archive.store import FilmArchive
from printscp.config import FaultConfig, PrinterConfig, load_config
from printscp.model.enums import ExecutionStatus, PrinterStatus

SECOND = "SECOND"
PRINT_CONTEXTS = (META, uids.PRINT_JOB, uids.PRINTER, uids.PRESENTATION_LUT)


def acknowledge(event: Event) -> tuple[int, None]:
    return 0, None  # Print Job and Printer events, read by other tests


ACKNOWLEDGE = [(evt.EVT_N_EVENT_REPORT, acknowledge)]


def second_printer(**faults: Any) -> PrinterConfig:
    """A printer unlike the bundled one: 8x10 in film only, no Presentation LUT, its own name."""
    bundled = load_config(BUNDLED_CONFIG).printer
    profile = dataclasses.replace(
        bundled,
        name="SECOND PRINTER",
        manufacturer_model_name="Second Model",
        film_size_ids=("8INX10IN",),
        supports_presentation_lut=False,
        defaults=dataclasses.replace(bundled.defaults, film_size_id="8INX10IN"),
    )
    return PrinterConfig(SECOND, profile, FaultConfig(**faults))


def start_two(start_server: Callable[..., RunningServer], required: bool = True, **faults: Any) -> RunningServer:
    network = dataclasses.replace(load_config(BUNDLED_CONFIG).network, require_called_ae_title=required)
    return start_server(sections={"network": network, "printers": {SECOND: second_printer(**faults)}})


def print_one(scu: PrintSCU, value: int = 1000) -> str:
    """One 1x1 film; returns its Print Job SOP Instance UID (the PRINT_JOB context must be accepted)."""
    session = scu.film_session()
    box, images, _ = scu.film_box(session)
    assert scu.set_image(images[0], 1, np.full((64, 64), value, dtype=np.uint16)).status == 0
    response = scu.n_action(uids.BASIC_FILM_BOX, box)
    assert response.status == 0, (hex(response.status), response.comment)
    assert response.dataset is not None
    (item,) = response.dataset[0x21000500].value  # Referenced Print Job Sequence (PS3.4 Table H.4-3)
    assert scu.n_delete(uids.BASIC_FILM_SESSION, session).status == 0  # one Film Session at a time
    return str(item.ReferencedSOPInstanceUID)


def printers_of(running: RunningServer) -> dict[str, str]:
    """Print Job UID -> the printer the archive index records for it."""
    assert running.server.queue.wait_idle(60)
    films = FilmArchive(running.archive).index.find_films(FilmFilter())
    return {film["job_uid"]: film["printer"] for film in films}


def test_the_called_ae_title_selects_the_printer(start_server: Callable[..., RunningServer]) -> None:
    running = start_two(start_server)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, called=SECOND, handlers=ACKNOWLEDGE) as scu:
        # the A-ASSOCIATE-AC answers as the printer called, which offers no Presentation LUT context
        assert scu.assoc.acceptor.primitive.called_ae_title == SECOND
        rejected = {str(cx.abstract_syntax) for cx in scu.assoc.rejected_contexts}
        assert rejected == {uids.PRESENTATION_LUT}
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None
        assert (printer.PrinterName, printer.ManufacturerModelName) == ("SECOND PRINTER", "Second Model")
        session = scu.film_session()
        ds = Dataset()
        ds.ImageDisplayFormat = "STANDARD\\1,1"
        ds.FilmSizeID = "14INX17IN"  # the bundled printer's, not this one's
        ds.ReferencedFilmSessionSequence = [_reference(uids.BASIC_FILM_SESSION, session)]
        assert scu.n_create(uids.BASIC_FILM_BOX, ds).status == 0x0116
        scu.n_delete(uids.BASIC_FILM_SESSION, session)
        second_job = print_one(scu)
    with PrintSCU(
        running.address, contexts=PRINT_CONTEXTS, handlers=ACKNOWLEDGE
    ) as scu:  # PRINTSCP, the default printer
        assert scu.assoc.acceptor.primitive.called_ae_title == "PRINTSCP"
        assert not scu.assoc.rejected_contexts
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None and printer.PrinterName == load_config(BUNDLED_CONFIG).printer.name
        first_job = print_one(scu)
    assert printers_of(running) == {second_job: SECOND, first_job: "PRINTSCP"}
    only = FilmArchive(running.archive).index.find_films(FilmFilter(printer=SECOND))
    assert [film["job_uid"] for film in only] == [second_job]
    assert only[0]["film_size_id"] == "8INX10IN"  # printed with its printer's default film size


def test_films_list_filters_by_printer(start_server: Callable[..., RunningServer], capsys: Any) -> None:
    running = start_two(start_server)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, called=SECOND, handlers=ACKNOWLEDGE) as scu:
        second_job = print_one(scu)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, handlers=ACKNOWLEDGE) as scu:
        first_job = print_one(scu)
    printers_of(running)
    archive = ["--config", str(BUNDLED_CONFIG), "--archive", str(running.archive)]
    assert cli.main(["films", "list", "--printer", SECOND, *archive]) == 0
    listed = capsys.readouterr().out
    assert second_job in listed and first_job not in listed and SECOND in listed


def test_an_unknown_called_ae_title_is_rejected_when_required(
    start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    running = start_two(start_server, required=True)
    ae = AE("TESTSCU")
    ae.add_requested_context(META)
    with caplog.at_level(logging.WARNING, logger="printscp"):
        assoc = ae.associate(*running.address, ae_title="NO_SUCH_PRINTER")
        assert assoc.is_rejected
        rejection = assoc.acceptor.primitive
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (1, 1, 7)
        wait_until(lambda: "association rejected" in caplog.text, 10, "the rejection logged")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "printscp.net.association_log"]
    assert "NO_SUCH_PRINTER" in line and "called-AE-title-not-recognized" in line


def test_an_unknown_called_ae_title_prints_on_the_default_printer_unless_required(
    start_server: Callable[..., RunningServer],
) -> None:
    running = start_two(start_server, required=False)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, called="ANY_TITLE", handlers=ACKNOWLEDGE) as scu:
        job = print_one(scu)
    assert printers_of(running) == {job: "PRINTSCP"}
    (film,) = FilmArchive(running.archive).index.find_films(FilmFilter())
    assert film["called_ae_title"] == "ANY_TITLE"


@dataclasses.dataclass
class Events:
    reports: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)  # (class, type, info)
    arrived: threading.Event = dataclasses.field(default_factory=threading.Event)

    def handler(self, event: Event) -> tuple[int, None]:
        request: Any = event.request
        info = event.event_information if request.EventInformation.getvalue() else None
        status_info = str(info.get("PrinterStatusInfo", "")) if info is not None else ""
        self.reports.append((str(request.AffectedSOPClassUID), int(request.EventTypeID), status_info))
        self.arrived.set()
        return 0, None


def test_printer_events_reach_only_the_associations_of_that_printer(
    start_server: Callable[..., RunningServer],
) -> None:
    running = start_two(start_server)
    first, second = Events(), Events()
    with (
        PrintSCU(running.address, contexts=PRINT_CONTEXTS, handlers=[(evt.EVT_N_EVENT_REPORT, first.handler)]),
        PrintSCU(
            running.address,
            contexts=PRINT_CONTEXTS,
            called=SECOND,
            handlers=[(evt.EVT_N_EVENT_REPORT, second.handler)],
        ),
    ):
        running.server.printers[SECOND].set_status(PrinterStatus.FAILURE, "FILM JAM")
        assert second.arrived.wait(10)
        # a change of the default printer after it: the first association's first event must be that one
        running.server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
        assert first.arrived.wait(10)
    assert second.reports == [(uids.PRINTER, 3, "FILM JAM")]
    assert first.reports == [(uids.PRINTER, 2, "SUPPLY LOW")]


def test_a_failed_printer_holds_only_its_own_jobs(start_server: Callable[..., RunningServer]) -> None:
    running = start_two(start_server)
    running.server.printers[SECOND].set_status(PrinterStatus.FAILURE, "PRINTER DOWN")
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, called=SECOND, handlers=ACKNOWLEDGE) as scu:
        held = print_one(scu)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, handlers=ACKNOWLEDGE) as scu:
        printed = print_one(scu)
    queue = running.server.queue
    wait_until(
        lambda: (job := queue.job(printed)) is not None and job.execution_status is ExecutionStatus.DONE,
        30,
        "the default printer's job printed",
    )
    job = queue.job(held)
    assert job is not None and job.execution_status is ExecutionStatus.PENDING
    assert queue.depth_of(SECOND) == 1 and queue.depth_of("PRINTSCP") == 0
    running.server.printers[SECOND].set_status(PrinterStatus.NORMAL)
    assert printers_of(running) == {held: SECOND, printed: "PRINTSCP"}


def test_each_printer_has_its_own_faults(start_server: Callable[..., RunningServer]) -> None:
    """[printers.AE.faults]: SECOND jams every job, the default printer prints."""
    running = start_two(start_server, fail_every=1)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, called=SECOND, handlers=ACKNOWLEDGE) as scu:
        jammed = print_one(scu)
    with PrintSCU(running.address, contexts=PRINT_CONTEXTS, handlers=ACKNOWLEDGE) as scu:
        printed = print_one(scu)
    assert printers_of(running) == {printed: "PRINTSCP"}
    job = running.server.queue.job(jammed)
    assert job is not None and (job.execution_status, job.execution_status_info) == (
        ExecutionStatus.FAILURE,
        "FILM JAM",
    )


def test_two_modalities_print_at_once_to_two_printers(start_server: Callable[..., RunningServer]) -> None:
    running = start_two(start_server)
    together = threading.Barrier(2, timeout=30)
    jobs: dict[str, list[str]] = {"PRINTSCP": [], SECOND: []}

    def modality(called: str, value: int) -> None:
        with PrintSCU(
            running.address, contexts=PRINT_CONTEXTS, calling=f"MOD_{called}"[:16], called=called, handlers=ACKNOWLEDGE
        ) as scu:
            for _ in range(3):
                together.wait()  # both associations are in the middle of a film at the same time
                jobs[called].append(print_one(scu, value))

    threads = [
        threading.Thread(target=modality, args=(called, value)) for called, value in (("PRINTSCP", 500), (SECOND, 3000))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(len(uids_) == 3 for uids_ in jobs.values()), jobs
    recorded = printers_of(running)
    assert recorded == {uid: printer for printer, uids_ in jobs.items() for uid in uids_}
    for stored in running.jobs():  # each film's record, in the archive's manifest, names its printer
        assert stored.request.printer_ae_title == recorded[stored.manifest["print_job_uid"]]
        assert stored.request.calling_ae_title == f"MOD_{stored.request.printer_ae_title}"[:16]


def _reference(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item
