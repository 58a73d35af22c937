"""Render a print job: every film planned once, written as its own PDF page and PNG, and the whole job
in print order (copies collated, PS3.4 H.4.1.2.4.1) as one PDF when it is more than one sheet.

Memory: a film is drawn box by box. Each image box's display values are computed once
(`PlacedImage.printed_pixels`, which then gives back the pages of the memory-mapped source), compressed
into the job's `ImageStreams` for the PDF, resampled into the film's PNG raster, and dropped. The film's PDF is
assembled from the compressed streams, which are all the job keeps of its images (its print.pdf reuses
them), while the PNG is encoded (in a second thread when `threads` = 2). So the peak is one film's
compressed images, PDF and raster, plus two image boxes' pixels, not every stage of every box.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from printscp.config import DEFAULT_PNG_DPI
from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintedImage, PrintRequest, RenderedFilm, RenderedJob
from printscp.render.pdf import DocumentInfo, ImageStreams, render_pdf
from printscp.render.plan import FilmPlan, plan_film
from printscp.render.png import FilmRaster, encode_png

T = TypeVar("T")


def render_job(
    request: PrintRequest,
    profile: PrinterProfile,
    info: DocumentInfo,
    threads: int = 1,
    png_dpi: int = DEFAULT_PNG_DPI,
    stamps: Sequence[str] = (),
) -> RenderedJob:
    """The films of a film record as PDF and PNG, and where each image landed (for the manifest).

    Each PNG is drawn at the printer's dpi for the film's Requested Resolution ID or at `png_dpi`,
    whichever is lower ([render] png_dpi). `stamps`: the film stamp of each film, in the order of
    `request.films` (model/stamp.py); none when empty. A film is drawn once, so its copies in the job's
    print.pdf carry the same stamp.

    threads = 2: the PNG (resampling, encoding) is drawn in a second thread while this one computes the
    display values and compresses the PDF's images (zlib, numpy and Pillow's resampling release the GIL).
    The print queue asks for it when a core would otherwise be idle, for a shorter time to the PDF.
    """
    streams = ImageStreams()
    plans: list[FilmPlan] = []
    films: list[RenderedFilm] = []
    with ThreadPoolExecutor(1, thread_name_prefix="png") if threads > 1 else _InThisThread() as png_thread:
        for snapshot, stamp in zip(request.films, stamps or [""] * len(request.films), strict=True):
            plan = plan_film(snapshot, profile, png_dpi, stamp)
            png = _draw_images(plan, streams, png_thread)
            films.append(_rendered(plan, render_pdf([plan], info, streams), png.result()))
            plans.append(plan)
    order = request.collated_order
    print_pdf = render_pdf([plans[i] for i in order], info, streams) if len(order) > 1 else None
    return RenderedJob(tuple(films), print_pdf)


def _draw_images(plan: FilmPlan, streams: ImageStreams, png_thread: Executor) -> Future[bytes]:
    """Each image box drawn in turn into `streams` for the PDF and into the film's raster; the PNG to come.

    One box's display values at a time: the next box is computed only once the raster has taken the
    previous one, so at most two boxes' values are alive."""
    raster = FilmRaster(plan)
    pasted: Future[None] | None = None
    for placed in plan.images:
        pixels = placed.printed_pixels()  # the one computation of this box's display values
        if pasted is not None:
            pasted.result()
        pasted = png_thread.submit(raster.paste, placed, pixels)
        streams.add(placed, pixels)
        del pixels
    if pasted is not None:
        pasted.result()
    return png_thread.submit(lambda: encode_png(raster.finish(), plan.dpi))


class _InThisThread(Executor):
    """An executor that runs each call at once, in the caller's thread."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def _rendered(plan: FilmPlan, pdf: bytes, png: bytes) -> RenderedFilm:
    images = tuple(
        PrintedImage(
            image.image_box_position,
            (image.rect.x, image.rect.y, image.rect.width, image.rect.height),
            image.rows,
            image.columns,
        )
        for image in plan.images
    )
    return RenderedFilm(pdf, png, (plan.width, plan.height), plan.dpi, images)
