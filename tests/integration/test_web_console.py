"""The web console end to end, as an operator sees it: `printscp serve` in its own process, users made with
`printscp user add`, films printed by DCMTK's dcmprscu (and a pynetdicom SCU, for patient data: dcmprscu
sends none), and the pages driven in headless Chromium.

One server and one browser serve the whole module (starting each takes a second or two); every test opens
its own browser context, so cookies and pages do not leak between tests. Films printed by the fixture
are there for every test; the test that prints one live does not count on the others having run.
"""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from dcmtk import CALLING_AE_TITLE, DcmtkPrintClient, write_image
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright
from printscu import PrintSCU, ramp
from pydicom.dataset import Dataset
from waiting import wait_until

from printscp import uids

pytestmark = pytest.mark.dcmtk

REPO = Path(__file__).resolve().parents[2]
PRINTSCP = [sys.executable, "-m", "printscp"]
ADMIN, VIEWER = ("ada", "admin-secret-1"), ("vic", "viewer-secret-1")
HOSTILE = "<img src=x onerror=window.pwned=1>"
TIMEOUT_MS = 15_000


@dataclass
class Film:
    id: str
    association_id: str


@dataclass
class Serve:
    """`printscp serve` in its own process, and what was printed on it before the tests."""

    folder: Path
    process: subprocess.Popen[bytes]
    log: Path
    dicom_port: int
    url: str
    films: dict[str, Film] = field(default_factory=dict)  # by Film Session Label
    dcmtk: DcmtkPrintClient = field(init=False)

    def __post_init__(self) -> None:
        self.dcmtk = DcmtkPrintClient(self.folder / "dcmtk", "127.0.0.1", self.dicom_port)

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, auth=ADMIN, timeout=30)
        response.raise_for_status()
        return response.json()

    def printed(self, label: str) -> Film:
        """The film of the Film Session Label, once the archive has it (the print queue renders after N-ACTION)."""
        found: list[dict[str, Any]] = []

        def listed() -> bool:
            found[:] = [f for f in self.api("/api/films", q=label)["films"] if f["film_session_label"] == label]
            return bool(found)

        wait_until(listed, 30, f"film {label!r} in the archive")
        (film,) = found
        return Film(film["id"], film["association_id"])

    def dcmprscu(self, label: str) -> Film:
        image = write_image(self.folder / f"{label}.dcm", ramp(96, 128))
        log = self.dcmtk.print([image], print_options=["--label", label])
        assert log.printed, log.summary()
        return self.printed(label)

    def pynetdicom(self, label: str, patient: str, patient_id: str) -> Film:
        study = Dataset()
        study.PatientName, study.PatientID = patient, patient_id
        with PrintSCU(("127.0.0.1", self.dicom_port)) as scu:
            session = scu.film_session(FilmSessionLabel=label, ProposedStudySequence=[study])
            box, images, _ = scu.film_box(session, "STANDARD\\2,1")
            for position, image in enumerate(images, 1):
                assert scu.set_image(image, position, ramp(64, 64)).status == 0
            assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
        return self.printed(label)


def _printscp_user(config: Path, name: str, role: str, password: str) -> None:
    command = [*PRINTSCP, "user", "add", name, "--role", role, "--password-stdin", "--config", str(config)]
    done = subprocess.run(command, input=f"{password}\n", capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr


def _wait_for_log(process: subprocess.Popen[bytes], log: Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + 30
    while not (found := re.search(pattern, log.read_text())):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {pattern!r} in the log:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    folder = tmp_path_factory.mktemp("console")
    config = folder / "config.toml"
    config.write_text((REPO / "config.toml").read_text())  # [web] users_file = "users.json": beside it
    _printscp_user(config, ADMIN[0], "admin", ADMIN[1])
    _printscp_user(config, VIEWER[0], "viewer", VIEWER[1])
    log = folder / "serve.log"
    command = [
        *PRINTSCP,
        *("serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0", "--web-port", "0"),
        *("--archive", str(folder / "films")),
    ]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, cwd=REPO)
    try:
        dicom_port = int(_wait_for_log(process, log, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        web_port = int(_wait_for_log(process, log, r"web console on http://127\.0\.0\.1:(\d+)").group(1))
        serve = Serve(folder, process, log, dicom_port, f"http://127.0.0.1:{web_port}")
        # printed before anyone signs in: one by DCMTK, two with patient data (one of them hostile)
        serve.films["DCMTK FIRST"] = serve.dcmprscu("DCMTK FIRST")
        serve.films["JANE"] = serve.pynetdicom("JANE", "DOE^JANE", "P-JANE")
        serve.films["HOSTILE"] = serve.pynetdicom("HOSTILE", HOSTILE, "P-HOSTILE")
        yield serve
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave it running; the assertion below reports it
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture(scope="module")
def browser(server: Serve) -> Iterator[Browser]:
    # Depends on `server` so that the browser (and its event streams) close before the server stops.
    playwright: Playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser: Browser, server: Serve) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


def sign_in(server: Serve, context: BrowserContext, user: tuple[str, str]) -> Page:
    """The console at /, signed in through the login page, with its first page of films and its live stream."""
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{server.url}/login?next=/")
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#login")
    expect(page).to_have_url(f"{server.url}/")
    ready(page)
    return page


def ready(page: Page) -> None:
    expect(page.locator("#live")).to_have_class(re.compile(r"\bconnected\b"))
    expect(page.locator("#film-count")).to_have_text(re.compile(r"^\d+ films?$"))


def film_count(page: Page) -> int:
    return int((page.text_content("#film-count") or "").split()[0])


def card(page: Page, film: Film) -> Locator:
    return page.locator(f'#films a.film[data-id="{film.id}"]')


def metadata(page: Page) -> dict[str, str]:
    rows = page.eval_on_selector_all(
        "#metadata tr", "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    return dict(rows)


def test_sign_in_then_a_film_printed_by_dcmprscu_appears_live(server: Serve, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/")
    page.fill("#username", ADMIN[0])
    page.fill("#password", "not the password")
    page.click("#login")
    expect(page.locator("#login-failed")).to_be_visible()
    assert "failed=1" in page.url
    page.fill("#username", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.click("#login")
    expect(page).to_have_url(f"{server.url}/")
    ready(page)
    expect(page.locator("#user")).to_have_text(ADMIN[0])
    expect(page.locator("#role")).to_have_text("admin")
    for film in server.films.values():  # the films printed so far
        expect(card(page, film)).to_have_count(1)
    before = film_count(page)
    assert before == server.api("/api/films")["total"] >= 3

    page.evaluate("window.stayedOnPage = true")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    live = server.dcmprscu("DCMTK LIVE")

    first = page.locator("#films a.film").first
    expect(first).to_have_attribute("data-id", live.id)
    expect(page.locator("#film-count")).to_have_text(f"{before + 1} films")
    page.wait_for_function(
        "id => document.querySelector(`#films a.film[data-id='${id}'] img`)?.naturalWidth > 0", arg=live.id
    )
    assert page.evaluate("window.stayedOnPage") is True and navigations == []
    expect(first.locator(".where")).to_have_text(f"PRINTSCP ← {CALLING_AE_TITLE}")


def test_the_film_page_shows_the_png_the_pdf_and_what_was_printed(server: Serve, context: BrowserContext) -> None:
    page = sign_in(server, context, ADMIN)
    film = server.films["DCMTK FIRST"]
    card(page, film).click()
    expect(page).to_have_url(f"{server.url}/films/{film.id}")
    expect(page.locator("#metadata tr")).not_to_have_count(0)
    page.wait_for_function("() => document.getElementById('film-image').naturalWidth > 0")
    png = page.request.get(f"/api/films/{film.id}/png")
    assert png.ok and png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.body())) as image:
        width = image.width
    assert width > 96  # a film, not the 96-pixel-wide image alone
    assert page.evaluate("document.getElementById('film-image').naturalWidth") == width

    shown = metadata(page)
    api = server.api(f"/api/films/{film.id}")
    assert shown["Film session label"] == "DCMTK FIRST"
    assert shown["Printer"] == shown["Called AE title"] == "PRINTSCP"
    assert shown["Calling AE title"] == CALLING_AE_TITLE
    assert shown["Film size"] == api["film_size_id"] and shown["Film size"]
    assert shown["Image display format"] == "STANDARD\\1,1"
    assert shown["Association"] == film.association_id
    assert shown["Patient name"] == ""  # dcmprscu sends no patient (no Proposed Study Sequence)

    href = page.get_attribute("#pdf-link", "href")
    assert href == f"/api/films/{film.id}/pdf"
    pdf = page.request.get(href)  # with the page's session cookie
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    expect(page.locator("#delete")).to_be_visible()  # an admin may delete

    page.click("#back")
    expect(page).to_have_url(f"{server.url}/")
    ready(page)
    card(page, server.films["JANE"]).click()
    expect(page.locator("#film-title")).to_have_text("DOE, JANE")
    expect(page.locator("#metadata tr")).not_to_have_count(0)
    shown = metadata(page)
    assert shown["Patient name"] == "DOE, JANE" and shown["Patient ID"] == "P-JANE"
    assert shown["Calling AE title"] == "TESTSCU" and shown["Image display format"] == "STANDARD\\2,1"


def test_search_narrows_the_films(server: Serve, context: BrowserContext) -> None:
    page = sign_in(server, context, VIEWER)
    assert page.locator("#films a.film").count() >= 3
    cards = page.locator("#films a.film")
    for query, film in (("P-JANE", "JANE"), ("doe^ja", "JANE"), ("DCMTK FIRST", "DCMTK FIRST")):
        page.fill("#search", query)  # searches as one types
        expect(cards).to_have_count(1)
        expect(cards.first).to_have_attribute("data-id", server.films[film].id)
        expect(page.locator("#film-count")).to_have_text("1 film")
    page.fill("#search", "NO SUCH PATIENT ANYWHERE")
    expect(page.locator("#film-count")).to_have_text("0 films")
    expect(cards).to_have_count(0)
    page.fill("#search", "")
    expect(page.locator("#film-count")).to_have_text(f"{server.api('/api/films')['total']} films")


def test_admin_sets_printer_status_viewers_see_it_live_and_dicom_reports_it(
    server: Serve, context: BrowserContext, browser: Browser
) -> None:
    admin = sign_in(server, context, ADMIN)
    watching_context = browser.new_context(base_url=server.url)
    watching_context.set_default_timeout(TIMEOUT_MS)
    try:
        watching = sign_in(server, watching_context, VIEWER)
        row, seen = (p.locator('#printers tr[data-ae-title="PRINTSCP"]') for p in (admin, watching))
        expect(seen.locator(".status")).to_have_class(re.compile(r"\bnormal\b"))
        try:
            row.locator("input.status-info").fill("supply low")
            row.locator('button[data-status="WARNING"]').click()
            for shown in (row, seen):  # the viewer's page changes by the event stream alone
                expect(shown.locator(".status")).to_have_text("WARNING")
                expect(shown.locator(".status")).to_have_class(re.compile(r"\bwarning\b"))
                expect(shown.locator(".status-text")).to_have_text("SUPPLY LOW")
            assert admin.is_hidden("#message")
            with PrintSCU(("127.0.0.1", server.dicom_port)) as scu:
                response = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
            assert response.status == 0 and response.dataset is not None
            assert response.dataset.PrinterStatus == "WARNING"
            assert response.dataset.PrinterStatusInfo == "SUPPLY LOW"

            row.locator('button[data-status="NORMAL"]').click()
            for shown in (row, seen):
                expect(shown.locator(".status")).to_have_class(re.compile(r"\bnormal\b"))
                expect(shown.locator(".status-text")).to_have_text("NORMAL")
        finally:  # the other tests expect a printer that prints
            if server.api("/api/printers/PRINTSCP")["printer_status"] != "NORMAL":
                restored = httpx.put(
                    f"{server.url}/api/printers/PRINTSCP/status",
                    json={"printer_status": "NORMAL", "printer_status_info": "NORMAL"},
                    auth=ADMIN,
                    timeout=30,
                )
                restored.raise_for_status()
        assert server.api("/api/printers/PRINTSCP")["printer_status"] == "NORMAL"
    finally:
        watching_context.close()


def test_a_viewer_changes_nothing_and_a_hostile_patient_name_is_text(server: Serve, context: BrowserContext) -> None:
    page = sign_in(server, context, VIEWER)
    expect(page.locator("#role")).to_have_text("viewer")
    printers = server.api("/api/printers")["printers"]
    expect(page.locator("#printers tr[data-ae-title]")).to_have_count(len(printers))
    assert page.locator("#printers button").count() == 0
    assert page.locator("#printers input.status-info").count() == 0

    hostile = card(page, server.films["HOSTILE"])
    expect(hostile.locator(".patient-name")).to_have_text(HOSTILE)
    # every image on the page has loaded or failed: an injected <img src=x> would have run its onerror by now
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"

    hostile.click()
    expect(page.locator("#film-title")).to_have_text(HOSTILE)
    expect(page.locator("#metadata tr")).not_to_have_count(0)
    assert metadata(page)["Patient name"] == HOSTILE
    page.wait_for_function("() => document.getElementById('film-image').complete")
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.is_hidden("#delete")  # shown to admins only (test_the_film_page... sees it)
    token = page.request.get("/api/session").json()["csrf_token"]
    refused = page.request.delete(f"/api/films/{server.films['HOSTILE'].id}", headers={"X-CSRF-Token": token})
    assert refused.status == 403 and "viewer" in refused.json()["detail"]  # the API refuses it too


def test_the_transcripts_panel_links_the_dcmprscu_association_report(server: Serve, context: BrowserContext) -> None:
    association = server.films["DCMTK FIRST"].association_id
    wait_until(
        lambda: association in {t["association_id"] for t in server.api("/api/transcripts")["transcripts"]},
        30,
        "the dcmprscu association recorded",
    )
    page = sign_in(server, context, VIEWER)
    row = page.locator(f'#transcripts tr[data-association-id="{association}"]')
    expect(row).to_contain_text(f"{CALLING_AE_TITLE} → PRINTSCP")
    link = row.locator("a.report")
    assert link.get_attribute("href") == f"/api/transcripts/{association}/report.html"
    with context.expect_page() as opened:
        link.click()
    report = opened.value
    report.wait_for_load_state()
    assert association in report.content()
    response = page.request.get(f"/api/transcripts/{association}/report.html")
    assert response.status == 200 and response.headers["content-type"].startswith("text/html")
    assert association in response.text()


def test_an_admin_assigns_the_patient_of_a_film_that_needs_review(
    server: Serve, browser: Browser, context: BrowserContext
) -> None:
    film = server.dcmprscu("TO ASSIGN")  # dcmprscu names no patient: its identity needs review
    page = sign_in(server, context, ADMIN)
    page.check("#review-filter")
    expect(card(page, film)).to_be_visible()
    expect(card(page, film).locator(".badge")).to_be_visible()
    expect(card(page, server.films["JANE"])).to_have_count(0)  # the SCU named Jane: nothing to review
    card(page, film).click()
    expect(page).to_have_url(f"{server.url}/films/{film.id}")
    expect(page.locator("#metadata")).to_contain_text("unknown, needs review")  # filled once the film is read
    page.fill("#assign-name", "DOE^JOHN")
    page.fill("#assign-id", "P-JOHN")
    page.fill("#assign-accession", "ACC-9")
    page.click("#assign-save")
    expect(page.locator("#film-title")).to_have_text("DOE, JOHN")
    shown = metadata(page)
    assert (shown["Patient ID"], shown["Accession number"], shown["Identity"]) == (
        "P-JOHN",
        "ACC-9",
        "manual, confirmed",
    )
    api = server.api(f"/api/films/{film.id}")
    assert (api["patient_name"], api["identity_source"], api["needs_review"]) == ("DOE^JOHN", "manual", False)
    page.goto("/")
    ready(page)
    page.check("#review-filter")
    expect(page.locator("#film-count")).not_to_have_text("")
    expect(card(page, film)).to_have_count(0)
    viewer = browser.new_context(base_url=server.url)
    viewer.set_default_timeout(TIMEOUT_MS)
    try:
        as_viewer = sign_in(server, viewer, VIEWER)
        as_viewer.goto(f"/films/{film.id}")
        expect(as_viewer.locator("#film-title")).to_have_text("DOE, JOHN")
        expect(as_viewer.locator("#assign")).to_be_hidden()
    finally:
        viewer.close()
