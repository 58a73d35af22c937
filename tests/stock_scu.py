"""A print SCU on pynetdicom exactly as installed: run as a script, it imports nothing of printscp.

printscp.net.compat patches pynetdicom's requestor when it is imported (items 4 and 5 of its docstring), so
the test SCUs in this process are not the pynetdicom that users run. This one runs in a process of its own:

    python tests/stock_scu.py PORT [--films N] [--poll SECONDS]

It associates proposing Basic Grayscale Print Management Meta and Print Job, answers event reports with
0000, and for each film creates a Film Box (STANDARD\\2,2), sets its four Image Boxes (512 x 512, 12 bits),
prints it and polls N-GET on the Print Job until DONE or FAILURE, while the job's events arrive; then it
releases. It prints one JSON object: the event types received, the statuses N-GET saw, and how the
association ended.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.events import Event

META = "1.2.840.10008.5.1.1.9"
PRINT_JOB = "1.2.840.10008.5.1.1.14"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
IMAGE_BOX = "1.2.840.10008.5.1.1.4"
SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]


def image(rng: np.random.Generator) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows = item.Columns = 512
    item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation = 16, 12, 11, 0
    item.add_new(0x7FE00010, "OW", rng.integers(0, 4096, (512, 512), dtype="<u2").tobytes())
    return item


def run(port: int, films: int, poll: float, timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = {"events": [], "statuses": [], "error": None}

    def on_event_report(event: Event) -> tuple[int, None]:
        result["events"].append(int(event.request.EventTypeID))  # type: ignore[union-attr]
        return 0x0000, None

    ae = AE("STOCKSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(META, SYNTAXES)
    ae.add_requested_context(PRINT_JOB, SYNTAXES)
    rng = np.random.default_rng(port)
    assoc = ae.associate(
        "127.0.0.1", port, ae_title="PRINTSCP", evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_event_report)]
    )
    try:
        assert assoc.is_established, "not associated"
        session = generate_uid()
        status, _ = assoc.send_n_create(None, FILM_SESSION, session, meta_uid=META)
        assert status.Status == 0, status
        for _ in range(films):
            box = generate_uid()
            dataset = Dataset()
            dataset.ImageDisplayFormat = "STANDARD\\2,2"
            reference = Dataset()
            reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = FILM_SESSION, session
            dataset.ReferencedFilmSessionSequence = [reference]
            status, created = assoc.send_n_create(dataset, FILM_BOX, box, meta_uid=META)
            assert status.Status == 0 and created is not None, status
            for position, item in enumerate(created.ReferencedImageBoxSequence, 1):
                change = Dataset()
                change.ImageBoxPosition = position
                change.BasicGrayscaleImageSequence = [image(rng)]
                status, _ = assoc.send_n_set(change, IMAGE_BOX, item.ReferencedSOPInstanceUID, meta_uid=META)
                assert status.Status == 0, status
            status, reply = assoc.send_n_action(None, 1, FILM_BOX, box, meta_uid=META)
            assert status.Status == 0 and reply is not None, status
            job = str(reply[0x21000500].value[0].ReferencedSOPInstanceUID)  # Referenced Print Job Sequence
            statuses: list[str] = []
            while not statuses or statuses[-1] not in ("DONE", "FAILURE"):
                status, attributes = assoc.send_n_get([Tag(0x21000020), Tag(0x21000030)], PRINT_JOB, job)
                assert "Status" in status and attributes is not None, f"no N-GET response, aborted={assoc.is_aborted}"
                if not statuses or statuses[-1] != attributes.ExecutionStatus:
                    statuses.append(str(attributes.ExecutionStatus))
                time.sleep(poll)
            result["statuses"].append(statuses)
    except AssertionError as exc:
        result["error"] = str(exc)
    finally:
        if assoc.is_established:
            assoc.release()
    result["released"], result["aborted"] = bool(assoc.is_released), bool(assoc.is_aborted)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--films", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.003)
    parser.add_argument("--timeout", type=float, default=30.0)
    arguments = parser.parse_args()
    print(json.dumps(run(arguments.port, arguments.films, arguments.poll, arguments.timeout)), flush=True)
