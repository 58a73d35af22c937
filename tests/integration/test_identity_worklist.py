"""Identity from a modality worklist (printscp/identity/query.py `worklist`) against DCMTK's wlmscpfs.

A real wlmscpfs on a loopback port serves worklist files the test writes (tests/worklist.py); printscp asks it
as a C-FIND SCU. The print time is fixed (not now), so the windows are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dcmtk import free_port
from worklist import Wlmscpfs, write_worklist_entry

from printscp.config import Node
from printscp.identity.model import Identity
from printscp.identity.query import worklist

pytestmark = pytest.mark.dcmtk

PRINTED_AT = datetime(2031, 5, 14, 10, 0, 0)
CALLING = "CT1"  # the modality that prints, and the station its procedures are scheduled on


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[Wlmscpfs]:
    with Wlmscpfs(tmp_path / "worklists", free_port()) as server:
        yield server


def ask(scp: Wlmscpfs, printed_at: datetime = PRINTED_AT, window: float = 30, **kwargs: object) -> list[Identity]:
    node = Node("127.0.0.1", scp.port)
    return worklist(node, scp.ae_title, "PRINTSCP", CALLING, printed_at, window, **kwargs)  # type: ignore[arg-type]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "printscp.identity.query" and r.levelno >= logging.WARNING
    ]


def test_one_entry_for_the_calling_station_gives_its_identity(scp: Wlmscpfs) -> None:
    write_worklist_entry(
        scp.folder,
        scp.ae_title,
        scheduled=PRINTED_AT - timedelta(minutes=20),
        PatientName="DOE^JANE",
        PatientID="PID-7",
        PatientBirthDate="19700102",
        PatientSex="F",
        AccessionNumber="ACC-7",
        StudyInstanceUID="1.2.3.4.5.6.7",
        ScheduledStationAETitle=CALLING,
    )
    assert ask(scp) == [
        Identity(
            patient_name="DOE^JANE",
            patient_id="PID-7",
            patient_birth_date="19700102",
            patient_sex="F",
            accession_number="ACC-7",
            study_instance_uid="1.2.3.4.5.6.7",
            source="worklist",
            confirmed=False,
        )
    ]


def test_two_entries_for_the_station_in_the_window_give_two_closest_first(scp: Wlmscpfs) -> None:
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT - timedelta(minutes=25), PatientID="FAR")
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT + timedelta(minutes=5), PatientID="NEAR")
    assert [identity.patient_id for identity in ask(scp)] == ["NEAR", "FAR"]


def test_the_same_procedure_scheduled_twice_is_one_identity(scp: Wlmscpfs) -> None:
    for minutes in (-10, 10):  # two steps of one requested procedure: same patient, accession and study
        write_worklist_entry(
            scp.folder, scp.ae_title, scheduled=PRINTED_AT + timedelta(minutes=minutes), StudyInstanceUID="1.2.3"
        )
    assert [identity.study_instance_uid for identity in ask(scp)] == ["1.2.3"]


def test_an_entry_for_another_station_or_outside_the_window_is_not_found(scp: Wlmscpfs) -> None:
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT, ScheduledStationAETitle="MR1")
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT - timedelta(minutes=31), PatientID="EARLY")
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT + timedelta(days=1), PatientID="TOMORROW")
    assert ask(scp) == []
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT - timedelta(minutes=29), PatientID="IN")
    assert [identity.patient_id for identity in ask(scp)] == ["IN"]  # the same query finds one that is in


def test_an_entry_without_a_start_time_counts_by_its_date(scp: Wlmscpfs) -> None:
    write_worklist_entry(
        scp.folder, scp.ae_title, ScheduledProcedureStepStartDate="20310514", ScheduledProcedureStepStartTime=None
    )
    write_worklist_entry(
        scp.folder,
        scp.ae_title,
        PatientID="OTHER-DAY",
        ScheduledProcedureStepStartDate="20310513",
        ScheduledProcedureStepStartTime=None,
    )
    assert [identity.patient_id for identity in ask(scp)] == ["PID-1"]


def test_a_window_over_midnight_asks_for_both_days(scp: Wlmscpfs) -> None:
    late = datetime(2031, 5, 14, 23, 50)
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=datetime(2031, 5, 15, 0, 10), PatientID="AFTER")
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=datetime(2031, 5, 14, 23, 30), PatientID="BEFORE")
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=datetime(2031, 5, 15, 0, 30), PatientID="TOO-LATE")
    assert sorted(identity.patient_id for identity in ask(scp, printed_at=late)) == ["AFTER", "BEFORE"]
    assert "DA [20310514-20310515 ]" in scp.text()  # the request wlmscpfs logged: a range of two days


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192"])
def test_a_non_ascii_name_is_decoded_in_the_answers_character_set(scp: Wlmscpfs, charset: str) -> None:
    write_worklist_entry(
        scp.folder, scp.ae_title, scheduled=PRINTED_AT, SpecificCharacterSet=charset, PatientName="MÜLLER^HANS"
    )
    (identity,) = ask(scp)
    assert identity.patient_name == "MÜLLER^HANS"


def test_a_closed_port_gives_nothing_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with caplog.at_level(logging.WARNING):
        found = worklist(Node("127.0.0.1", port), "WORKLIST", "PRINTSCP", CALLING, PRINTED_AT, 30, timeout=5)
    assert found == []
    (warning,) = warnings_of(caplog)
    assert "worklist WORKLIST" in warning and f"127.0.0.1:{port}" in warning and "cannot connect" in warning


def test_no_node_gives_nothing_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert worklist(None, "WORKLIST", "PRINTSCP", CALLING, PRINTED_AT, 30) == []
    (warning,) = warnings_of(caplog)
    assert "no such node is configured" in warning


def test_an_unknown_called_ae_title_gives_nothing_and_one_warning(
    scp: Wlmscpfs, caplog: pytest.LogCaptureFixture
) -> None:
    write_worklist_entry(scp.folder, scp.ae_title, scheduled=PRINTED_AT)
    with caplog.at_level(logging.WARNING):
        found = worklist(Node("127.0.0.1", scp.port), "NOSUCHAE", "PRINTSCP", CALLING, PRINTED_AT, 30)
    assert found == []
    (warning,) = warnings_of(caplog)
    # wlmscpfs rejects it (called-AE-title-not-recognized) and closes the connection at once; pynetdicom sees
    # the rejection or, when the close wins the race, an abort
    assert "NOSUCHAE" in warning and ("called-AE-title-not-recognized" in warning or "aborted" in warning)


def test_a_worklist_that_answers_too_late_gives_nothing_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Wlmscpfs(tmp_path / "slow", free_port(), options=["--sleep-before", "5"]) as slow:
        write_worklist_entry(slow.folder, slow.ae_title, scheduled=PRINTED_AT)
        with caplog.at_level(logging.WARNING):
            started = datetime.now()
            found = ask(slow, timeout=1)
            took = datetime.now() - started
    assert found == []
    assert took < timedelta(seconds=4)  # not the SCP's 5 s: our timeout
    (warning,) = warnings_of(caplog)
    assert "no answer" in warning or "within" in warning


def test_a_refused_association_gives_nothing_and_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Wlmscpfs(tmp_path / "refusing", free_port(), options=["--refuse"]) as refusing:
        with caplog.at_level(logging.WARNING):
            assert ask(refusing) == []
    (warning,) = warnings_of(caplog)
    assert "rejected" in warning or "aborted" in warning  # the same race as above
