"""Render one film: plan it once, then write the PDF page and the PNG raster."""

from __future__ import annotations

from dataclasses import dataclass

from printscp.config import PrinterProfile
from printscp.model.session import FilmSnapshot
from printscp.render.pdf import DocumentInfo, render_pdf
from printscp.render.plan import FilmPlan, plan_film
from printscp.render.png import render_png


@dataclass(frozen=True)
class RenderedFilm:
    plan: FilmPlan
    pdf: bytes
    png: bytes


def render_film(snapshot: FilmSnapshot, profile: PrinterProfile, info: DocumentInfo) -> RenderedFilm:
    plan = plan_film(snapshot, profile)
    return RenderedFilm(plan, render_pdf([plan], info), render_png(plan))
