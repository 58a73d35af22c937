"""The film archive: one folder per print job, made visible atomically.

A job is written into `<archive>/.incoming/<job uid>/`, every file fsynced, and the folder renamed
to `<archive>/<YYYY>/<MM>/<DD>/<job uid>/` in one step, so a reader never sees half a job. Names on
disk come from UIDs and counters only, never from text an SCU sent (a Film Session Label of
`../../etc/passwd` stays a string in the manifest).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from printscp.model.session import FilmSnapshot, PrintRequest
from printscp.render.film import RenderedFilm, RenderedJob

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PRINT_PDF = "print.pdf"  # the whole job in print order, when it is more than one sheet
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


@dataclass(frozen=True)
class StoredJob:
    folder: Path
    manifest: dict[str, Any]

    @property
    def pdfs(self) -> list[Path]:
        return [self.folder / film["pdf"] for film in self.manifest["films"]]

    @property
    def pngs(self) -> list[Path]:
        return [self.folder / film["png"] for film in self.manifest["films"]]


class FilmArchive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.incoming = folder / ".incoming"

    def store(self, job_uid: str, request: PrintRequest, job: RenderedJob, rendered_at: datetime) -> StoredJob:
        if not _UID.fullmatch(job_uid):
            raise ValueError(f"not a UID: {job_uid!r}")
        staging = self.incoming / job_uid
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        entries = []
        for number, (snapshot, rendered) in enumerate(zip(request.films, job.films, strict=True), start=1):
            pdf, png = f"film-{number}.pdf", f"film-{number}.png"
            _write(staging / pdf, rendered.pdf)
            _write(staging / png, rendered.png)
            entries.append(_film_entry(number, snapshot, rendered, pdf, png))
        if job.print_pdf is not None:
            _write(staging / PRINT_PDF, job.print_pdf)
        manifest = _manifest(job_uid, request, entries, rendered_at, PRINT_PDF if job.print_pdf else None)
        _write(staging / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        _fsync_dir(staging)
        final = self.folder_of(job_uid, request.requested_at)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
        _fsync_dir(final.parent)
        log.info("stored print job %s: %d film(s) in %s", job_uid, len(job.films), final)
        return StoredJob(final, manifest)

    def folder_of(self, job_uid: str, requested_at: datetime) -> Path:
        return self.folder / f"{requested_at:%Y}" / f"{requested_at:%m}" / f"{requested_at:%d}" / job_uid

    def find(self, job_uid: str, requested_at: datetime) -> StoredJob | None:
        """The stored job, if its folder is in place (renamed there only once complete)."""
        manifest_path = self.folder_of(job_uid, requested_at) / MANIFEST
        if not manifest_path.exists():
            return None
        with open(manifest_path, encoding="utf-8") as file:
            return StoredJob(manifest_path.parent, json.load(file))

    def jobs(self) -> list[StoredJob]:
        """Every stored job, oldest first."""
        found = []
        for manifest_path in sorted(self.folder.glob(f"[0-9]*/[0-9]*/[0-9]*/*/{MANIFEST}")):
            with open(manifest_path, encoding="utf-8") as file:
                found.append(StoredJob(manifest_path.parent, json.load(file)))
        return sorted(found, key=lambda job: job.manifest["requested_at"])


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _film_entry(number: int, film: FilmSnapshot, rendered: RenderedFilm, pdf: str, png: str) -> dict[str, Any]:
    plan = rendered.plan
    placed = {image.image_box_position: image.rect for image in plan.images}
    placed_pixels = {image.image_box_position: image.pixels.shape for image in plan.images}
    boxes = []
    for box in film.image_boxes:
        entry: dict[str, Any] = {"image_box_position": box.image_box_position}
        if box.image is None:
            entry["empty"] = True
        else:
            rect = placed[box.image_box_position]
            entry.update(
                rows=box.image.rows,
                columns=box.image.columns,
                bits_stored=box.image.bits_stored,
                photometric_interpretation=box.image.photometric_interpretation.value,
                polarity=box.polarity.value,
                min_density=box.min_density,
                max_density=box.max_density,
                magnification_type=box.magnification_type.value,
                rect_pt=[round(v, 3) for v in (rect.x, rect.y, rect.width, rect.height)],
                printed_rows=placed_pixels[box.image_box_position][0],
                printed_columns=placed_pixels[box.image_box_position][1],
            )
        boxes.append(entry)
    return {
        "number": number,
        "film_box_uid": film.film_box_uid,
        "image_display_format": str(film.image_display_format),
        "film_orientation": film.film_orientation.value,
        "film_size_id": film.film_size_id,
        "magnification_type": film.magnification_type.value,
        "smoothing_type": film.smoothing_type,
        "min_density": film.min_density,
        "max_density": film.max_density,
        "configuration_information": film.configuration_information,
        "border_density": film.border_density,
        "empty_image_density": film.empty_image_density,
        "trim": film.trim.value,
        "illumination": film.illumination,
        "reflected_ambient_light": film.reflected_ambient_light,
        "requested_resolution_id": film.requested_resolution_id.value,
        "annotation_display_format_id": film.annotation_display_format_id,
        "annotations": [{"annotation_position": a.annotation_position, "text_string": a.text_string}
                        for a in film.annotations],
        "image_boxes": boxes,
        "page_size_pt": [round(plan.width, 3), round(plan.height, 3)],
        "png_dpi": plan.dpi,
        "pdf": pdf,
        "png": png,
        "pdf_sha256": hashlib.sha256(rendered.pdf).hexdigest(),
        "png_sha256": hashlib.sha256(rendered.png).hexdigest(),
    }


def _manifest(job_uid: str, request: PrintRequest, films: list[dict[str, Any]], rendered_at: datetime,
              print_pdf: str | None) -> dict[str, Any]:
    first = request.films[0]
    return {
        "print_job_uid": job_uid,
        "calling_ae_title": request.calling_ae_title,
        "called_ae_title": request.called_ae_title,
        "requested_at": request.requested_at.isoformat(),
        "rendered_at": rendered_at.isoformat(),
        "film_session": {
            "sop_instance_uid": first.film_session_uid,
            "film_session_label": request.film_session_label,
            "owner_id": first.owner_id,
            "number_of_copies": request.number_of_copies,
            "print_priority": request.print_priority.value,
            "medium_type": first.medium_type,
            "film_destination": first.film_destination,
            "specific_character_set": list(first.specific_character_set),
            "proposed_study": dict(request.proposed_study.attributes) if request.proposed_study else None,
        },
        # PS3.4 H.4.1.2.4.1: copies are collated, 1-2-3-1-2-3; numbers refer to "films" below
        "print_order": [index + 1 for index in request.collated_order],
        "print_pdf": print_pdf,
        "films": films,
    }
