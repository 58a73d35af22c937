from collections.abc import Callable
from fractions import Fraction as F

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
from printscp.model.layout import LayoutTables, Placement, Rect, film_geometry, place_image  # noqa: E402
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
