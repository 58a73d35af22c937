"""Everything printscp does with pynetdicom beyond its public API, in one place, for pynetdicom >=3.0.4,<3.1.

The rest of printscp talks to pynetdicom through its public API only (AE, evt, event handlers, Event,
`assoc.send_*`, `release()`, `abort()`, the accepted contexts and service users); tests/unit/test_compat.py
checks that no other module imports a pynetdicom submodule outside a public list or touches its
internals. What follows relies on pynetdicom's private code; each item has tests there named after it
(test_itemN_...), and tests/integration/test_compat_net.py runs items 6 to 9 on real associations. They
fail, naming what changed, when an upgrade changes what an item relies on.

Adjustments applied once, at import:

1. pynetdicom aborts the association when a request names a SOP class it does not know (a retired
   print class, or any unknown UID), before any handler runs. PS3.7 wants a status (0118 No Such SOP
   Class) instead. We route DIMSE-N requests of unknown classes to the Print Management service
   class, whose handlers are ours and answer 0118; DIMSE-C requests keep pynetdicom's behaviour.
2. pynetdicom's DIMSE-N response primitives cannot carry Offending Element (0000,0901), the PS3.7
   Annex C failure field that names the attribute at fault. We add it to the N-CREATE, N-SET,
   N-GET, N-ACTION and N-DELETE responses (command set, primitive and status keywords).
3. pynetdicom's DUL thread sleeps 1 ms whenever it finds nothing to do, so every message, and every
   PDU of a large N-SET that has not fully arrived, waits up to a millisecond more. Our DUL waits in
   select() for the socket or for something to send instead: no delay, and no CPU while idle.
4. pynetdicom's requestor can lose a response. send_c_store & co. clear the reactor checkpoint and
   send once `_is_paused` is True, but the flag is also True in the instant after the reactor's
   checkpoint wait returned and before it resets it; a response that arrives then is taken by the
   reactor, logged as "Received unexpected ... service message" and dropped, and the requestor waits
   out its DIMSE timeout. We hand such a response back to the send_* that is waiting for it. This
   concerns printscp's forwarder, C-MOVE sub-associations and echo command, and the test SCUs.
5. pynetdicom serves each N-EVENT-REPORT request a requestor receives in a new thread, through
   _serve_request, which ends with `_is_paused = False`. If that lands while the reactor is parked
   for a send_*, the next send_* waits for `_is_paused` for ever (seen: an SCU associating with a
   printer in FAILURE, whose status event arrives at once). We serve those events without touching
   the flag.

Tools the rest of printscp calls:

6. `ReactorAssociation`: the acceptor's reactor loop, a mirror of 3.0.4's `Association._run_reactor`
   (same release, abort, dead DUL and network timeout handling) that waits for work instead of sleeping
   1 ms before every look: on the DIMSE queue's condition, woken by a request, by `wake` (the DUL's
   queue to the user wakes it on every put, so a release or abort request is seen at once, as is the
   DUL's end; net/notify.py wakes it for an event report), and at the latest after `WAIT`. It calls
   `request_arrived()` before serving each request and `between_requests()` after each look, in the
   association's own thread, where net/notify.py sends event reports. `next_message`, `serve`,
   `peer_is_leaving` and `send_event_report` are the DIMSE queue, DUL and primitive operations it needs.
7. `start_server`: pynetdicom's threaded server with a request handler that makes each accepted
   association an instance of a `ReactorAssociation` subclass (`RequestHandler._create_association`),
   contexts that are cheap to copy per association, and the `AE._servers` bookkeeping that
   `AE.start_server` does (the server's shutdown() removes it).
8. `set_tcp_nodelay`: pynetdicom never sets TCP_NODELAY; the socket is reached through the DUL.
9. `called_ae_title`: the Called AE Title of the A-ASSOCIATE-RQ (an acceptor's own title is its AE's).
10. `quiet_logging`: pynetdicom's `_config` switches for its per-message logging.
11. Limits and timeouts of accepted connections (issue 11). pynetdicom reads a PDU with one blocking
   recv() of the length its header announces, so a 1 GiB announcement is buffered whole and a trickled
   PDU holds the DUL (and its ARTIM and idle timers) for ever; and it counts every acceptor thread,
   idle sockets included, against maximum_associations. Accepted connections get `_GuardedDUL`'s
   reader instead (length checked on the header, A-ABORT before the body; `pdu_timeout` from a PDU's
   first byte; ARTIM = `artim_timeout`; a shared receive budget), a `ConnectionTable` that counts
   pending connections apart from admitted associations and drops the oldest pending one beyond its
   limits, and a mirror of the acceptor part of Association.run_reactor that admits by that table.
   `prepare_accepted_socket` is the one place an accepted socket is handed to its association.
12. Log context: `thread_association` (the association a reactor or DUL thread serves, for the association
    log's id on every line), `release_completed` (the state in which a peer closing TCP is normal),
    `peer_aborted` (an A-ABORT received but not yet seen by the reactor),
    `rejection` (the A-ASSOCIATE-RJ result, source and reason sent) and `filter_network_logs` (a filter on
    the pynetdicom loggers that report transport errors).
13. DICOM TLS (PS3.15 B.1): pynetdicom's server does the TLS handshake inside
    `AssociationServer.get_request`, in the one thread that accepts, so a client that connects and sends no
    ClientHello blocks every later connection. `GuardedAssociationServer.get_request` only wraps the socket;
    `prepare_accepted_socket` shakes hands in the connection's own thread within the ARTIM timeout (PS3.8
    9.1.5), before pynetdicom sees the socket. Item 3's DUL also looks at the TLS buffer before it waits in
    select(): decrypted bytes already read from the socket do not make it readable.
14. Receiving without copies. pynetdicom copies the data of every P-DATA-TF four times before its DIMSE
    layer writes it into the message it assembles (`DIMSEMessage.decode_msg`): the whole PDU into `bytes`,
    the PDU's variable field, each PDV, and each PDV without its message control header. All four are
    slices, and pynetdicom's own P_DATA_TF decoder slices whatever it is given: accepted connections hand
    it a memoryview of the buffer the PDU was read into (each PDU gets a buffer of its own), so the PDVs
    and the fragments are views. `DIMSEMessage.decode_msg` then wrote each fragment into a BytesIO that
    grows by reallocation (copying what it holds again and again); ours keeps the fragments as views and
    joins them once, at the last, into the bytes the data set's BytesIO shares. An 8 MiB image was copied
    about a dozen times between the socket and pydicom; it is copied once. The same reader takes in, in one
    turn of the DUL loop, every byte of the PDU that has arrived (plain sockets), not one recv() per turn.
15. Each command set encoded once. pynetdicom encodes every command set it sends twice with pydicom: once
    without (0000,0000) Command Group Length, to measure it (`DIMSEMessage._set_command_group_length`), and
    again whole in `encode_msg`. Elements are encoded one after the other, in tag order, and (0000,0000)
    comes first: the whole command set is pydicom's encoding of the group length element followed by the
    bytes it has just measured. Those are kept with the message and `encode_msg` sends them, unless an
    element was added, removed or given another value in between (EVT_DIMSE_SENT's handlers run there):
    then pynetdicom encodes it again, as before.
16. UIDs validated once. pynetdicom's DIMSE primitives pass every UID set on them through `set_uid`, which
    has pydicom and pynetdicom check it with three regular expressions; a request's SOP Class and Instance
    UIDs are checked again as its response's, and the same Printer or Film Session UID in every message.
    `set_uid` in dimse_primitives remembers the texts it was given that are conformant UIDs as they are
    (`UID.is_valid`, nothing stripped: nothing was logged) and returns the same UID for them at once; any
    other value takes pynetdicom's path.

Version range: >=3.0.4 because 3.0.4 is the release the whole test suite runs on and the behaviours
above were measured on. (This module's tests also pass on 3.0.0 and 3.0.3, whose copied and wrapped
code is the same: lowering the floor needs only the rest of the suite run there.) <3.1 because items 3
to 7 copy, wrap or override private code that the tests pin by digest, and a minor release may change
it without notice. To widen the range, install the new release, run tests/unit/test_compat.py and
tests/integration/test_compat_net.py, re-check each item a test reports, then change SUPPORTED_VERSIONS
below, pyproject.toml's pin and this paragraph together (a test checks they agree).
"""

from __future__ import annotations

import functools
import logging
import queue
import select
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any, TypeAlias, cast

import pynetdicom.association
import pynetdicom.utils
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, dimse_messages, dimse_primitives, evt
from pynetdicom import __version__ as pynetdicom_version
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.dsutils import encode
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ, P_DATA_TF
from pynetdicom.pdu_primitives import A_ABORT, A_ASSOCIATE, A_P_ABORT, A_RELEASE, P_DATA
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass
from pynetdicom.service_class_n import PrintManagementServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer
from pynetdicom.utils import make_target, set_timer_resolution

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ">=3.0.4,<3.1"  # keep in step with pyproject.toml and the module docstring
LOWEST, BELOW = (3, 0, 4), (3, 1)


def version_supported(version: str = pynetdicom_version) -> bool:
    """Whether a pynetdicom version ("3.0.4", "3.1.0.dev0") is inside SUPPORTED_VERSIONS."""
    numbers = tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
    return LOWEST <= numbers and numbers[:2] < BELOW


_N_RESPONSES = ("N-CREATE-RSP", "N-SET-RSP", "N-GET-RSP", "N-ACTION-RSP", "N-DELETE-RSP")
_N_PRIMITIVES = (
    dimse_primitives.N_CREATE,
    dimse_primitives.N_SET,
    dimse_primitives.N_GET,
    dimse_primitives.N_ACTION,
    dimse_primitives.N_DELETE,
)


def _service_class_or_print(uid: str) -> Any:
    service_class = uid_to_service_class(uid)
    return PrintManagementServiceClass if service_class is ServiceClass else service_class


class _EventDrivenDUL(DULServiceProvider):
    """pynetdicom's DUL, waiting in select() for the peer or for something to send instead of polling.

    pynetdicom's run loop sleeps 1 ms whenever it finds nothing to do. This one sleeps 0 and instead
    blocks in `_is_transport_event` until the socket is readable or `send_pdu` writes a byte to a
    wake-up socket pair, at most WAIT seconds so that the ARTIM timer, the idle timer and a kill are
    still seen in time. The loop itself is pynetdicom's.
    """

    WAIT = 0.01  # seconds
    MAX_QUEUED = 8  # PDUs waiting to be sent

    def __init__(self, assoc: Any) -> None:
        super().__init__(assoc)
        self.to_user_queue = _WakingQueue(assoc)  # the reactor waits for it (item 6)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selecting = False  # the DUL thread is in (or about to enter) select(): a send must wake it
        self._sent_last = False  # the last turn of the loop sent a PDU

    @property
    def _run_loop_delay(self) -> float:
        return 0.0

    @_run_loop_delay.setter
    def _run_loop_delay(self, value: float) -> None:
        pass  # pynetdicom's constant 0.001 is replaced by the select() below

    def send_pdu(self, primitive: Any) -> None:
        # Back-pressure: a handler streaming responses (C-FIND) waits while MAX_QUEUED PDUs are not yet
        # sent, so memory stays bounded and it sees a C-CANCEL within a few responses.
        while (
            self.to_provider_queue.qsize() >= self.MAX_QUEUED
            and not self._kill_thread
            and threading.current_thread() is not self
            and self.is_alive()
        ):
            time.sleep(0.0005)
        super().send_pdu(primitive)
        # Only a DUL thread that may be asleep needs the byte: it set _selecting before it looked at the
        # queue, so either it sees this PDU there or we see the flag. A busy DUL thread finds the PDU
        # on its next turn, and a stream of responses costs no system call per PDU.
        if self._selecting:
            try:
                self._wake_write.send(b"\0")
            except OSError:  # a wake-up is already pending (buffer full), or the DUL has ended
                pass

    def _process_recv_primitive(self) -> bool:
        # pynetdicom sends all it has queued before it reads again, so a C-CANCEL (or an A-ABORT)
        # behind a stream of C-FIND responses would be read after the last of them. While associated,
        # sending and reading take turns when both have work (returning False makes the loop read).
        if (
            self._sent_last
            and self.state_machine.current_state == "Sta6"
            and not self.to_provider_queue.empty()
            and self.socket is not None
            and self.socket.ready
        ):
            self._sent_last = False
            return False
        self._sent_last = bool(super()._process_recv_primitive())
        return self._sent_last

    def _is_transport_event(self) -> bool:
        sock = self.socket.socket if self.socket is not None else None
        self._selecting = True
        try:
            if (
                sock is not None
                and self.to_provider_queue.empty()
                and self.event_queue.empty()
                and not (isinstance(sock, ssl.SSLSocket) and sock.pending())  # item 13: TLS bytes buffered
            ):
                readable, _, _ = select.select([sock, self._wake_read], [], [], self.WAIT)
                if self._wake_read in readable:  # not every turn: a recv() that finds nothing raises
                    while self._wake_read.recv(4096):
                        pass
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ValueError):  # the socket closed under us: pynetdicom's check says so
            pass
        finally:
            self._selecting = False
        return bool(super()._is_transport_event())

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            self._wake_read.close()
            self._wake_write.close()
            wake(self.assoc)  # the reactor sees the DUL has ended


class _WakingQueue(queue.Queue[Any]):
    """The DUL's queue of primitives for the user (A-ASSOCIATE, A-RELEASE, A-ABORT, A-P-ABORT): each put
    wakes the association's reactor, which looks for them between requests."""

    def __init__(self, assoc: Any) -> None:
        super().__init__()
        self._assoc = assoc

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        wake(self._assoc)


class TemplateContext(PresentationContext):
    """A presentation context the server accepts, cheap to copy for each association.

    pynetdicom deep-copies the server's contexts for every association it accepts
    (RequestHandler._create_association). printscp's 130 contexts hold 4603 transfer syntax UIDs, and
    deep-copying re-creates and re-validates each: 19 ms per association. UIDs are immutable strings, so
    a copy with its own list of the same UIDs is as safe for the association to change.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> PresentationContext:
        copied = PresentationContext()
        copied.__dict__.update(self.__dict__)
        copied._transfer_syntax = list(self._transfer_syntax)
        return copied


def template_contexts(contexts: list[PresentationContext]) -> list[PresentationContext]:
    templates: list[PresentationContext] = []
    for context in contexts:
        template = TemplateContext()
        template.__dict__.update(context.__dict__)
        templates.append(template)
    return templates


_serve_request = pynetdicom.association.Association._serve_request


def _serve_request_keeping_responses(self: Any, msg: Any, context_id: int) -> None:
    if not msg.is_valid_request and not self._reactor_checkpoint.is_set():
        self.dimse.msg_queue.put((context_id, msg))  # a send_* cleared the checkpoint and waits for it
        return
    if (
        isinstance(msg, dimse_primitives.N_EVENT_REPORT)
        and self.is_requestor
        and threading.current_thread() is not self
    ):  # pynetdicom's event thread (dimse.py)
        _serve_event_report(self, msg, context_id)
        return
    _serve_request(self, msg, context_id)


def _serve_event_report(assoc: Any, msg: dimse_primitives.N_EVENT_REPORT, context_id: int) -> None:
    """What _serve_request does for an event report, minus the reactor's pause flag."""
    context = _accepted_context(assoc, context_id)
    if context is None:
        log.warning("N-EVENT-REPORT on a context that was not accepted (%d); aborting", context_id)
        assoc.abort()
        return
    try:
        _service_class_or_print(str(msg.AffectedSOPClassUID))(assoc).SCP(msg, context)
    except Exception:
        log.exception("serving an N-EVENT-REPORT failed; aborting")
        assoc.abort()


def _accepted_context(assoc: Any, context_id: int) -> Any:
    """The accepted context `context_id`, waiting while the requestor is still taking in the A-ASSOCIATE-AC.

    An acceptor may send an event report right after its A-ASSOCIATE-AC (a Printer in FAILURE does). The
    requestor's DUL thread receives it while the thread that called associate() is still copying the AC's
    contexts into `_accepted_cx`; looked up at once, the context is missing and the association was aborted
    (seen 1 run in 3 associating with a printer in FAILURE), leaving the SCU's next send_* waiting for ever.
    """
    deadline = time.monotonic() + (assoc.acse_timeout or 30)
    while (context := assoc._accepted_cx.get(context_id)) is None and time.monotonic() < deadline:
        if assoc.is_aborted or assoc.is_rejected or assoc.is_released:
            return None
        time.sleep(0.001)
    return context


_decode_msg = dimse_messages.DIMSEMessage.decode_msg


def _decode_msg_joining(self: Any, primitive: Any, assoc: Any = None) -> bool:
    """DIMSEMessage.decode_msg with a data set kept as views of its fragments and joined once (item 14).

    pynetdicom writes each data set fragment, sliced, into a BytesIO that grows by reallocation, copying
    what it holds again and again (an 8 MiB data set in 128 KiB PDUs). Here the fragments are held as
    views until the last one, then joined into the one bytes object the data set's BytesIO shares.
    Command set fragments, and data sets pynetdicom writes to a file, take pynetdicom's own path.
    """
    if primitive.__class__ is not P_DATA:
        return bool(_decode_msg(self, primitive, assoc))
    for context_id, data in primitive.presentation_data_value_list:
        if data[0] & 1 or self._data_set_file is not None:  # command set, or a C-STORE written to a file
            single = P_DATA()
            single.presentation_data_value_list.append((context_id, data))
            if _decode_msg(self, single, assoc):
                return True
            continue
        fragments: list[memoryview] = self.__dict__.setdefault("_printscp_fragments", [])
        fragments.append(memoryview(data)[1:])  # PS3.8 E.2: the message control header goes
        if data[0] & 2:  # the last fragment of the data set
            self.data_set = BytesIO(b"".join(fragments))
            del self._printscp_fragments
            return True
    return False


_set_command_group_length = dimse_messages.DIMSEMessage._set_command_group_length


@dataclass(frozen=True)
class _EncodedCommandSet:
    """A command set as pydicom encoded it (item 15), and what it held then: each element with its value."""

    data: bytes
    elements: tuple[tuple[Any, Any], ...]

    def still_encodes(self, command_set: Dataset) -> bool:
        held = _held(command_set)
        return len(held) == len(self.elements) and all(
            element is was and value is had for (element, value), (was, had) in zip(held, self.elements, strict=True)
        )


def _held(command_set: Dataset) -> tuple[tuple[Any, Any], ...]:
    # pydicom gives an element a new value in place (`ds.MessageID = 2` keeps the DataElement): compare both
    # (a RawDataElement, never in a command set being sent, is a tuple: a new value is a new element)
    return tuple((element, getattr(element, "_value", None)) for element in command_set._dict.values())


@functools.lru_cache(maxsize=1024)  # command sets are a few hundred bytes long: a few hundred lengths
def _group_length_element(length: int) -> bytes | None:
    """pydicom's encoding of (0000,0000) Command Group Length `length`, Implicit VR Little Endian."""
    group_length = Dataset()
    group_length.CommandGroupLength = length
    return encode(group_length, True, True)


def _set_command_group_length_once(self: Any) -> None:
    """DIMSEMessage._set_command_group_length, keeping what it encodes for encode_msg (item 15)."""
    command_set: Dataset = self.command_set
    del command_set.CommandGroupLength
    rest = encode(command_set, True, True)
    if rest is None:  # pydicom cannot encode it: pynetdicom's own code fails as it always has
        _set_command_group_length(self)
        return
    command_set.CommandGroupLength = len(rest)
    head = _group_length_element(len(rest))
    if head is not None:
        encoded = _EncodedCommandSet(head + rest, _held(command_set))
        command_set.__dict__["_printscp_encoded"] = encoded  # dies with the command set


def _encode_in_dimse_messages(
    ds: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False
) -> bytes | None:
    """dsutils.encode as pynetdicom's dimse_messages calls it (only for command sets): the encoding kept by
    _set_command_group_length_once if the command set still holds what it held then (item 15)."""
    kept: _EncodedCommandSet | None = ds.__dict__.pop("_printscp_encoded", None)
    if kept is not None and is_implicit_vr and is_little_endian and not deflated and kept.still_encodes(ds):
        return kept.data
    return encode(ds, is_implicit_vr, is_little_endian, deflated)


_set_uid = pynetdicom.utils.set_uid
_CONFORMANT_UIDS_KEPT = 4096  # about 1 MB at most: the instance UIDs of the boxes of a few films
_conformant_uids: dict[str, UID] = {}


def _set_uid_remembering(
    value: None | str | bytes | UID, name: str, allow_empty: bool = True, allow_none: bool = True, validate: bool = True
) -> UID | None:
    """pynetdicom's set_uid; a text it found conformant before gives the same UID at once (item 16)."""
    if isinstance(value, str) and (known := _conformant_uids.get(value)) is not None:
        return known
    uid = _set_uid(value, name, allow_empty, allow_none, validate)
    # the text itself conformant (not only once pydicom stripped it, with a warning): nothing was logged
    if isinstance(value, str) and uid is not None and uid == value and uid.is_valid:
        if len(_conformant_uids) >= _CONFORMANT_UIDS_KEPT:
            _conformant_uids.clear()
        _conformant_uids[value] = uid
    return uid


def _apply() -> None:
    if getattr(pynetdicom.association, "_printscp_patched", False):
        return
    setattr(pynetdicom.association, "uid_to_service_class", _service_class_or_print)  # noqa: B010
    keywords = dimse_messages._COMMAND_SET_KEYWORDS
    for name in _N_RESPONSES:
        if "OffendingElement" not in keywords[name]:
            keywords[name] = (*keywords[name], "OffendingElement")
    for primitive in _N_PRIMITIVES:
        setattr(primitive, "OffendingElement", None)  # noqa: B010
        if "OffendingElement" not in primitive.STATUS_OPTIONAL_KEYWORDS:
            primitive.STATUS_OPTIONAL_KEYWORDS = (*primitive.STATUS_OPTIONAL_KEYWORDS, "OffendingElement")
    setattr(pynetdicom.association, "DULServiceProvider", _GuardedDUL)  # noqa: B010
    setattr(pynetdicom.association.Association, "_serve_request", _serve_request_keeping_responses)  # noqa: B010
    setattr(dimse_messages.DIMSEMessage, "decode_msg", _decode_msg_joining)  # noqa: B010
    setattr(dimse_messages.DIMSEMessage, "_set_command_group_length", _set_command_group_length_once)  # noqa: B010
    setattr(dimse_messages, "encode", _encode_in_dimse_messages)  # noqa: B010
    setattr(dimse_primitives, "set_uid", _set_uid_remembering)  # noqa: B010
    pynetdicom.association._printscp_patched = True  # type: ignore[attr-defined]


# --- 6. the acceptor's reactor and what it needs from the DIMSE queue, the DUL and the primitives ---------


@dataclass(frozen=True)
class Message:
    """A DIMSE message taken off an association's queue: a request, or a response to one of ours."""

    context_id: int
    primitive: Any  # a pynetdicom.dimse_primitives primitive

    @property
    def is_request(self) -> bool:
        return bool(getattr(self.primitive, "is_valid_request", False))

    @property
    def name(self) -> str:
        return type(self.primitive).__name__

    @property
    def status(self) -> int | None:
        return cast(int | None, getattr(self.primitive, "Status", None))

    def answers_event_report(self, message_id: int) -> bool:
        """Whether this is the N-EVENT-REPORT-RSP to our request with this Message ID."""
        return (
            isinstance(self.primitive, dimse_primitives.N_EVENT_REPORT)
            and not self.is_request
            and self.primitive.MessageIDBeingRespondedTo == message_id
        )


def next_message(assoc: Association, timeout: float) -> Message | None:
    """The next message on the association's DIMSE queue, waiting up to `timeout` seconds."""
    try:
        context_id, primitive = assoc.dimse.msg_queue.get(timeout=timeout)
    except queue.Empty:
        return None
    return Message(cast(int, context_id), primitive) if primitive else None


def wait_for_work(assoc: Association, timeout: float) -> Message | None:
    """The next message on the DIMSE queue, or None once `wake` was called or `timeout` seconds passed.

    The reactor waits here between requests. A request wakes it through the queue; `wake` does when
    anything else needs it: a release or abort request from the peer (the DUL's queue to the user), the
    end of the DUL thread, an event report to send. The wait is on the queue's own condition, so nothing
    is put in the queue that a `send_*` waiting for a response could take.
    """
    messages = assoc.dimse.msg_queue
    with messages.not_empty:  # the queue's own lock: qsize() would take it again
        if not messages.queue and not getattr(assoc, "_printscp_woken", False):
            messages.not_empty.wait(timeout)
        assoc._printscp_woken = False  # type: ignore[attr-defined]
    return next_message(assoc, timeout=0) if messages.qsize() else None


def wake(assoc: Association) -> None:
    """End the reactor's `wait_for_work` now (any thread). A `get` on the queue that it wakes instead
    finds the queue empty and waits on."""
    messages = assoc.dimse.msg_queue
    with messages.not_empty:
        assoc._printscp_woken = True  # type: ignore[attr-defined]
        messages.not_empty.notify_all()


def serve(assoc: Association, message: Message) -> None:
    """Serve a request as pynetdicom's reactor does: its service class calls our event handlers."""
    assoc._serve_request(message.primitive, message.context_id)


def peer_is_leaving(assoc: Association) -> bool:
    """Whether the next PDU from the peer is an A-ABORT or an A-RELEASE request."""
    primitive = assoc.dul.peek_next_pdu()
    return isinstance(primitive, (A_ABORT, A_P_ABORT)) or (
        isinstance(primitive, A_RELEASE) and primitive.result is None
    )


def send_event_report(
    assoc: Association,
    context: PresentationContext,
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    event_type_id: int,
    information: Dataset | None,
) -> None:
    """Send an N-EVENT-REPORT request without waiting for its response (the caller reads it)."""
    request = dimse_primitives.N_EVENT_REPORT()
    request.MessageID = message_id
    request.AffectedSOPClassUID = UID(sop_class_uid)
    request.AffectedSOPInstanceUID = UID(sop_instance_uid)
    request.EventTypeID = event_type_id
    if information is not None:
        syntax = context.transfer_syntax[0]
        data = encode(information, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
        request.EventInformation = BytesIO(cast(bytes, data))
    assoc.dimse.send_msg(request, cast(int, context.context_id))


class ReactorAssociation(Association):
    """pynetdicom's acceptor Association with a reactor that calls `between_requests` in its own thread.

    Accepted associations become instances of a subclass (see `start_server`), whose `adopted` sets up
    its state: pynetdicom has already built the object, so `__init__` does not run again.
    """

    def adopted(self) -> None:
        """Called once, when pynetdicom's new acceptor Association has become this class."""

    def request_arrived(self, message: Message) -> None:
        """Called by the reactor with each request it takes off the DIMSE queue, before serving it: the peer
        now waits for that request's response."""

    def between_requests(self) -> None:
        """Called by the reactor after each look at the DIMSE queue, in the association's thread."""

    def run_reactor(self) -> None:
        receiver = cast(_GuardedDUL, self.dul).receiver
        if receiver is None or not self.is_acceptor:
            super().run_reactor()
            return
        run_guarded_acceptor(self, receiver)

    # Between requests the reactor waits this long at most: requests, a release or abort from the peer,
    # the DUL's end and event reports wake it at once (`wake`); only the idle timer, a kill and a send_*
    # from another thread (which parks the reactor) are seen on the next turn.
    WAIT = 0.05  # seconds

    def _run_reactor(self) -> None:
        # 3.0.4's Association._run_reactor, but waiting for work (item 6) instead of sleeping before each look
        self._is_paused = False
        while not self._kill:
            # pynetdicom pauses the reactor here to send from other threads (release, abort)
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False

            message = wait_for_work(self, self.WAIT)
            if message is not None:
                if message.is_request:
                    self.request_arrived(message)
                serve(self, message)
                self.dul._idle_timer.restart()  # item 11: serving a request is not idleness
            self.between_requests()

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                log.debug("association released")
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                log.warning("network timeout reached on the association from %s", self.requestor.ae_title)
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


# --- 11. limits and timeouts of accepted connections (issue 11) --------------------------------------------

# PS3.8 9.3.8 Table 9-26: A-ABORT source 2 = DICOM UL service-provider initiated abort
ABORT_SOURCE_PROVIDER = 0x02
ABORT_REASON_NOT_SPECIFIED = 0x00
ABORT_REASON_INVALID_PARAMETER_VALUE = 0x06
P_DATA_TF_TYPE = 0x04
P_DATA_TF_EVENT = "Evt10"  # PS3.8 9.2.1: P-DATA-TF PDU received
PDU_TYPES = range(0x01, 0x08)  # PS3.8 9.3.1: A-ASSOCIATE-RQ .. A-ABORT


@dataclass(frozen=True)
class ConnectionLimits:
    """What printscp accepts from the connections it accepts; `network.*` keys of the same names."""

    max_pdu: int = 1048576  # the Maximum Length Received we announce for P-DATA-TF; 0 = unlimited
    artim_timeout: float = 10.0
    pdu_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_associations: int = 10
    max_pending_connections: int = 32
    max_connections_per_ip: int = 8
    max_buffered_bytes: int = 67108864
    association_pdu_limit: int = 65536  # every other PDU type: an A-ASSOCIATE-RQ with 128 contexts is ~20 KiB

    def pdu_limit(self, pdu_type: int) -> int | None:
        """The largest PDU length field (PS3.8 9.3.1: the bytes after the 6-byte header) accepted, or None."""
        if pdu_type == P_DATA_TF_TYPE:
            # PS3.8 D.1.1: Maximum Length Received bounds the variable field of the P-DATA-TF PDUs sent to us
            return self.max_pdu or None
        return self.association_pdu_limit


class Connection:
    """One accepted TCP connection, from accept to close, as the `ConnectionTable` counts it."""

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.ip, self.port = str(address[0]), int(address[1])
        self.since = time.monotonic()
        self.dropped = False

    def drop(self) -> None:
        """Close the connection from any thread: its DUL sees the socket end and stops."""
        self.dropped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"{self.ip}:{self.port}"


class ConnectionTable:
    """Pending connections (not associated yet) apart from associations, and the bytes being received.

    pynetdicom counts every acceptor thread against maximum_associations, so idle sockets that never
    associate lock every modality out (issue 11). Here a connection is pending from accept until its
    A-ASSOCIATE-RQ is admitted; at most `max_pending_connections` are, and `max_connections_per_ip` from
    one address, and beyond either the OLDEST pending one is dropped, so a well-behaved client that
    connects and associates at once always gets its turn. Only admitted associations count against
    `max_associations`.
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._pending: dict[Connection, None] = {}  # insertion order: oldest first
        self._admitted: set[Connection] = set()
        self._buffered = 0

    def opened(self, connection: Connection) -> None:
        """Count a new connection as pending, dropping the oldest pending ones beyond the limits."""
        dropped: list[tuple[Connection, str]] = []
        with self._lock:
            self._pending[connection] = None
            same_ip = [c for c in self._pending if c.ip == connection.ip]
            for oldest in same_ip[: max(0, len(same_ip) - self.limits.max_connections_per_ip)]:
                del self._pending[oldest]
                dropped.append((oldest, f"max_connections_per_ip {self.limits.max_connections_per_ip}"))
            while len(self._pending) > self.limits.max_pending_connections:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                dropped.append((oldest, f"max_pending_connections {self.limits.max_pending_connections}"))
        for oldest, limit in dropped:
            log.warning("closing the oldest unassociated connection, from %s: %s reached", oldest, limit)
            oldest.drop()

    def admit(self, connection: Connection) -> bool:
        """Whether an association may start on this connection (False: `max_associations` are running)."""
        with self._lock:
            if len(self._admitted) >= self.limits.max_associations:
                return False
            self._pending.pop(connection, None)
            self._admitted.add(connection)
            return True

    def closed(self, connection: Connection) -> None:
        with self._lock:
            self._pending.pop(connection, None)
            self._admitted.discard(connection)

    def reserve(self, size: int) -> bool:
        """Take `size` bytes of the receive budget shared by all connections, if they are free."""
        with self._lock:
            if self._buffered + size > self.limits.max_buffered_bytes:
                return False
            self._buffered += size
            return True

    def unreserve(self, size: int) -> None:
        with self._lock:
            self._buffered -= size

    @property
    def counts(self) -> tuple[int, int, int]:
        """(pending connections, admitted associations, bytes reserved for PDUs being received)"""
        with self._lock:
            return len(self._pending), len(self._admitted), self._buffered


class _Receiver:
    """The PDU being received on one accepted connection: read as it arrives, never blocking.

    pynetdicom reads a PDU with a blocking recv() of the whole length its header announces: a peer
    announcing 1 GiB is buffered whole, and one trickling a byte at a time holds the DUL thread (and its
    ARTIM and idle timers) for ever. This reader checks the length field before reading the body
    (PS3.8 9.3.1) and keeps the time the PDU began, so a PDU must complete within `pdu_timeout` however
    its bytes are spread.
    """

    def __init__(self, table: ConnectionTable, connection: Connection) -> None:
        self.table, self.connection, self.limits = table, connection, table.limits
        self.header = bytearray()
        self.pdu: bytearray | None = None  # header + body, allocated once the budget holds its length
        self.length = 0  # the PDU length field
        self.received = 0  # bytes of `pdu` filled
        self.started: float | None = None  # when the first byte of this PDU arrived

    def reset(self) -> None:
        if self.pdu is not None:
            self.table.unreserve(len(self.pdu))
        self.header, self.pdu, self.length, self.received, self.started = bytearray(), None, 0, 0, None

    @property
    def waiting_for_budget(self) -> bool:
        return len(self.header) == 6 and self.pdu is None

    def overdue(self, now: float) -> bool:
        return self.started is not None and now - self.started > self.limits.pdu_timeout


class _GuardedDUL(_EventDrivenDUL):
    """The event-driven DUL with the receive path of an accepted connection bounded in size and time.

    Requestors (printscp's own SCU side) keep pynetdicom's reader: `receiver` is set only on accepted
    connections, by the server's request handler.
    """

    receiver: _Receiver | None = None

    def _is_transport_event(self) -> bool:
        receiver = self.receiver
        if receiver is None or self.socket is None or self.socket.socket is None:
            return super()._is_transport_event()
        if receiver.overdue(time.monotonic()):
            self._abort(
                ABORT_REASON_NOT_SPECIFIED,
                f"a PDU did not complete within pdu_timeout {self.limits.pdu_timeout:g} s",
            )
            return True
        if receiver.waiting_for_budget and not self._reserve(receiver):
            time.sleep(self.WAIT)  # max_buffered_bytes in use: leave the bytes in the socket (TCP back-pressure)
            return False
        if self.state_machine.current_state == "Sta2" and self.artim_timer.expired:
            log.warning(
                "closing the connection from %s: no A-ASSOCIATE-RQ within artim_timeout %g s",
                receiver.connection,
                self.limits.artim_timeout,
            )
        before = self.event_queue.qsize()
        super()._is_transport_event()
        # Only a whole PDU (or the end of the connection) is an event: trickled bytes do not restart the
        # idle timer, which the DUL loop restarts when this returns True.
        return self.event_queue.qsize() > before

    @property
    def limits(self) -> ConnectionLimits:
        return cast(_Receiver, self.receiver).limits

    def _read_pdu_data(self) -> None:
        receiver = self.receiver
        if receiver is None:
            super()._read_pdu_data()
            return
        sock = cast(socket.socket, cast(Any, self.socket).socket)
        # The first read of a turn has data (select() said so). Further reads of the same turn happen only
        # while a poll says more bytes are there: a turn takes in what has arrived and never waits on a peer
        # that stops sending (the socket's timeout would make recv() wait for it). A TLS socket is read
        # once per turn; the DUL loop looks at its buffer before it waits.
        plain = not isinstance(sock, ssl.SSLSocket)
        again = False
        try:
            if len(receiver.header) < 6:
                chunk = sock.recv(6 - len(receiver.header))
                if not chunk:
                    self._closed_by_peer()
                    return
                if receiver.started is None:
                    receiver.started = time.monotonic()
                receiver.header += chunk
                if len(receiver.header) < 6:
                    return
                if not self._header_acceptable(receiver):
                    return
                if not self._reserve(receiver):
                    return
                again = True
            pdu = cast(bytearray, receiver.pdu)
            while receiver.received < len(pdu):
                if again and not (plain and select.select([sock], [], [], 0)[0]):
                    return
                with memoryview(pdu) as whole, whole[receiver.received :] as view:
                    count = sock.recv_into(view, min(len(view), 1 << 20))
                if not count:
                    self._closed_by_peer()
                    return
                receiver.received += count
                again = True
        except (BlockingIOError, InterruptedError, TimeoutError, ssl.SSLWantReadError):
            return  # no (whole TLS record of) data yet
        except OSError:
            self._closed_by_peer()
            return
        if receiver.received == len(pdu):
            self._decode_whole(receiver)

    def _header_acceptable(self, receiver: _Receiver) -> bool:
        pdu_type, _, length = struct.unpack(">BBL", receiver.header)
        if pdu_type not in PDU_TYPES:
            # pynetdicom's answer to an unknown PDU type: Evt19, and the state machine aborts (PS3.8 9.2)
            log.warning("unknown PDU type 0x%02X from %s; aborting", pdu_type, receiver.connection)
            receiver.reset()
            self.event_queue.put("Evt19")
            return False
        limit = self.limits.pdu_limit(pdu_type)
        if limit is not None and length > limit:
            # Refused on its header, before a byte of the body is read.
            self._abort(
                ABORT_REASON_INVALID_PARAMETER_VALUE,
                f"PDU type 0x{pdu_type:02X} announces {length} bytes, more than the {limit} we accept",
            )
            return False
        receiver.length = length
        return True

    def _reserve(self, receiver: _Receiver) -> bool:
        size = 6 + receiver.length
        if not receiver.table.reserve(size):
            return False
        receiver.pdu = bytearray(size)
        receiver.pdu[:6] = receiver.header
        receiver.received = 6
        return True

    def _decode_whole(self, receiver: _Receiver) -> None:
        """What pynetdicom's reader does with a whole PDU: decode it, queue its event and the PDU."""
        bytestream = cast(bytearray, receiver.pdu)
        receiver.reset()
        try:
            pdu, event = self._decode_received(bytestream)
        except Exception:
            log.warning("undecodable PDU from %s; aborting", receiver.connection, exc_info=True)
            self.event_queue.put("Evt19")  # invalid PDU: the state machine aborts (PS3.8 9.2)
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def _decode_received(self, bytestream: bytearray) -> tuple[Any, str]:
        """pynetdicom's `_decode_pdu`, without copying the data of a P-DATA-TF (item 14).

        See item 14. EVT_DATA_RECV hands its handlers the PDU as bytes: when one is bound, pynetdicom's
        decoder runs as it is.
        """
        if bytestream[0] != P_DATA_TF_TYPE or self.assoc.get_handlers(evt.EVT_DATA_RECV):
            return cast(tuple[Any, str], self._decode_pdu(bytestream))
        pdu = P_DATA_TF()
        pdu.decode(memoryview(bytestream))  # type: ignore[arg-type]
        evt.trigger(self.assoc, evt.EVT_PDU_RECV, {"pdu": pdu})
        return pdu, P_DATA_TF_EVENT

    def _closed_by_peer(self) -> None:
        receiver = cast(_Receiver, self.receiver)
        if receiver.connection.dropped:
            pass  # ConnectionTable.opened logged why
        elif receiver.started is not None:
            log.warning("the connection from %s closed in the middle of a PDU", receiver.connection)
        receiver.reset()
        cast(Any, self.socket).close()  # Evt17: transport connection closed (PS3.8 9.2)

    def _abort(self, reason: int, why: str) -> None:
        """A-ABORT (service-provider source, PS3.8 9.3.8) at once, then close the connection (Evt17)."""
        receiver = cast(_Receiver, self.receiver)
        log.warning("aborting the connection from %s: %s", receiver.connection, why)
        receiver.reset()
        abort = A_ABORT_RQ()
        abort.source = ABORT_SOURCE_PROVIDER
        abort.reason_diagnostic = reason
        try:
            self._send(abort)
        except Exception:  # the peer may be gone already; closing is all that is left
            pass
        cast(Any, self.socket).close()

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            if self.receiver is not None:
                self.receiver.reset()


def _socket_closed(assoc: Association) -> bool:
    transport = assoc.dul.socket
    return transport is None or transport.socket is None or transport.socket.fileno() == -1


def run_guarded_acceptor(assoc: ReactorAssociation, receiver: _Receiver) -> None:
    """3.0.4's Association.run_reactor for an acceptor, with the connection's accounting: the wait for the
    A-ASSOCIATE-RQ ends as soon as the connection does (ARTIM, a limit, the peer), and only an admitted
    request is negotiated; the others get A-ASSOCIATE-RJ local-limit-exceeded."""
    table, connection = receiver.table, receiver.connection
    try:
        if not assoc._started_dul:
            assoc.dul.start()
            assoc._started_dul = True
            assoc._dul_ready.wait()
        primitive = _wait_for_associate_request(assoc)
        if primitive is None:  # timed out or closed waiting for the A-ASSOCIATE-RQ
            assoc.kill()
            _shutdown(assoc)
            return
        assoc.requestor.primitive = primitive
        evt.trigger(assoc, evt.EVT_REQUESTED, {})
        if not assoc.is_aborted and not assoc.is_rejected:
            if table.admit(connection):
                assoc.acse.negotiate_association()
            else:
                # PS3.8 9.3.4 Table 9-21: rejected-transient, service-provider (presentation related),
                # local-limit-exceeded: max_associations associations are running
                assoc.requestor.ae_title = primitive.calling_ae_title
                assoc.acse.send_reject(0x02, 0x03, 0x02)
                evt.trigger(assoc, evt.EVT_REJECTED, {})
                assoc.kill()
        if assoc.is_established:
            with set_timer_resolution(assoc._timer_resolution):
                assoc._run_reactor()
        _shutdown(assoc)
    finally:
        table.closed(connection)


def _wait_for_associate_request(assoc: Association) -> A_ASSOCIATE | None:
    deadline = time.monotonic() + (assoc.acse_timeout or float("inf"))
    while time.monotonic() < deadline:
        primitive = assoc.dul.receive_pdu(wait=True, timeout=0.05)
        if isinstance(primitive, A_ASSOCIATE):
            return primitive
        if primitive is not None or _socket_closed(assoc) or not assoc.dul.is_alive():
            return None
    return None


def _shutdown(assoc: Association) -> None:
    transport = assoc.dul.socket
    if assoc._server and transport is not None and transport.socket:
        assoc._server.shutdown_request(transport.socket)


def prepare_accepted_socket(sock: socket.socket, limits: ConnectionLimits) -> socket.socket | None:
    """THE place where an accepted socket is made ready and handed to its association: called in the
    connection's own thread (never the accept thread), before pynetdicom wraps it; None when it is not
    to be used (a TLS handshake that failed: logged and closed).

    A TLS socket shakes hands here within artim_timeout (item 13). A blocking send to a peer that reads
    nothing gives up after `pdu_timeout` (pynetdicom then sees the connection closed).
    """
    if isinstance(sock, ssl.SSLSocket) and not tls_handshake(sock, limits.artim_timeout):
        return None
    sock.settimeout(limits.pdu_timeout)
    return sock


# --- 7. the server -----------------------------------------------------------------------------------------


class GuardedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with a table of its connections (item 11)."""

    connections: ConnectionTable
    # socketserver's backlog of 5 makes a burst of connections wait for SYN retries (1, 3, 7 s...) before
    # they are even accepted, a legitimate client's among them; pending ones are limited by the table.
    request_queue_size = 256
    reuse_port = False  # set before binding: __init__ binds

    def server_bind(self) -> None:
        if self.reuse_port:
            # Linux lets only sockets of the same user join the port, and spreads new connections over them
            # by a hash of the connection's addresses: every listener gets its share (socket(7)).
            cast(socket.socket, self.socket).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept; with TLS only wrap the socket (pynetdicom's would shake hands here, in the one accept
        thread, where a client that sends no ClientHello blocks every later connection: item 13)."""
        listener = cast(socket.socket, self.socket)
        client, address = listener.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address


class SharedPortAssociationServer(GuardedAssociationServer):
    """The server listening with SO_REUSEPORT: other servers may listen on its port too."""

    reuse_port = True


AssociationServer: TypeAlias = GuardedAssociationServer


def _request_handler(association_class: type[ReactorAssociation]) -> type[RequestHandler]:
    class AdoptingRequestHandler(RequestHandler):
        """Accepts each association as an `association_class`, within the server's connection limits."""

        def handle(self) -> None:
            # 3.0.4's RequestHandler.handle, run in the connection's own thread, with item 11's accounting.
            table = cast(GuardedAssociationServer, self.server).connections
            connection = Connection(self.request, self.client_address)
            table.opened(connection)  # may drop the oldest pending connections
            try:
                prepared = prepare_accepted_socket(self.request, table.limits)
                if prepared is None:
                    table.closed(connection)
                    return
                self.request = prepared
                assoc = self._create_association()
            except Exception:
                log.warning("could not start an association on the connection from %s", connection, exc_info=True)
                table.closed(connection)
                connection.drop()
                self.request.close()
                return
            dul = cast(_GuardedDUL, assoc.dul)
            dul.receiver = _Receiver(table, connection)
            dul.artim_timer.timeout = table.limits.artim_timeout  # PS3.8 9.1.5; pynetdicom uses acse_timeout
            assoc.network_timeout = table.limits.idle_timeout  # the idle timer of accepted associations
            # Association.__init__ made its thread's target the bound run_reactor of pynetdicom's class,
            # before the class became ours: point it at ours (ReactorAssociation.run_reactor).
            assoc._target = make_target(assoc.run_reactor)  # type: ignore[attr-defined]
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()

        def _create_association(self) -> Association:
            assoc = super()._create_association()
            # pynetdicom builds a plain Association with its handlers bound; we give it our reactor.
            # The subclass adds methods and no slots, so switching the class of the new object is safe.
            assoc.__class__ = association_class
            adopted = cast(ReactorAssociation, assoc)
            adopted.adopted()
            return adopted

    return AdoptingRequestHandler


def start_server(
    ae: AE,
    address: tuple[str, int],
    evt_handlers: list[tuple[Any, ...]],
    association_class: type[ReactorAssociation],
    limits: ConnectionLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
) -> AssociationServer:
    """Listen on `address` without blocking, as `AE.start_server(block=False)` does, accepting each
    association as an `association_class`, within `limits` (item 11; default: the AE's max PDU and
    maximum associations, and ConnectionLimits' defaults for the rest). With an `ssl_context` the listener
    speaks TLS only, each handshake in its connection's thread within the ARTIM timeout (item 13). With
    `reuse_port` other servers of this user may listen on the same port (SO_REUSEPORT)."""
    if limits is None:
        limits = ConnectionLimits(max_pdu=ae.maximum_pdu_size, max_associations=ae.maximum_associations)
    # pynetdicom counts every acceptor thread, pending connections included, against maximum_associations;
    # the ConnectionTable counts admitted associations instead, so pynetdicom's own check must never fire.
    ae.maximum_associations = 1 << 30
    server = cast(
        GuardedAssociationServer,
        ae.make_server(
            address,
            evt_handlers=evt_handlers,
            server_class=SharedPortAssociationServer if reuse_port else GuardedAssociationServer,
            request_handler=_request_handler(association_class),
            ssl_context=ssl_context,
        ),
    )
    server.connections = ConnectionTable(limits)
    server.contexts = template_contexts(server.contexts)  # copied for each association
    ae._servers.append(server)  # as AE.start_server does; the server's shutdown() removes it
    threading.Thread(target=server.serve_forever, name="printscp-acceptor", daemon=True).start()
    return server


# --- 13. DICOM TLS: the handshake in the connection's own thread ----------------------------------------


def tls_handshake(sock: ssl.SSLSocket, timeout: float) -> bool:
    """Do the server side of a TLS handshake within `timeout` seconds; on failure log why and close."""
    try:
        address = sock.getpeername()
    except OSError:
        address = None
    peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "?"
    try:
        sock.settimeout(timeout)  # one deadline for the whole handshake, however slowly bytes come
        sock.do_handshake()
        sock.settimeout(None)  # pynetdicom's DUL uses the socket blocking, as it would a plain one
    except (OSError, ValueError) as exc:  # ssl.SSLError and TimeoutError are OSErrors
        reason = f"no handshake within {timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
        log.warning("TLS connection from %s refused: %s", peer, reason)
        sock.close()
        return False
    log.debug("TLS connection from %s: %s %s", peer, sock.version(), sock.cipher())
    return True


# --- 8 to 10: small things reached through internals --------------------------------------------------------


def set_tcp_nodelay(assoc: Association) -> None:
    """Switch Nagle off on the association's socket (pynetdicom never does).

    Without it every message with a data set waits ~40 ms for the peer's delayed ACK (measured: Printer
    N-GET 47 ms -> 6 ms).
    """
    transport = assoc.dul.socket
    sock = transport.socket if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def called_ae_title(assoc: Association) -> str | None:
    """The Called AE Title the requestor sent in its A-ASSOCIATE-RQ, if the association has one."""
    primitive = assoc.requestor.primitive
    return str(primitive.called_ae_title).strip() if primitive is not None else None


def quiet_logging() -> None:
    """Keep pynetdicom to warnings, and stop it formatting every PDU, DIMSE message and identifier.

    It formats every C-FIND identifier whether logged or not: about 7% of a C-FIND's time.
    """
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False


# --- 12. log context ---------------------------------------------------------------------------------------------

# The pynetdicom loggers whose ERROR lines report transport trouble (connect, read, the state machine).
NETWORK_LOGGERS = (
    "pynetdicom.transport",
    "pynetdicom.dul",
    "pynetdicom.fsm",
    "pynetdicom.acse",
    "pynetdicom.association",
)


def thread_association(thread: threading.Thread) -> Association | None:
    """The association `thread` works for: an Association runs its reactor as a thread, and its DUL in
    another (a DULServiceProvider with an `assoc`)."""
    if isinstance(thread, Association):
        return thread
    if isinstance(thread, DULServiceProvider):
        return thread.assoc
    return None


def release_completed(assoc: Association) -> bool:
    """Whether the association has been released: the A-RELEASE-RP is sent (the acceptor waits in Sta13 for
    the peer to close) or received. A peer closing TCP, even with a reset, is normal from then on."""
    return bool(assoc.is_released) or assoc.dul.state_machine.current_state == "Sta13"


def peer_aborted(assoc: Association) -> bool:
    """Whether an A-ABORT from the peer waits for the reactor (the DUL closes the connection, and reports
    that, before the reactor reports the abort)."""
    return isinstance(assoc.dul.peek_next_pdu(), A_ABORT)


def abort_in_words(primitive: Any) -> str | None:
    """An ACSE primitive (EVT_ACSE_RECV / EVT_ACSE_SENT) that aborts the association, in words; None for
    any other (PS3.8 7.3.1 A-ABORT source, 7.4.1 A-P-ABORT provider reason)."""
    if isinstance(primitive, A_ABORT):
        return f"A-ABORT (source {primitive.abort_source})"
    if isinstance(primitive, A_P_ABORT):
        return f"A-P-ABORT (provider reason {primitive.provider_reason})"
    return None


def idle_timer_expired(assoc: Association) -> bool:
    """Whether the association's idle timer (network.idle_timeout) has run out."""
    return bool(assoc.dul.idle_timer_expired())


def rejection(assoc: Association) -> tuple[int, int, int] | None:
    """Result, source and reason/diagnostic of the A-ASSOCIATE-RJ an acceptor sent (PS3.8 9.3.4), if any."""
    primitive = assoc.acceptor.primitive
    if primitive is None or primitive.result in (None, 0x00):
        return None
    return int(primitive.result), int(primitive.result_source or 0), int(primitive.diagnostic or 0)


def filter_network_logs(log_filter: logging.Filter, add: bool = True) -> None:
    """Add (or remove) `log_filter` on pynetdicom's transport loggers: a logger's filter sees the records
    made on it, so this reaches their lines whatever handlers the application has."""
    for name in NETWORK_LOGGERS:
        logger = logging.getLogger(name)
        if add:
            logger.addFilter(log_filter)
        else:
            logger.removeFilter(log_filter)


_apply()
