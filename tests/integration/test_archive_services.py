"""The archive over the network with pynetdicom SCUs: cancel, bad input, lost index, retention, hostile text.

The DCMTK interop tests (test_archive_dcmtk.py) cover matching and retrieval with DCMTK's tools; these
cover what those tools cannot drive precisely: a C-CANCEL in the middle of a C-FIND, malformed C-STOREs,
a server restarted on an archive whose index was deleted, retention while the server runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer, lose_index
from printscu import PrintSCU
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from printscp import uids
from printscp.config import ArchiveConfig

StartServer = Callable[..., RunningServer]
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def ct(patient: str = "DOE^JOHN", **changes: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
    ds.PatientName, ds.PatientID = patient, patient.split("^")[0]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.Modality, ds.InstanceNumber = "20261130", "CT", 1
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.zeros((4, 4), dtype="<u2").tobytes()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def composite(running: RunningServer, *contexts: str):  # type: ignore[no-untyped-def]
    ae = AE("QRSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for context in contexts:
        ae.add_requested_context(context, ExplicitVRLittleEndian)
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    assert assoc.is_established
    return assoc


def study_query(patient: str = "*") -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName, query.StudyInstanceUID = patient, ""
    return query


def find_studies(running: RunningServer, patient: str = "*") -> list[str]:
    assoc = composite(running, STUDY_ROOT_FIND)
    try:
        return [
            str(answer.StudyInstanceUID)
            for status, answer in assoc.send_c_find(study_query(patient), STUDY_ROOT_FIND)
            if status is not None and status.Status == 0xFF00
        ]
    finally:
        assoc.release()


def print_film(running: RunningServer, label: str = "FILM", calling: str = "TESTSCU") -> str:
    with PrintSCU(running.address, calling=calling) as scu:
        session = scu.film_session(FilmSessionLabel=label)
        _, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, np.full((32, 32), 2000, dtype=np.uint16)).status == 0
        assert scu.n_action(uids.BASIC_FILM_SESSION, session).status == 0
    return session


def test_c_find_cancel_stops_the_matches(start_server: StartServer) -> None:
    running = start_server()
    archive = running.server.archive
    # many studies straight into the index: C-FIND reads nothing else
    archive.index.add_instances(
        [
            {
                "sop_instance_uid": f"1.2.3.{n}",
                "study_instance_uid": f"1.2.4.{n}",
                "patient_name": f"DOE^{n}",
                "source": "store",
                "path": f"x/{n}.dcm",
            }
            for n in range(3000)
        ]
    )
    assoc = composite(running, STUDY_ROOT_FIND)
    statuses = []
    for status, _ in assoc.send_c_find(study_query("DOE*"), STUDY_ROOT_FIND, msg_id=7):
        statuses.append(int(status.Status))
        if len(statuses) == 5:
            assoc.send_c_cancel(7, query_model=STUDY_ROOT_FIND)
    assoc.release()
    assert statuses[-1] == 0xFE00, len(statuses)  # Matching terminated due to Cancel
    # the cancel is read while responses stream, and the handler is at most a few PDUs ahead of the wire
    assert 5 <= len(statuses) - 1 < 50 and set(statuses[:-1]) == {0xFF00}


def test_bad_c_stores_get_statuses_and_the_server_goes_on(start_server: StartServer) -> None:
    running = start_server()
    assoc = composite(running, CTImageStorage)
    no_study = ct()
    del no_study.StudyInstanceUID
    bad_uid = ct()
    bad_uid.SOPInstanceUID = "1.2.03.4"  # a leading zero: not a UID
    responses = [assoc.send_c_store(ds) for ds in (no_study, bad_uid)]
    instance = ct("ROE^RICHARD")
    good = assoc.send_c_store(instance)
    assoc.release()
    assert [(r.Status, str(r.ErrorComment)) for r in responses] == [
        (0xA900, "StudyInstanceUID missing"),
        (0xA900, "a UID of the instance is not valid"),
    ]
    assert good.Status == 0
    assert len(find_studies(running)) == 1
    assert [p.name for p in (running.archive / "instances").rglob("*") if p.is_file()] == [
        f"{instance.SOPInstanceUID}.dcm"
    ]


def test_restart_with_the_index_deleted_finds_every_film_and_instance(
    start_server: StartServer, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    first = start_server(archive=ArchiveConfig(folder))
    print_film(first, "ONE")
    print_film(first, "TWO")
    assoc = composite(first, CTImageStorage)
    assert assoc.send_c_store(ct()).Status == 0
    assoc.release()
    assert len(first.jobs()) == 2
    before = sorted(find_studies(first))
    assert len(before) == 3
    first.server.stop()
    lose_index(folder)
    second = start_server(archive=ArchiveConfig(folder))
    assert sorted(find_studies(second)) == before


def test_retention_keeps_the_archive_under_its_size_while_serving(start_server: StartServer, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    sizer = start_server(archive=ArchiveConfig(tmp_path / "sizer"))
    print_film(sizer)
    (job,) = sizer.jobs()
    one_job = sum(p.stat().st_size for p in job.folder.iterdir())
    sizer.server.stop()
    # room for two jobs and a half: printing a fourth leaves the newest two
    running = start_server(archive=ArchiveConfig(folder, max_size_gb=one_job * 2.5 / 1e9))
    sessions = []
    for n in range(4):
        sessions.append(print_film(running, f"FILM {n}"))
        running.jobs()
    kept = running.jobs()
    assert [j.manifest["film_session"]["film_session_label"] for j in kept] == ["FILM 2", "FILM 3"]
    assert len(find_studies(running)) == 2
    # transcripts of the associations have limits of their own ([transcripts] max_age_days, max_size_gb)
    films = [p for p in folder.rglob("*") if p.is_file() and "transcripts" not in p.relative_to(folder).parts]
    used = sum(p.stat().st_size for p in films if not p.name.startswith("index"))
    assert used <= one_job * 2.5


@pytest.mark.parametrize("label", ["../../etc/passwd", "..\\..\\x", "/tmp/evil", "a\x00b"])
def test_hostile_labels_write_nothing_outside_the_archive(
    start_server: StartServer, tmp_path: Path, label: str
) -> None:
    running = start_server()
    with PrintSCU(running.address, calling="../../x") as scu:
        response = scu.n_create(uids.BASIC_FILM_SESSION, _label(label))
        if "\x00" in label or "\\" in label:  # a NUL, or more than one value: 0106, nothing printed
            assert response.status == 0x0106 and response.offending == [0x20000050], response.comment
            return
        assert response.status == 0
        session = response.affected_uid
        _, boxes, _ = scu.film_box(session)
        scu.set_image(boxes[0], 1, np.full((16, 16), 100, dtype=np.uint16))
        assert scu.n_action(uids.BASIC_FILM_SESSION, session).status == 0
    (job,) = running.jobs()
    assert job.manifest["film_session"]["film_session_label"] == label
    written = {p for p in tmp_path.rglob("*")}
    assert all(p.is_relative_to(running.archive) for p in written if p != running.archive)
    assert job.folder.parent.parent.parent.parent == running.archive  # YYYY/MM/DD/<job uid>


def _label(label: str) -> Dataset:
    ds = Dataset()
    ds.FilmSessionLabel = label
    return ds
