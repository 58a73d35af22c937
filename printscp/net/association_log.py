"""The association log: one line when an association is accepted, rejected, released, aborted or closed, and
its id on every line logged while serving it.

Each connection gets a short id when it opens (EVT_CONN_OPEN), before the A-ASSOCIATE-RQ; the engine records
the same id with each film the association prints. The handlers here are bound in net/server.py's handler
list and keep, per association, its peer, AE titles, start time, requests received and films printed.

`AssociationFilter` (on the log handler: cli.py installs it) puts the id on each record as `association_id`,
found from the thread that logs: pynetdicom runs each association's reactor (and so our handlers and the
engine) in one thread and its DUL in another, and both lead back to the association. `bound` marks other
threads working for one association.

`NetworkNoiseFilter` (on pynetdicom's transport loggers) turns pynetdicom's ERROR lines into DEBUG where they
are normal: a peer that closes TCP, even with a reset, right after the A-RELEASE-RP; and the connection errors
of a client AE that logs its own failures (the forwarder: `expect_failures`). `Repeats` rate-limits a failure
that repeats (one line, then a count per minute). `JsonFormatter` writes one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.events import Event

from printscp import uids
from printscp.net import compat

log = logging.getLogger(__name__)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # lower-case Crockford base 32: no i, l, o or u to misread
ID_LENGTH = 10  # 50 random bits: a million associations share an id with odds of about 1 in 2,000


def new_id() -> str:
    """A short, readable, random association id, e.g. '7kq2m9xc4d'."""
    bits = secrets.randbits(5 * ID_LENGTH)
    return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(ID_LENGTH))


@dataclass(eq=False)
class _Entry:
    id: str
    peer: str
    opened: float
    state: str = "open"  # open -> accepted | rejected -> released | aborted | closed
    calling: str = ""
    called: str = ""
    messages: int = 0
    films: int = 0
    peer_aborted: bool = False  # an A-ABORT (or A-P-ABORT) from the peer was taken off the DUL's queue


_lock = threading.Lock()
_entries: weakref.WeakKeyDictionary[Association, _Entry] = weakref.WeakKeyDictionary()
_by_id: weakref.WeakValueDictionary[str, _Entry] = weakref.WeakValueDictionary()
_expected: weakref.WeakSet[AE] = weakref.WeakSet()
_local = threading.local()


def _entry(assoc: Association, peer: str = "") -> _Entry:
    with _lock:
        entry = _entries.get(assoc)
        if entry is None:
            entry = _Entry(new_id(), peer, time.monotonic())
            _entries[assoc] = entry
            _by_id[entry.id] = entry
        return entry


def association_id(assoc: Association) -> str:
    """The association's id (made when its connection opened)."""
    return _entry(assoc).id


def current_id() -> str:
    """The id of the association the calling thread serves, or ''."""
    bound_id: str | None = getattr(_local, "association_id", None)
    if bound_id:
        return bound_id
    assoc = compat.thread_association(threading.current_thread())
    if assoc is None:
        return ""
    entry = _entries.get(assoc)
    return entry.id if entry is not None else ""


@contextmanager
def bound(association_id: str) -> Iterator[None]:
    """Log the calling thread's lines under `association_id` while in this block."""
    previous = getattr(_local, "association_id", None)
    _local.association_id = association_id
    try:
        yield
    finally:
        _local.association_id = previous


def printed(association_id: str, films: int) -> None:
    """An association's print request was queued: count its films for its closing line."""
    entry = _by_id.get(association_id)
    if entry is not None:
        with _lock:
            entry.films += films


def films_printed(association_id: str) -> int:
    """How many films an association has queued so far (0 for an id no longer known)."""
    entry = _by_id.get(association_id)
    return entry.films if entry is not None else 0


def expect_failures(ae: AE) -> None:
    """`ae`'s caller logs its own connection failures: pynetdicom's transport errors for it go to DEBUG."""
    _expected.add(ae)


# --- the lines ------------------------------------------------------------------------------------------------

# PS3.8 Table 9-21: A-ASSOCIATE-RJ result, source and reason/diagnostic
_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
_SOURCES = {1: "service-user", 2: "service-provider (ACSE)", 3: "service-provider (presentation)"}
_REASONS = {
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-AE-title-not-recognized",
    (1, 7): "called-AE-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}


def rejection_in_words(result: int, source: int, reason: int) -> str:
    """'rejected-permanent, service-user: calling-AE-title-not-recognized' (PS3.8 9.3.4)."""
    return (
        f"{_RESULTS.get(result, f'result {result}')}, {_SOURCES.get(source, f'source {source}')}: "
        f"{_REASONS.get((source, reason), f'reason {reason}')}"
    )


def why_not_associated(assoc: Association) -> str:
    """Why an association request did not end in an association, in a few words."""
    if assoc.is_rejected:
        rejection = compat.rejection(assoc)
        return "association rejected" if rejection is None else rejection_in_words(*rejection)
    if assoc.is_aborted:
        return "association aborted"
    return "cannot connect"


def syntax_name(uid: str) -> str:
    name = uids.name(uid)
    return name if name != uid else (UID(uid).name or uid)


def _titles(entry: _Entry, assoc: Association) -> None:
    entry.calling = str(assoc.requestor.ae_title).strip()
    entry.called = compat.called_ae_title(assoc) or ""


def _who(entry: _Entry) -> str:
    return f"{entry.peer}, {entry.calling or '?'} -> {entry.called or '?'}"


def _extra(entry: _Entry) -> dict[str, Any]:
    return {"association_id": entry.id}


def on_conn_open(event: Event) -> None:
    address: tuple[str, int] = getattr(event, "address", ("?", 0))  # EVT_CONN_OPEN's (host, port) of the peer
    entry = _entry(event.assoc, f"{address[0]}:{address[1]}")
    log.debug("connection opened from %s", entry.peer, extra=_extra(entry))


def on_accepted(event: Event) -> None:
    assoc = event.assoc
    entry = _entry(assoc)
    _titles(entry, assoc)
    entry.state = "accepted"
    # an abstract syntax proposed in several presentation contexts is named once
    names = list(dict.fromkeys(syntax_name(str(cx.abstract_syntax)) for cx in assoc.accepted_contexts))
    proposed = len(assoc.accepted_contexts) + len(assoc.rejected_contexts)
    log.info(
        "association accepted: %s, %d of %d contexts: %s",
        _who(entry),
        len(assoc.accepted_contexts),
        proposed,
        ", ".join(names) or "none",
        extra=_extra(entry),
    )


def on_rejected(event: Event) -> None:
    assoc = event.assoc
    entry = _entry(assoc)
    _titles(entry, assoc)
    entry.state = "rejected"
    rejection = compat.rejection(assoc)
    reason = rejection_in_words(*rejection) if rejection is not None else "no reason recorded"
    log.warning("association rejected: %s: %s", _who(entry), reason, extra=_extra(entry))


def on_dimse_recv(event: Event) -> None:
    if "MessageIDBeingRespondedTo" not in event.message.command_set:  # a request, not a response
        entry = _entries.get(event.assoc)
        if entry is not None:
            entry.messages += 1


def _ended(event: Event, how: str) -> None:
    entry = _entry(event.assoc)
    with _lock:
        if entry.state not in ("open", "accepted"):
            return  # logged already (pynetdicom may report one abort twice)
        before, entry.state = entry.state, how
    duration = time.monotonic() - entry.opened
    if before == "open":
        log.info(
            "connection from %s closed after %.1f s without an association", entry.peer, duration, extra=_extra(entry)
        )
        return
    log.info(
        "association %s: %s, %.2f s, %d message(s), %d film(s)",
        how,
        _who(entry),
        duration,
        entry.messages,
        entry.films,
        extra=_extra(entry),
    )


def on_released(event: Event) -> None:
    _ended(event, "released")


def on_aborted(event: Event) -> None:
    _ended(event, "aborted")


def on_acse_recv(event: Event) -> None:
    """The reactor took an ACSE primitive off the DUL's queue: note a peer's abort (see on_conn_close)."""
    entry = _entries.get(event.assoc)
    if entry is not None and compat.abort_in_words(getattr(event, "primitive", None)) is not None:
        entry.peer_aborted = True


def on_conn_close(event: Event) -> None:
    # The DUL may report the closed connection before the reactor reports the release (the peer closes as
    # soon as it has the A-RELEASE-RP) or an A-ABORT that came with it. That A-ABORT is either still queued
    # (peer_aborted) or already taken by the reactor, which has not reported it yet (entry.peer_aborted):
    # looking at the queue alone logged "closed" in that window, and the abort's own line never came.
    assoc = event.assoc
    entry = _entries.get(assoc)
    if compat.release_completed(assoc):
        _ended(event, "released")
    elif (entry is not None and entry.peer_aborted) or compat.peer_aborted(assoc):
        _ended(event, "aborted")
    else:
        _ended(event, "closed")


# --- logging filters and formatter (cli.py installs them) ------------------------------------------------------


class AssociationFilter(logging.Filter):
    """Puts `association_id` (and `association_tag`, ' [id]' or '') on every record that passes a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        association: str = getattr(record, "association_id", "") or current_id()
        record.association_id = association
        record.association_tag = f" [{association}]" if association else ""
        return True


class NetworkNoiseFilter(logging.Filter):
    """On pynetdicom's transport loggers: their warnings and errors become DEBUG where they are normal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        assoc = compat.thread_association(threading.current_thread())
        if assoc is None or not (assoc.ae in _expected or compat.release_completed(assoc)):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_noise_filter = NetworkNoiseFilter()


def filter_network_noise(on: bool = True) -> None:
    """Install (or remove) the NetworkNoiseFilter on pynetdicom's transport loggers."""
    compat.filter_network_logs(_noise_filter, on)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, association id if any, exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        association = getattr(record, "association_id", "")
        if association:
            data["association"] = association
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(association_tag)s: %(message)s"


# --- repeated failures ------------------------------------------------------------------------------------------


class Repeats:
    """Rate-limits a failure that repeats: the first of a minute is logged, with how many were not since."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self._clock = interval, clock
        self._seen: dict[Hashable, tuple[float, int]] = {}
        self._mutex = threading.Lock()

    def admit(self, key: Hashable) -> int | None:
        """None when this repeat of `key` is not to be logged (it is counted); otherwise how many repeats
        were not logged since the last line for `key`."""
        with self._mutex:
            now = self._clock()
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.interval:
                self._seen[key] = (seen[0], seen[1] + 1)
                return None
            self._seen[key] = (now, 0)
            return seen[1] if seen is not None else 0

    def forget(self, key: Hashable) -> int:
        """The failure is over: returns how many repeats were not logged."""
        with self._mutex:
            seen = self._seen.pop(key, None)
        return seen[1] if seen is not None else 0
