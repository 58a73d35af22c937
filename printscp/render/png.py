"""FilmPlan -> PNG: an 8-bit grayscale raster of the whole film at the plan's resolution."""

from __future__ import annotations

import io

from PIL import Image

from printscp.render.plan import FilmPlan, Rect

# zlib level 1: a film is mostly flat border and smooth images; level 6 buys ~10% smaller files at
# several times the encoding time (see benchmarks/render).
PNG_COMPRESS_LEVEL = 1


def _box(rect: Rect, scale: float) -> tuple[int, int, int, int]:
    left, top = round(rect.x * scale), round(rect.y * scale)
    return left, top, round((rect.x + rect.width) * scale), round((rect.y + rect.height) * scale)


def raster(plan: FilmPlan) -> Image.Image:
    scale = plan.dpi / 72
    film = Image.new("L", (round(plan.width * scale), round(plan.height * scale)), plan.background)
    for rect, value in plan.empty_cells:
        film.paste(value, _box(rect, scale))
    for placed in plan.images:
        left, top, right, bottom = _box(placed.rect, scale)
        size = (max(right - left, 1), max(bottom - top, 1))
        image = Image.fromarray(placed.pixels, mode="L")
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        film.paste(image, (left, top))
    return film


def render_png(plan: FilmPlan) -> bytes:
    buffer = io.BytesIO()
    raster(plan).save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, dpi=(plan.dpi, plan.dpi))
    return buffer.getvalue()
