"""Issue 16's acceptance, with real peers: DCMTK's dcmprscu prints, wlmscpfs serves the worklist, storescp is
the PACS; and a film whose patient is only burnt into its pixels is read by OCR (Tesseract)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from burnt_in import write_burnt_in_dicom
from conftest import RunningServer
from dcmtk import CALLING_AE_TITLE, DcmtkPrintClient, StoreSCP, free_port, write_image
from pydicom import dcmread
from worklist import Wlmscpfs, write_worklist_entry

from printscp.archive.film_index import FilmFilter
from printscp.config import ArchiveConfig, IdentityConfig, Node


class Site:
    """A modality's neighbours: a worklist, a PACS, and printscp forwarding to it."""

    def __init__(self, folder: Path, start_server: Callable[..., RunningServer], ocr: bool) -> None:
        self.folder = folder
        self.worklist = Wlmscpfs(folder / "worklists", free_port(), ae_title="WORKLIST").start()
        self.pacs = StoreSCP(folder / "pacs", free_port(), ae_title="PACS").start()
        self.running = start_server(
            nodes={"WORKLIST": Node("127.0.0.1", self.worklist.port), "PACS": Node("127.0.0.1", self.pacs.port)},
            archive=ArchiveConfig(folder / "films", forward_to=("PACS",)),
            sections={"identity": IdentityConfig(worklist="WORKLIST", ocr=ocr)},
        )
        self.client = DcmtkPrintClient(folder, self.running.host, self.running.port)

    def schedule(self, **fields: str) -> None:
        write_worklist_entry(
            self.worklist.folder,
            "WORKLIST",
            scheduled=datetime.now(),
            ScheduledStationAETitle=CALLING_AE_TITLE,
            **fields,
        )

    def print(self, image: Path) -> dict[str, str]:
        log = self.client.print([image])
        assert log.printed, log.summary()
        assert self.running.server.queue.wait_idle(60)
        rows = self.running.server.archive.index.find_films(FilmFilter(newest_first=True, limit=1))
        return rows[0]

    def outbox(self) -> list[Path]:
        folder = self.running.archive / ".outbox" / "PACS"
        return sorted(folder.iterdir()) if folder.exists() else []

    def stop(self) -> None:
        self.worklist.stop()
        self.pacs.stop()


@pytest.fixture
def site(tmp_path: Path, start_server: Callable[..., RunningServer]) -> Iterator[Callable[[bool], Site]]:
    made: list[Site] = []

    def make(ocr: bool = False) -> Site:
        made.append(Site(tmp_path, start_server, ocr))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def plain_image(folder: Path) -> Path:
    return write_image(folder / "plain.dcm", (np.arange(128 * 128).reshape(128, 128) % 4096).astype(np.uint16))


def test_one_worklist_entry_names_the_film_and_the_pacs_gets_it(site: Callable[[bool], Site], tmp_path: Path) -> None:
    here = site(False)
    study = "1.2.826.0.1.3680043.8.498.16161616"
    here.schedule(PatientName="MÜLLER^HANS", PatientID="W-1", AccessionNumber="ACC-16", StudyInstanceUID=study)
    film = here.print(plain_image(tmp_path))
    assert (film["patient_name"], film["patient_id"], film["accession_number"]) == ("MÜLLER^HANS", "W-1", "ACC-16")
    assert (film["identity_source"], film["identity_confirmed"], film["study_instance_uid"]) == ("worklist", "1", study)
    (received,) = here.pacs.wait_for(1, 30)
    assert (str(received.PatientName), received.PatientID, received.AccessionNumber) == ("MÜLLER^HANS", "W-1", "ACC-16")
    assert received.StudyInstanceUID == study and received.SOPInstanceUID == film["sop_instance_uid"]


def test_two_worklist_entries_are_flagged_for_review_and_held(site: Callable[[bool], Site], tmp_path: Path) -> None:
    here = site(False)
    here.schedule(PatientName="DOE^JANE", PatientID="W-1", AccessionNumber="ACC-1")
    here.schedule(PatientName="ROE^RICHARD", PatientID="W-2", AccessionNumber="ACC-2")
    film = here.print(plain_image(tmp_path))
    assert (film["patient_id"], film["identity_confirmed"]) == ("", "0")
    assert film["identity_review"].startswith("2 worklist entries match")
    assert here.outbox() == [] and here.pacs.received() == []  # held: nothing went to the PACS
    dicom = dcmread(here.running.archive / film["folder"] / film["dcm"])
    assert dicom.PatientID == "" and dicom.PatientName == ""  # printscp invents no patient


def test_burnt_in_text_read_by_ocr_is_unconfirmed_and_held(site: Callable[[bool], Site], tmp_path: Path) -> None:
    here = site(True)  # no worklist entry for this modality: only the pixels say whose film it is
    image = write_burnt_in_dicom(
        tmp_path / "burnt-in.dcm",
        {"top_left": ["DOE^JANE", "ID: 12345678", "DOB: 1970-01-31"], "bottom_right": ["ACC: A1234"]},
    )
    film = here.print(image)
    assert (film["patient_name"], film["patient_id"]) == ("DOE^JANE", "12345678")
    assert (film["patient_birth_date"], film["accession_number"]) == ("19700131", "A1234")
    assert (film["identity_source"], film["identity_confirmed"]) == ("ocr", "0")
    assert here.outbox() == [] and here.pacs.received() == []
