"""FilmPlan -> PNG: an 8-bit grayscale raster (of a colour film, RGB with the sRGB ICC profile) of the whole
film at `FilmPlan.dpi`: the printer's resolution for the film's Requested Resolution ID, or [render] png_dpi
when that is lower (a 14INX17IN film at 600 dpi would be 8400 x 10200 pixels; the PDF keeps every printed pixel).

Each image is resampled to its printed size as Magnification Type asks (PS3.3 C.13.3): REPLICATE and
NONE copy pixels (nearest neighbour; NONE prints one image pixel per printer pixel, so it is only
resampled when Pixel Aspect Ratio is not 1:1 or the PNG is drawn below the printer's dpi), BILINEAR
interpolates linearly, and CUBIC uses the Smoothing Type: SHARP Lanczos-3, MEDIUM the Catmull-Rom
cubic, SMOOTH the Catmull-Rom cubic followed by a Gaussian of half a source pixel.

`FilmRaster` draws a film box by box: an image's display values are resampled and pasted as soon as
they are computed, and dropped; only the film's raster and the box being drawn are in memory.

The raster is drawn with Pillow and encoded by `encode_png`, not Pillow's PNG writer: Pillow tries
every PNG filter on every row to pick one (75 ms of a 2100x2550 film at compress level 1); numpy's
"Up" filter of every row, a stripe of rows at a time, and one zlib stream make the same pixels in
33 ms, in a file 0.5% larger (benchmarks/render).
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageFilter, ImageFont

from printscp.model.enums import MagnificationType
from printscp.model.layout import Rect
from printscp.render import fonts
from printscp.render.pixels import Uint8Array
from printscp.render.plan import FilmPlan, PlacedImage


def deflater() -> zlib._Compress:
    """The zlib compressor of PNG and PDF image data, which is Up-filtered rows (`up_filtered`).

    Z_RLE: run-length matches only (distance 1), no hash chains. Filtered image rows are mostly small
    differences and runs of zeros; measured on 512² 12-bit images' display values, Z_RLE is twice as fast
    as level 1's default strategy and makes smaller streams (noisy: 148 KB against 169 KB; CT: 58 against
    65 KB). Higher levels cost several times the time for a few per cent.
    """
    return zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)


METRES_PER_INCH = 0.0254
_STRIPE_ROWS = 256  # rows filtered and compressed at a time: as fast as the whole raster at once, in cache

_FILTERS = {
    MagnificationType.REPLICATE: Image.Resampling.NEAREST,
    MagnificationType.NONE: Image.Resampling.NEAREST,
    MagnificationType.BILINEAR: Image.Resampling.BILINEAR,
}
_CUBIC = {"SHARP": Image.Resampling.LANCZOS, "MEDIUM": Image.Resampling.BICUBIC, "SMOOTH": Image.Resampling.BICUBIC}


def _box(rect: Rect, scale: float) -> tuple[int, int, int, int]:
    left, top = round(rect.x * scale), round(rect.y * scale)
    return left, top, round((rect.x + rect.width) * scale), round((rect.y + rect.height) * scale)


def resample(placed: PlacedImage, pixels: Uint8Array, size: tuple[int, int]) -> Image.Image:
    """The display values of a placed image (`placed.printed_pixels()`) at their printed size."""
    image = Image.fromarray(pixels, mode="RGB" if placed.color else "L")
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


class FilmRaster:
    """The raster of one film, drawn as its boxes come: the background and empty boxes at once, each
    image when `paste` is given its display values, the trim lines and text by `finish`."""

    def __init__(self, plan: FilmPlan) -> None:
        self.plan = plan
        self.scale = plan.dpi / 72
        size = (round(plan.width * self.scale), round(plan.height * self.scale))
        self.image = Image.new("RGB" if plan.color else "L", size, self.ink(plan.background))
        for rect, value in plan.empty_cells:
            self.image.paste(self.ink(value), _box(rect, self.scale))

    def ink(self, value: int) -> int | tuple[int, int, int]:
        """A display value as the raster's colour: a grey of equal R, G and B on a colour film."""
        return (value, value, value) if self.plan.color else value

    def paste(self, placed: PlacedImage, pixels: Uint8Array) -> None:
        left, top, right, bottom = _box(placed.rect, self.scale)
        printed = resample(placed, pixels, (max(right - left, 1), max(bottom - top, 1)))
        if printed.mode != self.image.mode:  # a grayscale image on a colour film
            printed = printed.convert(self.image.mode)
        self.image.paste(printed, (left, top))

    def finish(self) -> Image.Image:
        """The raster with the trim lines and text drawn over the images (call once every image is pasted)."""
        plan, scale = self.plan, self.scale
        draw = ImageDraw.Draw(self.image)
        line = max(1, round(plan.trim_line * scale))
        for rect in plan.trim_boxes:
            left, top, right, bottom = _box(rect, scale)
            draw.rectangle(
                (left - line // 2, top - line // 2, right + (line - 1) // 2, bottom + (line - 1) // 2),
                outline=self.ink(plan.contrast_value),
                width=line,
            )
        for text in plan.drawn_texts:
            font = ImageFont.truetype(str(fonts.FONT_PATH), max(1, round(text.font_size * scale)))
            draw.text(
                (text.x * scale, text.baseline * scale), text.text, fill=self.ink(text.value), font=font, anchor="ls"
            )
        return self.image


def raster(plan: FilmPlan) -> Image.Image:
    """The film as an 8-bit grayscale (or, of colour images, RGB) image, each image box's display values
    computed and dropped in turn."""
    film = FilmRaster(plan)
    for placed in plan.images:
        film.paste(placed, placed.printed_pixels())
    return film.finish()


def render_png(plan: FilmPlan) -> bytes:
    return encode_png(raster(plan), plan.dpi)


def encode_png(image: Image.Image, dpi: int) -> bytes:
    """An 8-bit grayscale or RGB image as a PNG file (PNG spec, ISO/IEC 15948, 3rd edition).

    Chunks IHDR, pHYs, iCCP (RGB only: the sRGB profile), one IDAT and IEND (5.6). Every scanline is
    filtered with filter type 2, Up (9.2: each byte minus the byte above it, modulo 256; above the first
    row is zero), which suits a film of flat borders and smooth images; the filtered rows are one zlib
    stream (10). Rows are filtered and compressed a stripe at a time, so no copy of the whole raster is made.
    """
    if image.mode not in ("L", "RGB"):
        raise ValueError(f"encode_png writes 8-bit grayscale or RGB (mode L or RGB), not mode {image.mode}")
    columns, rows = image.size
    samples = len(image.getbands())
    compressor = deflater()
    data = []
    above: Uint8Array | None = None
    for top in range(0, rows, _STRIPE_ROWS):
        # an RGB row is its bytes R, G, B, R, ...: the Up filter works bytewise (9.2)
        stripe = np.asarray(image.crop((0, top, columns, min(top + _STRIPE_ROWS, rows)))).reshape(-1, columns * samples)
        data.append(compressor.compress(up_filtered(stripe, above).data))
        above = stripe[-1]
    data.append(compressor.flush())
    # 11.2.2 IHDR: width, height, bit depth 8, colour type 0 (greyscale) or 2 (truecolour), compression
    # method 0, filter method 0, interlace method 0
    header = struct.pack(">IIBBBBB", columns, rows, 8, 0 if samples == 1 else 2, 0, 0, 0)
    # 11.3.5.3 pHYs: pixels per unit in x and y, unit 1 (the metre), rounded as Pillow writes it
    per_metre = int(dpi / METRES_PER_INCH + 0.5)
    physical = struct.pack(">IIB", per_metre, per_metre, 1)
    # 11.3.3.3 iCCP: profile name, null, compression method 0, the zlib-compressed profile
    profile = [] if samples == 1 else _chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(srgb_profile()))
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",  # 5.2 PNG signature
            *_chunk(b"IHDR", header),
            *_chunk(b"pHYs", physical),
            *profile,
            *_chunk(b"IDAT", *data),  # the compressed pieces are copied once, into the file
            *_chunk(b"IEND"),
        )
    )


@functools.cache
def srgb_profile() -> bytes:
    """The ICC profile of sRGB, as LittleCMS builds it: what a colour film's RGB values mean."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def up_filtered(rows: Uint8Array, above: Uint8Array | None = None) -> Uint8Array:
    """Scanlines filtered with PNG filter type 2, Up (PNG 9.2): each row starts with the filter type byte
    (7.3), then each byte minus the byte above it, modulo 256 (`above`: the row before the first; zeros).
    PDF's Flate filter takes the same rows with /Predictor 12 (ISO 32000-1 7.4.4.4)."""
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    if above is None:
        filtered[0, 1:] = rows[0]
    else:
        np.subtract(rows[0], above, out=filtered[0, 1:])  # uint8 arithmetic wraps: modulo 256
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    return filtered


def _chunk(kind: bytes, *data: bytes) -> list[bytes]:
    """5.3: length, chunk type, data, and the CRC-32 of type and data; in pieces, for one join."""
    crc = zlib.crc32(kind)
    for piece in data:
        crc = zlib.crc32(piece, crc)
    return [struct.pack(">I", sum(map(len, data))), kind, *data, struct.pack(">I", crc)]
