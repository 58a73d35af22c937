"""The rules of the shared print queue (job_queue.py), on both implementations: in memory and PostgreSQL
(db/pg_jobs.py, on the tests' real server): priority, a Film Session's jobs in order, only the printers a node
has, leases that run out, versions that order the changes, heartbeats and draining."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from postgres import PostgresServer
from waiting import wait_until

from printscp.job_queue import JobChange, JobQueue, MemoryJobQueue, NodeState, QueuedJob
from printscp.model.enums import ExecutionStatus, PrintPriority


@pytest.fixture(params=["memory", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[JobQueue]:
    if request.param == "memory":
        queue: JobQueue = MemoryJobQueue()
    else:
        from printscp.db.pg_jobs import PostgresJobQueue

        server: PostgresServer = request.getfixturevalue("postgres_server")
        queue = PostgresJobQueue(server.database())
    yield queue
    queue.close()


def job(uid: str, session: str = "", priority: PrintPriority = PrintPriority.MED, printer: str = "P") -> QueuedJob:
    return QueuedJob(
        uid, "n1", Path(f"/spool/{uid}"), printer, session or uid, priority, datetime.now(UTC), "SCU", "", 1
    )


def test_priority_then_order_and_only_the_printers_a_node_has(store: JobQueue) -> None:
    for queued in (job("1.1"), job("1.2", priority=PrintPriority.HIGH), job("1.3", printer="OTHER"), job("1.4")):
        store.add(queued)
    store.add(job("1.1"))  # idempotent
    taken = [store.take("n1", ["P"], 30) for _ in range(4)]
    assert [t.job_uid if t else None for t in taken] == ["1.2", "1.1", "1.4", None]
    assert store.take("n2", ["OTHER"], 30).job_uid == "1.3"  # type: ignore[union-attr]


def test_a_film_sessions_jobs_in_order_and_an_expired_lease_is_taken_again(store: JobQueue) -> None:
    store.add(job("2.1", session="S"))
    store.add(job("2.2", session="S", priority=PrintPriority.HIGH))
    first = store.take("n1", ["P"], 0.2)
    assert first is not None and first.job_uid == "2.1"
    assert store.take("n2", ["P"], 30) is None  # 2.2 waits for 2.1, leased to n1
    wait_until(lambda: (t := store.take("n2", ["P"], 30)) is not None and t.job_uid == "2.1", 10, "lease runs out")
    again = store.get("2.1")
    assert again is not None and (again.lease_owner, again.attempts) == ("n2", 2)
    store.change("2.1", ExecutionStatus.DONE, "NORMAL", finished=True)
    assert store.take("n2", ["P"], 30).job_uid == "2.2"  # type: ignore[union-attr]


def test_changes_are_versioned_and_watched_in_order(store: JobQueue) -> None:
    seen: list[JobChange] = []
    connected = threading.Event()
    store.watch(seen.append, connected.set)
    assert connected.wait(10)
    store.add(job("3.1"))
    store.change("3.1", ExecutionStatus.PRINTING, "NORMAL", finished=False)
    store.change("3.1", ExecutionStatus.DONE, "NORMAL", finished=True)
    wait_until(lambda: [c.version for c in seen if c.job_uid == "3.1"][-1:] == [3], 10, "three changes")
    mine = [(c.version, c.execution_status.value) for c in seen if c.job_uid == "3.1"]
    assert mine[-2:] == [(2, "PRINTING"), (3, "DONE")]
    done = store.get("3.1")
    assert done is not None and done.finished and done.lease_owner is None


def test_heartbeat_and_drain(store: JobQueue) -> None:
    now = datetime.now(UTC)
    node = NodeState("n1", "host", 104, "0.1.0", now, now)
    assert store.heartbeat(node) is False
    assert store.drain("n1") and not store.drain("nobody")
    assert store.heartbeat(node) is True  # asked to drain
    (listed,) = store.nodes()
    assert (listed.node_id, listed.draining, listed.heartbeat_age < 60) == ("n1", True, True)
    restarted = NodeState("n1", "host", 104, "0.1.0", datetime.now(UTC), now)
    assert store.heartbeat(restarted) is False  # a new start of the node is not draining
    store.stopped("n1")
    assert store.nodes()[0].stopped_at is not None


def test_a_relayed_job_is_taken_only_by_the_node_holding_its_relays_and_moves_with_them(store: JobQueue) -> None:
    store.add(dataclasses.replace(job("4.1"), relayed=True))  # n1 spooled it and holds its relays
    store.add(job("4.2"))
    taken = store.take("n2", ["P"], 30)
    assert taken is not None and taken.job_uid == "4.2"  # n2 may print anyone's job but a relayed one of n1
    assert store.take("n2", ["P"], 30) is None
    assert store.adopt(["4.1", "4.2", "unknown"], "n2") == 1  # n2 took over n1's relays: only 4.1 moves
    assert store.adopt(["4.1"], "n2") == 0  # already n2's
    adopted = store.take("n2", ["P"], 30)
    assert adopted is not None and (adopted.job_uid, adopted.node_id, adopted.relayed) == ("4.1", "n2", True)
    assert store.take("n1", ["P"], 30) is None
    store.change("4.1", ExecutionStatus.DONE, "NORMAL", finished=True)
    assert store.adopt(["4.1"], "n1") == 0  # a finished job stays where it is


def test_finished_jobs_are_pruned_after_the_time_they_are_kept(store: JobQueue) -> None:
    store.add(job("5.1"))
    store.add(job("5.2"))
    store.change("5.1", ExecutionStatus.DONE, "NORMAL", finished=True)
    assert store.prune(3600) == 0
    wait_until(lambda: store.prune(0.05) == 1, 10, "5.1 finished more than 0.05 s ago")
    assert store.get("5.1") is None
    assert store.get("5.2") is not None  # not finished: kept however old
