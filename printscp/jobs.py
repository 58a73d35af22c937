"""Print jobs: a PrintRequest in, rendered films in the archive out."""

from __future__ import annotations

import logging
from datetime import datetime

from pydicom.uid import generate_uid

from printscp.archive.store import FilmArchive, StoredJob
from printscp.config import PrinterProfile
from printscp.model.session import PrintRequest
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo

log = logging.getLogger(__name__)


def print_request(job_uid: str, request: PrintRequest, profile: PrinterProfile, archive: FilmArchive) -> StoredJob:
    """Render every film of a request and store them as one job."""
    info = DocumentInfo(
        title=request.film_session_label or f"Film from {request.calling_ae_title}",
        subject=request.calling_ae_title,
        author=profile.name,
    )
    return archive.store(job_uid, request, render_job(request, profile, info), datetime.now().astimezone())


class SynchronousPrintQueue:
    """Prints inside the N-ACTION: the response is sent once the films are in the archive."""

    def __init__(self, profile: PrinterProfile, archive: FilmArchive) -> None:
        self.profile = profile
        self.archive = archive

    def submit(self, request: PrintRequest) -> str:
        job_uid = generate_uid()
        print_request(job_uid, request, self.profile, self.archive)
        return job_uid
