"""Dataset <-> model: the one place that knows the tags, VRs and attribute tables of print management.

Decoding follows the attribute tables of PS3.4 H.4 (Film Session H.4-2, Film Box H.4-6 / H.4-7, Image
Box H.4-10, Annotation Box H.4-13, Presentation LUT H.4-23) and the usage rules of H.2.4:

* an attribute the table does not list for the operation      -> 0105 No such Attribute
* an M/M attribute that is absent                              -> 0120 Missing Attribute
* an M/M attribute that is present but empty                   -> 0121 Missing Attribute Value
* a value that is malformed, of the wrong VR or VM, or not an
  Enumerated Value of PS3.3                                    -> 0106 Invalid Attribute Value
* a well-formed Defined Term this printer does not support     -> 0116 warning, the profile's default used
* Min/Max Density outside the printer's range                  -> B605 warning, clamped
* a U/U attribute this printer's profile switches off          -> 0105 No such Attribute

Errors are raised; warnings are appended to `Context.warnings`. A decoded dataset becomes a dict of
model field name -> value holding only what the SCU sent; the engine merges it with defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import numpy as np
import pydicom.charset
from pydicom.datadict import dictionary_description, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID

from printscp import uids
from printscp.errors import (
    InvalidAttributeValue,
    MissingAttribute,
    MissingAttributeValue,
    NoSuchAttribute,
    PrintError,
    PrintWarning,
    tag_str,
)
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import MM_PER_INCH, ImageDisplayFormat, LayoutError, film_geometry
from printscp.model.profile import PrinterProfile
from printscp.model.record import GrayscaleImage, ProposedStudy, frozen_mapping
from printscp.model.session import AnnotationBox, FilmBox, FilmSession, Hierarchy, ImageBox, PresentationLUT
from printscp.status import Status

# (2100,0500): PS3.4 calls it Referenced Print Job Sequence; pydicom's keyword of that name is (2120,0070).
REFERENCED_PRINT_JOB_SEQUENCE = Tag(0x2100, 0x0500)


class Usage(Enum):
    MM = "M/M"
    UM = "U/M"
    UU = "U/U"


@dataclass
class Context:
    """What decoding needs besides the dataset: the printer's profile and the association's instances."""

    profile: PrinterProfile
    hierarchy: Hierarchy
    warnings: list[PrintWarning] = field(default_factory=list)

    def warn(self, status: Status, message: str, tag: int | None = None) -> None:
        self.warnings.append(PrintWarning(status, message, (tag,) if tag is not None else ()))


Parser = Callable[[DataElement, Context], Any]


@dataclass(frozen=True)
class Rule:
    """One row of an attribute table: keyword, model field, usage and how to read the value."""

    keyword: str
    field: str
    usage: Usage
    parse: Parser
    enabled: Callable[[PrinterProfile], bool] = lambda profile: True

    @property
    def tag(self) -> int:
        return _tag(self.keyword)


def _tag(keyword: str) -> int:
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


def _check_vr(elem: DataElement) -> None:
    try:
        allowed = dictionary_VR(elem.tag).split(" or ")
    except KeyError:
        return
    if elem.VR not in allowed:
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} has VR {elem.VR}, expected {' or '.join(allowed)}", [elem.tag]
        )


def _is_empty(elem: DataElement) -> bool:
    value = elem.value
    return value is None or value == "" or (isinstance(value, (list, bytes, DicomSequence)) and len(value) == 0)


def _single(elem: DataElement) -> Any:
    if elem.VM != 1:
        raise InvalidAttributeValue(f"{describe(elem.tag)} must have one value, has {elem.VM}", [elem.tag])
    return elem.value


def _string(elem: DataElement) -> str:
    value = _single(elem)
    if not isinstance(value, str):
        raise InvalidAttributeValue(f"{describe(elem.tag)} is not a string", [elem.tag])
    return value.strip()


def _integer(elem: DataElement) -> int:
    value = _single(elem)
    # pydicom leaves an IS it cannot convert as a str; US/SS arrive as int
    if isinstance(value, bool) or not isinstance(value, int) or value != int(value):
        raise InvalidAttributeValue(f"{describe(elem.tag)} value {value!r} is not an integer", [elem.tag])
    return int(value)


# --- parsers -----------------------------------------------------------------------------------------


def enumerated(enum: type[StrEnum]) -> Parser:
    """Enumerated Values: a closed set; anything else is 0106."""

    def parse(elem: DataElement, ctx: Context) -> StrEnum:
        value = _string(elem)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise InvalidAttributeValue(f"{describe(elem.tag)} '{value}' is not one of {allowed}", [elem.tag]) from None

    return parse


_CS = re.compile(r"[A-Z0-9 _]{1,16}")


def defined_term(
    supported: Callable[[PrinterProfile], Iterable[str]],
    default: Callable[[PrinterProfile], str] | None,
    convert: Callable[[str], Any] = str,
) -> Parser:
    """Defined Terms: open sets; a well-formed term the printer does not support gives 0116 and the
    default: the profile's, or (default None, for Image Box overrides) the Film Box's value."""

    def parse(elem: DataElement, ctx: Context) -> Any:
        value = _string(elem)
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


def text(max_length: int) -> Parser:
    """LO (64) or SH (16) text; longer values or control characters are invalid (PS3.5 6.2)."""

    def parse(elem: DataElement, ctx: Context) -> str:
        value = _single(elem)
        if not isinstance(value, str):
            raise InvalidAttributeValue(f"{describe(elem.tag)} is not text", [elem.tag])
        value = value.rstrip(" \x00")  # NUL padding is wrong but common: tolerated at the end only
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
    value = _integer(elem)
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
    value = _integer(elem)
    low, high = ctx.profile.min_density, ctx.profile.max_density
    if not low <= value <= high:
        clamped = min(max(value, low), high)
        ctx.warn(
            Status.DENSITY_OUT_OF_RANGE,
            f"{describe(elem.tag)} {value} is outside the printer's range {low}-{high}; using {clamped}",
            elem.tag,
        )
        return clamped
    return value


def border_density(elem: DataElement, ctx: Context) -> str:
    """Border / Empty Image Density: BLACK, WHITE or hundredths of OD (PS3.3 C.13.3)."""
    value = _string(elem)
    if value in ("BLACK", "WHITE"):
        return value
    if not value.isdigit():
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} '{value}' is not BLACK, WHITE or a density in hundredths of OD", [elem.tag]
        )
    density = int(value)
    low, high = ctx.profile.min_density, ctx.profile.max_density
    if not low <= density <= high:
        clamped = min(max(density, low), high)
        ctx.warn(
            Status.ATTRIBUTE_VALUE_OUT_OF_RANGE,
            f"{describe(elem.tag)} {density} is outside the printer's range {low}-{high}; using {clamped}",
            elem.tag,
        )
        density = clamped
    return str(density)


def integer_between(low: int, high: int) -> Parser:
    def parse(elem: DataElement, ctx: Context) -> int:
        value = _integer(elem)
        if not low <= value <= high:
            raise InvalidAttributeValue(f"{describe(elem.tag)} {value} must be {low} to {high}", [elem.tag])
        return value

    return parse


def image_display_format(elem: DataElement, ctx: Context) -> ImageDisplayFormat:
    value = _string(elem)
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
        value = _string(elem)
        if value in ctx.profile.contrast_curves:
            return value
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
    value = _integer(elem)
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
    items = _sequence(elem, maximum=1)
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
    items = _sequence(elem, maximum=None)
    keys = ("StudyInstanceUID", "SeriesInstanceUID", "ReferencedSOPClassUID", "ReferencedSOPInstanceUID")
    references = tuple(
        frozen_mapping({k: str(item[k].value) for k in keys if k in item and item[k].value}) for item in items
    )
    for reference in references:  # they go into the printed film's Source Instance Sequence
        for keyword, uid in reference.items():
            if not UID(uid).is_valid:
                raise InvalidAttributeValue(f"{describe(elem.tag)}: {keyword} '{uid}' is not a valid UID", [elem.tag])
    return references


def _sequence(elem: DataElement, maximum: int | None, minimum: int = 0) -> list[Dataset]:
    if elem.VR != "SQ":
        raise InvalidAttributeValue(f"{describe(elem.tag)} must be a sequence", [elem.tag])
    items = list(elem.value or [])
    if len(items) < minimum or (maximum is not None and len(items) > maximum):
        expected = f"exactly {maximum}" if minimum == maximum else f"at most {maximum}"
        raise InvalidAttributeValue(f"{describe(elem.tag)} has {len(items)} items, {expected} allowed", [elem.tag])
    return items


def _reference(elem: DataElement, sop_class_uid: str) -> str:
    """The Referenced SOP Instance UID of a one-item reference sequence to `sop_class_uid`."""
    (item,) = _sequence(elem, maximum=1, minimum=1)
    for keyword in ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID"):
        if keyword not in item or _is_empty(item[keyword]):
            raise MissingAttribute(f"{describe(elem.tag)} item has no {keyword}", [elem.tag, _tag(keyword)])
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


def referenced_presentation_lut(elem: DataElement, ctx: Context) -> PresentationLUT | None:
    if elem.VR == "SQ" and not elem.value:
        return None  # an empty sequence removes the reference
    return ctx.hierarchy.presentation_lut(_reference(elem, uids.PRESENTATION_LUT), elem.tag)


def requested_image_size(elem: DataElement, ctx: Context) -> float:
    value = _single(elem)
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise InvalidAttributeValue(f"{describe(elem.tag)} {value!r} is not a number", [elem.tag]) from None
    if not 0 < size <= 1000:
        raise InvalidAttributeValue(f"{describe(elem.tag)} {size} mm is not a printable width", [elem.tag])
    return size


def annotation_display_format_id(elem: DataElement, ctx: Context) -> str:
    value = _string(elem)
    formats = ctx.profile.annotation_display_formats
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
_IMAGE_ITEM_KEYWORDS = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "PixelAspectRatio",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
)
_REQUIRED_IMAGE_ITEM_KEYWORDS = tuple(k for k in _IMAGE_ITEM_KEYWORDS if k != "PixelAspectRatio")


def grayscale_image(elem: DataElement, ctx: Context) -> GrayscaleImage | None:
    """The image of a Basic Grayscale Image Box; an empty sequence erases it (PS3.4 H.4.3.1.2.1.1)."""
    items = _sequence(elem, maximum=1)
    if not items:
        return None
    item = items[0]
    allowed = {_tag(keyword) for keyword in _IMAGE_ITEM_KEYWORDS}
    unknown = [Tag(t) for t in item.keys() if Tag(t).element != 0 and t not in allowed]
    if unknown:
        raise NoSuchAttribute(
            f"{describe(elem.tag)} item holds {', '.join(describe(t) for t in unknown)}, not defined for it",
            unknown,
        )
    for keyword in _REQUIRED_IMAGE_ITEM_KEYWORDS:
        if keyword not in item:
            raise MissingAttribute(f"{describe(elem.tag)} item has no {describe(_tag(keyword))}", [_tag(keyword)])
        _check_vr(item[keyword])
        if _is_empty(item[keyword]):
            raise MissingAttributeValue(f"{describe(_tag(keyword))} is empty", [_tag(keyword)])

    def integer(keyword: str) -> tuple[int, int]:
        return _integer(item[keyword]), _tag(keyword)

    samples, tag = integer("SamplesPerPixel")
    if samples != 1:
        raise InvalidAttributeValue(f"Samples per Pixel is {samples}; a grayscale image box takes 1", [tag])
    photometric = _string(item["PhotometricInterpretation"])
    try:
        photometric_interpretation = PhotometricInterpretation(photometric)
    except ValueError:
        raise InvalidAttributeValue(
            f"Photometric Interpretation '{photometric}' must be MONOCHROME1 or MONOCHROME2",
            [_tag("PhotometricInterpretation")],
        ) from None
    rows, rows_tag = integer("Rows")
    columns, columns_tag = integer("Columns")
    if rows < 1 or columns < 1:
        raise InvalidAttributeValue(
            f"Rows x Columns is {rows} x {columns}; both must be at least 1", [rows_tag, columns_tag]
        )
    bits = (integer("BitsAllocated")[0], integer("BitsStored")[0], integer("HighBit")[0])
    allowed_bits = [(8, 8, 7)] + ([(16, 12, 11)] if ctx.profile.supports_12_bit else [])
    if bits not in allowed_bits:
        raise InvalidAttributeValue(
            "Bits Allocated/Stored/High Bit {}/{}/{} not supported; this printer takes {}".format(
                *bits, " or ".join("{}/{}/{}".format(*b) for b in allowed_bits)
            ),
            [_tag("BitsStored")],
        )
    representation, tag = integer("PixelRepresentation")
    if representation != 0:
        raise InvalidAttributeValue(f"Pixel Representation {representation}: print pixels are unsigned (0)", [tag])
    aspect = (1, 1)
    if "PixelAspectRatio" in item and not _is_empty(item["PixelAspectRatio"]):
        ratio = item["PixelAspectRatio"]
        values = list(ratio.value) if ratio.VM == 2 else []
        if len(values) != 2 or not all(isinstance(v, int) and v > 0 for v in values):
            raise InvalidAttributeValue(
                f"Pixel Aspect Ratio {ratio.value!r} must be two positive integers", [ratio.tag]
            )
        aspect = (int(values[0]), int(values[1]))

    pixel_data = item["PixelData"].value
    bytes_per_pixel = bits[0] // 8
    expected = rows * columns * bytes_per_pixel
    if not isinstance(pixel_data, bytes) or len(pixel_data) not in (expected, expected + (expected & 1)):
        size = len(pixel_data) if isinstance(pixel_data, bytes) else "?"
        raise InvalidAttributeValue(
            f"Pixel Data holds {size} bytes; Rows x Columns x Bits Allocated/8 = {rows} x {columns} x "
            f"{bytes_per_pixel} = {expected}",
            [_tag("PixelData")],
        )
    if bytes_per_pixel == 1:
        pixels = np.frombuffer(pixel_data, dtype=np.uint8, count=rows * columns).reshape(rows, columns)
    else:
        # Little Endian only on print contexts; bits above High Bit are not part of the value (PS3.5 8.1.1)
        words = np.frombuffer(pixel_data, dtype="<u2", count=rows * columns).reshape(rows, columns)
        pixels = np.bitwise_and(words, 0x0FFF, dtype=np.uint16)
    return GrayscaleImage(rows, columns, bits[1], photometric_interpretation, aspect, pixels)


def image_box_position(elem: DataElement, ctx: Context) -> int:
    return _integer(elem)


# --- attribute tables --------------------------------------------------------------------------------

_p = PrinterProfile  # for the lambdas below


def _supports_plut(p: _p) -> bool:
    return p.supports_presentation_lut


FILM_SESSION = (  # PS3.4 Table H.4-2 (N-CREATE and N-SET)
    Rule("SpecificCharacterSet", "specific_character_set", Usage.UU, specific_character_set),
    Rule("NumberOfCopies", "number_of_copies", Usage.UM, number_of_copies),
    Rule("PrintPriority", "print_priority", Usage.UM, enumerated(PrintPriority)),
    Rule(
        "MediumType", "medium_type", Usage.UM, defined_term(lambda p: p.medium_types, lambda p: p.defaults.medium_type)
    ),
    Rule(
        "FilmDestination",
        "film_destination",
        Usage.UM,
        defined_term(lambda p: p.film_destinations, lambda p: p.defaults.film_destination),
    ),
    Rule("FilmSessionLabel", "film_session_label", Usage.UU, text(64)),
    Rule("MemoryAllocation", "memory_allocation", Usage.UU, memory_allocation),
    Rule("OwnerID", "owner_id", Usage.UU, text(16)),
    Rule("ProposedStudySequence", "proposed_study", Usage.UU, proposed_study),
)

_FILM_BOX_SETTABLE = (  # PS3.4 Table H.4-7 (N-SET); also part of H.4-6 (N-CREATE)
    Rule(
        "MagnificationType",
        "magnification_type",
        Usage.UM,
        defined_term(lambda p: p.magnification_types, lambda p: p.defaults.magnification_type, MagnificationType),
    ),
    Rule("MaxDensity", "max_density", Usage.UM, density_limit),
    Rule("ConfigurationInformation", "configuration_information", Usage.UM, configuration_information(False)),
    Rule(
        "ReferencedPresentationLUTSequence",
        "referenced_presentation_lut",
        Usage.UU,
        referenced_presentation_lut,
        _supports_plut,
    ),
    Rule(
        "SmoothingType",
        "smoothing_type",
        Usage.UU,
        defined_term(lambda p: p.smoothing_types, lambda p: p.defaults.smoothing_type),
        lambda p: bool(p.smoothing_types),
    ),
    Rule("BorderDensity", "border_density", Usage.UU, border_density),
    Rule("EmptyImageDensity", "empty_image_density", Usage.UU, border_density),
    Rule("MinDensity", "min_density", Usage.UU, density_limit),
    Rule("Trim", "trim", Usage.UU, enumerated(Trim), lambda p: p.supports_trim),
    Rule("Illumination", "illumination", Usage.UU, integer_between(1, 65535), _supports_plut),
    Rule("ReflectedAmbientLight", "reflected_ambient_light", Usage.UU, integer_between(0, 65535), _supports_plut),
)

FILM_BOX_CREATE = (  # PS3.4 Table H.4-6
    Rule("ImageDisplayFormat", "image_display_format", Usage.MM, image_display_format),
    Rule("ReferencedFilmSessionSequence", "referenced_film_session", Usage.MM, referenced_film_session),
    Rule("FilmOrientation", "film_orientation", Usage.UM, enumerated(FilmOrientation)),
    Rule(
        "FilmSizeID",
        "film_size_id",
        Usage.UM,
        defined_term(lambda p: p.film_size_ids, lambda p: p.defaults.film_size_id),
    ),
    Rule("AnnotationDisplayFormatID", "annotation_display_format_id", Usage.UU, annotation_display_format_id),
    Rule(
        "RequestedResolutionID",
        "requested_resolution_id",
        Usage.UU,
        defined_term(lambda p: p.resolutions, lambda p: p.defaults.requested_resolution_id, RequestedResolutionID),
    ),
    *_FILM_BOX_SETTABLE,
)

FILM_BOX_SET = _FILM_BOX_SETTABLE

GRAYSCALE_IMAGE_BOX_SET = (  # PS3.4 Table H.4-10
    Rule("ImageBoxPosition", "image_box_position", Usage.MM, image_box_position),
    Rule("BasicGrayscaleImageSequence", "image", Usage.MM, grayscale_image),
    Rule("Polarity", "polarity", Usage.UM, enumerated(Polarity)),
    # Image Box overrides: an unsupported value falls back to the Film Box's (default None)
    Rule(
        "MagnificationType",
        "magnification_type",
        Usage.UU,
        defined_term(lambda p: p.magnification_types, None, MagnificationType),
    ),
    Rule(
        "SmoothingType",
        "smoothing_type",
        Usage.UU,
        defined_term(lambda p: p.smoothing_types, None),
        lambda p: bool(p.smoothing_types),
    ),
    Rule("MinDensity", "min_density", Usage.UU, density_limit),
    Rule("MaxDensity", "max_density", Usage.UU, density_limit),
    Rule("ConfigurationInformation", "configuration_information", Usage.UU, configuration_information(True)),
    Rule(
        "RequestedImageSize",
        "requested_image_size",
        Usage.UU,
        requested_image_size,
        lambda p: p.supports_requested_image_size,
    ),
    Rule(
        "RequestedDecimateCropBehavior",
        "requested_decimate_crop_behavior",
        Usage.UU,
        enumerated(RequestedDecimateCropBehavior),
        lambda p: p.supports_decimate_crop,
    ),
    Rule(
        "ReferencedPresentationLUTSequence",
        "referenced_presentation_lut",
        Usage.UU,
        referenced_presentation_lut,
        _supports_plut,
    ),
    Rule("OriginalImageSequence", "original_image", Usage.UU, original_image),
)

ANNOTATION_BOX_SET = (  # PS3.4 Table H.4-13
    Rule("AnnotationPosition", "annotation_position", Usage.MM, image_box_position),
    Rule("TextString", "text_string", Usage.UM, text(64)),
)


def decode(dataset: Dataset | None, rules: Sequence[Rule], ctx: Context) -> dict[str, Any]:
    """Check `dataset` against an attribute table; return model field -> value for what was sent."""
    dataset = dataset if dataset is not None else Dataset()
    by_tag = {rule.tag: rule for rule in rules if rule.enabled(ctx.profile)}
    # Group lengths carry no attribute; Specific Character Set only says how the text is encoded.
    ignored = {0x00080005} - set(by_tag)
    # keys() gives tags without converting values, so unreadable bytes cannot fail this scan
    unknown = [Tag(t) for t in dataset.keys() if t not in by_tag and Tag(t).element != 0 and t not in ignored]
    if unknown:
        raise NoSuchAttribute(
            f"{', '.join(describe(t) for t in unknown[:3])}{' ...' if len(unknown) > 3 else ''} "
            "not supported for this operation",
            unknown,
        )
    values: dict[str, Any] = {}
    for tag, rule in by_tag.items():
        if tag not in dataset:
            if rule.usage is Usage.MM:
                raise MissingAttribute(f"{describe(tag)} is required", [tag])
            continue
        try:
            elem = dataset[tag]
            _check_vr(elem)
            if elem.VR != "SQ" and _is_empty(elem):
                if rule.usage is Usage.MM:
                    raise MissingAttributeValue(f"{describe(tag)} is empty", [tag])
                if rule.field == "text_string":  # an empty Text String erases the annotation (H.4.5.1.2.1)
                    values[rule.field] = ""
                continue
            values[rule.field] = rule.parse(elem, ctx)
        except PrintError:
            raise
        except Exception as exc:  # bytes pydicom cannot read: the SCU sent a malformed value
            raise InvalidAttributeValue(f"{describe(tag)} cannot be read: {exc}", [tag]) from exc
    return values


def decode_presentation_lut(dataset: Dataset | None, sop_instance_uid: str) -> PresentationLUT:
    """PS3.4 Table H.4-23: exactly one of Presentation LUT Sequence and Presentation LUT Shape."""
    try:
        return _decode_presentation_lut(dataset if dataset is not None else Dataset(), sop_instance_uid)
    except PrintError:
        raise
    except Exception as exc:  # bytes pydicom cannot read
        raise InvalidAttributeValue(f"Presentation LUT cannot be read: {exc}", [0x20500010]) from exc


def _decode_presentation_lut(dataset: Dataset, sop_instance_uid: str) -> PresentationLUT:
    shape_tag, sequence_tag = _tag("PresentationLUTShape"), _tag("PresentationLUTSequence")
    unknown = [Tag(t) for t in dataset.keys() if t not in (shape_tag, sequence_tag, 0x00080005) and Tag(t).element != 0]
    if unknown:
        raise NoSuchAttribute(
            f"{', '.join(describe(t) for t in unknown[:3])} not defined for a Presentation LUT", unknown
        )
    has_shape = shape_tag in dataset and not _is_empty(dataset[shape_tag])
    has_sequence = sequence_tag in dataset
    if has_shape == has_sequence:
        raise (InvalidAttributeValue if has_shape else MissingAttribute)(
            "a Presentation LUT needs exactly one of Presentation LUT Sequence (2050,0010) and "
            "Presentation LUT Shape (2050,0020)",
            [sequence_tag, shape_tag],
        )
    if has_shape:
        _check_vr(dataset[shape_tag])
        shape = enumerated(PresentationLUTShape)(dataset[shape_tag], None)  # type: ignore[arg-type,index]
        return PresentationLUT(sop_instance_uid, presentation_lut_shape=PresentationLUTShape(shape))

    (item,) = _sequence(dataset[sequence_tag], maximum=1, minimum=1)
    for keyword in ("LUTDescriptor", "LUTData"):
        if keyword not in item or _is_empty(item[keyword]):
            raise MissingAttribute(f"Presentation LUT Sequence item has no {keyword}", [_tag(keyword)])
    descriptor_elem = item["LUTDescriptor"]
    raw_descriptor = descriptor_elem.value
    if isinstance(raw_descriptor, bytes):  # implicit VR: US or SS, read as raw words
        descriptor = [int(v) for v in np.frombuffer(raw_descriptor, dtype="<u2")] if len(raw_descriptor) == 6 else []
    elif isinstance(raw_descriptor, int):
        descriptor = [raw_descriptor]
    else:
        descriptor = [int(v) for v in raw_descriptor]
    if len(descriptor) != 3:
        raise InvalidAttributeValue("LUT Descriptor must have three values", [descriptor_elem.tag])
    entries, first, bits = descriptor
    # PS3.3 C.11.4.1: 256 entries for 8-bit images, 4096 for 12-bit; first value mapped 0; 10-16 bits per entry
    if entries not in (256, 4096) or first != 0 or not 10 <= bits <= 16:
        raise InvalidAttributeValue(
            f"LUT Descriptor {entries}\\{first}\\{bits}: need 256 or 4096 entries, first value 0, 10 to 16 bits",
            [descriptor_elem.tag],
        )
    data_elem = item["LUTData"]
    raw = data_elem.value
    data = np.frombuffer(raw, dtype="<u2").copy() if isinstance(raw, bytes) else np.asarray(list(raw), dtype=np.int64)
    if data.size != entries:
        raise InvalidAttributeValue(f"LUT Data has {data.size} entries, the descriptor says {entries}", [data_elem.tag])
    if data.min() < 0 or data.max() >= 1 << bits:
        raise InvalidAttributeValue(f"LUT Data values must be 0 to {(1 << bits) - 1}", [data_elem.tag])
    explanation = ""
    if "LUTExplanation" in item and isinstance(item.LUTExplanation, str):
        explanation = item.LUTExplanation
    lut = data.astype(np.uint16)
    lut.flags.writeable = False
    return PresentationLUT(
        sop_instance_uid, lut_descriptor=(entries, first, bits), lut_explanation=explanation, lut_data=lut
    )


# --- encoding (responses and N-GET) -----------------------------------------------------------------


def _reference_item(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


def _character_set(dataset: Dataset, character_set: tuple[str, ...]) -> None:
    if character_set and any(character_set):
        dataset.SpecificCharacterSet = list(character_set) if len(character_set) > 1 else character_set[0]


def encode_film_session(session: FilmSession) -> Dataset:
    ds = Dataset()
    _character_set(ds, session.specific_character_set)
    ds.NumberOfCopies = session.number_of_copies
    ds.PrintPriority = session.print_priority.value
    ds.MediumType = session.medium_type
    ds.FilmDestination = session.film_destination
    ds.FilmSessionLabel = session.film_session_label
    if session.memory_allocation is not None:
        ds.MemoryAllocation = session.memory_allocation
    ds.OwnerID = session.owner_id
    if session.proposed_study is not None:
        item = Dataset()
        for keyword, value in session.proposed_study.attributes.items():
            setattr(item, keyword, value)
        ds.ProposedStudySequence = [item]
    ds.ReferencedFilmBoxSequence = [_reference_item(b.sop_class_uid, b.sop_instance_uid) for b in session.film_boxes]
    return ds


def encode_film_box(box: FilmBox, session: FilmSession, profile: PrinterProfile, with_annotations: bool) -> Dataset:
    """The complete attribute list of a film box (PS3.7 10.1.5: what an N-CREATE-RSP returns)."""
    ds = Dataset()
    _character_set(ds, session.specific_character_set)
    ds.ImageDisplayFormat = str(box.image_display_format)
    ds.FilmOrientation = box.film_orientation.value
    ds.FilmSizeID = box.film_size_id
    ds.MagnificationType = box.magnification_type.value
    if profile.smoothing_types:
        ds.SmoothingType = box.smoothing_type
    ds.MaxDensity = box.max_density
    ds.MinDensity = box.min_density
    ds.ConfigurationInformation = box.configuration_information
    ds.BorderDensity = box.border_density
    ds.EmptyImageDensity = box.empty_image_density
    if profile.supports_trim:
        ds.Trim = box.trim.value
    ds.RequestedResolutionID = box.requested_resolution_id.value
    if box.annotation_display_format_id:
        ds.AnnotationDisplayFormatID = box.annotation_display_format_id
    ds.ReferencedFilmSessionSequence = [_reference_item(session.sop_class_uid, session.sop_instance_uid)]
    if profile.supports_presentation_lut:
        # PS3.4 H.4.2.2.1.1: U/MC for a P-LUT-capable SCP; report the values that will be used
        ds.Illumination = (
            box.illumination if box.illumination is not None else profile.illumination_for(session.medium_type)
        )
        ds.ReflectedAmbientLight = (
            box.reflected_ambient_light
            if box.reflected_ambient_light is not None
            else profile.defaults.reflected_ambient_light
        )
        if box.referenced_presentation_lut is not None:
            ds.ReferencedPresentationLUTSequence = [
                _reference_item(uids.PRESENTATION_LUT, box.referenced_presentation_lut.sop_instance_uid)
            ]
    ds.ReferencedImageBoxSequence = [_reference_item(b.sop_class_uid, b.sop_instance_uid) for b in box.image_boxes]
    if with_annotations:
        ds.ReferencedBasicAnnotationBoxSequence = [
            _reference_item(a.sop_class_uid, a.sop_instance_uid) for a in box.annotation_boxes
        ]
    return ds


def encode_image_box(box: ImageBox) -> Dataset:
    ds = Dataset()
    ds.ImageBoxPosition = box.image_box_position
    ds.Polarity = box.polarity.value
    if box.magnification_type is not None:
        ds.MagnificationType = box.magnification_type.value
    if box.smoothing_type is not None:
        ds.SmoothingType = box.smoothing_type
    if box.min_density is not None:
        ds.MinDensity = box.min_density
    if box.max_density is not None:
        ds.MaxDensity = box.max_density
    if box.configuration_information is not None:
        ds.ConfigurationInformation = box.configuration_information
    if box.requested_image_size is not None:
        ds.RequestedImageSize = box.requested_image_size
    if box.requested_decimate_crop_behavior is not None:
        ds.RequestedDecimateCropBehavior = box.requested_decimate_crop_behavior.value
    if box.referenced_presentation_lut is not None:
        ds.ReferencedPresentationLUTSequence = [
            _reference_item(uids.PRESENTATION_LUT, box.referenced_presentation_lut.sop_instance_uid)
        ]
    items = []
    if box.image is not None:
        image = box.image
        item = Dataset()
        item.SamplesPerPixel = 1
        item.PhotometricInterpretation = image.photometric_interpretation.value
        item.Rows = image.rows
        item.Columns = image.columns
        if image.pixel_aspect_ratio != (1, 1):
            item.PixelAspectRatio = list(image.pixel_aspect_ratio)
        item.BitsAllocated = 8 if image.bits_stored == 8 else 16
        item.BitsStored = image.bits_stored
        item.HighBit = image.bits_stored - 1
        item.PixelRepresentation = 0
        data = image.pixels.astype("<u2").tobytes() if image.bits_stored == 12 else image.pixels.tobytes()
        item.add_new(0x7FE00010, "OW", data + b"\x00" * (len(data) & 1))
        items.append(item)
    ds.BasicGrayscaleImageSequence = items
    return ds


def encode_annotation_box(box: AnnotationBox, character_set: tuple[str, ...]) -> Dataset:
    ds = Dataset()
    _character_set(ds, character_set)
    ds.AnnotationPosition = box.annotation_position
    ds.TextString = box.text_string
    return ds


def encode_presentation_lut(plut: PresentationLUT) -> Dataset:
    ds = Dataset()
    if plut.presentation_lut_shape is not None:
        ds.PresentationLUTShape = plut.presentation_lut_shape.value
    else:
        assert plut.lut_descriptor is not None and plut.lut_data is not None
        item = Dataset()
        item.add_new(0x00283002, "US", list(plut.lut_descriptor))
        if plut.lut_explanation:
            item.LUTExplanation = plut.lut_explanation
        item.add_new(0x00283006, "OW", plut.lut_data.astype("<u2").tobytes())
        ds.PresentationLUTSequence = [item]
    return ds


def select(dataset: Dataset, identifiers: Sequence[int], ctx_warnings: list[PrintWarning]) -> Dataset:
    """N-GET: keep the attributes named in the Attribute Identifier List (empty = all, PS3.7 10.1.2.1.3)."""
    if not identifiers:
        return dataset
    selected = Dataset()
    missing = []
    for tag in identifiers:
        if tag in dataset:
            selected[tag] = dataset[tag]
        else:
            missing.append(Tag(tag))
    if "SpecificCharacterSet" in dataset:
        selected.SpecificCharacterSet = dataset.SpecificCharacterSet
    if missing:
        ctx_warnings.append(
            PrintWarning(
                Status.ATTRIBUTE_LIST_ERROR,
                f"{', '.join(describe(t) for t in missing[:3])} not held by this instance",
                tuple(missing),
            )
        )
    return selected


def encode_print_job(job: Any, printer_name: str) -> Dataset:
    """Print Job N-GET attributes (PS3.4 Table H.4-15); `job` has the fields of engine.PrintJobState."""
    ds = Dataset()
    ds.ExecutionStatus = job.execution_status.value
    ds.ExecutionStatusInfo = job.execution_status_info
    ds.PrintPriority = job.print_priority.value
    ds.CreationDate = job.creation.strftime("%Y%m%d")
    ds.CreationTime = job.creation.strftime("%H%M%S")
    ds.PrinterName = printer_name
    ds.Originator = job.originator
    return ds


def encode_printer_configuration(profile: PrinterProfile) -> Dataset:
    """Printer Configuration Retrieval N-GET (PS3.4 H.4.11, PS3.3 C.13.13), from the printer profile.

    One item for the one printer and Meta SOP Class. Supported Image Display Formats lists, for every
    Film Size ID in portrait and each resolution, STANDARD\\1,1 (or ROW\\1 or COL\\1) with its printable
    pixels and the printer's slide layouts; STANDARD, ROW and COL take any counts up to max_columns x max_rows.
    """
    item = Dataset()
    classes = [uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, uids.PRINT_JOB, uids.PRINTER_CONFIGURATION_RETRIEVAL]
    if profile.supports_presentation_lut:
        classes.append(uids.PRESENTATION_LUT)
    if profile.supports_annotation:
        classes.append(uids.BASIC_ANNOTATION_BOX)
    item.SOPClassesSupported = classes
    item.MaximumMemoryAllocation = 0  # Memory Allocation is not supported
    item.MemoryBitDepth = 16
    item.PrintingBitDepth = 8  # the densities printed: PNG and PDF grey levels are 8-bit (MemoryBitDepth: input)
    defaults = profile.defaults
    media = [(defaults.medium_type, defaults.film_size_id)]
    media += [(m, defaults.film_size_id) for m in profile.medium_types if m != defaults.medium_type]
    media += [(defaults.medium_type, f) for f in profile.film_size_ids if f != defaults.film_size_id]
    installed = []
    for number, (medium, size) in enumerate(media, start=1):  # item 1 is the printer's default
        medium_item = Dataset()
        medium_item.ItemNumber = number
        medium_item.MediumType = medium
        medium_item.FilmSizeID = size
        medium_item.MinDensity = profile.min_density
        medium_item.MaxDensity = profile.max_density
        installed.append(medium_item)
    item.MediaInstalledSequence = installed
    item.OtherMediaAvailableSequence = []
    formats = []
    slides = [k for k in ("SLIDE", "SUPERSLIDE") if k in profile.image_display_formats and k in profile.slide_formats]
    # one whole-film cell, in the first of STANDARD, ROW, COL the printer offers
    whole = [
        text
        for kind, text in (("STANDARD", "STANDARD\\1,1"), ("ROW", "ROW\\1"), ("COL", "COL\\1"))
        if kind in profile.image_display_formats
    ][:1]
    for size in profile.film_size_ids:
        for resolution, dpi in profile.resolutions.items():
            for text in [*whole, *slides]:
                fmt = ImageDisplayFormat.parse(text)
                cell = film_geometry(size, FilmOrientation.PORTRAIT, fmt, profile.layout_tables).cells[0]
                entry = Dataset()
                entry.Rows = round(cell.height / MM_PER_INCH * dpi)
                entry.Columns = round(cell.width / MM_PER_INCH * dpi)
                entry.ImageDisplayFormat = text
                entry.FilmOrientation = FilmOrientation.PORTRAIT.value
                entry.FilmSizeID = size
                entry.PrinterResolutionID = resolution
                pitch = f"{MM_PER_INCH / dpi:.6f}"
                entry.PrinterPixelSpacing = [pitch, pitch]
                entry.RequestedImageSizeFlag = "YES" if profile.supports_requested_image_size else "NO"
                formats.append(entry)
    item.SupportedImageDisplayFormatsSequence = formats
    item.DefaultPrinterResolutionID = defaults.requested_resolution_id
    item.DefaultMagnificationType = defaults.magnification_type
    others = [m for m in profile.magnification_types if m != defaults.magnification_type]
    if others:
        item.OtherMagnificationTypesAvailable = others
    if profile.smoothing_types:
        item.DefaultSmoothingType = defaults.smoothing_type
        smoothing = [t for t in profile.smoothing_types if t != defaults.smoothing_type]
        if smoothing:
            item.OtherSmoothingTypesAvailable = smoothing
    item.ConfigurationInformationDescription = "; ".join(
        f"{curve}: mid-grey contrast {contrast:g} (S-curve on P-Values, used without a Presentation LUT)"
        for curve, contrast in profile.contrast_curves.items()
    )
    item.MaximumCollatedFilms = 9999 if profile.supports_film_session_print else 0
    behavior = defaults.requested_decimate_crop_behavior
    item.DecimateCropResult = f"DEF {behavior}" if profile.supports_decimate_crop else behavior
    item.Manufacturer = profile.manufacturer
    item.ManufacturerModelName = profile.manufacturer_model_name
    item.PrinterName = profile.name
    ds = Dataset()
    ds.PrinterConfigurationSequence = [item]
    return ds
