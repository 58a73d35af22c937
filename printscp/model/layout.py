"""Image Display Format -> image box cells (PS3.3 C.13.3, C.13.5.1), and film geometry.

A cell is a rectangle in film coordinates normalised to the unit square: x to the right, y down,
(0, 0) the top-left corner of the film as oriented by Film Orientation. Image Box Position 1 is the
top-left box. STANDARD\\C,R has C columns and R rows numbered row by row; ROW\\R1,R2,... has rows of
R1, R2, ... equal boxes numbered row by row; COL\\C1,C2,... has columns of C1, C2, ... equal boxes
numbered column by column (top to bottom, then left to right).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from printscp.model.enums import FILM_SIZES_MM, FilmOrientation


class LayoutError(ValueError):
    """The Image Display Format is malformed or outside what the printer supports."""


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

    kind: str  # STANDARD, ROW or COL
    counts: tuple[int, ...]  # STANDARD: (C, R); ROW: boxes per row; COL: boxes per column

    @classmethod
    def parse(cls, value: str) -> ImageDisplayFormat:
        match = re.fullmatch(r"(STANDARD|ROW|COL)\\(\d+(?:,\d+)*)", value.strip())
        if not match:
            raise LayoutError(f"'{value}' is not STANDARD\\C,R, ROW\\R1,R2,... or COL\\C1,C2,...")
        kind = match.group(1)
        counts = tuple(int(n) for n in match.group(2).split(","))
        if kind == "STANDARD" and len(counts) != 2:
            raise LayoutError(f"'{value}': STANDARD takes exactly two numbers, columns and rows")
        if any(n < 1 for n in counts):
            raise LayoutError(f"'{value}': every count must be at least 1")
        return cls(kind, counts)

    def __str__(self) -> str:
        return f"{self.kind}\\{','.join(str(n) for n in self.counts)}"

    @property
    def columns_and_rows(self) -> tuple[int, int]:
        """The largest number of boxes across and down."""
        if self.kind == "STANDARD":
            return self.counts[0], self.counts[1]
        if self.kind == "ROW":
            return max(self.counts), len(self.counts)
        return len(self.counts), max(self.counts)

    @property
    def number_of_image_boxes(self) -> int:
        if self.kind == "STANDARD":
            return self.counts[0] * self.counts[1]
        return sum(self.counts)

    def cells(self) -> list[Cell]:
        """Every image box cell, in Image Box Position order."""
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
        else:
            columns = len(self.counts)
            for column, rows in enumerate(self.counts):
                for row in range(rows):
                    cells.append(_cell(len(cells) + 1, column, columns, row, rows))
        return cells


def _cell(position: int, column: int, columns: int, row: int, rows: int) -> Cell:
    return Cell(position, Fraction(column, columns), Fraction(row, rows), Fraction(1, columns), Fraction(1, rows))


def film_size_mm(film_size_id: str, orientation: FilmOrientation) -> tuple[float, float]:
    """(width, height) of the film in millimetres as it lies in Film Orientation."""
    width, height = FILM_SIZES_MM[film_size_id]
    if orientation is FilmOrientation.LANDSCAPE:
        return max(width, height), min(width, height)
    return min(width, height), max(width, height)


MM_PER_POINT = 25.4 / 72


def mm_to_points(mm: float) -> float:
    return mm / MM_PER_POINT
