"""Personalities driven through the engine: each leniency of model/personality.py, on a `strict` printer (the
exact PS3.4 H status, as before personalities existed) and on a `compatible` one (accepted and mapped)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pypdf import PdfReader
from test_engine import (
    ANNOTATION,
    FILM_BOX,
    IMAGE_BOX,
    META,
    PLUT,
    SESSION,
    Harness,
    _raw_text,
    dataset,
    fails,
    lut_request,
    reference,
    wire,
)

from printscp.engine import Outcome
from printscp.model.record import PrintRequest
from printscp.model.session import AnnotationBox, FilmBox
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo
from printscp.status import Status

ILLUMINATION, REFLECTED_AMBIENT_LIGHT, REFERENCED_PLUT = 0x2010015E, 0x20100160, 0x20500500
ANNOTATION_POSITION, TEXT_STRING = 0x20300010, 0x20300020
ALIASES = {
    "FilmSizeID": {"14X17": "14INX17IN"},
    "MediumType": {"FILM": "BLUE FILM"},
    "FilmDestination": {"BIN1": "BIN_1"},
    "MagnificationType": {"SINC": "CUBIC"},
    "SmoothingType": {"3": "SHARP", "140": "SMOOTH"},
    "ConfigurationInformation": {"CS005": "CS700", "PERCEPTION_LUT=LINEAR": "CS500"},
    "RequestedResolutionID": {"HI": "HIGH"},
    "AnnotationDisplayFormatID": {"ANNOTATION": "TOP_BOTTOM"},
}


def strict(**changes: Any) -> Harness:
    return Harness(personality="strict", term_aliases=ALIASES, **changes)


def compatible(**changes: Any) -> Harness:
    return Harness(personality="compatible", term_aliases=ALIASES, **changes)


def printed(h: Harness, box: str) -> PrintRequest:
    assert h.engine.n_action(META, FILM_BOX, box, 1, None).status is Status.SUCCESS
    return h.submitted[-1]


# --- Leniency.FILM_SESSION_PRESENTATION ------------------------------------------------------------------------


def session_presentation(plut: str | None = None, illumination: int = 1500, ambient: int = 20) -> Dataset:
    ds = dataset(Illumination=illumination, ReflectedAmbientLight=ambient)
    if plut is not None:
        ds.ReferencedPresentationLUTSequence = [reference(PLUT, plut)]
    return wire(ds)


def test_film_session_presentation_attributes() -> None:
    # strict: Film Box attributes since CP 173, so 0105 in a Film Session, N-CREATE and N-SET alike
    h = strict()
    plut = h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "IDENTITY"})).affected_sop_instance_uid
    error = fails(Status.NO_SUCH_ATTRIBUTE, h.engine.n_create, META, SESSION, None, session_presentation(plut))
    assert set(error.offending) == {ILLUMINATION, REFLECTED_AMBIENT_LIGHT, REFERENCED_PLUT}
    session = h.session()
    fails(Status.NO_SUCH_ATTRIBUTE, h.engine.n_set, META, SESSION, session, wire({"Illumination": 1500}))

    # compatible: kept, returned by N-GET, and used by each Film Box without its own
    h = compatible()
    plut = h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "LIN OD"})).affected_sop_instance_uid
    assert plut is not None
    created = h.engine.n_create(META, SESSION, None, session_presentation(plut))
    assert created.status is Status.SUCCESS and created.affected_sop_instance_uid
    session = created.affected_sop_instance_uid
    got = h.engine.n_get(META, SESSION, session, []).dataset
    assert got is not None and (got.Illumination, got.ReflectedAmbientLight) == (1500, 20)
    assert got.ReferencedPresentationLUTSequence[0].ReferencedSOPInstanceUID == plut
    box, images, outcome = h.film_box(session)
    assert outcome.dataset is not None and (outcome.dataset.Illumination, outcome.dataset.ReflectedAmbientLight) == (
        1500,
        20,
    )
    h.set_image(images[0], 1)
    film = printed(h, box).films[0]
    assert (film.illumination, film.reflected_ambient_light, film.referenced_presentation_lut) == (1500, 20, plut)
    assert film.image_boxes[0].presentation_lut is not None
    assert film.image_boxes[0].presentation_lut.sop_instance_uid == plut
    # N-SET of the session reaches the boxes without their own when they are printed
    assert h.engine.n_set(META, SESSION, session, wire({"Illumination": 1700})).status is Status.SUCCESS
    assert printed(h, box).films[0].illumination == 1700
    # a Film Box that sends its own keeps it
    own, own_images, _ = h.film_box(session, Illumination=900)
    h.set_image(own_images[0], 1)
    film = printed(h, own).films[0]
    assert (film.illumination, film.reflected_ambient_light) == (900, 20)


def test_film_session_presentation_values_are_checked_like_the_film_boxs() -> None:
    h = compatible()
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, SESSION, None, wire({"Illumination": 0}))
    unknown = wire(dataset(ReferencedPresentationLUTSequence=[reference(PLUT, "1.2.3.4")]))
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, SESSION, None, unknown, offending=REFERENCED_PLUT)
    # P-LUT capability switched off: 0105 as for the Film Box's rows
    fails(
        Status.NO_SUCH_ATTRIBUTE,
        compatible(supports_presentation_lut=False).engine.n_create,
        META,
        SESSION,
        None,
        wire({"Illumination": 1500}),
    )
    # a session P-LUT must fit the images already set in boxes without their own, and is not deleted in use
    session = h.session()
    _, images, _ = h.film_box(session)
    h.set_image(images[0], 1)  # 12-bit
    table = h.engine.n_create(PLUT, PLUT, None, lut_request(entries=256, bits=10)).affected_sop_instance_uid
    assert table is not None
    sent = wire(dataset(ReferencedPresentationLUTSequence=[reference(PLUT, table)]))
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_set, META, SESSION, session, sent, offending=REFERENCED_PLUT)
    shape = h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "IDENTITY"})).affected_sop_instance_uid
    assert shape is not None
    sent = wire(dataset(ReferencedPresentationLUTSequence=[reference(PLUT, shape)]))
    assert h.engine.n_set(META, SESSION, session, sent).status is Status.SUCCESS
    fails(Status.PROCESSING_FAILURE, h.engine.n_delete, PLUT, PLUT, shape)
    # an empty sequence removes the session's reference (as for a Film Box)
    cleared = Dataset()
    cleared.ReferencedPresentationLUTSequence = []
    assert h.engine.n_set(META, SESSION, session, wire(cleared)).status is Status.SUCCESS
    assert h.engine.n_delete(PLUT, PLUT, shape).status is Status.SUCCESS


# --- Leniency.VENDOR_TERMS -----------------------------------------------------------------------------------


VENDOR_FILM_BOX = {
    "FilmSizeID": "14X17",
    "MagnificationType": "SINC",
    "SmoothingType": "3",
    "ConfigurationInformation": "CS005",
    "RequestedResolutionID": "HI",
    "AnnotationDisplayFormatID": "ANNOTATION",
}


def test_vendor_terms() -> None:
    # strict: aliases are ignored, each vendor term is 0116 and the printer's default is used (as ever)
    h = strict(annotation=True)
    created = h.engine.n_create(META, SESSION, None, wire({"MediumType": "FILM", "FilmDestination": "BIN1"}))
    assert created.status is Status.ATTRIBUTE_VALUE_OUT_OF_RANGE and len(created.warnings) == 2
    _, _, outcome = h.film_box(created.affected_sop_instance_uid, **VENDOR_FILM_BOX)  # type: ignore[arg-type]
    assert {w.status for w in outcome.warnings} == {Status.ATTRIBUTE_VALUE_OUT_OF_RANGE}
    assert len(outcome.warnings) == len(VENDOR_FILM_BOX)
    box = h.engine.hierarchy.last_film_box()
    assert box is not None and (box.attributes.smoothing_type, box.attributes.configuration_information) == (
        "MEDIUM",
        "CS500",
    )

    # compatible: accepted with no warning, stored (and returned) as the supported term
    h = compatible(annotation=True)
    created = h.engine.n_create(META, SESSION, None, wire({"MediumType": "FILM", "FilmDestination": "BIN1"}))
    assert created.status is Status.SUCCESS and created.dataset is not None
    assert (created.dataset.MediumType, created.dataset.FilmDestination) == ("BLUE FILM", "BIN_1")
    session = created.affected_sop_instance_uid
    assert session is not None
    box_uid, images, outcome = h.film_box(session, **VENDOR_FILM_BOX)
    assert outcome.status is Status.SUCCESS and not outcome.warnings
    ds = outcome.dataset
    assert ds is not None
    assert (ds.FilmSizeID, ds.MagnificationType, ds.SmoothingType) == ("14INX17IN", "CUBIC", "SHARP")
    assert (ds.ConfigurationInformation, ds.RequestedResolutionID, ds.AnnotationDisplayFormatID) == (
        "CS700",
        "HIGH",
        "TOP_BOTTOM",
    )
    assert len(ds.ReferencedBasicAnnotationBoxSequence) == 2
    # N-SET of the Film Box and the Image Box overrides too; a term without an alias is still 0116
    set_box = h.engine.n_set(META, FILM_BOX, box_uid, wire({"ConfigurationInformation": "PERCEPTION_LUT=LINEAR"}))
    assert set_box.status is Status.SUCCESS and set_box.dataset is not None
    assert set_box.dataset.ConfigurationInformation == "CS500"
    overrides = h.set_image(images[0], 1, SmoothingType="140", ConfigurationInformation="CS005")
    assert overrides.status is Status.SUCCESS
    image_box = h.engine.n_get(META, IMAGE_BOX, images[0], []).dataset
    assert image_box is not None and (image_box.SmoothingType, image_box.ConfigurationInformation) == (
        "SMOOTH",
        "CS700",
    )
    unknown = h.set_image(images[0], 1, SmoothingType="7")
    assert unknown.status is Status.ATTRIBUTE_VALUE_OUT_OF_RANGE


# --- Leniency.ANNOTATION_POSITION --------------------------------------------------------------------------


def annotated(h: Harness, annotation_format: str = "TOP_BOTTOM") -> tuple[str, list[AnnotationBox]]:
    session = h.session()
    box_uid, images, _ = h.film_box(session, AnnotationDisplayFormatID=annotation_format)
    h.set_image(images[0], 1)
    box = h.engine.hierarchy.last_film_box()
    assert isinstance(box, FilmBox)
    return box_uid, box.annotation_boxes


def set_annotation(h: Harness, box: AnnotationBox, position: int, text: str | None) -> Outcome:
    ds = dataset(AnnotationPosition=position)
    if text is not None:
        ds.TextString = text
    return h.engine.n_set(ANNOTATION, ANNOTATION, box.sop_instance_uid, wire(ds))


def texts(boxes: list[AnnotationBox]) -> list[str]:
    return [box.text_string for box in boxes]


def test_annotation_position_other_than_the_boxs() -> None:
    # strict: 0106 naming Annotation Position, and the film still prints, without that text
    h = strict(annotation=True)
    film, boxes = annotated(h, "LABEL")
    error = fails(Status.INVALID_ATTRIBUTE_VALUE, set_annotation, h, boxes[0], 2, "AGFA", offending=ANNOTATION_POSITION)
    assert "does not match" in error.message
    fails(Status.INVALID_ATTRIBUTE_VALUE, set_annotation, h, boxes[0], 0, "KODAK")
    assert [a.text_string for a in printed(h, film).films[0].annotations] == [""]

    # compatible: the text goes where the SCU meant it, or to the nearest free box; never lost, never failed
    h = compatible(annotation=True)
    film, boxes = annotated(h)
    # DCMTK: annotation box UIDs taken in list order whatever their position
    assert set_annotation(h, boxes[0], 2, "bottom").status is Status.SUCCESS
    assert set_annotation(h, boxes[1], 1, "top").status is Status.SUCCESS
    assert texts(boxes) == ["top", "bottom"]
    got = h.engine.n_get(ANNOTATION, ANNOTATION, boxes[1].sop_instance_uid, []).dataset
    assert got is not None and (got.AnnotationPosition, got.TextString) == (2, "bottom")
    annotations = printed(h, film).films[0].annotations
    assert [(a.annotation_position, a.text_string) for a in annotations] == [(1, "top"), (2, "bottom")]


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ([(0, 0, "kodak")], ["kodak", ""]),  # position 0: the nearest is 1
        ([(0, 7, "far")], ["", "far"]),  # beyond the format: the nearest is the last
        ([(1, 1, "first"), (1, 1, "again")], ["again", ""]),  # a box's N-SET replaces what it wrote before
        ([(0, 1, "own"), (0, 2, "moved")], ["", "moved"]),  # ... in its own box too
        ([(0, 2, "x"), (0, 2, "")], ["", ""]),  # an empty text erases what the box wrote
        ([(1, 2, "bottom"), (0, 2, "second")], ["second", "bottom"]),  # position taken: nearest free
        # box 1 put its text in 2, then set its own; box 2's text finds none free: appended to the last box
        ([(0, 2, "a"), (0, 1, "b"), (1, 1, "c")], ["b", "a c"]),
        ([(0, 2, None)], ["", ""]),  # no Text String: nothing to place
        ([(0, 2, "placed"), (1, 2, "own")], ["placed", "own"]),  # the box's own text moves a placed one on
    ],
)
def test_annotation_placement(sets: list[tuple[int, int, str | None]], expected: list[str]) -> None:
    h = compatible(annotation=True)
    _, boxes = annotated(h)
    for index, position, text in sets:
        assert set_annotation(h, boxes[index], position, text).status is Status.SUCCESS
    assert texts(boxes) == expected


def test_texts_placed_together_print_whole_and_answer_as_lo() -> None:
    h = compatible(annotation=True)
    film, boxes = annotated(h)
    set_annotation(h, boxes[0], 2, "A" * 60)
    set_annotation(h, boxes[0], 1, "own")
    set_annotation(h, boxes[1], 1, "B" * 60)  # nowhere free: appended to the last box
    got = h.engine.n_get(ANNOTATION, ANNOTATION, boxes[1].sop_instance_uid, []).dataset
    assert got is not None and got.TextString == "A" * 60 + " BBB"  # LO: 64 characters
    assert printed(h, film).films[0].annotations[1].text_string == "A" * 60 + " " + "B" * 60


# --- Leniency.ANNOTATION_TEXT ------------------------------------------------------------------------------


def annotation_text(h: Harness, box: AnnotationBox, value: bytes, character_set: str | None = None) -> Outcome:
    request = dataset(AnnotationPosition=box.annotation_position)
    if character_set:
        request.SpecificCharacterSet = character_set
    sent = _raw_text(request, TEXT_STRING, "LO", value)
    return h.engine.n_set(ANNOTATION, ANNOTATION, box.sop_instance_uid, sent)


STRICT_TEXT_FAILURES = [
    b"x" * 80,  # LO is 64 characters
    b"line\rfeed\x07",  # control characters
    b"caf\xe9",  # outside the default repertoire, no Specific Character Set
]


def test_annotation_text() -> None:
    h = strict(annotation=True)
    _, boxes = annotated(h, "LABEL")
    for value in STRICT_TEXT_FAILURES:
        fails(Status.INVALID_ATTRIBUTE_VALUE, annotation_text, h, boxes[0], value, offending=TEXT_STRING)
    assert texts(boxes) == [""]

    h = compatible(annotation=True)
    film, boxes = annotated(h, "LABEL")
    repaired = []
    for value in [*STRICT_TEXT_FAILURES, b"NEL\x85C1\x9f end  "]:
        assert annotation_text(h, boxes[0], value).status is Status.SUCCESS
        repaired.append(boxes[0].text_string)
    # cut to 64; controls (C0, DEL, and C1 of bytes read as ISO_IR 100) become spaces
    assert repaired == ["x" * 64, "line feed", "café", "NEL C1  end"]
    assert printed(h, film).films[0].annotations[0].text_string == "NEL C1  end"
    # text that is not valid in the session's character set is kept with U+FFFD where it was
    h = compatible(annotation=True)
    session = h.session(SpecificCharacterSet="ISO_IR 192")
    h.film_box(session, AnnotationDisplayFormatID="LABEL")
    last = h.engine.hierarchy.last_film_box()
    assert last is not None
    assert annotation_text(h, last.annotation_boxes[0], b"Caf\xe9!", "ISO_IR 192").status is Status.SUCCESS
    assert last.annotation_boxes[0].text_string == "Caf\ufffd!"


def test_a_film_prints_whatever_its_annotation_text() -> None:
    """The renderer draws any text a personality lets through: no glyph, C1 controls, line separators,
    astral characters, very long: the N-ACTION's job never fails over annotation text."""
    h = compatible(annotation=True)
    film, boxes = annotated(h)
    set_annotation(h, boxes[0], 1, "日本語 \U0001f600 \u2029 \u0085 \ufffd")
    set_annotation(h, boxes[1], 5, "W" * 64)
    set_annotation(h, boxes[1], 5, "long " * 12)  # appended: > 64 characters on one line
    request = printed(h, film)
    rendered = render_job(request, h.engine.profile, DocumentInfo("", "MODALITY", "printscp"))
    assert len(rendered.films) == 1 and rendered.films[0].png.startswith(b"\x89PNG")
    assert len(PdfReader(io.BytesIO(rendered.films[0].pdf)).pages) == 1
