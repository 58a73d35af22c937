"""Findings: every message of a recorded association checked against PS3.4 Annex H and the printer.

`check(transcript, profile)` is pure: it reads the transcript and the printer profile, nothing else. It walks
the requests in order, each paired with printscp's response, keeping a small model of what the association
built so far (`_State`: the open Film Session, its Film Boxes and their Image Boxes, the Presentation LUTs,
the Print Jobs and what our N-EVENT-REPORTs last said of them). Each check of `EXCHANGE_CHECKS` looks at one
request with the state as it was before it; each check of `TRANSCRIPT_CHECKS` looks at the whole transcript.

Last, every non-Success status printscp answered becomes a finding of its own (a Failure an error, a Warning
a warning), unless a specific check already explains the same message and attribute: the specific finding
says why, the status finding only that the printer refused. Statuses forced by the fault plan are the
bench's doing, not the SCU's, and give no finding.

References follow the numbering of the print management digest (/work/shared/spec/print-management.md):
attribute tables PS3.4 Table H.4-2 (Film Session), H.4-6 / H.4-7 (Film Box N-CREATE / N-SET), H.4-10
(Grayscale Image Box), H.4-13 (Annotation Box); values PS3.3 C.13.1 / C.13.3 / C.13.5; status tables
as PS3.4 names them per operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag

from printscp import uids
from printscp.bench.transcript import (
    Direction,
    Element,
    Finding,
    Message,
    Outcome,
    Severity,
    Transcript,
    find,
    tag_int,
)
from printscp.model.enums import (
    FILM_DESTINATION_PATTERN,
    FILM_SIZES_MM,
    MEDIUM_TYPES,
    VENDOR_FILM_SIZES,
    FilmOrientation,
    MagnificationType,
    Polarity,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat, LayoutError
from printscp.model.personality import Leniency
from printscp.model.profile import PrinterProfile
from printscp.model.sop_classes import SOP_CLASSES, Attribute, Service, SOPClass
from printscp.status import Status

FILM_SESSION, FILM_BOX = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX
GRAYSCALE_IMAGE_BOX, COLOR_IMAGE_BOX = uids.BASIC_GRAYSCALE_IMAGE_BOX, uids.BASIC_COLOR_IMAGE_BOX
IMAGE_BOXES = frozenset({GRAYSCALE_IMAGE_BOX, COLOR_IMAGE_BOX})

IMAGE_SEQUENCES = ("(2020,0110)", "(2020,0111)")  # Basic Grayscale / Color Image Sequence
REFERENCED_IMAGE_BOX_SEQUENCE = "(2010,0510)"
REFERENCED_PRESENTATION_LUT_SEQUENCE = "(2050,0500)"
REFERENCED_PRINT_JOB_SEQUENCE = "(2100,0500)"  # PS3.4 Table H.4-3 / H.4-8 (pydicom's keyword is another tag)
IMAGE_BOX_POSITION = "(2020,0010)"
BITS_STORED = "(0028,0101)"
SPECIFIC_CHARACTER_SET = "(0008,0005)"  # says how text is encoded; printscp takes it anywhere (model/decode.py)

# Print Job N-EVENT-REPORT Event Type IDs (PS3.4 Table H.4-14)
JOB_PENDING, JOB_PRINTING, JOB_DONE, JOB_FAILURE = 1, 2, 3, 4

SERVICES: Mapping[str, Service] = {"N-CREATE-RQ": Service.N_CREATE, "N-SET-RQ": Service.N_SET}

# Where PS3.4 lists the attributes of a request (digest 3.1, 3.2, 3.3, 3.4, 8.1). The Film Session N-SET
# takes the N-CREATE list (digest 3.1).
ATTRIBUTE_TABLES: Mapping[tuple[str, Service], str] = {
    (FILM_SESSION, Service.N_CREATE): "PS3.4 Table H.4-2",
    (FILM_SESSION, Service.N_SET): "PS3.4 Table H.4-2",
    (FILM_BOX, Service.N_CREATE): "PS3.4 Table H.4-6",
    (FILM_BOX, Service.N_SET): "PS3.4 Table H.4-7",
    (GRAYSCALE_IMAGE_BOX, Service.N_SET): "PS3.4 Table H.4-10",
    (COLOR_IMAGE_BOX, Service.N_SET): "PS3.4 Table H.4-11",
    (uids.BASIC_ANNOTATION_BOX, Service.N_SET): "PS3.4 Table H.4-13",
}

# The PS3.3 module that gives an attribute's Enumerated Values / Defined Terms (digest 0.1, S3).
VALUE_MODULES: Mapping[str, str] = {
    FILM_SESSION: "PS3.3 C.13.1",
    FILM_BOX: "PS3.3 C.13.3",
    GRAYSCALE_IMAGE_BOX: "PS3.3 C.13.5",
    COLOR_IMAGE_BOX: "PS3.3 C.13.5",
}

# Where PS3.4 lists the statuses of an operation (digest 3.1, 3.2, 5.2, 7.1, 8.2); the general codes of
# every other operation are PS3.7's (digest 9.2: no SOP-specific codes for them).
STATUS_TABLES: Mapping[tuple[str, str], str] = {
    (FILM_SESSION, "N-CREATE"): "PS3.4 H.4.1.2.1.2",
    (FILM_SESSION, "N-SET"): "PS3.4 H.4.1.2.1.2",
    (FILM_SESSION, "N-ACTION"): "PS3.4 Table H.4-4",
    (FILM_BOX, "N-CREATE"): "PS3.4 Table H.4.2.2.1.2-1",
    (FILM_BOX, "N-SET"): "PS3.4 Table H.4.2.2.1.2-1",
    (FILM_BOX, "N-ACTION"): "PS3.4 Table H.4-9",
    (GRAYSCALE_IMAGE_BOX, "N-SET"): "PS3.4 Table H.4.3.1.2.1.2-1",
    (COLOR_IMAGE_BOX, "N-SET"): "PS3.4 Table H.4.3.2.2.1.2-1",
    (uids.PRESENTATION_LUT, "N-CREATE"): "PS3.4 Table H.4.9.2.1.2-1",
    # the SCU's answer to our event reports: it must accept them (M/M, digest 2)
    (uids.PRINT_JOB, "N-EVENT-REPORT"): "PS3.4 Table H.4-14",
    (uids.PRINTER, "N-EVENT-REPORT"): "PS3.4 Table H.4-16",
}
GENERAL_STATUSES = "PS3.7 Annex C"

# Where PS3.4 says an operation is on the last created Film Box, or deletes a hierarchy (digest 10.2).
FILM_BOX_OPERATIONS: Mapping[str, str] = {
    "N-SET": "PS3.4 H.4.2.2.2",
    "N-DELETE": "PS3.4 H.4.2.2.3",
    "N-ACTION": "PS3.4 H.4.2.2.4",
}
IMAGE_BOX_N_SET = "PS3.4 H.4.3.1.2.1"
FILM_SESSION_N_DELETE = "PS3.4 H.4.1.2.3"
FILM_SESSION_N_ACTION = "PS3.4 H.4.1.2.4"


# --- the association, read once ----------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """A request and the response to it (None: never answered)."""

    request: Message
    response: Message | None

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def succeeded(self) -> bool:
        """Answered with Success or a Warning: the operation was done."""
        return self.status is not None and not is_failure(self.status)

    @property
    def instance_uid(self) -> str:
        """The instance the request is about: the response names a created one."""
        if self.response is not None and self.response.sop_instance_uid:
            return self.response.sop_instance_uid
        return self.request.sop_instance_uid

    @property
    def data_set(self) -> tuple[Element, ...]:
        return self.request.data_set or ()


def is_warning(status: int) -> bool:
    """PS3.7 C.1: 0001, Bxxx, 0107 and 0116 are warnings."""
    return status in (0x0001, Status.ATTRIBUTE_LIST_ERROR, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE) or (
        0xB000 <= status <= 0xBFFF
    )


def is_failure(status: int) -> bool:
    """Anything but Success, a warning, Pending (FF00, FF01) or Cancel (FE00)."""
    return status != Status.SUCCESS and not is_warning(status) and status not in (0xFE00, 0xFF00, 0xFF01)


def pair(messages: Iterable[Message], requests_from: Direction) -> list[Exchange]:
    """The requests going `requests_from`, each with the first later response to its Message ID."""
    exchanges: list[Exchange] = []
    open_requests: dict[int | None, list[int]] = {}
    answers: dict[int, Message] = {}
    requests: list[Message] = []
    for message in messages:
        if message.is_request and message.direction is requests_from:
            open_requests.setdefault(message.message_id, []).append(len(requests))
            requests.append(message)
        elif not message.is_request and message.direction is not requests_from:
            waiting = open_requests.get(message.responding_to)
            if waiting:
                answers[waiting.pop(0)] = message
    for number, request in enumerate(requests):
        exchanges.append(Exchange(request, answers.get(number)))
    return exchanges


@dataclass
class FilmBoxState:
    uid: str
    created_by: int  # index of its N-CREATE-RQ
    image_boxes: tuple[str, ...]  # Referenced Image Box Sequence order: item k is Image Box Position k
    positions: dict[int, str] = field(default_factory=dict)  # Image Box Position sent -> the box it was sent to
    last_position: int = 0


@dataclass
class PrintJobState:
    film_boxes: tuple[str, ...]
    film_session: str
    event: int | None = None  # the last Event Type ID we reported (PS3.4 Table H.4-14)


@dataclass
class State:
    """What the association had built before a request (a Film Box N-DELETE removes its boxes, etc.)."""

    film_session: str = ""
    film_boxes: dict[str, FilmBoxState] = field(default_factory=dict)  # live, in creation order
    last_film_box: str = ""
    failed_film_boxes: dict[str, int] = field(default_factory=dict)  # SCU-given UID -> index of its N-CREATE
    deleted: dict[str, tuple[int, str]] = field(default_factory=dict)  # UID -> (index of the N-DELETE, reference)
    image_boxes: dict[str, str] = field(default_factory=dict)  # Image Box -> its Film Box
    filled: dict[str, bool] = field(default_factory=dict)  # Image Box -> holds an image
    presentation_luts: set[str] = field(default_factory=set)
    print_jobs: dict[str, PrintJobState] = field(default_factory=dict)

    def session_film_boxes(self) -> tuple[FilmBoxState, ...]:
        return tuple(self.film_boxes.values())


@dataclass(frozen=True)
class View:
    transcript: Transcript
    profile: PrinterProfile
    exchanges: tuple[Exchange, ...]  # the SCU's requests
    events: tuple[Exchange, ...]  # our N-EVENT-REPORT-RQs and the SCU's answers

    @property
    def negotiated(self) -> frozenset[str]:
        return frozenset(c.abstract_syntax for c in self.transcript.association.contexts if c.result == "accepted")


# --- small readers ----------------------------------------------------------------------------------------


def element(elements: Iterable[Element], tag: str) -> Element | None:
    return next((e for e in elements if e.tag == tag), None)


def referenced_uids(sequence: Element | None) -> tuple[str, ...]:
    """The Referenced SOP Instance UIDs of a reference sequence's items."""
    if sequence is None:
        return ()
    found = (find(item, "ReferencedSOPInstanceUID") for item in sequence.items or ())
    return tuple(str(e.value) for e in found if e is not None and e.value)


def integer(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def text_value(value: Any) -> str:
    return "" if value is None else str(value).strip()


def holds_image(data_set: Iterable[Element]) -> bool | None:
    """Whether an Image Box N-SET puts an image in the box (None: it sends no image sequence; zero items
    erase the box, digest 8.2)."""
    sequence = next((e for e in data_set if e.tag in IMAGE_SEQUENCES), None)
    return None if sequence is None else bool(sequence.items)


def status_text(status: int) -> str:
    try:
        return f"0x{status:04X} ({Status(status).name.replace('_', ' ').lower()})"
    except ValueError:
        return f"0x{status:04X}"


def finding(
    severity: Severity,
    message: Message | int,
    text: str,
    reference: str,
    tag: str = "",
    sent: Any = "",
    expected: str = "",
) -> Finding:
    keyword = (keyword_for_tag(tag_int(tag)) or "") if tag else ""
    index = message if isinstance(message, int) else message.index
    return Finding(severity, index, text, reference, tag, keyword, text_value(sent), expected)


# --- 2. attributes sent with the wrong usage -----------------------------------------------------------


def rows(sop_class: SOPClass, keyword: str) -> tuple[Attribute, ...]:
    return tuple(a for a in sop_class.attributes if a.keyword == keyword)


def listed(sop_class: SOPClass, service: Service, keyword: str) -> Attribute | None:
    """The row of the class's table for `service` that has `keyword`, if any."""
    return next((a for a in rows(sop_class, keyword) if a.usage(service) is not None), None)


def owner_of(keyword: str, service: Service, besides: str) -> SOPClass | None:
    """Another print class whose request of `service` (else any request) takes `keyword`."""
    others = [c for c in SOP_CLASSES.values() if c.uid != besides and rows(c, keyword)]
    return next((c for c in others if listed(c, service, keyword) is not None), others[0] if others else None)


def check_usage(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """Every attribute of an N-CREATE / N-SET must be a row of its class's table for that service (H.2.4)."""
    request = exchange.request
    service = SERVICES.get(request.command)
    sop_class = SOP_CLASSES.get(request.sop_class_uid)
    if service is None or sop_class is None or request.data_set is None:
        return
    table = ATTRIBUTE_TABLES.get((request.sop_class_uid, service))
    if table is None:
        return
    profile = view.profile
    where = f"{sop_class.name} {service}"
    for e in request.data_set:
        if e.tag == SPECIFIC_CHARACTER_SET or e.tag.endswith(",0000)"):
            continue  # group lengths carry no attribute
        name = e.keyword or f"private or unknown attribute {e.tag}"
        row = listed(sop_class, service, e.keyword) if e.keyword else None
        if row is not None and row.admitted_by is not None:
            film_box = ATTRIBUTE_TABLES[(FILM_BOX, service)]
            if profile.allows(row.admitted_by):
                yield finding(
                    Severity.WARNING,
                    request,
                    f"{name} in the {where} is a pre-CP-173 placement this printer's personality accepts; "
                    f"send it in the Basic Film Box instead, as a strict printer refuses it (0105)",
                    table,
                    e.tag,
                    e.value,
                    f"in the Basic Film Box {service} ({film_box})",
                )
            else:
                yield finding(
                    Severity.ERROR,
                    request,
                    f"{name} is a Basic Film Box attribute since CP 173, not an attribute of the {where}; send it in "
                    "the Film Box",
                    table,
                    e.tag,
                    e.value,
                    f"in the Basic Film Box {service} ({film_box})",
                )
        elif row is not None and not row.available(profile):
            yield finding(
                Severity.WARNING,
                request,
                f"this printer does not support {name} (a {row.usage(service)} attribute it may leave out); "
                "expect 0105 or 0107 and the printer's own behaviour",
                table,
                e.tag,
                e.value,
                "an attribute the printer's conformance statement supports",
            )
        elif row is None:
            other = rows(sop_class, e.keyword) if e.keyword else ()
            owner = owner_of(e.keyword, service, sop_class.uid) if e.keyword else None
            if other:
                services = " and ".join(s for s in (Service.N_CREATE, Service.N_SET) if other[0].usage(s))
                why = f"{name} can be sent only in the {sop_class.name} {services}, not its {service}"
            elif owner is not None:
                why = f"{name} is a {owner.name} attribute, not an attribute of the {where}"
            else:
                why = f"{name} is not an attribute of the {where}"
            yield finding(
                Severity.ERROR,
                request,
                f"{why}; leave it out (a strict printer refuses the request with 0105)",
                table,
                e.tag,
                e.value,
                f"only the attributes of {table}",
            )


# --- 3. values outside Enumerated Values / Defined Terms ---------------------------------------------


@dataclass(frozen=True)
class TermRule:
    """How one attribute's value is judged.

    `standard`: whether PS3.3 lists the value (None: the standard leaves the terms to the Conformance
    Statement). `supported`: whether this printer takes it (None: every standard value). `enumerated`: a
    value outside the standard's list is an error whatever the printer does. A Defined Term the printer
    does not support: `unsupported` (U/M, U/U: the printer answers 0116 and uses its default; M/M: 0106).
    A value neither standard nor supported nor a vendor alias: `unknown`.
    """

    expected: str
    standard: Callable[[str], bool] | None
    supported: Callable[[PrinterProfile, str], bool] | None = None
    enumerated: bool = False
    unsupported: Severity = Severity.WARNING
    unknown: Severity = Severity.ERROR


def enumerated(values: Iterable[str]) -> TermRule:
    allowed = tuple(values)
    return TermRule(", ".join(allowed), allowed.__contains__, enumerated=True)


def within(choices: Callable[[PrinterProfile], Iterable[str]]) -> Callable[[PrinterProfile, str], bool]:
    return lambda profile, value: value in tuple(choices(profile))


def display_format_kind(value: str) -> str | None:
    try:
        return ImageDisplayFormat.parse(value).kind
    except LayoutError:
        return None


STANDARD_FILM_SIZES = tuple(size for size in FILM_SIZES_MM if size not in VENDOR_FILM_SIZES)
_DENSITIES = "BLACK, WHITE or a density in hundredths of OD"

TERMS: Mapping[str, TermRule] = {
    "PrintPriority": enumerated(PrintPriority),
    "MediumType": TermRule(", ".join(MEDIUM_TYPES), MEDIUM_TYPES.__contains__, within(lambda p: p.medium_types)),
    "FilmDestination": TermRule(
        "MAGAZINE, PROCESSOR or BIN_i",
        lambda v: FILM_DESTINATION_PATTERN.fullmatch(v) is not None,
        within(lambda p: p.film_destinations),
    ),
    "FilmOrientation": enumerated(FilmOrientation),
    "FilmSizeID": TermRule(
        ", ".join(STANDARD_FILM_SIZES), STANDARD_FILM_SIZES.__contains__, within(lambda p: p.film_size_ids)
    ),
    "MagnificationType": TermRule(
        ", ".join(MagnificationType),
        lambda v: v in tuple(MagnificationType),
        within(lambda p: p.magnification_types),
    ),
    "SmoothingType": TermRule(
        "a Smoothing Type of the printer's conformance statement",
        None,
        within(lambda p: p.smoothing_types),
        unknown=Severity.WARNING,
    ),
    "ConfigurationInformation": TermRule(
        "a configuration of the printer's conformance statement",
        None,
        within(lambda p: p.contrast_curves),
        unknown=Severity.WARNING,
    ),
    "RequestedResolutionID": TermRule(
        ", ".join(RequestedResolutionID),
        lambda v: v in tuple(RequestedResolutionID),
        within(lambda p: p.resolutions),
    ),
    "Trim": enumerated(Trim),
    "Polarity": enumerated(Polarity),
    "RequestedDecimateCropBehavior": enumerated(RequestedDecimateCropBehavior),
    "BorderDensity": TermRule(_DENSITIES, lambda v: v in ("BLACK", "WHITE") or v.isdigit()),
    "EmptyImageDensity": TermRule(_DENSITIES, lambda v: v in ("BLACK", "WHITE") or v.isdigit()),
    # M/M: an unsupported format is refused (0106, PS3.4 H.2.4)
    "ImageDisplayFormat": TermRule(
        "STANDARD\\C,R, ROW\\R1,R2,..., COL\\C1,C2,..., SLIDE, SUPERSLIDE or CUSTOM\\i",
        lambda v: display_format_kind(v) is not None,
        lambda p, v: display_format_kind(v) in p.image_display_formats,
        enumerated=True,
        unsupported=Severity.ERROR,
    ),
}


def judge(rule: TermRule, keyword: str, value: str, profile: PrinterProfile) -> tuple[Severity, str] | None:
    """Severity and the reason, or None when the value is fine."""
    in_standard = rule.standard(value) if rule.standard is not None else None
    if rule.enumerated and not in_standard:
        return Severity.ERROR, f"'{value}' is not one of the Enumerated Values of {keyword}"
    supported = rule.supported(profile, value) if rule.supported is not None else bool(in_standard)
    if supported:
        if in_standard is False:
            return (
                Severity.NOTE,
                f"'{value}' is not a PS3.3 Defined Term of {keyword}: only printers that list it take it",
            )
        return None
    alias = profile.term_aliases.get(keyword, {}).get(value) if profile.allows(Leniency.VENDOR_TERMS) else None
    if alias is not None:
        return (
            Severity.WARNING,
            f"'{value}' is a vendor term this printer maps to '{alias}'; other printers refuse it or use their default",
        )
    if in_standard:
        return (
            rule.unsupported,
            f"this printer does not support {keyword} '{value}'; it answers 0116 and uses its default",
        )
    return rule.unknown, f"'{value}' is neither a Defined Term of {keyword} nor one this printer supports"


def check_values(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    request = exchange.request
    service = SERVICES.get(request.command)
    sop_class = SOP_CLASSES.get(request.sop_class_uid)
    module = VALUE_MODULES.get(request.sop_class_uid)
    if service is None or sop_class is None or module is None:
        return
    for e in exchange.data_set:
        rule = TERMS.get(e.keyword)
        row = listed(sop_class, service, e.keyword)
        value = text_value(e.value)
        # an attribute out of place is check_usage's; an empty one takes the printer's default
        if rule is None or row is None or not row.available(view.profile) or not value:
            continue
        verdict = judge(rule, e.keyword, value, view.profile)
        if verdict is not None:
            severity, why = verdict
            yield finding(severity, request, why, module, e.tag, value, rule.expected)


# --- 4. Image Box Position ----------------------------------------------------------------------------


def check_image_box_position(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """Each Image Box is bound to a position: item k of the Film Box's Referenced Image Box Sequence is Image
    Box Position k (digest 4.3; PS3.4 no longer has a status for a position collision, C604 is retired
    because a collision "is not a possible state")."""
    request = exchange.request
    if request.command != "N-SET-RQ" or request.sop_class_uid not in IMAGE_BOXES:
        return
    box = state.film_boxes.get(state.image_boxes.get(request.sop_instance_uid, ""))
    sent = element(exchange.data_set, IMAGE_BOX_POSITION)
    position = integer(sent.value) if sent is not None else None
    if box is None or position is None:
        return
    own = box.image_boxes.index(request.sop_instance_uid) + 1
    table = ATTRIBUTE_TABLES[(request.sop_class_uid, Service.N_SET)]
    holder = box.positions.get(position)
    if holder is not None and holder != request.sop_instance_uid:
        yield finding(
            Severity.ERROR,
            request,
            f"Image Box Position {position} was already sent for another Image Box of this Film Box; "
            "send each position once, to the box listed at that place in the Referenced Image Box Sequence",
            table,
            IMAGE_BOX_POSITION,
            position,
            f"{own}, a position no other Image Box of the Film Box has",
        )
    elif position != own:
        yield finding(
            Severity.ERROR,
            request,
            f"this Image Box is item {own} of the Film Box's Referenced Image Box Sequence, so its "
            f"position is {own}, not {position}",
            table,
            IMAGE_BOX_POSITION,
            position,
            str(own),
        )
    elif holder is None and position < box.last_position:
        yield finding(
            Severity.NOTE,
            request,
            f"Image Box Position {position} comes after {box.last_position}; some printers fill boxes in the "
            "order they are set",
            table,
            IMAGE_BOX_POSITION,
            position,
            f"positions in increasing order (after {box.last_position})",
        )


# --- 5. printing before every Image Box holds an image ------------------------------------------------


def check_partly_filled(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """Boxes with no image print with Empty Image Density (digest 8.2); a film with none is B603/B602's."""
    request = exchange.request
    if request.command != "N-ACTION-RQ" or request.sop_class_uid not in (FILM_BOX, FILM_SESSION):
        return
    if request.sop_class_uid == FILM_BOX:
        boxes: tuple[FilmBoxState, ...] = tuple(
            b for b in (state.film_boxes.get(request.sop_instance_uid),) if b is not None
        )
        reference = FILM_BOX_OPERATIONS["N-ACTION"]
    else:
        boxes, reference = state.session_film_boxes(), FILM_SESSION_N_ACTION
    for box in boxes:
        empty = [k + 1 for k, uid in enumerate(box.image_boxes) if not state.filled.get(uid)]
        if empty and len(empty) < len(box.image_boxes):
            positions = ", ".join(str(p) for p in empty)
            yield finding(
                Severity.WARNING,
                request,
                f"Image Box Position {positions} of Film Box {box.uid} never got an image and prints empty "
                "(Empty Image Density); set every box or choose an Image Display Format with fewer boxes",
                reference,
                sent=f"{len(box.image_boxes) - len(empty)} of {len(box.image_boxes)} Image Boxes set",
                expected=f"all {len(box.image_boxes)} Image Boxes set",
            )


# --- 6. Film Box or Film Session deleted while its print job was pending --------------------------------


def check_deleted_while_printing(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """A note, not a warning: N-DELETE while a job is pending is allowed. The print job holds its own copy of
    the hierarchy (PS3.4 H.4.2.2.4: the SCU "may further update the working SOP Instances without affecting
    the result of previous print requests"), and the SCP keeps what a job still references (digest 10.2).
    Worth knowing only because an SCU that deletes early usually also stops following the job."""
    request = exchange.request
    if request.command != "N-DELETE-RQ" or request.sop_class_uid not in (FILM_BOX, FILM_SESSION):
        return
    uid = request.sop_instance_uid
    is_box = request.sop_class_uid == FILM_BOX
    for job_uid, job in state.print_jobs.items():
        if job.event in (JOB_DONE, JOB_FAILURE) or not (uid in job.film_boxes if is_box else uid == job.film_session):
            continue
        said = {JOB_PENDING: "still PENDING", JOB_PRINTING: "still PRINTING"}.get(job.event or 0, "not yet reported")
        yield finding(
            Severity.NOTE,
            request,
            f"the {'Film Box' if is_box else 'Film Session'} was deleted while Print Job {job_uid} was "
            f"{said}; the job prints from its own copy, but wait for DONE or FAILURE to learn the result",
            FILM_BOX_OPERATIONS["N-DELETE"] if is_box else FILM_SESSION_N_DELETE,
            sent=f"N-DELETE with the Print Job {said}",
            expected="N-DELETE after the Print Job's DONE or FAILURE event",
        )


# --- 7. 12-bit pixels to an 8-bit printer ---------------------------------------------------------------


def check_bit_depth(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    request = exchange.request
    if request.command != "N-SET-RQ" or request.sop_class_uid not in IMAGE_BOXES or view.profile.supports_12_bit:
        return
    for sequence in (e for e in exchange.data_set if e.tag in IMAGE_SEQUENCES):
        for item in sequence.items or ():
            bits = element(item, BITS_STORED)
            if bits is not None and integer(bits.value) == 12:
                yield finding(
                    Severity.ERROR,
                    request,
                    "this printer prints 8-bit images only (its conformance statement); send Bits Stored 8 "
                    "with Bits Allocated 8 and High Bit 7",
                    ATTRIBUTE_TABLES[(request.sop_class_uid, Service.N_SET)],
                    BITS_STORED,
                    12,
                    "8",
                )


# --- 8. a Presentation LUT referenced before it was created ---------------------------------------------


def check_presentation_lut(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """The SCU creates a Presentation LUT before it references it; it lives until N-DELETE or the end of
    the association (digest 7.1)."""
    request = exchange.request
    service = SERVICES.get(request.command)
    table = ATTRIBUTE_TABLES.get((request.sop_class_uid, service)) if service is not None else None
    if table is None:
        return
    for uid in referenced_uids(element(exchange.data_set, REFERENCED_PRESENTATION_LUT_SEQUENCE)):
        if uid not in state.presentation_luts:
            yield finding(
                Severity.ERROR,
                request,
                f"Presentation LUT {uid} was not created on this association (or was deleted); N-CREATE it "
                "before referencing it",
                table,
                REFERENCED_PRESENTATION_LUT_SEQUENCE,
                uid,
                "the UID of a Presentation LUT created on this association",
            )


# --- 10. operations on film boxes that are not (or no longer) there -------------------------------------


def check_hierarchy(exchange: Exchange, state: State, view: View) -> Iterator[Finding]:
    """Film Box N-SET, N-ACTION and N-DELETE, and Image Box N-SET, are for the last created Film Box
    only; nothing is left of a deleted Film Session or Film Box (digest 10.2)."""
    request = exchange.request
    operation = request.operation
    uid = request.sop_instance_uid
    if request.sop_class_uid == FILM_BOX and operation in FILM_BOX_OPERATIONS:
        reference = FILM_BOX_OPERATIONS[operation]
        film_box = uid
    elif request.sop_class_uid in IMAGE_BOXES and operation == "N-SET":
        reference = IMAGE_BOX_N_SET
        film_box = state.image_boxes.get(uid, "")
    elif request.sop_class_uid == FILM_SESSION and operation in ("N-SET", "N-ACTION", "N-DELETE"):
        if uid in state.deleted:
            deleted_by, reference = state.deleted[uid]
            yield finding(
                Severity.ERROR,
                request,
                f"the Film Session was deleted by message {deleted_by}; create a new one first",
                reference,
                sent=f"{operation} of a deleted Film Session",
                expected="a request on the open Film Session",
            )
        return
    else:
        return
    if uid in state.deleted:
        deleted_by, deleted_reference = state.deleted[uid]
        what = "Film Box" if film_box == uid else "Image Box"
        yield finding(
            Severity.ERROR,
            request,
            f"this {what} was deleted by message {deleted_by}; nothing of a deleted hierarchy can be used",
            deleted_reference,
            sent=f"{operation} of a deleted {what}",
            expected="a request on the last created Film Box",
        )
    elif uid in state.failed_film_boxes:
        yield finding(
            Severity.ERROR,
            request,
            f"the N-CREATE of this Film Box (message {state.failed_film_boxes[uid]}) failed, so it does not "
            "exist; create it again before using it",
            reference,
            sent=f"{operation} of a Film Box whose N-CREATE failed",
            expected="a request on the last created Film Box",
        )
    elif film_box in state.film_boxes and film_box != state.last_film_box:
        yield finding(
            Severity.ERROR,
            request,
            f"Film Box {film_box} is not the last created one ({state.last_film_box}); only the last created "
            "Film Box and its Image Boxes can be set, printed or deleted",
            reference,
            sent=f"{operation} on an earlier Film Box",
            expected="a request on the last created Film Box",
        )


# --- 9. how the association ended -----------------------------------------------------------------------

UNRELEASED: Mapping[Outcome, tuple[str, str]] = {
    Outcome.ABORTED: ("the SCU aborted the association (A-ABORT) instead of releasing it", "PS3.8 7.3"),
    Outcome.CLOSED: ("the SCU closed the connection without releasing the association", "PS3.8 7.2"),
    Outcome.TIMEOUT: ("the SCU left the association idle until it timed out instead of releasing it", "PS3.8 7.2"),
}


def check_release(view: View) -> Iterator[Finding]:
    """An association ends with A-RELEASE (PS3.8 7.2); A-ABORT is for abnormal ends (PS3.8 7.3). Still a
    warning when nothing was printed: printers discard unprinted film boxes either way (PS3.4 H.5), but
    some treat an abort as a fault of their own."""
    ending = UNRELEASED.get(view.transcript.outcome)
    if ending is None:
        return
    text, reference = ending
    yield finding(
        Severity.WARNING,
        0,
        f"{text}; end every association with A-RELEASE",
        reference,
        sent=view.transcript.outcome.value,
        expected="A-RELEASE-RQ",
    )


# --- 1. every status printscp answered, and the SCU's answers to our event reports -----------------------


def status_findings(view: View) -> Iterator[tuple[Finding, tuple[str, ...]]]:
    """Each non-Success status as a finding, with every tag the response names (for the de-duplication)."""
    forced = {f.message_index for f in view.transcript.faults}
    for exchange in view.exchanges:
        request, response, status = exchange.request, exchange.response, exchange.status
        if response is None or status is None or request.index in forced:
            continue
        if not is_failure(status) and not is_warning(status):
            continue
        reference = STATUS_TABLES.get((request.sop_class_uid, request.operation), GENERAL_STATUSES)
        comment = f": {response.error_comment}" if response.error_comment else ""
        yield (
            finding(
                Severity.ERROR if is_failure(status) else Severity.WARNING,
                request,
                f"printscp answered this {request.operation} of {request.sop_class or 'the SOP class'} with "
                f"{status_text(status)}{comment}",
                reference,
                response.offending_elements[0] if response.offending_elements else "",
                f"0x{status:04X}{comment}",
                "0x0000 (success)",
            ),
            response.offending_elements,
        )
    for event in view.events:
        response, status = event.response, event.status
        if response is None or status is None or not is_failure(status):
            continue
        reference = STATUS_TABLES.get((event.request.sop_class_uid, "N-EVENT-REPORT"), GENERAL_STATUSES)
        yield (
            finding(
                Severity.ERROR,
                response,
                f"the SCU refused our {event.request.sop_class or ''} N-EVENT-REPORT with {status_text(status)}; "
                "a print SCU must accept printer and print job event reports (M/M)",
                reference,
                sent=f"0x{status:04X}",
                expected="0x0000 (success)",
            ),
            (),
        )


def explained(status: Finding, tags: tuple[str, ...], specific: Iterable[Finding]) -> Finding | None:
    """The status finding about the first tag no specific finding of the same message explains; None when
    they explain them all. A response that names no tag is explained by any specific finding of the message
    at least as severe (a failure by an error, a warning by a warning or an error)."""
    same = [f for f in specific if f.message_index == status.message_index]
    covered = {f.tag for f in same}
    if not tags:
        severe = {Severity.ERROR} if status.severity is Severity.ERROR else {Severity.ERROR, Severity.WARNING}
        return None if "" in covered or any(f.severity in severe for f in same) else status
    rest = [t for t in tags if t not in covered]
    if not rest:
        return None
    tag = rest[0]
    return Finding(
        status.severity,
        status.message_index,
        status.text,
        status.reference,
        tag,
        keyword_for_tag(tag_int(tag)) or "",
        status.sent,
        status.expected,
    )


# --- the walk -------------------------------------------------------------------------------------------

ExchangeCheck = Callable[[Exchange, State, View], Iterable[Finding]]
TranscriptCheck = Callable[[View], Iterable[Finding]]

EXCHANGE_CHECKS: tuple[ExchangeCheck, ...] = (
    check_usage,
    check_values,
    check_image_box_position,
    check_partly_filled,
    check_deleted_while_printing,
    check_bit_depth,
    check_presentation_lut,
    check_hierarchy,
)
TRANSCRIPT_CHECKS: tuple[TranscriptCheck, ...] = (check_release,)


def apply(exchange: Exchange, state: State) -> None:
    """What the request did, once answered: the state the next request meets."""
    request = exchange.request
    kind, operation, uid = request.sop_class_uid, request.operation, exchange.instance_uid
    if not exchange.succeeded:
        if kind == FILM_BOX and operation == "N-CREATE" and request.sop_instance_uid:
            state.failed_film_boxes[request.sop_instance_uid] = request.index
        return
    if kind == FILM_SESSION and operation == "N-CREATE":
        state.film_session = uid
        state.deleted.pop(uid, None)
    elif kind == FILM_SESSION and operation == "N-DELETE":
        for film_box in state.session_film_boxes():
            forget_film_box(film_box, state, request.index, FILM_SESSION_N_DELETE)
        state.deleted[uid] = (request.index, FILM_SESSION_N_DELETE)
        state.film_session = ""
    elif kind == FILM_BOX and operation == "N-CREATE":
        reply = exchange.response.data_set if exchange.response is not None else None
        boxes = referenced_uids(element(reply or (), REFERENCED_IMAGE_BOX_SEQUENCE))
        state.film_boxes[uid] = FilmBoxState(uid, request.index, boxes)
        state.image_boxes.update({image_box: uid for image_box in boxes})
        state.last_film_box = uid
    elif kind == FILM_BOX and operation == "N-DELETE" and uid in state.film_boxes:
        forget_film_box(state.film_boxes[uid], state, request.index, FILM_BOX_OPERATIONS["N-DELETE"])
    elif kind in IMAGE_BOXES and operation == "N-SET":
        image = holds_image(exchange.data_set)
        if image is not None:
            state.filled[uid] = image
        box = state.film_boxes.get(state.image_boxes.get(uid, ""))
        position = integer(v.value) if (v := element(exchange.data_set, IMAGE_BOX_POSITION)) is not None else None
        if box is not None and position is not None:
            box.positions.setdefault(position, uid)
            box.last_position = max(box.last_position, position)
    elif kind == uids.PRESENTATION_LUT and operation == "N-CREATE":
        state.presentation_luts.add(uid)
    elif kind == uids.PRESENTATION_LUT and operation == "N-DELETE":
        state.presentation_luts.discard(uid)
    elif kind in (FILM_BOX, FILM_SESSION) and operation == "N-ACTION":
        reply = exchange.response.data_set if exchange.response is not None else None
        printed = (uid,) if kind == FILM_BOX else tuple(state.film_boxes)
        for job in referenced_uids(element(reply or (), REFERENCED_PRINT_JOB_SEQUENCE)):
            state.print_jobs[job] = PrintJobState(printed, state.film_session)


def forget_film_box(box: FilmBoxState, state: State, index: int, reference: str) -> None:
    del state.film_boxes[box.uid]
    state.deleted[box.uid] = (index, reference)
    for image_box in box.image_boxes:
        state.deleted[image_box] = (index, reference)
        state.image_boxes.pop(image_box, None)


def report(event: Message, state: State) -> None:
    """Our Print Job N-EVENT-REPORT: the job's execution status as the SCU last heard it."""
    if event.sop_class_uid == uids.PRINT_JOB and event.sop_instance_uid in state.print_jobs:
        state.print_jobs[event.sop_instance_uid].event = event.event_type_id


def check(transcript: Transcript, profile: PrinterProfile) -> tuple[Finding, ...]:
    """The findings of one recorded association, in message order. The transcript must be an acceptor's
    (printscp's server); `printscp print` records its own association as the requestor, whose messages
    run the other way: ValueError."""
    if transcript.association.role != "acceptor":
        raise ValueError(f"findings are for printscp's side of an association, not the {transcript.association.role}")
    view = View(
        transcript,
        profile,
        tuple(pair(transcript.messages, Direction.RECEIVED)),
        tuple(pair(transcript.messages, Direction.SENT)),
    )
    state = State()
    events = iter(e.request for e in view.events)
    pending = next(events, None)
    specific: list[Finding] = []
    for exchange in view.exchanges:
        while pending is not None and pending.index < exchange.request.index:
            report(pending, state)
            pending = next(events, None)
        for rule in EXCHANGE_CHECKS:
            specific.extend(rule(exchange, state, view))
        apply(exchange, state)
    for whole in TRANSCRIPT_CHECKS:
        specific.extend(whole(view))
    statuses = [explained(f, tags, specific) for f, tags in status_findings(view)]
    findings = specific + [f for f in statuses if f is not None]
    return tuple(sorted(findings, key=lambda f: f.message_index))
