"""The archive's printed films for people: select by date, sender, label or patient; show; export.

`printscp films` is a thin shell over this. It reads the same index as the server and brings it up to
date with the files first (FilmArchive.reconcile), so it gives the same answers whether or not a server
is running, and after the index was lost.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from printscp.archive.film_index import FilmFilter
from printscp.archive.store import MANIFEST, FilmArchive


def select(archive: FilmArchive, where: FilmFilter) -> list[dict[str, Any]]:
    """The printed films that match, oldest first, as film rows of the index (archive/film_index.py)."""
    return archive.index.find_films(where)


_COLUMNS = (
    ("PRINTED", "requested_at"),
    ("CALLING AE", "calling_ae_title"),
    ("PRINTER", "printer"),
    ("LABEL", "film_session_label"),
    ("PATIENT", "patient"),
    ("IDENTITY", "identity"),
    ("FILM", "film"),
    ("SIZE", "film_size_id"),
    ("FORMAT", "image_display_format"),
    ("PRINT JOB", "job_uid"),
)


def table(films: Sequence[dict[str, Any]]) -> str:
    """Films as a plain text table, one line each; text an SCU sent is shown, never interpreted."""
    lines = [[title for title, _ in _COLUMNS]]
    for film in films:
        values = {
            **film,
            "requested_at": str(film["requested_at"])[:19].replace("T", " "),
            "patient": _patient(film),
            "identity": _identity(film),
            "film": film["film_number"],
        }
        lines.append([_printable(values[key]) for _, key in _COLUMNS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _patient(film: dict[str, Any]) -> str:
    name, patient_id = _printable(film["patient_name"]), _printable(film["patient_id"])
    return " ".join(v for v in (name, patient_id and f"[{patient_id}]") if v)


def _identity(film: dict[str, Any]) -> str:
    """Where the identity came from, and "review" when it is unconfirmed (or unknown)."""
    source = film.get("identity_source") or "unknown"
    return source if film.get("identity_confirmed") == "1" else f"{source}, review"


def _printable(value: Any) -> str:
    """A value for a terminal: control characters (an escape sequence in a label, say) made visible."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(value or ""))


def show(archive: FilmArchive, films: Sequence[dict[str, Any]]) -> str:
    """Everything the archive knows of some films: the job, each film's layout and its files, checked."""
    out: list[str] = []
    for job_uid in dict.fromkeys(film["job_uid"] for film in films):
        job = [film for film in films if film["job_uid"] == job_uid]
        first = job[0]
        folder = archive.folder / first["folder"]
        out += [
            f"print job {job_uid}",
            f"  printed      {first['requested_at']} (rendered {first['rendered_at']})",
            f"  from         {_printable(first['calling_ae_title'])} to {_printable(first['called_ae_title'])}",
            f"  printer      {_printable(first['printer'])}",
            f"  label        {_printable(first['film_session_label'])}",
            f"  owner        {_printable(first['owner_id'])}",
            f"  patient      {_patient(first) or 'unknown'}",
            f"  identity     {_identity(first)}"
            + (f": {_printable(first['identity_review'])}" if first.get("identity_review") else ""),
            f"  study        {first['study_instance_uid']}",
            f"  copies       {first['number_of_copies']}",
            f"  folder       {folder}",
        ]
        try:
            history = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("identity_history", [])
        except (OSError, ValueError):
            history = []
        for change in history:  # each assignment, audited
            old, new = change.get("old", {}), change.get("new", {})
            out.append(
                f"  assigned     {change.get('at')} by {_printable(change.get('by'))}: "
                f"{_printable(old.get('patient_name'))} [{_printable(old.get('patient_id'))}] -> "
                f"{_printable(new.get('patient_name'))} [{_printable(new.get('patient_id'))}]"
            )
        for film in job:
            out += [
                f"  film {film['film_number']}: {film['film_size_id']} {film['image_display_format']}, "
                f"film box {film['film_box_uid']}",
                f"    Encapsulated PDF SOP Instance UID {film['sop_instance_uid']}",
            ]
            for kind in ("pdf", "png", "dcm"):
                path = folder / film[kind]
                out.append(f"    {kind}  {path}  {_check(path, film[f'{kind}_sha256'])}")
    return "\n".join(out)


def _check(path: Path, sha256: str) -> str:
    if not path.exists():
        return "MISSING"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{path.stat().st_size} bytes, sha256 ok" if digest == sha256 else "CHECKSUM MISMATCH"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_name(film: dict[str, Any], kind: str) -> str:
    """A file name for an exported film: printing time, sender, job, film; safe whatever the sender sent."""
    printed = re.sub(r"[^0-9]", "", str(film["requested_at"])[:19])
    calling = _UNSAFE.sub("_", str(film["calling_ae_title"]).strip()).strip("._") or "unknown"
    return f"{printed[:8]}-{printed[8:14]}_{calling}_{film['job_uid']}_film-{film['film_number']}.{kind}"


def export(archive: FilmArchive, films: Sequence[dict[str, Any]], destination: Path, dicom: bool = False) -> list[Path]:
    """Copy the films' PDFs (or their Encapsulated PDF DICOM files) into `destination`; the copies made."""
    destination.mkdir(parents=True, exist_ok=True)
    kind = "dcm" if dicom else "pdf"
    copied = []
    for film in films:
        source = archive.folder / film["folder"] / film[kind]
        target = destination / export_name(film, kind)
        shutil.copyfile(source, target)
        copied.append(target)
    return copied
