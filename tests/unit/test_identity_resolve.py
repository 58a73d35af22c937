"""Whose film is it: the order of trust among the identity sources, and when a person must look."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from test_record import v0_request

from printscp.identity.model import UNKNOWN, Identity
from printscp.identity.resolve import Sources, resolve
from printscp.model.record import ColorImage, PrintRequest

JANE = Identity("DOE^JANE", "P-1", "19700131", "F", "A-1", "1.2.3.1")
JOHN = Identity("DOE^JOHN", "P-2", "19650101", "M", "A-2", "1.2.3.2")


def anonymous() -> PrintRequest:
    return dataclasses.replace(v0_request(), proposed_study=None)


def entries(*found: Identity) -> object:
    asked: list[tuple[str, datetime]] = []

    def ask(calling_ae_title: str, printed_at: datetime) -> list[Identity]:
        asked.append((calling_ae_title, printed_at))
        return list(found)

    ask.asked = asked  # type: ignore[attr-defined]
    return ask


def ocr(result: Identity) -> object:
    def read(images: Sequence[tuple[np.ndarray, int]]) -> Identity:
        assert images and all(pixels.ndim == 2 for pixels, _ in images)
        return result

    return read


def test_the_scus_own_patient_comes_first_and_is_confirmed() -> None:
    worklist = entries(JANE)
    identity = resolve(v0_request(), Sources(worklist=worklist))  # type: ignore[arg-type]
    assert (identity.patient_name, identity.patient_id, identity.source, identity.confirmed) == (
        "DOE^JOHN",
        "P1",
        "scu",
        True,
    )
    assert identity.study_instance_uid == "1.2.826.0.1.3680043.2.1125.3"
    assert worklist.asked == []  # type: ignore[attr-defined]  # not asked: the SCU said


def test_a_label_in_the_configured_pattern_is_the_scus_word() -> None:
    seen: list[Sequence[str]] = []

    def labels(texts: Sequence[str]) -> Identity:
        seen.append(texts)
        return Identity("ROE^RICHARD", "P-9")

    identity = resolve(anonymous(), Sources(labels=labels, worklist=entries(JANE)))  # type: ignore[arg-type]
    assert identity.source == "label" and identity.confirmed and identity.patient_id == "P-9"
    assert seen == [["Ünïcode label", "TOP TEXT", "bottom"]]  # the label, then the annotation texts


def test_one_worklist_entry_confirms_and_brings_the_study() -> None:
    worklist = entries(JANE)
    identity = resolve(anonymous(), Sources(worklist=worklist))  # type: ignore[arg-type]
    assert identity == dataclasses.replace(JANE, source="worklist", confirmed=True)
    assert worklist.asked == [("MODALITY", anonymous().requested_at)]  # type: ignore[attr-defined]


def test_two_worklist_entries_are_left_for_a_person() -> None:
    identity = resolve(anonymous(), Sources(worklist=entries(JANE, JOHN)))  # type: ignore[arg-type]
    assert not identity.known and not identity.confirmed and identity.source is None
    assert identity.review.startswith("2 worklist entries match") and "P-1" in identity.review


def test_ocr_picks_one_of_several_entries_and_that_confirms_it() -> None:
    read = Identity("DOE JOHN", "p-2")  # as OCR reads it
    identity = resolve(anonymous(), Sources(worklist=entries(JANE, JOHN), ocr=ocr(read)))  # type: ignore[arg-type]
    assert identity == dataclasses.replace(JOHN, source="worklist", confirmed=True)


def test_ocr_contradicting_the_only_entry_is_for_review() -> None:
    read = Identity("SMITH^ANNA", "P-7")
    identity = resolve(anonymous(), Sources(worklist=entries(JANE), ocr=ocr(read)))  # type: ignore[arg-type]
    assert identity.patient_id == "P-1" and not identity.confirmed
    assert identity.review == "OCR read SMITH^ANNA (P-7), the worklist says DOE^JANE (P-1)"


def test_ocr_alone_proposes_but_does_not_confirm() -> None:
    read = Identity("DOE^JANE", "P-1", "19700131")
    identity = resolve(anonymous(), Sources(worklist=entries(), ocr=ocr(read)))  # type: ignore[arg-type]
    assert identity.patient_id == "P-1" and identity.source == "ocr" and not identity.confirmed
    assert identity.review == "read from the image by OCR only"


def test_the_pacs_is_asked_when_the_worklist_knows_nothing() -> None:
    identity = resolve(anonymous(), Sources(worklist=entries(), pacs=entries(JOHN)))  # type: ignore[arg-type]
    assert identity == dataclasses.replace(JOHN, source="pacs", confirmed=True)


def test_the_same_entry_twice_is_one_entry() -> None:
    identity = resolve(anonymous(), Sources(worklist=entries(JANE, JANE)))  # type: ignore[arg-type]
    assert identity.source == "worklist" and identity.confirmed


def test_no_source_no_identity() -> None:
    assert resolve(anonymous(), Sources()) == UNKNOWN
    assert resolve(anonymous(), Sources(ocr=ocr(UNKNOWN))) == UNKNOWN  # type: ignore[arg-type]


def test_colour_images_reach_ocr_as_their_luma() -> None:
    request = anonymous()
    film = request.films[0]
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # pure red: luma 0.299 x 200 = 60
    boxes = tuple(dataclasses.replace(box, image=ColorImage(64, 64, (1, 1), rgb)) for box in film.image_boxes)
    request = dataclasses.replace(request, films=(dataclasses.replace(film, image_boxes=boxes),))
    seen: list[tuple[np.ndarray, int]] = []

    def read(images: Sequence[tuple[np.ndarray, int]]) -> Identity:
        seen.extend(images)
        return Identity("DOE^JANE", "P-1")

    identity = resolve(request, Sources(ocr=read))
    assert identity.patient_id == "P-1" and identity.source == "ocr"
    assert len(seen) == len(boxes) and all(p.shape == (64, 64) and p.max() == 60 and bits == 8 for p, bits in seen)
