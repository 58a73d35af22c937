#!/usr/bin/env python3
"""CPU time of the print engine alone for one film, without sockets, spool or rendering.

One association's worth of requests, each a data set as pynetdicom hands it over (encoded and decoded
again, Implicit VR Little Endian): Film Session N-CREATE, Film Box N-CREATE (STANDARD\\4,5, 14INX17IN),
20 Basic Grayscale Image Box N-SETs of 512x512 12-bit pixels, Film Box N-ACTION (to a queue that only
takes the record), release. It measures decoding by the SOP-class table, the model's checks, N-CREATE
responses and freezing the film record: the part of the server's receive CPU that is printscp's own
(issue 12 budgets "receive" at 45 ms per such film). Median and minimum over --repeat films.

    .venv/bin/python benchmarks/engine_cpu.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from printscp import uids  # noqa: E402
from printscp.config import load_config  # noqa: E402
from printscp.engine import AssociationInfo, PrintEngine, PrintJobState  # noqa: E402
from printscp.model.printer import Printer  # noqa: E402
from printscp.model.record import GrayscaleImage, PrintRequest  # noqa: E402

META = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META


class Queue:
    """Takes the film record and nothing else."""

    def prepare(self, image: GrayscaleImage) -> None:
        pass

    def submit(self, request: PrintRequest) -> str:
        return "1.2.3"

    def print_job(self, sop_instance_uid: str) -> PrintJobState | None:
        return None


def wire(ds: Dataset) -> bytes:
    data = encode(ds, True, True)
    assert data is not None
    return data


def received(data: bytes) -> Dataset:
    return decode(io.BytesIO(data), True, True)


def reference(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


def image_box(position: int, pixels: np.ndarray) -> bytes:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows, item.Columns = pixels.shape
    item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation = 16, 12, 11, 0
    item.add_new(0x7FE00010, "OW", pixels.astype("<u2").tobytes())
    ds = Dataset()
    ds.ImageBoxPosition = position
    ds.BasicGrayscaleImageSequence = [item]
    return wire(ds)


def one_film(engine: PrintEngine, images: list[bytes]) -> None:
    session_request = Dataset()
    session_request.NumberOfCopies = 1
    session_request.FilmSessionLabel = "BENCHMARK"
    session = engine.n_create(META, uids.BASIC_FILM_SESSION, None, received(wire(session_request)))
    assert session.affected_sop_instance_uid is not None
    box_request = Dataset()
    box_request.ImageDisplayFormat = "STANDARD\\4,5"
    box_request.FilmSizeID = "14INX17IN"
    box_request.ReferencedFilmSessionSequence = [reference(uids.BASIC_FILM_SESSION, session.affected_sop_instance_uid)]
    box = engine.n_create(META, uids.BASIC_FILM_BOX, None, received(wire(box_request)))
    assert box.dataset is not None and box.affected_sop_instance_uid is not None
    boxes = [str(item.ReferencedSOPInstanceUID) for item in box.dataset.ReferencedImageBoxSequence]
    for uid, data in zip(boxes, images, strict=True):
        assert engine.n_set(META, uids.BASIC_GRAYSCALE_IMAGE_BOX, uid, received(data)).status == 0
    assert engine.n_action(META, uids.BASIC_FILM_BOX, box.affected_sop_instance_uid, 1, None).status == 0
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    profile = load_config(REPO / "config.toml").printer
    pixels = (np.arange(512 * 512, dtype=np.uint16).reshape(512, 512) * 7) % 4096
    images = [image_box(position, pixels) for position in range(1, 21)]
    times = []
    for run in range(args.repeat + 3):  # 3 warm-up films
        engine = PrintEngine(profile, Printer(), AssociationInfo("BENCH", "PRINTSCP"), Queue())
        start = time.process_time()
        one_film(engine, images)
        if run >= 3:
            times.append(time.process_time() - start)
    print(
        f"engine CPU per film of 20 x 512x512 12-bit images: median {1000 * statistics.median(times):.1f} ms, "
        f"min {1000 * min(times):.1f} ms ({args.repeat} films)"
    )


if __name__ == "__main__":
    main()
