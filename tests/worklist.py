"""DCMTK's worklist SCP (wlmscpfs) and its worklist files, for tests; and a helper that starts any DCMTK SCP.

wlmscpfs serves the files `<folder>/<AE>/*.wl`, where AE is the Called AE Title it is asked by: each AE title
of the worklist SCP is a subfolder, which needs a file named `lockfile` (wlmscpfs refuses to read a folder
without one). A worklist file is a DICOM file holding one entry: the patient and study keys at the top level
and one Scheduled Procedure Step Sequence item (PS3.4 K.6.1.2.2), with a Specific Character Set. They are
written here with pydicom rather than DCMTK's dump2dcm (same file, and no dump syntax to escape: non-ASCII
names are encoded by pydicom in the character set given). wlmscpfs answers with `--keep-char-set`, so that
the answer carries the file's Specific Character Set (its default is to send none).

    with Wlmscpfs(tmp_path / "worklists", free_port()) as scp:
        write_worklist_entry(scp.folder, scp.ae_title, ScheduledStationAETitle="CT1", scheduled=now)
        ... worklist(Node("127.0.0.1", scp.port), scp.ae_title, ...)

Entries may be written while it runs: wlmscpfs reads the folder at every query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from dcmtk import DcmtkServer, tool
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

# Keywords that belong in the Scheduled Procedure Step Sequence item, not at the top level (PS3.4 K.6.1.2.2)
STEP_KEYWORDS = frozenset(
    {
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "Modality",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepDescription",
        "ScheduledStationName",
        "ScheduledProcedureStepLocation",
        "ScheduledProcedureStepID",
        "PreMedication",
        "RequestedContrastAgent",
        "ScheduledProcedureStepStatus",
    }
)


def write_worklist_entry(folder: Path, ae: str, scheduled: datetime | None = None, **fields: Any) -> Path:
    """Write one worklist entry into `folder`/`ae` (made, with its lockfile, if need be) and return its path.

    `fields` are DICOM keywords and values; those of the procedure step (STEP_KEYWORDS) go into the Scheduled
    Procedure Step Sequence item. `scheduled` sets its start date and time (YYYYMMDD, HHMMSS). Keys not given
    take defaults that make a complete entry: SpecificCharacterSet ISO_IR 192 (UTF-8), DOE^JANE, a new Study
    Instance UID, station CT1, modality CT, and so on. A value of None leaves the key out.
    """
    values: dict[str, Any] = {
        "SpecificCharacterSet": "ISO_IR 192",
        "PatientName": "DOE^JANE",
        "PatientID": "PID-1",
        "PatientBirthDate": "19700101",
        "PatientSex": "F",
        "AccessionNumber": "ACC-1",
        "StudyInstanceUID": generate_uid(),
        "RequestedProcedureID": "RP-1",
        "RequestedProcedureDescription": "CT HEAD",
        "ReferringPhysicianName": "WHO^DR",
        "ScheduledStationAETitle": "CT1",
        "Modality": "CT",
        "ScheduledProcedureStepID": "SPS-1",
        "ScheduledProcedureStepDescription": "CT HEAD",
        "ScheduledPerformingPhysicianName": "",
    }
    if scheduled is not None:
        values["ScheduledProcedureStepStartDate"] = scheduled.strftime("%Y%m%d")
        values["ScheduledProcedureStepStartTime"] = scheduled.strftime("%H%M%S")
    values.update(fields)
    entry, step = Dataset(), Dataset()
    entry.SpecificCharacterSet = values.pop("SpecificCharacterSet") or "ISO_IR 6"
    for keyword, value in values.items():
        if value is not None:
            setattr(step if keyword in STEP_KEYWORDS else entry, keyword, value)
    entry.ScheduledProcedureStepSequence = [step]
    entry.file_meta = FileMetaDataset()
    entry.file_meta.MediaStorageSOPClassUID = MODALITY_WORKLIST_FIND
    entry.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    entry.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    target = folder / ae
    target.mkdir(parents=True, exist_ok=True)
    (target / "lockfile").touch()
    path = target / f"{uuid.uuid4().hex}.wl"
    entry.save_as(path, enforce_file_format=True)
    return path


class Wlmscpfs(DcmtkServer):
    """DCMTK's wlmscpfs serving the worklist files of `folder` (one subfolder per AE title; `ae_title`'s is
    made) on `port`, in one process, answering in the files' character set. `options`: more wlmscpfs options
    (e.g. --sleep-before 5 to answer late, --refuse to refuse every association)."""

    name = "wlmscpfs"

    def __init__(self, folder: Path, port: int, ae_title: str = "WORKLIST", options: Sequence[str] = ()) -> None:
        super().__init__(port, folder.with_name(f"{folder.name}.wlmscpfs.log"))
        self.folder, self.ae_title, self.options = folder, ae_title, list(options)
        (folder / ae_title).mkdir(parents=True, exist_ok=True)
        (folder / ae_title / "lockfile").touch()

    def start(self, timeout: float = 10) -> Wlmscpfs:
        started: Wlmscpfs = super().start(timeout)
        return started

    def __enter__(self) -> Wlmscpfs:
        return self.start()

    def command(self) -> list[str]:
        return [
            tool("wlmscpfs"),
            "--verbose",
            "--single-process",
            "--data-files-path",
            str(self.folder),
            "--disable-file-reject",
            "--keep-char-set",
            *self.options,
            str(self.port),
        ]
