"""FilmPlan -> PDF: one page per film at the film's exact size, images embedded losslessly.

Geometry is drawn as vectors; each image is one DeviceGray image XObject of the display values at
the image's own resolution (the viewer scales it into its rectangle). reportlab would compress every
image at zlib level 6 and wrap it in ASCII85; we build the XObject ourselves (Flate only, no ASCII85)
so that the compression is chosen here and measured in benchmarks/render.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfgen.canvas import Canvas

from printscp import __version__
from printscp.render.plan import FilmPlan, PlacedImage, Rect

PDF_COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class DocumentInfo:
    title: str
    subject: str
    author: str = ""


def render_pdf(pages: Sequence[FilmPlan], info: DocumentInfo) -> bytes:
    streams = _compress_images(pages)
    buffer = io.BytesIO()
    first = pages[0]
    canvas = Canvas(buffer, pagesize=(first.width, first.height), pageCompression=1)
    canvas.setTitle(info.title)
    canvas.setSubject(info.subject)
    canvas.setAuthor(info.author)
    canvas.setCreator(f"printscp {__version__}")
    canvas.setProducer(f"printscp {__version__} (reportlab)")
    for plan in pages:
        canvas.setPageSize((plan.width, plan.height))
        _draw_film(canvas, plan, streams)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _compress_images(pages: Sequence[FilmPlan]) -> dict[int, tuple[str, bytes]]:
    """id(placed image) -> (XObject name, Flate stream); compressed on all cores (zlib releases the GIL).

    The name is a hash of the display values, so an identical image placed twice is embedded once.
    """
    placed = [image for plan in pages for image in plan.images]
    names = {id(image): "img" + hashlib.blake2b(image.pixels.tobytes(), digest_size=12).hexdigest()
             for image in placed}
    unique = {names[id(image)]: image.pixels for image in placed}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        streams = dict(zip(unique, pool.map(lambda p: zlib.compress(p.tobytes(), PDF_COMPRESS_LEVEL),
                                            unique.values()), strict=True))
    return {key: (name, streams[name]) for key, name in names.items()}


def _draw_film(canvas: Canvas, plan: FilmPlan, streams: dict[int, tuple[str, bytes]]) -> None:
    def fill(rect: Rect, value: int) -> None:
        canvas.setFillGray(value / 255)
        # PDF's origin is the bottom-left corner; the plan's y runs down from the top
        canvas.rect(rect.x, plan.height - rect.y - rect.height, rect.width, rect.height, stroke=0, fill=1)

    fill(Rect(0, 0, plan.width, plan.height), plan.background)
    for rect, value in plan.empty_cells:
        fill(rect, value)
    for placed in plan.images:
        _draw_image(canvas, placed, plan.height, streams)


def _draw_image(canvas: Canvas, placed: PlacedImage, page_height: float,
                streams: dict[int, tuple[str, bytes]]) -> None:
    """canvas.drawImage without ASCII85 and with our compression (mirrors reportlab's own code)."""
    pixels = placed.pixels
    name, stream = streams[id(placed)]
    doc = canvas._doc
    registered = doc.getXObjectName(name)
    if registered not in doc.idToObject:  # an identical image on another page is embedded once
        xobject = PDFImageXObject(name)
        xobject.width, xobject.height = pixels.shape[1], pixels.shape[0]
        xobject.bitsPerComponent = 8
        xobject.colorSpace = "DeviceGray"
        xobject.streamContent = stream
        xobject._filters = ("FlateDecode",)
        xobject.mask = None
        canvas._setXObjects(xobject)
        doc.Reference(xobject, registered)
        doc.addForm(name, xobject)
    rect = placed.rect
    canvas.saveState()
    canvas.translate(rect.x, page_height - rect.y - rect.height)
    canvas.scale(rect.width, rect.height)
    canvas._code.append(f"/{registered} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)
