from collections.abc import Callable
from fractions import Fraction as F
from typing import Any

import pytest

from printscp.model.enums import FilmOrientation
from printscp.model.layout import ImageDisplayFormat, LayoutError, film_size_mm, mm_to_points

# (format, number of boxes, position -> (x, y, width, height) for a few positions), PS3.3 C.13.3 / C.13.5.1
LAYOUTS = [
    ("STANDARD\\1,1", 1, {1: (0, 0, 1, 1)}),
    ("STANDARD\\2,1", 2, {1: (0, 0, F(1, 2), 1), 2: (F(1, 2), 0, F(1, 2), 1)}),
    (
        "STANDARD\\3,4",
        12,
        {
            1: (0, 0, F(1, 3), F(1, 4)),
            3: (F(2, 3), 0, F(1, 3), F(1, 4)),
            4: (0, F(1, 4), F(1, 3), F(1, 4)),
            12: (F(2, 3), F(3, 4), F(1, 3), F(1, 4)),
        },
    ),
    ("STANDARD\\4,5", 20, {5: (0, F(1, 5), F(1, 4), F(1, 5)), 20: (F(3, 4), F(4, 5), F(1, 4), F(1, 5))}),
    # ROW\2,3: row 1 holds positions 1-2, row 2 holds 3-5
    (
        "ROW\\2,3",
        5,
        {
            1: (0, 0, F(1, 2), F(1, 2)),
            2: (F(1, 2), 0, F(1, 2), F(1, 2)),
            3: (0, F(1, 2), F(1, 3), F(1, 2)),
            5: (F(2, 3), F(1, 2), F(1, 3), F(1, 2)),
        },
    ),
    # COL\1,4: position 1 is column 1; positions 2-5 run down column 2 (column-major numbering)
    (
        "COL\\1,4",
        5,
        {1: (0, 0, F(1, 2), 1), 2: (F(1, 2), 0, F(1, 2), F(1, 4)), 5: (F(1, 2), F(3, 4), F(1, 2), F(1, 4))},
    ),
    ("COL\\1,3", 4, {1: (0, 0, F(1, 2), 1), 4: (F(1, 2), F(2, 3), F(1, 2), F(1, 3))}),
    ("COL\\2,2", 4, {2: (0, F(1, 2), F(1, 2), F(1, 2)), 3: (F(1, 2), 0, F(1, 2), F(1, 2))}),
]


@pytest.mark.parametrize(("text", "count", "expected"), LAYOUTS, ids=[row[0] for row in LAYOUTS])
def test_cells(text: str, count: int, expected: dict[int, tuple[F, F, F, F]]) -> None:
    fmt = ImageDisplayFormat.parse(text)
    cells = fmt.cells()
    assert fmt.number_of_image_boxes == count == len(cells)
    assert [c.position for c in cells] == list(range(1, count + 1))
    for position, rect in expected.items():
        cell = cells[position - 1]
        assert (cell.x, cell.y, cell.width, cell.height) == rect
    # the cells tile the film exactly: no overlap, no gap
    assert sum(c.width * c.height for c in cells) == 1
    assert str(fmt) == text


@pytest.mark.parametrize(
    "text",
    [
        "STANDARD\\0,1",
        "STANDARD\\1",
        "STANDARD\\1,2,3",
        "ROW\\",
        "ROW\\2,,3",
        "COL\\a",
        "SLIDE\\1",
        "STANDARD/1,1",
        "standard\\1,1",
        "",
        "STANDARD\\-1,2",
    ],
)
def test_malformed_formats(text: str) -> None:
    with pytest.raises(LayoutError):
        ImageDisplayFormat.parse(text)


def test_columns_and_rows() -> None:
    assert ImageDisplayFormat.parse("STANDARD\\4,5").columns_and_rows == (4, 5)
    assert ImageDisplayFormat.parse("ROW\\2,3,1").columns_and_rows == (3, 3)
    assert ImageDisplayFormat.parse("COL\\1,4").columns_and_rows == (2, 4)


@pytest.mark.parametrize(
    ("film_size", "portrait_pt"),
    [
        ("14INX17IN", (1008, 1224)),
        ("8INX10IN", (576, 720)),
        ("11INX14IN", (792, 1008)),
        ("14INX14IN", (1008, 1008)),
        ("A4", (595.276, 841.89)),
        ("24CMX30CM", (680.315, 850.394)),
        ("10INX14IN", (728.504, 1031.811)),  # PS3.3: 10INX14IN corresponds with 25.7CMX36.4CM
    ],
)
def test_film_sizes_in_points(film_size: str, portrait_pt: tuple[float, float]) -> None:
    width, height = film_size_mm(film_size, FilmOrientation.PORTRAIT)
    assert (mm_to_points(width), mm_to_points(height)) == pytest.approx(portrait_pt, abs=0.001)
    landscape = film_size_mm(film_size, FilmOrientation.LANDSCAPE)
    assert landscape == (height, width)


# --- film geometry and image placement -----------------------------------------------------------------

from printscp.errors import PrintError  # noqa: E402
from printscp.model.enums import MagnificationType, RequestedDecimateCropBehavior  # noqa: E402
from printscp.model.layout import (  # noqa: E402
    LayoutTables,
    Placement,
    Rect,
    film_geometry,
    place_image,
    printable_pixels,
)
from printscp.status import Status  # noqa: E402

TABLES = LayoutTables(
    {"SLIDE": (36.0, 24.0, 50.0), "SUPERSLIDE": (40.0, 40.0, 50.0)},
    {"1": ((0.0, 0.0, 1.0, 0.6), (0.0, 0.6, 0.5, 0.4), (0.5, 0.6, 0.5, 0.4))},
)
PORTRAIT, LANDSCAPE = FilmOrientation.PORTRAIT, FilmOrientation.LANDSCAPE


def rect(r: Rect) -> tuple[float, float, float, float]:
    return (r.x, r.y, r.width, r.height)


def test_slides_fill_the_film_on_their_pitch() -> None:
    slides = film_geometry("14INX17IN", PORTRAIT, ImageDisplayFormat.parse("SLIDE"), TABLES)
    assert len(slides.cells) == 7 * 8  # 355.6 / 50 = 7 across, 431.8 / 50 = 8 down
    first = slides.cells[0]
    # the 7 x 8 grid (350 x 400 mm) is centred, each 36 x 24 box centred in its 50 mm pitch
    assert rect(first) == pytest.approx((2.8 + 7, 15.9 + 13, 36, 24))
    assert rect(slides.cells[7]) == pytest.approx((2.8 + 7, 15.9 + 63, 36, 24))  # position 8 starts row 2
    supers = film_geometry("8INX10IN", LANDSCAPE, ImageDisplayFormat.parse("SUPERSLIDE"), TABLES)
    assert len(supers.cells) == 5 * 4 and rect(supers.cells[0])[2:] == (40, 40)
    with pytest.raises(LayoutError, match="no SLIDE fits"):
        film_geometry(
            "14INX17IN", PORTRAIT, ImageDisplayFormat.parse("SLIDE"), LayoutTables({"SLIDE": (36, 24, 500)}, {})
        )


def test_custom_layouts_come_from_the_profile() -> None:
    geometry = film_geometry("14INX17IN", PORTRAIT, ImageDisplayFormat.parse("CUSTOM\\1"), TABLES)
    assert [v for c in geometry.cells for v in rect(c)] == pytest.approx(
        [0, 0, 355.6, 259.08, 0, 259.08, 177.8, 172.72, 177.8, 259.08, 177.8, 172.72]
    )
    with pytest.raises(LayoutError, match="not a layout of this printer"):
        film_geometry("14INX17IN", PORTRAIT, ImageDisplayFormat.parse("CUSTOM\\7"), TABLES)


def test_image_area_and_annotation_boxes_are_fractions_of_the_film() -> None:
    geometry = film_geometry(
        "A4",
        PORTRAIT,
        ImageDisplayFormat.parse("STANDARD\\1,2"),
        TABLES,
        image_area=(0.0, 0.1, 1.0, 0.8),
        annotation_boxes=[(0.0, 0.0, 1.0, 0.1)],
    )
    assert rect(geometry.cells[0]) == pytest.approx((0, 29.7, 210, 118.8))
    assert rect(geometry.annotation_boxes[0]) == pytest.approx((0, 0, 210, 29.7))


BOX = Rect(10, 20, 100, 50)
DECIMATE, CROP, FAIL = (
    RequestedDecimateCropBehavior.DECIMATE,
    RequestedDecimateCropBehavior.CROP,
    RequestedDecimateCropBehavior.FAIL,
)
NONE = MagnificationType.NONE
IMAGE_LARGER = Status.IMAGE_LARGER_THAN_BOX


def place(
    rows: int = 100,
    columns: int = 100,
    aspect: tuple[int, int] = (1, 1),
    magnification: MagnificationType = MagnificationType.BILINEAR,
    size: float | None = None,
    behavior: RequestedDecimateCropBehavior | None = None,
    default: RequestedDecimateCropBehavior = DECIMATE,
    dpi: int = 254,
) -> Placement:
    return place_image(BOX, rows, columns, aspect, magnification, size, behavior, default, dpi)


def test_best_fit_centres_the_image_at_the_largest_size_of_its_shape() -> None:
    placement = place()
    assert rect(placement.rect) == pytest.approx((35, 20, 50, 50)) and placement.status is None
    assert placement.crop == (0, 0, 100, 100)
    # Pixel Aspect Ratio 1\2: pixels twice as wide as tall, so 100 x 100 pixels print 2:1
    assert rect(place(aspect=(1, 2)).rect) == pytest.approx((10, 20, 100, 50))


def test_requested_image_size_sets_the_printed_width() -> None:
    placement = place(rows=50, size=60.0)
    assert rect(placement.rect) == pytest.approx((30, 30, 60, 30)) and placement.status is None


def test_magnification_none_prints_one_pixel_per_printer_pixel() -> None:
    # 254 dpi = 10 pixels per mm: 300 columns print 30 mm wide
    assert rect(place(rows=200, columns=300, magnification=MagnificationType.NONE).rect) == pytest.approx(
        (45, 35, 30, 20)
    )


def test_too_large_images_follow_requested_decimate_crop_behavior() -> None:
    decimated = place(size=150.0, behavior=DECIMATE)
    assert decimated.status is Status.IMAGE_DECIMATED and rect(decimated.rect) == pytest.approx((35, 20, 50, 50))
    assert place(size=150.0).status is Status.IMAGE_DEMAGNIFIED  # the printer's default chose to shrink
    cropped = place(rows=100, columns=200, size=200.0, behavior=CROP)  # 200 x 100 mm into 100 x 50
    assert cropped.status is Status.IMAGE_CROPPED
    assert rect(cropped.rect) == pytest.approx(rect(BOX)) and cropped.crop == (25, 50, 50, 100)
    assert place(size=150.0, default=CROP).status is Status.IMAGE_CROPPED
    calls: tuple[Callable[[], Placement], ...] = (
        lambda: place(size=150.0, behavior=FAIL),
        lambda: place(columns=2000, rows=2000, magnification=MagnificationType.NONE, behavior=DECIMATE),
        lambda: place(size=101.0, default=FAIL),
    )
    for call in calls:
        with pytest.raises(PrintError) as error:
            call()
        assert error.value.status is Status.IMAGE_LARGER_THAN_BOX


# --- the box's printable pixels decide (issue 13 item 3) ----------------------------------------------
#
# BOX is 100 x 50 mm; at 254 dpi (10 printer pixels per mm) it prints 1000 x 500 pixels (columns x rows).
# Each case: place() arguments, then the status, the printed rectangle (mm) and the crop (top, left, rows,
# columns of the source), or C603 and the start of its Error Comment.

Case = tuple[dict[str, Any], Status | None, tuple[float, float, float, float] | str, tuple[int, int, int, int] | None]

PIXEL_CASES: list[Case] = [
    # fits the printable pixels: magnified up to the box as Magnification Type says, no status
    ({"rows": 400, "columns": 400}, None, (35, 20, 50, 50), (0, 0, 400, 400)),
    ({"rows": 500, "columns": 1000}, None, (10, 20, 100, 50), (0, 0, 500, 1000)),  # exactly the box's pixels
    ({"rows": 500, "columns": 1000, "behavior": FAIL}, None, (10, 20, 100, 50), (0, 0, 500, 1000)),
    ({"rows": 400, "columns": 400, "magnification": NONE}, None, (40, 25, 40, 40), (0, 0, 400, 400)),  # 1:1
    # larger: FAIL refuses it, naming both sizes in pixels
    ({"rows": 600, "columns": 600, "behavior": FAIL}, IMAGE_LARGER, "image 600 x 600 pixels, larger than", None),
    (
        {"rows": 501, "columns": 10, "default": FAIL},
        IMAGE_LARGER,
        "image 10 x 501 pixels, larger than its box's 1000 x 500",
        None,
    ),
    # DECIMATE asked for by the SCU (B60A) or the printer's default (B604): the whole image, shrunk to fit
    ({"rows": 600, "columns": 600, "behavior": DECIMATE}, Status.IMAGE_DECIMATED, (35, 20, 50, 50), (0, 0, 600, 600)),
    ({"rows": 600, "columns": 600}, Status.IMAGE_DEMAGNIFIED, (35, 20, 50, 50), (0, 0, 600, 600)),
    ({"rows": 100, "columns": 2000}, Status.IMAGE_DEMAGNIFIED, (10, 42.5, 100, 5), (0, 0, 100, 2000)),
    # ... at its Requested Image Size when that fits the box
    (
        {"rows": 600, "columns": 600, "size": 40.0, "behavior": DECIMATE},
        Status.IMAGE_DECIMATED,
        (40, 25, 40, 40),
        (0, 0, 600, 600),
    ),
    # ... which Magnification Type NONE cannot do
    ({"rows": 600, "columns": 600, "magnification": NONE, "behavior": DECIMATE}, IMAGE_LARGER, "image 600 x 600", None),
    ({"rows": 600, "columns": 600, "magnification": NONE}, IMAGE_LARGER, "image 600 x 600", None),
    # CROP: the centre part that fits the box's pixels, one image pixel per printer pixel
    ({"rows": 600, "columns": 1200, "behavior": CROP}, Status.IMAGE_CROPPED, (10, 20, 100, 50), (50, 100, 500, 1000)),
    ({"rows": 800, "columns": 300, "behavior": CROP}, Status.IMAGE_CROPPED, (45, 20, 30, 50), (150, 0, 500, 300)),
    ({"rows": 601, "columns": 300, "default": CROP}, Status.IMAGE_CROPPED, (45, 20, 30, 50), (50, 0, 500, 300)),
    (
        {"rows": 600, "columns": 1200, "magnification": NONE, "behavior": CROP},
        Status.IMAGE_CROPPED,
        (10, 20, 100, 50),
        (50, 100, 500, 1000),
    ),
    # Pixel Aspect Ratio (row spacing \ column spacing): the smaller spacing is one printer pixel
    ({"rows": 300, "columns": 450, "aspect": (1, 2)}, None, (10, 20 + 50 / 6, 100, 100 / 3), (0, 0, 300, 450)),
    ({"rows": 300, "columns": 600, "aspect": (1, 2), "behavior": FAIL}, IMAGE_LARGER, "image 1200 x 300 pixels", None),
    ({"rows": 300, "columns": 300, "aspect": (2, 1), "behavior": FAIL}, IMAGE_LARGER, "image 300 x 600 pixels", None),
    (
        {"rows": 300, "columns": 600, "aspect": (1, 2), "behavior": CROP},
        Status.IMAGE_CROPPED,
        (10, 30, 100, 30),  # 500 columns twice as wide as tall: 1000 printer pixels across, 300 down
        (0, 50, 300, 500),
    ),
    (
        {"rows": 300, "columns": 300, "aspect": (2, 1), "behavior": DECIMATE},
        Status.IMAGE_DECIMATED,
        (47.5, 20, 25, 50),
        (0, 0, 300, 300),
    ),
]


def case_id(case: Case) -> str:
    arguments, status = case[0], case[1]
    words = [f"{arguments['columns']}x{arguments['rows']}"]
    words += [
        f"{k}={v.value if hasattr(v, 'value') else v}" for k, v in arguments.items() if k not in ("rows", "columns")
    ]
    return "-".join([*words, status.name if status else "fits"])


@pytest.mark.parametrize(("arguments", "status", "expected", "crop"), PIXEL_CASES, ids=map(case_id, PIXEL_CASES))
def test_the_box_printable_pixels_decide_fit_decimate_crop_or_fail(
    arguments: dict[str, Any],
    status: Status | None,
    expected: tuple[float, float, float, float] | str,
    crop: tuple[int, int, int, int] | None,
) -> None:
    if status is IMAGE_LARGER:
        with pytest.raises(PrintError) as error:
            place(**arguments)
        assert error.value.status is IMAGE_LARGER and error.value.message.startswith(str(expected))
        assert len(f"image 65535 x 65535 pixels, larger than its box's {14 * 1200} x {17 * 1200}") <= 64  # LO
        return
    placement = place(**arguments)
    assert placement.status is status
    assert rect(placement.rect) == pytest.approx(expected)
    assert placement.crop == crop


def test_printable_pixels_are_the_whole_printer_pixels_of_a_box() -> None:
    assert printable_pixels(BOX, 254) == (1000, 500)
    assert printable_pixels(Rect(0, 0, 0.25, 0.25), 254) == (2, 2)  # 2.5 pixels: the half does not print
    standard_4_5 = film_geometry("14INX17IN", PORTRAIT, ImageDisplayFormat.parse("STANDARD\\4,5"), TABLES).cells[0]
    assert printable_pixels(standard_4_5, 300) == (1050, 1020)  # 88.9 x 86.36 mm
    assert printable_pixels(standard_4_5, 150) == (525, 510)  # a 512-row CT slice would be demagnified
    small = film_geometry("8INX10IN", PORTRAIT, ImageDisplayFormat.parse("STANDARD\\4,5"), TABLES).cells[19]
    assert printable_pixels(small, 300) == (600, 600)  # 50.8 mm = 2 in, not 599 by rounding error
    assert printable_pixels(small, 600) == (1200, 1200)
