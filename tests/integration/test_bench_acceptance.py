"""Issue 14's acceptance, through the commands an SCU engineer runs: DCMTK's dcmprscu against the real server,
then `printscp report` in another process, and the HTML report in a real browser."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from dcmtk import DcmtkPrintClient, write_image
from printscu import PrintSCU, ramp

from printscp import uids

pytestmark = pytest.mark.dcmtk

REPO = Path(__file__).resolve().parents[2]


def report(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "printscp", "report", "--archive", str(archive), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_a_dcmprscu_job_is_reported_message_for_message(running: Any, tmp_path: Path) -> None:
    images = [write_image(tmp_path / f"image{n}.dcm", ramp(96, 96)) for n in range(2)]
    log = DcmtkPrintClient(tmp_path, running.host, running.port).print(images, layout=(2, 1))
    assert log.printed, log.summary()
    running.jobs()

    result = report(running.archive, "--last", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    ours = [
        (m["command"].replace("-", " ").replace("N ", "N-", 1), m["sop_instance_uid"], m["status"])
        for m in data["messages"]
    ]
    # dcmprscu's --dump: the same messages in the same order with the same statuses (DCMTK writes an absent
    # instance UID as "none" and names SOP classes its own way, so instances are compared)
    theirs = [(m.type, m.sop_instance.replace("none", ""), m.status) for m in log.messages]
    assert ours == theirs
    assert [m["direction"] == "received" for m in data["messages"]] == [m.direction == "OUTGOING" for m in log.messages]
    assert data["verdict"] == "pass" and data["end"]["outcome"] == "released"
    assert len(data["films"]) == 1

    page = tmp_path / "report.html"
    assert report(running.archive, "--last", "--format", "html", "--output", str(page)).returncode == 0
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            view = browser.new_page()
            view.goto(page.as_uri())
            widths = view.eval_on_selector_all("figure img", "images => images.map(i => i.naturalWidth)")
            assert len(widths) == 1 and widths[0] > 0  # the film's thumbnail, decoded by the browser
            assert view.locator("details").count() == len(log.messages)
        finally:
            browser.close()


def test_a_deliberate_mistake_is_a_finding_a_fail_and_a_failed_junit_testcase(running: Any, tmp_path: Path) -> None:
    with PrintSCU(running.address, calling="MISTAKEN") as scu:
        session = scu.film_session()
        film_box, boxes, _ = scu.film_box(session, "STANDARD\\2,2")
        for uid, position in zip(boxes, (1, 2, 3, 3), strict=True):  # Image Box Position 3 twice
            scu.set_image(uid, position, ramp(32, 32))
        scu.n_action(uids.BASIC_FILM_BOX, film_box)
        scu.n_delete(uids.BASIC_FILM_SESSION, session)

    text = report(running.archive, "--calling-ae", "MISTAKEN")
    assert text.returncode == 1, text.stderr  # the verdict is fail
    assert "(2020,0010)" in text.stdout and "PS3.4" in text.stdout

    data = json.loads(report(running.archive, "--calling-ae", "MISTAKEN", "--format", "json").stdout)
    fourth_set = [m for m in data["messages"] if m["command"] == "N-SET-RQ"][3]
    (finding,) = [
        f for f in data["findings"] if f["message_index"] == fourth_set["index"] and f["tag"] == "(2020,0010)"
    ]
    assert finding["severity"] == "error" and finding["reference"].startswith("PS3.4")

    junit = report(running.archive, "--calling-ae", "MISTAKEN", "--format", "junit")
    assert junit.returncode == 1
    failed = [
        case.get("name", "")
        for case in ET.fromstring(junit.stdout).iter("testcase")
        if case.find("failure") is not None
    ]
    assert len(failed) == 1 and failed[0].startswith(f"{fourth_set['index']:04d} N-SET-RQ"), failed
