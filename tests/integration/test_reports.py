"""`printscp report` and `printscp transcripts` in a subprocess, against an archive folder the tests write
(and, end to end, against the archive of a real server that recorded a real print)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from printscu import PrintSCU, ramp
from waiting import wait_until

from printscp import uids
from printscp.archive.store import FilmArchive
from printscp.bench.store import TranscriptStore
from printscp.bench.transcript import (
    Association,
    Direction,
    End,
    Finding,
    Message,
    Outcome,
    Severity,
    line,
)

REPO = Path(__file__).resolve().parents[2]
PRINTSCP = [sys.executable, "-m", "printscp"]
SCHEMA = json.loads((REPO / "docs" / "transcript.schema.json").read_text(encoding="utf-8"))
FILM_BOX = "1.2.840.10008.5.1.1.2"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PRINTSCP, *args], capture_output=True, text=True, timeout=60, cwd=REPO)


def write_transcript(
    store: TranscriptStore,
    association_id: str,
    started: str,
    calling: str,
    findings: tuple[Finding, ...] = (),
    index: bool = True,
    status: int = 0x0000,
) -> Path:
    """A transcript file of one N-ACTION and its response, as the recorder writes it; indexed unless not."""
    association = Association(association_id, "127.0.0.1:1", calling, "PRINTSCP", "PRINTSCP", started)
    records: Iterable[Any] = (
        association,
        Message(
            1,
            Direction.RECEIVED,
            started,
            "N-ACTION-RQ",
            message_id=7,
            sop_class_uid=FILM_BOX,
            sop_class="Basic Film Box",
            action_type_id=1,
        ),
        Message(
            2,
            Direction.SENT,
            started,
            "N-ACTION-RSP",
            responding_to=7,
            sop_class_uid=FILM_BOX,
            sop_class="Basic Film Box",
            status=status,
            elapsed_ms=3.0,
        ),
        End(Outcome.RELEASED, started),
        findings,
    )
    path = store.path_for(association_id, datetime.fromisoformat(started))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line(record) + "\n" for record in records), encoding="utf-8")
    if index:
        store.add(path)
    return path


FAILING = (Finding(Severity.ERROR, 1, "Printed a film box that was not the last created.", "PS3.4 H.4.2.2.1"),)
WARNING = (Finding(Severity.WARNING, 1, "Copies above the printer's maximum.", "PS3.4 H.4.1.1.1"),)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Four associations: the newest fails (its transcript not yet indexed, as a killed server leaves it)."""
    folder = tmp_path / "archive"
    index = FilmArchive(folder).index
    store = TranscriptStore(folder, index)
    write_transcript(store, "aa11", "2026-12-01T09:00:00.000+00:00", "OLDSCU")
    write_transcript(store, "aa22", "2026-12-02T09:00:00.000+00:00", "MODALITY", WARNING, status=0xB605)
    write_transcript(store, "bb33", "2026-12-03T09:00:00.000+00:00", "MODALITY")
    write_transcript(store, "cc44", "2026-12-04T09:00:00.000+00:00", "WORKSTATION", FAILING, index=False)
    index.close()
    return folder


def table_ids(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STARTED", "CALLING"]
    return [text.split()[0] for text in lines[1:-1]]


def test_transcripts_lists_newest_first_with_filters(archive: Path) -> None:
    result = run("transcripts", "--archive", str(archive))
    assert result.returncode == 0, result.stderr
    assert table_ids(result.stdout) == ["cc44", "bb33", "aa22", "aa11"]  # cc44 indexed by the command
    newest = result.stdout.splitlines()[1].split()
    assert newest[3:] == ["WORKSTATION", "PRINTSCP", "2", "0", "released", "fail"]
    assert result.stdout.splitlines()[-1] == "4 transcript(s), newest first"
    assert table_ids(run("transcripts", "--archive", str(archive), "--calling-ae", "MODALITY").stdout) == [
        "bb33",
        "aa22",
    ]
    assert table_ids(run("transcripts", "--archive", str(archive), "--limit", "2").stdout) == ["cc44", "bb33"]
    assert table_ids(run("transcripts", "--archive", str(archive), "--since", "2026-12-03").stdout) == [
        "cc44",
        "bb33",
    ]


def test_report_exits_1_for_a_failing_association_and_0_for_a_passing_one(archive: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.xml"
    failing = run("report", "--archive", str(archive), "--last", "--format", "junit", "--output", str(output))
    assert failing.returncode == 1, failing.stderr
    assert "cc44: fail" in failing.stdout
    root = ET.parse(output).getroot()
    cases = list(root.iter("testcase"))
    assert [case.get("name") for case in cases] == ["0001 N-ACTION-RQ Basic Film Box → 0x0000 SUCCESS"]
    assert cases[0].find("failure") is not None

    passing = run("report", "--archive", str(archive), "--calling-ae", "MODALITY", "--format", "junit")
    assert passing.returncode == 0, passing.stderr
    root = ET.fromstring(passing.stdout)
    assert not list(root.iter("failure")) and root.find("testsuite").get("name").startswith("bb33:")  # type: ignore[union-attr]

    warned = run("report", "aa2", "--archive", str(archive))  # a unique beginning; text by default
    assert warned.returncode == 0, warned.stderr
    assert "verdict         PASS WITH WARNINGS" in warned.stdout
    assert "0xB605 DENSITY_OUT_OF_RANGE" in warned.stdout

    older = run("report", "--archive", str(archive), "--calling-ae", "MODALITY", "--since", "2026-12-01T00:00:00Z")
    assert older.returncode == 0 and "Association bb33" in older.stdout


def test_report_json_and_html(archive: Path) -> None:
    result = run("report", "cc44", "--archive", str(archive), "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["association"]["id"] == "cc44" and data["verdict"] == "fail"
    page = run("report", "cc44", "--archive", str(archive), "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>") and "Printed a film box that was not the last created." in page


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["report", "aa"], "2 associations begin with 'aa': aa22, aa11"),
        (["report", "zz99"], "no transcript of an association 'zz99'"),
        (["report", "--since", "last tuesday"], "--since 'last tuesday' is not a date or time"),
        (["report", "aa11", "--last"], "not both"),
        (["report", "--calling-ae", "NOBODY"], "no transcript from calling AE 'NOBODY'"),
        (["transcripts", "--since", "2026-13-01"], "--since '2026-13-01' is not a date or time"),
        (["transcripts", "--limit", "0"], "--limit 0 must be 1 or more"),
    ],
)
def test_operator_mistakes_are_one_line_and_exit_2(archive: Path, args: list[str], says: str) -> None:
    result = run(*args, "--archive", str(archive))
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr


def test_no_archive_is_an_operator_mistake(tmp_path: Path) -> None:
    for command in ("report", "transcripts"):
        result = run(command, "--archive", str(tmp_path / "missing"))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"printscp: {command}: no archive at {tmp_path / 'missing'}; "
            "give the folder `printscp serve` archives to, with --archive or --config"
        ]


def test_a_hostile_calling_ae_title_stays_text_in_every_format(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    store = TranscriptStore(folder, FilmArchive(folder).index)
    evil = "<script>x</script>\x1b[2J Ä医"
    write_transcript(store, "dd55", "2026-12-05T09:00:00.000+00:00", evil, FAILING)
    listing = run("transcripts", "--archive", str(folder))
    assert listing.returncode == 0 and "\x1b" not in listing.stdout and "\\x1b[2J Ä医" in listing.stdout
    for form in ("text", "html", "json", "junit"):
        result = run("report", "--last", "--format", form, "--archive", str(folder))
        assert result.returncode == 1, result.stderr
        assert "\x1b" not in result.stdout  # JSON escapes it as \u001b, the others as \x1b
        if form in ("html", "junit"):
            assert "<script>" not in result.stdout


def test_a_real_print_is_reported_with_its_film(running: Any, tmp_path: Path) -> None:
    """End to end: the server records a print; the report, made from its archive by another process, shows
    each message and embeds the film's thumbnail."""
    with PrintSCU(running.address) as scu:
        session = scu.film_session(FilmSessionLabel="REPORT")
        film_box, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, ramp(64, 64)).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, film_box).status == 0
        assert scu.n_delete(uids.BASIC_FILM_SESSION, session).status == 0
    running.jobs()  # the film is rendered and archived
    store: TranscriptStore = running.server.transcripts
    wait_until(lambda: len(store.list()) >= 1, 10, "the transcript indexed")

    listing = run("transcripts", "--archive", str(running.archive))
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert row[3:] == ["TESTSCU", "PRINTSCP", "10", "1", "released", "pass"]

    page = tmp_path / "report.html"
    result = run("report", "--last", "--format", "html", "--output", str(page), "--archive", str(running.archive))
    assert result.returncode == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 1
    assert text.count("<details ") == 10 and "N-ACTION-RSP" in text

    junit = run("report", "--last", "--format", "junit", "--archive", str(running.archive))
    assert junit.returncode == 0
    names = [case.get("name", "") for case in ET.fromstring(junit.stdout).iter("testcase")]
    assert names == [
        "0001 N-CREATE-RQ Basic Film Session → 0x0000 SUCCESS",
        "0003 N-CREATE-RQ Basic Film Box → 0x0000 SUCCESS",
        "0005 N-SET-RQ Basic Grayscale Image Box → 0x0000 SUCCESS",
        "0007 N-ACTION-RQ Basic Film Box → 0x0000 SUCCESS",
        "0009 N-DELETE-RQ Basic Film Session → 0x0000 SUCCESS",
    ]


def test_the_html_report_opens_in_a_browser_with_its_thumbnail(running: Any, tmp_path: Path) -> None:
    """Chromium (Debian's, driven by Playwright) shows the film's thumbnail and opens a message on a click."""
    from playwright.sync_api import sync_playwright

    with PrintSCU(running.address) as scu:
        session = scu.film_session(FilmSessionLabel="<img src=x onerror=alert(1)>")
        film_box, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, ramp(64, 64)).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, film_box).status == 0
    running.jobs()
    wait_until(lambda: len(running.server.transcripts.list()) >= 1, 10, "the transcript indexed")
    page_file = tmp_path / "report.html"
    result = run("report", "--format", "html", "--output", str(page_file), "--archive", str(running.archive))
    assert result.returncode == 0, result.stderr

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(page_file.as_uri())
            widths = page.eval_on_selector_all("figure img", "images => images.map(i => i.naturalWidth)")
            assert len(widths) == 1 and 0 < widths[0] <= 320  # decoded, and scaled down
            first = page.locator("details#m1")
            assert first.get_attribute("open") is None
            first.locator("summary").click()
            assert first.get_attribute("open") == ""
            assert first.locator("text=FilmSessionLabel").is_visible()
            assert page.get_by_text("<img src=x onerror=alert(1)>").count() >= 1  # shown as text
            assert page.locator("img").count() == 1  # the thumbnail, and no image made of the label
            assert dialogs == []  # and never run
        finally:
            browser.close()


def test_report_waits_for_the_association_to_be_judged(running: Any) -> None:
    """A CI job reports right after its SCU exits, perhaps before the server has written the association's end
    and findings: the report waits for them (--wait, 10 s by default)."""
    gate = threading.Event()
    store: TranscriptStore = running.server.transcripts
    archive = str(running.archive)
    try:
        with PrintSCU(running.address) as scu:
            wait_until(lambda: any(p.stat().st_size for p in store.folder.glob("*/*/*/*.jsonl")), 10, "the file")
            assert running.server.recorder is not None
            running.server.recorder.writer.submit(gate.wait)  # from here on the writer writes nothing
            scu.film_session()
        at_once = run("report", "--last", "--wait", "0", "--archive", archive)
        assert at_once.returncode == 0 and "had not ended" in at_once.stdout, at_once.stdout
        waiting = subprocess.Popen(
            [*PRINTSCP, "report", "--last", "--archive", archive], stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        gate.set()
        output, _ = waiting.communicate(timeout=60)
    finally:
        gate.set()
    assert waiting.returncode == 0
    assert "had not ended" not in output and "released" in output and "N-CREATE-RSP" in output
