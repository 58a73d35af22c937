"""Issue 13 item 3: an image box prints its size x the printer's dpi in pixels, and Requested Decimate/Crop
Behavior decides what happens to a larger image, over a real association.

The bundled printer prints STANDARD at 300 dpi. A STANDARD\\4,5 box on 8INX10IN is 50.8 x 50.8 mm (2 x 2 in),
so it prints 600 x 600 pixels; a 2048 x 2048 image is larger than that whatever its Magnification Type.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from conftest import RunningServer
from PIL import Image
from printscu import PrintSCU
from pypdf import PdfReader

from printscp import uids
from printscp.archive.store import StoredJob
from printscp.config import RenderConfig

FILM_BOX = uids.BASIC_FILM_BOX
PRINTER_DPI = 300  # config.toml [printer.resolutions] STANDARD
BOX_MM = 50.8  # 8INX10IN / STANDARD\4,5, both ways
BOX_PIXELS = 600  # BOX_MM at PRINTER_DPI
POSITION = 6  # row 2, column 2: the box from (50.8, 50.8) mm
SOURCE = 2048
CENTRE = (SOURCE - BOX_PIXELS) // 2  # the first row and column of the centre that fits the box: 724


def source_image() -> np.ndarray:
    """Mid-grey, with its centre 600 x 600 pixels white-ish and a one-pixel dark ring just around that centre:
    a crop one pixel off would print some of the ring."""
    image = np.full((SOURCE, SOURCE), 2000, dtype=np.uint16)
    image[CENTRE - 1 : CENTRE + BOX_PIXELS + 1, CENTRE - 1 : CENTRE + BOX_PIXELS + 1] = 0
    image[CENTRE : CENTRE + BOX_PIXELS, CENTRE : CENTRE + BOX_PIXELS] = 4095
    return image


def print_oversized(scu: PrintSCU, behavior: str) -> tuple[str, int, int, str]:
    """A film box with the source image in POSITION; the N-SET's status and comment, and the N-ACTION's."""
    session = scu.film_session()
    box, boxes, _ = scu.film_box(session, "STANDARD\\4,5", FilmSizeID="8INX10IN", RequestedResolutionID="STANDARD")
    response = scu.set_image(boxes[POSITION - 1], POSITION, source_image(), RequestedDecimateCropBehavior=behavior)
    action = scu.n_action(FILM_BOX, box)
    assert scu.n_delete(uids.BASIC_FILM_SESSION, session).status == 0
    return box, response.status, action.status, response.comment


def film_of(running: RunningServer, box: str) -> tuple[StoredJob, dict[str, object], np.ndarray]:
    for job in running.jobs():
        for film in job.manifest["films"]:
            if film["film_box_uid"] == box:
                with Image.open(job.pngs[0]) as png:
                    return job, film, np.asarray(png)
    raise AssertionError(f"film box {box} was not printed")


def extent(pixels: np.ndarray, value: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the pixels equal to `value`."""
    rows, columns = np.nonzero(pixels == value)
    assert rows.size, f"no pixel of value {value}"
    return int(columns.min()), int(rows.min()), int(columns.max() - columns.min() + 1), int(rows.max() - rows.min() + 1)


def test_an_image_larger_than_the_printable_pixels_fails_is_decimated_or_cropped(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        _, failed, _, comment = print_oversized(scu, "FAIL")
        decimated, decimated_set, decimated_action, _ = print_oversized(scu, "DECIMATE")
        cropped, cropped_set, cropped_action, _ = print_oversized(scu, "CROP")

    # FAIL: refused at the Image Box N-SET, with both sizes in pixels (columns x rows)
    assert failed == 0xC603, hex(failed)
    assert comment == "image 2048 x 2048 pixels, larger than its box's 600 x 600"
    assert (decimated_set, decimated_action) == (0xB60A, 0xB60A)
    assert (cropped_set, cropped_action) == (0xB609, 0xB609)
    assert len(running.jobs()) == 2  # the FAIL film held no image: not printed

    # DECIMATE: the whole image, shrunk to the box's printable size
    _, film, png = film_of(running, decimated)
    png_dpi = film["png_dpi"]
    assert png_dpi == min(PRINTER_DPI, 150)  # [render] png_dpi
    scale = PRINTER_DPI / png_dpi  # printer pixels per PNG pixel
    box_left = round(BOX_MM / 25.4 * png_dpi)
    grey = int(png[box_left + 5, box_left + 5])  # the image's mid-grey, just inside its top left corner
    left, top, width, height = extent(png, grey)
    assert (left, top) == (box_left, box_left)
    assert (width * scale, height * scale) == pytest.approx((BOX_PIXELS, BOX_PIXELS), abs=scale)
    middle = box_left + round(BOX_PIXELS / scale / 2)
    assert png[middle, middle] > grey  # the light centre, a third of the box: all the image is there
    assert extent(png, int(png[middle, middle]))[2] * scale == pytest.approx(BOX_PIXELS * BOX_PIXELS / SOURCE, abs=8)
    (printed,) = [b for b in film["image_boxes"] if b["image_box_position"] == POSITION]  # type: ignore[attr-defined]
    assert (printed["printed_rows"], printed["printed_columns"]) == (SOURCE, SOURCE)

    # CROP: the centre 600 x 600 pixels, one per printer pixel, filling the box; nothing of the ring or the grey
    job, film, png = film_of(running, cropped)
    light = int(png[middle, middle])
    assert extent(png, light) == (box_left, box_left, BOX_PIXELS / scale, BOX_PIXELS / scale)
    assert grey not in png
    (printed,) = [b for b in film["image_boxes"] if b["image_box_position"] == POSITION]  # type: ignore[attr-defined]
    assert (printed["printed_rows"], printed["printed_columns"]) == (BOX_PIXELS, BOX_PIXELS)
    assert printed["rect_pt"] == pytest.approx([BOX_MM / 25.4 * 72] * 4, abs=0.01)  # 600 pixels over 2 in
    (xobject,) = PdfReader(job.pdfs[0]).pages[0]["/Resources"]["/XObject"].values()  # type: ignore[index]
    image = xobject.get_object()
    assert (int(image["/Width"]), int(image["/Height"])) == (BOX_PIXELS, BOX_PIXELS)
    assert set(image.get_data()) == {light}  # the PDF holds exactly the centre: no ring pixel


def test_printer_configuration_rows_and_columns_are_the_pixels_that_decide(running: RunningServer) -> None:
    with PrintSCU(
        running.address, contexts=(uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, uids.PRINTER_CONFIGURATION_RETRIEVAL)
    ) as scu:
        response = scu.n_get(uids.PRINTER_CONFIGURATION_RETRIEVAL, uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE)
        assert response.status == 0 and response.dataset is not None
        (item,) = response.dataset.PrinterConfigurationSequence
        (slide,) = [
            f
            for f in item.SupportedImageDisplayFormatsSequence
            if (f.ImageDisplayFormat, f.FilmSizeID, f.PrinterResolutionID) == ("SLIDE", "8INX10IN", "STANDARD")
        ]
        columns, rows = int(slide.Columns), int(slide.Rows)
        assert (columns, rows) == (425, 283)  # 36 x 24 mm at 300 dpi, whole pixels
        assert [float(v) for v in slide.PrinterPixelSpacing] == pytest.approx([25.4 / PRINTER_DPI] * 2, abs=1e-6)

        session = scu.film_session()
        _, boxes, _ = scu.film_box(session, "SLIDE", FilmSizeID="8INX10IN", RequestedResolutionID="STANDARD")
        fits = np.zeros((rows, columns), dtype=np.uint16)
        assert scu.set_image(boxes[0], 1, fits, RequestedDecimateCropBehavior="FAIL").status == 0
        for wider in (np.zeros((rows, columns + 1), dtype=np.uint16), np.zeros((rows + 1, columns), dtype=np.uint16)):
            larger = scu.set_image(boxes[1], 2, wider, RequestedDecimateCropBehavior="FAIL")
            assert larger.status == 0xC603 and larger.comment.endswith(f"its box's {columns} x {rows}")


def test_the_png_is_drawn_at_the_printer_dpi_or_render_png_dpi_whichever_is_lower(
    start_server: Callable[..., RunningServer],
) -> None:
    running = start_server(sections={"render": RenderConfig(png_dpi=400)})
    image = np.full((600, 600), 3000, dtype=np.uint16)
    boxes = {}
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        for resolution in ("STANDARD", "HIGH"):  # 300 and 600 dpi
            box, images, _ = scu.film_box(
                session, "STANDARD\\1,1", FilmSizeID="8INX10IN", RequestedResolutionID=resolution
            )
            assert scu.set_image(images[0], 1, image, MagnificationType="NONE").status == 0
            assert scu.n_action(FILM_BOX, box).status == 0
            boxes[resolution] = box
    for resolution, dpi in (("STANDARD", 300), ("HIGH", 400)):
        job, film, png = film_of(running, boxes[resolution])
        assert film["png_dpi"] == dpi and png.shape == (10 * dpi, 8 * dpi)
        with Image.open(job.pngs[0]) as written:
            assert written.info["dpi"] == pytest.approx((dpi, dpi), abs=0.02)
        # Magnification Type NONE: 600 image pixels are 600 printer pixels, at any PNG resolution
        printer_dpi = {"STANDARD": 300, "HIGH": 600}[resolution]
        _, _, width, height = extent(png, int(png[5 * dpi, 4 * dpi]))
        assert (width, height) == pytest.approx((600 * dpi / printer_dpi,) * 2, abs=1)
