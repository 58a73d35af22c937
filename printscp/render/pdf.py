"""FilmPlan -> PDF: one page per film at the film's exact size, images embedded losslessly.

Geometry (background, empty boxes, trim lines) is drawn as vectors; annotations and the film stamp as real,
selectable text in the bundled font. Each image is one DeviceGray (of a colour image, ICCBased sRGB) image XObject
holding the display values of its printed part at the image's own resolution; the viewer scales it into its
rectangle, smoothly (/Interpolate true) for BILINEAR and CUBIC, without interpolation for REPLICATE and NONE.

reportlab would compress every image at zlib level 6 and wrap it in ASCII85 (measured about 3x
slower); we build the XObject ourselves, Flate (png.deflater) with no ASCII85, the rows PNG-Up predicted
(/Predictor 12: a third smaller and faster on noisy images). `ImageStreams` keeps the
compressed streams of a job, shared by its documents (each film's PDF and the job's print.pdf): an
image's display values are compressed as soon as they are computed (render/film.py computes them once
per image box for both the PDF and the PNG) and only the compressed stream is kept.

Compression runs in the rendering thread, one image at a time, not on a pool over all cores: render
workers are processes, one per core, and threads in each oversubscribe the cores whenever several films
render (measured: 15% less throughput of two workers on 2 cores). When a core is free, the print queue
asks render/film.py for a second thread, which draws the PNG beside this.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDictionary,
    PDFImageXObject,
    PDFName,
    PDFObjectReference,
    PDFStream,
)
from reportlab.pdfgen.canvas import Canvas

from printscp import __version__
from printscp.model.enums import MagnificationType
from printscp.model.layout import Rect
from printscp.render import fonts
from printscp.render.pixels import Uint8Array
from printscp.render.plan import FilmPlan, PlacedImage
from printscp.render.png import deflater, srgb_profile, up_filtered

_SMOOTH = {MagnificationType.BILINEAR, MagnificationType.CUBIC}


@dataclass(frozen=True)
class DocumentInfo:
    title: str
    subject: str
    author: str = ""


@dataclass
class ImageStreams:
    """The compressed image stream of each placed image, by XObject name; reused by every document drawing
    the same plans. The name hashes the compressed stream (zlib is deterministic: the same display values
    make the same stream), a quarter of the bytes of the display values or less, so identical images in
    different boxes are embedded once."""

    names: dict[PlacedImage, str] = field(default_factory=dict)
    streams: dict[str, bytes] = field(default_factory=dict)

    def add(self, placed: PlacedImage, pixels: Uint8Array) -> None:
        """Compress the display values of `placed` (its `printed_pixels()`); keep the stream unless an
        identical image's is kept already."""
        # PNG Up prediction before Flate (/Predictor 12): noisy images compress a third smaller and 30% faster
        compressor = deflater()
        rows = pixels.reshape(pixels.shape[0], -1)  # an RGB row is its bytes R, G, B, R, ...
        stream = compressor.compress(up_filtered(rows).data) + compressor.flush()
        name = _name(placed, pixels.shape, stream)
        self.streams.setdefault(name, stream)
        self.names[placed] = name

    def __contains__(self, placed: PlacedImage) -> bool:
        return placed in self.names

    def stream(self, placed: PlacedImage) -> tuple[str, bytes]:
        name = self.names[placed]
        return name, self.streams[name]


def _name(placed: PlacedImage, shape: tuple[int, ...], stream: bytes) -> str:
    digest = hashlib.blake2b(stream, digest_size=12)
    digest.update(b"i" if placed.magnification_type in _SMOOTH else b"n")
    digest.update(repr(shape).encode())
    return "img" + digest.hexdigest()


def render_pdf(pages: Sequence[FilmPlan], info: DocumentInfo, streams: ImageStreams | None = None) -> bytes:
    """One page per plan; images not yet in `streams` are computed and compressed one at a time."""
    streams = streams if streams is not None else ImageStreams()
    for plan in pages:
        for placed in plan.images:
            if placed not in streams:
                streams.add(placed, placed.printed_pixels())
    first = pages[0]
    canvas = Canvas(io.BytesIO(), pagesize=(first.width, first.height), pageCompression=1)
    canvas.setTitle(info.title)
    canvas.setSubject(info.subject)
    canvas.setAuthor(info.author)
    canvas.setCreator(f"printscp {__version__}")
    canvas.setProducer(f"printscp {__version__} (reportlab)")
    for plan in pages:
        canvas.setPageSize((plan.width, plan.height))
        _draw_film(canvas, plan, streams)
        canvas.showPage()
    # the document's bytes as reportlab joins them, not also copied into a file object (canvas.save)
    return bytes(canvas.getpdfdata())


def _draw_film(canvas: Canvas, plan: FilmPlan, streams: ImageStreams) -> None:
    def flip(rect: Rect) -> tuple[float, float, float, float]:
        # PDF's origin is the bottom-left corner; the plan's y runs down from the top
        return rect.x, plan.height - rect.y - rect.height, rect.width, rect.height

    def fill(rect: Rect, value: int) -> None:
        canvas.setFillGray(value / 255)
        canvas.rect(*flip(rect), stroke=0, fill=1)

    fill(Rect(0, 0, plan.width, plan.height), plan.background)
    for rect, value in plan.empty_cells:
        fill(rect, value)
    for placed in plan.images:
        _draw_image(canvas, placed, flip(placed.rect), streams)
    if plan.trim_boxes:
        canvas.setStrokeGray(plan.contrast_value / 255)
        canvas.setLineWidth(plan.trim_line)
        for rect in plan.trim_boxes:
            canvas.rect(*flip(rect), stroke=1, fill=0)
    for text in plan.drawn_texts:
        canvas.setFillGray(text.value / 255)
        canvas.setFont(fonts.register(), text.font_size)
        canvas.drawString(text.x, plan.height - text.baseline, text.text)


class _GrayImage(PDFImageXObject):  # type: ignore[misc]
    """An image XObject with a precompressed Flate stream and an /Interpolate flag."""

    def __init__(self, name: str, width: int, height: int, stream: bytes, interpolate: bool, color: bool) -> None:
        super().__init__(name)
        self.width, self.height, self.color = width, height, color
        self.streamContent = stream
        self.interpolate = interpolate
        self.mask = None

    def format(self, document: Any) -> bytes:
        pdf_stream = PDFStream(content=self.streamContent)
        entries = pdf_stream.dictionary
        entries["Type"] = PDFName("XObject")
        entries["Subtype"] = PDFName("Image")
        entries["Width"] = self.width
        entries["Height"] = self.height
        entries["BitsPerComponent"] = 8
        # colour images: their sRGB values as sent, in an ICCBased space of the sRGB profile (ISO 32000-1 8.6.5.5)
        entries["ColorSpace"] = (
            PDFArray([PDFName("ICCBased"), _srgb_space(document)]) if self.color else PDFName("DeviceGray")
        )
        entries["Filter"] = PDFArray([PDFName("FlateDecode")])
        # ISO 32000-1 7.4.4.4 Table 9: each row carries its PNG filter type byte (always 2, Up)
        entries["DecodeParms"] = PDFArray(
            [
                PDFDictionary(
                    {"Predictor": 12, "Colors": 3 if self.color else 1, "BitsPerComponent": 8, "Columns": self.width}
                )
            ]
        )
        entries["Interpolate"] = "true" if self.interpolate else "false"
        entries["Length"] = len(self.streamContent)
        return bytes(pdf_stream.format(document))


_SRGB_PROFILE = "sRGBProfile"  # the name of a document's ICC profile stream of sRGB


def _srgb_space(document: Any) -> Any:
    """A reference to the document's sRGB ICC profile stream, written once however many images use it."""
    if _SRGB_PROFILE not in document.idToObject:
        profile = zlib.compress(srgb_profile())
        stream = PDFStream(content=profile)
        stream.dictionary["N"] = 3  # ISO 32000-1 Table 66: three colour components
        stream.dictionary["Alternate"] = PDFName("DeviceRGB")
        stream.dictionary["Filter"] = PDFArray([PDFName("FlateDecode")])
        stream.dictionary["Length"] = len(profile)
        return document.Reference(stream, _SRGB_PROFILE)
    return PDFObjectReference(_SRGB_PROFILE)


def _draw_image(
    canvas: Canvas, placed: PlacedImage, rect: tuple[float, float, float, float], streams: ImageStreams
) -> None:
    """canvas.drawImage with our own XObject (mirrors reportlab's code): one XObject per distinct image."""
    name, stream = streams.stream(placed)
    doc = canvas._doc
    registered = doc.getXObjectName(name)
    if registered not in doc.idToObject:
        xobject = _GrayImage(
            name, placed.columns, placed.rows, stream, placed.magnification_type in _SMOOTH, placed.color
        )
        canvas._setXObjects(xobject)
        doc.Reference(xobject, registered)
        doc.addForm(name, xobject)
    x, y, width, height = rect
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    canvas._code.append(f"/{registered} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)
