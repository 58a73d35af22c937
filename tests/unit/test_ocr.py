"""OCR of burnt-in text (printscp/identity/ocr.py) with the real Tesseract, on images tests/burnt_in.py draws."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from burnt_in import CONSOLE, burnt_in_image, write_burnt_in_dicom
from pydicom import dcmread

from printscp.identity import ocr
from printscp.identity.model import Identity
from printscp.model.record import ColorImage

JANE = Identity(
    patient_name="DOE^JANE",
    patient_id="12345678",
    patient_birth_date="19700131",
    accession_number="A1234",
    source="ocr",
)
HANS: Mapping[str, Sequence[str]] = {
    "top_left": ["MILLER, HANS", "Patient ID: H-20381", "DOB: 15.07.2001  Sex: M"],
    "top_right": ["Acc# 24X00917"],
    "bottom_right": ["SIEMENS", "W 1500 L -600"],
}
HANS_FOUND = Identity(
    patient_name="MILLER^HANS",
    patient_id="H-20381",
    patient_birth_date="20010715",
    patient_sex="M",
    accession_number="24X00917",
    source="ocr",
)


def test_tesseract_is_installed() -> None:
    assert ocr.available()  # .ci/setup --test installs tesseract-ocr: without it these tests must fail
    version = ocr.version()
    assert version is not None and version[0].isdigit()


@pytest.mark.parametrize(
    ("size", "bits", "font_px", "dark_text"),
    [
        (512, 12, 12, False),
        (512, 12, 12, True),
        (512, 12, 10, False),
        (512, 12, 14, True),
        (512, 16, 11, False),
        (256, 8, 9, False),
        (256, 8, 9, True),
    ],
)
def test_identify_reads_a_console_layout(size: int, bits: int, font_px: int, dark_text: bool) -> None:
    pixels = burnt_in_image(CONSOLE, size=size, bits=bits, font_px=font_px, dark_text=dark_text)
    assert ocr.identify([(pixels, bits)], ocr.DEFAULT_TEMPLATES) == JANE


@pytest.mark.parametrize(
    ("size", "bits", "font_px", "dark_text"), [(512, 12, 13, False), (512, 12, 13, True), (256, 8, 9, False)]
)
def test_identify_reads_comma_names_and_labelled_fields(size: int, bits: int, font_px: int, dark_text: bool) -> None:
    pixels = burnt_in_image(HANS, size=size, bits=bits, font_px=font_px, dark_text=dark_text)
    assert ocr.identify([(pixels, bits)], ()) == HANS_FOUND  # no templates: the defaults


@pytest.mark.parametrize(
    ("lines", "size", "bits", "font_px", "dark_text"),
    [
        (CONSOLE, 512, 12, 12, False),
        (CONSOLE, 512, 12, 10, True),
        (CONSOLE, 512, 16, 11, False),
        (CONSOLE, 256, 8, 9, True),
        (HANS, 512, 12, 13, False),
        (HANS, 256, 8, 9, False),
    ],
)
def test_in_process_tesseract_reads_what_the_tesseract_command_reads(
    lines: Mapping[str, Sequence[str]], size: int, bits: int, font_px: int, dark_text: bool, tmp_path: Path
) -> None:
    """ocr.py calls libtesseract in process; the `tesseract` command (same library, model and mode) is the
    reference its accuracy was measured with (benchmarks/ocr.py): the text must be the same, line for line."""
    stacked = ocr.corners_image(burnt_in_image(lines, size=size, bits=bits, font_px=font_px, dark_text=dark_text), bits)
    assert stacked is not None
    stacked.save(tmp_path / "corners.png")
    command = ["tesseract", str(tmp_path / "corners.png"), "stdout", "--psm", str(ocr.PSM)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    assert result.returncode == 0, result.stderr
    expected = "\n".join(ocr.repair(line.strip()) for line in result.stdout.splitlines() if line.strip())
    assert "ID:" in expected or "ID " in expected  # the reference read the image at all
    assert ocr._tesseract(stacked) == expected


def test_read_text_returns_the_corner_lines() -> None:
    text = ocr.read_text(burnt_in_image(CONSOLE), 12)
    lines = text.split("\n")
    for expected in ("DOE^JANE", "ID: 12345678", "DOB: 1970-01-31", "ACC: A1234"):
        assert expected in lines, text


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((512, 512), np.uint16),  # all black
        np.full((512, 512), 4095, np.uint16),  # all white
        burnt_in_image({}, 512, 12),  # an image without text
        np.random.default_rng(1).integers(0, 300, (512, 512)).astype(np.uint16),  # dark noise
    ],
    ids=["black", "white", "no text", "noise"],
)
def test_an_image_without_text_gives_no_identity(pixels: np.ndarray) -> None:
    assert ocr.identify([(pixels, 12)], ocr.DEFAULT_TEMPLATES) == Identity()


@pytest.mark.parametrize(
    ("pixels", "bits"),
    [
        (np.zeros((0, 0), np.uint8), 8),
        (np.zeros((512, 1), np.uint16), 12),  # one pixel wide
        (np.full((1, 512), 255, np.uint8), 8),
        (np.full((8, 8), 255, np.uint8), 8),
        (np.zeros((3, 64, 64), np.uint8), 8),  # not 2-D
        (np.ones((64, 64), bool), 1),
        (np.full((64, 64), np.nan), 12),
        (np.full((64, 64), -5.0), 12),
        (burnt_in_image(CONSOLE, 256, 8), 0),  # nonsense bits stored
        (burnt_in_image(CONSOLE, 256, 8), 99),
        (np.array(7), 8),
        ("not an image", 8),
    ],
)
def test_odd_input_reads_as_text_or_nothing_and_never_raises(pixels: np.ndarray, bits: int) -> None:
    assert isinstance(ocr.read_text(pixels, bits), str)
    assert isinstance(ocr.identify([(pixels, bits)], ocr.DEFAULT_TEMPLATES), Identity)


def test_identify_merges_images_and_stops_once_it_has_name_and_id(monkeypatch: pytest.MonkeyPatch) -> None:
    name_only = burnt_in_image({"top_left": ["DOE^JANE"]}, 512, 12)
    the_rest = burnt_in_image({"top_right": ["ID: 12345678", "DOB: 31.01.1970"]}, 512, 12)
    never_read = burnt_in_image({"top_left": ["ROE^RICHARD", "ID: 999"]}, 512, 12)
    read: list[int] = []
    real = ocr.read_text

    def counting(pixels: np.ndarray, bits_stored: int) -> str:
        read.append(len(read))
        return real(pixels, bits_stored)

    monkeypatch.setattr(ocr, "read_text", counting)
    found = ocr.identify([(name_only, 12), (the_rest, 12), (never_read, 12)], ocr.DEFAULT_TEMPLATES)
    assert found == Identity(
        patient_name="DOE^JANE", patient_id="12345678", patient_birth_date="19700131", source="ocr"
    )
    assert not found.confirmed
    assert read == [0, 1]


def test_identify_with_configured_templates() -> None:
    pixels = burnt_in_image({"top_left": ["DOE JANE / 4711", "*31.01.1970"]}, 512, 12)
    found = ocr.identify([(pixels, 12)], ["{PatientName} / {PatientID}", "*{PatientBirthDate:DD.MM.YYYY}"])
    assert found == Identity(patient_name="DOE^JANE", patient_id="4711", patient_birth_date="19700131", source="ocr")


def test_identify_rejects_a_bad_template_before_reading() -> None:
    with pytest.raises(ValueError, match="PatientNmae"):
        ocr.identify([(burnt_in_image(CONSOLE), 12)], ["{PatientNmae}"])


@pytest.mark.parametrize(
    ("line", "repaired"),
    [
        ("DOE*JANE", "DOE^JANE"),
        ("DOE “JANE", "DOE^JANE"),
        ("DOE“*JANE", "DOE^JANE"),
        ("O'BRIEN^MARY", "O'BRIEN^MARY"),
        ("W*400", "W*400"),
        ("kV 120 * 2", "kV 120 * 2"),
    ],
)
def test_a_caret_misread_between_names_is_repaired(line: str, repaired: str) -> None:
    assert ocr.repair(line) == repaired


def test_write_burnt_in_dicom(tmp_path: Path) -> None:
    path = write_burnt_in_dicom(tmp_path / "ct.dcm", CONSOLE, size=256, bits=12)
    dataset = dcmread(path)
    assert dataset.Modality == "CT" and dataset.PhotometricInterpretation == "MONOCHROME2"
    assert dataset.BitsStored == 12 and dataset.pixel_array.shape == (256, 256)
    assert np.array_equal(dataset.pixel_array, burnt_in_image(CONSOLE, size=256, bits=12))


def test_a_colour_image_is_read_by_its_luma() -> None:
    # an ultrasound-like colour print: the console text in white over a tinted image, a colour box in the middle
    grey = burnt_in_image(CONSOLE, size=512, bits=8, font_px=12)
    rgb = np.stack([grey, (grey * 0.8).astype(np.uint8), (grey * 0.6).astype(np.uint8)], axis=2)
    rgb[200:300, 200:300] = (200, 30, 30)  # colour Doppler
    image = ColorImage(512, 512, (1, 1), rgb)
    luma = image.grayscale()
    assert luma.bits_stored == 8 and luma.pixels.shape == (512, 512)
    assert ocr.identify([(luma.pixels, luma.bits_stored)], ocr.DEFAULT_TEMPLATES) == JANE
