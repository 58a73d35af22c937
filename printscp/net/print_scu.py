"""The requestor side of Print Management (PS3.4 H): what every print SCU of printscp shares.

`printscp print` (bench/scu.py) and the DICOM relay (relay/dicom.py) both open an association to a print
SCP and send it N-GET/N-CREATE/N-SET/N-ACTION/N-DELETE requests while it may send N-EVENT-REPORTs back.
`Requester` owns what that takes on top of pynetdicom's public API: message ids, the response command set of
each request (pynetdicom returns only its status: the Affected SOP Instance UID of an N-CREATE, the Error
Comment and the Offending Element are read from it), the Meta SOP Class of each request, the event reports
(a queue, and the states of Print Jobs), and `SendGate`, which keeps an event's answer from landing between the
PDUs of a request being sent (PS3.8 9.3.1). `follow_print_jobs` waits for Print Jobs to finish.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from printscp import uids

GRAY_META = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META
COLOR_META = uids.BASIC_COLOR_PRINT_MANAGEMENT_META
TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]  # no Big Endian: 8-bit OW pixels swap
# (2100,0500): PS3.4 H.4.2.2.4 Referenced Print Job Sequence; pydicom's keyword of that name is (2120,0070)
REFERENCED_PRINT_JOB_SEQUENCE = Tag(0x2100, 0x0500)
PRINT_JOB_EVENTS = {1: "PENDING", 2: "PRINTING", 3: "DONE", 4: "FAILURE"}  # PS3.4 Table H.4-14
PRINTER_EVENTS = {1: "NORMAL", 2: "WARNING", 3: "FAILURE"}  # PS3.4 Table H.4-16
POLL_INTERVAL = 1.0  # seconds without a Print Job event before an N-GET Print Job
MAX_PDU = 1048576  # what we receive; ~1 MiB is fastest (notes/pynetdicom-facts.md)


def is_warning(code: int) -> bool:
    """PS3.7 C.1: 0001, Bxxx, 0107 and 0116 are warnings."""
    return code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF


def is_failure(code: int) -> bool:
    return code != 0 and not is_warning(code)


def reference(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


def references(data: Dataset | None, sequence: str | Any) -> list[tuple[str, str]]:
    """(Referenced SOP Class UID, Referenced SOP Instance UID) of each item of a sequence of `data`."""
    if data is None or sequence not in data:
        return []
    items = data[sequence].value or []
    return [
        (str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", ""))) for item in items
    ]


def propose(ae: AE, abstract_syntaxes: Iterable[str]) -> list[str]:
    """Propose each abstract syntax with Explicit and Implicit VR Little Endian; the list proposed."""
    proposed = list(abstract_syntaxes)
    for syntax in proposed:
        ae.add_requested_context(syntax, TRANSFER_SYNTAXES)
    return proposed


@dataclass(frozen=True)
class Answer:
    """A response: its status (None: none came), data set and command set."""

    status: int | None
    data: Dataset | None
    command: Dataset | None

    @property
    def error_comment(self) -> str:
        return str(self.command.get("ErrorComment", "") or "") if self.command is not None else ""

    @property
    def offending(self) -> tuple[int, ...]:
        value = self.command.get("OffendingElement") if self.command is not None else None
        if value is None:
            return ()
        return tuple(int(t) for t in (value if isinstance(value, list) else [value]))

    @property
    def affected_uid(self) -> str:
        return str(self.command.get("AffectedSOPInstanceUID", "") or "") if self.command is not None else ""


@dataclass(frozen=True)
class EventReport:
    sop_class: str
    instance: str
    event_type: int
    information: Dataset | None

    @property
    def state(self) -> str:
        """PENDING/PRINTING/DONE/FAILURE of a Print Job, NORMAL/WARNING/FAILURE of the Printer."""
        table = PRINT_JOB_EVENTS if self.sop_class == uids.PRINT_JOB else PRINTER_EVENTS
        return table.get(self.event_type, f"event {self.event_type}")

    @property
    def detail(self) -> str:
        info = self.information if self.information is not None else Dataset()
        keyword = "ExecutionStatusInfo" if self.sop_class == uids.PRINT_JOB else "PrinterStatusInfo"
        return str(info.get(keyword, "") or "")


class SendGate:
    """Keeps the N-EVENT-REPORT-RSP that pynetdicom sends from its event thread out of the middle of a request's
    P-DATA-TF PDUs (a request with a data set is several PDUs, each queued on its own).

    The request side waits until no event answer is on its way and marks itself sending; the mark goes when
    the request's last PDU has been written (EVT_PDU_SENT, its last fragment). An event handler waits until
    no request is being sent and counts an answer on its way, until the answer's PDU has been written.
    Waits are bounded: a dead association must not hang the SCU."""

    def __init__(self, timeout: float) -> None:
        self._condition = threading.Condition()
        self._timeout = timeout
        self._sending = False
        self._final_header = 0x03  # the last PDV's message control header of the request being sent
        self._answering = 0

    def before_request(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._answering == 0, self._timeout)
            self._answering = 0
            self._sending = True

    def request_encoded(self, has_data_set: bool) -> None:
        with self._condition:
            # PS3.8 E.2: bit 0 = command, bit 1 = last fragment
            self._final_header = 0x02 if has_data_set else 0x03

    def after_request(self) -> None:
        with self._condition:
            self._sending = False
            self._condition.notify_all()

    def before_answer(self) -> None:
        with self._condition:
            self._condition.wait_for(lambda: not self._sending, self._timeout)
            self._answering += 1

    def pdu_sent(self, event: Event) -> None:
        items = getattr(event.pdu, "presentation_data_value_items", None)
        if not items:
            return
        data = items[-1].data
        if not data:
            return
        header = data[0] & 0x03
        with self._condition:
            if self._answering and header == 0x03:
                self._answering -= 1
            elif self._sending and header == self._final_header:
                self._sending = False
            self._condition.notify_all()


class Requester:
    """The requests of one print SCU association (see the module docstring). Bind `handlers()` when
    associating, then `attach` the association. Called from pynetdicom's threads as well as the caller's."""

    def __init__(self, timeout: float) -> None:
        self.gate = SendGate(timeout)
        self.assoc: Association | None = None
        self.meta = GRAY_META
        self.image_box_class = uids.BASIC_GRAYSCALE_IMAGE_BOX
        self.events: queue.Queue[EventReport] = queue.Queue()
        self.job_states: dict[str, tuple[str, str]] = {}  # print job UID -> (Execution Status, its Info)
        self.message_id = 0
        self._responses: dict[int, Dataset] = {}  # our requests' message id -> response command set
        self._guard = threading.Lock()

    def handlers(self) -> list[Any]:
        return [
            (evt.EVT_DIMSE_SENT, self._dimse_sent),
            (evt.EVT_DIMSE_RECV, self._dimse_received),
            (evt.EVT_PDU_SENT, self.gate.pdu_sent),
            (evt.EVT_N_EVENT_REPORT, self._event_report),
        ]

    def attach(self, assoc: Association) -> None:
        self.assoc = assoc

    def use_color(self) -> None:
        """Send the Film Session, Film Box and Printer requests under Basic Color Print Management."""
        self.meta, self.image_box_class = COLOR_META, uids.BASIC_COLOR_IMAGE_BOX

    # pynetdicom's events

    def _dimse_sent(self, event: Event) -> None:
        if "MessageIDBeingRespondedTo" not in event.message.command_set:
            data = event.message.data_set
            self.gate.request_encoded(data is not None and len(data.getbuffer()) > 0)

    def _dimse_received(self, event: Event) -> None:
        command: Dataset = event.message.command_set
        if "MessageIDBeingRespondedTo" in command:
            with self._guard:
                self._responses[int(command.MessageIDBeingRespondedTo)] = command

    def _event_report(self, event: Event) -> tuple[int, None]:
        request: Any = event.request
        try:
            information = event.event_information
        except Exception:  # an undecodable Event Information: the event still counts
            information = None
        self.events.put(
            EventReport(
                str(request.AffectedSOPClassUID),
                str(request.AffectedSOPInstanceUID),
                int(request.EventTypeID),
                information,
            )
        )
        self.gate.before_answer()
        return 0x0000, None

    def take_event(self, timeout: float | None = None) -> EventReport | None:
        """The next event report (waiting up to `timeout` s; None: no wait), keeping Print Jobs' states."""
        try:
            report = self.events.get(timeout=timeout) if timeout else self.events.get_nowait()
        except queue.Empty:
            return None
        if report.sop_class == uids.PRINT_JOB:
            self.job_states[report.instance] = (report.state, report.detail)
        return report

    # requests

    def meta_for(self, sop_class: str) -> str | None:
        members = {uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX, uids.PRINTER, self.image_box_class}
        return self.meta if sop_class in members else None

    def send(self, send: Callable[[Association, int, str | None], Any], sop_class: str) -> Answer:
        """Send one request: `send(association, message id, meta uid)` calls pynetdicom's send_n_*."""
        assert self.assoc is not None
        self.message_id += 1
        message_id = self.message_id
        self.gate.before_request()
        try:
            answer = send(self.assoc, message_id, self.meta_for(sop_class))
        finally:
            self.gate.after_request()
        status, data = answer if isinstance(answer, tuple) else (answer, None)
        if status is None or "Status" not in status:
            return Answer(None, None, None)
        with self._guard:
            command = self._responses.pop(message_id, None)
        return Answer(int(status.Status), data, command if command is not None else status)

    def n_create(self, sop_class: str, data: Dataset | None) -> Answer:
        # an empty data set makes pynetdicom wait for its DIMSE timeout: none is sent instead
        payload = data if data is not None and len(data) else None
        return self.send(
            lambda a, mid, meta: a.send_n_create(payload, sop_class, None, msg_id=mid, meta_uid=meta), sop_class
        )

    def n_set(self, sop_class: str, uid: str, data: Dataset) -> Answer:
        return self.send(lambda a, mid, meta: a.send_n_set(data, sop_class, uid, msg_id=mid, meta_uid=meta), sop_class)

    def n_get(self, sop_class: str, uid: str) -> Answer:
        return self.send(lambda a, mid, meta: a.send_n_get([], sop_class, uid, msg_id=mid, meta_uid=meta), sop_class)

    def n_action(self, sop_class: str, uid: str) -> Answer:
        return self.send(
            lambda a, mid, meta: a.send_n_action(None, 1, sop_class, uid, msg_id=mid, meta_uid=meta), sop_class
        )

    def get_print_job(self, uid: str) -> Answer:
        """N-GET Print Job; its Execution Status (and Info) go into job_states."""
        answer = self.n_get(uids.PRINT_JOB, uid)
        if answer.status is not None and not is_failure(answer.status) and answer.data is not None:
            data = answer.data
            self.job_states[uid] = (
                str(data.get("ExecutionStatus", "") or ""),
                str(data.get("ExecutionStatusInfo", "") or ""),
            )
        return answer

    def n_delete(self, sop_class: str, uid: str) -> Answer:
        return self.send(lambda a, mid, meta: a.send_n_delete(sop_class, uid, msg_id=mid, meta_uid=meta), sop_class)


def follow_print_jobs(
    requester: Requester,
    jobs: Iterable[str],
    timeout: float,
    on_event: Callable[[EventReport], None],
    get_job: Callable[[str], None],
) -> set[str]:
    """Wait until every print job is DONE or FAILURE (requester.job_states): its N-EVENT-REPORTs, else
    `get_job(uid)` (an N-GET Print Job that updates job_states) each POLL_INTERVAL. Each event report is handed to
    `on_event`. Returns the jobs still unfinished when `timeout` ran out (empty: all finished)."""
    deadline = time.monotonic() + timeout
    pending = set(jobs)
    last_look = time.monotonic()
    while True:
        while (report := requester.take_event()) is not None:
            on_event(report)
        pending = {j for j in pending if requester.job_states.get(j, ("", ""))[0] not in ("DONE", "FAILURE")}
        now = time.monotonic()
        if not pending or now >= deadline:
            return pending
        if now - last_look >= POLL_INTERVAL:
            for job in sorted(pending):
                get_job(job)
            last_look = time.monotonic()
            continue
        report = requester.take_event(timeout=min(POLL_INTERVAL, deadline - now))
        if report is not None:
            on_event(report)
            last_look = time.monotonic()
