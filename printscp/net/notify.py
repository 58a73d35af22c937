"""N-EVENT-REPORT from printscp to its SCUs, delivered without racing the SCU's own requests.

pynetdicom's `send_n_event_report` waits for "the next DIMSE message" and takes it as the response.
Sent from any thread but the association's own, it races the SCU: a request the SCU sends at that
moment is taken as the response and the association is aborted (4 of 4 runs measured). Even from
the association's thread its pause only checks `_is_paused`, which is also true while a handler runs.

Here every event report for an association is queued (`post_event`, callable from any thread: the
print queue worker, a printer status change) and sent by the association's own reactor thread, where
it is the only reader of the DIMSE message queue. After sending, it reads messages until the
N-EVENT-REPORT-RSP whose Message ID Being Responded To is the request's own; requests that arrive
meanwhile are held and served, in order, once that response is in. So an event never steals a
request, a response is never misrouted, and events keep their order.

When: queued events go out when the SCU's next request has arrived, before it is served, while the
SCU waits for that request's response; to an SCU that sends no request, once it has been quiet for
QUIET_TIME. Sent at any other moment, an event races what the SCU does next, and common SCUs lose
that race (item 2 of found-from-outside): pynetdicom 3.0.4's requestor serves an event in a thread
of its own whose `_is_paused = True ... = False` (association.py 3552, 3554) fools a send_* that is
pausing the reactor (association.py 3190): the reactor takes the response ("Received unexpected
N-GET service message", 3509) and the SCU aborts after its DIMSE timeout, or the send_* waits for
ever and our idle timeout aborts; an event answered after the SCU sent A-RELEASE-RQ kills its DUL
(fsm.py 79, Evt9 in Sta7: PS3.8 lets the release requestor receive P-DATA but not send it) and it
aborts after its ACSE timeout. DCMTK's print SCU reads event reports only while it waits for a
response. While its request is outstanding, every SCU can take an event (PS3.7 allows one invoked
and one performed operation by default).

The reactor loop, the DIMSE queue and the N-EVENT-REPORT primitive are pynetdicom internals and live
in net/compat.py (item 6); this module is printscp's delivery logic on top of them.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

from printscp import uids
from printscp.events import EventReport
from printscp.net import compat

log = logging.getLogger(__name__)

QUIET_TIME = 0.5  # seconds without a request after which an SCU is sent its events unasked


class PrintAssociation(compat.ReactorAssociation):
    """An accepted association with a queue of event reports sent from its own thread."""

    _events: queue.Queue[EventReport]
    _event_message_id: int
    _held: list[compat.Message]  # requests that arrived while an event response was awaited, not yet served
    _quiet_since: float | None  # when the SCU's last request was served; None while one is being served
    events_sent: int
    events_sent_idle: int  # of those, sent while the SCU had no request outstanding (after QUIET_TIME)
    requests_held: int  # requests that arrived while an event response was awaited

    def adopted(self) -> None:
        self._events = queue.Queue()
        self._event_message_id = 0
        self._held = []
        self._quiet_since = time.monotonic()
        self.events_sent = 0
        self.events_sent_idle = 0
        self.requests_held = 0

    def post_event(self, report: EventReport) -> None:
        """Queue an event report for this association; any thread may call this."""
        self._events.put(report)
        compat.wake(self)  # the reactor sends it between requests

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

    # --- event delivery ----------------------------------------------------------------------------

    def request_arrived(self, message: compat.Message) -> None:
        # The SCU waits for this request's response: the moment every SCU can take an event report.
        self._quiet_since = None
        self._deliver()  # requests held meanwhile are served after this one, by between_requests

    def between_requests(self) -> None:
        self._serve_held()
        if self._quiet_since is None:
            self._quiet_since = time.monotonic()  # a request was just served
        elif time.monotonic() - self._quiet_since >= QUIET_TIME and not self._events.empty():
            self.events_sent_idle += self._deliver()
            self._serve_held()

    def _deliver(self) -> int:
        """Send the queued event reports, one at a time, until one sees a request arrive; how many were sent."""
        sent = 0
        while not self._held and self.is_established and not compat.peer_is_leaving(self):
            try:
                report = self._events.get_nowait()
            except queue.Empty:
                break
            sent += self._send_event(report)
        return sent

    def _serve_held(self) -> None:
        while self._held:
            compat.serve(self, self._held.pop(0))  # in the order they came
            self._quiet_since = None

    def _send_event(self, report: EventReport) -> bool:
        """Send one event report and wait for its response, holding the requests received meanwhile."""
        context = self.context_for(report.sop_class_uid)
        if context is None:
            log.debug("no context for %s events on this association", uids.name(report.sop_class_uid))
            return False
        self._event_message_id = self._event_message_id % 65535 + 1
        message_id = self._event_message_id
        compat.send_event_report(
            self,
            context,
            message_id,
            report.sop_class_uid,
            report.sop_instance_uid,
            report.event_type_id,
            report.information,
        )
        self.events_sent += 1

        deadline = time.monotonic() + (self.dimse_timeout or 30)
        while time.monotonic() < deadline and self.is_established and not compat.peer_is_leaving(self):
            message = compat.next_message(self, timeout=0.05)
            if message is None:
                continue
            if message.answers_event_report(message_id):
                if message.status not in (0x0000, None):
                    log.info(
                        "%s answered %s event %d with status 0x%04X",
                        self.requestor.ae_title,
                        uids.name(report.sop_class_uid),
                        report.event_type_id,
                        message.status,
                    )
                return True
            if message.is_request:
                self._held.append(message)
                self.requests_held += 1
            else:
                log.warning(
                    "unexpected %s from %s while waiting for an event report response; dropped",
                    message.name,
                    self.requestor.ae_title,
                )
        log.warning(
            "no N-EVENT-REPORT-RSP from %s for %s event %d",
            self.requestor.ae_title,
            uids.name(report.sop_class_uid),
            report.event_type_id,
        )
        return True
