"""Render a print job: every film planned once, written as its own PDF page and PNG, and the whole job
in print order (copies collated, PS3.4 H.4.1.2.4.1) as one PDF when it is more than one sheet.

Memory: a film is drawn box by box. Each image box's display values are computed once
(`PlacedImage.printed_pixels`, which then gives back the pages of the memory-mapped source), compressed
into the job's `ImageStreams` for the PDF, resampled into the film's PNG raster, and dropped. The PNG is
encoded and its raster dropped before the film's PDF is assembled from the compressed streams, which are
all the job keeps of its images (its print.pdf reuses them). So the peak is one film's compressed
images and PDF, plus one image box's pixels, not every stage of every box.
"""

from __future__ import annotations

from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintedImage, PrintRequest, RenderedFilm, RenderedJob
from printscp.render.pdf import DocumentInfo, ImageStreams, render_pdf
from printscp.render.plan import FilmPlan, PlacedImage, plan_film
from printscp.render.png import FilmRaster, encode_png


def render_job(request: PrintRequest, profile: PrinterProfile, info: DocumentInfo) -> RenderedJob:
    """The films of a film record as PDF and PNG, and where each image landed (for the manifest)."""
    streams = ImageStreams()
    plans: list[FilmPlan] = []
    films: list[RenderedFilm] = []
    for snapshot in request.films:
        plan = plan_film(snapshot, profile)
        png = _draw_images(plan, streams)
        films.append(_rendered(plan, render_pdf([plan], info, streams), png))
        plans.append(plan)
    order = request.collated_order
    print_pdf = render_pdf([plans[i] for i in order], info, streams) if len(order) > 1 else None
    return RenderedJob(tuple(films), print_pdf)


def _draw_images(plan: FilmPlan, streams: ImageStreams) -> bytes:
    """The film's PNG, each image box drawn in turn into it and into `streams` for the PDF."""
    raster = FilmRaster(plan)
    for placed in plan.images:
        _draw_image(placed, raster, streams)
    return encode_png(raster.finish(), plan.dpi)


def _draw_image(placed: PlacedImage, raster: FilmRaster, streams: ImageStreams) -> None:
    pixels = placed.printed_pixels()  # the one computation of this box's display values, dropped on return
    streams.add(placed, pixels)
    raster.paste(placed, pixels)


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
