"""What a print queue shared by several nodes asks of its store: `JobQueue`, whatever holds it.

In cluster mode ([cluster] enabled) every acknowledged Print Job is a row of the store besides its folder in
the spool: N-ACTION spools the job, then `add`s it (committed before the N-ACTION is answered). Each node's
dispatcher `take`s the best job it may print (priority, then order of acknowledgement; never a job while an
earlier one of its Film Session is unfinished; only printers it has) with a lease that it `renew`s while it
holds the job; a job whose lease ran out (its node died) is taken by any node. Each change of a job's
Execution Status is a `change` of its row, with a version number that orders its events; the node holding the
job's association `watch`es the changes and sends them as N-EVENT-REPORTs. Nodes say they are alive with
`heartbeat`; `drain` asks one to finish and exit.

db/pg_jobs.py is the PostgreSQL implementation (the only module with its SQL); `MemoryJobQueue` below keeps
the same rules in one process, for tests of the rules and for a node alone. Without [cluster] the print
queue (jobs.py) keeps its jobs in memory as it always did and uses no JobQueue.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from printscp.model.enums import ExecutionStatus, PrintPriority

PRIORITY_RANK = {PrintPriority.HIGH: 0, PrintPriority.MED: 1, PrintPriority.LOW: 2}


@dataclass(frozen=True)
class QueuedJob:
    """A Print Job as the shared queue holds it: what the dispatcher and N-GET need, not its films."""

    job_uid: str
    node_id: str  # the node that spooled it
    spool_folder: Path
    printer: str
    film_session_uid: str
    print_priority: PrintPriority
    creation: datetime
    originator: str
    film_session_label: str
    films: int
    execution_status: ExecutionStatus = ExecutionStatus.PENDING
    execution_status_info: str = "QUEUED"
    sequence: int = 0  # given by `add`
    version: int = 1
    lease_owner: str | None = None
    attempts: int = 0
    finished: bool = False
    relayed: bool = False  # it has relay_to targets: only node_id (which holds its relays) renders it


@dataclass(frozen=True)
class JobChange:
    """A job's Execution Status changed (version: its order among the job's changes, from 1 when added)."""

    job_uid: str
    node_id: str  # the node that spooled it
    execution_status: ExecutionStatus
    execution_status_info: str
    version: int
    finished: bool


@dataclass(frozen=True)
class NodeState:
    node_id: str
    host: str
    port: int
    version: str
    started_at: datetime
    last_heartbeat: datetime
    jobs_running: int = 0
    associations: int = 0
    draining: bool = False
    stopped_at: datetime | None = None
    heartbeat_age: float = 0.0  # seconds since last_heartbeat, by the store's clock


class JobQueue(Protocol):
    def add(self, job: QueuedJob) -> int:
        """Enqueue a spooled job (idempotent by job UID), durably; its sequence."""

    def take(self, node_id: str, printers: Sequence[str], lease_seconds: float) -> QueuedJob | None:
        """The best job `node_id` may print now, leased to it; None when there is none. A relayed job is
        only ever taken by its own node_id."""

    def renew(self, node_id: str, job_uids: Iterable[str], lease_seconds: float) -> None:
        """Extend the leases `node_id` holds on these jobs."""

    def release(self, node_id: str, job_uids: Iterable[str] | None = None) -> None:
        """Give up leases (all of the node's unfinished jobs when `job_uids` is None): others take them now."""

    def change(self, job_uid: str, status: ExecutionStatus, info: str, finished: bool) -> JobChange | None:
        """Record a change of Execution Status and tell the watchers; None for an unknown job."""

    def get(self, job_uid: str) -> QueuedJob | None: ...

    def adopt(self, job_uids: Iterable[str], node_id: str) -> int:
        """`node_id` holds the relays of these jobs now (its own after a restart, or taken over from a node
        that died): those unfinished are its own (it renders them); how many changed hands."""

    def prune(self, older_than: float) -> int:
        """Forget the jobs finished more than `older_than` seconds ago; how many."""

    def watch(self, on_change: Callable[[JobChange], None], on_connect: Callable[[], None]) -> None:
        """Call `on_change` with every change, in order, from a thread of the store's own, until `close`;
        `on_connect` after each (re)connection, before the changes that follow (changes may have been missed
        while disconnected: read what you follow again)."""

    def heartbeat(self, node: NodeState) -> bool:
        """Record that the node is alive (and its load); whether it is asked to drain."""

    def nodes(self) -> list[NodeState]: ...

    def drain(self, node_id: str) -> bool:
        """Ask a node to finish and exit; False when there is no such node."""

    def stopped(self, node_id: str) -> None:
        """The node stopped cleanly."""

    def close(self) -> None: ...


class MemoryJobQueue:
    """JobQueue in this process's memory (the same rules as PostgreSQL's, for one process)."""

    def __init__(self) -> None:
        self._jobs: dict[str, QueuedJob] = {}
        self._leases: dict[str, datetime] = {}
        self._finished_at: dict[str, datetime] = {}
        self._nodes: dict[str, NodeState] = {}
        self._watchers: list[Callable[[JobChange], None]] = []
        self._lock = threading.RLock()
        self._sequence = 0

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def add(self, job: QueuedJob) -> int:
        with self._lock:
            if job.job_uid not in self._jobs:
                self._sequence += 1
                self._jobs[job.job_uid] = dataclasses.replace(job, sequence=self._sequence, version=1)
            return self._jobs[job.job_uid].sequence

    def take(self, node_id: str, printers: Sequence[str], lease_seconds: float) -> QueuedJob | None:
        with self._lock:
            now = self._now()
            open_jobs = [j for j in self._jobs.values() if not j.finished]
            first: dict[str, QueuedJob] = {}
            for job in sorted(open_jobs, key=lambda j: j.sequence):
                first.setdefault(job.film_session_uid, job)
            free = [
                j
                for j in first.values()
                if j.printer in printers
                and (j.lease_owner is None or self._leases[j.job_uid] < now)
                and (not j.relayed or j.node_id == node_id)
            ]
            if not free:
                return None
            best: QueuedJob = min(free, key=lambda j: (PRIORITY_RANK[j.print_priority], j.sequence))
            taken = dataclasses.replace(best, lease_owner=node_id, attempts=best.attempts + 1)
            self._jobs[best.job_uid] = taken
            self._leases[best.job_uid] = now + timedelta(seconds=lease_seconds)
            return taken

    def renew(self, node_id: str, job_uids: Iterable[str], lease_seconds: float) -> None:
        with self._lock:
            for uid in job_uids:
                job = self._jobs.get(uid)
                if job is not None and job.lease_owner == node_id and not job.finished:
                    self._leases[uid] = self._now() + timedelta(seconds=lease_seconds)

    def release(self, node_id: str, job_uids: Iterable[str] | None = None) -> None:
        with self._lock:
            uids = set(job_uids) if job_uids is not None else set(self._jobs)
            for uid in uids:
                job = self._jobs.get(uid)
                if job is not None and job.lease_owner == node_id and not job.finished:
                    self._jobs[uid] = dataclasses.replace(job, lease_owner=None)

    def change(self, job_uid: str, status: ExecutionStatus, info: str, finished: bool) -> JobChange | None:
        with self._lock:
            job = self._jobs.get(job_uid)
            if job is None:
                return None
            job = dataclasses.replace(
                job,
                execution_status=status,
                execution_status_info=info,
                version=job.version + 1,
                finished=finished,
                lease_owner=None if finished else job.lease_owner,
            )
            self._jobs[job_uid] = job
            if finished:
                self._finished_at[job_uid] = self._now()
            change = JobChange(job_uid, job.node_id, status, info, job.version, finished)
            for watcher in self._watchers:
                watcher(change)
            return change

    def get(self, job_uid: str) -> QueuedJob | None:
        with self._lock:
            return self._jobs.get(job_uid)

    def adopt(self, job_uids: Iterable[str], node_id: str) -> int:
        with self._lock:
            jobs = [self._jobs[uid] for uid in job_uids if uid in self._jobs]
            moved = [job for job in jobs if job.relayed and not job.finished and job.node_id != node_id]
            for job in moved:
                self._jobs[job.job_uid] = dataclasses.replace(job, node_id=node_id)
            return len(moved)

    def prune(self, older_than: float) -> int:
        with self._lock:
            limit = self._now() - timedelta(seconds=older_than)
            old = [uid for uid, at in self._finished_at.items() if at < limit]
            for uid in old:
                del self._jobs[uid], self._finished_at[uid]
                self._leases.pop(uid, None)
            return len(old)

    def watch(self, on_change: Callable[[JobChange], None], on_connect: Callable[[], None]) -> None:
        with self._lock:
            self._watchers.append(on_change)
        on_connect()

    def heartbeat(self, node: NodeState) -> bool:
        with self._lock:
            old = self._nodes.get(node.node_id)
            draining = old is not None and old.draining and old.started_at == node.started_at
            self._nodes[node.node_id] = dataclasses.replace(node, draining=draining)
            return draining

    def nodes(self) -> list[NodeState]:
        with self._lock:
            now = self._now()
            return [
                dataclasses.replace(n, heartbeat_age=(now - n.last_heartbeat).total_seconds())
                for _, n in sorted(self._nodes.items())
            ]

    def drain(self, node_id: str) -> bool:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None:
                return False
            self._nodes[node_id] = dataclasses.replace(node, draining=True)
            return True

    def stopped(self, node_id: str) -> None:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is not None:
                self._nodes[node_id] = dataclasses.replace(node, stopped_at=self._now())

    def close(self) -> None:
        with self._lock:
            self._watchers.clear()
