"""N-EVENT-REPORT from printscp to its SCUs, delivered without racing the SCU's own requests.

pynetdicom's `send_n_event_report` waits for "the next DIMSE message" and takes it as the response.
Sent from any thread but the association's own, it races the SCU: a request the SCU sends at that
moment is taken as the response and the association is aborted (4 of 4 runs measured). Even from
the association's thread its pause only checks `_is_paused`, which is also true while a handler runs.

Here every event report for an association is queued (`post_event`, callable from any thread: the
print queue worker, a printer status change) and sent by the association's own reactor thread,
between requests, where it is the only reader of the DIMSE message queue. After sending, it reads
messages until the N-EVENT-REPORT-RSP whose Message ID Being Responded To is the request's own;
requests that arrive meanwhile are held and served, in order, once that response is in. So an
event never steals a request, a response is never misrouted, and events keep their order.

The reactor loop mirrors pynetdicom 3.0's `Association._run_reactor` (release, abort, dead DUL and
network timeout handling are the same), with two changes: event delivery, and waiting on the DIMSE
queue for up to 1 ms instead of sleeping 1 ms before every look, which also serves requests sooner.
"""

from __future__ import annotations

import logging
import queue
import time
from io import BytesIO
from typing import Any, cast

from pydicom.uid import UID
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode
from pynetdicom.pdu_primitives import A_ABORT, A_P_ABORT, A_RELEASE
from pynetdicom.transport import RequestHandler

from printscp import uids
from printscp.events import EventReport

log = logging.getLogger(__name__)


class PrintAssociation(Association):
    """pynetdicom's acceptor Association with a queue of event reports sent from its own thread."""

    _events: queue.Queue[EventReport]
    _event_message_id: int
    events_sent: int
    requests_held: int  # requests that arrived while an event response was awaited

    def setup_events(self) -> None:
        self._events = queue.Queue()
        self._event_message_id = 0
        self.events_sent = 0
        self.requests_held = 0

    def post_event(self, report: EventReport) -> None:
        """Queue an event report for this association; any thread may call this."""
        self._events.put(report)

    def context_for(self, sop_class_uid: str) -> Any:
        """The accepted presentation context an event of this class travels on, or None."""
        candidates = [sop_class_uid]
        if sop_class_uid == uids.PRINTER:  # Printer events go on the Meta SOP Class context too (H.3.2.2)
            candidates.append(uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META)
        for candidate in candidates:
            for context in self.accepted_contexts:
                if context.abstract_syntax == candidate:
                    return context
        return None

    # --- the reactor ------------------------------------------------------------------------------

    def _run_reactor(self) -> None:
        self._is_paused = False
        while not self._kill:
            # pynetdicom pauses the reactor here to send from other threads (release, abort)
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False

            try:
                context_id, msg = self.dimse.msg_queue.get(timeout=0.001)
            except queue.Empty:
                msg = None
            if msg:
                self._serve_request(msg, cast(int, context_id))
            self._deliver_events()

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

    # --- event delivery ----------------------------------------------------------------------------

    def _deliver_events(self) -> None:
        while self.is_established and not self._peer_is_leaving():
            try:
                report = self._events.get_nowait()
            except queue.Empty:
                return
            held = self._send_event(report)
            for context_id, request in held:  # requests that came while we waited, in their order
                self._serve_request(request, context_id)

    def _peer_is_leaving(self) -> bool:
        primitive = self.dul.peek_next_pdu()
        return isinstance(primitive, (A_ABORT, A_P_ABORT)) or (
            isinstance(primitive, A_RELEASE) and primitive.result is None
        )

    def _send_event(self, report: EventReport) -> list[tuple[int, Any]]:
        """Send one event report and wait for its response; returns the requests received meanwhile."""
        context = self.context_for(report.sop_class_uid)
        if context is None:
            log.debug("no context for %s events on this association", uids.name(report.sop_class_uid))
            return []
        self._event_message_id = self._event_message_id % 65535 + 1
        request = N_EVENT_REPORT()
        request.MessageID = self._event_message_id
        request.AffectedSOPClassUID = UID(report.sop_class_uid)
        request.AffectedSOPInstanceUID = UID(report.sop_instance_uid)
        request.EventTypeID = report.event_type_id
        if report.information is not None:
            syntax = context.transfer_syntax[0]
            data = encode(report.information, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
            request.EventInformation = BytesIO(cast(bytes, data))
        self.dimse.send_msg(request, context.context_id)
        self.events_sent += 1

        held: list[tuple[int, Any]] = []
        deadline = time.monotonic() + (self.dimse_timeout or 30)
        while time.monotonic() < deadline and self.is_established and not self._peer_is_leaving():
            try:
                context_id, msg = self.dimse.msg_queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if (
                isinstance(msg, N_EVENT_REPORT)
                and not msg.is_valid_request
                and msg.MessageIDBeingRespondedTo == request.MessageID
            ):
                if msg.Status not in (0x0000, None):
                    log.info(
                        "%s answered %s event %d with status 0x%04X",
                        self.requestor.ae_title,
                        uids.name(report.sop_class_uid),
                        report.event_type_id,
                        msg.Status,
                    )
                return held
            if getattr(msg, "is_valid_request", False):
                held.append((cast(int, context_id), msg))
                self.requests_held += 1
            else:
                log.warning(
                    "unexpected %s from %s while waiting for an event report response; dropped",
                    type(msg).__name__,
                    self.requestor.ae_title,
                )
        log.warning(
            "no N-EVENT-REPORT-RSP from %s for %s event %d",
            self.requestor.ae_title,
            uids.name(report.sop_class_uid),
            report.event_type_id,
        )
        return held


class PrintRequestHandler(RequestHandler):
    """Accepts each association as a PrintAssociation."""

    def _create_association(self) -> PrintAssociation:
        assoc = super()._create_association()
        # pynetdicom builds a plain Association with its handlers bound; we give it our reactor.
        # The subclass adds methods and no slots, so switching the class of the new object is safe.
        assoc.__class__ = PrintAssociation
        print_association = cast(PrintAssociation, assoc)
        print_association.setup_events()
        return print_association
