"""Records every association as a transcript (bench/transcript.py), as it runs.

Bound in net/server.py's handler list when transcripts.enabled. The A-ASSOCIATE-AC (or -RJ) opens the file
`TranscriptStore.path_for(id, start)` and writes the negotiation; each DIMSE message received or sent
(EVT_DIMSE_RECV in the DUL thread, EVT_DIMSE_SENT in whichever thread sends) is appended as one line; the
end of the association writes its End, then the findings (bench/findings.py, against the printer's
profile), and indexes the transcript. The handlers only number the messages and take the time (under a
per-association lock, so that the file's order is the order seen); one writer thread does the rest
(decoding, SHA-256 of pixel data, JSON), off the threads that serve the association.

The abort's side comes from the ACSE primitives: an A-ABORT sent is ours (a fault, a limit, a timeout, a
shutdown), an A-ABORT or A-P-ABORT received is the peer's (or its transport's).
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, ImplicitVRLittleEndian, generate_uid
from pynetdicom.association import Association
from pynetdicom.events import Event

from printscp.bench import findings
from printscp.bench.dimse import Captured, capture, command_name, message_record, now_text
from printscp.bench.store import TranscriptStore
from printscp.bench.transcript import (
    Association as AssociationRecord,
)
from printscp.bench.transcript import (
    Direction,
    End,
    FaultApplied,
    Finding,
    Message,
    Outcome,
    PresentationContext,
    Transcript,
    line,
)
from printscp.config import PrinterConfig
from printscp.db import DatabaseUnavailable
from printscp.net import association_log, compat

log = logging.getLogger(__name__)

# PS3.8 Table 9-18: the result of a presentation context in the A-ASSOCIATE-AC
_CONTEXT_RESULTS = {
    0: "accepted",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}


class _Writer:
    """One thread doing the recorder's work off the associations' threads: decoding and summarising data
    sets, hashing pixel data, writing lines, the findings. Work is taken in the order it was given, so each
    transcript's lines are in the order its messages were seen. The data sets given are held in memory
    until their work is done: with MAX_WAITING items, or MAX_WAITING_BYTES of data sets, given and not
    done, whoever gives more waits (a data set larger than that alone waits only for the writer to be
    idle)."""

    MAX_WAITING = 8
    MAX_WAITING_BYTES = 16 << 20  # two 2048x2048 12-bit Image Box N-SETs (8 MiB each)

    def __init__(self) -> None:
        self._work: queue.Queue[tuple[Callable[[], None], int] | None] = queue.Queue(self.MAX_WAITING)
        self._room = threading.Condition()
        self.waiting_bytes = 0  # of the data sets of the work given and not done
        self.blocked = 0  # submitters waiting for room
        self.unflushed: set[IO[str]] = set()  # files written since the writer was last idle (its thread only)
        self._thread = threading.Thread(target=self._run, name="printscp-transcripts", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], None], size: int = 0) -> None:
        """Give `work` holding a data set of `size` bytes."""
        with self._room:
            self.blocked += 1
            while self.waiting_bytes and self.waiting_bytes + size > self.MAX_WAITING_BYTES:
                self._room.wait()
            self.blocked -= 1
            self.waiting_bytes += size
        self._work.put((work, size))

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            work, size = item
            try:
                work()
            except Exception:  # a bug here must cost one transcript line, never the recorder
                log.exception("the transcript recorder failed")
            finally:
                with self._room:
                    self.waiting_bytes -= size
                    self._room.notify_all()
            if self._work.empty():
                self._flush()

    def _flush(self) -> None:
        """Hand the lines written to the system once there is nothing more to write: a killed server leaves
        every line written before its writer was last idle (not fsync'd: diagnostics, not films), and a
        burst of messages costs one write() per file, not one per line."""
        for file in self.unflushed:
            if not file.closed:
                try:
                    file.flush()
                except OSError as exc:  # a full disk costs the transcript lines, never the recorder
                    log.warning("cannot write a transcript: %s", exc.strerror or exc)
        self.unflushed.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the work given so far, then end the thread."""
        self._work.put(None)
        self._thread.join(timeout)


@dataclass(eq=False)
class _Recording:
    path: Path
    file: IO[str]
    writer: _Writer
    association: AssociationRecord
    printer: PrinterConfig | None
    syntaxes: dict[int, UID]  # accepted context id -> its transfer syntax
    keep_pixels: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0  # messages so far
    last_request: int = 0  # index of the last request received (a fault applies to it)
    received_at: dict[int, float] = field(default_factory=dict)  # Message ID of a request received -> when
    sent_at: dict[int, float] = field(default_factory=dict)  # Message ID of a request we sent -> when
    messages: list[Message] = field(default_factory=list)  # written so far (the writer's thread only)
    faults: list[FaultApplied] = field(default_factory=list)
    abort: str = ""  # "" | "peer" | "printscp", from the ACSE primitives
    abort_detail: str = ""
    ended: bool = False

    def write(self, record: AssociationRecord | Message | FaultApplied | End | tuple[Finding, ...]) -> None:
        """In the writer's thread only. Messages and faults are also kept (summaries, a few kB): the findings
        are made from them when the association ends, without reading the file back."""
        self.file.write(line(record) + "\n")
        self.writer.unflushed.add(self.file)  # flushed when the writer is idle
        if isinstance(record, Message):
            self.messages.append(record)
        elif isinstance(record, FaultApplied):
            self.faults.append(record)


def _size(data_set: BytesIO | None) -> int:
    """The bytes of a message's encoded data set. getvalue() gives the bytes object the BytesIO shares, not a
    copy (getbuffer() would copy it: the stream stops sharing its buffer first)."""
    return 0 if data_set is None else len(data_set.getvalue())


_recordings: weakref.WeakKeyDictionary[Association, _Recording] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def fault_applied(assoc: Association, fault: str, effect: str) -> None:
    """A fault of the fault plan changed how the request being served on `assoc` is answered: record it in
    the association's transcript (`fault` as `printscp fault list` shows the rule, `effect` what it did)."""
    recording = _recordings.get(assoc)
    if recording is None:
        return
    with recording.lock:
        if not recording.ended:
            applied = FaultApplied(recording.last_request, fault, effect, now_text())
            recording.writer.submit(lambda: recording.write(applied))


class Recorder:
    """The transcript handlers of one server: what it binds, and where the transcripts go."""

    def __init__(
        self, store: TranscriptStore, printer_of: Callable[[Association], PrinterConfig], keep_pixels: bool
    ) -> None:
        self.store = store
        self.printer_of = printer_of
        self.keep_pixels = keep_pixels
        self.writer = _Writer()

    def stop(self) -> None:
        """Write what is still to be written (the server has ended its associations)."""
        self.writer.stop()

    def handlers(self) -> list[tuple[Any, ...]]:
        from pynetdicom import evt

        handlers = [
            (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_DIMSE_RECV, self.on_dimse_recv),
            (evt.EVT_DIMSE_SENT, self.on_dimse_sent),
            (evt.EVT_ACSE_RECV, self.on_acse_recv),
            (evt.EVT_ACSE_SENT, self.on_acse_sent),
            (evt.EVT_RELEASED, self.on_released),
            (evt.EVT_ABORTED, self.on_aborted),
            (evt.EVT_CONN_CLOSE, self.on_conn_close),
        ]
        return [(event, _guarded(handler)) for event, handler in handlers]

    # --- the association --------------------------------------------------------------------------------

    def _open(self, assoc: Association, rejection: str | None) -> _Recording | None:
        """The association's recording, opened now if it is not yet. The peer's first request can arrive
        (EVT_DIMSE_RECV, in the DUL thread) before EVT_ACCEPTED's handlers have run in the reactor's."""
        with _registry_lock:
            recording = _recordings.get(assoc)
            if recording is None:
                recording = self._new(assoc, rejection)
                if recording is not None:
                    _recordings[assoc] = recording
            return recording

    def _new(self, assoc: Association, rejection: str | None) -> _Recording | None:
        started = datetime.now().astimezone()
        association_id = association_log.association_id(assoc)
        printer = None if rejection is not None else self.printer_of(assoc)
        record = _association_record(assoc, association_id, started, printer, rejection)
        path = self.store.path_for(association_id, started)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = path.open("w", encoding="utf-8")
        except OSError as exc:  # a full or read-only disk must not cost the association
            log.warning("cannot write the transcript %s: %s", path, exc.strerror or exc)
            return None
        syntaxes = {int(cx.context_id or 0): UID(str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
        recording = _Recording(path, file, self.writer, record, printer, syntaxes, self.keep_pixels)
        recording.writer.submit(lambda: recording.write(record))
        return recording

    def on_accepted(self, event: Event) -> None:
        self._open(event.assoc, None)

    def on_rejected(self, event: Event) -> None:
        rejected = compat.rejection(event.assoc)
        words = association_log.rejection_in_words(*rejected) if rejected is not None else "rejected"
        recording = self._open(event.assoc, words)
        if recording is not None:
            self._end(event.assoc, recording, Outcome.REJECTED, words)

    # --- DIMSE messages ----------------------------------------------------------------------------------

    def on_dimse_recv(self, event: Event) -> None:
        self._message(event, Direction.RECEIVED)

    def on_dimse_sent(self, event: Event) -> None:
        self._message(event, Direction.SENT)

    def _message(self, event: Event, direction: Direction) -> None:
        recording = _recordings.get(event.assoc) or self._open(event.assoc, None)
        if recording is None:
            return
        message = capture(event.message)  # now: pynetdicom empties the object for the next message
        now = time.monotonic()
        command = message.command_set
        is_request = command_name(message).endswith("-RQ")
        elapsed_ms = None
        # the other side's request, answered now: how long it took
        started_by = recording.sent_at if direction is Direction.RECEIVED else recording.received_at
        if not is_request:
            began = started_by.pop(int(command.MessageIDBeingRespondedTo or 0), None)
            elapsed_ms = round((now - began) * 1000, 3) if began is not None else None
        syntax = recording.syntaxes.get(int(message.context_id or 0))
        seen = now_text()
        with recording.lock:
            if recording.ended:
                return
            recording.count += 1
            index = recording.count
            if is_request:
                (recording.received_at if direction is Direction.RECEIVED else recording.sent_at)[
                    int(command.MessageID or 0)
                ] = now
                if direction is Direction.RECEIVED:
                    recording.last_request = index

            def write() -> None:
                record = message_record(message, direction, index, syntax, time=seen, elapsed_ms=elapsed_ms)
                if recording.keep_pixels and direction is Direction.RECEIVED and record.data_set is not None:
                    name = _keep_data_set(recording, index, message, syntax)
                    if name is not None:
                        record = replace(record, data_set_file=name)
                recording.write(record)

            recording.writer.submit(write, _size(message.data_set))

    # --- the end -----------------------------------------------------------------------------------------

    def on_acse_recv(self, event: Event) -> None:
        recording = _recordings.get(event.assoc)
        abort = compat.abort_in_words(getattr(event, "primitive", None))
        if recording is not None and abort is not None and not recording.abort:
            recording.abort, recording.abort_detail = "peer", f"{abort} from the peer"

    def on_acse_sent(self, event: Event) -> None:
        recording = _recordings.get(event.assoc)
        abort = compat.abort_in_words(getattr(event, "primitive", None))
        if recording is not None and abort is not None and not recording.abort:
            timed_out = compat.idle_timer_expired(event.assoc)
            recording.abort, recording.abort_detail = "printscp", "idle timeout" if timed_out else f"{abort} sent"

    def on_released(self, event: Event) -> None:
        self._finish(event.assoc, Outcome.RELEASED, "")

    def on_aborted(self, event: Event) -> None:
        recording = _recordings.get(event.assoc)
        if recording is None:
            return
        if recording.abort == "printscp":
            timed_out = recording.abort_detail == "idle timeout"
            self._finish(event.assoc, Outcome.TIMEOUT if timed_out else Outcome.ABORTED_BY_PRINTSCP, "")
        else:
            self._finish(event.assoc, Outcome.ABORTED, "")

    def on_conn_close(self, event: Event) -> None:
        assoc = event.assoc
        recording = _recordings.get(assoc)
        if recording is None:
            return
        # our A-ABORT first: after sending it the DUL waits in Sta13, as after a release
        if recording.abort == "printscp":
            self._finish(assoc, Outcome.ABORTED_BY_PRINTSCP, "")
        elif compat.release_completed(assoc):
            self._finish(assoc, Outcome.RELEASED, "")
        elif recording.abort == "peer" or compat.peer_aborted(assoc):
            self._finish(assoc, Outcome.ABORTED, "")
        else:
            self._finish(assoc, Outcome.CLOSED, "the TCP connection closed without A-RELEASE or A-ABORT")

    def _finish(self, assoc: Association, outcome: Outcome, detail: str) -> None:
        recording = _recordings.get(assoc)
        if recording is not None:
            self._end(assoc, recording, outcome, detail or recording.abort_detail)

    def _end(self, assoc: Association, recording: _Recording, outcome: Outcome, detail: str) -> None:
        with recording.lock:
            if recording.ended:
                return  # pynetdicom may report one end twice (released, then the connection closed)
            recording.ended = True
            end = End(outcome, now_text(), detail)
            films = association_log.films_printed(association_log.association_id(assoc))
            recording.writer.submit(lambda: self._close(recording, end, films))

    def _close(self, recording: _Recording, end: End, films: int) -> None:
        """The writer's last work for a transcript: its end, its findings, its index row."""
        recording.write(end)
        try:
            transcript = Transcript(recording.association, tuple(recording.messages), tuple(recording.faults), end)
            found = findings.check(transcript, recording.printer.profile) if recording.printer is not None else ()
            recording.write(found)
            recording.file.close()
            self.store.add(recording.path, replace(transcript, findings=found), films=films)
        except DatabaseUnavailable as exc:  # the file is complete; its index row is added at the next start
            log.error("the transcript %s could not be indexed: %s", recording.path, exc)
        except Exception:  # a bug here must not touch the association's films
            log.exception("the transcript %s could not be completed", recording.path)
            recording.file.close()


def _guarded(handler: Callable[[Event], None]) -> Callable[[Event], None]:
    """`handler`, logging what it raises: pynetdicom calls no further handler of an event once one raises,
    and a transcript must never cost the association (or the handlers bound after it) anything."""

    @functools.wraps(handler)
    def guarded(event: Event) -> None:
        try:
            handler(event)
        except Exception:
            log.exception("the transcript recorder failed in %s", handler.__name__)

    return guarded


def _association_record(
    assoc: Association,
    association_id: str,
    started: datetime,
    printer: PrinterConfig | None,
    rejection: str | None,
) -> AssociationRecord:
    requestor, acceptor = assoc.requestor, assoc.acceptor
    results = {int(cx.context_id or 0): cx for cx in [*assoc.accepted_contexts, *assoc.rejected_contexts]}
    contexts = []
    for proposed in requestor.requested_contexts:
        context_id = int(proposed.context_id or 0)
        answered = results.get(context_id)
        result = None if answered is None else answered.result
        accepted = result == 0 and answered is not None
        contexts.append(
            PresentationContext(
                context_id=context_id,
                abstract_syntax=str(proposed.abstract_syntax),
                name=association_log.syntax_name(str(proposed.abstract_syntax)),
                transfer_syntaxes=tuple(str(ts) for ts in proposed.transfer_syntax),
                result=_CONTEXT_RESULTS.get(result, "not answered") if result is not None else "not answered",
                transfer_syntax=str(answered.transfer_syntax[0]) if accepted and answered is not None else None,
            )
        )
    host, port = requestor.address, requestor.port
    return AssociationRecord(
        id=association_id,
        peer=f"{host}:{port}",
        calling_ae_title=str(requestor.ae_title).strip(),
        called_ae_title=(compat.called_ae_title(assoc) or "").strip(),
        printer=printer.ae_title if printer is not None else "",
        started=started.isoformat(timespec="milliseconds"),
        implementation_class_uid=str(requestor.implementation_class_uid or ""),
        implementation_version_name=str(requestor.implementation_version_name or ""),
        max_pdu_proposed=int(requestor.maximum_length or 0),
        max_pdu_accepted=int(acceptor.maximum_length or 0),
        contexts=tuple(contexts),
        rejection=rejection,
    )


def _keep_data_set(recording: _Recording, index: int, message: Captured, syntax: UID | None) -> str | None:
    """transcripts.keep_pixels: the data set as received, as a DICOM file (PS3.10) in the transcript's data
    folder; its name, relative to that folder."""
    if message.data_set is None:
        return None
    data = message.data_set.getvalue()
    folder = TranscriptStore.data_folder(recording.path)
    name = f"{index:04d}-{command_name(message)}.dcm"
    command = message.command_set
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(str(command.get("AffectedSOPClassUID") or command.get("RequestedSOPClassUID")))
    instance = command.get("AffectedSOPInstanceUID") or command.get("RequestedSOPInstanceUID")
    meta.MediaStorageSOPInstanceUID = UID(str(instance)) if instance else generate_uid()  # N-CREATE: the SCP's UID
    meta.TransferSyntaxUID = syntax or ImplicitVRLittleEndian
    try:
        folder.mkdir(exist_ok=True)
        with (folder / name).open("wb") as file:
            file.write(b"\0" * 128 + b"DICM")
            write_file_meta_info(DicomFileLike(file), meta, enforce_standard=True)
            file.write(data)
    except OSError as exc:
        log.warning("cannot keep the data set %s: %s", folder / name, exc.strerror or exc)
        return None
    return name
