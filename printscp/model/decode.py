"""A request's data set -> model values, by the attribute table of its SOP class (model/sop_classes.py).

PS3.4 H.2.4 and PS3.7 10.1:

* an attribute the table does not list for the operation      -> 0105 No such Attribute
  (or lists but this printer's profile switches off, or its personality does not admit)
* an M/M attribute that is absent                              -> 0120 Missing Attribute
* an M/M attribute that is present but empty                   -> 0121 Missing Attribute Value
* a value that pydicom cannot read, or that its rule refuses   -> 0106 Invalid Attribute Value (model/values.py)

Errors are raised; warnings are appended to `Context.warnings`. The result holds only what the SCU
sent, as model field -> value; the model merges it with the table's defaults.
"""

from __future__ import annotations

from typing import Any

from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from printscp.errors import InvalidAttributeValue, MissingAttribute, MissingAttributeValue, NoSuchAttribute
from printscp.model.reading import read_element
from printscp.model.session import same_character_set
from printscp.model.sop_classes import Service, SOPClass, Usage
from printscp.model.values import Context, check_vr, describe, is_empty

SPECIFIC_CHARACTER_SET = 0x00080005


def decode(dataset: Dataset | None, sop_class: SOPClass, service: Service, ctx: Context) -> dict[str, Any]:
    """Check `dataset` against the attributes `sop_class` takes in `service`; model field -> value sent."""
    dataset = dataset if dataset is not None else Dataset()
    rows = {row.tag: row for row in sop_class.request_attributes(service, ctx.profile)}
    # Group lengths carry no attribute; Specific Character Set only says how the text is encoded.
    ignored = {SPECIFIC_CHARACTER_SET} - set(rows)
    # keys() gives tags without reading values, so unreadable bytes cannot fail this scan
    unknown = [Tag(t) for t in dataset.keys() if t not in rows and Tag(t).element != 0 and t not in ignored]
    if unknown:
        raise NoSuchAttribute(
            f"{', '.join(describe(t) for t in unknown[:3])}{' ...' if len(unknown) > 3 else ''} "
            "not supported for this operation",
            unknown,
        )
    values: dict[str, Any] = {}
    for tag, row in rows.items():
        usage = row.usage(service)
        if tag not in dataset:
            if usage is Usage.MM:
                raise MissingAttribute(f"{describe(tag)} is required", [tag])
            continue
        elem = read_element(dataset, tag, text_rules=not row.relaxed(ctx.profile))
        check_vr(elem)
        if elem.VR != "SQ" and is_empty(elem):
            if usage is Usage.MM:
                raise MissingAttributeValue(f"{describe(tag)} is empty", [tag])
            if row.field == "text_string":  # an empty Text String erases the annotation (H.4.5.1.2.1)
                values[row.field] = ""
            continue
        values[row.field] = row.parse(elem, ctx)
    return values


def apply_session_character_set(dataset: Dataset, character_set: tuple[str, ...]) -> None:
    """PS3.4 H.4.2.2.1.3: Film and Annotation Boxes are in their Film Session's character set; a request
    naming another is 0106, one naming none is read in the session's."""
    if SPECIFIC_CHARACTER_SET in dataset:
        sent = read_element(dataset, SPECIFIC_CHARACTER_SET).value
        terms = tuple(t.strip() for t in ([sent] if isinstance(sent, str) else list(sent or [])))
        if not same_character_set(terms, character_set):
            raise InvalidAttributeValue(
                f"Specific Character Set (0008,0005) {'/'.join(terms) or 'default'} differs from the Film "
                f"Session's {'/'.join(character_set) or 'default'} (PS3.4 H.4.2.2.1.3)",
                [SPECIFIC_CHARACTER_SET],
            )
    elif character_set:
        dataset.SpecificCharacterSet = list(character_set)
        # pydicom decodes received text in the character set the data set was read with, not in the one set
        # after: the request's text is in the session's
        implicit_vr, little_endian = dataset.original_encoding
        dataset.set_original_encoding(implicit_vr, little_endian, convert_encodings(list(character_set)))
