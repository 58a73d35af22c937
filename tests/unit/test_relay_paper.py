"""The page a film is printed on (relay/paper.page_pdf), measured with poppler's pdfinfo and pdftoppm, and the
DICOM Printer Status of an IPP printer's state (relay/paper.printer_state)."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reportlab.pdfgen.canvas import Canvas

from printscp.config import PaperPrinter
from printscp.model.enums import PRINTER_STATUS_INFO_TERMS, PrintPriority
from printscp.model.record import ColorImage, PrintRequest
from printscp.relay import paper
from printscp.relay.paper import media_size_pt, page_pdf, print_on_paper, printer_state
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import films  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")

INCH = 72.0
A4 = "iso_a4_210x297mm"
A4_PT = (595.28, 841.89)
MARGIN = 5 / 25.4 * INCH
MARK = INCH  # the side of the black squares marking a test film


def test_media_names_give_their_size_in_points() -> None:
    assert media_size_pt(A4) == pytest.approx(A4_PT, abs=0.01)
    assert media_size_pt("na_letter_8.5x11in") == pytest.approx((612, 792))
    assert media_size_pt("na_govt-letter_8x10in") == pytest.approx((576, 720))
    with pytest.raises(ValueError, match="'a4' is not a PWG 5101.1 media name"):
        media_size_pt("a4")


def marked_film(path: Path, width: float, height: float, corners: tuple[str, ...] = ("tl", "tr", "bl", "br")) -> Path:
    """A film PDF: mid-gray, a black MARK square in each named corner and one in the centre."""
    canvas = Canvas(str(path), pagesize=(width, height))
    canvas.setFillGray(0.5)
    canvas.rect(0, 0, width, height, stroke=0, fill=1)
    canvas.setFillGray(0)
    spots = {"bl": (0, 0), "br": (width - MARK, 0), "tl": (0, height - MARK), "tr": (width - MARK, height - MARK)}
    for corner in corners:
        canvas.rect(*spots[corner], MARK, MARK, stroke=0, fill=1)
    canvas.rect((width - MARK) / 2, (height - MARK) / 2, MARK, MARK, stroke=0, fill=1)
    canvas.showPage()
    canvas.save()
    return path


def page_size(pdf: Path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in info.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split()[2:5]
    return float(width), float(height)


def rendered(pdf: Path, gray: bool = True) -> np.ndarray:
    """The page at 72 dpi (1 pixel a point), rows from the top."""
    png = subprocess.run(
        ["pdftoppm", "-r", "72", "-png", "-singlefile", str(pdf)],
        capture_output=True,
        check=True,
    ).stdout
    image = Image.open(io.BytesIO(png))
    return np.asarray(image.convert("L") if gray else image.convert("RGB"))


def extent(pixels: np.ndarray, below: int) -> tuple[int, int, int, int]:
    """left, top, right, bottom (exclusive) of the pixels darker than `below`."""
    rows, columns = np.nonzero(pixels < below)
    return int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1


@pytest.mark.parametrize("media", [A4, "na_letter_8.5x11in"])
def test_the_page_is_the_media(tmp_path: Path, media: str) -> None:
    film = marked_film(tmp_path / "film.pdf", 14 * INCH, 17 * INCH)
    for scaling in ("fit", "actual"):
        out = page_pdf(film, media, scaling, tmp_path / f"{scaling}.pdf")
        assert page_size(out) == pytest.approx(media_size_pt(media), abs=0.01)


def test_fit_shows_the_whole_film_centred(tmp_path: Path) -> None:
    film = marked_film(tmp_path / "film.pdf", 14 * INCH, 17 * INCH)
    pixels = rendered(page_pdf(film, A4, "fit", tmp_path / "page.pdf"))
    scale = min((A4_PT[0] - 2 * MARGIN) / (14 * INCH), (A4_PT[1] - 2 * MARGIN) / (17 * INCH))
    width, height = 14 * INCH * scale, 17 * INCH * scale
    left, top = (A4_PT[0] - width) / 2, (A4_PT[1] - height) / 2
    assert extent(pixels, 250) == pytest.approx((left, top, left + width, top + height), abs=1.5)
    assert left == pytest.approx(MARGIN, abs=0.5)  # width-bound: the film spans the sheet but the margins
    mark = MARK * scale
    for x, y in ((left, top), (left + width - mark, top), (left, top + height - mark), (left + width - mark, top)):
        corner = pixels[round(y + 2) : round(y + mark - 2), round(x + 2) : round(x + mark - 2)]
        assert corner.max() < 20, (x, y)  # each corner mark is on the sheet, black


def test_fit_turns_a_landscape_film_on_a_portrait_sheet(tmp_path: Path) -> None:
    film = marked_film(tmp_path / "film.pdf", 17 * INCH, 14 * INCH, corners=("tl",))
    pixels = rendered(page_pdf(film, A4, "fit", tmp_path / "page.pdf"))
    left, top, right, bottom = extent(pixels, 250)
    assert bottom - top > right - left  # the film is upright on the sheet: 17 in along its long side
    scale = (right - left) / (14 * INCH)
    assert (bottom - top) / scale == pytest.approx(17 * INCH, abs=2)
    # counter-clockwise: the film's top-left corner is at the sheet's bottom-left
    mark = round(MARK * scale)
    assert pixels[bottom - mark + 2 : bottom - 2, left + 2 : left + mark - 2].max() < 20
    assert pixels[top + 2 : top + mark - 2, left + 2 : left + mark - 2].min() > 100


def test_actual_keeps_the_true_size_and_the_sheet_crops(tmp_path: Path) -> None:
    film = marked_film(tmp_path / "film.pdf", 14 * INCH, 17 * INCH)
    pixels = rendered(page_pdf(film, A4, "actual", tmp_path / "page.pdf"))
    assert pixels.shape == (842, 596)  # 595.28 pt rounded up
    assert pixels.min() < 20 and pixels.max() < 250  # no white: the 14x17in film covers all of A4
    left, top, right, bottom = extent(pixels, 20)  # only the centre mark is black: the corners are cut off
    assert (right - left, bottom - top) == pytest.approx((MARK, MARK), abs=1.5)
    assert ((left + right) / 2, (top + bottom) / 2) == pytest.approx((A4_PT[0] / 2, A4_PT[1] / 2), abs=1.5)


def colour_film(folder: Path) -> Path:
    """printscp's own PDF of a film with a colour image box: pure red, green and blue bands."""
    bands = np.zeros((48, 48, 3), dtype=np.uint8)
    for i in range(3):
        bands[16 * i : 16 * (i + 1), :, i] = 255
    base = films.films()["magnification"]
    boxes = base.image_boxes
    colour = dataclasses.replace(boxes[0], image=ColorImage(48, 48, (1, 1), bands))
    film = dataclasses.replace(base, image_boxes=(colour, *boxes[1:]))
    request = PrintRequest((film,), 1, PrintPriority.MED, "", "CT_AE", "PRINTSCP", datetime.now().astimezone(), None)
    job = render_job(request, films.PROFILE, DocumentInfo("LABEL", "CT_AE", "PRINTSCP"))
    path = folder / "colour.pdf"
    path.write_bytes(job.films[0].pdf)
    return path


def test_a_colour_film_is_printed_gray(tmp_path: Path) -> None:
    film = colour_film(tmp_path)
    original = rendered(film, gray=False).astype(int)
    assert (abs(original[..., 0] - original[..., 1]) > 100).any()  # the film itself is in colour
    pixels = rendered(page_pdf(film, A4, "fit", tmp_path / "page.pdf"), gray=False).astype(int)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    # the three bands keep their luma (BT.709: red 54, green 182, blue 18), not one gray
    for luma in (54, 182, 18):
        assert np.count_nonzero(pixels[..., 0] == luma) > 10_000, luma


@pytest.mark.parametrize(
    ("state", "reasons", "status", "info"),
    [
        (3, ["none"], "NORMAL", "NORMAL"),
        ("idle", ["media-jam-report"], "NORMAL", "NORMAL"),
        (4, ["toner-low-warning"], "WARNING", "CHECK PRINTER"),
        (4, ["media-low-warning"], "WARNING", "SUPPLY LOW"),
        (3, ["media-empty-error"], "FAILURE", "SUPPLY EMPTY"),
        (3, ["media-jam"], "FAILURE", "FILM JAM"),  # RFC 8011 5.4.12: no suffix is an error
        (4, ["door-open-error", "media-low-warning"], "FAILURE", "COVER OPEN"),
        (5, ["paused"], "FAILURE", "PRINTER OFFLINE"),
        (5, [], "FAILURE", "PRINTER DOWN"),
        (3, ["something-new-error"], "FAILURE", "CHECK PRINTER"),
        (3, ["identify-printer-requested"], "NORMAL", "NORMAL"),
    ],
)
def test_printer_state_to_dicom_printer_status(state: int | str, reasons: list[str], status: str, info: str) -> None:
    result = printer_state(state, reasons)
    assert (result.printer_status, result.printer_status_info) == (status, info)


def test_every_mapped_term_is_a_defined_term() -> None:
    assert set(paper.PRINTER_STATUS_INFO_OF_REASON.values()) <= PRINTER_STATUS_INFO_TERMS
    assert paper._OTHER_REASON in PRINTER_STATUS_INFO_TERMS


def test_a_printer_in_failure_gets_no_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    operations: list[str] = []

    def answer(ipptool: str, uri: str, test: str, folder: Path, *args: Any) -> paper._Answer:
        operations.append(test.split("OPERATION ")[1].split()[0])
        return paper._Answer("successful-ok", {"printer-state": 5, "printer-state-reasons": ["media-empty-error"]})

    monkeypatch.setattr(paper, "_ipp", answer)
    monkeypatch.setattr(paper.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    film = marked_film(tmp_path / "film.pdf", 8 * INCH, 10 * INCH)
    delivery = print_on_paper([film], "office", PaperPrinter("ipp://printer.invalid/ipp/print"), "job")
    assert operations == ["Get-Printer-Attributes"]
    assert not delivery.delivered and delivery.films_printed == ()
    assert (delivery.printer_status, delivery.printer_status_info) == ("FAILURE", "SUPPLY EMPTY")
    assert delivery.error_comment == "office: printer stopped (media-empty-error)"
