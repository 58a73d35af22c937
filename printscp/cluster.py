"""Cluster mode ([cluster] enabled): this node's print queue is one part of a queue shared with other nodes.

Several `printscp serve` nodes share one PostgreSQL database and one archive folder (shared storage). What a
node wipes or locks at start is its own, under `<archive>/.nodes/<node id>/`: the lock, the spool, the
archive's incoming/ and trash/, the relays (`NodePaths`). The films are shared: each is written under
the node's incoming/ and renamed into its day folder in one step, so a reader never sees half a job.

`ClusterPrintQueue` is the print queue of jobs.py with its waiting line in a `JobQueue` (job_queue.py;
PostgreSQL, db/pg_jobs.py) instead of memory:

- N-ACTION spools the job in the node's spool (durable, as always), then adds its row: the row is committed
  before the N-ACTION is answered. The job's PENDING event is sent at once, as without a cluster.
- The dispatcher takes the best job any node spooled (priority; a Film Session's jobs in order; only printers
  this node has; none of a printer in FAILURE under on_printer_failure = WAIT), leased to this node; it reads
  the job from the spooling node's folder (shared storage), renders it and removes that folder. The leases of
  the jobs it holds are renewed at each heartbeat (`renew_leases`); when a node dies, its leases run out and
  any node takes its jobs. A job whose archive folder exists already is not printed again (jobs.py
  `_hand_to_worker`; archive/store.py `write_job` keeps the first copy): exactly once in the archive.
- Each change of a job's status goes into its row, whichever node renders it. The node holding the job's
  association LISTENs to the changes (PostgreSQL LISTEN/NOTIFY: events within milliseconds, and no query
  per job per second as polling would need) and sends them as N-EVENT-REPORTs in the order of the row's
  version; after a (re)connection it reads the rows of the jobs it follows again, so a lost notification
  delays an event, never loses the last state. Print Job N-GET reads the row.
- Draining (`printscp node drain`) stops the dispatcher taking jobs; what it holds is finished.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from printscp.archive.lock import NODE_LOCK_FILE, held
from printscp.archive.store import FilmArchive, StoredJob, find_job
from printscp.config import Config, node_folder, node_id
from printscp.db import MISSING_DRIVER, DatabaseUnavailable, SchemaError
from printscp.errors import PrintError
from printscp.job_queue import JobChange, JobQueue, QueuedJob
from printscp.jobs import PrintJob, PrintQueue
from printscp.model.enums import ExecutionStatus, PrinterStatus
from printscp.model.printer import Printer
from printscp.net.forward import Forwarder
from printscp.relay.queue import RelayQueue
from printscp.spool import Spool, SpooledJob
from printscp.status import Status

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between looks for work in the shared queue while this node has a free render slot


@dataclass(frozen=True)
class NodePaths:
    """What one node owns in a shared archive folder."""

    node_id: str
    root: Path  # <archive>/.nodes/<node id>

    @classmethod
    def of(cls, config: Config) -> NodePaths:
        return cls(node_id(config), node_folder(config))

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def relay(self) -> Path:
        return self.root / "relay"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"  # net/forward.py outbox_of

    lock = NODE_LOCK_FILE  # the lock file's name in root


class ClusterPrintQueue(PrintQueue):
    def __init__(
        self,
        config: Config,
        printers: Mapping[str, Printer],
        store: JobQueue,
        paths: NodePaths,
        archive: FilmArchive,
        on_stored: Callable[[StoredJob], None] | None = None,
        pool: Executor | None = None,
        relays: RelayQueue | None = None,
    ) -> None:
        self._store, self._paths = store, paths
        self._lease = config.cluster.lease_seconds
        self._draining = False
        self._unreadable = False  # the last look into the shared queue failed (the database is away)
        self._poll_at = 0.0  # time.monotonic() of the next look into the shared queue
        self._versions: dict[str, int] = {}  # job uid -> version of the last change reported to its association
        self._relayed: dict[str, PrintJob] = {}  # jobs archived here whose status follows their relays
        store.release(paths.node_id)  # what this node held before a restart: anyone may take it now
        super().__init__(config, printers, archive, on_stored, pool, relays)
        store.watch(self._job_changed, self._resync)
        self.follow_relays()

    def _requeue(self, spooled: SpooledJob) -> None:
        queued = self._store.get(spooled.job_uid)
        if queued is not None and queued.node_id != self._paths.node_id:
            return  # a node that took over this node's relays while it was down prints it, from this spool
        super()._requeue(spooled)

    def _open_spool(self) -> Spool:
        return Spool(self.config.archive.folder, self._paths.spool)

    # --- N-ACTION: spooled, then added to the shared queue ---------------------------------------------------

    def _enqueue(self, spooled: SpooledJob, notify: Callable[..., None] | None) -> PrintJob:
        job = self._print_job(spooled, notify)
        queued = QueuedJob(
            job.sop_instance_uid,
            self._paths.node_id,
            spooled.folder,
            job.printer,
            job.film_session_uid,
            job.print_priority,
            job.creation,
            job.originator,
            job.film_session_label,
            job.films,
            relayed=self.relays is not None and self.relays.relay(job.sop_instance_uid) is not None,
        )
        if notify is not None:  # its association follows it: its events are sent from here
            with self._condition:
                self._jobs[job.sop_instance_uid] = job
                self._versions[job.sop_instance_uid] = 1
                PrintQueue._report(self, job)  # PENDING, before anyone can take it
        try:
            self._store.add(queued)  # committed: the N-ACTION may be answered
        except Exception as exc:  # not acknowledged: the SCU is told, and the spooled copy goes
            with self._condition:
                self._jobs.pop(job.sop_instance_uid, None)
                self._versions.pop(job.sop_instance_uid, None)
            self.spool.remove(job.sop_instance_uid)
            log.error("print job %s could not be queued in the database: %s", job.sop_instance_uid, exc)
            raise PrintError("print queue database unreachable", status=Status.PROCESSING_FAILURE) from None
        seen = dataclasses.replace(job, notify=None)
        for observer in self._observers:
            observer(seen)
        return job

    # --- the dispatcher: jobs from the shared queue ------------------------------------------------------

    def _take(self, now: float) -> PrintJob | None:
        job = super()._take(now)  # one this node took and must try again (storage, a worker died)
        if job is not None or self._draining or len(self._running) >= self._slots or now < self._poll_at:
            return job
        if now < self._storage_retry_at:
            return None
        printers = [
            ae
            for ae, printer in self.printers.items()
            if printer.state.printer_status is not PrinterStatus.FAILURE
            or self.config.queue.on_printer_failure == "FAIL"
        ]
        try:
            queued = self._store.take(self._paths.node_id, printers, self._lease)
        except DatabaseUnavailable as exc:  # try again later, the jobs wait in their spools
            if not self._unreadable:  # one line per outage
                log.warning("the shared print queue cannot be read (%s); trying again", exc)
            self._unreadable = True
            queued = None
        else:
            if self._unreadable:
                log.warning("the shared print queue can be read again")
            self._unreadable = False
        if queued is None:
            self._poll_at = now + POLL
            return None
        if queued.node_id != self._paths.node_id:
            log.info("print job %s of node %s is printed here", queued.job_uid, queued.node_id)
        return _print_job(queued)

    def _wait_time(self, now: float) -> float | None:
        wait = super()._wait_time(now)
        if self._draining or len(self._running) >= self._slots:
            return wait
        return min(wait if wait is not None else POLL, max(0.0, self._poll_at - now))

    def _unspool(self, job: PrintJob) -> None:
        if job.folder.parent == self.spool.jobs:
            self.spool.remove(job.sop_instance_uid)
        else:  # spooled by another node
            self.spool.remove_folder(job.folder)

    def _report(self, job: PrintJob) -> None:
        """Events go through the shared queue (`_change` -> `_job_changed` on the association's node)."""

    def _change(self, job: PrintJob, status: ExecutionStatus, info: str, finished: bool = False) -> None:
        super()._change(job, status, info, finished)
        if finished:
            with self._condition:
                self._relayed.pop(job.sop_instance_uid, None)
        try:
            self._store.change(job.sop_instance_uid, status, info, finished)
        except DatabaseUnavailable as exc:  # the lease runs out; the node that takes it finds it archived,
            # indexes it and says DONE
            log.warning("print job %s: its status %s could not be shared: %s", job.sop_instance_uid, status.value, exc)
        except Exception:
            log.exception("print job %s: its status %s could not be shared", job.sop_instance_uid, status.value)

    # --- relays: a relayed job is rendered by the node holding its relays, and follows them ------------------

    def _printed(self, job: PrintJob, stored: StoredJob) -> None:
        if self.relays is not None and self.relays.relay(job.sop_instance_uid) is not None:
            with self._condition:  # before the relay is told: none of its changes is missed
                self._relayed[job.sop_instance_uid] = job
        super()._printed(job, stored)

    def _relay_job(self, job_uid: str) -> PrintJob | None:
        with self._condition:
            return self._relayed.get(job_uid)

    def follow_relays(self) -> None:
        """The relays this node holds (after a restart, or taken over from a node that died) of jobs not
        finished: their rows are this node's (it renders them); for those already archived, their Print Job
        follows the relay from here."""
        if self.relays is None:
            return
        waiting = [relay for relay in self.relays.relays() if not relay.finished]
        self._store.adopt([relay.job_uid for relay in waiting], self._paths.node_id)
        for relay in waiting:
            queued = self._store.get(relay.job_uid)
            if not relay.stored or queued is None or queued.finished:
                continue
            job = _print_job(queued)
            job.stored = find_job(self.config.archive.folder, job.sop_instance_uid, job.creation)
            if job.stored is None:  # removed from the archive since
                continue
            with self._condition:
                if job.sop_instance_uid in self._relayed:
                    continue
                self._relayed[job.sop_instance_uid] = job
            self._follow_relay(job, relay)

    def renew_leases(self) -> int:
        """Extend the leases of the jobs this node holds (at each heartbeat); how many it holds."""
        with self._condition:
            held = [*self._running, *(job.sop_instance_uid for job in self._waiting)]
        self._store.renew(self._paths.node_id, held, self._lease)
        return len(held)

    # --- events for this node's associations, whichever node renders ---------------------------------------

    def _job_changed(self, change: JobChange) -> None:
        if change.node_id != self._paths.node_id:
            return
        with self._condition:
            job = self._jobs.get(change.job_uid)
            if job is None or change.version <= self._versions.get(change.job_uid, 0):
                return
            self._versions[change.job_uid] = change.version
            job.execution_status, job.execution_status_info = change.execution_status, change.execution_status_info
            PrintQueue._report(self, job)
            if change.finished:
                job.finished_at = time.monotonic()
                job.notify = None
                self._versions.pop(change.job_uid, None)

    def _resync(self) -> None:
        """After (re)connecting: the rows of the jobs whose events this node sends, read again."""
        with self._condition:
            followed = [uid for uid, job in self._jobs.items() if job.notify is not None]
        for uid in followed:
            queued = self._store.get(uid)
            if queued is not None:
                self._job_changed(
                    JobChange(
                        uid,
                        queued.node_id,
                        queued.execution_status,
                        queued.execution_status_info,
                        queued.version,
                        queued.finished,
                    )
                )

    def job(self, sop_instance_uid: str) -> PrintJob | None:
        """Print Job N-GET: the shared row, whichever node renders it."""
        try:
            queued = self._store.get(sop_instance_uid)
        except DatabaseUnavailable as exc:  # what this node knows of it
            log.warning("print job %s cannot be read from the shared queue: %s", sop_instance_uid, exc)
            return super().job(sop_instance_uid)
        if queued is None:
            return None
        return _print_job(queued)

    # --- life --------------------------------------------------------------------------------------------

    def drain(self) -> None:
        """Take no more jobs from the shared queue; those held are finished."""
        with self._condition:
            self._draining = True
            self._condition.notify_all()

    @property
    def busy(self) -> int:
        """Jobs this node holds (rendering, or to try again)."""
        with self._condition:
            return len(self._running) + len(self._waiting) + len(self._done) + self._arriving

    def stop(self) -> None:
        super().stop()
        try:
            self._store.release(self._paths.node_id)  # what was not rendered: other nodes take it now
        except Exception:
            log.exception("the leases of this node could not be released; they run out in %g s", self._lease)


def adopt_orphans(
    store: JobQueue,
    paths: NodePaths,
    lease_seconds: float,
    queue: ClusterPrintQueue,
    forwarder: Forwarder | None,
) -> None:
    """Take over what nodes that died or stopped left in their folders: their relays and forwarding outbox.

    Jobs need no taking over (their leases run out, and any node prints them from the dead node's spool);
    relays and the outbox are files only the node owning them works on. A node is an orphan once it stopped,
    or its heartbeat is older than a lease; its folder is then taken over holding its lock (flock), so a
    node that is alive after all (its database connection lost, say) keeps it, two nodes never take one
    folder at once, and a node starting again waits (ArchiveLock.acquire) until the move is over. Each
    relay folder and outbox file is renamed into ours (one step on the shared folder); the relayed jobs not
    yet printed become this node's, which renders them (`follow_relays`)."""
    for node in store.nodes():
        if node.node_id == paths.node_id or (node.stopped_at is None and node.heartbeat_age <= lease_seconds):
            continue
        orphan = NodePaths(node.node_id, paths.root.parent / node.node_id)
        if not _has_work(orphan):
            continue
        with held(orphan.root, NodePaths.lock) as ours:
            if not ours:
                continue
            relays = queue.relays.adopt(orphan.relay) if queue.relays is not None else []
            files = forwarder.adopt(orphan.outbox) if forwarder is not None else 0
        if relays:
            queue.follow_relays()
        if relays or files:
            log.warning(
                "node %s is %s: its %d relay(s) and %d film(s) to forward are taken over by this node",
                node.node_id,
                "stopped" if node.stopped_at is not None else f"silent for {node.heartbeat_age:.0f} s",
                len(relays),
                files,
            )


def _has_work(node: NodePaths) -> bool:
    """Whether anything is left in the node's relay folder or outbox."""
    return any(node.relay.glob("*")) or any(node.outbox.glob("*/*"))


def open_job_queue(url: str) -> JobQueue:
    """The shared print queue in the PostgreSQL database at `url`; SchemaError when it cannot be used."""
    try:  # psycopg (an optional dependency) only when a database is named
        from printscp.db.pg_jobs import PostgresJobQueue
    except ImportError:
        raise SchemaError(MISSING_DRIVER) from None
    return PostgresJobQueue(url)


def _print_job(queued: QueuedJob) -> PrintJob:
    """The Print Job a shared queue row describes: for N-GET, and for the dispatcher to print it."""
    return PrintJob(
        queued.job_uid,
        queued.print_priority,
        queued.creation,
        queued.originator,
        queued.printer,
        queued.film_session_label,
        queued.films,
        execution_status=queued.execution_status,
        execution_status_info=queued.execution_status_info,
        sequence=queued.sequence,
        film_session_uid=queued.film_session_uid,
        folder=queued.spool_folder,
    )
