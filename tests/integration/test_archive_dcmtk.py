"""The archive and composite services against DCMTK: storescu in; findscu, getscu and movescu out; forwarding.

Real DCMTK processes over loopback, no mocks. Instances are made with pydicom in the test's folder, films
are printed with the test SCU (tests/printscu.py), and whatever DCMTK wrote (findscu's extracted responses,
getscu's and storescp's received files) is read back with pydicom. A printed film comes back as an
Encapsulated PDF whose document must be the film's PDF in the archive, byte for byte.

The C-FIND and retrieve-level tests share one server per module (`archive`): it holds five instances sent
by storescu (three patients, three studies) and one printed film whose Film Session proposed a fourth
patient and study. They only read, so their order does not matter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RunningServer, bundled_config
from dcmtk import (
    QR_LEVEL_KEYS,
    StoreSCP,
    dimse_statuses,
    findscu,
    free_port,
    getscu,
    movescu,
    run,
    storescu,
    tool,
)
from printscu import PrintSCU, ramp
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    BasicTextSRStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from waiting import wait_until

from printscp import uids
from printscp.archive.store import StoredJob
from printscp.config import ArchiveConfig, IdentityConfig, Node
from printscp.net.server import PrintServer

pytestmark = pytest.mark.dcmtk

StartServer = Callable[..., RunningServer]

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SUCCESS, MOVE_DESTINATION_UNKNOWN = 0x0000, 0xA801

# --- the instances storescu sends: patients, studies, series, instances --------------------------------

PATIENTS = {  # Patient ID: Patient's Name, Birth Date, Sex
    "P-DOE-1": ("DOE^JOHN", "19700101", "M"),
    "P-DOE-2": ("DOE^JANE", "19800202", "F"),
    "P-ROE": ("ROE^RICHARD", "19600303", "M"),
}
STUDIES = {  # name: Patient ID, Study Date, Study Time, Accession Number, Study Description
    "S1": ("P-DOE-1", "20260315", "101500", "ACC-S1", "CT CHEST"),
    "S2": ("P-DOE-2", "20251120", "083000", "ACC-S2", "REPORT"),
    "S3": ("P-ROE", "20270102", "140000", "ACC-S3", "CT HEAD"),
}
SERIES = {  # name: study, Modality, Series Number
    "S1_CT": ("S1", "CT", 1),
    "S1_OT": ("S1", "OT", 2),
    "S2_SR": ("S2", "SR", 1),
    "S3_CT": ("S3", "CT", 1),
}
INSTANCES = {  # name: series, SOP Class UID, Instance Number
    "CT1": ("S1_CT", CTImageStorage, 1),
    "CT2": ("S1_CT", CTImageStorage, 2),
    "SC": ("S1_OT", SecondaryCaptureImageStorage, 1),
    "SR": ("S2_SR", BasicTextSRStorage, 1),
    "ROE_CT": ("S3_CT", CTImageStorage, 1),
}
# the printed film's Proposed Study Sequence: a fourth patient and study (S4), series S4_DOC, instance FILM
FILM_PATIENT = ("P-DOE-3", "DOE^FILM", "19900404", "F")
FILM_STUDY = ("20260601", "090000", "ACC-S4")


def make_instances(folder: Path) -> tuple[dict[str, str], dict[str, Dataset], list[Path]]:
    """The files of INSTANCES in `folder`: (name -> UID of every study, series and instance, name ->
    data set, files)."""
    names = {name: str(generate_uid()) for name in [*STUDIES, *SERIES, *INSTANCES]}
    datasets: dict[str, Dataset] = {}
    files = []
    for number, (name, (series, sop_class, instance_number)) in enumerate(INSTANCES.items()):
        study, modality, series_number = SERIES[series]
        patient_id, study_date, study_time, accession, description = STUDIES[study]
        patient_name, birth_date, sex = PATIENTS[patient_id]
        ds = Dataset()
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = names[name]
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, birth_date, sex
        ds.StudyInstanceUID = names[study]
        ds.StudyDate, ds.StudyTime, ds.AccessionNumber = study_date, study_time, accession
        ds.StudyDescription, ds.StudyID, ds.ReferringPhysicianName = description, study, ""
        ds.SeriesInstanceUID = names[series]
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, series_number, instance_number
        if sop_class == BasicTextSRStorage:
            ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
            ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "11528-7", "LN", "Radiology Report"
            ds.ConceptNameCodeSequence = [code]
        else:  # a small image whose pixels differ from one instance to the next
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows = ds.Columns = 8
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            if sop_class == SecondaryCaptureImageStorage:
                ds.ConversionType = "WSD"
            ds.PixelData = (np.arange(64, dtype="<u2") * (number + 1)).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{name}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        datasets[name] = dcmread(path)
        files.append(path)
    return names, datasets, files


def print_film(address: tuple[str, int], label: str, calling: str = "MODALITY", study: Dataset | None = None) -> str:
    """Print one film (STANDARD\\1,1 on 8INX10IN, one ramp image) with the test SCU; its Film Box UID."""
    with PrintSCU(address, calling=calling) as scu:
        attributes: dict[str, Any] = {"FilmSessionLabel": label}
        if study is not None:
            attributes["ProposedStudySequence"] = [study]
        session = scu.film_session(**attributes)
        box, images, _ = scu.film_box(session, "STANDARD\\1,1", FilmSizeID="8INX10IN")
        assert scu.set_image(images[0], 1, ramp(64, 64)).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
        assert scu.n_delete(uids.BASIC_FILM_BOX, box).status == 0
        assert scu.n_delete(uids.BASIC_FILM_SESSION, session).status == 0
    return box


def proposed_study(study_instance_uid: str) -> Dataset:
    patient_id, patient_name, birth_date, sex = FILM_PATIENT
    study_date, study_time, accession = FILM_STUDY
    item = Dataset()
    item.PatientName, item.PatientID, item.PatientBirthDate, item.PatientSex = patient_name, patient_id, birth_date, sex
    item.StudyInstanceUID = study_instance_uid
    item.StudyDate, item.StudyTime, item.AccessionNumber = study_date, study_time, accession
    return item


def film_of(job: StoredJob, box_uid: str) -> dict[str, Any]:
    films: list[dict[str, Any]] = [film for film in job.manifest["films"] if film["film_box_uid"] == box_uid]
    assert len(films) == 1, job.manifest["films"]
    return films[0]


def job_of(running: RunningServer, box_uid: str) -> tuple[StoredJob, dict[str, Any]]:
    """The stored job and manifest film entry of a printed Film Box (waits for the print queue)."""
    jobs = [job for job in running.jobs() if any(f["film_box_uid"] == box_uid for f in job.manifest["films"])]
    assert len(jobs) == 1, f"{len(jobs)} stored jobs hold film box {box_uid}"
    return jobs[0], film_of(jobs[0], box_uid)


def check_film_instance(path: Path, job: StoredJob, film: dict[str, Any], workdir: Path) -> None:
    """`path` is the film's Encapsulated PDF: the right instance, and its document is the archived PDF
    byte for byte, as pydicom, dcmdump and dcm2pdf read it."""
    pdf = (job.folder / film["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF-")
    ds = dcmread(path)
    assert ds.SOPClassUID == ENCAPSULATED_PDF
    assert ds.SOPInstanceUID == film["sop_instance_uid"]
    assert ds.StudyInstanceUID == film["study_instance_uid"]
    assert ds.SeriesInstanceUID == film["series_instance_uid"]
    assert ds.Modality == "DOC"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.EncapsulatedDocumentLength == len(pdf)
    # OB values have even length: an odd-sized PDF carries one trailing NUL, nothing else differs
    assert ds.EncapsulatedDocument == pdf + b"\x00" * (len(pdf) & 1)
    # the same instance as the archive holds (film-N.dcm), data set for data set
    assert ds == dcmread(job.folder / film["dcm"])

    dump = run(
        [
            tool("dcmdump"),
            "+P",
            "SOPClassUID",
            "+P",
            "MIMETypeOfEncapsulatedDocument",
            "+P",
            "EncapsulatedDocumentLength",
            str(path),
        ]
    )
    assert dump.returncode == 0, dump.stderr
    assert "=EncapsulatedPDFStorage" in dump.stdout, dump.stdout
    assert "[application/pdf]" in dump.stdout, dump.stdout
    assert f"{len(pdf)}" in dump.stdout, dump.stdout

    # DCMTK's own extraction (dcm2pdf drops the pad byte after the PDF's closing %%EOF line)
    extracted = workdir / f"{path.name}.pdf"
    result = run([tool("dcm2pdf"), str(path), str(extracted)])
    assert result.returncode == 0, result.stderr
    assert extracted.read_bytes() == pdf


# --- the shared archive ----------------------------------------------------------------------------------


@dataclass
class Archive:
    """A server whose archive holds INSTANCES (sent by storescu) and one film proposing study S4."""

    running: RunningServer
    storescp_port: int  # node STORESCP (nothing listens until a test starts storescp there)
    uids: dict[str, str]  # name -> UID (studies, series, instances, S4, S4_DOC, FILM)
    sent: dict[str, Dataset]
    film_job: StoredJob
    film: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # UID -> name

    def __post_init__(self) -> None:
        self.names = {uid: name for name, uid in self.uids.items()}

    @property
    def address(self) -> tuple[str, int]:
        return self.running.address

    def name_of(self, value: str) -> str:
        return self.names.get(value, value)

    def fill(self, keys: dict[str, str]) -> dict[str, str]:
        """Keys with {name} placeholders replaced by the UIDs of this archive."""
        return {keyword: value.format(**self.uids) for keyword, value in keys.items()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    folder = tmp_path_factory.mktemp("archive")
    storescp_port = free_port()
    server = PrintServer(bundled_config(folder / "films", nodes={"STORESCP": Node("127.0.0.1", storescp_port)}))
    try:
        host, port = server.start("127.0.0.1", 0)
        running = RunningServer(server, host, port)
        names, sent, files = make_instances(folder / "sent")
        result = storescu(running.address, files)
        assert result.returncode == 0, result.stderr
        names["S4"] = str(generate_uid())
        box = print_film(running.address, "SHARED FILM", study=proposed_study(names["S4"]))
        job, film = job_of(running, box)
        names["S4_DOC"], names["FILM"] = film["series_instance_uid"], film["sop_instance_uid"]
        yield Archive(running, storescp_port, names, sent, job, film)
    finally:
        server.stop()


# --- storescu in ----------------------------------------------------------------------------------------


def test_storescu_instances_are_stored_and_indexed(start_server: StartServer, tmp_path: Path) -> None:
    running = start_server()
    names, sent, files = make_instances(tmp_path / "sent")

    result = storescu(running.address, files, calling="MODALITY_1")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Received Store Response (Success)") == len(files), result.stderr
    rows = running.server.archive.index.instances()
    indexed = {row["sop_instance_uid"]: row for row in rows}
    assert set(indexed) == {names[name] for name in INSTANCES}
    for name, (series, sop_class, instance_number) in INSTANCES.items():
        row = indexed[names[name]]
        study, modality, _ = SERIES[series]
        patient_id, study_date, *_ = STUDIES[study]
        assert (
            row["sop_class_uid"],
            row["patient_id"],
            row["patient_name"],
            row["study_instance_uid"],
            row["study_date"],
            row["series_instance_uid"],
            row["modality"],
            row["instance_number"],
        ) == (
            sop_class,
            patient_id,
            PATIENTS[patient_id][0],
            names[study],
            study_date,
            names[series],
            modality,
            str(instance_number),
        )
        assert (row["source"], row["calling_ae_title"]) == ("store", "MODALITY_1")
        # kept as received: the file in the archive holds the data set storescu sent
        stored = running.archive / row["path"]
        assert stored.parent.parent == running.archive / "instances"
        assert dcmread(stored) == sent[name]
    # and C-FIND finds every one of them
    found = findscu(running.address, tmp_path, "-S", "IMAGE", {"SOPInstanceUID": ""})
    assert found.returncode == 0 and not found.errors, found.text[-3000:]
    assert sorted(found.values("SOPInstanceUID")) == sorted(names[name] for name in INSTANCES)


# --- findscu ----------------------------------------------------------------------------------------------

# model, level, keys ({name} = a UID of the archive), the names of the entities that must match (exactly)
FIND_CASES = [
    pytest.param(
        "-P",
        "PATIENT",
        {"PatientName": "DOE*"},
        {"P-DOE-1", "P-DOE-2", "P-DOE-3"},
        id="patient-root-patient-name-wildcard",
    ),
    pytest.param("-P", "PATIENT", {"PatientName": "DOE^J?HN"}, {"P-DOE-1"}, id="patient-root-patient-question-mark"),
    pytest.param("-P", "PATIENT", {"PatientName": "doe^jane"}, {"P-DOE-2"}, id="patient-root-patient-pn-any-case"),
    pytest.param(
        "-P",
        "PATIENT",
        {"PatientName": ""},
        {"P-DOE-1", "P-DOE-2", "P-DOE-3", "P-ROE"},
        id="patient-root-patient-universal",
    ),
    pytest.param(
        "-P",
        "PATIENT",
        {"PatientBirthDate": "-19751231"},
        {"P-DOE-1", "P-ROE"},
        id="patient-root-patient-birth-date-open-range",
    ),
    pytest.param("-P", "STUDY", {"PatientID": "P-DOE-1"}, {"S1"}, id="patient-root-study-by-patient"),
    pytest.param(
        "-P",
        "STUDY",
        {"PatientName": "DOE*", "StudyDate": "20260101-20261231"},
        {"S1", "S4"},
        id="patient-root-study-wildcard-and-date-range",
    ),
    pytest.param(
        "-P",
        "SERIES",
        {"PatientID": "P-DOE-3", "StudyInstanceUID": "{S4}"},
        {"S4_DOC"},
        id="patient-root-series-of-the-film",
    ),
    pytest.param(
        "-P",
        "IMAGE",
        {"PatientID": "P-DOE-1", "StudyInstanceUID": "{S1}", "SeriesInstanceUID": "{S1_CT}"},
        {"CT1", "CT2"},
        id="patient-root-image",
    ),
    pytest.param("-S", "STUDY", {"StudyDate": "20260101-20261231"}, {"S1", "S4"}, id="study-root-study-date-range"),
    pytest.param("-S", "STUDY", {"StudyDate": "-20260101"}, {"S2"}, id="study-root-study-date-open-start"),
    pytest.param("-S", "STUDY", {"StudyDate": "20260601-"}, {"S3", "S4"}, id="study-root-study-date-open-end"),
    pytest.param("-S", "STUDY", {"StudyDate": "20260315"}, {"S1"}, id="study-root-study-date-single"),
    pytest.param("-S", "STUDY", {"StudyTime": "0900-1000"}, {"S4"}, id="study-root-study-time-range"),
    pytest.param("-S", "STUDY", {"PatientName": "DOE*", "StudyDate": "2027*"}, set(), id="study-root-study-no-match"),
    pytest.param("-S", "STUDY", {"StudyInstanceUID": "{S1}\\{S3}"}, {"S1", "S3"}, id="study-root-study-uid-list"),
    pytest.param(
        "-S", "STUDY", {"AccessionNumber": "ACC-S?"}, {"S1", "S2", "S3", "S4"}, id="study-root-study-accession-wildcard"
    ),
    pytest.param("-S", "SERIES", {"StudyInstanceUID": "{S1}"}, {"S1_CT", "S1_OT"}, id="study-root-series-of-study"),
    pytest.param(
        "-S",
        "SERIES",
        {"StudyInstanceUID": "{S1}", "Modality": "C?"},
        {"S1_CT"},
        id="study-root-series-modality-wildcard",
    ),
    pytest.param("-S", "SERIES", {"Modality": "DOC"}, {"S4_DOC"}, id="study-root-series-printed-films"),
    pytest.param(
        "-S",
        "IMAGE",
        {"StudyInstanceUID": "{S1}", "SeriesInstanceUID": "{S1_CT}"},
        {"CT1", "CT2"},
        id="study-root-image",
    ),
    pytest.param(
        "-S", "IMAGE", {"SOPInstanceUID": "{CT1}\\{SR}\\{FILM}"}, {"CT1", "SR", "FILM"}, id="study-root-image-uid-list"
    ),
    pytest.param("-S", "IMAGE", {"SOPClassUID": ENCAPSULATED_PDF}, {"FILM"}, id="study-root-image-by-sop-class"),
]


@pytest.mark.parametrize(("model", "level", "keys", "expected"), FIND_CASES)
def test_findscu_matches_exactly(
    archive: Archive, tmp_path: Path, model: str, level: str, keys: dict[str, str], expected: set[str]
) -> None:
    unique = QR_LEVEL_KEYS[level]
    identifier = {unique: "", **archive.fill(keys)}

    result = findscu(archive.address, tmp_path, model, level, identifier)

    assert result.returncode == 0 and not result.errors, result.text[-3000:]
    assert "Received Final Find Response (Success)" in result.text, result.text[-3000:]
    found = [archive.name_of(value) for value in result.values(unique)]
    assert sorted(found) == sorted(expected)  # each entity once, and only those
    assert all(ds.QueryRetrieveLevel == level for ds in result.datasets)


def test_findscu_answers_in_order_of_study_date(archive: Archive, tmp_path: Path) -> None:
    result = findscu(archive.address, tmp_path, "-S", "STUDY", {"StudyInstanceUID": "", "StudyDate": ""})

    assert result.returncode == 0 and not result.errors, result.text[-3000:]
    assert [archive.name_of(uid) for uid in result.values("StudyInstanceUID")] == ["S2", "S1", "S4", "S3"]
    assert result.values("StudyDate") == ["20251120", "20260315", FILM_STUDY[0], "20270102"]
    assert {str(ds.SpecificCharacterSet) for ds in result.datasets} == {"ISO_IR 192"}


def test_findscu_returns_the_keys_asked_for(archive: Archive, tmp_path: Path) -> None:
    patient = findscu(
        archive.address,
        tmp_path,
        "-P",
        "PATIENT",
        {
            "PatientID": "P-DOE-1",
            "PatientName": "",
            "PatientBirthDate": "",
            "PatientSex": "",
            "NumberOfPatientRelatedStudies": "",
            "NumberOfPatientRelatedSeries": "",
            "NumberOfPatientRelatedInstances": "",
        },
    )
    assert patient.returncode == 0 and len(patient.datasets) == 1, patient.text[-3000:]
    ds = patient.datasets[0]
    assert (ds.PatientName, ds.PatientBirthDate, ds.PatientSex) == ("DOE^JOHN", "19700101", "M")
    assert (ds.NumberOfPatientRelatedStudies, ds.NumberOfPatientRelatedSeries, ds.NumberOfPatientRelatedInstances) == (
        1,
        2,
        3,
    )

    study = findscu(
        archive.address,
        tmp_path,
        "-S",
        "STUDY",
        {
            "StudyInstanceUID": archive.uids["S1"],
            "StudyDate": "",
            "StudyTime": "",
            "AccessionNumber": "",
            "StudyDescription": "",
            "PatientName": "",
            "ModalitiesInStudy": "",
            "NumberOfStudyRelatedSeries": "",
            "NumberOfStudyRelatedInstances": "",
        },
    )
    assert study.returncode == 0 and len(study.datasets) == 1, study.text[-3000:]
    ds = study.datasets[0]
    assert (ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyDescription, ds.PatientName) == (
        "20260315",
        "101500",
        "ACC-S1",
        "CT CHEST",
        "DOE^JOHN",
    )
    assert sorted(ds.ModalitiesInStudy) == ["CT", "OT"]
    assert (ds.NumberOfStudyRelatedSeries, ds.NumberOfStudyRelatedInstances) == (2, 3)

    # the printed film: found under the patient and study its Film Session proposed
    film = findscu(
        archive.address,
        tmp_path,
        "-P",
        "SERIES",
        {
            "PatientID": FILM_PATIENT[0],
            "PatientName": "",
            "StudyInstanceUID": "",
            "StudyDate": "",
            "AccessionNumber": "",
            "SeriesInstanceUID": "",
            "Modality": "",
            "SeriesNumber": "",
            "SeriesDescription": "",
            "NumberOfSeriesRelatedInstances": "",
        },
    )
    assert film.returncode == 0 and len(film.datasets) == 1, film.text[-3000:]
    ds = film.datasets[0]
    assert (ds.PatientName, ds.StudyInstanceUID, ds.StudyDate, ds.AccessionNumber) == (
        FILM_PATIENT[1],
        archive.uids["S4"],
        FILM_STUDY[0],
        FILM_STUDY[2],
    )
    assert (ds.SeriesInstanceUID, ds.Modality, ds.SeriesNumber, ds.SeriesDescription) == (
        archive.film["series_instance_uid"],
        "DOC",
        1,
        "Printed films",
    )
    assert ds.NumberOfSeriesRelatedInstances == 1


# --- getscu and movescu of received instances -------------------------------------------------------------

RETRIEVE_CASES = [
    pytest.param("-P", "PATIENT", {"PatientID": "P-DOE-1"}, {"CT1", "CT2", "SC"}, id="patient-root-patient"),
    pytest.param("-S", "STUDY", {"StudyInstanceUID": "{S2}"}, {"SR"}, id="study-root-study"),
    pytest.param(
        "-S",
        "SERIES",
        {"StudyInstanceUID": "{S1}", "SeriesInstanceUID": "{S1_CT}"},
        {"CT1", "CT2"},
        id="study-root-series",
    ),
    pytest.param(
        "-P",
        "IMAGE",
        {
            "PatientID": "P-ROE",
            "StudyInstanceUID": "{S3}",
            "SeriesInstanceUID": "{S3_CT}",
            "SOPInstanceUID": "{ROE_CT}",
        },
        {"ROE_CT"},
        id="patient-root-image",
    ),
]


def check_retrieved(archive: Archive, datasets: list[Dataset], expected: set[str]) -> None:
    """Exactly the expected instances came back, each the data set storescu sent."""
    names = [archive.name_of(str(ds.SOPInstanceUID)) for ds in datasets]
    assert sorted(names) == sorted(expected)
    for name, ds in zip(names, datasets, strict=True):
        assert ds == archive.sent[name], name


@pytest.mark.parametrize(("model", "level", "keys", "expected"), RETRIEVE_CASES)
def test_getscu_retrieves_the_matching_instances(
    archive: Archive, tmp_path: Path, model: str, level: str, keys: dict[str, str], expected: set[str]
) -> None:
    result = getscu(archive.address, tmp_path, model, level, archive.fill(keys))

    assert result.returncode == 0 and not result.errors, result.text[-3000:]
    assert "Received C-GET Response (Success)" in result.text, result.text[-3000:]
    assert f"Number of Completed Suboperations : {len(expected)}" in result.text, result.text[-3000:]
    check_retrieved(archive, result.datasets, expected)


@pytest.mark.parametrize(("model", "level", "keys", "expected"), RETRIEVE_CASES)
def test_movescu_moves_the_matching_instances(
    archive: Archive, tmp_path: Path, model: str, level: str, keys: dict[str, str], expected: set[str]
) -> None:
    with StoreSCP(tmp_path / "storescp", archive.storescp_port) as scp:
        result = movescu(archive.address, model, level, archive.fill(keys), "STORESCP")
        assert result.returncode == 0, result.stderr[-3000:]
        assert dimse_statuses(result.stderr)[-1:] == [SUCCESS], result.stderr[-3000:]
        received = scp.wait_for(len(expected), timeout=10)
    check_retrieved(archive, received, expected)


@pytest.mark.parametrize("destination", ["NOWHERE", "STORESCP"], ids=["unknown-ae", "known-ae-not-listening"])
def test_movescu_to_a_destination_it_cannot_reach_is_a801(archive: Archive, destination: str) -> None:
    """PS3.4 C.4.2.1.4: Move Destination unknown; docs/conformance.md: also when the association to a
    configured node fails (STORESCP is configured, but no storescp listens outside the move tests)."""
    result = movescu(archive.address, "-P", "PATIENT", {"PatientID": "P-DOE-1"}, destination)

    assert result.returncode != 0, result.stderr[-3000:]
    assert dimse_statuses(result.stderr)[-1:] == [MOVE_DESTINATION_UNKNOWN], result.stderr[-3000:]
    assert "Refused: MoveDestinationUnknown" in result.stderr


# --- printed films: getscu, movescu, forwarding -------------------------------------------------------------


def test_getscu_retrieves_a_printed_film_as_its_pdf(start_server: StartServer, tmp_path: Path) -> None:
    running = start_server()
    box = print_film(running.address, "GET THIS FILM", calling="CT_SCANNER")
    job, film = job_of(running, box)
    # no Proposed Study Sequence: no patient, a study derived from the Film Session
    assert job.manifest["film_session"]["proposed_study"] is None

    result = getscu(running.address, tmp_path, "-S", "STUDY", {"StudyInstanceUID": film["study_instance_uid"]})

    assert result.returncode == 0 and not result.errors, result.text[-3000:]
    assert "Received C-GET Response (Success)" in result.text, result.text[-3000:]
    assert len(result.files) == 1, result.files
    check_film_instance(result.files[0], job, film, tmp_path)
    ds = result.datasets[0]
    assert (ds.PatientName, ds.PatientID) == ("", "")
    assert ds.DocumentTitle == "GET THIS FILM"


def test_movescu_moves_a_printed_film_to_storescp(start_server: StartServer, tmp_path: Path) -> None:
    port = free_port()
    running = start_server(nodes={"STORESCP": Node("127.0.0.1", port)})
    study_uid = str(generate_uid())
    box = print_film(running.address, "MOVE THIS FILM", study=proposed_study(study_uid))
    job, film = job_of(running, box)
    assert film["study_instance_uid"] == study_uid

    with StoreSCP(tmp_path / "storescp", port) as scp:
        # by patient: the film is filed under the patient its Film Session proposed
        result = movescu(running.address, "-P", "PATIENT", {"PatientID": FILM_PATIENT[0]}, "STORESCP")
        assert result.returncode == 0, result.stderr[-3000:]
        assert dimse_statuses(result.stderr)[-1:] == [SUCCESS], result.stderr[-3000:]
        scp.wait_for(1, timeout=10)
        received = scp.received()

    assert len(received) == 1, received
    check_film_instance(received[0], job, film, tmp_path)
    ds = dcmread(received[0])
    assert (ds.PatientName, ds.PatientID, ds.StudyDate) == (FILM_PATIENT[1], FILM_PATIENT[0], FILM_STUDY[0])


def test_forwarding_to_a_pacs_that_was_down_loses_nothing(
    start_server: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="printscp.net.forward")
    port = free_port()  # the PACS: nothing listens here until storescp is started below
    running = start_server(  # films with no patient: forwarded as they are, not held for review
        nodes={"PACS": Node("127.0.0.1", port)},
        archive=ArchiveConfig(tmp_path / "films", forward_to=("PACS",)),
        sections={"identity": IdentityConfig(ocr=False, unconfirmed="forward")},
    )
    boxes = [print_film(running.address, f"FORWARD {n}") for n in (1, 2)]
    stored = [job_of(running, box) for box in boxes]
    forwarder = running.server.forwarder
    assert forwarder is not None

    # the PACS is down: the forwarder tried, failed, and keeps both films in its outbox
    wait_until(
        lambda: any("forwarding to PACS failed" in r.getMessage() for r in caplog.records),
        10,
        "a failed forwarding attempt",
    )
    assert forwarder.pending() == {"PACS": 2}

    with StoreSCP(tmp_path / "pacs", port, ae_title="PACS") as pacs:
        # the outbox retries with a backoff of at most 10 s
        pacs.wait_for(2, timeout=15)
        wait_until(lambda: forwarder.pending() == {"PACS": 0}, 10, "the outbox emptied")
        files = pacs.received()

    by_uid = {str(dcmread(path).SOPInstanceUID): path for path in files}
    assert len(by_uid) == len(files) == 2, files  # each film once
    assert sorted(by_uid) == sorted(film["sop_instance_uid"] for _, film in stored)
    for job, film in stored:
        check_film_instance(by_uid[film["sop_instance_uid"]], job, film, tmp_path)
