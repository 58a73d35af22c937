"""The SOP-class table (model/sop_classes.py) agrees with the model that holds its values and with the
conformance statement that documents it, so that neither can drift from what printscp does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_description

from printscp import uids
from printscp.errors import tag_str
from printscp.model import sop_classes
from printscp.model.profile import PrinterProfile
from printscp.model.record import FilmBoxAttributes
from printscp.model.session import AnnotationBox, FilmSession, ImageBox
from printscp.model.sop_classes import Service, Usage

CONFORMANCE = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"

# The model type that holds each class's values, and the table rows that are only checked, never held.
HOLDERS: dict[str, tuple[type, set[str]]] = {
    uids.BASIC_FILM_SESSION: (FilmSession, set()),
    uids.BASIC_FILM_BOX: (FilmBoxAttributes, {"referenced_film_session"}),
    uids.BASIC_GRAYSCALE_IMAGE_BOX: (ImageBox, set()),
    uids.BASIC_ANNOTATION_BOX: (AnnotationBox, set()),
}

# Where docs/conformance.md lists the request attributes of which classes, and for which service.
SECTIONS = {
    "4.2.1.4.3 Basic Film Session": ((uids.BASIC_FILM_SESSION,), Service.N_CREATE),
    "4.2.1.4.4 Basic Film Box": ((uids.BASIC_FILM_BOX,), Service.N_CREATE),
    "4.2.1.4.5 Basic Grayscale Image Box": ((uids.BASIC_GRAYSCALE_IMAGE_BOX, uids.BASIC_ANNOTATION_BOX), Service.N_SET),
}


@pytest.mark.parametrize("uid", sorted(HOLDERS), ids=uids.name)
def test_every_row_names_a_field_of_its_model(uid: str) -> None:
    holder, checked_only = HOLDERS[uid]
    fields = {f.name for f in dataclasses.fields(holder)}
    rows = {row.field for row in sop_classes.SOP_CLASSES[uid].attributes}
    assert rows - checked_only <= fields, rows - checked_only - fields


def test_every_film_box_attribute_is_a_row() -> None:
    """FilmBoxAttributes holds exactly the Film Box's table rows: one row and one field per attribute."""
    rows = {row.field for row in sop_classes.BASIC_FILM_BOX.attributes} - {"referenced_film_session"}
    assert rows == {f.name for f in dataclasses.fields(FilmBoxAttributes)}


def test_defaults_make_a_valid_film_box() -> None:
    """With only the mandatory Image Display Format, the table's defaults construct a Film Box."""
    from printscp.model.layout import ImageDisplayFormat

    values = sop_classes.BASIC_FILM_BOX.defaults(PrinterProfile())
    attributes = FilmBoxAttributes(**values, image_display_format=ImageDisplayFormat.parse("STANDARD\\1,1"))
    assert attributes.film_size_id == PrinterProfile().defaults.film_size_id


def test_sop_classes_supported_follow_what_the_printer_offers() -> None:
    full = sop_classes.supported_sop_classes(PrinterProfile(annotation_display_formats={"LABEL": _label()}))
    assert full == [
        uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META,
        uids.PRINT_JOB,
        uids.PRINTER_CONFIGURATION_RETRIEVAL,
        uids.PRESENTATION_LUT,
        uids.BASIC_ANNOTATION_BOX,
    ]
    bare = sop_classes.supported_sop_classes(PrinterProfile(supports_presentation_lut=False))
    assert uids.PRESENTATION_LUT not in bare and uids.BASIC_ANNOTATION_BOX not in bare


def _label() -> object:
    from printscp.model.profile import AnnotationDisplayFormat

    return AnnotationDisplayFormat(boxes=((0.0, 0.0, 1.0, 0.05),))


def _documented(section_title: str) -> dict[str, str]:
    """Tag -> SCU/SCP usage of the attribute table that follows a heading of docs/conformance.md."""
    text = CONFORMANCE.read_text()
    start = text.index(section_title)
    end = text.index("\n#####", start + 1)
    rows = re.findall(r"^\| [^|]+ \| (\([0-9A-F]{4},[0-9A-F]{4}\)) \| ([-UMC/]+) \|", text[start:end], re.M)
    return dict(rows)


@pytest.mark.parametrize("title", sorted(SECTIONS))
def test_the_conformance_statement_lists_each_attribute_with_its_usage(title: str) -> None:
    classes, service = SECTIONS[title]
    documented = _documented(title)
    table = {
        tag_str(row.tag): str(row.usage(service))
        for uid in classes
        for row in sop_classes.SOP_CLASSES[uid].attributes
        if row.usage(service) is not None
    }
    missing = {tag: f"{dictionary_description(int(tag[1:5] + tag[6:10], 16))} {usage}" for tag, usage in table.items()}
    for tag in documented.keys() & table.keys():
        missing.pop(tag)
    assert not missing, f"attributes of the table that {title} does not list: {missing}"
    assert documented == table, "usage in the conformance statement differs from the table"


def test_usages_are_the_standards() -> None:
    assert {str(u) for u in Usage} == {"M/M", "U/M", "U/U", "U/MC"}
