"""A film laid out for drawing: page size, grey levels, where each image and text lands.

`plan_film` makes every decision once (geometry from `layout_film`, density -> display value, the
printed part of each image, text colour); the PDF and PNG writers only draw a FilmPlan. Coordinates
are points (1/72 in) from the top-left corner of the film as oriented, y down.

A plan holds decisions, not pixels: for each image, its source pixels (read-only, memory-mapped from
the spool in a render worker), the part of them that is printed and the lookup table from stored value
to display value (pixels.py). `PlacedImage.printed_pixels` computes the display values when a writer
draws that image, and the writer drops them once drawn, so a film's images are never all in memory
at once (render/film.py draws the PDF's and the PNG's image of a box from one computation).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

import numpy as np

from printscp.config import DEFAULT_PNG_DPI
from printscp.model.enums import REFLECTIVE_MEDIUM_TYPES, MagnificationType, Polarity
from printscp.model.layout import MM_PER_POINT, Rect
from printscp.model.mapped_pixels import release_pages
from printscp.model.profile import PrinterProfile
from printscp.model.record import ColorImage, FilmSnapshot, Pixels, layout_film
from printscp.render import fonts
from printscp.render.pixels import Uint8Array, Viewing, density_of_term, display_values, image_lut, render_image

log = logging.getLogger(__name__)

TRIM_LINE_MM = 0.35  # width of the trim box line drawn around each image (Trim YES)
# The film stamp (model/stamp.py): a band this high along the film's bottom edge, its text this size at most
STAMP_BAND_MM = 4.0
STAMP_FONT_PT = 7.0
STAMP_MIN_WIDTH_MM = 20.0  # a free stretch of the band narrower than this takes no stamp
STAMP_MAX_CHARACTERS = 1000  # more never fits a film's width at that size; not measured
ELLIPSIS = "\u2026"  # ends a stamp cut short
_IDENTITY: Uint8Array = np.arange(256, dtype=np.uint8)  # the lookup table of a colour image's samples
_REVERSED: Uint8Array = np.arange(255, -1, -1, dtype=np.uint8)


@dataclass(frozen=True, eq=False)  # eq=False: compared and hashed as the one image box it places
class PlacedImage:
    image_box_position: int
    rect: Rect  # where the printed part of the image lands
    source: Pixels  # the image box's stored pixels, as the film record holds them
    crop: tuple[int, int, int, int]  # the printed part of `source`: top, left, rows, columns
    lut: Uint8Array  # stored pixel value -> display value (of each sample of a colour image)
    magnification_type: MagnificationType
    smoothing_type: str

    @property
    def color(self) -> bool:
        """Whether its display values are RGB, rows x columns x 3 (a Basic Color Image Box)."""
        return self.source.ndim == 3

    @property
    def rows(self) -> int:
        return self.crop[2]

    @property
    def columns(self) -> int:
        return self.crop[3]

    def printed_pixels(self) -> Uint8Array:
        """The display values of the printed part, rows x columns (x 3, RGB, for a colour image), computed on
        each call (not kept).

        The source's pages are given back once read (model/mapped_pixels.py): each image is read once
        per film, when its box is drawn.
        """
        top, left, rows, columns = self.crop
        pixels = render_image(self.source[top : top + rows, left : left + columns], self.lut)
        release_pages(self.source)
        return pixels


@dataclass(frozen=True)
class TextBox:
    annotation_position: int  # 0: the film stamp
    rect: Rect  # the annotation box
    text: str
    value: int  # display value of the text
    font_size: float  # points: 70% of the box height, smaller if the text would not fit its width
    x: float  # start of the text
    baseline: float  # y of the baseline (down from the top of the film)


@dataclass(frozen=True)
class FilmPlan:
    width: float  # points
    height: float
    dpi: int  # of the PNG raster: the printer's dpi for Requested Resolution ID, at most [render] png_dpi
    background: int  # display value of Border Density
    cells: tuple[Rect, ...]  # every image box, in Image Box Position order
    empty_cells: tuple[tuple[Rect, int], ...]  # image boxes without an image, and their Empty Image Density
    images: tuple[PlacedImage, ...]
    trim_boxes: tuple[Rect, ...]  # the line rectangles of Trim YES (centre of the line)
    trim_line: float  # points
    contrast_value: int  # display value that stands out from the background: trim lines and text
    texts: tuple[TextBox, ...]
    stamp: TextBox | None = None  # the film stamp, when the printer has one and there is room for it
    color: bool = False  # a film of colour images: drawn in RGB (its greys as equal R, G and B)

    @property
    def drawn_texts(self) -> tuple[TextBox, ...]:
        """The annotation texts and the stamp: every text the writers draw."""
        return (*self.texts, self.stamp) if self.stamp is not None else self.texts


def viewing_for(snapshot: FilmSnapshot, profile: PrinterProfile) -> Viewing:
    """Illumination and ambient light: the SCU's values override the profile's (PS3.4 H.4.9.2.1.3)."""
    illumination = snapshot.illumination
    if illumination is None:
        illumination = profile.illumination_for(snapshot.medium_type)
    ambient = snapshot.reflected_ambient_light
    return Viewing(
        illumination=float(illumination),
        reflected_ambient_light=float(profile.defaults.reflected_ambient_light if ambient is None else ambient),
        reflective=snapshot.medium_type in REFLECTIVE_MEDIUM_TYPES,
        printer_min_density=profile.min_density / 100,
        printer_max_density=profile.max_density / 100,
    )


def plan_film(
    snapshot: FilmSnapshot, profile: PrinterProfile, png_dpi: int = DEFAULT_PNG_DPI, stamp: str = ""
) -> FilmPlan:
    """What `snapshot` looks like printed. The images are placed on the printer's pixel grid (layout_film);
    the PNG is drawn at that grid's dpi or at `png_dpi`, whichever is lower (the PDF has no dpi).

    `stamp`: the film stamp's text (model/stamp.py), drawn by `_stamp_box`; "": none."""
    layout = layout_film(snapshot, profile)
    geometry = layout.geometry
    to_points = 1 / MM_PER_POINT
    viewing = viewing_for(snapshot, profile)

    def grey(term: str, min_density: int, max_density: int) -> int:
        return int(display_values(density_of_term(term, min_density, max_density), viewing))

    background = grey(snapshot.border_density, snapshot.min_density, snapshot.max_density)
    cells = tuple(cell.scaled(to_points) for cell in geometry.cells)
    empty: list[tuple[Rect, int]] = []
    images: list[PlacedImage] = []
    luts: dict[tuple[object, ...], Uint8Array] = {}
    for cell, box in zip(cells, snapshot.image_boxes, strict=True):
        if box.image is None:
            empty.append((cell, grey(snapshot.empty_image_density, box.min_density, box.max_density)))
            continue
        image = box.image
        placement = layout.placements[box.image_box_position]
        if isinstance(image, ColorImage):
            # RGB values are printed as sRGB, as sent; REVERSE inverts each sample (PS3.3 C.13.5 Polarity)
            images.append(
                PlacedImage(
                    box.image_box_position,
                    placement.rect.scaled(to_points),
                    image.pixels,
                    placement.crop,
                    _REVERSED if box.polarity is Polarity.REVERSE else _IDENTITY,
                    box.magnification_type,
                    box.smoothing_type,
                )
            )
            continue
        contrast = profile.contrast_curves.get(box.configuration_information, 1.0)
        key = (
            image.bits_stored,
            image.photometric_interpretation,
            box.polarity,
            id(box.presentation_lut),
            contrast,
            box.min_density,
            box.max_density,
        )
        if key not in luts:
            luts[key] = image_lut(
                image.bits_stored,
                image.photometric_interpretation,
                box.polarity,
                box.presentation_lut,
                contrast,
                box.min_density,
                box.max_density,
                viewing,
            )
        images.append(
            PlacedImage(
                box.image_box_position,
                placement.rect.scaled(to_points),
                image.pixels,
                placement.crop,
                luts[key],
                box.magnification_type,
                box.smoothing_type,
            )
        )

    # Trim lines and annotation text take the darkest or lightest the printer makes, whichever stands out.
    contrast_value = 255 if background < 128 else 0
    trim_line = TRIM_LINE_MM * to_points
    trim_boxes: tuple[Rect, ...] = ()
    if snapshot.trim.value == "YES":
        half = trim_line / 2
        trim_boxes = tuple(
            Rect(i.rect.x - half, i.rect.y - half, i.rect.width + trim_line, i.rect.height + trim_line) for i in images
        )
    texts = []
    for annotation in snapshot.annotations:
        if annotation.text_string and 1 <= annotation.annotation_position <= len(geometry.annotation_boxes):
            rect = geometry.annotation_boxes[annotation.annotation_position - 1].scaled(to_points)
            text = drawable(annotation.text_string)
            texts.append(_text_box(annotation.annotation_position, rect, text, contrast_value))
            fonts.report_missing(text, f"film box {snapshot.film_box_uid} annotation {annotation.annotation_position}")
    width, height, dpi = geometry.width * to_points, geometry.height * to_points, min(layout.dpi, png_dpi)
    stamp_box = None
    if stamp:
        drawn = (*(i.rect for i in images), *trim_boxes, *(rect for rect, _ in empty), *(t.rect for t in texts))
        stamp_box = _stamp_box(drawable(stamp), width, height, dpi, drawn, trim_line / 2, contrast_value)
        where = f"film box {snapshot.film_box_uid} film stamp"
        if stamp_box is None:
            log.warning("%s: no room along the bottom edge of the film, outside its images; not drawn", where)
        else:
            fonts.report_missing(stamp_box.text, where)
    return FilmPlan(
        width,
        height,
        dpi,
        background,
        cells,
        tuple(empty),
        tuple(images),
        trim_boxes,
        trim_line,
        contrast_value,
        tuple(texts),
        stamp_box,
        snapshot.color,
    )


def drawable(text: str) -> str:
    """Annotation text as one line the writers can set: control characters (which no value rule lets through
    but C1 ones, read from ISO_IR 100), line and paragraph separators (which stop Pillow's text layout) and
    lone surrogates (which no PDF encoding takes) become spaces. Everything else is drawn, if need be as the
    font's empty box."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") else c for c in text)


def _text_box(position: int, rect: Rect, text: str, value: int) -> TextBox:
    size = rect.height * 0.7
    padding = rect.height * 0.15
    width = fonts.text_width(text, size)
    if width > rect.width - 2 * padding:
        size *= (rect.width - 2 * padding) / width
    return TextBox(position, rect, text, value, size, rect.x + padding, rect.y + rect.height / 2 + size * 0.35)


def _stamp_box(
    text: str, width: float, height: float, dpi: int, drawn: tuple[Rect, ...], outset: float, value: int
) -> TextBox | None:
    """The film stamp in the band of STAMP_BAND_MM along the film's bottom edge, in its widest stretch that
    nothing else drawn (images, trim lines, empty image boxes, annotation text) reaches, so that it never covers
    an image; None when no stretch is STAMP_MIN_WIDTH_MM wide (images down to the edge all across).

    Its size is STAMP_FONT_PT rounded to whole pixels of the PNG, so that the PNG's text (Pillow sets whole
    pixel sizes) is no wider than the PDF's; text wider than its stretch is cut with an ellipsis."""
    to_points = 1 / MM_PER_POINT
    band = STAMP_BAND_MM * to_points
    top = height - band
    blocked = sorted(
        (r.x - outset, r.x + r.width + outset) for r in drawn if r.y - outset < height and r.y + r.height + outset > top
    )
    stretches, left = [], 0.0
    for start, end in blocked:
        stretches.append((left, start))
        left = max(left, end)
    stretches.append((left, width))
    start, end = max(stretches, key=lambda s: round(s[1] - s[0], 3))  # the first (leftmost) of the widest
    rect = Rect(max(start, 0.0), top, min(end, width) - max(start, 0.0), band)
    if rect.width < STAMP_MIN_WIDTH_MM * to_points:
        return None
    pixels_per_point = dpi / 72
    size = max(1, round(STAMP_FONT_PT * pixels_per_point)) / pixels_per_point
    padding = band / 2
    fitted = fit_text(text, size, rect.width - 2 * padding)
    if not fitted:
        return None
    return TextBox(0, rect, fitted, value, size, rect.x + padding, top + band / 2 + size * 0.35)


def fit_text(text: str, size: float, room: float) -> str:
    """`text` as set in the bundled font at `size` points, cut at the end with an ellipsis to `room` points
    wide (and to STAMP_MAX_CHARACTERS); "" if not even the ellipsis fits."""
    if len(text) <= STAMP_MAX_CHARACTERS and fonts.text_width(text, size) <= room:
        return text
    text = text[:STAMP_MAX_CHARACTERS]
    low, high = 0, len(text) + 1  # the longest prefix that fits with the ellipsis: low fits, high does not
    while high - low > 1:
        middle = (low + high) // 2
        if fonts.text_width(text[:middle].rstrip() + ELLIPSIS, size) <= room:
            low = middle
        else:
            high = middle
    cut = text[:low].rstrip() + ELLIPSIS
    return cut if fonts.text_width(cut, size) <= room else ""
