"""Deciding whose film it is, from the sources in order of trust (issue 16).

1. The SCU's own data: the Film Session's Proposed Study Sequence (PS3.3 C.13.1, retired but still sent),
   then the Film Session Label and annotation texts read with `[identity] label_patterns`. Confirmed.
2. The modality worklist: the steps scheduled on the calling AE title near the time of the print. One
   entry confirms it; several are left to a person, unless OCR picks exactly one of them.
3. The PACS: the study the modality sent last, near the time of the print; the same single-match rule.
4. OCR of the burnt-in text. Alone it proposes an identity but does not confirm it; read against worklist
   or PACS entries it picks or confirms one. When it contradicts the only entry, a person must look.

The sources are functions handed in (`Sources`), so this decision is plain code that unit tests drive
without a network or Tesseract; printing.py builds the real ones in the render worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from printscp.identity.model import UNKNOWN, Identity, Source, fold, from_proposed_study
from printscp.model.record import ColorImage, PrintRequest

Candidates = Callable[[str, datetime], list[Identity]]  # (calling AE title, printed at) -> entries found
Reader = Callable[[Sequence[tuple[np.ndarray, int]]], Identity]  # images (pixels, bits stored) -> identity
LabelReader = Callable[[Sequence[str]], Identity]  # texts -> identity by the label patterns


@dataclass(frozen=True)
class Sources:
    labels: LabelReader | None = None
    worklist: Candidates | None = None
    pacs: Candidates | None = None
    ocr: Reader | None = None


def resolve(request: PrintRequest, sources: Sources) -> Identity:
    """The identity of a print job's films, with its source, whether it is confirmed, and what to review."""
    scu = from_proposed_study(request)
    if scu.known:
        return scu
    if sources.labels is not None:
        labelled = sources.labels(_texts(request))
        if labelled.known:
            return labelled.with_source("label", confirmed=True)
    read = sources.ocr(_images(request)) if sources.ocr is not None else UNKNOWN
    for source, ask in (("worklist", sources.worklist), ("pacs", sources.pacs)):
        if ask is None:
            continue
        found = _distinct(ask(request.calling_ae_title, request.requested_at))
        if found:
            return _decide(source, found, read)  # type: ignore[arg-type]
    if read.known:
        return replace(read, source="ocr", confirmed=False, review="read from the image by OCR only")
    return UNKNOWN


def _decide(source: Source, found: list[Identity], read: Identity) -> Identity:
    if len(found) == 1:
        (entry,) = found
        if read.known and not agrees(read, entry):
            return replace(
                entry,
                source=source,
                confirmed=False,
                review=f"OCR read {_who(read)}, the {source} says {_who(entry)}",
            )
        return entry.with_source(source, confirmed=True)
    if read.known:
        agreeing = [entry for entry in found if agrees(read, entry)]
        if len(agreeing) == 1:  # OCR picks one of the entries: both sources say so
            return agreeing[0].with_source(source, confirmed=True)
    proposed = read if read.known else UNKNOWN
    return replace(
        proposed,
        source="ocr" if read.known else None,
        confirmed=False,
        review=f"{len(found)} {source} entries match ({'; '.join(_who(e) for e in found[:5])})",
    )


def agrees(read: Identity, entry: Identity) -> bool:
    """Whether an identity read by OCR is that entry's: the same Patient ID when both have one, else the
    same name (PN components compared without case, accents or separators)."""
    if read.patient_id and entry.patient_id:
        return read.patient_id.strip().casefold() == entry.patient_id.strip().casefold()
    return bool(read.patient_name) and fold(read.patient_name) == fold(entry.patient_name)


def _who(identity: Identity) -> str:
    return f"{identity.patient_name or '?'} ({identity.patient_id or 'no ID'})"


def _distinct(found: list[Identity]) -> list[Identity]:
    seen: dict[tuple[str, str, str], Identity] = {}
    for entry in found:
        seen.setdefault((entry.patient_id, entry.accession_number, entry.study_instance_uid), entry)
    return list(seen.values())


def _texts(request: PrintRequest) -> list[str]:
    texts = [request.film_session_label] if request.film_session_label else []
    for film in request.films:
        texts += [annotation.text_string for annotation in film.annotations if annotation.text_string]
    return texts


def _images(request: PrintRequest) -> list[tuple[np.ndarray, int]]:
    """Each image's pixels and bits for OCR: a colour one by its luma (burnt-in text is white or grey)."""
    images = []
    for film in request.films:
        for box in film.image_boxes:
            image = box.image.grayscale() if isinstance(box.image, ColorImage) else box.image
            if image is not None:
                images.append((image.pixels, image.bits_stored))
    return images
