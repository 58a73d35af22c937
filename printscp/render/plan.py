"""A film laid out for drawing: page size, grey levels and where each image lands.

`plan_film` does every decision once (geometry, density -> display value, image fitting); the PDF
and PNG writers only draw a FilmPlan. Coordinates are points (1/72 in) from the top-left corner of
the film as oriented, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

from printscp.config import PrinterProfile
from printscp.model.enums import REFLECTIVE_MEDIUM_TYPES
from printscp.model.layout import film_size_mm, mm_to_points
from printscp.model.session import FilmSnapshot, GrayscaleImage
from printscp.render.pixels import Uint8Array, Viewing, density_of_term, display_values, image_lut, render_image


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class PlacedImage:
    image_box_position: int
    rect: Rect  # where the image lands on the film
    pixels: Uint8Array  # display values, rows x columns as received


@dataclass(frozen=True)
class FilmPlan:
    width: float  # points
    height: float
    dpi: int  # raster resolution chosen by Requested Resolution ID
    background: int  # display value of Border Density
    cells: tuple[Rect, ...]  # every image box, in Image Box Position order
    empty_cells: tuple[tuple[Rect, int], ...]  # image boxes without an image, and their Empty Image Density
    images: tuple[PlacedImage, ...]


def viewing_for(snapshot: FilmSnapshot, profile: PrinterProfile) -> Viewing:
    """Illumination and ambient light: the SCU's values override the profile's (PS3.4 H.4.9.2.1.3)."""
    illumination = snapshot.illumination or profile.illumination_for(snapshot.medium_type)
    ambient = snapshot.reflected_ambient_light
    return Viewing(
        illumination=float(illumination),
        reflected_ambient_light=float(profile.defaults.reflected_ambient_light if ambient is None else ambient),
        reflective=snapshot.medium_type in REFLECTIVE_MEDIUM_TYPES,
        printer_min_density=profile.min_density / 100,
        printer_max_density=profile.max_density / 100,
    )


def fit_image(cell: Rect, image: GrayscaleImage) -> Rect:
    """The largest rectangle of the image's shape centred in its cell.

    Pixel Aspect Ratio is vertical\\horizontal pixel size (PS3.3 C.7.6.3.1.7), so the printed shape
    is Columns x horizontal by Rows x vertical.
    """
    vertical, horizontal = image.pixel_aspect_ratio
    width, height = image.columns * horizontal, image.rows * vertical
    scale = min(cell.width / width, cell.height / height)
    w, h = width * scale, height * scale
    return Rect(cell.x + (cell.width - w) / 2, cell.y + (cell.height - h) / 2, w, h)


def plan_film(snapshot: FilmSnapshot, profile: PrinterProfile) -> FilmPlan:
    width_mm, height_mm = film_size_mm(snapshot.film_size_id, snapshot.film_orientation)
    width, height = mm_to_points(width_mm), mm_to_points(height_mm)
    viewing = viewing_for(snapshot, profile)
    area = Rect(0.0, 0.0, width, height)
    annotation = profile.annotation_display_formats.get(snapshot.annotation_display_format_id)
    if annotation is not None:
        left, top, w, h = annotation.image_area
        area = Rect(left * width, top * height, w * width, h * height)
    cells = tuple(
        Rect(area.x + float(c.x) * area.width, area.y + float(c.y) * area.height,
             float(c.width) * area.width, float(c.height) * area.height)
        for c in snapshot.image_display_format.cells()
    )

    def grey(term: str, min_density: int, max_density: int) -> int:
        return int(display_values(density_of_term(term, min_density, max_density), viewing))

    background = grey(snapshot.border_density, snapshot.min_density, snapshot.max_density)
    empty: list[tuple[Rect, int]] = []
    images: list[PlacedImage] = []
    luts: dict[tuple[object, ...], Uint8Array] = {}
    for cell, box in zip(cells, snapshot.image_boxes, strict=True):
        if box.image is None:
            empty.append((cell, grey(snapshot.empty_image_density, box.min_density, box.max_density)))
            continue
        contrast = profile.contrast_curves.get(box.configuration_information, 1.0)
        key = (box.image.bits_stored, box.image.photometric_interpretation, box.polarity,
               id(box.presentation_lut), contrast, box.min_density, box.max_density)
        if key not in luts:
            luts[key] = image_lut(box.image.bits_stored, box.image.photometric_interpretation, box.polarity,
                                  box.presentation_lut, contrast, box.min_density, box.max_density, viewing)
        images.append(PlacedImage(box.image_box_position, fit_image(cell, box.image),
                                  render_image(box.image.pixels, luts[key])))
    dpi = profile.resolutions.get(snapshot.requested_resolution_id.value, profile.resolutions["STANDARD"])
    return FilmPlan(width, height, dpi, background, cells, tuple(empty), tuple(images))


