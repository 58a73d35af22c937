"""The font annotation text is drawn with, bundled so that every machine prints the same film.

DejaVu Sans (Bitstream Vera licence, see DejaVu-LICENSE.txt) covers Latin, Greek and Cyrillic. Text
with characters it has no glyph for is still drawn (the missing ones as the font's empty box) and
the characters are reported in the log, never silently dropped.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

FONT_NAME = "DejaVuSans"
FONT_PATH = Path(__file__).with_name("DejaVuSans.ttf")


@cache
def register() -> str:
    """Register the font with reportlab once; returns its name for canvas.setFont and stringWidth."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    return FONT_NAME


def text_width(text: str, size: float) -> float:
    """Width in points of `text` set in the bundled font at `size` points."""
    from reportlab.pdfbase import pdfmetrics

    return float(pdfmetrics.stringWidth(text, register(), size))


@cache
def covered_code_points() -> frozenset[int]:
    from reportlab.pdfbase.ttfonts import TTFontFile

    return frozenset(TTFontFile(str(FONT_PATH)).charToGlyph)


def missing_characters(text: str) -> str:
    """The characters of `text` the bundled font cannot draw, each once, in order."""
    covered = covered_code_points()
    return "".join(dict.fromkeys(c for c in text if ord(c) not in covered and not c.isspace()))


def report_missing(text: str, where: str) -> None:
    missing = missing_characters(text)
    if missing:
        codes = " ".join(f"U+{ord(c):04X}" for c in missing)
        log.warning(
            "%s: the bundled font %s has no glyph for %d character(s) (%s); they print as boxes",
            where,
            FONT_NAME,
            len(missing),
            codes,
        )
