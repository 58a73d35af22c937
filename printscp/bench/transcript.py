"""A transcript: what one association said and what printscp answered, as plain immutable records.

The recorder (bench/recorder.py) writes a transcript as JSON Lines while the association runs, one record a
line, so that a server killed mid-association leaves what it had heard:

    {"record": "association", ...}     Association: who, when, and the negotiation (PS3.8 9.3.2, 9.3.3)
    {"record": "message", ...}         Message: one DIMSE message, received or sent, in the order seen
    {"record": "fault", ...}           FaultApplied: a fault of the fault plan that changed an answer
    {"record": "end", ...}             End: how the association ended
    {"record": "findings", ...}        the findings and the verdict, when the association has ended

`load` reads such a file back into a `Transcript`, and `Transcript.to_json` is the report's JSON, whose
schema (docs/transcript.schema.json) is stable: fields are added, never renamed or removed, within a version.

Data sets are kept as `Element` summaries: every attribute with its tag, keyword, VR and value, sequences
with their items, and binary values (Pixel Data, LUT Data) as their length and SHA-256 only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from printscp.model.reading import sequence_from_view

SCHEMA = "printscp-transcript/1"


class Direction(StrEnum):
    RECEIVED = "received"  # from the peer to printscp
    SENT = "sent"  # from printscp to the peer


class Outcome(StrEnum):
    """How an association ended."""

    OPEN = "open"  # not ended yet (or the server stopped without a word)
    RELEASED = "released"  # A-RELEASE (PS3.8 7.2)
    ABORTED = "aborted"  # A-ABORT from the peer
    ABORTED_BY_PRINTSCP = "aborted by printscp"  # A-ABORT we sent: a fault, a limit, a timeout, a shutdown
    CLOSED = "closed"  # the TCP connection closed without release or abort
    REJECTED = "rejected"  # A-ASSOCIATE-RJ
    TIMEOUT = "timeout"  # idle, ARTIM or PDU timeout


class Severity(StrEnum):
    ERROR = "error"  # the standard (or the printer) does not allow it: the verdict is fail
    WARNING = "warning"  # allowed, but a real printer may refuse it or print something else
    NOTE = "note"  # worth knowing; no effect on the verdict


class Verdict(StrEnum):
    PASS = "pass"
    PASS_WITH_WARNINGS = "pass with warnings"
    FAIL = "fail"


@dataclass(frozen=True)
class Element:
    """One attribute of a data set, summarised.

    `value`: text VRs as a string (several values joined by a backslash, as on the wire), numbers as a
    number or a list of numbers, UIDs and tags as strings; None when empty or binary. `items`: a
    sequence's items. `length` and `sha256`: a binary value (OB, OW, UN ...), e.g. Pixel Data, which is not
    kept. `error`: the value could not be read (then `raw` holds its first bytes in hex).
    """

    tag: str  # "(2010,0010)"
    keyword: str  # "" for a private or unknown attribute
    vr: str
    value: Any = None
    items: tuple[tuple[Element, ...], ...] | None = None
    length: int | None = None
    sha256: str | None = None
    error: str | None = None
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tag": self.tag, "keyword": self.keyword, "vr": self.vr}
        if self.items is not None:
            data["items"] = [[e.to_json() for e in item] for item in self.items]
        elif self.length is not None:
            data["length"], data["sha256"] = self.length, self.sha256
        else:
            data["value"] = self.value
        if self.error is not None:
            data["error"], data["raw"] = self.error, self.raw
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Element:
        items = data.get("items")
        return cls(
            tag=data["tag"],
            keyword=data.get("keyword", ""),
            vr=data.get("vr", ""),
            value=data.get("value"),
            items=tuple(tuple(cls.from_json(e) for e in item) for item in items) if items is not None else None,
            length=data.get("length"),
            sha256=data.get("sha256"),
            error=data.get("error"),
            raw=data.get("raw"),
        )


def tag_int(tag: str) -> int:
    """'(2010,0010)' -> 0x20100010."""
    group, element = tag.strip("()").split(",")
    return (int(group, 16) << 16) | int(element, 16)


def tag_text(tag: int) -> str:
    """0x20100010 -> '(2010,0010)'."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def find(elements: Iterable[Element], keyword: str) -> Element | None:
    """The top-level element called `keyword`, or None."""
    return next((e for e in elements if e.keyword == keyword), None)


@dataclass(frozen=True)
class PresentationContext:
    """A presentation context the peer proposed, and what became of it (PS3.8 9.3.2.2, 9.3.3.2)."""

    context_id: int
    abstract_syntax: str
    name: str  # e.g. "Basic Grayscale Print Management Meta"
    transfer_syntaxes: tuple[str, ...]  # proposed
    result: str  # "accepted", or why not: "abstract syntax not supported", "transfer syntaxes not supported", ...
    transfer_syntax: str | None = None  # the accepted one


@dataclass(frozen=True)
class Association:
    """The association's identity and negotiation, as the A-ASSOCIATE-RQ and our answer had them."""

    id: str  # the association id of the server log (net/association_log.py)
    peer: str  # "host:port"
    calling_ae_title: str
    called_ae_title: str
    printer: str  # the AE title of the printer the Called AE Title selected ("" when rejected)
    started: str  # ISO 8601 with offset, milliseconds
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    max_pdu_proposed: int = 0  # the peer's Maximum Length Received (0: unlimited)
    max_pdu_accepted: int = 0  # ours
    contexts: tuple[PresentationContext, ...] = ()
    rejection: str | None = None  # A-ASSOCIATE-RJ result, source and reason in words
    role: str = "acceptor"  # "requestor" in the transcript `printscp print` writes of its own association


@dataclass(frozen=True)
class Message:
    """One DIMSE message (PS3.7 9.3, 10.3), in the order it was received or sent."""

    index: int  # 1-based, the order on the association
    direction: Direction
    time: str  # ISO 8601 with offset, milliseconds
    command: str  # "N-CREATE-RQ", "N-SET-RSP", "C-ECHO-RQ" ... (PS3.7 E.1 names)
    message_id: int | None = None  # a request's Message ID
    responding_to: int | None = None  # a response's Message ID Being Responded To
    sop_class_uid: str = ""  # Affected or Requested SOP Class UID
    sop_class: str = ""  # its name
    sop_instance_uid: str = ""  # Affected or Requested SOP Instance UID
    action_type_id: int | None = None
    event_type_id: int | None = None
    status: int | None = None  # a response's Status
    error_comment: str = ""
    offending_elements: tuple[str, ...] = ()  # "(2010,0010)", from Offending Element or Attribute Identifier List
    attribute_identifiers: tuple[str, ...] = ()  # an N-GET-RQ's Attribute Identifier List
    data_set: tuple[Element, ...] | None = None  # None: the message had no data set
    elapsed_ms: float | None = None  # a response: from its request's arrival (or sending) to it
    data_set_file: str | None = None  # with transcripts.keep_pixels: the data set as received, file name

    @property
    def is_request(self) -> bool:
        return self.command.endswith("-RQ")

    @property
    def operation(self) -> str:
        """'N-CREATE' of 'N-CREATE-RQ'."""
        return self.command.rsplit("-", 1)[0]


@dataclass(frozen=True)
class FaultApplied:
    """A fault of the fault plan (bench/faults.py) that changed how a request was answered."""

    message_index: int  # the request it was applied to (0: none)
    fault: str  # the rule as `printscp fault list` shows it
    effect: str  # what it did: "answered 0xC602", "delayed 5.0 s", "aborted", "printer FAILURE (FILM JAM)"
    time: str = ""


@dataclass(frozen=True)
class End:
    outcome: Outcome
    time: str
    detail: str = ""  # e.g. the abort's source and reason, or which timeout


@dataclass(frozen=True)
class Finding:
    """A deviation from PS3.4 Annex H or from the printer's personality."""

    severity: Severity
    message_index: int  # the message it is about (0: the association as a whole)
    text: str  # one sentence an SCU engineer acts on
    reference: str  # "PS3.4 H.4.3.1.2.1", "PS3.4 Table H.4-13", "PS3.8 7.2"
    tag: str = ""  # "(2020,0010)" when it is about one attribute
    keyword: str = ""
    sent: str = ""  # what the SCU sent (a value, a status, an order)
    expected: str = ""  # what the standard (or the printer) expects


@dataclass(frozen=True)
class Film:
    """A film this association printed, as the archive has it."""

    job_uid: str
    film_number: int
    pdf: str  # path, relative to the archive folder
    png: str


@dataclass(frozen=True)
class Transcript:
    association: Association
    messages: tuple[Message, ...] = ()
    faults: tuple[FaultApplied, ...] = ()
    end: End | None = None
    findings: tuple[Finding, ...] = ()
    films: tuple[Film, ...] = ()  # filled in from the archive's index when a report is made
    judged: bool = False  # the file has its findings: the association has ended and been checked

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.findings)

    @property
    def outcome(self) -> Outcome:
        return self.end.outcome if self.end is not None else Outcome.OPEN

    def to_json(self) -> dict[str, Any]:
        """The report's JSON (docs/transcript.schema.json)."""
        return {
            "schema": SCHEMA,
            "association": _plain(self.association),
            "messages": [_message_json(m) for m in self.messages],
            "faults": [_plain(f) for f in self.faults],
            "end": _plain(self.end) if self.end is not None else None,
            "findings": [_plain(f) for f in self.findings],
            "verdict": self.verdict.value,
            "films": [_plain(f) for f in self.films],
        }


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return Verdict.FAIL
    if Severity.WARNING in severities:
        return Verdict.PASS_WITH_WARNINGS
    return Verdict.PASS


def _plain(record: Any) -> dict[str, Any]:
    data = asdict(record)
    if isinstance(record, Association):
        data["contexts"] = [{**asdict(c), "transfer_syntaxes": list(c.transfer_syntaxes)} for c in record.contexts]
    return data


def _message_json(message: Message) -> dict[str, Any]:
    # not asdict(): it would first copy every Element of the data set, deeply, for nothing
    data = {f.name: getattr(message, f.name) for f in fields(Message) if f.name != "data_set"}
    data["direction"] = message.direction.value
    data["offending_elements"] = list(message.offending_elements)
    data["attribute_identifiers"] = list(message.attribute_identifiers)
    data["data_set"] = [e.to_json() for e in message.data_set] if message.data_set is not None else None
    return data


# --- the JSON Lines file ----------------------------------------------------------------------------------


def line(record: Association | Message | FaultApplied | End | tuple[Finding, ...]) -> str:
    """One line of a transcript file (without the newline)."""
    if isinstance(record, tuple):
        data: dict[str, Any] = {"record": "findings", "findings": [_plain(f) for f in record]}
    elif isinstance(record, Message):
        data = {"record": "message", **_message_json(record)}
    else:
        kind = {Association: "association", FaultApplied: "fault", End: "end"}[type(record)]
        data = {"record": kind, **_plain(record)}
    return _LINE_ENCODER.encode(data)


# json.dumps with these options builds a new encoder for every call
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def parse(lines: Iterable[str]) -> Transcript:
    """A transcript from its file's lines; a last line cut short (the server was killed) is left out."""
    association: Association | None = None
    messages: list[Message] = []
    faults: list[FaultApplied] = []
    end: End | None = None
    findings: tuple[Finding, ...] = ()
    judged = False
    for text in lines:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            continue  # a line being written when the process died
        kind = data.pop("record", None)
        if kind == "association":
            contexts = tuple(
                PresentationContext(**{**c, "transfer_syntaxes": tuple(c["transfer_syntaxes"])})
                for c in data.pop("contexts", ())
            )
            association = Association(**data, contexts=contexts)
        elif kind == "message":
            messages.append(_message_from_json(data))
        elif kind == "fault":
            faults.append(FaultApplied(**data))
        elif kind == "end":
            end = End(outcome=Outcome(data["outcome"]), time=data["time"], detail=data.get("detail", ""))
        elif kind == "findings":
            judged = True
            findings = tuple(Finding(**{**f, "severity": Severity(f["severity"])}) for f in data.get("findings", ()))
    if association is None:
        raise ValueError("not a transcript: no association record")
    return Transcript(association, tuple(messages), tuple(faults), end, findings, judged=judged)


def _message_from_json(data: dict[str, Any]) -> Message:
    data_set = data.pop("data_set", None)
    return Message(
        **{
            **data,
            "direction": Direction(data["direction"]),
            "offending_elements": tuple(data.get("offending_elements", ())),
            "attribute_identifiers": tuple(data.get("attribute_identifiers", ())),
        },
        data_set=tuple(Element.from_json(e) for e in data_set) if data_set is not None else None,
    )


def load(path: Path) -> Transcript:
    with path.open(encoding="utf-8") as file:
        return parse(file)


def walk(elements: Iterable[Element]) -> Iterator[Element]:
    """Every element, those in sequence items included, depth first."""
    for element in elements:
        yield element
        for item in element.items or ():
            yield from walk(item)


# --- data sets --------------------------------------------------------------------------------------------

_BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN", "OB or OW", "US or OW", "US or SS or OW"})
_RAW_SHOWN = 32  # bytes of an unreadable value kept, in hex


def summarise(dataset: Dataset) -> tuple[Element, ...]:
    """A pydicom data set as Elements: binary values by length and SHA-256, unreadable values as an error.

    Reads each element of `dataset` without changing it (the engine reads the same data set after)."""
    return tuple(_element(dataset, tag) for tag in dataset.keys())


# A number of one value (US, UL, SS, SL, FL, FD) as received summarises the same way every time: pydicom
# converts it from its tag, VR, bytes and byte order alone, without warning. Every Image Box N-SET repeats
# the same Rows, Columns, Bits ...: their summaries are kept (a few thousand at most) instead of being made
# again by pydicom for every message. Only in a data set without Specific Character Set: with one, pydicom
# reads it (and may warn about it) for every element it converts, and so must the summary.
_NUMBER_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}
_NUMBERS_KEPT = 4096
_SPECIFIC_CHARACTER_SET = 0x00080005
_numbers: dict[tuple[int, str | None, bytes, bool], Element] = {}


def _element(dataset: Dataset, tag: BaseTag) -> Element:
    raw = dataset.get_item(tag)
    keyword, dictionary_vr = _dictionary(tag)
    vr = str(raw.VR) if raw.VR is not None else dictionary_vr
    if vr in _BINARY_VRS and isinstance(raw.value, (bytes, bytearray, memoryview)):
        return Element(tag_text(tag), keyword, vr, length=len(raw.value), sha256=hashlib.sha256(raw.value).hexdigest())
    key = None
    if (
        isinstance(raw, RawDataElement)
        and type(raw.value) is bytes
        and len(raw.value) == _NUMBER_SIZES.get(vr)
        and _SPECIFIC_CHARACTER_SET not in dataset
    ):
        key = (int(tag), raw.VR, raw.value, raw.is_little_endian)
        if (known := _numbers.get(key)) is not None:
            return known
    summary = _converted(dataset, tag, raw, keyword, vr)
    if key is not None and summary.error is None and type(summary.value) in (int, float):
        if len(_numbers) >= _NUMBERS_KEPT:
            _numbers.clear()
        _numbers[key] = summary
    return summary


def _converted(
    dataset: Dataset,
    tag: BaseTag,
    raw: RawDataElement | DataElement,
    keyword: str,
    vr: str,
) -> Element:
    """The Element of a value pydicom converts (or has converted) from the bytes received."""
    try:
        if isinstance(raw, RawDataElement) and isinstance(raw.value, memoryview):
            if raw.VR == "SQ" or (raw.VR is None and vr == "SQ"):
                return _sequence(dataset, tag, raw, keyword)
            raw = raw._replace(value=bytes(raw.value))  # pydicom's converters take bytes
        element = (
            convert_raw_data_element(raw, encoding=dataset._character_set, ds=dataset)
            if isinstance(raw, RawDataElement)
            else raw
        )
        value = element.value
        if element.VR == "SQ":
            return Element(tag_text(tag), keyword, "SQ", items=tuple(summarise(item) for item in value))
        if vr in _BINARY_VRS or isinstance(value, (bytes, bytearray)):
            data = bytes(value) if value is not None else b""
            return Element(tag_text(tag), keyword, vr, length=len(data), sha256=hashlib.sha256(data).hexdigest())
        return Element(tag_text(tag), keyword, str(element.VR), value=_plain_value(value))
    except Exception as exc:  # a value pydicom cannot read: kept as a few bytes, for the report to show
        data = bytes(raw.value or b"") if isinstance(raw.value, (bytes, bytearray, memoryview)) else b""
        return Element(tag_text(tag), keyword, vr, error=str(exc) or type(exc).__name__, raw=data[:_RAW_SHOWN].hex())


def _sequence(dataset: Dataset, tag: BaseTag, raw: RawDataElement, keyword: str) -> Element:
    """A sequence read as pydicom's convert_SQ reads it, but from the view of the bytes received: its items'
    large values stay views too (a 2048x2048 Pixel Data is hashed where it arrived, not copied twice)."""
    items = sequence_from_view(raw, dataset._character_set)  # the encoding _converted gives pydicom
    return Element(tag_text(tag), keyword, "SQ", items=tuple(summarise(item) for item in items))


@functools.lru_cache(maxsize=4096)
def _dictionary(tag: int) -> tuple[str, str]:
    """Keyword and VR of a tag in pydicom's dictionary ('' and 'UN' for a private or unknown one)."""
    keyword = keyword_for_tag(tag) or ""
    return keyword, dictionary_VR(tag) if keyword else "UN"


def _plain_value(value: Any) -> Any:
    """A pydicom value as JSON: numbers stay numbers, the rest text; several values as a list (numbers) or
    joined by a backslash (text), as DICOM writes them."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        values = [_plain_value(v) for v in value]
        if all(isinstance(v, (int, float)) for v in values):
            return values
        return "\\".join("" if v is None else str(v) for v in values)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, BaseTag):
        return tag_text(value)
    return str(value)
