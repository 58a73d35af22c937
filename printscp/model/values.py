"""Value rules of print management attributes: how one element of a request is read and checked.

Each parser takes a converted `DataElement` and the decoding `Context` and returns the model's value,
raises the `PrintError` the standard gives for a bad value, or records a warning (PS3.4 H.2.4):

* a value that is malformed, of the wrong VR or VM, or not an
  Enumerated Value of PS3.3                                    -> 0106 Invalid Attribute Value
* a well-formed Defined Term this printer does not support     -> 0116 warning, the profile's default used
* Min/Max Density outside the printer's range                  -> B605 warning, clamped

`read_element` (model/reading.py) is the one place where bytes an SCU sent are turned into values by pydicom; an
exception there is the SCU's malformed data (0106 naming the element). Parsers run on values that
are already read, so an exception inside one is a bug of ours, answered 0110 by the handlers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pydicom.charset
from pydicom.datadict import dictionary_description, dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from printscp import uids
from printscp.errors import InvalidAttributeValue, MissingAttribute, PrintWarning, tag_str
from printscp.model.layout import ImageDisplayFormat, LayoutError
from printscp.model.personality import Leniency
from printscp.model.profile import PrinterProfile
from printscp.model.record import ProposedStudy, frozen_mapping
from printscp.model.session import Hierarchy
from printscp.status import Status


@dataclass
class Context:
    """What decoding needs besides the dataset: the printer's profile and the association's instances."""

    profile: PrinterProfile
    hierarchy: Hierarchy
    warnings: list[PrintWarning] = field(default_factory=list)

    def warn(self, status: Status, message: str, tag: int | None = None) -> None:
        self.warnings.append(PrintWarning(status, message, (tag,) if tag is not None else ()))


Parser = Callable[[DataElement, Context], Any]


@functools.cache  # the dictionary of a few hundred keywords this package names, looked up per request
def tag_of(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


def describe(tag: int) -> str:
    """'Number of Copies (2000,0010)': the attribute's name in PS3.6 and its tag."""
    try:
        name = dictionary_description(tag)
    except KeyError:
        name = "Private attribute" if (tag >> 16) % 2 else "Unknown attribute"
    return f"{name} {tag_str(tag)}"


# --- element access with VR, VM and type checks -------------------------------------------------------


def check_vr(elem: DataElement) -> None:
    try:
        allowed = dictionary_VR(elem.tag).split(" or ")
    except KeyError:
        return
    if elem.VR not in allowed:
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} has VR {elem.VR}, expected {' or '.join(allowed)}", [elem.tag]
        )


def is_empty(elem: DataElement) -> bool:
    value = elem.value
    return value is None or value == "" or (isinstance(value, (list, bytes, DicomSequence)) and len(value) == 0)


def read_single(elem: DataElement) -> Any:
    if elem.VM != 1:
        raise InvalidAttributeValue(f"{describe(elem.tag)} must have one value, has {elem.VM}", [elem.tag])
    return elem.value


def read_string(elem: DataElement) -> str:
    value = read_single(elem)
    if not isinstance(value, str):
        raise InvalidAttributeValue(f"{describe(elem.tag)} is not a string", [elem.tag])
    return value.strip()


def read_integer(elem: DataElement) -> int:
    value = read_single(elem)
    # pydicom leaves an IS it cannot convert as a str; US/SS arrive as int
    if isinstance(value, bool) or not isinstance(value, int) or value != int(value):
        raise InvalidAttributeValue(f"{describe(elem.tag)} value {value!r} is not an integer", [elem.tag])
    return int(value)


# --- parsers -----------------------------------------------------------------------------------------


def enumerated(enum: type[StrEnum]) -> Parser:
    """Enumerated Values: a closed set; anything else is 0106."""

    def parse(elem: DataElement, ctx: Context) -> StrEnum:
        value = read_string(elem)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise InvalidAttributeValue(f"{describe(elem.tag)} '{value}' is not one of {allowed}", [elem.tag]) from None

    return parse


_CS = re.compile(r"[A-Z0-9 _]{1,16}")


def vendor_term(value: str, elem: DataElement, ctx: Context) -> str | None:
    """The supported term the printer's `term_aliases` map a vendor's Defined Term to (Leniency.VENDOR_TERMS:
    accepted as listed, with no warning), or None: no alias, or a personality that does not allow them."""
    if not ctx.profile.allows(Leniency.VENDOR_TERMS):
        return None
    return ctx.profile.term_aliases.get(keyword_for_tag(elem.tag), {}).get(value)


def defined_term(
    supported: Callable[[PrinterProfile], Iterable[str]],
    default: Callable[[PrinterProfile], str] | None,
    convert: Callable[[str], Any] = str,
) -> Parser:
    """Defined Terms: open sets; a well-formed term the printer does not support gives 0116 and the
    default: the profile's, or (default None, for Image Box overrides) the Film Box's value."""

    def parse(elem: DataElement, ctx: Context) -> Any:
        value = read_string(elem)
        alias = vendor_term(value, elem, ctx)  # before the CS check: the printer lists it as its vendor spells it
        if alias is not None:
            return convert(alias)
        if not _CS.fullmatch(value):
            raise InvalidAttributeValue(f"{describe(elem.tag)} '{value}' is not a valid CS value", [elem.tag])
        if value in supported(ctx.profile):
            return convert(value)
        if default is None:
            ctx.warn(
                Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
                f"{describe(elem.tag)} '{value}' is not supported; using the Film Box's",
                elem.tag,
            )
            return None
        substitute = default(ctx.profile)
        ctx.warn(
            Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
            f"{describe(elem.tag)} '{value}' is not supported; using '{substitute}'",
            elem.tag,
        )
        return convert(substitute)

    return parse


def text(max_length: int, repaired_by: Leniency | None = None) -> Parser:
    """LO (64) or SH (16) text; longer values or control characters are invalid (PS3.5 6.2), unless the
    personality allows `repaired_by`: then control characters become spaces and the text is cut to
    `max_length` (its row reads it without the VR's text rules, model/sop_classes.py `relaxed_by`)."""

    def parse(elem: DataElement, ctx: Context) -> str:
        value = read_single(elem)
        if not isinstance(value, str):
            raise InvalidAttributeValue(f"{describe(elem.tag)} is not text", [elem.tag])
        value = value.rstrip(" \x00")  # NUL padding is wrong but common: tolerated at the end only
        if repaired_by is not None and ctx.profile.allows(repaired_by):
            # C0, DEL and C1 (bytes 0x80-0x9F read in the default repertoire as ISO_IR 100 by pydicom)
            printable = "".join(" " if unicodedata.category(c) == "Cc" else c for c in value)
            return printable[:max_length].rstrip()
        control = next((c for c in value if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if control is not None:  # PS3.5 6.2: no control characters in LO and SH (ESC goes with decoding)
            raise InvalidAttributeValue(
                f"{describe(elem.tag)} contains the control character {ord(control):#04x}", [elem.tag]
            )
        if len(value) > max_length:
            raise InvalidAttributeValue(
                f"{describe(elem.tag)} is {len(value)} characters long, at most {max_length} allowed", [elem.tag]
            )
        return value

    return parse


def number_of_copies(elem: DataElement, ctx: Context) -> int:
    value = read_integer(elem)
    if value < 1:
        raise InvalidAttributeValue(f"{describe(elem.tag)} {value} must be at least 1", [elem.tag])
    limit = ctx.profile.max_number_of_copies
    if value > limit:
        ctx.warn(
            Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
            f"{describe(elem.tag)} {value} exceeds this printer's {limit}; printing {limit}",
            elem.tag,
        )
        return limit
    return value


def density_limit(elem: DataElement, ctx: Context) -> int:
    """Min/Max Density in hundredths of OD; outside the printer's range -> B605 and clamped (PS3.4 H.4.2.2.1.2)."""
    return _in_printer_range(read_integer(elem), elem, ctx, Status.DENSITY_OUT_OF_RANGE)


def _in_printer_range(density: int, elem: DataElement, ctx: Context, status: Status) -> int:
    """A density clamped to the printer's operating range, with a warning `status` when it was outside."""
    low, high = ctx.profile.min_density, ctx.profile.max_density
    clamped = min(max(density, low), high)
    if clamped != density:
        ctx.warn(
            status,
            f"{describe(elem.tag)} {density} is outside the printer's range {low}-{high}; using {clamped}",
            elem.tag,
        )
    return clamped


def border_density(elem: DataElement, ctx: Context) -> str:
    """Border / Empty Image Density: BLACK, WHITE or hundredths of OD (PS3.3 C.13.3)."""
    value = read_string(elem)
    if value in ("BLACK", "WHITE"):
        return value
    if not value.isdigit():
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} '{value}' is not BLACK, WHITE or a density in hundredths of OD", [elem.tag]
        )
    return str(_in_printer_range(int(value), elem, ctx, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE))


def integer_between(low: int, high: int) -> Parser:
    def parse(elem: DataElement, ctx: Context) -> int:
        value = read_integer(elem)
        if not low <= value <= high:
            raise InvalidAttributeValue(f"{describe(elem.tag)} {value} must be {low} to {high}", [elem.tag])
        return value

    return parse


def image_display_format(elem: DataElement, ctx: Context) -> ImageDisplayFormat:
    value = read_string(elem)
    try:
        fmt = ImageDisplayFormat.parse(value)
    except LayoutError as exc:
        raise InvalidAttributeValue(f"{describe(elem.tag)} {exc}", [elem.tag]) from None
    profile = ctx.profile
    if fmt.kind not in profile.image_display_formats:
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} '{value}': {fmt.kind} layouts are not supported "
            f"(supported: {', '.join(profile.image_display_formats)})",
            [elem.tag],
        )
    if fmt.kind == "CUSTOM" and str(fmt.counts[0]) not in profile.custom_display_formats:
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} '{value}' is not a layout of this printer "
            f"(CUSTOM {', '.join(profile.custom_display_formats) or 'none'})",
            [elem.tag],
        )
    if fmt.kind in ("SLIDE", "SUPERSLIDE") and fmt.kind not in profile.slide_formats:
        raise InvalidAttributeValue(f"{describe(elem.tag)} {fmt.kind} is not defined for this printer", [elem.tag])
    if fmt.kind in ("STANDARD", "ROW", "COL"):
        columns, rows = fmt.columns_and_rows
        if columns > profile.max_columns or rows > profile.max_rows:
            raise InvalidAttributeValue(
                f"{describe(elem.tag)} '{value}' needs {columns} columns and {rows} rows; this printer allows "
                f"at most {profile.max_columns} x {profile.max_rows}",
                [elem.tag],
            )
    return fmt


def configuration_information(film_box_fallback: bool) -> Parser:
    """An ID of the profile's contrast curves; others get 0116 and the default (or the Film Box's)."""

    def parse(elem: DataElement, ctx: Context) -> str | None:
        value = read_string(elem)
        if value in ctx.profile.contrast_curves:
            return value
        alias = vendor_term(value, elem, ctx)
        if alias is not None:
            return alias
        substitute = None if film_box_fallback else ctx.profile.defaults.configuration_information
        using = "the Film Box's" if substitute is None else f"'{substitute}'"
        ctx.warn(
            Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
            f"{describe(elem.tag)} '{value}' is not a configuration of this printer "
            f"({', '.join(ctx.profile.contrast_curves)}); using {using}",
            elem.tag,
        )
        return substitute

    return parse


# PS3.3 C.12.1.1.2 Defined Terms of Specific Character Set (single-byte, multi-byte with and without
# code extensions), those pydicom can decode.
CHARACTER_SETS = frozenset(
    {
        "ISO_IR 100",
        "ISO_IR 101",
        "ISO_IR 109",
        "ISO_IR 110",
        "ISO_IR 144",
        "ISO_IR 127",
        "ISO_IR 126",
        "ISO_IR 138",
        "ISO_IR 148",
        "ISO_IR 203",
        "ISO_IR 13",
        "ISO_IR 166",
        "ISO_IR 192",
        "GB18030",
        "GBK",
        "ISO 2022 IR 6",
        "ISO 2022 IR 100",
        "ISO 2022 IR 101",
        "ISO 2022 IR 109",
        "ISO 2022 IR 110",
        "ISO 2022 IR 144",
        "ISO 2022 IR 127",
        "ISO 2022 IR 126",
        "ISO 2022 IR 138",
        "ISO 2022 IR 148",
        "ISO 2022 IR 203",
        "ISO 2022 IR 13",
        "ISO 2022 IR 166",
        "ISO 2022 IR 87",
        "ISO 2022 IR 159",
        "ISO 2022 IR 149",
        "ISO 2022 IR 58",
    }
) & frozenset(pydicom.charset.python_encoding)


def specific_character_set(elem: DataElement, ctx: Context) -> tuple[str, ...]:
    values = elem.value
    terms = [values] if isinstance(values, str) else list(values or [])
    terms = [term.strip() for term in terms]
    for term in terms:
        if term and term not in CHARACTER_SETS:
            raise InvalidAttributeValue(f"{describe(elem.tag)} '{term}' is not a supported character set", [elem.tag])
    return tuple(terms)


def memory_allocation(elem: DataElement, ctx: Context) -> int:
    value = read_integer(elem)
    # PS3.4 H.4.1.2.1.2: an SCP that does not manage memory answers B600 and goes on
    ctx.warn(Status.MEMORY_ALLOCATION_NOT_SUPPORTED, "Memory Allocation is not supported; ignored", elem.tag)
    return value


_PROPOSED_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientAge",
    "EthnicGroup",
    "PatientComments",
    "OtherPatientIDs",
    "OtherPatientNames",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def proposed_study(elem: DataElement, ctx: Context) -> ProposedStudy | None:
    items = read_items(elem, maximum=1)
    if not items:
        return None
    item = items[0]
    values: dict[str, str] = {}
    for keyword in _PROPOSED_STUDY_KEYWORDS:
        if keyword in item and item[keyword].value not in (None, ""):
            value = item[keyword].value
            values[keyword] = "\\".join(str(v) for v in value) if isinstance(value, list) else str(value)
    study_uid = values.get("StudyInstanceUID")
    if study_uid is not None and not UID(study_uid).is_valid:  # it becomes the printed films' study
        raise InvalidAttributeValue(
            f"{describe(elem.tag)}: Study Instance UID '{study_uid}' is not a valid UID", [elem.tag]
        )
    return ProposedStudy(frozen_mapping(values))


def original_image(elem: DataElement, ctx: Context) -> tuple[Any, ...]:
    items = read_items(elem, maximum=None)
    keys = ("StudyInstanceUID", "SeriesInstanceUID", "ReferencedSOPClassUID", "ReferencedSOPInstanceUID")
    references = tuple(
        frozen_mapping({k: str(item[k].value) for k in keys if k in item and item[k].value}) for item in items
    )
    for reference in references:  # they go into the printed film's Source Instance Sequence
        for keyword, uid in reference.items():
            if not UID(uid).is_valid:
                raise InvalidAttributeValue(f"{describe(elem.tag)}: {keyword} '{uid}' is not a valid UID", [elem.tag])
    return references


def read_items(elem: DataElement, maximum: int | None, minimum: int = 0) -> list[Dataset]:
    if elem.VR != "SQ":
        raise InvalidAttributeValue(f"{describe(elem.tag)} must be a sequence", [elem.tag])
    items = list(elem.value or [])
    if len(items) < minimum or (maximum is not None and len(items) > maximum):
        expected = f"exactly {maximum}" if minimum == maximum else f"at most {maximum}"
        raise InvalidAttributeValue(f"{describe(elem.tag)} has {len(items)} items, {expected} allowed", [elem.tag])
    return items


def _reference(elem: DataElement, sop_class_uid: str) -> str:
    """The Referenced SOP Instance UID of a one-item reference sequence to `sop_class_uid`."""
    (item,) = read_items(elem, maximum=1, minimum=1)
    for keyword in ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"):
        if keyword not in item or is_empty(item[keyword]):
            raise MissingAttribute(f"{describe(elem.tag)} item has no {keyword}", [elem.tag, tag_of(keyword)])
    if str(item.ReferencedSOPClassUID) != sop_class_uid:
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} must reference a {uids.name(sop_class_uid)}, not {item.ReferencedSOPClassUID}",
            [elem.tag],
        )
    return str(item.ReferencedSOPInstanceUID)


def referenced_film_session(elem: DataElement, ctx: Context) -> str:
    uid = _reference(elem, uids.BASIC_FILM_SESSION)
    session = ctx.hierarchy.require_film_session()
    if uid != session.sop_instance_uid:
        raise InvalidAttributeValue(f"{describe(elem.tag)} is not this association's Film Session: {uid}", [elem.tag])
    return uid


def referenced_presentation_lut(elem: DataElement, ctx: Context) -> str | None:
    """The SOP Instance UID of a P-LUT this association created; an empty sequence removes the reference."""
    if elem.VR == "SQ" and not elem.value:
        return None
    return ctx.hierarchy.presentation_lut(_reference(elem, uids.PRESENTATION_LUT), elem.tag).sop_instance_uid


def requested_image_size(elem: DataElement, ctx: Context) -> float:
    value = read_single(elem)
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise InvalidAttributeValue(f"{describe(elem.tag)} {value!r} is not a number", [elem.tag]) from None
    if not 0 < size <= 1000:
        raise InvalidAttributeValue(f"{describe(elem.tag)} {size} mm is not a printable width", [elem.tag])
    return size


def annotation_display_format_id(elem: DataElement, ctx: Context) -> str:
    value = read_string(elem)
    formats = ctx.profile.annotation_display_formats
    value = vendor_term(value, elem, ctx) or value
    if value not in formats:
        substitute = ctx.profile.defaults.annotation_display_format_id
        ctx.warn(
            Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
            f"{describe(elem.tag)} '{value}' is not defined for this printer "
            f"({', '.join(formats) or 'none'}); using '{substitute or 'none'}'",
            elem.tag,
        )
        return substitute
    return value


# The Basic Grayscale Image Sequence item (PS3.4 Table H.4-10, PS3.3 C.13.5): pixel descriptions allowed.


def image_box_position(elem: DataElement, ctx: Context) -> int:
    return read_integer(elem)
