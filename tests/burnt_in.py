"""Images with burnt-in patient text, as a CT console prints them: small white text in the corners.

`burnt_in_image` draws the lines of each corner with the bundled DejaVu Sans (printscp/render/fonts) onto a
synthetic CT-like slice (dark air with noise, a mid-grey body disc), deterministic for the same arguments.
`write_burnt_in_dicom` writes one as a MONOCHROME2 CT image file that DCMTK's dcmpsprt prints (no VOI window and
a unit rescale, so dcmpsprt passes the values linearly, as tests/dcmtk.py write_image does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from dcmtk import write_image
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import CTImageStorage

from printscp.render.fonts import FONT_PATH

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")

# A console's four corners, as the tests read them back
CONSOLE: Mapping[str, Sequence[str]] = {
    "top_left": ["DOE^JANE", "ID: 12345678", "DOB: 1970-01-31"],
    "top_right": ["ACC: A1234", "CT CHEST W/O"],
    "bottom_left": ["kV 120  mAs 250", "W 400 L 40"],
    "bottom_right": ["2024-05-17 10:42", "Se 3 Im 45"],
}


def burnt_in_image(
    text_lines_by_corner: Mapping[str, Sequence[str]],
    size: int = 512,
    bits: int = 12,
    font_px: int | None = None,
    dark_text: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """A `size` x `size` image of `bits` bits stored with the lines of each corner (CORNERS) burnt in.

    `font_px`: the font size in pixels (default: 12 at 512, in proportion, at least 8 px: what consoles write).
    The text is at the maximum value with anti-aliased edges on a dark background; `dark_text` inverts the
    whole image (black text on a light background). uint8 for bits <= 8, else uint16.
    """
    unknown = set(text_lines_by_corner) - set(CORNERS)
    assert not unknown, f"unknown corners {unknown}; use {CORNERS}"
    top = (1 << bits) - 1
    rng = np.random.default_rng(seed)
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    image = np.abs(rng.normal(0.03, 0.02, (size, size)))  # air, noisy
    disc = x**2 + (y - 0.05) ** 2 <= 0.62**2
    image[disc] = rng.normal(0.45, 0.04, int(disc.sum()))  # the body
    bone = (x**2 + (y - 0.45) ** 2) <= 0.08**2
    image[bone] = 0.95  # a vertebra: as bright as the text, away from the corners
    coverage = _text_coverage(text_lines_by_corner, size, font_px or max(8, round(size * 12 / 512)))
    image = image * (1 - coverage) + coverage  # text at the maximum value over what is below it
    values = np.clip(np.round(image * top), 0, top)
    if dark_text:
        values = top - values
    return values.astype(np.uint8 if bits <= 8 else np.uint16)


def _text_coverage(text_lines_by_corner: Mapping[str, Sequence[str]], size: int, font_px: int) -> np.ndarray:
    """How much of each pixel the text covers, 0..1 (Pillow's anti-aliased rendering)."""
    font = ImageFont.truetype(str(FONT_PATH), font_px)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    margin = max(2, size // 64)
    line_height = round(font_px * 1.25)
    for corner, lines in text_lines_by_corner.items():
        top = corner.startswith("top")
        left = corner.endswith("left")
        for number, line in enumerate(lines):
            row = margin + number * line_height if top else size - margin - (len(lines) - number) * line_height
            width = draw.textlength(line, font=font)
            column = margin if left else size - margin - width
            draw.text((column, row), line, fill=255, font=font)
    return np.asarray(mask, dtype=np.float64) / 255


def write_burnt_in_dicom(
    path: Path,
    text_lines_by_corner: Mapping[str, Sequence[str]] = CONSOLE,
    size: int = 512,
    bits: int = 12,
    font_px: int | None = None,
    patient_name: str = "",
    patient_id: str = "",
) -> Path:
    """`burnt_in_image` as a CT Image Storage file, MONOCHROME2; the patient in the header only when given
    (a print SCP never sees the header: the tests give it to check what OCR read against)."""
    pixels = burnt_in_image(text_lines_by_corner, size, bits, font_px)
    return write_image(
        path,
        pixels,
        bits,
        SOPClassUID=CTImageStorage,
        PatientName=patient_name,
        PatientID=patient_id,
        Modality="CT",
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        InstanceNumber=1,
        RescaleIntercept=0,
        RescaleSlope=1,
    )
