from fractions import Fraction as F

import pytest

from printscp.model.enums import FilmOrientation
from printscp.model.layout import ImageDisplayFormat, LayoutError, film_size_mm, mm_to_points

# (format, number of boxes, position -> (x, y, width, height) for a few positions), PS3.3 C.13.3 / C.13.5.1
LAYOUTS = [
    ("STANDARD\\1,1", 1, {1: (0, 0, 1, 1)}),
    ("STANDARD\\2,1", 2, {1: (0, 0, F(1, 2), 1), 2: (F(1, 2), 0, F(1, 2), 1)}),
    ("STANDARD\\3,4", 12, {1: (0, 0, F(1, 3), F(1, 4)), 3: (F(2, 3), 0, F(1, 3), F(1, 4)),
                           4: (0, F(1, 4), F(1, 3), F(1, 4)), 12: (F(2, 3), F(3, 4), F(1, 3), F(1, 4))}),
    ("STANDARD\\4,5", 20, {5: (0, F(1, 5), F(1, 4), F(1, 5)), 20: (F(3, 4), F(4, 5), F(1, 4), F(1, 5))}),
    # ROW\2,3: row 1 holds positions 1-2, row 2 holds 3-5
    ("ROW\\2,3", 5, {1: (0, 0, F(1, 2), F(1, 2)), 2: (F(1, 2), 0, F(1, 2), F(1, 2)),
                     3: (0, F(1, 2), F(1, 3), F(1, 2)), 5: (F(2, 3), F(1, 2), F(1, 3), F(1, 2))}),
    # COL\1,4: position 1 is column 1; positions 2-5 run down column 2 (column-major numbering)
    ("COL\\1,4", 5, {1: (0, 0, F(1, 2), 1), 2: (F(1, 2), 0, F(1, 2), F(1, 4)),
                     5: (F(1, 2), F(3, 4), F(1, 2), F(1, 4))}),
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


@pytest.mark.parametrize("text", ["STANDARD\\0,1", "STANDARD\\1", "STANDARD\\1,2,3", "ROW\\", "ROW\\2,,3",
                                  "COL\\a", "SLIDE\\1", "STANDARD/1,1", "standard\\1,1", "", "STANDARD\\-1,2"])
def test_malformed_formats(text: str) -> None:
    with pytest.raises(LayoutError):
        ImageDisplayFormat.parse(text)


def test_columns_and_rows() -> None:
    assert ImageDisplayFormat.parse("STANDARD\\4,5").columns_and_rows == (4, 5)
    assert ImageDisplayFormat.parse("ROW\\2,3,1").columns_and_rows == (3, 3)
    assert ImageDisplayFormat.parse("COL\\1,4").columns_and_rows == (2, 4)


@pytest.mark.parametrize(("film_size", "portrait_pt"), [
    ("14INX17IN", (1008, 1224)), ("8INX10IN", (576, 720)), ("11INX14IN", (792, 1008)),
    ("14INX14IN", (1008, 1008)), ("A4", (595.276, 841.89)), ("24CMX30CM", (680.315, 850.394)),
    ("10INX14IN", (728.504, 1031.811)),  # PS3.3: 10INX14IN corresponds with 25.7CMX36.4CM
])
def test_film_sizes_in_points(film_size: str, portrait_pt: tuple[float, float]) -> None:
    width, height = film_size_mm(film_size, FilmOrientation.PORTRAIT)
    assert (mm_to_points(width), mm_to_points(height)) == pytest.approx(portrait_pt, abs=0.001)
    landscape = film_size_mm(film_size, FilmOrientation.LANDSCAPE)
    assert landscape == (height, width)
