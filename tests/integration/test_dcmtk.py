"""Interoperability with DCMTK's print client: real echoscu, dcmpsprt and dcmprscu processes, no mocks.

Each job is judged twice: from dcmprscu's --dump log (it exits 0 even when the printer refused the job)
and from the films printscp stored (PDF page size, PNG raster, where a known image landed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dcmtk import (
    CALLING_AE_TITLE,
    IHEFULL,
    IHERESTRICTED,
    DcmtkPrintClient,
    PrintLog,
    is_success_or_warning,
    run,
    split_pixels,
    tool,
    write_image,
    write_presentation_lut,
)
from PIL import Image
from pypdf import PdfReader
from waiting import wait_until

from printscp.archive.store import StoredJob

pytestmark = pytest.mark.dcmtk

StartServer = Callable[..., Any]  # conftest.start_server(**printer_profile_changes) -> RunningServer

FILM_SIZE_PT = {"14INX17IN": (1008.0, 1224.0), "8INX10IN": (576.0, 720.0)}
DARK = 40  # PNG levels: a BLACK border / P-value 0 prints near 0, P-value 4095 near 255
BRIGHT = 200


# --- helpers ---------------------------------------------------------------------------------------------


def client_for(server: Any, workdir: Path, **changes: Any) -> DcmtkPrintClient:
    return DcmtkPrintClient(workdir, server.host, server.port, **changes)


def split_image(
    folder: Path,
    name: str = "split.dcm",
    bits: int = 12,
    rows: int = 256,
    columns: int = 256,
    photometric: str = "MONOCHROME2",
) -> Path:
    """Left half P-value 0 (dark), right half full scale (bright)."""
    high = (1 << bits) - 1
    pixels = split_pixels(rows, columns, 0, high, np.uint8 if bits == 8 else np.uint16)
    return write_image(folder / name, pixels, bits, photometric)


def assert_printed(log: PrintLog) -> None:
    """Every response status is success or a warning, and the print (N-ACTION) happened."""
    assert log.returncode == 0, log.text[-3000:]
    statuses = [f"{kind} {sop} 0x{status:04X}" for kind, sop, status in log.statuses]
    assert log.statuses, f"no DIMSE response in the dump:\n{log.text[-3000:]}"
    assert all(is_success_or_warning(status) for _, _, status in log.statuses), "\n".join(statuses)
    assert not log.errors, log.summary()
    assert log.printed, log.summary()


def expected_sequence(
    images: int, presentation_lut: bool = True, action_on: str = "BasicFilmBoxSOPClass"
) -> list[tuple[str, str]]:
    """The responses a complete dcmprscu job gets, in order: Printer N-GET, P-LUT, session, film box,
    one N-SET per image, the N-ACTION, and the N-DELETEs in reverse order of creation."""
    sequence = [("N-GET RSP", "PrinterSOPClass")]
    if presentation_lut:
        sequence.append(("N-CREATE RSP", "PresentationLUTSOPClass"))
    sequence += [("N-CREATE RSP", "BasicFilmSessionSOPClass"), ("N-CREATE RSP", "BasicFilmBoxSOPClass")]
    sequence += [("N-SET RSP", "BasicGrayscaleImageBoxSOPClass")] * images
    sequence += [
        ("N-ACTION RSP", action_on),
        ("N-DELETE RSP", "BasicFilmBoxSOPClass"),
        ("N-DELETE RSP", "BasicFilmSessionSOPClass"),
    ]
    if presentation_lut:
        sequence.append(("N-DELETE RSP", "PresentationLUTSOPClass"))
    return sequence


def new_job(server: Any, before: int) -> StoredJob:
    """The one job stored since the archive held `before` jobs (once the print queue is idle)."""
    jobs: list[StoredJob] = server.jobs()
    assert len(jobs) == before + 1, f"expected one new print job, archive has {len(jobs)} (had {before})"
    return jobs[-1]


def job_count(server: Any) -> int:
    return len(server.jobs())


def check_film_files(job: StoredJob, film_size: str = "14INX17IN") -> np.ndarray:
    """PDF page and PNG raster both have the film's size; returns the PNG as an array (rows, columns)."""
    width_pt, height_pt = FILM_SIZE_PT[film_size]
    assert len(job.manifest["films"]) == 1
    film = job.manifest["films"][0]
    assert film["film_size_id"] == film_size
    assert film["page_size_pt"] == [width_pt, height_pt]

    reader = PdfReader(job.pdfs[0])
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((width_pt, height_pt), abs=0.01)

    dpi = film["png_dpi"]
    with Image.open(job.pngs[0]) as image:
        assert image.mode == "L"
        assert image.size == (round(width_pt / 72 * dpi), round(height_pt / 72 * dpi))
        return np.asarray(image)


def pixel_rect(film: dict[str, Any], box: dict[str, Any]) -> tuple[int, int, int, int]:
    """An image box's rect_pt in PNG pixels, (x0, y0, x1, y1), taking in every pixel it touches."""
    scale = film["png_dpi"] / 72
    x, y, w, h = box["rect_pt"]
    return (
        math.floor(x * scale + 0.01),
        math.floor(y * scale + 0.01),
        math.ceil((x + w) * scale - 0.01),
        math.ceil((y + h) * scale - 0.01),
    )


def halves(png: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[float, float]:
    """Mean level of the middle of the left half and of the right half of a rect (edges left out)."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    rows = slice(y0 + h // 5, y1 - h // 5)
    left = png[rows, x0 + w // 10 : x0 + 2 * w // 5]
    right = png[rows, x0 + 3 * w // 5 : x1 - w // 10]
    return float(left.mean()), float(right.mean())


def check_split_images_land(png: np.ndarray, film: dict[str, Any], positions: int) -> None:
    """Each of the first `positions` boxes shows the split image the right way round, exactly inside its
    rect_pt; everything outside the image rects is dark (BLACK border, BLACK empty boxes)."""
    boxes = film["image_boxes"]
    assert [b["image_box_position"] for b in boxes] == list(range(1, len(boxes) + 1))
    expected_bright = np.zeros(png.shape, dtype=bool)
    inside = np.zeros(png.shape, dtype=bool)
    for box in boxes[:positions]:
        assert not box.get("empty"), box
        x0, y0, x1, y1 = pixel_rect(film, box)
        left, right = halves(png, (x0, y0, x1, y1))
        assert left < DARK and right > BRIGHT, (box, left, right)
        expected_bright[y0:y1, (x0 + x1) // 2 : x1] = True
        inside[y0:y1, x0:x1] = True
    for box in boxes[positions:]:
        assert box.get("empty"), box
    # the bright pixels are exactly the right halves of the rects, up to a thin resampling edge
    bright = png > 128
    mismatch = np.count_nonzero(bright != expected_bright)
    assert mismatch <= 0.01 * np.count_nonzero(expected_bright), (mismatch, np.count_nonzero(expected_bright))
    # the border (and any empty box) is dark
    outside = png[~inside]
    assert outside.max() < DARK, outside.max()


# --- tests -----------------------------------------------------------------------------------------------


def test_echoscu(running: Any) -> None:
    result = run(
        [
            tool("echoscu"),
            "--verbose",
            "--aetitle",
            CALLING_AE_TITLE,
            "--call",
            "PRINTSCP",
            running.host,
            str(running.port),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "Received Echo Response (Success)" in result.stderr, result.stderr


@pytest.mark.parametrize("profile", [IHEFULL, IHERESTRICTED], ids=["IHEFULL", "IHERESTRICTED"])
def test_one_image(running: Any, tmp_path: Path, profile: dict[str, str]) -> None:
    client = client_for(running, tmp_path, printer=profile)
    log = client.print([split_image(tmp_path)], layout=(1, 1), film_size="14INX17IN")

    assert_printed(log)
    assert [(kind, sop) for kind, sop, _ in log.statuses] == expected_sequence(1)
    # the transfer syntax the profile allows was the one used (IHERESTRICTED: Implicit VR only)
    expected = "Little Endian Implicit" if profile["ImplicitOnly"] == "true" else "Little Endian Explicit"
    used = {m.transfer_syntax for m in log.messages if m.direction == "INCOMING" and m.transfer_syntax}
    assert used == {expected}, used
    image_set = log.one("N-SET RQ", "BasicGrayscaleImageBoxSOPClass")
    assert image_set.element("0028,0101") == "12"  # BitsStored: 12-bit printer, 12-bit pixels

    job = new_job(running, 0)
    assert job.manifest["calling_ae_title"] == CALLING_AE_TITLE
    assert job.manifest["called_ae_title"] == "PRINTSCP"
    film = job.manifest["films"][0]
    assert film["image_display_format"] == "STANDARD\\1,1"
    assert film["film_box_uid"] == log.one("N-CREATE RSP", "BasicFilmBoxSOPClass").sop_instance
    box = film["image_boxes"][0]
    assert (box["rows"], box["columns"], box["bits_stored"]) == (256, 256, 12)
    assert box["photometric_interpretation"] == "MONOCHROME2"
    assert box["rect_pt"] == [0.0, 108.0, 1008.0, 1008.0]  # a square image fills the width, centred
    png = check_film_files(job, "14INX17IN")
    check_split_images_land(png, film, 1)


def test_four_images_2x2_on_8x10(running: Any, tmp_path: Path) -> None:
    client = client_for(running, tmp_path)
    image = split_image(tmp_path)
    log = client.print([image] * 4, layout=(2, 2), film_size="8INX10IN")

    assert_printed(log)
    assert [(kind, sop) for kind, sop, _ in log.statuses] == expected_sequence(4)
    positions = [m.element("2020,0010") for m in log.find("N-SET RQ")]
    assert positions == ["1", "2", "3", "4"]
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    assert film["image_display_format"] == "STANDARD\\2,2"
    # four 288 x 360 pt cells, row by row, each with its square image centred
    rects = [box["rect_pt"] for box in film["image_boxes"]]
    assert rects == [
        [0.0, 36.0, 288.0, 288.0],
        [288.0, 36.0, 288.0, 288.0],
        [0.0, 396.0, 288.0, 288.0],
        [288.0, 396.0, 288.0, 288.0],
    ]
    png = check_film_files(job, "8INX10IN")
    check_split_images_land(png, film, 4)


def test_twenty_images_4x5(running: Any, tmp_path: Path) -> None:
    """--layout 4 5 is 4 columns by 5 rows; image k must land in position k, row by row."""
    images = []
    for k in range(1, 21):  # right half of image k gets brighter with k, so the order is visible
        pixels = split_pixels(128, 128, 0, 1000 + 150 * k)
        images.append(write_image(tmp_path / f"image{k:02}.dcm", pixels))
    client = client_for(running, tmp_path)
    log = client.print(images, layout=(4, 5), film_size="14INX17IN")

    assert_printed(log)
    assert [(kind, sop) for kind, sop, _ in log.statuses] == expected_sequence(20)
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    assert film["image_display_format"] == "STANDARD\\4,5"
    boxes = film["image_boxes"]
    assert len(boxes) == 20 and not any(b.get("empty") for b in boxes)
    # a 4-column, 5-row grid in row-major order
    xs = sorted({b["rect_pt"][0] for b in boxes})
    ys = sorted({b["rect_pt"][1] for b in boxes})
    assert len(xs) == 4 and len(ys) == 5, (xs, ys)
    for k, box in enumerate(boxes):
        assert (xs.index(box["rect_pt"][0]), ys.index(box["rect_pt"][1])) == (k % 4, k // 4)
    png = check_film_files(job, "14INX17IN")
    levels = [halves(png, pixel_rect(film, box)) for box in boxes]
    assert all(left < DARK for left, _ in levels), levels
    rights = [right for _, right in levels]
    assert all(a < b for a, b in zip(rights, rights[1:], strict=False)), rights
    inside = np.zeros(png.shape, dtype=bool)
    for box in boxes:
        x0, y0, x1, y1 = pixel_rect(film, box)
        inside[y0:y1, x0:x1] = True
    assert png[~inside].max() < DARK


@pytest.mark.parametrize("bits", [8, 12])
def test_source_bit_depth(running: Any, tmp_path: Path, bits: int) -> None:
    """dcmpsprt renders 8- and 12-bit sources to 12-bit P-values for a 12-bit printer."""
    client = client_for(running, tmp_path)
    log = client.print([split_image(tmp_path, bits=bits)])

    assert_printed(log)
    item = log.one("N-SET RQ", "BasicGrayscaleImageBoxSOPClass")
    assert item.pixel_format() == ("16", "12", "11")
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    assert film["image_boxes"][0]["bits_stored"] == 12
    check_split_images_land(check_film_files(job), film, 1)


def test_8_bit_only_printer(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(supports_12_bit=False)
    client = client_for(server, tmp_path, printer={**IHEFULL, "Supports12Bit": "false"})
    log = client.print([split_image(tmp_path, bits=12)])

    assert_printed(log)
    item = log.one("N-SET RQ", "BasicGrayscaleImageBoxSOPClass")
    assert item.pixel_format() == ("8", "8", "7")
    assert "OW" in next(line for line in item.dataset if "(7fe0,0010)" in line)  # DCMTK: 8-bit pixels as OW
    job = new_job(server, 0)
    film = job.manifest["films"][0]
    assert film["image_boxes"][0]["bits_stored"] == 8
    check_split_images_land(check_film_files(job), film, 1)


def test_monochrome1_prints_like_monochrome2(running: Any, tmp_path: Path) -> None:
    """dcmprscu --monochrome1 inverts the pixels and says MONOCHROME1: the film must not change."""
    client = client_for(running, tmp_path)
    image = split_image(tmp_path)
    pngs = {}
    runs: list[tuple[str, list[str]]] = [("MONOCHROME2", []), ("MONOCHROME1", ["--monochrome1"])]
    for number, (photometric, options) in enumerate(runs):
        log = client.print([image], print_options=options)
        assert_printed(log)
        assert log.one("N-SET RQ").element("0028,0004") == photometric
        job = new_job(running, number)
        film = job.manifest["films"][0]
        assert film["image_boxes"][0]["photometric_interpretation"] == photometric
        pngs[photometric] = check_film_files(job)
        check_split_images_land(pngs[photometric], film, 1)  # dark stays dark, on the left
    difference = np.abs(pngs["MONOCHROME1"].astype(int) - pngs["MONOCHROME2"].astype(int))
    assert difference.max() <= 1, difference.max()  # DCMTK's inversion may round by one P-value


def test_monochrome1_source_image(running: Any, tmp_path: Path) -> None:
    """A MONOCHROME1 source (0 = white) prints inverted: its left half comes out bright."""
    client = client_for(running, tmp_path)
    log = client.print([split_image(tmp_path, photometric="MONOCHROME1")])

    assert_printed(log)
    assert log.one("N-SET RQ").element("0028,0004") == "MONOCHROME2"  # dcmpsprt renders to P-values
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    left, right = halves(check_film_files(job), pixel_rect(film, film["image_boxes"][0]))
    assert left > BRIGHT and right < DARK, (left, right)


def test_presentation_lut(running: Any, tmp_path: Path) -> None:
    """SupportsPresentationLUT = true: dcmprscu N-CREATEs a P-LUT and the film box references it."""
    client = client_for(running, tmp_path)
    log = client.print([split_image(tmp_path)])

    assert_printed(log)
    request = log.one("N-CREATE RQ", "PresentationLUTSOPClass")
    assert request.element("2050,0020") == "IDENTITY"
    response = log.one("N-CREATE RSP", "PresentationLUTSOPClass")
    assert response.status == 0x0000
    assert response.sop_instance and response.sop_instance != "none"
    film_box = log.one("N-CREATE RQ", "BasicFilmBoxSOPClass")
    assert response.sop_instance in film_box.elements("0008,1155")  # Referenced Presentation LUT Sequence
    assert log.one("N-CREATE RSP", "BasicFilmBoxSOPClass").status == 0x0000
    deleted = log.one("N-DELETE RSP", "PresentationLUTSOPClass")
    assert (deleted.status, deleted.sop_instance) == (0x0000, response.sop_instance)
    new_job(running, 0)


def test_presentation_lut_not_supported(start_server: StartServer, tmp_path: Path) -> None:
    """A printer without P-LUT rejects that context; dcmprscu degrades and the job still prints."""
    server = start_server(supports_presentation_lut=False)
    client = client_for(server, tmp_path)
    log = client.print([split_image(tmp_path)])

    assert_printed(log)
    assert not log.find("N-CREATE RQ", "PresentationLUTSOPClass")
    assert any("does not support Presentation LUT" in line for line in log.warnings), log.warnings
    assert [(kind, sop) for kind, sop, _ in log.statuses] == expected_sequence(1, presentation_lut=False)
    film = new_job(server, 0).manifest["films"][0]
    assert not film["image_boxes"][0].get("empty")


def test_session_print(running: Any, tmp_path: Path) -> None:
    """--session-print: the N-ACTION goes to the Film Session, which prints its film box."""
    client = client_for(running, tmp_path)
    log = client.print([split_image(tmp_path)] * 2, layout=(1, 2), print_options=["--session-print"])

    assert_printed(log)
    assert [(kind, sop) for kind, sop, _ in log.statuses] == expected_sequence(2, action_on="BasicFilmSessionSOPClass")
    session_uid = log.one("N-CREATE RSP", "BasicFilmSessionSOPClass").sop_instance
    assert log.one("N-ACTION RQ").sop_instance == session_uid
    job = new_job(running, 0)
    assert job.manifest["film_session"]["sop_instance_uid"] == session_uid
    film = job.manifest["films"][0]
    assert film["image_display_format"] == "STANDARD\\1,2"
    check_split_images_land(check_film_files(job), film, 2)


def test_copies_and_film_session_attributes(running: Any, tmp_path: Path) -> None:
    client = client_for(running, tmp_path)
    log = client.print(
        [split_image(tmp_path)],
        print_options=[
            "--copies",
            "3",
            "--medium-type",
            "BLUE FILM",
            "--destination",
            "BIN_1",
            "--priority",
            "HIGH",
            "--label",
            "DCMTK interop",
            "--owner",
            "RADIOLOGY",
        ],
    )

    assert_printed(log)
    session = log.one("N-CREATE RQ", "BasicFilmSessionSOPClass")
    assert session.element("2000,0010") == "3"
    job = new_job(running, 0)
    manifest = job.manifest
    assert manifest["calling_ae_title"] == CALLING_AE_TITLE
    session_manifest = manifest["film_session"]
    assert (
        session_manifest["number_of_copies"],
        session_manifest["medium_type"],
        session_manifest["film_destination"],
        session_manifest["print_priority"],
        session_manifest["film_session_label"],
        session_manifest["owner_id"],
    ) == (3, "BLUE FILM", "BIN_1", "HIGH", "DCMTK interop", "RADIOLOGY")
    assert manifest["print_order"] == [1, 1, 1]
    assert len(manifest["films"]) == 1  # one film, printed three times
    check_film_files(job)


def test_film_box_and_image_box_options(running: Any, tmp_path: Path) -> None:
    """dcmpsprt's --landscape, --border WHITE and --img-polarity REVERSE all reach the film."""
    client = client_for(running, tmp_path)
    log = client.print(
        [split_image(tmp_path)], render_options=["--landscape", "--border", "WHITE", "--img-polarity", "REVERSE"]
    )

    assert_printed(log)
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    box = film["image_boxes"][0]
    assert (film["film_orientation"], film["border_density"]) == ("LANDSCAPE", "WHITE")
    assert box["polarity"] == "REVERSE"
    assert film["page_size_pt"] == [1224.0, 1008.0]
    page = PdfReader(job.pdfs[0]).pages[0].mediabox
    assert (float(page.width), float(page.height)) == pytest.approx((1224.0, 1008.0))
    with Image.open(job.pngs[0]) as image:
        png = np.asarray(image)
    assert png.shape == (2100, 2550)  # rows x columns: 14 x 17 inches at 150 dpi, on its side
    x0, y0, x1, y1 = pixel_rect(film, box)
    left, right = halves(png, (x0, y0, x1, y1))
    assert left > BRIGHT and right < DARK, (left, right)  # REVERSE: P-value 0 prints white
    inside = np.zeros(png.shape, dtype=bool)
    inside[y0:y1, x0:x1] = True
    assert png[~inside].min() > BRIGHT  # WHITE border


@pytest.mark.parametrize(
    ("profile_changes", "film_size", "render_options", "print_options", "warned", "manifest_value"),
    [
        (
            {"film_size_ids": ("14INX17IN",)},
            "8INX10IN",
            (),
            (),
            "BasicFilmBoxSOPClass",
            ("films", 0, "film_size_id", "14INX17IN"),
        ),
        (
            {},
            "14INX17IN",
            ("--magnification", "SINC"),
            (),
            "BasicFilmBoxSOPClass",
            ("films", 0, "magnification_type", "BILINEAR"),
        ),
        (
            {},
            "14INX17IN",
            (),
            ("--medium-type", "PARCHMENT"),
            "BasicFilmSessionSOPClass",
            ("film_session", None, "medium_type", "CLEAR FILM"),
        ),
        (
            {"max_number_of_copies": 5},
            "14INX17IN",
            (),
            ("--copies", "7"),
            "BasicFilmSessionSOPClass",
            ("film_session", None, "number_of_copies", 5),
        ),
    ],
    ids=["film-size", "magnification", "medium-type", "copies"],
)
def test_unsupported_defined_term_is_substituted_with_warning(
    start_server: StartServer,
    tmp_path: Path,
    profile_changes: dict[str, Any],
    film_size: str,
    render_options: tuple[str, ...],
    print_options: tuple[str, ...],
    warned: str,
    manifest_value: tuple[str, int | None, str, Any],
) -> None:
    """A well-formed value the printer lacks gets warning 0x0116 and the printer's substitute; DCMTK
    takes 0x0116 as a warning and the job prints."""
    server = start_server(**profile_changes)
    client = client_for(server, tmp_path)
    log = client.print(
        [split_image(tmp_path)], film_size=film_size, render_options=render_options, print_options=print_options
    )

    assert_printed(log)
    warnings = [(kind, sop, status) for kind, sop, status in log.statuses if status != 0x0000]
    assert warnings == [("N-CREATE RSP", warned, 0x0116)], log.summary()
    section, index, key, value = manifest_value
    job = new_job(server, 0)
    entry = job.manifest[section] if index is None else job.manifest[section][index]
    assert entry[key] == value
    check_film_files(job, "14INX17IN")


@pytest.mark.parametrize(
    ("profile_changes", "layout", "print_options", "refused"),
    [
        ({"max_columns": 2}, (3, 3), (), ("N-CREATE RSP", "BasicFilmBoxSOPClass")),
        ({}, (1, 1), ("--priority", "URGENT"), ("N-CREATE RSP", "BasicFilmSessionSOPClass")),
        ({}, (1, 1), ("--owner", "OWNER_ID_LONGER_THAN_16"), ("N-CREATE RSP", "BasicFilmSessionSOPClass")),
        ({"supports_12_bit": False}, (1, 1), (), ("N-SET RSP", "BasicGrayscaleImageBoxSOPClass")),
    ],
    ids=["layout-too-wide", "print-priority", "owner-id-too-long", "12-bit-to-8-bit-printer"],
)
def test_refused_request_then_next_print_succeeds(
    start_server: StartServer,
    tmp_path: Path,
    profile_changes: dict[str, Any],
    layout: tuple[int, int],
    print_options: tuple[str, ...],
    refused: tuple[str, str],
) -> None:
    """An unsupported or malformed request gets 0x0106 exactly where it is made, nothing is printed,
    the half-built session is dropped when dcmprscu releases, and the next job (new association) prints."""
    server = start_server(**profile_changes)
    client = client_for(server, tmp_path)
    image = split_image(tmp_path)
    log = client.print([image] * (layout[0] * layout[1]), layout=layout, print_options=print_options)

    assert log.returncode == 0  # DCMTK's exit code says nothing; the dump does
    assert [(m.type, m.sop_class, m.status) for m in log.failures] == [(*refused, 0x0106)], log.summary()
    assert (log.responses[-1].type, log.responses[-1].sop_class) == refused, log.summary()
    assert not log.find("N-ACTION RQ") and not log.find("N-DELETE RQ")  # DCMTK stops at the failure
    assert any("failed" in line for line in log.errors), log.summary()
    assert job_count(server) == 0
    # release handling is asynchronous: the server drops a closed association's engine soon after
    wait_until(lambda: server.server.active_engines == 0, 5, "the server dropped the closed associations")

    # the same server prints the next, supported job
    eight_bit = profile_changes.get("supports_12_bit") is False
    printer = {**IHEFULL, "Supports12Bit": "false"} if eight_bit else None
    log = client.print([image], layout=(1, 1), printer=printer)
    assert_printed(log)
    job = new_job(server, 0)
    check_split_images_land(check_film_files(job), job.manifest["films"][0], 1)


# --- image size, trim and Presentation LUT data: printscp acts on them, not only stores them -----------


def test_requested_image_size_sets_the_printed_width(running: Any, tmp_path: Path) -> None:
    client = client_for(running, tmp_path)
    log = client.print([split_image(tmp_path)], render_options=["--img-request-size", "100"])

    assert_printed(log)
    assert log.one("N-SET RQ").element("2020,0030") == "100"
    job = new_job(running, 0)
    film = job.manifest["films"][0]
    assert film["image_boxes"][0]["rect_pt"][2] == pytest.approx(100 / 25.4 * 72, abs=0.5)
    check_split_images_land(check_film_files(job), film, 1)  # drawn in that smaller rect, border around


def test_requested_image_size_larger_than_box_with_fail_behavior(running: Any, tmp_path: Path) -> None:
    """Requested Decimate/Crop Behavior FAIL and an image wider than its box: 0xC603 (PS3.4 H.4.3.1.2)."""
    client = client_for(running, tmp_path)
    options = ["--request-fail", "--img-request-size", "400"]  # 400 mm on a 355.6 mm wide film
    log = client.print([split_image(tmp_path)], render_options=options)

    assert [(m.type, m.status) for m in log.failures] == [("N-SET RSP", 0xC603)], log.summary()
    assert job_count(running) == 0


def test_trim_draws_a_trim_box(running: Any, tmp_path: Path) -> None:
    """Trim = YES draws a box around each image (PS3.3 C.13.3) and changes nothing else."""
    client = client_for(running, tmp_path)
    gray = write_image(tmp_path / "gray.dcm", split_pixels(256, 256, 2048, 2048))
    pngs, film = [], {}
    for number, trim in enumerate(("--no-trim", "--trim")):
        log = client.print([gray] * 4, layout=(2, 2), render_options=[trim, "--border", "WHITE"])
        assert_printed(log)
        job = new_job(running, number)
        film = job.manifest["films"][0]
        assert film["trim"] == ("YES" if trim == "--trim" else "NO")
        pngs.append(check_film_files(job))
    changed = pngs[0] != pngs[1]
    near_edges = np.zeros(changed.shape, dtype=bool)
    margin = 6  # pixels either side of an image's edge
    for box in film["image_boxes"]:
        x0, y0, x1, y1 = pixel_rect(film, box)
        ring = np.zeros(changed.shape, dtype=bool)
        ring[max(y0 - margin, 0) : y1 + margin, max(x0 - margin, 0) : x1 + margin] = True
        ring[y0 + margin : y1 - margin, x0 + margin : x1 - margin] = False
        assert np.count_nonzero(changed & ring) >= 0.9 * 2 * ((x1 - x0) + (y1 - y0)), box  # all the way round
        near_edges |= ring
    assert not np.any(changed & ~near_edges)  # the images and the rest of the border are untouched


def test_presentation_lut_data_is_applied(running: Any, tmp_path: Path) -> None:
    """With PresentationLUTPreferSCPRendering dcmprscu sends the LUT itself (not burnt into the pixels):
    a pixel value of 1024 through a lightening LUT must print like the P-Value the LUT maps it to.

    (dcmpsprt rewrites a descending LUT as an ascending one, so an inverting LUT cannot be used here.)
    """
    lighten = np.rint(4095 * (np.arange(4096) / 4095) ** 0.25).astype(np.uint16)
    lut = write_presentation_lut(tmp_path / "lut" / "lighten.lut", lighten)
    client = client_for(running, tmp_path, printer={**IHEFULL, "PresentationLUTPreferSCPRendering": "true"})
    through_lut = write_image(tmp_path / "through_lut.dcm", split_pixels(256, 256, 1024, 4095))
    log = client.print([through_lut], presentation_lut=lut)

    assert_printed(log)
    request = log.one("N-CREATE RQ", "PresentationLUTSOPClass")
    assert request.element("0028,3002") == "4096\\0\\12"  # LUT Descriptor: the LUT went over the wire
    pixels = log.one("N-SET RQ").element("7fe0,0010") or ""
    assert pixels.startswith("0400\\0400"), pixels  # 1024 sent as it is: the LUT was not burnt in

    def left_grey(number: int) -> float:
        job = new_job(running, number)
        film = job.manifest["films"][0]
        return halves(check_film_files(job), pixel_rect(film, film["image_boxes"][0]))[0]

    with_lut = left_grey(0)
    # the P-Value the LUT gives 1024, printed without a LUT, is the grey to expect; 1024 itself is darker
    reference = write_image(tmp_path / "reference.dcm", split_pixels(256, 256, int(lighten[1024]), 4095))
    assert_printed(client.print([reference]))
    expected = left_grey(1)
    assert_printed(client.print([through_lut]))
    without_lut = left_grey(2)
    assert with_lut == pytest.approx(expected, abs=1.0), (with_lut, expected, without_lut)
    assert with_lut > without_lut + 40, (with_lut, expected, without_lut)


def test_printing_while_the_printer_is_warning(running: Any, tmp_path: Path) -> None:
    """dcmprscu is told the printer status with an N-EVENT-REPORT, answers it, and the job prints."""
    from printscp.model.enums import PrinterStatus

    running.server.printer.set_status(PrinterStatus.WARNING, "SUPPLY LOW")
    log = client_for(running, tmp_path).print([split_image(tmp_path)], layout=(1, 1), film_size="14INX17IN")
    assert_printed(log)
    (event,) = [m for m in log.find("N-EVENT-REPORT RQ") if m.direction == "INCOMING"]
    assert (event.sop_class, event.sop_instance, event.fields["Event Type ID"]) == (
        "PrinterSOPClass",
        "1.2.840.10008.5.1.1.17",
        "2",
    )  # Warning (PS3.4 Table H.4-16)
    assert event.element("2110,0020") == "SUPPLY LOW"
    (answer,) = [m for m in log.find("N-EVENT-REPORT RSP") if m.direction == "OUTGOING"]
    assert answer.status == 0x0000 and answer.fields["Message ID Being Responded To"] == event.fields["Message ID"]
    printer = log.one("N-GET RSP", "PrinterSOPClass")
    assert printer.element("2110,0010") == "WARNING" and printer.element("2110,0020") == "SUPPLY LOW"
    assert len(new_job(running, 0).manifest["films"]) == 1
