"""The print SCU's pure parts: the image pipeline, the P-values, the Presentation LUT, option checks, statuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from printscp.bench import scu
from printscp.bench.report import status_name
from printscp.bench.scu import LutRequest, OperatorError, PrintOptions


def image_file(path: Path, pixels: np.ndarray, bits: int = 12, **attributes: object) -> Path:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    frames = pixels.shape[0] if pixels.ndim == 3 else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored, ds.HighBit = bits, bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype(f"<{pixels.dtype.kind}{ds.BitsAllocated // 8}").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_the_window_maps_center_and_width_linearly(tmp_path: Path) -> None:
    # PS3.3 C.11.2.1.2.1 LINEAR: center 1000, width 1001 -> 500 and below black, 1500 and above white
    pixels = np.array([[0, 499, 1000, 1500, 4095]], dtype=np.uint16)
    image = scu.load_image(image_file(tmp_path / "a.dcm", pixels, WindowCenter=1000, WindowWidth=1001))
    values = scu.p_values(image.display, 12)
    assert values[0, 0] == 0 and values[0, 1] == 0
    assert values[0, 2] == round(((1000 - 999.5) / 1000 + 0.5) * 4095)  # ((x - (c - 0.5)) / (w - 1) + 0.5)
    assert values[0, 3] == 4095 and values[0, 4] == 4095


def test_rescale_comes_before_the_window(tmp_path: Path) -> None:
    # CT: stored 1024 is 0 HU with intercept -1024; window 40/400 -> 0 HU is just above the middle
    pixels = np.array([[0, 1024, 2048]], dtype=np.uint16)
    path = image_file(
        tmp_path / "ct.dcm", pixels, RescaleIntercept=-1024, RescaleSlope=1, WindowCenter=40, WindowWidth=400
    )
    values = scu.p_values(scu.load_image(path).display, 12)
    expected_middle = round(((0 - 39.5) / 399 + 0.5) * 4095)
    assert values.tolist() == [[0, expected_middle, 4095]]


def test_no_window_uses_the_minimum_to_maximum(tmp_path: Path) -> None:
    pixels = np.array([[100, 300, 500]], dtype=np.uint16)
    values = scu.p_values(scu.load_image(image_file(tmp_path / "m.dcm", pixels)).display, 8)
    assert values.tolist() == [[0, 128, 255]]


def test_a_flat_image_without_a_window_keeps_its_place_in_the_stored_range(tmp_path: Path) -> None:
    values = scu.p_values(scu.load_image(image_file(tmp_path / "f.dcm", np.full((2, 2), 4095, np.uint16))).display, 12)
    assert (values == 4095).all()


def test_monochrome1_is_inverted_and_sent_as_monochrome2(tmp_path: Path) -> None:
    pixels = np.array([[0, 4095]], dtype=np.uint16)
    path = image_file(tmp_path / "m1.dcm", pixels, PhotometricInterpretation="MONOCHROME1")
    image = scu.load_image(path)
    assert scu.p_values(image.display, 12).tolist() == [[4095, 0]]  # MONOCHROME1 0 is white
    item = scu.grayscale_image_item(image, 12)
    assert item.PhotometricInterpretation == "MONOCHROME2"


def test_a_multi_frame_image_prints_its_first_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((2, 3), 100 * (n + 1), dtype=np.uint16) for n in range(3)])
    frames[0, 0, 0] = 0
    image = scu.load_image(image_file(tmp_path / "mf.dcm", frames))
    assert image.display.shape == (2, 3)
    assert image.notes == ("3 frames: printing the first",)
    assert scu.p_values(image.display, 8)[0, 0] == 0 and scu.p_values(image.display, 8)[1, 1] == 255


@pytest.mark.parametrize(("bits", "formats"), [(12, (16, 12, 11, 2)), (8, (8, 8, 7, 1))])
def test_grayscale_item_pixel_format(bits: int, formats: tuple[int, int, int, int]) -> None:
    image = scu.SourceImage(Path("x.dcm"), np.linspace(0, 1, 15, dtype=np.float32).reshape(3, 5), 12, (2, 1))
    item = scu.grayscale_image_item(image, bits)
    allocated, stored, high, size = formats
    assert (item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation) == (allocated, stored, high, 0)
    assert (item.Rows, item.Columns, item.SamplesPerPixel) == (3, 5, 1)
    assert list(item.PixelAspectRatio) == [2, 1]
    assert item["PixelData"].VR == "OW"
    assert len(item.PixelData) == 15 * size + (15 * size) % 2  # padded to even length
    top = (1 << bits) - 1
    values = np.frombuffer(item.PixelData[: 15 * size], dtype=np.uint8 if bits == 8 else "<u2")
    assert values[0] == 0 and values[-1] == top


def test_color_item_is_rgb_by_plane() -> None:
    display = np.zeros((2, 2, 3), dtype=np.float32)
    display[..., 0] = 1.0  # red
    item = scu.color_image_item(scu.SourceImage(Path("c.dcm"), display, 8))
    assert (item.SamplesPerPixel, item.PhotometricInterpretation, item.PlanarConfiguration) == (3, "RGB", 1)
    assert item.PixelData == bytes([255] * 4 + [0] * 8)  # all red, then all green, then all blue


def test_luminance_of_colour_for_a_grayscale_printer() -> None:
    display = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]], dtype=np.float32)
    assert scu.as_grayscale(display) == pytest.approx(np.array([[0.299, 0.587, 1.0]]), abs=1e-6)


def test_lut_requests() -> None:
    assert LutRequest.parse("identity") == LutRequest(shape="IDENTITY")
    assert LutRequest.parse("LIN OD") == LutRequest(shape="LIN OD")
    assert LutRequest.parse("gamma") == LutRequest(gamma=2.2)
    assert LutRequest.parse("gamma:1.5") == LutRequest(gamma=1.5)
    for bad in ("gamma:0", "gamma:x", "sigmoid", ""):
        with pytest.raises(OperatorError, match="--lut"):
            LutRequest.parse(bad)


@pytest.mark.parametrize("bits", [8, 12])
def test_a_gamma_lut_table_matches_bits_stored(bits: int) -> None:
    ds = scu.presentation_lut_dataset(LutRequest(gamma=2.0), bits)
    item = ds.PresentationLUTSequence[0]
    entries = 1 << bits
    assert list(item.LUTDescriptor) == [entries, 0, 12]  # PS3.3 C.11.4.1: 256 or 4096 entries, 10-16 bits
    table = np.frombuffer(item.LUTData if isinstance(item.LUTData, bytes) else bytes(item.LUTData), dtype="<u2")
    assert len(table) == entries and table[0] == 0 and table[-1] == 4095
    quarter = entries // 4
    assert table[quarter] == round((quarter / (entries - 1)) ** (1 / 2.0) * 4095)  # output = input^(1/gamma)
    assert "PresentationLUTShape" not in ds


def test_a_lut_shape_is_sent_as_presentation_lut_shape() -> None:
    ds = scu.presentation_lut_dataset(LutRequest(shape="LIN OD"), 12)
    assert ds.PresentationLUTShape == "LIN OD" and "PresentationLUTSequence" not in ds


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_display_format": "STANDARD\\2"}, "--format"),
        ({"film_orientation": "SIDEWAYS"}, "--orientation"),
        ({"print_priority": "URGENT"}, "--priority"),
        ({"bits": 10}, "--bits"),
        ({"film_size_id": "14 x 17 inch film"}, "--film-size"),
        ({"border_density": "GREY"}, "--border"),
        ({"min_density": 300, "max_density": 200}, "--min-density"),
        ({"number_of_copies": 0}, "--copies"),
        ({"film_session_label": "x" * 65}, "--label"),
        ({"calling_ae": "A\\B"}, "--calling-ae"),
        ({"timeout": 0}, "--timeout"),
    ],
)
def test_bad_option_values_are_operator_errors(changes: dict[str, object], message: str) -> None:
    options = PrintOptions(images=(Path("a.dcm"),), **changes)  # type: ignore[arg-type]
    with pytest.raises(OperatorError, match=f"^{message} "):
        options.check()


def test_good_options_pass() -> None:
    options = PrintOptions(
        images=(Path("a.dcm"),),
        image_display_format="ROW\\2,1",
        film_size_id="14INX17IN",
        film_orientation="LANDSCAPE",
        medium_type="BLUE FILM",
        film_destination="BIN_1",
        border_density="150",
        min_density=20,
        max_density=320,
        bits=12,
    )
    assert options.check() is options


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="missing.dcm: no such file"):
        scu.load_image(tmp_path / "missing.dcm")
    (tmp_path / "text.dcm").write_text("hello")
    with pytest.raises(OperatorError, match="text.dcm: not a DICOM file"):
        scu.load_image(tmp_path / "text.dcm")
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(tmp_path / "nopixels.dcm", enforce_file_format=True)
    with pytest.raises(OperatorError, match="nopixels.dcm: has no Pixel Data"):
        scu.load_image(tmp_path / "nopixels.dcm")


def test_status_names_and_classes() -> None:  # the SCU's lines name statuses as the reports do
    assert status_name(0) == "0x0000 SUCCESS"
    assert status_name(0xB605) == "0xB605 DENSITY_OUT_OF_RANGE"
    assert status_name(0x0001) == "0x0001 WARNING"
    assert status_name(0xA700) == "0xA700 FAILURE"
    assert scu.is_warning(0x0116) and scu.is_warning(0xB603) and not scu.is_failure(0xB603)
    assert scu.is_failure(0x0106) and scu.is_failure(0xC616) and not scu.is_failure(0)
