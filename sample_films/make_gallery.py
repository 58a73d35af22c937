#!/usr/bin/env python3
"""Make the sample film gallery: each sample is a real print session against a real printscp.

The script starts printscp (bundled config.toml, a temporary archive) on a free loopback port, prints
every sample below with a pynetdicom print SCU exactly as a modality would (Film Session, Film Box,
Image Box N-SETs, Presentation LUTs, annotations, N-ACTION), waits for the films, and copies each
film's PDF and PNG here as <name>.pdf / <name>.png. Source images are synthetic (benchmarks/
ct_phantom.py, us_phantom.py): CT slices windowed to P-Values, a MONOCHROME1 chest radiograph, and RGB
ultrasound frames and a surface rendering for the colour film (Basic Color Print Management).

    .venv/bin/python sample_films/make_gallery.py            # every sample
    .venv/bin/python sample_films/make_gallery.py NAME ...   # only these (the README lists them all)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

import numpy as np  # noqa: E402
from conftest import bundled_config  # noqa: E402
from ct_phantom import chest_radiograph, ct_series, ct_slice, windowed  # noqa: E402
from printscu import COLOR_META, META, PrintSCU, reference  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from us_phantom import b_mode, colour_doppler, surface_rendering  # noqa: E402

from printscp import uids  # noqa: E402
from printscp.net.server import PrintServer  # noqa: E402

CONTEXTS = (META, COLOR_META, uids.PRESENTATION_LUT, uids.BASIC_ANNOTATION_BOX)
FITTED = (0x0000, 0xB604, 0xB609, 0xB60A)  # success, or made to fit: demagnified, cropped, decimated
CT = ct_series(20, 512)
CHEST_CT = windowed(ct_slice(512, 0.5), center=-600, width=1600)  # lung window


def film(
    scu: PrintSCU,
    fmt: str,
    images: list[np.ndarray],
    session: dict[str, Any] | None = None,
    image: dict[str, Any] | None = None,
    photometric: str = "MONOCHROME2",
    **box: Any,
) -> str:
    """One film: a session, a film box and its images, printed; returns the film box UID."""
    session_uid = scu.film_session(**(session or {}))
    box_uid, boxes, _ = scu.film_box(session_uid, fmt, **box)
    for position, pixels in enumerate(images, start=1):
        response = scu.set_image(boxes[position - 1], position, pixels, photometric=photometric, **(image or {}))
        assert response.status in FITTED, hex(response.status)
    assert scu.n_action(uids.BASIC_FILM_BOX, box_uid).status in FITTED
    scu.n_delete(uids.BASIC_FILM_SESSION, session_uid)
    return box_uid


def lin_od(scu: PrintSCU) -> str:
    plut = Dataset()
    plut.PresentationLUTShape = "LIN OD"
    uid = scu.n_create(uids.PRESENTATION_LUT, plut).affected_uid
    return film(
        scu,
        "STANDARD\\1,1",
        [CT[10]],
        FilmSizeID="8INX10IN",
        ReferencedPresentationLUTSequence=[reference(uids.PRESENTATION_LUT, uid)],
    )


def annotated(scu: PrintSCU) -> str:
    session = scu.film_session(SpecificCharacterSet="ISO_IR 192", FilmSessionLabel="CT THORAX")
    box_uid, boxes, created = scu.film_box(
        session, "STANDARD\\3,2", FilmSizeID="14INX17IN", AnnotationDisplayFormatID="TOP_BOTTOM"
    )
    for position in range(1, 7):
        scu.set_image(boxes[position - 1], position, CT[position * 3])
    texts = ["CT THORAX  —  Müller, Jürgen  *1956  —  2026-11-26", "W 400 L 40   5 mm   printscp sample film"]
    assert created.dataset is not None
    for position, item in enumerate(created.dataset.ReferencedBasicAnnotationBoxSequence, start=1):
        request = Dataset()
        request.SpecificCharacterSet = "ISO_IR 192"
        request.AnnotationPosition = position
        request.TextString = texts[position - 1]
        assert scu.n_set(uids.BASIC_ANNOTATION_BOX, str(item.ReferencedSOPInstanceUID), request).status == 0
    assert scu.n_action(uids.BASIC_FILM_BOX, box_uid).status == 0
    scu.n_delete(uids.BASIC_FILM_SESSION, session)
    return box_uid


def colour_ultrasound(scu: PrintSCU) -> str:
    """A colour film (Basic Color Print Management Meta SOP Class, Basic Color Image Boxes): B-mode, colour
    Doppler, power Doppler and a surface rendering, colour-by-plane and colour-by-pixel alternately."""
    session = scu.film_session(meta=COLOR_META, MediumType="PAPER")
    box_uid, boxes, _ = scu.film_box(
        session, "STANDARD\\2,2", meta=COLOR_META, FilmSizeID="8INX10IN", FilmOrientation="LANDSCAPE"
    )
    frames = [b_mode(), colour_doppler(), colour_doppler(power=True), surface_rendering()]
    for position, pixels in enumerate(frames, start=1):
        response = scu.set_color_image(boxes[position - 1], position, pixels, position % 2)
        assert response.status == 0, hex(response.status)
    assert scu.n_action(uids.BASIC_FILM_BOX, box_uid, meta=COLOR_META).status == 0
    scu.n_delete(uids.BASIC_FILM_SESSION, session, meta=COLOR_META)
    return box_uid


SAMPLES: dict[str, tuple[str, Callable[[PrintSCU], str]]] = {
    "ct-lin-od": ("STANDARD\\1,1, a CT slice through a LIN OD Presentation LUT, 8INX10IN", lin_od),
    "ct-20-slices": (
        "STANDARD\\4,5, 20 CT slices on 14INX17IN",
        lambda scu: film(scu, "STANDARD\\4,5", CT, FilmSizeID="14INX17IN"),
    ),
    "row-2-3": (
        "ROW\\2,3, two over three, 11INX14IN",
        lambda scu: film(scu, "ROW\\2,3", CT[2:7], FilmSizeID="11INX14IN", BorderDensity="WHITE"),
    ),
    "col-1-3": (
        "COL\\1,3, one column of one and one of three, landscape 14INX17IN",
        lambda scu: film(
            scu, "COL\\1,3", [CHEST_CT, CT[4], CT[10], CT[16]], FilmSizeID="14INX17IN", FilmOrientation="LANDSCAPE"
        ),
    ),
    "cr-monochrome1": (
        "a MONOCHROME1 chest radiograph on 14INX17IN",
        lambda scu: film(scu, "STANDARD\\1,1", [chest_radiograph()], photometric="MONOCHROME1", FilmSizeID="14INX17IN"),
    ),
    "paper": (
        "the same CT slice on PAPER (reflective, L0 150 cd/m2)",
        lambda scu: film(
            scu, "STANDARD\\1,1", [CT[10]], session={"MediumType": "PAPER"}, FilmSizeID="A4", MaxDensity=200
        ),
    ),
    "clear-film": (
        "... and on CLEAR FILM on a light box (L0 2000, La 10 cd/m2)",
        lambda scu: film(scu, "STANDARD\\1,1", [CT[10]], session={"MediumType": "CLEAR FILM"}, FilmSizeID="A4"),
    ),
    "annotated": ("STANDARD\\3,2 with top and bottom annotations (UTF-8), Film Session Label", annotated),
    "reverse": (
        "Polarity REVERSE",
        lambda scu: film(
            scu,
            "STANDARD\\2,1",
            [CT[8], CT[12]],
            image={"Polarity": "REVERSE"},
            FilmSizeID="8INX10IN",
            FilmOrientation="LANDSCAPE",
        ),
    ),
    "crop": (
        "Requested Image Size 150 mm in 101.6 mm boxes, CROP: the centre, at size (B609)",
        lambda scu: film(
            scu,
            "STANDARD\\2,2",
            [CT[10]] * 4,
            FilmSizeID="8INX10IN",
            Trim="YES",
            image={"RequestedImageSize": "150", "RequestedDecimateCropBehavior": "CROP"},
        ),
    ),
    "decimate": (
        "... and DECIMATE: the whole image, shrunk to fit (B60A)",
        lambda scu: film(
            scu,
            "STANDARD\\2,2",
            [CT[10]] * 4,
            FilmSizeID="8INX10IN",
            Trim="YES",
            image={"RequestedImageSize": "150", "RequestedDecimateCropBehavior": "DECIMATE"},
        ),
    ),
    "colour-ultrasound": (
        "a colour film, STANDARD\\2,2 on 8INX10IN paper: B-mode, colour and power Doppler, a surface rendering",
        colour_ultrasound,
    ),
}


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(SAMPLES))
    if unknown:
        print(f"no such sample: {', '.join(unknown)}; the samples are {', '.join(SAMPLES)}", file=sys.stderr)
        return 2
    wanted = names or list(SAMPLES)
    with tempfile.TemporaryDirectory() as folder:
        server = PrintServer(bundled_config(Path(folder) / "films"))
        address = server.start("127.0.0.1", 0)
        try:
            printed = {}
            with PrintSCU(address, contexts=CONTEXTS, calling="GALLERY") as scu:
                for name in wanted:
                    printed[name] = SAMPLES[name][1](scu)
            assert server.queue.wait_idle(120)
            jobs = {film["film_box_uid"]: job for job in server.archive.jobs() for film in job.manifest["films"]}
            lines = [
                "# Sample films",
                "",
                "Made by `.venv/bin/python sample_films/make_gallery.py`: each is a real print session.",
                "",
            ]
            for name, box in printed.items():
                job = jobs[box]
                shutil.copyfile(job.pdfs[0], HERE / f"{name}.pdf")
                shutil.copyfile(job.pngs[0], HERE / f"{name}.png")
                print(f"{name}: {SAMPLES[name][0]}")
            lines += [f"- `{name}.pdf` / `{name}.png`: {description}" for name, (description, _) in SAMPLES.items()]
            (HERE / "README.md").write_text("\n".join(lines) + "\n")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
