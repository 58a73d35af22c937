"""Render a print job: every film planned once, written as its own PDF page and PNG, and the whole job
in print order (copies collated, PS3.4 H.4.1.2.4.1) as one PDF when it is more than one sheet."""

from __future__ import annotations

from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintedImage, PrintRequest, RenderedFilm, RenderedJob
from printscp.render.pdf import DocumentInfo, ImageStreams, render_pdf
from printscp.render.plan import FilmPlan, plan_film
from printscp.render.png import render_png


def render_job(request: PrintRequest, profile: PrinterProfile, info: DocumentInfo) -> RenderedJob:
    """The films of a film record as PDF and PNG, and where each image landed (for the manifest)."""
    plans = [plan_film(film, profile) for film in request.films]
    streams = ImageStreams()
    films = tuple(_rendered(plan, render_pdf([plan], info, streams), render_png(plan)) for plan in plans)
    order = request.collated_order
    print_pdf = render_pdf([plans[i] for i in order], info, streams) if len(order) > 1 else None
    return RenderedJob(films, print_pdf)


def _rendered(plan: FilmPlan, pdf: bytes, png: bytes) -> RenderedFilm:
    images = tuple(
        PrintedImage(
            image.image_box_position,
            (image.rect.x, image.rect.y, image.rect.width, image.rect.height),
            image.pixels.shape[0],
            image.pixels.shape[1],
        )
        for image in plan.images
    )
    return RenderedFilm(pdf, png, (plan.width, plan.height), plan.dpi, images)
