"""Adjustments to pynetdicom 3.0 that a strict print SCP (and its own SCU roles) need, applied once at import.

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

1, 2, 4 and 5 are covered by integration tests; 3 is measured by benchmarks/print_vs_dcmprscp.py.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Any

import pynetdicom.association
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dul import DULServiceProvider
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass
from pynetdicom.service_class_n import PrintManagementServiceClass
from pynetdicom.sop_class import uid_to_service_class

log = logging.getLogger(__name__)

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
            if sock is not None and self.to_provider_queue.empty() and self.event_queue.empty():
                select.select([sock, self._wake_read], [], [], self.WAIT)
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
    context = assoc._accepted_cx.get(context_id)
    if context is None:
        log.warning("N-EVENT-REPORT on a context that was not accepted (%d); aborting", context_id)
        assoc.abort()
        return
    try:
        _service_class_or_print(str(msg.AffectedSOPClassUID))(assoc).SCP(msg, context)
    except Exception:
        log.exception("serving an N-EVENT-REPORT failed; aborting")
        assoc.abort()


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
    setattr(pynetdicom.association, "DULServiceProvider", _EventDrivenDUL)  # noqa: B010
    setattr(pynetdicom.association.Association, "_serve_request", _serve_request_keeping_responses)  # noqa: B010
    pynetdicom.association._printscp_patched = True  # type: ignore[attr-defined]


_apply()
