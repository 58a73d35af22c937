"""Rendering measured from its outputs: grey levels against the density maths, geometry, PDF and PNG."""

from __future__ import annotations

import dataclasses
import io
import struct
import tracemalloc
import unicodedata
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from printscp.config import load_config
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat
from printscp.model.record import (
    AnnotationSnapshot,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
    PrintRequest,
)
from printscp.render import gsdf, plan
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo, render_pdf
from printscp.render.pixels import (
    Viewing,
    contrast_curve,
    density_of_p_values,
    density_of_term,
    display_values,
    image_densities,
    image_lut,
)
from printscp.render.plan import plan_film
from printscp.render.png import encode_png, render_png

PROFILE = load_config(Path(__file__).resolve().parents[2] / "config.toml").printer
LIGHT_BOX = Viewing(2000, 10, False, 0.10, 3.30)
PAPER = Viewing(150, 10, True, 0.10, 3.30)


def test_gsdf_endpoints_and_inverse() -> None:
    # PS3.14: the GSDF spans 0.05 to ~4000 cd/m2 over JND indices 1..1023
    assert float(gsdf.luminance(1)) == pytest.approx(0.05, abs=0.001)
    assert float(gsdf.luminance(1023)) == pytest.approx(3993, rel=0.01)
    j = np.array([10.0, 233.3, 500.0, 847.2])
    assert gsdf.jnd_index(gsdf.luminance(j)) == pytest.approx(j, abs=0.1)


def test_display_values_span_the_printers_range() -> None:
    densities = np.linspace(0.10, 3.30, 50)
    values = display_values(densities, LIGHT_BOX).astype(int)
    assert values[0] == 255 and values[-1] == 0
    assert np.all(np.diff(values) <= 0)  # denser is darker, never lighter
    # the perceptual scale: equal JND steps are equal display steps
    lum = gsdf.luminance_of_density(np.array([3.30, 0.10]), 2000, 10, False)
    j_dark, j_light = gsdf.jnd_index(lum)
    j_mid = (j_dark + j_light) / 2
    d_mid = float(gsdf.density_of_luminance(gsdf.luminance(j_mid), 2000, 10, False))
    assert int(display_values(d_mid, LIGHT_BOX)) in (127, 128)


def test_paper_and_film_differ_in_the_middle_only() -> None:
    assert int(display_values(0.10, PAPER)) == 255 and int(display_values(3.30, PAPER)) == 0
    assert int(display_values(1.5, PAPER)) != int(display_values(1.5, LIGHT_BOX))


@pytest.mark.parametrize(
    ("photometric", "polarity", "lightest_at_top"),
    [
        (PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, True),
        (PhotometricInterpretation.MONOCHROME2, Polarity.REVERSE, False),
        (PhotometricInterpretation.MONOCHROME1, Polarity.NORMAL, False),
        (PhotometricInterpretation.MONOCHROME1, Polarity.REVERSE, True),
    ],
)
def test_polarity_and_photometric_interpretation(
    photometric: PhotometricInterpretation, polarity: Polarity, lightest_at_top: bool
) -> None:
    lut = image_lut(12, photometric, polarity, None, 1.0, 20, 300, LIGHT_BOX).astype(int)
    assert lut.shape == (4096,)
    light, dark = int(display_values(0.20, LIGHT_BOX)), int(display_values(3.00, LIGHT_BOX))
    assert (lut[-1], lut[0]) == ((light, dark) if lightest_at_top else (dark, light))
    assert np.all(np.diff(lut) >= 0) if lightest_at_top else np.all(np.diff(lut) <= 0)


def test_worked_example_of_ps3_14() -> None:
    """Digest 7.4: L0 2000, La 10, Dmin 0.20, Dmax 3.00; 8-bit P-Values -> OD within 0.01."""
    viewing = Viewing(2000, 10, False, 0.10, 3.30)
    densities = density_of_p_values(np.array([0, 64, 128, 192, 255.0]), 255, 0.20, 3.00, viewing)
    assert densities == pytest.approx([3.00, 1.70, 1.12, 0.64, 0.20], abs=0.01)
    # and the inverse: the density of each P-Value gives back its JND index on the linear scale
    j_min, j_max = gsdf.jnd_index(gsdf.luminance_of_density(np.array([3.00, 0.20]), 2000, 10, False))
    assert (j_min, j_max) == pytest.approx((233.3, 847.2), abs=0.1)
    j = gsdf.jnd_index(gsdf.luminance_of_density(densities, 2000, 10, False))
    # PS3.14's j(L) and L(j) are separate fits: they invert each other to about 0.02 JND
    assert (j - j_min) / (j_max - j_min) * 255 == pytest.approx([0, 64, 128, 192, 255], abs=0.05)


def test_reflective_paper_uses_l_equals_l0_10_minus_d() -> None:
    paper = Viewing(150, 10, True, 0.10, 3.30)
    densities = density_of_p_values(np.array([0, 255.0]), 255, 0.20, 2.00, paper)
    assert densities == pytest.approx([2.00, 0.20], abs=0.001)
    middle = float(density_of_p_values(np.array([128.0]), 255, 0.20, 2.00, paper)[0])
    film_middle = float(density_of_p_values(np.array([128.0]), 255, 0.20, 2.00, LIGHT_BOX)[0])
    # without ambient light added, the same P-Value lands at a different density than on film
    j_min, j_max = gsdf.jnd_index(150 * 10.0 ** -np.array([2.00, 0.20]))
    expected = -np.log10(float(gsdf.luminance(j_min + 128 * (j_max - j_min) / 255)) / 150)
    assert middle == pytest.approx(expected, abs=1e-9) and middle != pytest.approx(film_middle, abs=0.01)


def test_border_density_terms() -> None:
    assert density_of_term("BLACK", 20, 300) == 3.00
    assert density_of_term("WHITE", 20, 300) == 0.20
    assert density_of_term("150", 20, 300) == 1.50


def image(rows: int, columns: int, value: int = 2048, aspect: tuple[int, int] = (1, 1)) -> GrayscaleImage:
    return GrayscaleImage(
        rows,
        columns,
        12,
        PhotometricInterpretation.MONOCHROME2,
        aspect,
        np.full((rows, columns), value, dtype=np.uint16),
    )


def snapshot(
    fmt: str = "STANDARD\\2,1", boxes: tuple[GrayscaleImage | None, ...] = (None, None), **changes: object
) -> FilmSnapshot:
    film = FilmSnapshot(
        film_session_uid="1.2.3",
        film_box_uid="1.2.3.4",
        medium_type="CLEAR FILM",
        film_destination="MAGAZINE",
        film_session_label="",
        owner_id="",
        specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse(fmt),
        film_orientation=FilmOrientation.PORTRAIT,
        film_size_id="14INX17IN",
        magnification_type=MagnificationType.BILINEAR,
        smoothing_type="MEDIUM",
        max_density=300,
        min_density=20,
        configuration_information="CS500",
        border_density="BLACK",
        empty_image_density="WHITE",
        trim=Trim.NO,
        illumination=None,
        reflected_ambient_light=None,
        requested_resolution_id=RequestedResolutionID.STANDARD,
        annotation_display_format_id="",
        image_boxes=tuple(
            ImageBoxSnapshot(
                i + 1, img, Polarity.NORMAL, MagnificationType.BILINEAR, "MEDIUM", 20, 300, "CS500", None, None, None
            )
            for i, img in enumerate(boxes)
        ),
        annotations=(),
    )
    return dataclasses.replace(film, **changes)  # type: ignore[arg-type]


def test_plan_geometry_and_grey_levels() -> None:
    plan = plan_film(snapshot(boxes=(image(64, 64), None)), PROFILE)
    assert (plan.width, plan.height) == pytest.approx((1008, 1224))
    assert [dataclasses.astuple(c) for c in plan.cells] == [
        pytest.approx((0, 0, 504, 1224)),
        pytest.approx((504, 0, 504, 1224)),
    ]
    assert dataclasses.astuple(plan.images[0].rect) == pytest.approx((0, 360, 504, 504))
    assert plan.background == int(display_values(3.00, LIGHT_BOX))
    assert plan.empty_cells == ((plan.cells[1], int(display_values(0.20, LIGHT_BOX))),)
    landscape = plan_film(snapshot(film_orientation=FilmOrientation.LANDSCAPE, film_size_id="8INX10IN"), PROFILE)
    assert (landscape.width, landscape.height) == pytest.approx((720, 576))


def test_annotation_format_reserves_its_image_area() -> None:
    plan = plan_film(snapshot("STANDARD\\1,1", (None,), annotation_display_format_id="LABEL"), PROFILE)
    assert plan.cells[0].y == pytest.approx(0.04 * 1224) and plan.cells[0].height == pytest.approx(0.96 * 1224)


def test_illumination_from_the_scu_overrides_the_profile() -> None:
    dim = plan_film(snapshot(boxes=(None, None), empty_image_density="150", illumination=500), PROFILE)
    bright = plan_film(snapshot(boxes=(None, None), empty_image_density="150"), PROFILE)
    assert dim.empty_cells[0][1] != bright.empty_cells[0][1]


@pytest.mark.parametrize(
    "text",
    [
        "CR\rFS\x1cGS\x1dRS\x1eNEL\x85",  # controls Pillow's text layout refuses (C1: ISO_IR 100 lets it in)
        "paragraph\u2029line\u2028end",  # Unicode separators, which it refuses too
        "日本語 \U0001f600 \ufffd \u0301",  # no glyph in the bundled font, astral, replacement, combining
        "W" * 200,  # longer than any box: set smaller
        " ",
    ],
)
def test_any_annotation_text_is_drawn(text: str) -> None:
    """A film whose annotation holds any text the value rules let through renders to PDF and PNG, one line."""
    annotations = (AnnotationSnapshot(1, text), AnnotationSnapshot(2, text), AnnotationSnapshot(0, text))
    film = snapshot("STANDARD\\1,1", (image(8, 8),), annotation_display_format_id="TOP_BOTTOM", annotations=annotations)
    planned = plan_film(film, PROFILE)
    assert [t.annotation_position for t in planned.texts] == [1, 2]  # position 0 is no box of the format
    for drawn in planned.texts:  # every character kept in place, none that breaks the line or the layout
        assert len(drawn.text) == len(text)
        assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in drawn.text), drawn.text
    assert all(t.font_size > 0 and t.x + plan.fonts.text_width(t.text, t.font_size) < 1008 for t in planned.texts)
    reader = PdfReader(io.BytesIO(render_pdf([planned], DocumentInfo("", "AE", "printer"))))
    assert len(reader.pages) == 1
    with Image.open(io.BytesIO(render_png(planned))) as png:
        assert png.size == (14 * 150, 17 * 150)


def test_pdf_page_size_images_and_embedding() -> None:
    same = image(32, 32, 100)
    plans = [
        plan_film(snapshot(boxes=(same, same)), PROFILE),
        plan_film(snapshot(boxes=(same, image(16, 16, 4000)), film_size_id="A4"), PROFILE),
    ]
    reader = PdfReader(io.BytesIO(render_pdf(plans, DocumentInfo("LABEL", "CT_AE", "printer"))))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    assert sizes[0] == pytest.approx((1008, 1224), abs=0.01) and sizes[1] == pytest.approx((595.276, 841.89), abs=0.01)
    assert reader.metadata is not None and (reader.metadata.title, reader.metadata.subject) == ("LABEL", "CT_AE")
    xobjects = {}
    for page in reader.pages:
        for _name, ref in page["/Resources"]["/XObject"].items():  # type: ignore[index]
            xobjects[ref.idnum] = ref.get_object()
    assert len(xobjects) == 2  # the identical image is embedded once for all its uses
    for xobject in xobjects.values():
        assert xobject["/Filter"] == ["/FlateDecode"] and xobject["/ColorSpace"] == "/DeviceGray"
    decoded = {(int(x["/Width"]), x.get_data()[:1]) for x in xobjects.values()}
    lut = image_lut(12, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, None, 1.0, 20, 300, LIGHT_BOX)
    assert decoded == {(32, bytes([lut[100]])), (16, bytes([lut[4000]]))}  # lossless display values


@pytest.mark.parametrize(
    ("resolution", "png_dpi", "dpi"),
    [
        (RequestedResolutionID.STANDARD, 150, 150),  # the printer's 300 dpi, drawn at [render] png_dpi
        (RequestedResolutionID.HIGH, 300, 300),  # 600 dpi, drawn at 300
        (RequestedResolutionID.STANDARD, 1200, 300),  # never above the printer's dpi
    ],
)
def test_png_is_drawn_at_the_printer_dpi_or_png_dpi_whichever_is_lower(
    resolution: RequestedResolutionID, png_dpi: int, dpi: int
) -> None:
    assert PROFILE.dpi(resolution.value) == {"STANDARD": 300, "HIGH": 600}[resolution.value]  # config.toml
    film = snapshot(boxes=(image(64, 64, 4095), None), requested_resolution_id=resolution)
    plan = plan_film(film, PROFILE, png_dpi)
    assert plan.dpi == dpi == min(PROFILE.dpi(resolution.value), png_dpi)
    with Image.open(io.BytesIO(render_png(plan))) as png:
        assert png.mode == "L" and png.size == (14 * dpi, 17 * dpi)
        assert png.info["dpi"] == pytest.approx((dpi, dpi), abs=0.02)  # pHYs stores whole dots per metre
        raster = np.asarray(png)
    lut = image_lut(12, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, None, 1.0, 20, 300, LIGHT_BOX)
    assert raster[17 * dpi // 2, 14 * dpi // 4] == lut[4095]  # centre of the image in the left cell
    assert raster[10, 10] == plan.background
    assert raster[17 * dpi // 2, 14 * dpi * 3 // 4] == int(display_values(0.20, LIGHT_BOX))  # empty right cell
    # the image's place on the film does not depend on the PNG's resolution
    assert plan.images[0].rect == plan_film(film, PROFILE).images[0].rect


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (37, 53), (600, 11)])  # 600: stripes of rows
@pytest.mark.parametrize("dpi", [72, 150, 300, 600])
def test_png_encoder_is_lossless_and_writes_dpi_as_pillow_does(shape: tuple[int, int], dpi: int) -> None:
    rng = np.random.default_rng(shape[0] * shape[1] + dpi)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[::2, ::3] = 255  # neighbours of 0 and 255 above each other: the Up filter wraps modulo 256
    pixels[1::2, ::3] = 0
    png = encode_png(Image.fromarray(pixels, mode="L"), dpi)
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.mode == "L" and np.array_equal(np.asarray(decoded), pixels)
        ours = decoded.info["dpi"]
    pillows = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(pillows, "PNG", dpi=(dpi, dpi))
    with Image.open(pillows) as theirs:
        assert ours == theirs.info["dpi"]
    # every chunk: length, type, data, CRC-32 of type and data (PNG 5.3), in the order IHDR pHYs IDAT IEND
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack_from(">I", png, offset)
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        assert struct.unpack_from(">I", png, offset + 8 + length)[0] == zlib.crc32(kind + data)
        kinds.append(kind)
        offset += 12 + length
    assert kinds == [b"IHDR", b"pHYs", b"IDAT", b"IEND"] and offset == len(png)


def test_png_encoder_writes_grayscale_and_rgb_only() -> None:
    with pytest.raises(ValueError, match="mode L or RGB"):
        encode_png(Image.new("RGBA", (2, 2)), 72)


def ramp_image(size: int) -> GrayscaleImage:
    pixels = np.add.outer(np.arange(size), np.arange(size)).astype(np.uint16) * 4095 // (2 * size - 2)
    return GrayscaleImage(size, size, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), pixels)


def request_of(*films: FilmSnapshot, copies: int = 1) -> PrintRequest:
    return PrintRequest(films, copies, PrintPriority.MED, "", "CT_AE", "PRINTSCP", datetime.now().astimezone(), None)


def test_a_job_computes_each_boxs_display_values_once(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[tuple[int, ...]] = []

    def counting(pixels: np.ndarray, lut: np.ndarray) -> np.ndarray:
        computed.append(pixels.shape)
        return np.asarray(lut[pixels])

    monkeypatch.setattr(plan, "render_image", counting)
    films = (snapshot(boxes=(image(32, 32, 100), image(16, 16, 4000))), snapshot(boxes=(image(8, 8), None)))
    job = render_job(request_of(*films, copies=2), PROFILE, DocumentInfo("LABEL", "CT_AE", "printer"))
    # PNG, the film's PDF and the job's print.pdf (4 sheets) all from one computation per image box
    assert sorted(computed) == [(8, 8), (16, 16), (32, 32)]
    assert job.print_pdf is not None and len(PdfReader(io.BytesIO(job.print_pdf)).pages) == 4


def test_a_film_is_drawn_one_image_box_at_a_time() -> None:
    """The display values of a film's images are never all in memory: numpy's and Python's allocations
    while rendering 12 images of 1 MiB of display values each stay below 4 of them (Pillow's raster
    is not counted by tracemalloc)."""
    film = snapshot("STANDARD\\3,4", tuple(ramp_image(1024) for _ in range(12)))
    request = request_of(film)
    tracemalloc.start()
    try:
        render_job(request, PROFILE, DocumentInfo("LABEL", "CT_AE", "printer"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def _plut(shape: str | None = None, table: np.ndarray | None = None, bits: int = 12) -> PresentationLUTSnapshot:
    if shape is not None:
        return PresentationLUTSnapshot("1.2.3", PresentationLUTShape(shape), None, None)
    assert table is not None
    return PresentationLUTSnapshot("1.2.3", None, (table.size, 0, bits), table.astype(np.uint16))


MONO2, NORMAL = PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL


def test_lin_od_is_linear_in_density_and_keeps_the_appearance() -> None:
    densities = image_densities(8, MONO2, NORMAL, _plut("LIN OD"), 1.0, 20, 300, LIGHT_BOX)
    assert densities[0] == pytest.approx(3.00) and densities[255] == pytest.approx(0.20)
    assert np.diff(densities) == pytest.approx(np.full(255, -2.80 / 255))
    reversed_ = image_densities(8, MONO2, Polarity.REVERSE, _plut("LIN OD"), 1.0, 20, 300, LIGHT_BOX)
    assert reversed_[0] == pytest.approx(0.20)


def test_identity_lut_table_and_its_bit_depth() -> None:
    identity = image_densities(12, MONO2, NORMAL, _plut("IDENTITY"), 1.0, 20, 300, LIGHT_BOX)
    assert identity == pytest.approx(image_densities(12, MONO2, NORMAL, None, 1.0, 20, 300, LIGHT_BOX))
    # a 10-bit table equal to the identity at 10 bits gives the same densities
    ten_bit = np.round(np.arange(4096) * 1023 / 4095)
    assert image_densities(12, MONO2, NORMAL, _plut(table=ten_bit, bits=10), 1.0, 20, 300, LIGHT_BOX) == pytest.approx(
        identity, abs=0.01
    )
    # an inverting table inverts the print
    inverted = image_densities(12, MONO2, NORMAL, _plut(table=4095 - np.arange(4096)), 1.0, 20, 300, LIGHT_BOX)
    assert inverted == pytest.approx(identity[::-1])
    # a table that holds one value prints one density
    flat = image_densities(8, MONO2, NORMAL, _plut(table=np.full(256, 512), bits=10), 1.0, 20, 300, LIGHT_BOX)
    assert np.ptp(flat) == 0 and flat[0] == pytest.approx(
        float(density_of_p_values(np.array([512.0]), 1023, 0.20, 3.00, LIGHT_BOX)[0])
    )


def test_contrast_curves_apply_only_without_a_presentation_lut() -> None:
    x = np.linspace(0, 1, 101)
    assert contrast_curve(x, 1.0) == pytest.approx(x)
    steep = contrast_curve(x, 2.0)
    assert (steep[0], steep[50], steep[100]) == pytest.approx((0, 0.5, 1))
    assert np.all(np.diff(steep) >= 0)
    assert (steep[51] - steep[49]) / (x[51] - x[49]) == pytest.approx(2.0, rel=0.01)  # slope at mid-grey
    plain = image_densities(12, MONO2, NORMAL, None, 1.0, 20, 300, LIGHT_BOX)
    curved = image_densities(12, MONO2, NORMAL, None, 2.0, 20, 300, LIGHT_BOX)
    assert curved[1024] > plain[1024] and curved[3072] < plain[3072]  # darker darks, lighter lights
    with_plut = image_densities(12, MONO2, NORMAL, _plut("IDENTITY"), 2.0, 20, 300, LIGHT_BOX)
    assert with_plut == pytest.approx(plain)  # the P-LUT takes precedence (PS3.4 H.4.9.1)


def test_pdf_images_decode_to_the_display_values_of_every_pixel() -> None:
    """The image streams are PNG-Up predicted (/Predictor 12); a PDF reader must get back every value."""
    noise = np.random.default_rng(12).integers(0, 4096, (37, 53), dtype=np.uint16)
    noisy = GrayscaleImage(37, 53, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), noise)
    reader = PdfReader(
        io.BytesIO(render_pdf([plan_film(snapshot(boxes=(noisy, None)), PROFILE)], DocumentInfo("", "")))
    )
    (ref,) = reader.pages[0]["/Resources"]["/XObject"].values()  # type: ignore[index]
    xobject = ref.get_object()
    assert xobject["/DecodeParms"][0]["/Predictor"] == 12
    lut = image_lut(12, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, None, 1.0, 20, 300, LIGHT_BOX)
    assert xobject.get_data() == lut[noise].tobytes()


def test_a_second_thread_draws_the_same_films() -> None:
    """threads=2 draws the PNG beside the PDF; the files hold the same pixels and images as with one thread."""
    rng = np.random.default_rng(7)

    def noisy(rows: int, columns: int) -> GrayscaleImage:
        pixels = rng.integers(0, 4096, (rows, columns), dtype=np.uint16)
        return GrayscaleImage(rows, columns, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), pixels)

    films = (snapshot(boxes=(noisy(64, 48), noisy(40, 40))), snapshot(boxes=(None, noisy(33, 17))))
    request = request_of(*films, copies=2)
    info = DocumentInfo("LABEL", "CT_AE", "printer")
    one, two = render_job(request, PROFILE, info, threads=1), render_job(request, PROFILE, info, threads=2)
    assert [film.png for film in two.films] == [film.png for film in one.films]

    def images(pdf: bytes) -> list[bytes]:
        reader = PdfReader(io.BytesIO(pdf))
        return [ref.get_object().get_data() for page in reader.pages for ref in page["/Resources"]["/XObject"].values()]  # type: ignore[index]

    assert [images(film.pdf) for film in two.films] == [images(film.pdf) for film in one.films]
    assert one.print_pdf is not None and two.print_pdf is not None
    assert images(two.print_pdf) == images(one.print_pdf) and len(images(one.print_pdf)) == 6


# --- the film stamp (model/stamp.py): a line of text on the film's bottom edge, never over an image ------------

STAMP = "DOE, JANE  P-1  2026-03-04 09:05  1/2"


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image)


@pytest.mark.parametrize(("border", "text_is_light"), [("BLACK", True), ("WHITE", False)])
def test_the_film_stamp_is_text_on_the_bottom_edge_outside_the_images(border: str, text_is_light: bool) -> None:
    films = (snapshot(boxes=(ramp_image(64), None), border_density=border), snapshot(boxes=(ramp_image(32), None)))
    info = DocumentInfo("LABEL", "CT_AE", "printer")
    plain = render_job(request_of(*films, copies=2), PROFILE, info)
    stamped = render_job(request_of(*films, copies=2), PROFILE, info, stamps=[STAMP, STAMP.replace("1/2", "2/2")])
    # real text in the PDF of each film, and on every sheet of the job's print.pdf (copies carry their film's)
    assert STAMP in PdfReader(io.BytesIO(stamped.films[0].pdf)).pages[0].extract_text()
    assert STAMP not in PdfReader(io.BytesIO(plain.films[0].pdf)).pages[0].extract_text()
    assert stamped.print_pdf is not None
    sheets = [page.extract_text() for page in PdfReader(io.BytesIO(stamped.print_pdf)).pages]
    assert [sheet.count("1/2") + 2 * sheet.count("2/2") for sheet in sheets] == [1, 2, 1, 2]
    # in the PNG: only the band of 4 mm along the bottom edge changed, in the contrast of the border
    before, after = pixels(plain.films[0].png), pixels(stamped.films[0].png)
    band = round(plan.STAMP_BAND_MM / 25.4 * 150)  # 150 dpi: [render] png_dpi
    changed_rows = np.nonzero((before != after).any(axis=1))[0]
    assert changed_rows.size and changed_rows.min() >= before.shape[0] - band
    np.testing.assert_array_equal(before[:-band], after[:-band])  # every image box, untouched
    background = before[-1, 0]
    drawn = after[-band:][after[-band:] != background]
    assert drawn.size > 300 and ((drawn > background) if text_is_light else (drawn < background)).all()
    assert stamped.films[0].images == plain.films[0].images  # the images land where they did


def test_the_film_stamp_takes_the_widest_stretch_free_of_images_and_is_cut_to_it() -> None:
    # landscape 14x17: a square image fills the film's height, leaving 1.5 inch on either side
    film = snapshot("STANDARD\\1,1", (ramp_image(64),), film_orientation=FilmOrientation.LANDSCAPE)
    long = STAMP + "  " + "CT THORAX WITH CONTRAST " * 20
    planned = plan_film(film, PROFILE, 150, long)
    assert planned.stamp is not None
    stamp, image_rect = planned.stamp, planned.images[0].rect
    assert stamp.rect.x + stamp.rect.width <= image_rect.x + 1e-6  # the stretch left of the image
    assert stamp.text.endswith("\u2026") and long.startswith(stamp.text[:-1])
    assert stamp.x + plan.fonts.text_width(stamp.text, stamp.font_size) <= stamp.rect.x + stamp.rect.width
    # the PNG's text stays in its stretch too: the image's pixels are those of the film without stamp
    before, after = pixels(render_png(plan_film(film, PROFILE, 150))), pixels(render_png(planned))
    left = round(image_rect.x * 150 / 72)
    np.testing.assert_array_equal(before[:, left:], after[:, left:])
    assert (before[:, :left] != after[:, :left]).sum() > 300


def test_no_room_for_the_film_stamp_means_no_stamp_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # a CT sheet of 4 x 5 square images on 14x17 portrait: its bottom row reaches the edge all across
    film = snapshot("STANDARD\\4,5", (image(64, 64),) * 20)
    with caplog.at_level("WARNING", logger="printscp.render.plan"):
        planned = plan_film(film, PROFILE, 150, STAMP)
    assert planned.stamp is None and planned.drawn_texts == planned.texts
    assert [r.getMessage() for r in caplog.records] == [
        "film box 1.2.3.4 film stamp: no room along the bottom edge of the film, outside its images; not drawn"
    ]
    assert STAMP not in PdfReader(io.BytesIO(render_pdf([planned], DocumentInfo("", "AE")))).pages[0].extract_text()


@pytest.mark.parametrize(
    "text",
    [
        "CR\rFS\x1cNEL\x85 \u2029 \u2028 tab\tend",  # controls and separators that stop Pillow's text layout
        "\u202eDOE^JANE \u05e9\u05dc\u05d5\u05dd \u0627\u0644\u0633\u0644\u0627\u0645",  # bidi override, RTL
        "日本語 \U0001f600 \ufffd \u0301",  # no glyph, astral, replacement, lone combining mark
        "W" * 100_000,  # far wider than any film
        "\u0301" * 5000,  # zero-width marks, as many as you like
    ],
)
def test_any_film_stamp_text_is_drawn_on_the_film(text: str) -> None:
    planned = plan_film(snapshot("STANDARD\\1,1", (image(8, 8),), film_size_id="8INX10IN"), PROFILE, 150, text)
    assert planned.stamp is not None
    stamp = planned.stamp
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in stamp.text)
    assert len(stamp.text) <= plan.STAMP_MAX_CHARACTERS + 1
    assert 0 < stamp.x and stamp.x + plan.fonts.text_width(stamp.text, stamp.font_size) < planned.width
    assert len(PdfReader(io.BytesIO(render_pdf([planned], DocumentInfo("", "AE")))).pages) == 1
    with Image.open(io.BytesIO(render_png(planned))) as png:
        assert png.size == (8 * 150, 10 * 150)
