"""The REST API of the web console, over HTTP, against a real server that real SCUs print on."""

from __future__ import annotations

import dataclasses
import io
import json
import queue
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RunningServer
from dcmtk import make_pki
from PIL import Image
from printscu import PrintSCU, ramp
from pydicom.dataset import Dataset
from waiting import wait_until

from printscp import uids
from printscp.config import Config, ConfigError, TlsConfig, WebConfig, validate
from printscp.model.enums import PrinterStatus
from printscp.web.console import WebConsole
from printscp.web.users import Users

ADMIN, VIEWER = ("ada", "admin-secret-1"), ("vic", "viewer-secret-1")


@dataclass
class Console:
    running: RunningServer
    console: WebConsole
    url: str

    def client(self, user: tuple[str, str] | None = None, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=user, timeout=30, **options)

    def print_film(self, patient: str = "DOE^JANE", patient_id: str = "P-1", label: str = "WEB TEST") -> str:
        """One film printed over DICOM; returns its Print Job UID once it is in the archive."""
        study = Dataset()
        study.PatientName, study.PatientID = patient, patient_id
        with PrintSCU(self.running.address) as scu:
            session = scu.film_session(FilmSessionLabel=label, ProposedStudySequence=[study])
            box, images, _ = scu.film_box(session)
            scu.set_image(images[0], 1, ramp(64, 64))
            response = scu.n_action(uids.BASIC_FILM_BOX, box)
            assert response.status == 0, hex(response.status)
        assert self.running.server.queue.wait_idle(60)
        return max(self.running.server.queue.jobs(), key=lambda job: job.sequence).sop_instance_uid


@pytest.fixture
def web(start_server: Callable[..., RunningServer], tmp_path: Path) -> Iterator[Console]:
    users = Users(tmp_path / "users.json")
    users.add(*ADMIN[:1], "admin", ADMIN[1])
    users.add(*VIEWER[:1], "viewer", VIEWER[1])
    running = start_server(sections={"web": WebConfig(port=0, users_file=users.path)})
    console = WebConsole(running.server, running.server.config)
    host, port = console.start("127.0.0.1", 0)
    yield Console(running, console, f"http://{host}:{port}")
    console.stop()


def test_nothing_but_healthz_and_the_login_page_without_a_user(web: Console) -> None:
    with web.client(ADMIN) as admin:
        paths = admin.get("/api/openapi.json").json()["paths"]
    with web.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/login").status_code == 200
        checked = 0
        for path, operations in paths.items():
            if path == "/healthz":
                continue
            concrete = re.sub(r"\{[^}]+\}", "1.2.3", path)
            for method in operations:
                response = anonymous.request(method.upper(), concrete)
                assert response.status_code == 401, (method, path, response.status_code)
                assert response.headers["www-authenticate"].startswith("Basic")
                checked += 1
        assert checked >= 15
        for path in ("/metrics", "/api/openapi.json", "/api/events"):
            assert anonymous.get(path).status_code == 401, path
        page = anonymous.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        assert anonymous.get("/films/1.2.3", follow_redirects=False).headers["location"] == "/login?next=/films/1.2.3"
    with web.client(("ada", "wrong password")) as wrong:
        assert wrong.get("/api/films").status_code == 401


def test_a_printed_film_is_listed_searched_served_and_deleted(web: Console) -> None:
    first = web.print_film("DOE^JANE", "P-1", "FIRST")
    second = web.print_film("ROE^RICHARD", "P-2", "SECOND <script>")
    with web.client(VIEWER) as viewer:
        listing = viewer.get("/api/films").json()
        assert listing["total"] == 2 and [f["job_uid"] for f in listing["films"]] == [second, first]  # newest first
        film = listing["films"][0]
        assert film["patient_name"] == "ROE^RICHARD" and film["patient_id"] == "P-2"
        assert film["film_session_label"] == "SECOND <script>" and film["calling_ae_title"] == "TESTSCU"
        assert (
            film["printer"] == "PRINTSCP" and film["film_size_id"] and film["image_display_format"] == "STANDARD\\1,1"
        )
        assert film["color"] is False
        assert viewer.get(f"/api/films/{film['id']}").json() == film
        # search: free text, patient, printer, dates, and pages
        assert [f["job_uid"] for f in viewer.get("/api/films", params={"q": "doe"}).json()["films"]] == [first]
        assert viewer.get("/api/films", params={"patient": "P-2"}).json()["total"] == 1
        assert viewer.get("/api/films", params={"printer": "AGFA_DRYSTAR"}).json()["total"] == 0
        assert viewer.get("/api/films", params={"from": "2000-01-01", "to": "2000-12-31"}).json()["total"] == 0
        page = viewer.get("/api/films", params={"limit": 1, "offset": 1}).json()
        assert page["total"] == 2 and [f["job_uid"] for f in page["films"]] == [first]
        assert viewer.get("/api/films", params={"limit": 0}).status_code == 422
        # its files, streamed
        pdf = viewer.get(film["pdf_url"])
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        stored = web.running.server.archive.find(second, web.running.server.queue.jobs()[-1].creation)
        assert stored is not None and pdf.content == stored.pdfs[0].read_bytes()
        png = viewer.get(film["png_url"])
        assert png.content == stored.pngs[0].read_bytes()
        thumbnail = viewer.get(film["thumbnail_url"])
        with Image.open(stored.pngs[0]) as full, Image.open(io.BytesIO(thumbnail.content)) as small:
            assert small.width <= 320 and abs(small.width / small.height - full.width / full.height) < 0.02
        assert viewer.get("/api/films/1.2.3").status_code == 404
        # a viewer cannot delete
        assert viewer.delete(f"/api/films/{film['id']}").status_code == 403
    with web.client(ADMIN) as admin:
        deleted = admin.delete(f"/api/films/{film['id']}").json()
        assert deleted == {"deleted_job": second, "films": [film["id"]]}
        assert admin.get("/api/films").json()["total"] == 1
        assert admin.get(film["pdf_url"]).status_code == 404
    assert not stored.folder.exists()


def test_viewer_reads_printers_admin_changes_them_and_dicom_sees_it(web: Console) -> None:
    with web.client(VIEWER) as viewer:
        printers = viewer.get("/api/printers").json()["printers"]
        assert [p["ae_title"] for p in printers] == list(web.running.server.printers)
        assert printers[0]["default"] and printers[0]["printer_status"] == "NORMAL"
        change = {"printer_status": "WARNING", "printer_status_info": "SUPPLY LOW"}
        refused = viewer.put("/api/printers/PRINTSCP/status", json=change)
        assert refused.status_code == 403 and "viewer" in refused.json()["detail"]
    with web.client(ADMIN) as admin:
        changed = admin.put("/api/printers/PRINTSCP/status", json=change)
        assert changed.status_code == 200, changed.text
        assert changed.json()["printer_status"] == "WARNING" and changed.json()["printer_status_info"] == "SUPPLY LOW"
        # a term that is not PS3.3 C.13.9.1's, or NORMAL info with FAILURE: refused, nothing changes
        bad = admin.put("/api/printers/PRINTSCP/status", json={"printer_status": "FAILURE", "printer_status_info": "X"})
        assert bad.status_code == 422 and "defined term" in bad.json()["detail"]
        assert admin.put("/api/printers/NOPE/status", json=change).status_code == 404
        form = admin.put("/api/printers/PRINTSCP/status", content=json.dumps(change))  # no JSON content type
        assert form.status_code == 415
    with PrintSCU(web.running.address) as scu:
        response = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
    assert response.status == 0 and response.dataset is not None
    assert response.dataset.PrinterStatus == "WARNING" and response.dataset.PrinterStatusInfo == "SUPPLY LOW"


def test_console_session_needs_the_csrf_token_for_changes(web: Console) -> None:
    with web.client() as browser:
        refused = browser.post("/login", data={"username": "ada", "password": "nope", "next": "/"})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login?failed=1")
        signed_in = browser.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "next": "//evil.example"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"  # no open redirect
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        session = browser.get("/api/session").json()
        assert session["user"] == "ada" and session["role"] == "admin" and session["csrf_token"]
        change = {"printer_status": "FAILURE", "printer_status_info": "FILM JAM"}
        assert browser.put("/api/printers/PRINTSCP/status", json=change).status_code == 403
        wrong = {"X-CSRF-Token": "forged"}
        assert browser.put("/api/printers/PRINTSCP/status", json=change, headers=wrong).status_code == 403
        token = {"X-CSRF-Token": session["csrf_token"]}
        cross_site = {**token, "Origin": "http://evil.example"}
        assert browser.put("/api/printers/PRINTSCP/status", json=change, headers=cross_site).status_code == 403
        assert web.running.server.printers["PRINTSCP"].state.printer_status.value == "NORMAL"
        assert browser.put("/api/printers/PRINTSCP/status", json=change, headers=token).status_code == 200
        assert browser.get("/", follow_redirects=False).status_code == 200
        assert browser.post("/logout", headers=token).status_code == 204
        browser.cookies.clear()
        browser.cookies.set("printscp_session", cookie.split(";")[0].split("=", 1)[1])
        assert browser.get("/api/session").status_code == 401  # the session is gone on the server too


def test_a_removed_user_is_locked_out_at_once(web: Console, tmp_path: Path) -> None:
    with web.client(VIEWER) as viewer:
        assert viewer.get("/api/films").status_code == 200
        Users(tmp_path / "users.json").remove(VIEWER[0])
        assert viewer.get("/api/films").status_code == 401


def test_events_stream_new_films_printers_and_jobs(web: Console) -> None:
    received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    opened = threading.Event()

    def listen() -> None:
        with web.client(VIEWER) as viewer, viewer.stream("GET", "/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            opened.set()
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind is not None:
                    received.put((kind, json.loads(line[6:])))
                    if kind == "printer":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(10)
    wait_until(lambda: web.console.hub.subscribers == 1, 10, "the stream subscribed")
    job = web.print_film("LIVE^FILM", "P-9")
    web.running.server.printers["PRINTSCP"].set_status(PrinterStatus.WARNING, "FILM JAM")
    listener.join(30)
    events = []
    while not received.empty():
        events.append(received.get())
    kinds = [kind for kind, _ in events]
    assert "film" in kinds and kinds[-1] == "printer", kinds
    film = next(data for kind, data in events if kind == "film")
    assert film["job_uid"] == job and film["patient_name"] == "LIVE^FILM" and film["thumbnail_url"]
    jobs = [
        data["execution_status"] for kind, data in events if kind == "print-job" and data["sop_instance_uid"] == job
    ]
    assert jobs[0] == "PENDING" and jobs[-1] == "DONE"
    assert events[-1][1]["printer_status_info"] == "FILM JAM"


def test_metrics_count_what_was_printed_and_refused(web: Console) -> None:
    for _ in range(3):
        web.print_film()
    with PrintSCU(web.running.address) as scu:  # an N-SET of an Image Box that does not exist: refused
        dataset = Dataset()
        dataset.ImageBoxPosition = 1
        refused = scu.n_set(uids.BASIC_GRAYSCALE_IMAGE_BOX, "1.2.3.4", dataset)
    with web.client(VIEWER) as viewer:
        text = viewer.get("/metrics").text

    def value(name: str, **labels: str) -> float:
        selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        line = re.search(rf"^{name}{{{selector}}} (\S+)$", text, re.M)
        assert line, (name, labels, text)
        return float(line.group(1))

    assert value("printscp_films_printed_total", printer="PRINTSCP") == 3
    assert value("printscp_print_jobs_total", execution_status="DONE", printer="PRINTSCP") == 3
    assert value("printscp_associations_total", result="accepted") == 4
    assert value("printscp_dimse_refused_total", command="N-SET", status=f"{refused.status:04X}") == 1
    assert value("printscp_render_seconds_count", printer="PRINTSCP") == 3
    assert value("printscp_queue_depth", printer="PRINTSCP") == 0
    assert value("printscp_printer_status", printer="PRINTSCP", printer_status="NORMAL") == 1


def test_print_jobs_and_transcripts(web: Console) -> None:
    job = web.print_film()
    with web.client(VIEWER) as viewer:
        jobs = viewer.get("/api/print-jobs").json()["print_jobs"]
        assert [j["sop_instance_uid"] for j in jobs] == [job] and jobs[0]["execution_status"] == "DONE"
        assert viewer.get(f"/api/print-jobs/{job}").json()["films"] == 1
        assert viewer.get("/api/printers/PRINTSCP/queue").json() == {"print_jobs": []}
        wait_until(lambda: viewer.get("/api/transcripts").json()["transcripts"], 10, "the transcript indexed")
        (transcript,) = viewer.get("/api/transcripts").json()["transcripts"]
        assert transcript["calling_ae_title"] == "TESTSCU" and transcript["films"] == 1
        page = viewer.get(transcript["report_url"])
        assert page.headers["content-type"].startswith("text/html") and "script-src" not in page.headers.get(
            "content-security-policy", ""
        )
        assert transcript["association_id"] in page.text
        report = viewer.get(transcript["json_url"]).json()
        assert report["association"]["id"] == transcript["association_id"]
        film = viewer.get("/api/films").json()["films"][0]
        assert film["transcript_url"] == transcript["report_url"]


def test_responses_are_not_held_back_by_nagle(web: Console) -> None:
    # asyncio sets TCP_NODELAY on accepted sockets only when the listener says IPPROTO_TCP; without it each
    # response's body waited ~40 ms for the client's delayed ACK (benchmarks/web_list.py measured 44 ms per call)
    assert web.console.listener is not None and web.console.listener.proto == socket.IPPROTO_TCP


def test_openapi_document_lists_every_route(web: Console) -> None:
    with web.client(VIEWER) as viewer:
        document = viewer.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/films", "/api/films/{film_id}/pdf", "/api/printers/{ae_title}/status", "/metrics", "/healthz"):
        assert path in document["paths"], path
    assert "FilmView" in document["components"]["schemas"]


def test_hostile_names_and_labels_come_back_as_data(web: Console) -> None:
    # the API returns what was printed as data; the console inserts it as text (tests/e2e)
    job = web.print_film("<img src=x onerror=alert(1)>", "P-X", "'; DROP TABLE films; --")
    with web.client(VIEWER) as viewer:
        film = viewer.get("/api/films", params={"q": "DROP TABLE"}).json()["films"][0]
    assert film["job_uid"] == job and film["patient_name"] == "<img src=x onerror=alert(1)>"


def test_web_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="web.tls"):
        validate(dataclasses.replace(Config(), web=WebConfig(tls=True)))
    with pytest.raises(ConfigError, match="web.port"):
        validate(dataclasses.replace(Config(), web=WebConfig(port=70000)))


def test_the_web_port_speaks_https_with_the_dicom_certificate(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    users = Users(tmp_path / "users.json")
    users.add(*ADMIN[:1], "admin", ADMIN[1])
    tls = TlsConfig(certificate=pki.pem("server"), private_key=pki.key("server"))
    running = start_server(sections={"tls": tls, "web": WebConfig(port=0, users_file=users.path, tls=True)})
    console = WebConsole(running.server, running.server.config)
    host, port = console.start("127.0.0.1", 0)
    try:
        with httpx.Client(
            base_url=f"https://{host}:{port}", verify=ssl.create_default_context(cafile=pki.pem("ca")), timeout=30
        ) as browser:
            signed_in = browser.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
            assert signed_in.status_code == 303 and "Secure" in signed_in.headers["set-cookie"]
            assert browser.get("/api/session").json()["user"] == ADMIN[0]
        with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP is not answered on it
            httpx.get(f"http://{host}:{port}/healthz", timeout=10)
    finally:
        console.stop()


def test_thumbnails_of_films_gone_by_retention_are_pruned_at_start(web: Console) -> None:
    job = web.print_film()
    with web.client(VIEWER) as viewer:
        film = viewer.get("/api/films").json()["films"][0]
        assert viewer.get(film["thumbnail_url"]).status_code == 200
    thumbnail = web.running.archive / ".thumbnails" / f"{film['id']}.png"
    assert thumbnail.exists()
    web.running.server.archive.remove_job(job)  # as retention does: no web request involved
    web.console.stop()
    again = WebConsole(web.running.server, web.running.server.config)
    again.start("127.0.0.1", 0)
    again.stop()
    assert not thumbnail.exists()
