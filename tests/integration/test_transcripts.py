"""Every association is recorded: real associations (pynetdicom and DCMTK's dcmprscu) against the real server,
judged from the transcript files and the archive's index."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dcmtk import DcmtkPrintClient, write_image
from printscu import PrintSCU, ramp
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from waiting import wait_until

from printscp import uids
from printscp.bench.store import TranscriptStore, TranscriptSummary
from printscp.bench.transcript import Direction, Outcome, Severity, Transcript, Verdict, find, walk
from printscp.config import TranscriptConfig

StartServer = Callable[..., Any]


def transcripts(server: Any, count: int = 1) -> list[TranscriptSummary]:
    """The server's indexed transcripts (newest first), once `count` associations have ended."""
    store: TranscriptStore = server.server.transcripts
    wait_until(lambda: len(store.list()) >= count, 10, f"{count} transcript(s) indexed")
    return store.list()


def only_transcript(server: Any) -> Transcript:
    rows = transcripts(server)
    assert len(rows) == 1, rows
    return server.server.transcripts.load(rows[0].association_id)


def print_one_film(scu: PrintSCU, pixels: np.ndarray, label: str = "TRANSCRIPT") -> None:
    session = scu.film_session(FilmSessionLabel=label)
    film_box, boxes, _ = scu.film_box(session)
    assert scu.set_image(boxes[0], 1, pixels).status == 0
    assert scu.n_action(uids.BASIC_FILM_BOX, film_box).status == 0
    assert scu.n_delete(uids.BASIC_FILM_SESSION, session).status == 0


def test_a_print_is_recorded_message_by_message(running: Any, caplog: pytest.LogCaptureFixture) -> None:
    pixels = ramp(64, 64)
    with PrintSCU(running.address) as scu:
        print_one_film(scu, pixels)
        # an N-GET naming several attributes (a multi-valued AT in the command set)
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010, 0x21100020]).status == 0
    transcript = only_transcript(running)
    assert not [r for r in caplog.records if r.name.startswith("printscp.bench") and r.levelno >= logging.WARNING]
    n_get = transcript.messages[-2]
    assert n_get.attribute_identifiers == ("(2110,0010)", "(2110,0020)")
    transcript = replace(transcript, messages=transcript.messages[:-2])

    association = transcript.association
    assert (association.calling_ae_title, association.called_ae_title, association.printer) == (
        "TESTSCU",
        "PRINTSCP",
        "PRINTSCP",
    )
    assert association.max_pdu_accepted == running.server.config.network.max_pdu
    assert association.implementation_class_uid  # pynetdicom's
    meta = [c for c in association.contexts if c.abstract_syntax == uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META]
    assert [c.result for c in meta] == ["accepted"]

    commands = [(m.direction, m.command, m.sop_class) for m in transcript.messages]
    requests = [
        ("N-CREATE", "Basic Film Session"),
        ("N-CREATE", "Basic Film Box"),
        ("N-SET", "Basic Grayscale Image Box"),
        ("N-ACTION", "Basic Film Box"),
        ("N-DELETE", "Basic Film Session"),
    ]
    expected = []
    for operation, sop_class in requests:
        expected.append((Direction.RECEIVED, f"{operation}-RQ", sop_class))
        expected.append((Direction.SENT, f"{operation}-RSP", sop_class))
    assert commands == expected
    assert [m.index for m in transcript.messages] == list(range(1, 11))
    assert all(m.status == 0 for m in transcript.messages if not m.is_request)
    assert all(m.elapsed_ms is not None and m.elapsed_ms >= 0 for m in transcript.messages if not m.is_request)
    # responses answer their requests
    for request, response in zip(transcript.messages[::2], transcript.messages[1::2], strict=True):
        assert response.responding_to == request.message_id

    # the data sets as sent; pixel data by length and hash only
    session_rq = transcript.messages[0]
    assert session_rq.data_set is not None
    label = find(session_rq.data_set, "FilmSessionLabel")
    assert label is not None and label.value == "TRANSCRIPT"
    image_rq = transcript.messages[4]
    assert image_rq.data_set is not None
    pixel_data = [e for e in walk(image_rq.data_set) if e.keyword == "PixelData"]
    sent = pixels.astype("<u2").tobytes()
    assert len(pixel_data) == 1
    assert (pixel_data[0].length, pixel_data[0].sha256) == (len(sent), hashlib.sha256(sent).hexdigest())
    rows = [e for e in walk(image_rq.data_set) if e.keyword == "Rows"]
    assert rows[0].value == 64

    assert transcript.outcome is Outcome.RELEASED
    summary = transcripts(running)[0]
    assert (summary.messages, summary.films, summary.outcome) == (12, 1, "released")
    assert summary.path.is_relative_to(running.archive / "transcripts")
    # the film it printed, found from the transcript
    running.jobs()
    films = running.server.transcripts.load(summary.association_id).films
    assert len(films) == 1 and (running.archive / films[0].png).is_file()


def test_failure_statuses_and_error_comments_are_recorded(running: Any) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        response = scu.n_create(uids.BASIC_FILM_BOX, None)  # no Image Display Format, no session reference
        assert response.status == 0x0120
        scu.n_delete(uids.BASIC_FILM_SESSION, session)
    transcript = only_transcript(running)
    answer = transcript.messages[3]
    assert (answer.command, answer.status) == ("N-CREATE-RSP", 0x0120)
    assert answer.error_comment == response.comment and answer.error_comment
    assert answer.offending_elements == tuple(f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in response.offending)


def test_an_abort_by_the_peer_and_a_rejection_are_recorded(running: Any) -> None:
    with PrintSCU(running.address) as scu:
        scu.film_session()
        scu.assoc.abort()
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(uids.VERIFICATION)
    assoc = ae.associate(running.host, running.port, ae_title="NOSUCHPRINTER")
    assert assoc.is_rejected
    rows = transcripts(running, 2)
    by_calling = {row.calling_ae_title: row for row in rows}
    assert by_calling["TESTSCU"].outcome == "aborted"
    rejected = running.server.transcripts.load(by_calling["STRANGER"].association_id)
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.association.rejection is not None and "called-AE-title-not-recognized" in (
        rejected.association.rejection
    )
    assert rejected.messages == ()


def test_a_transcript_cut_short_by_a_kill_is_indexed_at_the_next_start(
    start_server: StartServer, tmp_path: Path
) -> None:
    first = start_server()
    with PrintSCU(first.address) as scu:
        scu.film_session()
        # the association is still open: its file has the request and response, no end
        store: TranscriptStore = first.server.transcripts
        wait_until(lambda: len(list(store.folder.glob("*/*/*/*.jsonl"))) == 1, 10, "the transcript file")
        (file,) = store.folder.glob("*/*/*/*.jsonl")
        wait_until(lambda: '"command":"N-CREATE-RSP"' in file.read_text(encoding="utf-8"), 10, "the response line")
        assert '"record":"end"' not in file.read_text(encoding="utf-8")
    # as if killed: the index loses the row, the file stays
    row = transcripts(first)[0]
    first.server.archive.index.remove_transcript(row.association_id)
    first.server.stop()
    from printscp.archive.film_index import TranscriptFilter
    from printscp.net.server import PrintServer

    again = PrintServer(first.server.config)
    try:
        rows = again.transcripts.list(TranscriptFilter())
        assert [r.association_id for r in rows] == [row.association_id]
    finally:
        again.archive.index.close()
        again._archive_lock.release()


def test_keep_pixels_keeps_each_data_set_as_received(start_server: StartServer) -> None:
    server = start_server(sections={"transcripts": TranscriptConfig(keep_pixels=True)})
    pixels = ramp(32, 48)
    with PrintSCU(server.address) as scu:
        print_one_film(scu, pixels)
    transcript = only_transcript(server)
    image_rq = transcript.messages[4]
    assert image_rq.data_set_file is not None
    path = TranscriptStore.data_folder(transcripts(server)[0].path) / image_rq.data_set_file
    kept = dcmread(path)
    item = kept.BasicGrayscaleImageSequence[0]
    assert (item.Rows, item.Columns) == (32, 48)
    assert np.array_equal(np.frombuffer(item.PixelData, "<u2").reshape(32, 48), pixels)


def test_transcripts_off_records_nothing(start_server: StartServer) -> None:
    server = start_server(sections={"transcripts": TranscriptConfig(enabled=False)})
    with PrintSCU(server.address) as scu:
        print_one_film(scu, ramp(16, 16))
    server.jobs()  # the print went through
    assert server.server.transcripts.list() == []
    assert not (server.archive / "transcripts").exists()


@pytest.mark.dcmtk
def test_a_dcmprscu_job_is_recorded_exactly_as_dcmprscu_logged_it(running: Any, tmp_path: Path) -> None:
    image = write_image(tmp_path / "image.dcm", ramp(128, 128))
    log = DcmtkPrintClient(tmp_path, running.host, running.port).print([image, image], layout=(2, 1))
    assert log.printed, log.summary()
    transcript = only_transcript(running)
    ours = [
        (m.command.replace("-RQ", " RQ").replace("-RSP", " RSP"), m.sop_instance_uid, m.status)
        for m in transcript.messages
    ]
    # DCMTK names SOP classes its own way, and an absent instance UID "none"
    theirs = [(m.type, m.sop_instance.replace("none", ""), m.status) for m in log.messages]
    assert ours == theirs
    directions = [m.direction is Direction.RECEIVED for m in transcript.messages]
    assert directions == [m.direction == "OUTGOING" for m in log.messages]


@pytest.mark.dcmtk
def test_a_stock_dcmprscu_job_passes_on_the_strict_printer(running: Any, tmp_path: Path) -> None:
    image = write_image(tmp_path / "image.dcm", ramp(128, 128))
    assert DcmtkPrintClient(tmp_path, running.host, running.port).print([image]).printed
    transcript = only_transcript(running)
    assert (transcript.findings, transcript.verdict) == ((), Verdict.PASS)
    assert transcripts(running)[0].verdict == "pass"


def test_image_box_position_3_twice_is_a_finding_and_fails_the_association(running: Any) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        film_box, boxes, _ = scu.film_box(session, "STANDARD\\2,2")
        for uid, position in zip(boxes, (1, 2, 3, 3), strict=True):
            scu.set_image(uid, position, ramp(32, 32))
        scu.n_action(uids.BASIC_FILM_BOX, film_box)
        scu.n_delete(uids.BASIC_FILM_SESSION, session)
    transcript = only_transcript(running)
    fourth_set = [m for m in transcript.messages if m.command == "N-SET-RQ"][3]
    about_it = [f for f in transcript.findings if f.message_index == fourth_set.index and f.tag == "(2020,0010)"]
    assert about_it and about_it[0].severity is Severity.ERROR
    assert about_it[0].keyword == "ImageBoxPosition" and about_it[0].reference.startswith("PS3.4")
    assert transcript.verdict is Verdict.FAIL
    assert transcripts(running)[0].verdict == "fail"


def test_a_film_box_attribute_in_the_film_session_is_an_error_on_strict_and_a_warning_where_admitted(
    running: Any,
) -> None:
    verdicts = {}
    for called in ("PRINTSCP", "AGFA_DRYSTAR"):
        with PrintSCU(running.address, called=called, calling=f"SCU_{called[:8]}") as scu:
            attributes = Dataset()
            attributes.Illumination = 2000  # a Film Box (presentation) attribute: pre-CP-173 SCUs send it
            scu.n_create(uids.BASIC_FILM_SESSION, attributes)
        (row,) = [r for r in transcripts(running, len(verdicts) + 1) if r.called_ae_title == called]
        transcript = running.server.transcripts.load(row.association_id)
        (finding,) = [f for f in transcript.findings if f.tag == "(2010,015E)"]
        assert finding.message_index == 1 and finding.keyword == "Illumination"
        verdicts[called] = (finding.severity, transcript.verdict)
    assert verdicts == {
        "PRINTSCP": (Severity.ERROR, Verdict.FAIL),
        "AGFA_DRYSTAR": (Severity.WARNING, Verdict.PASS_WITH_WARNINGS),
    }


def test_an_abort_instead_of_a_release_is_a_warning(running: Any) -> None:
    with PrintSCU(running.address) as scu:
        scu.film_session()
        scu.assoc.abort()
    transcript = only_transcript(running)
    assert [(f.severity, f.message_index) for f in transcript.findings] == [(Severity.WARNING, 0)]
    assert "PS3.8" in transcript.findings[0].reference
    assert transcript.verdict is Verdict.PASS_WITH_WARNINGS
