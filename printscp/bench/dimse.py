"""A pynetdicom DIMSE message (EVT_DIMSE_RECV / EVT_DIMSE_SENT's `event.message`) as a transcript Message.

Used by both sides: the server's recorder (bench/recorder.py) and `printscp print` (bench/scu.py).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, BinaryIO, cast

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID

from printscp import uids
from printscp.bench.transcript import Direction, Element, Message, summarise, tag_text
from printscp.model.reading import Viewer


def now_text() -> str:
    """Now as the transcript writes times: ISO 8601, local offset, milliseconds."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def command_name(message: Any) -> str:
    """'N-CREATE-RQ' of a pynetdicom N_CREATE_RQ message (or of its Captured copy)."""
    if isinstance(message, Captured):
        return message.name
    return type(message).__name__.replace("_", "-")


@dataclass(frozen=True)
class Captured:
    """What a pynetdicom DIMSE message holds when its event fires. pynetdicom gives the received message's
    object a new, empty data set right after EVT_DIMSE_RECV: whatever reads it later reads this."""

    name: str  # "N-SET-RQ"
    command_set: Dataset
    data_set: BytesIO | None
    context_id: int | None


def capture(message: Any) -> Captured:
    return Captured(command_name(message), message.command_set, message.data_set, message.context_id)


# Command Set tags (PS3.7 E.1) by the keyword this module reads them as
_COMMAND_TAGS = {
    "AffectedSOPClassUID": 0x00000002,
    "RequestedSOPClassUID": 0x00000003,
    "MessageID": 0x00000110,
    "MessageIDBeingRespondedTo": 0x00000120,
    "Status": 0x00000900,
    "OffendingElement": 0x00000901,
    "ErrorComment": 0x00000902,
    "AffectedSOPInstanceUID": 0x00001000,
    "RequestedSOPInstanceUID": 0x00001001,
    "EventTypeID": 0x00001002,
    "AttributeIdentifierList": 0x00001005,
    "ActionTypeID": 0x00001008,
}


_READ_TAGS = frozenset(_COMMAND_TAGS.values())


def _command_values(command_set: Dataset) -> dict[int, Any]:
    """The values of the command elements this module reads that `command_set` holds, by tag: one pass over
    its tags (a lookup of each tag it may not hold costs more than the rest of a small message)."""
    values = {}
    for tag in command_set.keys():
        if tag in _READ_TAGS:
            value = command_set[tag].value
            if not (value is None or value == ""):  # as before: an empty value is no value
                values[int(tag)] = value
    return values


def message_record(
    message: Any,
    direction: Direction,
    index: int,
    transfer_syntax: UID | None,
    *,
    time: str | None = None,
    elapsed_ms: float | None = None,
) -> Message:
    """The transcript Message of a pynetdicom DIMSE message; its data set decoded with `transfer_syntax`
    (the presentation context's) and summarised. A data set that cannot be decoded becomes one Element
    with the error."""
    values = _command_values(message.command_set)

    def _get(keyword: str) -> Any:
        return values.get(_COMMAND_TAGS[keyword])

    sop_class = str(_get("AffectedSOPClassUID") or _get("RequestedSOPClassUID") or "")
    instance = str(_get("AffectedSOPInstanceUID") or _get("RequestedSOPInstanceUID") or "")
    name = command_name(message)
    offending = _tags(_get("OffendingElement") or _get("AttributeIdentifierList"))
    identifiers = _tags(_get("AttributeIdentifierList")) if name == "N-GET-RQ" else ()
    status = _get("Status")
    return Message(
        index=index,
        direction=direction,
        time=time or now_text(),
        command=name,
        message_id=_int(_get("MessageID")),
        responding_to=_int(_get("MessageIDBeingRespondedTo")),
        sop_class_uid=sop_class,
        sop_class=uids.name(sop_class) if sop_class else "",
        sop_instance_uid=instance,
        action_type_id=_int(_get("ActionTypeID")),
        event_type_id=_int(_get("EventTypeID")),
        status=_int(status),
        error_comment=str(_get("ErrorComment") or ""),
        offending_elements=() if name == "N-GET-RQ" else offending,
        attribute_identifiers=identifiers,
        data_set=data_set_summary(message.data_set, transfer_syntax),
        elapsed_ms=elapsed_ms,
    )


def _tags(value: Any) -> tuple[str, ...]:
    """An AT value of a command set (one tag, a list or a MultiValue of them) as '(gggg,eeee)' texts."""
    if value is None:
        return ()
    values = [value] if isinstance(value, int) else list(value)
    return tuple(tag_text(int(tag)) for tag in values)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def data_set_summary(stream: BytesIO | None, transfer_syntax: UID | None) -> tuple[Element, ...] | None:
    """A message's encoded data set, summarised; None when it has none."""
    if stream is None:
        return None
    data = stream.getvalue()  # the bytes object the BytesIO shares, not a copy (getbuffer() would copy)
    if not data:
        return None
    syntax = transfer_syntax or UID("1.2.840.10008.1.2")
    try:
        # PS3.5 A.5: a deflated data set is raw deflate (no zlib header)
        encoded = cast(BinaryIO, Viewer(zlib.decompress(data, -zlib.MAX_WBITS) if syntax.is_deflated else data))
        dataset = read_dataset(encoded, syntax.is_implicit_VR, syntax.is_little_endian)
        return summarise(dataset)
    except Exception as exc:  # not even the element headers can be read
        error = f"the data set cannot be decoded: {exc}"
        return (Element("(0000,0000)", "", "UN", error=error, raw=data[:32].hex()),)
