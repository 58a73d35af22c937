"""Render a print job: every film planned once, written as its own PDF page and PNG, and the whole job
in print order (copies collated, PS3.4 H.4.1.2.4.1) as one PDF when it is more than one sheet."""

from __future__ import annotations

from dataclasses import dataclass

from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintRequest
from printscp.render.pdf import DocumentInfo, ImageStreams, render_pdf
from printscp.render.plan import FilmPlan, plan_film
from printscp.render.png import render_png


@dataclass(frozen=True)
class RenderedFilm:
    plan: FilmPlan
    pdf: bytes
    png: bytes


@dataclass(frozen=True)
class RenderedJob:
    films: list[RenderedFilm]  # one per distinct film, in the order of the request
    print_pdf: bytes | None  # every sheet in print order, when there is more than one


def render_job(request: PrintRequest, profile: PrinterProfile, info: DocumentInfo) -> RenderedJob:
    plans = [plan_film(film, profile) for film in request.films]
    streams = ImageStreams()
    films = [RenderedFilm(plan, render_pdf([plan], info, streams), render_png(plan)) for plan in plans]
    order = request.collated_order
    print_pdf = render_pdf([plans[i] for i in order], info, streams) if len(order) > 1 else None
    return RenderedJob(films, print_pdf)
