"""The SOP classes of print management as data: one table that the rest of printscp reads.

Each `SOPClass` row says which presentation contexts carry the class (PS3.4 H.3.2.2), which DIMSE-N
services it has (PS3.4 H.4), and its attributes: for each, the usage in N-CREATE and N-SET requests
(SCU/SCP, PS3.4 H.2.4: M/M, U/M, U/U), how its value is read and checked (model/values.py), the value
the printer uses when the SCU sends none, the printer capability that switches it on, and whether an
N-GET returns it. Decoding (model/decode.py), defaults, N-GET return sets (model/encode.py), the
Printer Configuration Retrieval answer and the conformance statement's attribute tables all come from
here. To support a new attribute of a class: add its row, the field of the model that holds it, and
use it where it matters (the renderer, for a Film Box attribute).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from printscp import uids
from printscp.errors import NoSuchSOPClass, UnrecognizedOperation
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    Polarity,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.images import color_image, grayscale_image
from printscp.model.personality import Leniency
from printscp.model.profile import PrinterProfile
from printscp.model.values import (
    Parser,
    annotation_display_format_id,
    border_density,
    configuration_information,
    defined_term,
    density_limit,
    enumerated,
    image_box_position,
    image_display_format,
    integer_between,
    memory_allocation,
    number_of_copies,
    original_image,
    proposed_study,
    referenced_film_session,
    referenced_presentation_lut,
    requested_image_size,
    specific_character_set,
    tag_of,
    text,
)


class Service(StrEnum):
    N_CREATE = "N-CREATE"
    N_SET = "N-SET"
    N_GET = "N-GET"
    N_ACTION = "N-ACTION"
    N_DELETE = "N-DELETE"


class Usage(StrEnum):
    """Usage of an attribute in a request, SCU/SCP (PS3.4 H.2.4)."""

    MM = "M/M"  # the SCU must send it; absent -> 0120, empty -> 0121
    UM = "U/M"  # the SCU may send it; the SCP uses a default otherwise
    UU = "U/U"  # both optional
    UMC = "U/MC"  # optional for the SCU; the SCP must support it when it offers the related class (P-LUT)


Default = Callable[[PrinterProfile], Any]


def _always(profile: PrinterProfile) -> bool:
    return True


def constant(value: Any) -> Default:
    return lambda profile: value


def profile_default(name: str, convert: Callable[[Any], Any] = lambda value: value) -> Default:
    """The printer's configured default for an attribute (`[printer.defaults] name` in config.toml)."""
    return lambda profile: convert(getattr(profile.defaults, name))


@dataclass(frozen=True)
class Attribute:
    """One row of a PS3.4 H attribute table."""

    keyword: str  # PS3.6 keyword
    field: str  # the model's field that holds the value
    parse: Parser  # reads and checks one element (model/values.py)
    create: Usage | None = None  # usage in an N-CREATE request; None: not in its Attribute List
    set: Usage | None = None  # usage in an N-SET request; None: not in its Modification List
    default: Default | None = None  # the value when the SCU sends none (at creation)
    enabled: Callable[[PrinterProfile], bool] = _always  # a printer capability it needs, if any
    get: bool = True  # returned by N-GET (and in the N-CREATE response)
    omit_empty: bool = False  # an N-GET leaves it out while it is ""
    reference: str | None = None  # the SOP class of the instance whose UID the value is (a reference sequence)
    # A row the standard's table does not have, taken only when the personality allows this leniency (else
    # 0105 like any attribute not listed; model/personality.py)
    admitted_by: Leniency | None = None
    # Read without its VR's text rules (repertoire, length) when the personality allows this leniency: the
    # value rule repairs the value instead of refusing it
    relaxed_by: Leniency | None = None

    @functools.cached_property
    def tag(self) -> int:
        return tag_of(self.keyword)

    def usage(self, service: Service) -> Usage | None:
        if service is Service.N_CREATE:
            return self.create
        return self.set if service is Service.N_SET else None

    def available(self, profile: PrinterProfile) -> bool:
        """Whether this printer takes the attribute: the capability it needs, and its personality."""
        return self.enabled(profile) and (self.admitted_by is None or profile.allows(self.admitted_by))

    def relaxed(self, profile: PrinterProfile) -> bool:
        """Whether its value is read without its VR's text rules on this printer (`relaxed_by`)."""
        return self.relaxed_by is not None and profile.allows(self.relaxed_by)


@dataclass(frozen=True)
class SOPClass:
    uid: str
    table: str  # where PS3.4 lists its attributes
    contexts: frozenset[str]  # abstract syntaxes of the presentation contexts that carry it (PS3.4 H.3.2.2)
    services: frozenset[Service]
    attributes: tuple[Attribute, ...] = ()
    offered: Callable[[PrinterProfile], bool] = _always  # whether this printer offers it

    @property
    def name(self) -> str:
        return uids.name(self.uid)

    def request_attributes(self, service: Service, profile: PrinterProfile) -> tuple[Attribute, ...]:
        """The attributes a request of `service` may carry on this printer."""
        return tuple(a for a in self.attributes if a.usage(service) is not None and a.available(profile))

    def returned_attributes(self, profile: PrinterProfile) -> tuple[Attribute, ...]:
        return tuple(a for a in self.attributes if a.get and a.available(profile))

    def defaults(self, profile: PrinterProfile) -> dict[str, Any]:
        """Model field -> value of every attribute that has a default: a new instance before the request."""
        return {a.field: a.default(profile) for a in self.attributes if a.default is not None}


M, U, UU, UMC = Usage.MM, Usage.UM, Usage.UU, Usage.UMC
_CREATE = frozenset({Service.N_CREATE, Service.N_SET, Service.N_GET, Service.N_ACTION, Service.N_DELETE})
_GRAYSCALE = frozenset({uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META})
_COLOR = frozenset({uids.BASIC_COLOR_PRINT_MANAGEMENT_META})
_META = _GRAYSCALE | _COLOR  # the classes both Meta SOP Classes have (PS3.4 H.3.2.2)


def _plut(p: PrinterProfile) -> bool:
    return p.supports_presentation_lut


def _smoothing(p: PrinterProfile) -> bool:
    return bool(p.smoothing_types)


def _annotation(p: PrinterProfile) -> bool:
    return p.supports_annotation


def _color(p: PrinterProfile) -> bool:
    return p.supports_color


# Basic Film Box rows (PS3.4 Table H.4-5) that were Film Session attributes before CP 173.
# Illumination / Reflected Ambient Light None: the printer's value for the medium (PS3.4 H.4.2.2.1.1);
# N-GET reports the value used.
_ILLUMINATION = Attribute("Illumination", "illumination", integer_between(1, 65535), UMC, UMC, constant(None), _plut)
_REFLECTED_AMBIENT_LIGHT = Attribute(
    "ReflectedAmbientLight", "reflected_ambient_light", integer_between(0, 65535), UMC, UMC, constant(None), _plut
)
_REFERENCED_PRESENTATION_LUT = Attribute(
    "ReferencedPresentationLUTSequence",
    "referenced_presentation_lut",
    referenced_presentation_lut,
    UMC,
    UMC,
    constant(None),
    _plut,
    reference=uids.PRESENTATION_LUT,
)

BASIC_FILM_SESSION = SOPClass(
    uids.BASIC_FILM_SESSION,
    "PS3.4 Table H.4-1, H.4-2",
    _META,
    _CREATE,
    (
        Attribute(
            "SpecificCharacterSet", "specific_character_set", specific_character_set, UU, UU, constant(()), get=False
        ),
        Attribute("NumberOfCopies", "number_of_copies", number_of_copies, U, U, profile_default("number_of_copies")),
        Attribute(
            "PrintPriority",
            "print_priority",
            enumerated(PrintPriority),
            U,
            U,
            profile_default("print_priority", PrintPriority),
        ),
        Attribute(
            "MediumType",
            "medium_type",
            defined_term(lambda p: p.medium_types, lambda p: p.defaults.medium_type),
            U,
            U,
            profile_default("medium_type"),
        ),
        Attribute(
            "FilmDestination",
            "film_destination",
            defined_term(lambda p: p.film_destinations, lambda p: p.defaults.film_destination),
            U,
            U,
            profile_default("film_destination"),
        ),
        Attribute("FilmSessionLabel", "film_session_label", text(64), UU, UU, constant("")),
        Attribute("MemoryAllocation", "memory_allocation", memory_allocation, UU, UU, constant(None)),
        Attribute("OwnerID", "owner_id", text(16), UU, UU, constant("")),
        # Retired in PS3.4 (CP 1155) but still sent by modalities; the only identity a film may carry
        Attribute("ProposedStudySequence", "proposed_study", proposed_study, UU, UU, constant(None)),
        # Film Box attributes since CP 173, Film Session ones before it: taken by the compatible personality
        # only, checked as the Film Box rows are; a Film Box without its own prints with them
        # (FilmBox.printed_attributes in model/session.py)
        *(
            dataclasses.replace(row, create=UU, set=UU, admitted_by=Leniency.FILM_SESSION_PRESENTATION)
            for row in (_ILLUMINATION, _REFLECTED_AMBIENT_LIGHT, _REFERENCED_PRESENTATION_LUT)
        ),
    ),
)

BASIC_FILM_BOX = SOPClass(
    uids.BASIC_FILM_BOX,
    "PS3.4 Table H.4-5, H.4-6, H.4-7",
    _META,
    _CREATE,
    (
        Attribute("ImageDisplayFormat", "image_display_format", image_display_format, M),
        Attribute("ReferencedFilmSessionSequence", "referenced_film_session", referenced_film_session, M, get=False),
        Attribute(
            "FilmOrientation",
            "film_orientation",
            enumerated(FilmOrientation),
            U,
            None,
            profile_default("film_orientation", FilmOrientation),
        ),
        Attribute(
            "FilmSizeID",
            "film_size_id",
            defined_term(lambda p: p.film_size_ids, lambda p: p.defaults.film_size_id),
            U,
            None,
            profile_default("film_size_id"),
        ),
        Attribute(
            "AnnotationDisplayFormatID",
            "annotation_display_format_id",
            annotation_display_format_id,
            UU,
            None,
            profile_default("annotation_display_format_id"),
            omit_empty=True,
        ),
        Attribute(
            "RequestedResolutionID",
            "requested_resolution_id",
            defined_term(lambda p: p.resolutions, lambda p: p.defaults.requested_resolution_id, RequestedResolutionID),
            UU,
            None,
            profile_default("requested_resolution_id", RequestedResolutionID),
        ),
        Attribute(
            "MagnificationType",
            "magnification_type",
            defined_term(lambda p: p.magnification_types, lambda p: p.defaults.magnification_type, MagnificationType),
            U,
            U,
            profile_default("magnification_type", MagnificationType),
        ),
        Attribute("MaxDensity", "max_density", density_limit, U, U, profile_default("max_density")),
        Attribute(
            "ConfigurationInformation",
            "configuration_information",
            configuration_information(False),
            U,
            U,
            profile_default("configuration_information"),
        ),
        _REFERENCED_PRESENTATION_LUT,
        Attribute(
            "SmoothingType",
            "smoothing_type",
            defined_term(lambda p: p.smoothing_types, lambda p: p.defaults.smoothing_type),
            UU,
            UU,
            profile_default("smoothing_type"),
            _smoothing,
        ),
        Attribute("BorderDensity", "border_density", border_density, UU, UU, profile_default("border_density")),
        Attribute(
            "EmptyImageDensity", "empty_image_density", border_density, UU, UU, profile_default("empty_image_density")
        ),
        Attribute("MinDensity", "min_density", density_limit, UU, UU, profile_default("min_density")),
        Attribute("Trim", "trim", enumerated(Trim), UU, UU, profile_default("trim", Trim), lambda p: p.supports_trim),
        _ILLUMINATION,
        _REFLECTED_AMBIENT_LIGHT,
    ),
)

BASIC_GRAYSCALE_IMAGE_BOX = SOPClass(
    uids.BASIC_GRAYSCALE_IMAGE_BOX,
    "PS3.4 Table H.4-10",
    _GRAYSCALE,
    frozenset({Service.N_SET, Service.N_GET}),
    (
        Attribute("ImageBoxPosition", "image_box_position", image_box_position, None, M),
        # an Image Box holds no image until set; the sequence is always returned, empty then
        Attribute("BasicGrayscaleImageSequence", "image", grayscale_image, None, M, constant(None), get=False),
        Attribute("Polarity", "polarity", enumerated(Polarity), None, U, profile_default("polarity", Polarity)),
        # Image Box overrides: None (or an unsupported value) means the Film Box's
        Attribute(
            "MagnificationType",
            "magnification_type",
            defined_term(lambda p: p.magnification_types, None, MagnificationType),
            None,
            UU,
            constant(None),
        ),
        Attribute(
            "SmoothingType",
            "smoothing_type",
            defined_term(lambda p: p.smoothing_types, None),
            None,
            UU,
            constant(None),
            _smoothing,
        ),
        Attribute("MinDensity", "min_density", density_limit, None, UU, constant(None)),
        Attribute("MaxDensity", "max_density", density_limit, None, UU, constant(None)),
        Attribute(
            "ConfigurationInformation",
            "configuration_information",
            configuration_information(True),
            None,
            UU,
            constant(None),
        ),
        Attribute(
            "RequestedImageSize",
            "requested_image_size",
            requested_image_size,
            None,
            UU,
            constant(None),
            lambda p: p.supports_requested_image_size,
        ),
        Attribute(
            "RequestedDecimateCropBehavior",
            "requested_decimate_crop_behavior",
            enumerated(RequestedDecimateCropBehavior),
            None,
            UU,
            constant(None),
            lambda p: p.supports_decimate_crop,
        ),
        Attribute(
            "ReferencedPresentationLUTSequence",
            "referenced_presentation_lut",
            referenced_presentation_lut,
            None,
            UU,
            constant(None),
            _plut,
            reference=uids.PRESENTATION_LUT,
        ),
        Attribute("OriginalImageSequence", "original_image", original_image, None, UU, constant(()), get=False),
    ),
)

# PS3.4 Table H.4-11: the grayscale box's rows but the densities, Configuration Information and the P-LUT
BASIC_COLOR_IMAGE_BOX = SOPClass(
    uids.BASIC_COLOR_IMAGE_BOX,
    "PS3.4 Table H.4-11",
    _COLOR,
    frozenset({Service.N_SET, Service.N_GET}),
    tuple(
        Attribute("BasicColorImageSequence", "image", color_image, None, M, constant(None), get=False)
        if row.field == "image"
        else row
        for row in BASIC_GRAYSCALE_IMAGE_BOX.attributes
        if row.field not in ("min_density", "max_density", "configuration_information", "referenced_presentation_lut")
    ),
    offered=_color,
)

BASIC_ANNOTATION_BOX = SOPClass(
    uids.BASIC_ANNOTATION_BOX,
    "PS3.4 Table H.4-12, H.4-13",
    frozenset({uids.BASIC_ANNOTATION_BOX}),
    frozenset({Service.N_SET, Service.N_GET}),
    (
        Attribute("AnnotationPosition", "annotation_position", image_box_position, None, M),
        Attribute(
            "TextString",
            "text_string",
            text(64, repaired_by=Leniency.ANNOTATION_TEXT),
            None,
            U,
            constant(""),
            relaxed_by=Leniency.ANNOTATION_TEXT,
        ),
    ),
    offered=_annotation,
)

# The Presentation LUT's attributes are one-of-two (PS3.4 Table H.4-23): model/images.py reads them.
PRESENTATION_LUT = SOPClass(
    uids.PRESENTATION_LUT,
    "PS3.4 Table H.4-22, H.4-23",
    frozenset({uids.PRESENTATION_LUT}),
    frozenset({Service.N_CREATE, Service.N_GET, Service.N_DELETE}),
    offered=_plut,
)

PRINTER = SOPClass(
    uids.PRINTER, "PS3.4 Table H.4-16, H.4-17", frozenset({uids.PRINTER, *_META}), frozenset({Service.N_GET})
)
PRINT_JOB = SOPClass(
    uids.PRINT_JOB, "PS3.4 Table H.4-14, H.4-15", frozenset({uids.PRINT_JOB}), frozenset({Service.N_GET})
)
PRINTER_CONFIGURATION_RETRIEVAL = SOPClass(
    uids.PRINTER_CONFIGURATION_RETRIEVAL,
    "PS3.4 Table H.4-28, H.4-29",
    frozenset({uids.PRINTER_CONFIGURATION_RETRIEVAL}),
    frozenset({Service.N_GET}),
)

SOP_CLASSES: Mapping[str, SOPClass] = {
    c.uid: c
    for c in (
        BASIC_FILM_SESSION,
        BASIC_FILM_BOX,
        BASIC_GRAYSCALE_IMAGE_BOX,
        BASIC_COLOR_IMAGE_BOX,
        BASIC_ANNOTATION_BOX,
        PRESENTATION_LUT,
        PRINTER,
        PRINT_JOB,
        PRINTER_CONFIGURATION_RETRIEVAL,
    )
}

# The abstract syntaxes an SCU negotiates, in the order Printer Configuration Retrieval lists them.
NEGOTIATED: tuple[str, ...] = (
    uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META,
    uids.BASIC_COLOR_PRINT_MANAGEMENT_META,
    uids.PRINT_JOB,
    uids.PRINTER_CONFIGURATION_RETRIEVAL,
    uids.PRESENTATION_LUT,
    uids.BASIC_ANNOTATION_BOX,
)

# Every print presentation context the server accepts: those above, and the Printer SOP Class negotiated alone.
PRINT_CONTEXTS: tuple[str, ...] = (*NEGOTIATED[:2], uids.PRINTER, *NEGOTIATED[2:])
# Print contexts take Little Endian only: pixel data arrives as OW, and DCMTK also offers Big Endian.
PRINT_TRANSFER_SYNTAXES: tuple[UID, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

# PS3.4 H.4.2.2.1.3: the Meta SOP Class a Film Box is created under decides its Image Boxes' class.
IMAGE_BOX_CLASS: Mapping[str, str] = {
    uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META: uids.BASIC_GRAYSCALE_IMAGE_BOX,
    uids.BASIC_COLOR_PRINT_MANAGEMENT_META: uids.BASIC_COLOR_IMAGE_BOX,
}


def offered(abstract_syntax: str, profile: PrinterProfile) -> bool:
    """Whether this printer offers a negotiated abstract syntax (a Meta SOP Class or a class of its own)."""
    return all(c.offered(profile) for c in SOP_CLASSES.values() if c.contexts == frozenset({abstract_syntax}))


def print_contexts(profile: PrinterProfile) -> list[str]:
    """The print abstract syntaxes accepted on an association that calls this printer (PS3.4 H.3.2.2)."""
    return [uid for uid in PRINT_CONTEXTS if offered(uid, profile)]


def supported_sop_classes(profile: PrinterProfile) -> list[str]:
    """SOP Classes Supported of Printer Configuration Retrieval (PS3.3 C.13.13)."""
    return [uid for uid in NEGOTIATED if offered(uid, profile)]


def sop_class_for(service: Service, context: str, sop_class_uid: str) -> SOPClass:
    """The row of a requested class: 0118 if the context does not carry it, 0211 if it lacks the service."""
    row = SOP_CLASSES.get(sop_class_uid)
    if row is None or context not in row.contexts:
        if sop_class_uid in uids.RETIRED_PRINT_CLASSES:
            raise NoSuchSOPClass(f"{uids.name(sop_class_uid)} {sop_class_uid} is retired and not supported")
        raise NoSuchSOPClass(
            f"SOP class {uids.name(sop_class_uid)} is not part of the {uids.name(context)} presentation context"
        )
    if service not in row.services:
        raise UnrecognizedOperation(f"{service} is not a service of {row.name}")
    return row
