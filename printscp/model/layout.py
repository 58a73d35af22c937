"""Film geometry: Image Display Format -> image box cells, and where an image lands in its box.

Coordinates are millimetres on the film as oriented by Film Orientation, from its top-left corner,
y down. Image Box Position 1 is the top-left box (PS3.3 C.13.5.1).

Formats (PS3.3 C.13.3): STANDARD\\C,R has C columns and R rows, numbered row by row; ROW\\R1,R2,...
has rows of R1, R2, ... equal boxes, numbered row by row; COL\\C1,C2,... has columns of C1, C2, ...
equal boxes, numbered column by column (top to bottom, then left to right). These tile the image
area exactly. SLIDE and SUPERSLIDE hold as many slide-sized boxes as fit the film on the printer's
slide pitch; CUSTOM\\i is layout i of the printer profile.

Where an image lands is decided as a physical printer decides it, on its pixel grid: an image box
prints the whole printer pixels that fit in it at the dpi of the film's Requested Resolution ID
(`printable_pixels`; Printer Configuration Retrieval announces the same numbers). An image needs, at
one image pixel per printer pixel, its Columns x Rows with the smaller spacing of its Pixel Aspect
Ratio as one printer pixel. PS3.3 C.13.5.1 (Requested Decimate/Crop Behavior) applies when it needs
more pixels than its box prints: FAIL refuses it (C603); DECIMATE shrinks it to best fit, or to its
Requested Image Size when that fits the box (B60A; B604 when the printer's default made that choice),
which Magnification Type NONE cannot do (C603); CROP prints the centre part that fits the box's
pixels, one image pixel per printer pixel, whatever Requested Image Size says (B609).

An image that fits is printed at its "best fit" (the largest size of its shape that fits its box,
magnified as Magnification Type says), unless Requested Image Size (its printed width in mm) or
Magnification Type NONE (one image pixel per printer pixel) asks for another size. An image asked
by Requested Image Size to be larger than its box is handled by Requested Decimate/Crop Behavior in
the same way (PS3.4 H.4.3.1.2.1.2): DECIMATE shrinks it to best fit (B60A or B604; C603 with
Magnification Type NONE), CROP keeps its size and prints the centre that fits (B609), FAIL refuses
it (C603).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from printscp.errors import PrintError
from printscp.model.enums import FILM_SIZES_MM, FilmOrientation, MagnificationType, RequestedDecimateCropBehavior
from printscp.status import Status

MM_PER_INCH = 25.4
MM_PER_POINT = MM_PER_INCH / 72

Box = tuple[float, float, float, float]  # left, top, width, height


class LayoutError(ValueError):
    """The Image Display Format is malformed or outside what the printer supports."""


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    def scaled(self, factor: float) -> Rect:
        return Rect(self.x * factor, self.y * factor, self.width * factor, self.height * factor)

    def fraction(self, box: Box) -> Rect:
        """The part of this rectangle given by [left, top, width, height] fractions of it."""
        left, top, width, height = box
        return Rect(self.x + left * self.width, self.y + top * self.height, width * self.width, height * self.height)


@dataclass(frozen=True)
class Cell:
    position: int  # Image Box Position, 1-based
    x: Fraction
    y: Fraction
    width: Fraction
    height: Fraction


@dataclass(frozen=True)
class ImageDisplayFormat:
    """A parsed Image Display Format (2010,0010)."""

    kind: str  # STANDARD, ROW, COL, SLIDE, SUPERSLIDE or CUSTOM
    counts: tuple[int, ...]  # STANDARD: (C, R); ROW/COL: boxes per row/column; CUSTOM: (i,)

    @classmethod
    def parse(cls, value: str) -> ImageDisplayFormat:
        value = value.strip()
        if value in ("SLIDE", "SUPERSLIDE"):
            return cls(value, ())
        match = re.fullmatch(r"(STANDARD|ROW|COL|CUSTOM)\\(\d+(?:,\d+)*)", value)
        if not match:
            raise LayoutError(f"'{value}' is not STANDARD\\C,R, ROW\\..., COL\\..., SLIDE, SUPERSLIDE or CUSTOM\\i")
        kind = match.group(1)
        counts = tuple(int(n) for n in match.group(2).split(","))
        if kind == "STANDARD" and len(counts) != 2:
            raise LayoutError(f"'{value}': STANDARD takes exactly two numbers, columns and rows")
        if kind == "CUSTOM" and len(counts) != 1:
            raise LayoutError(f"'{value}': CUSTOM takes one layout number")
        if kind != "CUSTOM" and any(n < 1 for n in counts):
            raise LayoutError(f"'{value}': every count must be at least 1")
        return cls(kind, counts)

    def __str__(self) -> str:
        if not self.counts:
            return self.kind
        return f"{self.kind}\\{','.join(str(n) for n in self.counts)}"

    @property
    def columns_and_rows(self) -> tuple[int, int]:
        """The largest number of boxes across and down (STANDARD, ROW and COL)."""
        if self.kind == "STANDARD":
            return self.counts[0], self.counts[1]
        if self.kind == "ROW":
            return max(self.counts), len(self.counts)
        if self.kind == "COL":
            return len(self.counts), max(self.counts)
        raise ValueError(f"{self.kind} has no fixed grid")

    @property
    def number_of_image_boxes(self) -> int:
        if self.kind == "STANDARD":
            return self.counts[0] * self.counts[1]
        return sum(self.counts)

    def cells(self) -> list[Cell]:
        """Every image box of STANDARD, ROW or COL in Image Box Position order, as fractions of the area."""
        cells: list[Cell] = []
        if self.kind == "STANDARD":
            columns, rows = self.counts
            for row in range(rows):
                for column in range(columns):
                    cells.append(_cell(len(cells) + 1, column, columns, row, rows))
        elif self.kind == "ROW":
            rows = len(self.counts)
            for row, columns in enumerate(self.counts):
                for column in range(columns):
                    cells.append(_cell(len(cells) + 1, column, columns, row, rows))
        elif self.kind == "COL":
            columns = len(self.counts)
            for column, rows in enumerate(self.counts):
                for row in range(rows):
                    cells.append(_cell(len(cells) + 1, column, columns, row, rows))
        else:
            raise ValueError(f"{self.kind} cells depend on the film and the printer profile")
        return cells


def _cell(position: int, column: int, columns: int, row: int, rows: int) -> Cell:
    return Cell(position, Fraction(column, columns), Fraction(row, rows), Fraction(1, columns), Fraction(1, rows))


@dataclass(frozen=True)
class LayoutTables:
    """The printer profile's layouts for SLIDE, SUPERSLIDE (box width, height, pitch in mm) and CUSTOM\\i."""

    slides: Mapping[str, tuple[float, float, float]]
    custom: Mapping[str, Sequence[Box]]


@dataclass(frozen=True)
class FilmGeometry:
    width: float  # mm, as oriented
    height: float
    image_area: Rect
    cells: tuple[Rect, ...]  # every image box, in Image Box Position order
    annotation_boxes: tuple[Rect, ...]  # Annotation Position order


def film_size_mm(film_size_id: str, orientation: FilmOrientation) -> tuple[float, float]:
    """(width, height) of the film in millimetres as it lies in Film Orientation."""
    width, height = FILM_SIZES_MM[film_size_id]
    if orientation is FilmOrientation.LANDSCAPE:
        return max(width, height), min(width, height)
    return min(width, height), max(width, height)


def film_geometry(
    film_size_id: str,
    orientation: FilmOrientation,
    fmt: ImageDisplayFormat,
    tables: LayoutTables,
    image_area: Box = (0.0, 0.0, 1.0, 1.0),
    annotation_boxes: Sequence[Box] = (),
) -> FilmGeometry:
    """Where every image box and annotation box of a film box lies; LayoutError if the layout is unknown."""
    width, height = film_size_mm(film_size_id, orientation)
    film = Rect(0.0, 0.0, width, height)
    area = film.fraction(image_area)
    if fmt.kind in ("SLIDE", "SUPERSLIDE"):
        if fmt.kind not in tables.slides:
            raise LayoutError(f"{fmt.kind} is not defined for this printer")
        cells = _slide_cells(area, *tables.slides[fmt.kind])
        if not cells:
            raise LayoutError(f"no {fmt.kind} fits a {film_size_id} film")
    elif fmt.kind == "CUSTOM":
        layout = tables.custom.get(str(fmt.counts[0]))
        if layout is None:
            raise LayoutError(f"{fmt} is not a layout of this printer ({', '.join(tables.custom) or 'none'})")
        cells = [area.fraction(box) for box in layout]
    else:
        cells = [area.fraction((float(c.x), float(c.y), float(c.width), float(c.height))) for c in fmt.cells()]
    return FilmGeometry(width, height, area, tuple(cells), tuple(film.fraction(box) for box in annotation_boxes))


def _slide_cells(area: Rect, box_width: float, box_height: float, pitch: float) -> list[Rect]:
    """Slide boxes centred on a square pitch grid, itself centred in the area, numbered row by row."""
    columns, rows = math.floor(area.width / pitch + 1e-9), math.floor(area.height / pitch + 1e-9)
    left = area.x + (area.width - columns * pitch) / 2
    top = area.y + (area.height - rows * pitch) / 2
    return [
        Rect(
            left + c * pitch + (pitch - box_width) / 2,
            top + r * pitch + (pitch - box_height) / 2,
            box_width,
            box_height,
        )
        for r in range(rows)
        for c in range(columns)
    ]


# --- where an image lands in its box -------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """The printed part of an image: where it lands and which source pixels it shows."""

    rect: Rect  # mm on the film
    crop: tuple[int, int, int, int]  # top row, left column, rows, columns of the source that are printed
    status: Status | None  # B604, B609 or B60A when the image had to be made to fit


_EPSILON = 1e-6  # mm, and printer pixels


def printable_pixels(box: Rect, dpi: int) -> tuple[int, int]:
    """(columns, rows): the whole printer pixels of a box at `dpi`, the most an image can print unmagnified."""
    return _whole(box.width / MM_PER_INCH * dpi), _whole(box.height / MM_PER_INCH * dpi)


def _whole(pixels: float) -> int:
    return math.floor(pixels + _EPSILON)


def place_image(
    box: Rect,
    rows: int,
    columns: int,
    pixel_aspect_ratio: tuple[int, int],
    magnification_type: MagnificationType,
    requested_image_size: float | None,
    behavior: RequestedDecimateCropBehavior | None,
    default_behavior: RequestedDecimateCropBehavior,
    dpi: int,
) -> Placement:
    """Size and position of an image in its box (see the module text); raises PrintError C603.

    `dpi` is the printer's resolution for the film's Requested Resolution ID.
    """
    vertical, horizontal = pixel_aspect_ratio
    shape = (rows * vertical) / (columns * horizontal)  # printed height / width
    full = (0, 0, rows, columns)
    pitch = MM_PER_INCH / dpi  # mm per printer pixel
    # printer pixels (across, down) the image needs unmagnified: the smaller spacing is one printer pixel
    unit = min(vertical, horizontal)
    needed = (columns * horizontal / unit, rows * vertical / unit)
    printable = printable_pixels(box, dpi)
    chosen = behavior or default_behavior
    if needed[0] > printable[0] + _EPSILON or needed[1] > printable[1] + _EPSILON:
        # PS3.3 C.13.5.1: more image pixels than the box's printable pixels
        needs = f"{math.ceil(needed[0] - _EPSILON)} x {math.ceil(needed[1] - _EPSILON)}"
        why = f"image {needs} pixels, larger than its box's {printable[0]} x {printable[1]}"  # the Error Comment
        if chosen is RequestedDecimateCropBehavior.FAIL:
            raise PrintError(why, status=Status.IMAGE_LARGER_THAN_BOX)
        if chosen is RequestedDecimateCropBehavior.DECIMATE:
            if magnification_type is MagnificationType.NONE:
                raise PrintError(f"{why}; Magnification Type NONE cannot decimate", status=Status.IMAGE_LARGER_THAN_BOX)
            width = requested_image_size
            if width is None or width > box.width + _EPSILON or width * shape > box.height + _EPSILON:
                width, _ = _best_fit(box, shape)
            status = Status.IMAGE_DECIMATED if behavior is not None else Status.IMAGE_DEMAGNIFIED
            return Placement(_centred(box, width, width * shape), full, status)
        # CROP: the centre part that fits the box's pixels, one image pixel per printer pixel
        shown_columns = max(1, min(columns, _whole(printable[0] * unit / horizontal)))
        shown_rows = max(1, min(rows, _whole(printable[1] * unit / vertical)))
        crop = ((rows - shown_rows) // 2, (columns - shown_columns) // 2, shown_rows, shown_columns)
        size = (shown_columns * horizontal / unit * pitch, shown_rows * vertical / unit * pitch)
        return Placement(_centred(box, *size), crop, Status.IMAGE_CROPPED)

    if requested_image_size is not None:
        width = requested_image_size
    elif magnification_type is MagnificationType.NONE:
        return Placement(_centred(box, needed[0] * pitch, needed[1] * pitch), full, None)
    else:
        return Placement(_centred(box, *_best_fit(box, shape)), full, None)
    height = width * shape
    if width <= box.width + _EPSILON and height <= box.height + _EPSILON:
        return Placement(_centred(box, width, height), full, None)

    # Requested Image Size larger than the box
    why = f"the image needs {width:.1f} x {height:.1f} mm; its box is {box.width:.1f} x {box.height:.1f} mm"
    if chosen is RequestedDecimateCropBehavior.FAIL:
        raise PrintError(f"image larger than its box: {why}", status=Status.IMAGE_LARGER_THAN_BOX)
    if chosen is RequestedDecimateCropBehavior.DECIMATE:
        if magnification_type is MagnificationType.NONE:
            raise PrintError(
                f"image larger than its box and Magnification Type NONE cannot decimate: {why}",
                status=Status.IMAGE_LARGER_THAN_BOX,
            )
        status = Status.IMAGE_DECIMATED if behavior is not None else Status.IMAGE_DEMAGNIFIED
        return Placement(_centred(box, *_best_fit(box, shape)), full, status)
    # CROP: keep the size, print the centre part that fits the box
    shown_width, shown_height = min(width, box.width), min(height, box.height)
    shown_columns = max(1, min(columns, round(columns * shown_width / width)))
    shown_rows = max(1, min(rows, round(rows * shown_height / height)))
    crop = ((rows - shown_rows) // 2, (columns - shown_columns) // 2, shown_rows, shown_columns)
    return Placement(_centred(box, shown_width, shown_height), crop, Status.IMAGE_CROPPED)


def _best_fit(box: Rect, shape: float) -> tuple[float, float]:
    width = min(box.width, box.height / shape)
    return width, width * shape


def _centred(box: Rect, width: float, height: float) -> Rect:
    return Rect(box.x + (box.width - width) / 2, box.y + (box.height - height) / 2, width, height)


def mm_to_points(mm: float) -> float:
    return mm / MM_PER_POINT
