"""FilmPlan -> PNG: an 8-bit grayscale raster of the whole film at the printer's resolution.

Each image is resampled to its printed size as Magnification Type asks (PS3.3 C.13.3): REPLICATE and
NONE copy pixels (nearest neighbour; NONE prints one image pixel per printer pixel, so it is only
resampled when Pixel Aspect Ratio is not 1:1), BILINEAR interpolates linearly, and CUBIC uses the
Smoothing Type: SHARP Lanczos-3, MEDIUM the Catmull-Rom cubic, SMOOTH the Catmull-Rom cubic followed
by a Gaussian of half a source pixel.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from printscp.model.enums import MagnificationType
from printscp.model.layout import Rect
from printscp.render import fonts
from printscp.render.plan import FilmPlan, PlacedImage

# zlib level 1: a film is mostly flat border and smooth images; higher levels cost several times the
# encoding time for ~10% smaller files (measured by benchmarks/render).
PNG_COMPRESS_LEVEL = 1

_FILTERS = {
    MagnificationType.REPLICATE: Image.Resampling.NEAREST,
    MagnificationType.NONE: Image.Resampling.NEAREST,
    MagnificationType.BILINEAR: Image.Resampling.BILINEAR,
}
_CUBIC = {"SHARP": Image.Resampling.LANCZOS, "MEDIUM": Image.Resampling.BICUBIC, "SMOOTH": Image.Resampling.BICUBIC}


def _box(rect: Rect, scale: float) -> tuple[int, int, int, int]:
    left, top = round(rect.x * scale), round(rect.y * scale)
    return left, top, round((rect.x + rect.width) * scale), round((rect.y + rect.height) * scale)


def resample(placed: PlacedImage, size: tuple[int, int]) -> Image.Image:
    image = Image.fromarray(placed.pixels, mode="L")
    if image.size == size:
        return image
    magnification = placed.magnification_type
    if magnification in _FILTERS:  # not `_FILTERS.get() or ...`: NEAREST is 0
        resampling = _FILTERS[magnification]
    else:
        resampling = _CUBIC.get(placed.smoothing_type, Image.Resampling.BICUBIC)
    resized = image.resize(size, resampling)
    if magnification is MagnificationType.CUBIC and placed.smoothing_type == "SMOOTH":
        resized = resized.filter(ImageFilter.GaussianBlur(0.5 * size[0] / image.size[0]))
    return resized


def raster(plan: FilmPlan) -> Image.Image:
    scale = plan.dpi / 72
    film = Image.new("L", (round(plan.width * scale), round(plan.height * scale)), plan.background)
    for rect, value in plan.empty_cells:
        film.paste(value, _box(rect, scale))
    for placed in plan.images:
        left, top, right, bottom = _box(placed.rect, scale)
        film.paste(resample(placed, (max(right - left, 1), max(bottom - top, 1))), (left, top))
    draw = ImageDraw.Draw(film)
    line = max(1, round(plan.trim_line * scale))
    for rect in plan.trim_boxes:
        left, top, right, bottom = _box(rect, scale)
        draw.rectangle(
            (left - line // 2, top - line // 2, right + (line - 1) // 2, bottom + (line - 1) // 2),
            outline=plan.contrast_value,
            width=line,
        )
    for text in plan.texts:
        font = ImageFont.truetype(str(fonts.FONT_PATH), max(1, round(text.font_size * scale)))
        draw.text((text.x * scale, text.baseline * scale), text.text, fill=text.value, font=font, anchor="ls")
    return film


def render_png(plan: FilmPlan) -> bytes:
    buffer = io.BytesIO()
    raster(plan).save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, dpi=(plan.dpi, plan.dpi))
    return buffer.getvalue()
