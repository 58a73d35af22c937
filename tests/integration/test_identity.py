"""Whose film is it, in a running server: identities kept with the films, held from the PACS until a person
confirms them, assigned from the web console or `printscp films assign`, audited, and found by C-FIND."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from burnt_in import CONSOLE, burnt_in_image
from conftest import RunningServer
from dcmtk import StoreSCP, free_port
from printscu import PrintSCU, ramp
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from waiting import wait_until

from printscp import uids
from printscp.archive.film_index import FilmFilter
from printscp.archive.store import AUDIT_LOG, MANIFEST, PENDING_IDENTITY, FilmArchive
from printscp.config import ArchiveConfig, IdentityConfig, Node, WebConfig
from printscp.web.console import WebConsole
from printscp.web.users import Users

REPO = Path(__file__).resolve().parents[2]
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def print_film(running: RunningServer, patient: tuple[str, str] | None = None, label: str = "IDENTITY") -> str:
    """One film printed over DICOM; its Print Job UID once it is archived (and forwarded, or held)."""
    attributes: dict[str, object] = {"FilmSessionLabel": label}
    if patient is not None and not "".join(patient).isascii():
        attributes["SpecificCharacterSet"] = "ISO_IR 192"
    if patient is not None:
        study = Dataset()
        study.PatientName, study.PatientID = patient
        attributes["ProposedStudySequence"] = [study]
    with PrintSCU(running.address, calling="CT_ROOM1") as scu:
        session = scu.film_session(**attributes)
        box, images, _ = scu.film_box(session)
        scu.set_image(images[0], 1, ramp(64, 64))
        assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
    assert running.server.queue.wait_idle(60)  # archived, and handed to the forwarder or held
    return max(running.server.queue.jobs(), key=lambda job: job.sequence).sop_instance_uid


def outbox(running: RunningServer) -> list[Path]:
    folder = running.archive / ".outbox" / "PACS"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def pacs(tmp_path: Path) -> Callable[..., tuple[RunningServer, StoreSCP]]:
    stores: list[StoreSCP] = []

    def start(start_server: Callable[..., RunningServer], unconfirmed: str = "hold") -> tuple[RunningServer, StoreSCP]:
        port = free_port()
        store = StoreSCP(tmp_path / "pacs", port, ae_title="PACS").start()
        stores.append(store)
        running = start_server(
            nodes={"PACS": Node("127.0.0.1", port)},
            archive=ArchiveConfig(tmp_path / "films", forward_to=("PACS",)),
            sections={"identity": IdentityConfig(ocr=False, unconfirmed=unconfirmed)},
        )
        return running, store

    yield start  # type: ignore[misc]
    for store in stores:
        store.stop()


def test_an_anonymous_film_is_held_until_assigned_then_forwarded_with_its_patient(
    start_server: Callable[..., RunningServer], pacs: Callable[..., tuple[RunningServer, StoreSCP]], tmp_path: Path
) -> None:
    running, store = pacs(start_server)
    known = print_film(running, ("ROE^RICHARD", "P-2"))
    (forwarded,) = store.wait_for(1, 30)  # the SCU named its patient: confirmed, forwarded at once
    assert forwarded.PatientID == "P-2"
    job = print_film(running)  # no patient: held
    assert outbox(running) == []
    (row,) = running.server.archive.index.find_films(FilmFilter(job_uid=job))
    assert (row["identity_source"], row["identity_confirmed"], row["patient_id"]) == ("", "0", "")
    assert [r["job_uid"] for r in running.server.archive.index.find_films(FilmFilter(review=True))] == [job]

    # an admin assigns it in the web console
    users = Users(tmp_path / "users.json")
    users.add("ada", "admin", "admin-secret-1")
    users.add("vic", "viewer", "viewer-secret-1")
    config = running.server.config
    console = WebConsole(running.server, dataclasses.replace(config, web=WebConfig(users_file=users.path)))
    host, port = console.start("127.0.0.1", 0)
    try:
        url = f"http://{host}:{port}/api/films/{row['sop_instance_uid']}/identity"
        assignment = {"patient_id": "P-1", "patient_name": "DOE^JANE", "accession_number": "A-77"}
        assert httpx.put(url, json=assignment, auth=("vic", "viewer-secret-1")).status_code == 403
        hostile = httpx.put(url, json={"patient_id": "P\\1"}, auth=("ada", "admin-secret-1"))
        assert hostile.status_code == 422
        answer = httpx.put(url, json=assignment, auth=("ada", "admin-secret-1"), timeout=30)
        assert answer.status_code == 200, answer.text
        (film,) = answer.json()
        assert film["identity_source"] == "manual" and film["identity_confirmed"] and not film["needs_review"]
    finally:
        console.stop()

    received = store.wait_for(2, 30)
    corrected = next(ds for ds in received if ds.PatientID == "P-1")
    assert str(corrected.PatientName) == "DOE^JANE" and corrected.AccessionNumber == "A-77"
    # the archive agrees with itself: Encapsulated PDF, manifest, index, audit log
    folder = running.archive / row["folder"]
    document = dcmread(folder / row["dcm"])
    assert (str(document.PatientName), document.PatientID) == ("DOE^JANE", "P-1")
    assert document.SOPInstanceUID == row["sop_instance_uid"] and document.StudyInstanceUID == row["study_instance_uid"]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["identity"]["patient_id"] == "P-1" and manifest["identity"]["source"] == "manual"
    (change,) = manifest["identity_history"]
    assert change["by"] == "ada" and change["old"]["patient_id"] == "" and change["new"]["patient_id"] == "P-1"
    audit = [json.loads(line) for line in (running.archive / AUDIT_LOG).read_text().splitlines()]
    assert [(a["by"], a["print_job_uid"], a["new"]["accession_number"]) for a in audit] == [("ada", job, "A-77")]
    assert not (folder / PENDING_IDENTITY).exists()
    (row,) = running.server.archive.index.find_films(FilmFilter(job_uid=job))
    assert (row["patient_name"], row["identity_confirmed"], row["accession_number"]) == ("DOE^JANE", "1", "A-77")
    assert running.server.archive.index.find_films(FilmFilter(review=True)) == []
    assert known != job


def test_c_find_with_a_wildcard_finds_the_film(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(sections={"identity": IdentityConfig(ocr=False)})
    print_film(running, ("DOE^JANE", "P-1"))
    print_film(running, ("ROE^RICHARD", "P-2"))
    print_film(running, ("Müller^Hans", "P-3"))
    ae = AE("FINDSCU")
    ae.add_requested_context(STUDY_ROOT_FIND)
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    assert assoc.is_established
    found = {}
    try:
        for pattern in ("DOE*", "doe^j*", "MÜLLER*"):  # PN matching ignores case (docs/conformance.md)
            query = Dataset()
            query.SpecificCharacterSet = "ISO_IR 192"
            query.QueryRetrieveLevel = "STUDY"
            query.PatientName = pattern
            query.PatientID = ""
            query.StudyInstanceUID = ""
            found[pattern] = [
                identifier.PatientID
                for status, identifier in assoc.send_c_find(query, STUDY_ROOT_FIND)
                if status.Status in (0xFF00, 0xFF01)
            ]
    finally:
        assoc.release()
    assert found == {"DOE*": ["P-1"], "doe^j*": ["P-1"], "MÜLLER*": ["P-3"]}


def films(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printscp", "films", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_films_assign_without_a_server_and_the_search_that_finds_it(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    folder = tmp_path / "films"
    running = start_server(archive=ArchiveConfig(folder), sections={"identity": IdentityConfig(ocr=False)})
    job = print_film(running, label="CLI ASSIGN")
    running.server.stop()
    listed = films("list", "--review", "--archive", str(folder))
    assert job in listed.stdout and "unknown, review" in listed.stdout
    assigned = films(
        "assign", job[:30], "--patient-id", "M-9", "--patient-name", "MÜLLER^HANS", "--archive", str(folder)
    )
    assert assigned.returncode == 0, assigned.stderr
    for search in ("Müller, Hans", "muller", "müller hans"):
        found = films("list", "--patient", search, "--archive", str(folder))
        assert job in found.stdout, (search, found.stdout)
    assert job not in films("list", "--review", "--archive", str(folder)).stdout
    shown = films("show", job, "--archive", str(folder)).stdout
    assert "manual" in shown and "-> MÜLLER^HANS [M-9]" in shown
    for bad, why in (
        (["--patient-id", "A\\B"], "--patient-id"),
        (["--patient-id", "X", "--birth-date", "19991399"], "--birth-date"),
    ):
        result = films("assign", job, *bad, "--archive", str(folder))
        assert result.returncode == 2 and why in result.stderr and len(result.stderr.strip().splitlines()) == 1
    nothing = films("assign", "9.9.9", "--patient-id", "X", "--archive", str(folder))
    assert nothing.returncode == 2 and "no film or print job" in nothing.stderr


def test_an_assignment_cut_short_is_finished_at_the_next_start(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    folder = tmp_path / "films"
    running = start_server(archive=ArchiveConfig(folder), sections={"identity": IdentityConfig(ocr=False)})
    job = print_film(running)
    (row,) = running.server.archive.index.find_films(FilmFilter(job_uid=job))
    running.server.stop()
    # a kill right after the intent was written: nothing else changed yet
    entry = {
        "at": "2026-12-04T15:00:00+00:00",
        "by": "ada",
        "action": "assign",
        "print_job_uid": job,
        "old": {},
        "new": {"patient_name": "DOE^JANE", "patient_id": "P-1", "source": "manual", "confirmed": True},
    }
    (folder / row["folder"] / PENDING_IDENTITY).write_text(json.dumps(entry))
    archive = FilmArchive(folder)
    archive.clear_leftovers()  # what the next start does first
    (after,) = archive.index.find_films(FilmFilter(job_uid=job))
    assert (after["patient_id"], after["identity_source"], after["identity_confirmed"]) == ("P-1", "manual", "1")
    assert dcmread(folder / row["folder"] / row["dcm"]).PatientID == "P-1"
    assert not (folder / row["folder"] / PENDING_IDENTITY).exists()
    assert json.loads((folder / AUDIT_LOG).read_text().splitlines()[0])["print_job_uid"] == job


def test_a_bad_pattern_in_the_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[identity]\nlabel_patterns = ["{PatientName} {Nonsense}"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "printscp", "serve", "--no-web", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "identity.label_patterns[0]" in line and "Nonsense" in line


def test_a_label_in_the_configured_pattern_names_the_patient(start_server: Callable[..., RunningServer]) -> None:
    patterns = IdentityConfig(ocr=False, label_patterns=("{PatientName} {PatientID}",))
    running = start_server(sections={"identity": patterns})
    job = print_film(running, label="Doe, Jane 12345")
    (row,) = running.server.archive.index.find_films(FilmFilter(job_uid=job))
    assert (row["patient_name"], row["patient_id"]) == ("DOE^JANE", "12345")
    assert (row["identity_source"], row["identity_confirmed"]) == ("label", "1")
    assert dcmread(running.archive / row["folder"] / row["dcm"]).PatientID == "12345"


def _maps_tesseract(pid: int) -> bool:
    return "libtesseract" in Path(f"/proc/{pid}/maps").read_text()


def _descendants(pid: int) -> list[int]:
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def test_render_workers_load_tesseract_at_start_and_the_server_never_does(tmp_path: Path) -> None:
    """The model costs 25 MiB in the process that loads it: the server only asks whether Tesseract is there
    (ocr.version); each render worker (forked by the forkserver, the server's child) loads it when it
    starts, so that no film waits for that, and reads the films with it."""
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "printscp", "serve", "--no-web", "--host", "127.0.0.1", "--port", "0"]
    (tmp_path / "config.toml").write_text("[render]\nworkers = 2\n")
    command += ["--archive", str(tmp_path / "films"), "--config", str(tmp_path / "config.toml")]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, cwd=REPO)
    try:
        wait_until(lambda: "listening on" in log.read_text(), 30, "the server listening")
        port = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())
        assert port is not None and re.search(r"OCR \(Tesseract \d+\.\d+", log.read_text()), log.read_text()
        # before any film: the forkserver and the 2 workers it forked; the workers have Tesseract loaded
        wait_until(lambda: sum(map(_maps_tesseract, _descendants(process.pid))) == 2, 30, "2 workers with Tesseract")
        for _ in range(2):
            with PrintSCU(("127.0.0.1", int(port.group(1))), calling="CT_ROOM1") as scu:
                session = scu.film_session()
                box, images, _ = scu.film_box(session)
                scu.set_image(images[0], 1, burnt_in_image(CONSOLE, size=512, bits=12))
                assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
        wait_until(lambda: log.read_text().count(" DONE") == 2, 60, "both films printed")
        assert not _maps_tesseract(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    identities = [json.loads(film.read_text())["identity"] for film in (tmp_path / "films").rglob("manifest.json")]
    assert [(i["patient_id"], i["source"]) for i in identities] == [("12345678", "ocr")] * 2, identities


def test_without_tesseract_or_peers_the_server_says_so_once_and_prints(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "printscp", "serve", "--no-web", "--host", "127.0.0.1", "--port", "0"]
    command += ["--archive", str(tmp_path / "films")]
    environment = {"PATH": str(tmp_path / "no-tools"), "HOME": str(tmp_path)}  # no tesseract to be found
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, cwd=REPO, env=environment)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        address = ("127.0.0.1", int(found.group(1)))
        with PrintSCU(address) as scu:
            session = scu.film_session()
            box, images, _ = scu.film_box(session)
            scu.set_image(images[0], 1, ramp(64, 64))
            assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
        wait_until(lambda: "print job" in log.read_text() and " DONE" in log.read_text(), 30, "the film printed")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    text = log.read_text()
    assert process.returncode == 0 and "Traceback" not in text, text
    assert text.count("Tesseract is not installed") == 1
    assert "identity of prints that name no patient: none (only what the SCU sends)" in text
