"""Identity from a PACS (printscp/identity/query.py `pacs` and `study`) against real peers over loopback.

DCMTK's dcmqrscp first, with CT images sent by storescu: its index neither matches nor returns Station Name or
Series Date at SERIES level (tests/pacs.py says why), so it proves what `pacs` does with such a PACS (nothing,
and a warning that says so) and answers the STUDY-level follow-up, `study`, for real. The path that finds the
station's recent study is tested against `StationPacs`, a pynetdicom C-FIND SCP in the test process that does
match Station Name and Series Date: a second best, since it is our own reading of PS3.4 C.2.2.2 on both
sides. It also plays the hostile PACS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dcmtk import free_port
from pacs import Dcmqrscp, StationPacs, write_ct_image
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from printscp.config import Node
from printscp.identity.model import Identity
from printscp.identity.query import pacs, study

pytestmark = pytest.mark.dcmtk

PRINTED_AT = datetime(2031, 5, 14, 10, 0, 0)
STATION = "CT1"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "printscp.identity.query" and r.levelno >= logging.WARNING
    ]


# --- DCMTK's dcmqrscp --------------------------------------------------------------------------------------


@pytest.fixture
def dcmqrscp(tmp_path: Path) -> Iterator[Dcmqrscp]:
    with Dcmqrscp(tmp_path / "pacs", free_port()) as server:
        yield server


def test_dcmqrscp_cannot_tie_a_series_to_a_station_so_pacs_finds_nothing_and_says_why(
    dcmqrscp: Dcmqrscp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now().replace(microsecond=0)
    image = tmp_path / "ct.dcm"
    write_ct_image(image, STATION, now - timedelta(minutes=5), PatientName="DOE^JANE", PatientID="PID-1")
    dcmqrscp.store([image])
    with caplog.at_level(logging.WARNING):
        found = pacs(Node("127.0.0.1", dcmqrscp.port), dcmqrscp.ae_title, "PRINTSCP", STATION, now, 30)
    assert found == []
    (warning,) = warnings_of(caplog)
    assert "PACS PACS returns no Station Name at SERIES level" in warning
    assert "(0008,1010) SH [CT1]" in dcmqrscp.text()  # it was asked, and ignored the key


def test_dcmqrscp_answers_the_study_follow_up(dcmqrscp: Dcmqrscp, tmp_path: Path) -> None:
    image = tmp_path / "ct.dcm"
    ds = write_ct_image(
        image,
        STATION,
        datetime.now(),
        SpecificCharacterSet="ISO_IR 100",
        PatientName="MÜLLER^HANS",
        PatientID="PID-9",
        PatientBirthDate="19600229",
        PatientSex="M",
        AccessionNumber="ACC-9",
    )
    dcmqrscp.store([image])
    node = Node("127.0.0.1", dcmqrscp.port)
    assert study(node, dcmqrscp.ae_title, "PRINTSCP", ds.StudyInstanceUID) == Identity(
        patient_name="MÜLLER^HANS",
        patient_id="PID-9",
        patient_birth_date="19600229",
        patient_sex="M",
        accession_number="ACC-9",
        study_instance_uid=ds.StudyInstanceUID,
        source="pacs",
    )
    assert study(node, dcmqrscp.ae_title, "PRINTSCP", "1.2.3.4") is None  # a study it does not hold


# --- a PACS that matches Station Name: pynetdicom's C-FIND SCP in the test ---------------------------------


def instance(study_uid: str, station: str, made: datetime, patient_id: str, **fields: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = f"PATIENT^{patient_id}", patient_id, "", "O"
    ds.AccessionNumber = f"ACC-{patient_id}"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = f"{study_uid}.{made.strftime('%H%M%S')}"
    ds.StationName = station
    ds.SeriesDate, ds.SeriesTime = made.strftime("%Y%m%d"), made.strftime("%H%M%S")
    for keyword, value in fields.items():
        setattr(ds, keyword, value)
    return ds


def ask(peer: StationPacs, printed_at: datetime = PRINTED_AT, window: float = 30) -> list[Identity]:
    return pacs(Node("127.0.0.1", peer.port), peer.ae_title, "PRINTSCP", STATION, printed_at, window, timeout=5)


def test_the_studies_the_station_made_in_the_window_newest_first_with_their_patients() -> None:
    instances = [
        instance("1.2.1", STATION, PRINTED_AT - timedelta(minutes=20), "OLDER"),
        instance("1.2.2", STATION, PRINTED_AT - timedelta(minutes=3), "NEWER", PatientName="MÜLLER^HANS"),
        instance("1.2.2", STATION, PRINTED_AT - timedelta(minutes=4), "NEWER"),  # a second series of it
        instance("1.2.3", "MR1", PRINTED_AT - timedelta(minutes=1), "OTHER-STATION"),
        instance("1.2.4", STATION, PRINTED_AT - timedelta(minutes=31), "TOO-EARLY"),
        instance("1.2.5", STATION, PRINTED_AT - timedelta(days=1), "YESTERDAY"),
    ]
    with StationPacs(instances) as peer:
        found = ask(peer)
        series_query = peer.requests[0]
    assert [(i.patient_id, i.study_instance_uid, i.patient_name) for i in found] == [
        ("NEWER", "1.2.2", "MÜLLER^HANS"),
        ("OLDER", "1.2.1", "PATIENT^OLDER"),
    ]
    assert found[0] == Identity(
        patient_name="MÜLLER^HANS",
        patient_id="NEWER",
        patient_sex="O",
        accession_number="ACC-NEWER",
        study_instance_uid="1.2.2",
        source="pacs",
    )
    assert (series_query.QueryRetrieveLevel, series_query.StationName, series_query.SeriesDate) == (
        "SERIES",
        STATION,
        "20310514",
    )


def test_one_study_in_the_window_is_one_identity_and_a_window_over_midnight_asks_two_days() -> None:
    late = datetime(2031, 5, 14, 23, 55)
    with StationPacs([instance("1.2.9", STATION, datetime(2031, 5, 15, 0, 5), "AFTER-MIDNIGHT")]) as peer:
        found = ask(peer, printed_at=late)
        assert peer.requests[0].SeriesDate == "20310514-20310515"
    assert [i.patient_id for i in found] == ["AFTER-MIDNIGHT"]


def test_no_series_of_the_station_in_the_window_is_nothing_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with StationPacs([instance("1.2.3", "MR1", PRINTED_AT, "OTHER")]) as peer, caplog.at_level(logging.WARNING):
        assert ask(peer) == []
    assert warnings_of(caplog) == []


def test_a_closed_port_gives_nothing_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with caplog.at_level(logging.WARNING):
        assert pacs(Node("127.0.0.1", port), "PACS", "PRINTSCP", STATION, PRINTED_AT, 30, timeout=5) == []
    (warning,) = warnings_of(caplog)
    assert f"PACS PACS at 127.0.0.1:{port} cannot be asked (cannot connect)" in warning


def test_a_failure_status_gives_nothing_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    def failing(request: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        yield 0xC001, None  # unable to process

    with StationPacs() as peer, caplog.at_level(logging.WARNING):
        peer.answers = failing
        assert ask(peer) == []
    (warning,) = warnings_of(caplog)
    assert "status 0xC001" in warning


def test_a_failure_in_the_study_follow_up_gives_nothing_not_a_partial_list(caplog: pytest.LogCaptureFixture) -> None:
    instances = [instance(uid, STATION, PRINTED_AT - timedelta(minutes=m), uid) for uid, m in (("1.1", 1), ("1.2", 2))]
    with StationPacs(instances) as peer, caplog.at_level(logging.WARNING):

        def second_study_fails(request: Dataset) -> Iterator[tuple[int, Dataset | None]]:
            if request.QueryRetrieveLevel == "STUDY" and request.StudyInstanceUID == "1.2":
                yield 0xA700, None  # out of resources
            else:
                yield from peer.match(request)

        peer.answers = second_study_fails
        assert ask(peer) == []
    (warning,) = warnings_of(caplog)
    assert "status 0xA700" in warning


def test_hostile_answers_are_cleaned_and_never_raise() -> None:
    def hostile(request: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        answer = Dataset()
        if request.QueryRetrieveLevel == "SERIES":
            answer.StationName = STATION
            answer.SeriesDate, answer.SeriesTime = "20310514", "09:55:00"  # ACR-NEMA time: still read
            answer.StudyInstanceUID = "1.2.840.1"
            yield 0xFF00, answer
            bad = Dataset()  # a series with a date that is no date: dropped
            bad.StationName, bad.SeriesDate, bad.StudyInstanceUID = STATION, "2031-05-14", "1.2.840.2"
            yield 0xFF00, bad
        else:
            answer.SpecificCharacterSet = "ISO_IR 100"
            answer.add(DataElement(0x00100010, "PN", "Ñ" * 100 + "^\x1bHANS\x07" + "=" * 9))  # too long, controls
            answer.add(DataElement(0x00100020, "LO", "X" * 5000))  # huge
            answer.add(DataElement(0x00100030, "DA", "19601345"))  # month 13
            answer.add(DataElement(0x00100040, "CS", "MALE"))  # not a defined term
            answer.add(DataElement(0x00080050, "OB", b"\x00\xff" * 10))  # a wrong VR
            answer.add(DataElement(0x0020000D, "UI", "1.2.840.1"))
            yield 0xFF00, answer
        yield 0x0000, None

    with StationPacs() as peer:
        peer.answers = hostile
        (identity,) = ask(peer)
    assert identity.patient_name == "Ñ" * 64  # 64 characters a component group; control characters gone
    assert identity.patient_id == "X" * 64
    assert (identity.patient_birth_date, identity.patient_sex, identity.accession_number) == ("", "", "")
    assert identity.study_instance_uid == "1.2.840.1"
