"""PACS peers for tests of printscp/identity/query.py `pacs`: DCMTK's dcmqrscp, and a small pynetdicom C-FIND SCP.

dcmqrscp stores what storescu sends into one storage area (an AE title of its config file) and answers C-FIND
from its index. Its index matches only a fixed set of keys per level (dcmqrdb's TbFindAttr): at SERIES level
Series Number, Series Instance UID and Modality; Series Date and Time are stored but neither matched nor
returned, and Station Name is not indexed at all. Keys it does not support are ignored, not refused. So it
shows what `pacs` does with such a PACS, and answers the STUDY-level follow-up (patient keys by Study
Instance UID), but it cannot find "the series this station made in the window".

`StationPacs` is that second best: a pynetdicom Study Root C-FIND SCP in the test process over a list of
instances, matching SERIES-level Station Name and Series Date (single value or range) and STUDY-level Study
Instance UID as PS3.4 C.2.2.2 says, or answering what a test scripts (`answers`, for hostile peers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from dcmtk import storescu, tool
from pydicom import examples
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.events import Event
from worklist import DcmtkServer

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def write_ct_image(
    path: Path,
    station: str,
    made: datetime,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    **fields: Any,
) -> Dataset:
    """A CT image (pydicom's example CT) as `station` made it at `made` (Series Date and Time), in a study and
    series of its own unless given; `fields` set more keywords (PatientName, AccessionNumber ...)."""
    ds = examples.ct
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StationName = station
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = made.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = made.strftime("%H%M%S")
    for keyword, value in fields.items():
        setattr(ds, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


class Dcmqrscp(DcmtkServer):
    """DCMTK's dcmqrscp on `port` with one storage area, `ae_title`, in `folder`; `store` sends files to it."""

    name = "dcmqrscp"

    def __init__(self, folder: Path, port: int, ae_title: str = "PACS") -> None:
        super().__init__(port, folder / "dcmqrscp.log")
        self.folder, self.ae_title = folder, ae_title
        self.storage = folder / ae_title
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config = folder / "dcmqrscp.cfg"
        self.config.write_text(
            "\n".join(
                [
                    f"NetworkTCPPort = {port}",
                    "MaxPDUSize = 16384",
                    "MaxAssociations = 16",
                    "HostTable BEGIN",
                    "HostTable END",
                    "VendorTable BEGIN",
                    "VendorTable END",
                    "AETable BEGIN",
                    f"{ae_title} {self.storage} RW (100, 1024mb) ANY",  # any peer may store and query
                    "AETable END",
                    "",
                ]
            )
        )

    def command(self) -> list[str]:
        # a child process per association: dcmqrscp 3.6.7 --single-process dies (SIGSEGV) after a C-STORE
        return [tool("dcmqrscp"), "--verbose", "--config", str(self.config)]

    def start(self, timeout: float = 10) -> Dcmqrscp:
        started: Dcmqrscp = super().start(timeout)
        return started

    def __enter__(self) -> Dcmqrscp:
        return self.start()

    def store(self, files: list[Path]) -> None:
        result = storescu(("127.0.0.1", self.port), files, called=self.ae_title)
        # dcmqrscp indexes an instance before it answers its C-STORE: once storescu is done, it is findable
        assert result.returncode == 0 and "Success" in result.stderr, f"storescu failed:\n{result.stderr}"


Answers = Callable[[Dataset], Iterator[tuple[int, Dataset | None]]]


class StationPacs:
    """A pynetdicom Study Root C-FIND SCP on a free loopback port over `instances`: matches SERIES-level
    Station Name and Series Date, STUDY-level Study Instance UID; `answers` replaces the matching (a function
    from the request identifier to (status, identifier) pairs). `requests` holds every identifier received."""

    def __init__(self, instances: list[Dataset] | None = None, ae_title: str = "PACS") -> None:
        self.instances = list(instances or [])
        self.ae_title = ae_title
        self.answers: Answers = self.match
        self.requests: list[Dataset] = []
        self._lock = threading.Lock()
        ae = AE(ae_title)
        ae.add_supported_context(STUDY_ROOT_FIND, ExplicitVRLittleEndian)  # explicit: a wrong VR stays wrong
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, self._find)])
        self.port = int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()

    def __enter__(self) -> StationPacs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        request = event.identifier
        with self._lock:
            self.requests.append(request)
        yield from self.answers(request)

    def match(self, request: Dataset) -> Iterator[tuple[int, Dataset | None]]:
        level = request.get("QueryRetrieveLevel", "")
        seen: set[str] = set()
        for ds in self.instances:
            if level == "SERIES":
                if ds.SeriesInstanceUID in seen or not _matches(request, ds, ("StationName", "SeriesDate")):
                    continue
                seen.add(ds.SeriesInstanceUID)
            elif level == "STUDY":
                if ds.StudyInstanceUID in seen or not _matches(request, ds, ("StudyInstanceUID",)):
                    continue
                seen.add(ds.StudyInstanceUID)
            else:
                yield 0xA900, None  # identifier does not match SOP class
                return
            answer = Dataset()
            answer.QueryRetrieveLevel = level
            if "SpecificCharacterSet" in ds:
                answer.SpecificCharacterSet = ds.SpecificCharacterSet
            for element in request:
                if element.keyword not in ("QueryRetrieveLevel", "SpecificCharacterSet") and element.keyword in ds:
                    answer[element.tag] = ds[element.tag]
            yield 0xFF00, answer
        yield 0x0000, None


def _matches(request: Dataset, ds: Dataset, keys: tuple[str, ...]) -> bool:
    """PS3.4 C.2.2.2: single value matching, and range matching of dates; an empty key matches anything."""
    for keyword in keys:
        wanted = str(request.get(keyword, "") or "")
        if not wanted:
            continue
        value = str(ds.get(keyword, "") or "")
        if keyword.endswith("Date") and "-" in wanted:
            first, _, last = wanted.partition("-")
            if not ((not first or first <= value) and (not last or value <= last)):
                return False
        elif value != wanted:
            return False
    return True
