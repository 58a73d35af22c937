"""Rendering measured from its outputs: grey levels against the density maths, geometry, PDF and PNG."""

from __future__ import annotations

import dataclasses
import io
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
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat
from printscp.model.session import FilmSnapshot, GrayscaleImage, ImageBoxSnapshot
from printscp.render import gsdf
from printscp.render.film import render_film
from printscp.render.pdf import DocumentInfo, render_pdf
from printscp.render.pixels import Viewing, density_of_term, display_values, image_lut
from printscp.render.plan import Rect, fit_image, plan_film

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


@pytest.mark.parametrize(("photometric", "polarity", "lightest_at_top"), [
    (PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, True),
    (PhotometricInterpretation.MONOCHROME2, Polarity.REVERSE, False),
    (PhotometricInterpretation.MONOCHROME1, Polarity.NORMAL, False),
    (PhotometricInterpretation.MONOCHROME1, Polarity.REVERSE, True),
])
def test_polarity_and_photometric_interpretation(photometric: PhotometricInterpretation, polarity: Polarity,
                                                 lightest_at_top: bool) -> None:
    lut = image_lut(12, photometric, polarity, 20, 300, LIGHT_BOX).astype(int)
    assert lut.shape == (4096,)
    light, dark = int(display_values(0.20, LIGHT_BOX)), int(display_values(3.00, LIGHT_BOX))
    assert (lut[-1], lut[0]) == ((light, dark) if lightest_at_top else (dark, light))
    assert np.all(np.diff(lut) >= 0) if lightest_at_top else np.all(np.diff(lut) <= 0)


def test_p_values_map_linearly_to_density_between_min_and_max() -> None:
    lut = image_lut(8, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, 20, 300, LIGHT_BOX)
    for p in (0, 64, 128, 192, 255):
        density = 3.00 - (3.00 - 0.20) * p / 255
        assert int(lut[p]) == int(display_values(density, LIGHT_BOX))


def test_border_density_terms() -> None:
    assert density_of_term("BLACK", 20, 300) == 3.00
    assert density_of_term("WHITE", 20, 300) == 0.20
    assert density_of_term("150", 20, 300) == 1.50


def image(rows: int, columns: int, value: int = 2048, aspect: tuple[int, int] = (1, 1)) -> GrayscaleImage:
    return GrayscaleImage(rows, columns, 12, PhotometricInterpretation.MONOCHROME2, aspect,
                          np.full((rows, columns), value, dtype=np.uint16))


def test_fit_keeps_the_printed_shape_including_pixel_aspect_ratio() -> None:
    cell = Rect(100, 200, 300, 300)
    assert fit_image(cell, image(100, 200)) == Rect(100, 275, 300, 150)
    # Pixel Aspect Ratio 2\1: each pixel twice as tall as wide, so 100 x 200 pixels print square
    assert fit_image(cell, image(100, 200, aspect=(2, 1))) == Rect(100, 200, 300, 300)


def snapshot(fmt: str = "STANDARD\\2,1", boxes: tuple[GrayscaleImage | None, ...] = (None, None),
             **changes: object) -> FilmSnapshot:
    film = FilmSnapshot(
        film_session_uid="1.2.3", film_box_uid="1.2.3.4", medium_type="CLEAR FILM", film_destination="MAGAZINE",
        film_session_label="", owner_id="", specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse(fmt), film_orientation=FilmOrientation.PORTRAIT,
        film_size_id="14INX17IN", magnification_type=MagnificationType.BILINEAR, smoothing_type="MEDIUM",
        max_density=300, min_density=20, configuration_information="CS500", border_density="BLACK",
        empty_image_density="WHITE", trim=Trim.NO, illumination=None, reflected_ambient_light=None,
        requested_resolution_id=RequestedResolutionID.STANDARD, annotation_display_format_id="",
        image_boxes=tuple(ImageBoxSnapshot(i + 1, img, Polarity.NORMAL, MagnificationType.BILINEAR, "MEDIUM", 20,
                                           300, "CS500", None, None, None) for i, img in enumerate(boxes)),
        annotations=())
    return dataclasses.replace(film, **changes)  # type: ignore[arg-type]


def test_plan_geometry_and_grey_levels() -> None:
    plan = plan_film(snapshot(boxes=(image(64, 64), None)), PROFILE)
    assert (plan.width, plan.height) == pytest.approx((1008, 1224))
    assert [dataclasses.astuple(c) for c in plan.cells] == [pytest.approx((0, 0, 504, 1224)),
                                                            pytest.approx((504, 0, 504, 1224))]
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


def test_pdf_page_size_images_and_embedding() -> None:
    same = image(32, 32, 100)
    plans = [plan_film(snapshot(boxes=(same, same)), PROFILE),
             plan_film(snapshot(boxes=(same, image(16, 16, 4000)), film_size_id="A4"), PROFILE)]
    reader = PdfReader(io.BytesIO(render_pdf(plans, DocumentInfo("LABEL", "CT_AE", "printer"))))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    assert sizes[0] == pytest.approx((1008, 1224), abs=0.01) and sizes[1] == pytest.approx((595.276, 841.89), abs=0.01)
    assert reader.metadata is not None and (reader.metadata.title, reader.metadata.subject) == ("LABEL", "CT_AE")
    xobjects = {}
    for page in reader.pages:
        for _name, ref in page["/Resources"]["/XObject"].items():
            xobjects[ref.idnum] = ref.get_object()
    assert len(xobjects) == 2  # the identical image is embedded once for all its uses
    for xobject in xobjects.values():
        assert xobject["/Filter"] == ["/FlateDecode"] and xobject["/ColorSpace"] == "/DeviceGray"
    decoded = {(int(x["/Width"]), x.get_data()[:1]) for x in xobjects.values()}
    lut = image_lut(12, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, 20, 300, LIGHT_BOX)
    assert decoded == {(32, bytes([lut[100]])), (16, bytes([lut[4000]]))}  # lossless display values


def test_png_resolution_and_raster() -> None:
    film = snapshot(boxes=(image(64, 64, 4095), None), requested_resolution_id=RequestedResolutionID.HIGH)
    rendered = render_film(film, PROFILE, DocumentInfo("", ""))
    with Image.open(io.BytesIO(rendered.png)) as png:
        assert png.mode == "L" and png.size == (14 * 300, 17 * 300)
        assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)  # pHYs stores dots per metre
        raster = np.asarray(png)
    lut = image_lut(12, PhotometricInterpretation.MONOCHROME2, Polarity.NORMAL, 20, 300, LIGHT_BOX)
    assert raster[17 * 150, 14 * 75] == lut[4095]  # centre of the image in the left cell
    assert raster[10, 10] == rendered.plan.background
    assert raster[17 * 150, 14 * 225] == int(display_values(0.20, LIGHT_BOX))  # empty right cell
