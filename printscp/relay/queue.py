"""The relay queue: every film a printer prints goes to its relay_to targets, durably, each exactly once.

When an N-ACTION's job is spooled, `add` hard-links its spool folder (job.json and the original pixels)
into `<archive>/.relay/<job uid>/` and writes `relay.json` beside them: one entry per target, PENDING. Only
then is the N-ACTION answered, so a kill -9 at any moment loses no relay; the files outlive the spool's copy
(a hard link), and a start re-reads every relay.json. One thread per target sends its relays oldest first:

    PENDING  -> PRINTING -> DONE                     the target printed every film
                         -> PENDING (next_attempt)   down, or a failure status: tried again, waiting
                                                     retry_seconds, doubling up to MAX_BACKOFF_FACTOR times it
                         -> FAILED                   still failing give_up_after seconds after the first try
                                                     (or at once under acknowledge = after_relay: the SCU was
                                                     told, and sends again itself); `printscp relay retry`
                                                     makes it PENDING again

A DICOM target (relay/dicom.py) gets the original pixels at once; a paper target (relay/paper.py) gets the
film's PDF, so it waits until the job is in the archive (`stored`). Each entry keeps the films printed so far
(`films_printed`), written before the next attempt: a retry sends only the rest, and a target never gets a
film twice, except the one film being printed when printscp was killed (at least once, never lost). relay.json
is rewritten whole (temporary file, fsync, rename). When every target is DONE the pixels are deleted and
relay.json stays, for `films show`; a start deletes the finished relays whose films have left the archive.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from printscp.archive.store import find_job
from printscp.config import Config, relay_targets
from printscp.net import association_log
from printscp.relay import Delivery
from printscp.spool import JOB_FILE, SpooledJob, fsync_dir, load_spooled

log = logging.getLogger(__name__)

RELAY_FILE = "relay.json"
MAX_BACKOFF_FACTOR = 4  # the wait between attempts doubles from retry_seconds up to this many times it

PENDING, PRINTING, DONE, FAILED = "PENDING", "PRINTING", "DONE", "FAILED"


@dataclass(frozen=True)
class TargetRelay:
    """One target's share of a relay, as relay.json keeps it."""

    state: str = PENDING  # PENDING, PRINTING, DONE or FAILED
    attempts: int = 0
    films_printed: tuple[int, ...] = ()  # indices into the request's films, printed on the target
    last_status: int | None = None  # the target's status of the last failed attempt (None: no answer)
    last_error: str = ""  # its Error Comment, naming the target
    mapped: tuple[str, ...] = ()  # what was changed to suit the target
    first_attempt: float | None = None  # time.time() of the first attempt
    next_attempt: float = 0.0  # time.time() before which it is not tried again
    printed_at: str = ""  # ISO time the target printed the last film
    printer_status_info: str = ""  # what the target last said of itself (Printer Status Info), "" if nothing

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED)


@dataclass(frozen=True)
class Relay:
    """A job's relay to its targets (relay.json)."""

    job_uid: str
    printer: str  # AE title of the printer that relays it
    calling_ae_title: str
    requested_at: str  # ISO, of the request
    films: int
    copies: int
    acknowledge: str  # the [relay] acknowledge it was made under
    created: float  # time.time()
    targets: Mapping[str, TargetRelay] = field(default_factory=dict)
    stored: bool = False  # its films are in the archive (paper targets may go)

    @property
    def finished(self) -> bool:
        return all(t.finished for t in self.targets.values())

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["targets"] = {name: asdict(t) for name, t in self.targets.items()}
        return document

    @staticmethod
    def from_json(document: dict[str, Any]) -> Relay:
        targets = {
            name: TargetRelay(
                **{**entry, "films_printed": tuple(entry["films_printed"]), "mapped": tuple(entry["mapped"])}
            )
            for name, entry in document["targets"].items()
        }
        return Relay(**{**document, "targets": targets})


Deliver = Callable[[Relay, str, frozenset[int], Path], Delivery]  # (relay, target, skip, its folder) -> outcome
Observer = Callable[[Relay, str, Delivery | None], None]  # (relay, target changed, the attempt's outcome if one)


class RelayQueue:
    def __init__(
        self,
        config: Config,
        archive_folder: Path,
        client_tls: ssl.SSLContext | None = None,
        deliver: Deliver | None = None,
        root: Path | None = None,
    ) -> None:
        """`deliver` prints one relay on one target (the default: relay/dicom.py or relay/paper.py by the
        target's kind); `root`: the relays' folder (default `<archive>/.relay`; a cluster node's own)."""
        self.config = config
        self.root = root if root is not None else archive_folder / ".relay"
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_folder = archive_folder
        self.client_tls = client_tls
        self._deliver = deliver or self._deliver_to_target
        self._observers: list[Observer] = []
        self._lock = threading.Condition()
        self._relays: dict[str, Relay] = {}
        self._stopping = False
        self._down_until: dict[str, float] = {}  # target -> time.time() before which it is not called again
        self._repeats = association_log.Repeats()  # a target that is down: one line a minute
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith("."):  # a relay being written when the last process ended: not answered
                shutil.rmtree(folder, ignore_errors=True)
                continue
            try:
                relay = _read(folder)
            except (OSError, ValueError, KeyError, TypeError):
                log.exception("relay %s cannot be read; left in %s", folder.name, folder)
                continue
            if relay.finished and relay.stored and _gone(archive_folder, relay):
                shutil.rmtree(folder, ignore_errors=True)  # the film left the archive: its relay's record goes too
                continue
            self._relays[relay.job_uid] = _restarted(relay)
        targets = set(config.nodes) | set(config.paper)
        self._threads = {
            name: threading.Thread(target=self._run, args=(name,), name=f"relay-{name}", daemon=True)
            for name in sorted(targets)
        }
        for thread in self._threads.values():
            thread.start()

    # --- called by the print queue ----------------------------------------------------------------------

    def targets_of(self, printer: str, calling_ae_title: str) -> tuple[str, ...]:
        return relay_targets(self.config, printer, calling_ae_title)

    def add(self, spooled: SpooledJob) -> Relay | None:
        """Queue a spooled job for its printer's targets; durable when this returns. None: no targets.
        Adding a job already queued does nothing (a restart re-adds what the spool still holds)."""
        job_uid, spool_folder, request = spooled.job_uid, spooled.folder, spooled.request
        printer, calling_ae_title = request.printer_ae_title, request.calling_ae_title
        targets = self.targets_of(printer, calling_ae_title)
        if not targets:
            return None
        with self._lock:
            if job_uid in self._relays:
                return self._relays[job_uid]
        folder = self.root / job_uid
        staging = self.root / f".{job_uid}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for path in spool_folder.iterdir():
            os.link(path, staging / path.name)
        relay = Relay(
            job_uid,
            printer,
            calling_ae_title,
            request.requested_at.isoformat(),
            len(request.films),
            request.number_of_copies,
            self.config.relay.acknowledge,
            time.time(),
            {name: TargetRelay() for name in targets},
        )
        _write(staging, relay)
        fsync_dir(staging)
        os.rename(staging, folder)
        fsync_dir(self.root)
        with self._lock:
            self._relays[job_uid] = relay
            self._lock.notify_all()
        log.info("print job %s is relayed to %s", job_uid, ", ".join(targets))
        return relay

    def adopt(self, root: Path) -> list[str]:
        """Take over the relays kept in `root` (the relay folder of a cluster node that died or stopped; the
        caller holds that node's lock): each folder is renamed into ours and queued as a restart queues its
        own. The UIDs of the jobs adopted, finished relays included (kept for `films show`)."""
        adopted = []
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            if folder.name.startswith("."):  # being written when that node died: its N-ACTION was not answered
                shutil.rmtree(folder, ignore_errors=True)
                continue
            try:
                relay = _restarted(_read(folder))
            except (OSError, ValueError, KeyError, TypeError):
                log.exception("relay %s cannot be read; left in %s", folder.name, folder)
                continue
            with self._lock:
                if relay.job_uid in self._relays:  # cannot be: a job has one spooling node
                    continue
                os.rename(folder, self.root / folder.name)  # one step, on the shared folder
                self._relays[relay.job_uid] = relay
                self._lock.notify_all()
            adopted.append(relay.job_uid)
        fsync_dir(self.root)
        return adopted

    def stored(self, job_uid: str) -> Relay:
        """The job's films are in the archive: its paper targets may print them."""
        return self._update(job_uid, lambda relay: replace(relay, stored=True), None)

    def not_rendered(self, job_uid: str) -> None:
        """The job could not be rendered: its paper targets, which print the rendered PDF, fail."""

        def fail_paper(relay: Relay) -> Relay:
            for name, target in relay.targets.items():
                if name in self.config.paper and not target.finished:
                    relay = _with(relay, name, state=FAILED, last_error=f"{name}: the film could not be rendered")
            return relay

        relay = self.relay(job_uid)
        if relay is not None:
            self._update(job_uid, fail_paper, next(iter(relay.targets)))

    def wait(self, job_uid: str, timeout: float) -> Relay | None:
        """Wait (after_relay) until every target of the relay printed it or failed it, at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.wait_for(
                lambda: all(t.finished for t in self._targets(job_uid)), timeout=max(0.0, deadline - time.monotonic())
            )
            return self._relays.get(job_uid)

    def unreachable(self, target: str) -> bool:
        """Whether the target could not be reached at its last attempt (its relays wait for the retry)."""
        with self._lock:
            return target in self._down_until

    def relay(self, job_uid: str) -> Relay | None:
        with self._lock:
            return self._relays.get(job_uid)

    def relays(self) -> list[Relay]:
        with self._lock:
            return sorted(self._relays.values(), key=lambda r: r.created)

    def retry(self, job_uid: str) -> Relay:
        """Send a relay's FAILED targets again (printscp relay retry). KeyError: no such relay; ValueError:
        none of its targets failed, or its pixels are gone."""
        relay = self.relay(job_uid)
        if relay is None:
            raise KeyError(job_uid)
        again = retried(relay, self.root / job_uid)
        with self._lock:
            for name, target in relay.targets.items():
                if target.state == FAILED:
                    self._down_until.pop(name, None)
        return self._update(job_uid, lambda _: again, next(iter(again.targets)))

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads.values():
            thread.join()

    # --- one thread per target ----------------------------------------------------------------------------

    def _targets(self, job_uid: str) -> list[TargetRelay]:
        relay = self._relays.get(job_uid)
        return list(relay.targets.values()) if relay is not None else []

    def _due(self, target: str) -> tuple[Relay | None, float | None]:
        """The oldest relay the target should print now, or how long until one is due (None: none waits)."""
        now = time.time()
        soonest: float | None = None
        for relay in sorted(self._relays.values(), key=lambda r: r.created):
            entry = relay.targets.get(target)
            if entry is None or entry.state != PENDING:
                continue
            if target in self.config.paper and not relay.stored:
                continue
            at = max(entry.next_attempt, self._down_until.get(target, 0.0))
            if at <= now:
                return relay, None
            soonest = at if soonest is None else min(soonest, at)
        return None, None if soonest is None else soonest - now

    def _run(self, target: str) -> None:
        while True:
            with self._lock:
                while True:
                    if self._stopping:
                        return
                    relay, wait = self._due(target)
                    if relay is not None:
                        break
                    self._lock.wait(wait)
            self._attempt(relay, target)

    def _attempt(self, relay: Relay, target: str) -> None:
        entry = relay.targets[target]
        started = entry.first_attempt or time.time()
        self._update(
            relay.job_uid,
            lambda r: _with(r, target, state=PRINTING, attempts=entry.attempts + 1, first_attempt=started),
            target,
        )
        try:
            delivery = self._deliver(relay, target, frozenset(entry.films_printed), self.root / relay.job_uid)
        except Exception as exc:  # a bug in a relay is this relay's failure, not the thread's end
            log.exception("relaying print job %s to %s", relay.job_uid, target)
            delivery = Delivery(False, error_comment=f"{target}: internal error: {exc}"[:200])
        self._record(relay.job_uid, target, entry, delivery, started)

    def _record(self, job_uid: str, target: str, entry: TargetRelay, delivery: Delivery, started: float) -> None:
        printed = tuple(sorted(set(entry.films_printed) | set(delivery.films_printed)))
        mapped = tuple(dict.fromkeys(entry.mapped + delivery.mapped))
        now = time.time()
        changes: dict[str, Any] = {
            "films_printed": printed,
            "mapped": mapped,
            "last_status": delivery.status,
            "last_error": delivery.error_comment,
            "printer_status_info": delivery.printer_status_info,
        }
        relay = self.relay(job_uid)
        after_relay = relay is not None and relay.acknowledge == "after_relay"
        if delivery.status is not None or delivery.delivered:  # it answered
            with self._lock:
                self._down_until.pop(target, None)
        if delivery.delivered:
            changes.update(state=DONE, printed_at=datetime.now().astimezone().isoformat(timespec="seconds"))
            self._repeats.forget(target)
            log.info(
                "print job %s relayed to %s (attempt %d%s)%s",
                job_uid,
                target,
                entry.attempts + 1,
                f", {delivery.association_id}" if delivery.association_id else "",
                f"; mapped: {'; '.join(delivery.mapped)}" if delivery.mapped else "",
            )
        elif after_relay or now - started >= self.config.relay.give_up_after:
            changes.update(state=FAILED)
            log.error(
                "print job %s: relay to %s failed for good after %d attempt(s): %s",
                job_uid,
                target,
                entry.attempts + 1,
                delivery.error_comment,
            )
        else:
            first = self.config.relay.retry_seconds
            backoff = min(first * MAX_BACKOFF_FACTOR, first * 2 ** min(entry.attempts, 16))
            changes.update(state=PENDING, next_attempt=now + backoff)
            if delivery.status is None:  # not reached: its other relays wait too
                with self._lock:
                    self._down_until[target] = now + backoff
            repeats = self._repeats.admit((target, delivery.error_comment))
            if repeats is not None:
                log.warning(
                    "print job %s: relay to %s failed (%s); next try in %.3g s%s",
                    job_uid,
                    target,
                    delivery.error_comment,
                    backoff,
                    f" ({repeats} more such failures in the last minute)" if repeats else "",
                )
        self._update(job_uid, lambda r: _with(r, target, **changes), target, delivery)
        relay = self.relay(job_uid)
        if relay is not None and all(t.state == DONE for t in relay.targets.values()):
            _drop_pixels(self.root / job_uid)

    def _update(
        self, job_uid: str, change: Callable[[Relay], Relay], target: str | None, delivery: Delivery | None = None
    ) -> Relay:
        with self._lock:
            relay = self._relays.get(job_uid)
            if relay is None:
                raise KeyError(job_uid)
            relay = change(relay)
            _write(self.root / job_uid, relay)
            self._relays[job_uid] = relay
            self._lock.notify_all()
        for observer in self._observers:
            if target is None:
                break
            try:
                observer(relay, target, delivery)
            except Exception:
                log.exception("after relay %s to %s changed", job_uid, target)
        return relay

    def observe(self, observer: Observer) -> None:
        """Call `observer(relay, target, delivery)` after each change of a target's state (`delivery`: the
        outcome of the attempt that changed it, or None); from the relay's thread, so it must not block."""
        self._observers.append(observer)

    # --- the two kinds of target --------------------------------------------------------------------------

    def _deliver_to_target(self, relay: Relay, target: str, skip: frozenset[int], folder: Path) -> Delivery:
        if target in self.config.paper:
            return self._deliver_to_paper(relay, target, skip)
        from printscp.relay.dicom import print_on_node

        request = load_spooled(folder).request
        return print_on_node(
            request,
            relay.printer,
            target,
            self.config.nodes[target],
            skip=skip,
            client_tls=self.client_tls,
            timeout=self.config.network.dimse_timeout,
        )

    def _deliver_to_paper(self, relay: Relay, target: str, skip: frozenset[int]) -> Delivery:
        from printscp.relay.paper import print_on_paper

        stored = find_job(self.archive_folder, relay.job_uid, datetime.fromisoformat(relay.requested_at))
        if stored is None:
            return Delivery(False, status=0, error_comment=f"{target}: the films are no longer in the archive")
        return print_on_paper(
            stored.pdfs, target, self.config.paper[target], f"print job {relay.job_uid}", relay.copies, skip
        )


def retried(relay: Relay, folder: Path) -> Relay:
    """The relay with its FAILED targets PENDING again, to be tried at once. ValueError: none failed, or the
    films' pixels are no longer kept in `folder`."""
    failed = [name for name, t in relay.targets.items() if t.state == FAILED]
    if not failed:
        raise ValueError(f"no target of the relay of print job {relay.job_uid} failed")
    if not (folder / JOB_FILE).exists():
        raise ValueError(f"the films of print job {relay.job_uid} are no longer kept for relaying")
    targets = dict(relay.targets)
    for name in failed:
        targets[name] = replace(targets[name], state=PENDING, next_attempt=0.0, first_attempt=None)
    return replace(relay, acknowledge="on_spool", targets=targets)  # retried by a person: no SCU waits


def relay_roots(archive_folder: Path) -> list[Path]:
    """Where relays are kept: `<archive>/.relay`, and each cluster node's `.nodes/<node id>/relay`."""
    return [archive_folder / ".relay", *sorted((archive_folder / ".nodes").glob("*/relay"))]


def read_relays(archive_folder: Path) -> list[Relay]:
    """Every relay kept in an archive (a cluster's: every node's), oldest first (printscp relay list, films
    show; no server needed)."""
    return [relay for relay, _ in kept_relays(archive_folder)]


def relay_folder(archive_folder: Path, job_uid: str) -> Path | None:
    """The folder keeping the relay of a print job: `<archive>/.relay/<uid>`, or in a cluster the relay
    folder of the node that holds it, `.nodes/<node id>/relay/<uid>`."""
    return next((root / job_uid for root in _roots(archive_folder) if (root / job_uid / RELAY_FILE).is_file()), None)


def _roots(archive_folder: Path) -> list[Path]:
    return [archive_folder / ".relay", *sorted((archive_folder / ".nodes").glob("*/relay"))]


def kept_relays(archive_folder: Path) -> list[tuple[Relay, Path]]:
    """read_relays, each with its folder."""
    found = []
    for root in _roots(archive_folder):
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            if not folder.name.startswith("."):
                try:
                    found.append((_read(folder), folder))
                except (OSError, ValueError, KeyError, TypeError):
                    log.warning("relay %s cannot be read", folder)
    return sorted(found, key=lambda kept: kept[0].created)


def relay_lines(relay: Relay) -> list[str]:
    """One line per target: state, attempts, when printed or why not, and what was mapped."""
    lines = []
    for name, t in relay.targets.items():
        line = f"{name:<16} {t.state:<8} {t.attempts} attempt{'s' if t.attempts != 1 else ''}"
        if t.printed_at:
            line += f", printed {t.printed_at}"
        if t.state != DONE and t.last_error:
            status = "no answer" if t.last_status is None else f"0x{t.last_status:04X}"
            line += f", last: {status} {_printable(t.last_error)}"
        if t.state == PENDING and t.next_attempt:
            line += f", next try {datetime.fromtimestamp(t.next_attempt).astimezone().isoformat(timespec='seconds')}"
        lines.append(line)
        lines += [f"  mapped: {_printable(change)}" for change in t.mapped]
    return lines


def _printable(text: str) -> str:
    """Text a target sent, safe for a terminal: control characters shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def retry_on_disk(archive_folder: Path, job_uid: str) -> Relay:
    """`relay retry` with no server running: relay.json says PENDING, and the next start sends it."""
    folder = relay_folder(archive_folder, job_uid) or archive_folder / ".relay" / job_uid
    relay = retried(_read(folder), folder)
    _write(folder, relay)
    return relay


def _with(relay: Relay, target: str, **changes: Any) -> Relay:
    targets = dict(relay.targets)
    targets[target] = replace(targets[target], **changes)
    return replace(relay, targets=targets)


def _gone(archive_folder: Path, relay: Relay) -> bool:
    """Whether the relay's films have left the archive (retention, or deleted)."""
    return find_job(archive_folder, relay.job_uid, datetime.fromisoformat(relay.requested_at)) is None


def _restarted(relay: Relay) -> Relay:
    """A relay read at start: an attempt cut short by the stop (or a kill) is PENDING again, and what waits is
    tried at once (whoever restarted printscp may have mended the target)."""
    targets = {
        n: replace(t, state=PENDING, next_attempt=0.0) if t.state in (PENDING, PRINTING) else t
        for n, t in relay.targets.items()
    }
    return replace(relay, targets=targets)


def _read(folder: Path) -> Relay:
    with open(folder / RELAY_FILE, encoding="utf-8") as file:
        return Relay.from_json(json.load(file))


def _write(folder: Path, relay: Relay) -> None:
    temporary = folder / f".{RELAY_FILE}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(relay.to_json(), file, ensure_ascii=False, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, folder / RELAY_FILE)


def _drop_pixels(folder: Path) -> None:
    """Every target printed the job: only relay.json stays."""
    for path in folder.iterdir():
        if path.name != RELAY_FILE:
            path.unlink(missing_ok=True)
