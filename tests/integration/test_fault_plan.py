"""The fault plan over real associations: rules added with `printscp fault add` (through the admin channel of a
running server) or read from config.toml change how the Nth matching request is answered."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BUNDLED_CONFIG, REPO, RunningServer
from printscu import META, PrintSCU, image_item
from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.events import Event
from waiting import wait_until

from printscp import cli, uids
from printscp.bench.transcript import Outcome, Transcript
from printscp.config import load_config
from printscp.model.enums import PrinterStatus

FILM_BOX, SESSION, IMAGE_BOX = uids.BASIC_FILM_BOX, uids.BASIC_FILM_SESSION, uids.BASIC_GRAYSCALE_IMAGE_BOX


def fault(running: RunningServer, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`printscp fault ...` against the running server (in this process, through its admin socket)."""
    code = cli.main(
        [
            "fault",
            *args,
            "--config",
            str(BUNDLED_CONFIG),
            "--port",
            str(running.port),
            "--archive",
            str(running.archive),
        ]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def prepare_film(scu: PrintSCU) -> tuple[str, str]:
    """A Film Session and a 1x1 Film Box with its image set; (session, film box)."""
    session = scu.film_session(FilmSessionLabel="FAULTS")
    box, images, _ = scu.film_box(session)
    assert scu.set_image(images[0], 1, np.full((32, 32), 1500, dtype=np.uint16)).status == 0
    return session, box


def transcripts(running: RunningServer, count: int = 1) -> list[Transcript]:
    """The transcripts of the first `count` associations, oldest first, once they have ended and been indexed."""
    store = running.server.transcripts
    wait_until(lambda: len(store.list()) >= count, 15, f"{count} transcript(s) indexed")
    rows = sorted(store.list(), key=lambda row: row.started)
    assert len(rows) == count, rows
    return [store.load(row.association_id) for row in rows]


def transcript(running: RunningServer) -> Transcript:
    (only,) = transcripts(running)
    return only


def test_a_status_fault_answers_the_next_n_action_and_queues_nothing(
    running: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = fault(running, capsys, "add", "--on", "N-ACTION", "--sop-class", "FilmBox", "--status", "0xC602")
    assert code == 0, out
    assert out.strip() == "added #1 N-ACTION FilmBox on any printer: status 0xC602 (count 1, after 0) fired 0/1"
    with PrintSCU(running.address) as scu:
        session, box = prepare_film(scu)
        failed = scu.n_action(FILM_BOX, box)
        assert (failed.status, failed.comment) == (0xC602, "fault plan rule #1")
        assert failed.dataset is None
        assert running.server.queue.wait_idle(30)
        assert running.jobs() == []  # nothing queued, nothing printed
        # the rule is spent: the same N-ACTION again prints, the engine's state untouched by the fault
        assert scu.n_action(FILM_BOX, box).status == 0
        assert scu.n_delete(SESSION, session).status == 0
    (job,) = running.jobs()
    assert len(job.pdfs) == 1 and job.pdfs[0].is_file()
    code, out = fault(running, capsys, "list")
    assert code == 0
    assert "#1 N-ACTION FilmBox on any printer: status 0xC602 (count 1, after 0) fired 1/1 (spent)" in out
    assert "1 fault plan rule(s)" in out
    recorded = transcript(running)
    (applied,) = recorded.faults
    assert applied.fault == "#1 N-ACTION FilmBox on any printer: status 0xC602 (count 1, after 0) fired 1/1 (spent)"
    assert applied.effect == "answered 0xC602 (fault plan rule #1) without serving the request"
    request = recorded.messages[applied.message_index - 1]  # message indexes count from 1
    assert (request.index, request.command, request.sop_class_uid) == (applied.message_index, "N-ACTION-RQ", FILM_BOX)


def test_after_fires_on_the_third_matching_request_with_its_error_comment(
    running: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = fault(
        running,
        capsys,
        "add",
        "--on",
        "n-create",
        "--sop-class",
        "filmsession",
        "--after",
        "2",
        "--status",
        "0x0213",
        "--error-comment",
        "out of sessions",
        "--calling-ae",
        "TESTSCU",
    )
    assert code == 0, out
    statuses = []
    with PrintSCU(running.address) as scu:
        for _ in range(4):
            response = scu.n_create(SESSION)
            statuses.append((response.status, response.comment))
            if response.status == 0:
                assert scu.n_delete(SESSION, response.affected_uid).status == 0
    assert statuses == [(0, ""), (0, ""), (0x0213, "out of sessions"), (0, "")]
    with PrintSCU(running.address, calling="OTHER") as other:  # another calling AE title: not matched
        assert other.n_create(SESSION).status == 0


def test_a_delay_holds_the_answer_at_least_that_long(
    running: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fault(running, capsys, "add", "--on", "N-GET", "--sop-class", "Printer", "--delay", "1.5")[0] == 0
    with PrintSCU(running.address) as scu:
        started = time.monotonic()
        delayed = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
        elapsed = time.monotonic() - started
        assert delayed.status == 0 and delayed.dataset is not None  # then served as usual
        assert elapsed >= 1.5
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0  # count 1: once
    (applied,) = transcript(running).faults
    assert applied.effect == "delayed the response 1.5 s"


def test_abort_at_n_set_ends_the_association_and_the_server_serves_on(
    running: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fault(running, capsys, "add", "--on", "N-SET", "--sop-class", "ImageBox", "--abort")[0] == 0
    scu = PrintSCU(running.address)
    session = scu.film_session()
    _, images, _ = scu.film_box(session)
    modification = Dataset()
    modification.ImageBoxPosition = 1
    modification.BasicGrayscaleImageSequence = [image_item(np.zeros((16, 16), dtype=np.uint16))]
    # pynetdicom's own call: PrintSCU.set_image asserts that a response came
    status, _ = scu.assoc.send_n_set(modification, IMAGE_BOX, images[0], meta_uid=META)
    assert status is not None and "Status" not in status  # no response: aborted
    wait_until(lambda: scu.assoc.is_aborted, 10, "the SCU sees the A-ABORT")
    wait_until(lambda: running.server.active_engines == 0, 10, "the server forgets the association")
    # the server serves on: a new association prints
    with PrintSCU(running.address) as again:
        session, box = prepare_film(again)
        assert again.n_action(FILM_BOX, box).status == 0
        assert again.n_delete(SESSION, session).status == 0
    assert len(running.jobs()) == 1
    aborted, printed = transcripts(running, 2)
    (applied,) = aborted.faults
    assert applied.effect == "aborted the association (A-ABORT) instead of answering"
    # on_conn_close may run before on_aborted: Sta13 after our A-ABORT must not read as a release
    assert aborted.end is not None and aborted.end.detail == "A-ABORT (source 0) sent"
    assert aborted.outcome is Outcome.ABORTED_BY_PRINTSCP
    assert not printed.faults


def test_printer_failure_at_n_action_reaches_the_scu_as_an_event_report(
    running: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = fault(
        running, capsys, "add", "--on", "N-ACTION", "--printer-status", "FAILURE", "--printer-status-info", "film jam"
    )
    assert code == 0, out
    assert "printer FAILURE FILM JAM" in out
    reports: list[tuple[int, str]] = []
    arrived = threading.Event()

    def on_event(event: Event) -> tuple[int, None]:
        request: Any = event.request
        if str(request.AffectedSOPClassUID) == uids.PRINTER:
            reports.append((int(request.EventTypeID), str(event.event_information.PrinterStatusInfo)))
            arrived.set()
        return 0, None

    with PrintSCU(
        running.address, contexts=(META, uids.PRINT_JOB, uids.PRINTER), handlers=[(evt.EVT_N_EVENT_REPORT, on_event)]
    ) as scu:
        session, box = prepare_film(scu)
        assert scu.n_action(FILM_BOX, box).status == 0  # answered as usual: the job waits for the printer
        assert arrived.wait(10), "no printer event report"
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None and (printer.PrinterStatus, printer.PrinterStatusInfo) == ("FAILURE", "FILM JAM")
    assert reports == [(3, "FILM JAM")]  # Failure (PS3.4 Table H.4-16)
    running.server.printer.set_status(PrinterStatus.NORMAL)  # the job waiting for the printer prints
    assert len(running.jobs()) == 1
    (applied,) = transcript(running).faults
    assert applied.effect == "set printer PRINTSCP to FAILURE (FILM JAM); the request was then served"


def test_a_c_echo_fault(running: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert fault(running, capsys, "add", "--on", "C-ECHO", "--status", "0x0110", "--count", "0")[0] == 0
    with PrintSCU(running.address, contexts=(uids.VERIFICATION,)) as scu:
        for _ in range(2):
            status = scu.assoc.send_c_echo()
            assert status.Status == 0x0110 and status.ErrorComment == "fault plan rule #1"


def test_a_rule_from_config_toml(start_server: Callable[..., RunningServer], tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        BUNDLED_CONFIG.read_text()
        + """
[[faults.plan]]
on = "N-ACTION"
sop_class = "FilmSession"
status = 0xC601
error_comment = "session queue full (fault plan)"
"""
    )
    running = start_server(sections={"fault_plan": load_config(path).fault_plan})
    with PrintSCU(running.address) as scu:
        session, box = prepare_film(scu)
        failed = scu.n_action(SESSION, session)
        assert (failed.status, failed.comment) == (0xC601, "session queue full (fault plan)")
        assert scu.n_action(SESSION, session).status == 0
        assert scu.n_delete(SESSION, session).status == 0
    assert len(running.jobs()) == 1
    (rule,) = running.server.faults.rules()
    assert str(rule).startswith("#1 N-ACTION FilmSession on any printer: status 0xC601")


def test_list_and_clear_by_printer(running: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert fault(running, capsys, "add", "--on", "N-SET", "--abort", "--printer", "PRINTSCP")[0] == 0
    assert fault(running, capsys, "add", "--on", "N-GET", "--delay", "1", "--printer", "AGFA_DRYSTAR")[0] == 0
    assert fault(running, capsys, "add", "--on", "N-DELETE", "--status", "0x0112", "--count", "0")[0] == 0
    code, out = fault(running, capsys, "list", "--printer", "PRINTSCP")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "#1 N-SET on PRINTSCP",
        "#3 N-DELETE on any printer",
        "2 fault plan rule(s)",
    ]
    code, out = fault(running, capsys, "clear", "--printer", "AGFA_DRYSTAR")
    assert code == 0 and out.strip() == "cleared 1 rule(s)"
    code, out = fault(running, capsys, "clear")
    assert code == 0 and out.strip() == "cleared 2 rule(s)"
    code, out = fault(running, capsys, "list")
    assert code == 0 and out.strip() == "0 fault plan rule(s)"
    assert running.server.faults.rules() == []


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printscp", *args], capture_output=True, text=True, timeout=30, cwd=REPO
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--on", "N-ACTION", "--status", "0xC6022"], "--status '0xC6022' is not a status: must be 0x0000 to 0xFFFF"),
        (["--on", "N-ACTION", "--status", "C602"], "--status 'C602' is not a status"),
        (["--on", "N-ACTOIN", "--abort"], "--on: 'N-ACTOIN' is not one of N-CREATE"),
        (["--on", "N-SET", "--sop-class", "FilmRoll", "--abort"], "--sop-class: 'FilmRoll' is not a SOP Class UID"),
        (["--on", "N-SET", "--abort", "--printer", "NOPE"], "no printer 'NOPE' in the configuration"),
        (["--on", "N-SET", "--abort", "--count", "-1"], "--count: must be 0 (every time) or more"),
        (["--on", "N-SET", "--printer-status", "BROKEN"], "--printer-status: 'BROKEN' is not one of NORMAL"),
        (
            ["--on", "N-SET", "--printer-status", "WARNING", "--printer-status-info", "PAPER JAM"],
            "--printer-status-info: 'PAPER JAM' is not a Printer Status Info defined term",
        ),
        (["--on", "N-SET"], "rule: does nothing"),
        (["--on", "N-SET", "--abort", "--status", "0xC602"], "one of status, abort and printer_status per rule"),
    ],
)
def test_bad_command_lines_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("fault", "add", *args, "--config", str(BUNDLED_CONFIG), "--archive", str(tmp_path), "--port", "1")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_the_admin_channel_refuses_a_bad_rule_in_one_line(running: RunningServer) -> None:
    from printscp.admin import AdminError, send

    with pytest.raises(AdminError) as refused:
        send(running.archive, running.port, {"command": "fault_add", "on": "N-SET", "status": 70000})
    assert str(refused.value) == "fault add: status: must be 0x0000 to 0xFFFF"
    with pytest.raises(AdminError, match="no printer 'NOPE'"):
        send(running.archive, running.port, {"command": "fault_add", "on": "N-SET", "abort": True, "printer": "NOPE"})
    reply = send(running.archive, running.port, {"command": "fault_add", "on": "N-SET", "abort": True})
    assert reply["added"]["text"] == "#1 N-SET on any printer: abort (count 1, after 0) fired 0/1"
    assert [rule["number"] for rule in reply["rules"]] == [1]
