"""Thin pynetdicom event handlers: decode the event, call the engine, encode the response.

This is the one place where a PrintError becomes a response status with Error Comment and
Offending Element (PS3.7 Annex C). Any other exception is a bug: it is logged with its traceback and
answered 0110 Processing Failure, and the association goes on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_description, keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom.events import Event

from printscp import uids
from printscp.bench import recorder
from printscp.engine import N_ACTION, N_CREATE, N_DELETE, N_GET, N_SET, Outcome, PrintEngine
from printscp.errors import InvalidAttributeValue, PrintError, tag_str
from printscp.model import reading
from printscp.model.values import describe
from printscp.status import Status

if TYPE_CHECKING:
    from printscp.net.server import PrintServer

log = logging.getLogger(__name__)

Response = tuple[Dataset, Dataset | None]
C_ECHO = "C-ECHO"


LO_MAX = 64  # Error Comment (0000,0902) is LO (PS3.5 6.2)


def _error_comment(message: str, offending: tuple[int, ...] = ()) -> str:
    """The Error Comment of a response, most useful first.

    With an offending attribute: its tag and keyword, then the reason with the attribute's name taken out
    ("(2010,0150) ConfigurationInformation: 'X' is not a configuration of this printer"); without one, the
    message. At most 64 characters (the start of the reason is kept), no backslash or control characters
    (PS3.5 6.2, LO).
    """
    prefix = ""
    reason = message
    if offending:
        tag = offending[0]
        keyword = keyword_for_tag(tag) or ("PrivateAttribute" if (tag >> 16) % 2 else "UnknownAttribute")
        prefix = f"{tag_str(tag)} {keyword}"
        reason = _without_name(message, tag)
    reason = " ".join(re.sub(r"[^\x20-\x7e]", "?", reason.replace("\\", "/")).split())
    text = f"{prefix}: {reason}" if prefix and reason else prefix or reason
    return text if len(text) <= LO_MAX else text[: LO_MAX - 3].rstrip() + "..."


def _without_name(message: str, tag: int) -> str:
    """`message` without the attribute's own name, which the comment's prefix already gives."""
    text = message.replace(describe(tag), "").replace(tag_str(tag), "").strip()
    try:
        name = dictionary_description(tag)
    except KeyError:
        name = ""
    if name and text.startswith(name):
        text = text[len(name) :]
    text = text.lstrip(" :;,-")
    return text[3:] if text.startswith("is ") else text


def _status(status: Status, comment: str = "", offending: tuple[int, ...] = ()) -> Dataset:
    ds = Dataset()
    ds.Status = int(status)
    if comment:
        ds.ErrorComment = _error_comment(comment, offending)
    if offending:
        if status.is_failure:
            ds.OffendingElement = list(dict.fromkeys(offending))
        elif status is Status.ATTRIBUTE_LIST_ERROR:
            ds.AttributeIdentifierList = list(dict.fromkeys(offending))
    return ds


def _peer(event: Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _attribute_list(event: Event, attribute: str) -> Dataset | None:
    """The request's data set (Attribute List, Modification List or Action Information), if it has one."""
    stream = getattr(event.request, attribute, None)
    data = stream.getvalue() if stream is not None else b""
    if not data:
        return None
    syntax = event.context.transfer_syntax
    try:
        return reading.read_received(
            data,
            syntax.is_implicit_VR,
            syntax.is_little_endian,
            syntax.is_deflated,
            lambda: _DECODERS[attribute](event),
        )
    except Exception as exc:  # pydicom cannot even read the element headers
        raise InvalidAttributeValue(f"the data set cannot be decoded: {exc}") from exc


_DECODERS: dict[str, Callable[[Event], Dataset]] = {
    "AttributeList": lambda event: event.attribute_list,
    "ModificationList": lambda event: event.modification_list,
    "ActionInformation": lambda event: event.action_information,
}


def _respond(
    event: Event,
    operation: str,
    sop_class_uid: str,
    instance_uid: str | None,
    data_set: str | None,
    call: Callable[[Dataset | None], Outcome],
) -> Response:
    """Decode the request's data set, run `call` on it, and build the response; log both."""
    peer = _peer(event)
    name = uids.name(sop_class_uid)
    try:
        dataset = _attribute_list(event, data_set) if data_set else None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s from %s, data set:\n%s", operation, name, instance_uid or "", peer, _readable(dataset))
        outcome = call(dataset)
    except PrintError as error:
        log.warning(
            "%s %s %s from %s -> %s: %s", operation, name, instance_uid or "", peer, error.status, error.message
        )
        return _status(error.status, error.message, error.offending), None
    except Exception:
        log.exception("%s %s %s from %s failed", operation, name, instance_uid or "", peer)
        return _status(Status.PROCESSING_FAILURE, "internal error; see the printscp log"), None
    status = outcome.status
    if status is Status.SUCCESS:
        log.info("%s %s %s from %s -> %s", operation, name, instance_uid or "", peer, status)
    else:
        log.warning(
            "%s %s %s from %s -> %s: %s", operation, name, instance_uid or "", peer, status, outcome.error_comment
        )
    response = _status(status, outcome.error_comment, outcome.offending)
    reply = outcome.dataset
    if outcome.affected_sop_instance_uid is not None:
        # pynetdicom takes a generated UID from the data set only on success; on a warning the status
        # data set must carry it (PS3.7 10.1.5.1.4: the response always names the new instance).
        response.AffectedSOPInstanceUID = outcome.affected_sop_instance_uid
        if status is Status.SUCCESS:
            reply = reply if reply is not None else Dataset()
            reply.AffectedSOPInstanceUID = outcome.affected_sop_instance_uid
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s response to %s, data set:\n%s", operation, peer, _readable(reply))
    return response, reply


def _readable(dataset: Dataset | None) -> str:
    """A data set as text for the DEBUG log, pixel and LUT data shown by size only."""
    if dataset is None:
        return "  (none)"
    # a copy: reading values here would leave the request without the bytes model/reading.py checks (and
    # with bytes for the views of reading.read_received, which deepcopy cannot copy)
    try:
        elements = list(reading.with_bytes(dataset).iterall())
    except Exception as exc:  # bytes pydicom cannot read: the engine answers them 0106
        return f"  (cannot be read: {exc})"
    lines = []
    for elem in elements:
        if elem.VR in ("OB", "OW", "OB or OW", "US or OW") and isinstance(elem.value, bytes) and len(elem.value) > 64:
            lines.append(f"  {elem.tag} {elem.name:<40} {elem.VR}: <{len(elem.value)} bytes>")
        else:
            lines.append(f"  {elem}")
    return "\n".join(lines)


def _fault(event: Event, server: PrintServer, command: str, sop_class_uid: str) -> Dataset | None:
    """Apply what the fault plan (bench/faults.py) decides for this request: None to serve it as usual, else
    the status to answer instead, without calling the engine (so a failure changes nothing)."""
    assoc = event.assoc
    printer = server.printer_of(assoc).ae_title
    decision = server.faults.decide(printer, command, sop_class_uid, _peer(event))
    if decision is None:
        return None
    for applied in decision.applied:
        log.warning("fault plan %s: %s", applied.fired, applied.effect)
        recorder.fault_applied(assoc, str(applied.fired), applied.effect)  # before an abort ends the transcript
    if decision.delay:
        time.sleep(decision.delay)
    for status, info in decision.printer_status:
        server.printers[printer].set_status(status, info)  # its listeners send the N-EVENT-REPORT
    if decision.abort:
        # Inside a handler pynetdicom's abort() only queues the A-ABORT (and triggers EVT_ABORTED), and its
        # service classes send no response once the association is no longer established: what we return
        # is never sent.
        assoc.abort()
        return _status(Status.PROCESSING_FAILURE)
    if decision.status is None:
        return None
    answer = Dataset()
    answer.Status = decision.status
    if decision.status != Status.SUCCESS:
        answer.ErrorComment = _error_comment(decision.error_comment)
    return answer


def _engine(event: Event, server: PrintServer) -> PrintEngine:
    return server.engine_for(event.assoc)


def handle_n_create(event: Event, server: PrintServer) -> Response:
    request: Any = event.request  # an N_* primitive; pynetdicom types it as a union of all
    sop_class_uid = str(request.AffectedSOPClassUID)
    instance_uid = str(request.AffectedSOPInstanceUID) if request.AffectedSOPInstanceUID else None
    if (answer := _fault(event, server, N_CREATE, sop_class_uid)) is not None:
        return answer, None
    return _respond(
        event,
        N_CREATE,
        sop_class_uid,
        instance_uid,
        "AttributeList",
        lambda ds: _engine(event, server).n_create(event.context.abstract_syntax, sop_class_uid, instance_uid, ds),
    )


def handle_n_set(event: Event, server: PrintServer) -> Response:
    request: Any = event.request
    sop_class_uid, instance_uid = str(request.RequestedSOPClassUID), str(request.RequestedSOPInstanceUID)
    if (answer := _fault(event, server, N_SET, sop_class_uid)) is not None:
        return answer, None
    return _respond(
        event,
        N_SET,
        sop_class_uid,
        instance_uid,
        "ModificationList",
        lambda ds: _engine(event, server).n_set(event.context.abstract_syntax, sop_class_uid, instance_uid, ds),
    )


def handle_n_get(event: Event, server: PrintServer) -> Response:
    request: Any = event.request
    sop_class_uid, instance_uid = str(request.RequestedSOPClassUID), str(request.RequestedSOPInstanceUID)
    identifiers = [int(tag) for tag in event.attribute_identifiers]
    if (answer := _fault(event, server, N_GET, sop_class_uid)) is not None:
        return answer, None
    return _respond(
        event,
        N_GET,
        sop_class_uid,
        instance_uid,
        None,
        lambda ds: _engine(event, server).n_get(
            event.context.abstract_syntax, sop_class_uid, instance_uid, identifiers
        ),
    )


def handle_n_action(event: Event, server: PrintServer) -> Response:
    request: Any = event.request
    sop_class_uid, instance_uid = str(request.RequestedSOPClassUID), str(request.RequestedSOPInstanceUID)
    if (answer := _fault(event, server, N_ACTION, sop_class_uid)) is not None:
        return answer, None
    return _respond(
        event,
        N_ACTION,
        sop_class_uid,
        instance_uid,
        "ActionInformation",
        lambda ds: _engine(event, server).n_action(
            event.context.abstract_syntax, sop_class_uid, instance_uid, request.ActionTypeID, ds
        ),
    )


def handle_n_delete(event: Event, server: PrintServer) -> Dataset:
    request: Any = event.request
    sop_class_uid, instance_uid = str(request.RequestedSOPClassUID), str(request.RequestedSOPInstanceUID)
    if (answer := _fault(event, server, N_DELETE, sop_class_uid)) is not None:
        return answer
    status, _ = _respond(
        event,
        N_DELETE,
        sop_class_uid,
        instance_uid,
        None,
        lambda ds: _engine(event, server).n_delete(event.context.abstract_syntax, sop_class_uid, instance_uid),
    )
    return status


def handle_c_echo(event: Event, server: PrintServer) -> int | Dataset:
    if (answer := _fault(event, server, C_ECHO, uids.VERIFICATION)) is not None:
        return answer
    log.info("C-ECHO from %s", _peer(event))
    return int(Status.SUCCESS)


def handle_n_event_report(event: Event, server: PrintServer) -> Response:
    # An SCU never sends N-EVENT-REPORT to a print SCP (PS3.4 H.4: the SCP is the invoker).
    return _status(Status.UNRECOGNIZED_OPERATION, "printscp does not accept event reports"), None
