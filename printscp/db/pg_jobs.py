"""The print queue shared by the nodes of a cluster (`JobQueue` of job_queue.py) on PostgreSQL.

Tables `print_jobs` and `nodes` (migrations/0002_cluster.sql). A node takes a job with one statement:
`SELECT ... FOR UPDATE SKIP LOCKED` picks the best free row (priority, then sequence; a row whose lease ran
out is free; never a row while an earlier one of its Film Session is unfinished) and the UPDATE around it
leases it to the node, so two nodes never take one job at once and neither waits for the other's lock.

Each change of a job's status is an UPDATE that adds one to its version and `pg_notify`s the change on the
channel `printscp_print_job`, in the same transaction: PostgreSQL delivers notifications in commit order, and
only once committed. `watch` LISTENs on a connection of its own (a LISTEN needs one connection for the life
of the listener, outside the pool), reconnecting after a failure; after each (re)connection it calls
`on_connect` so the watcher reads again what it follows (notifications sent while it was away are lost).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from printscp.db import schema
from printscp.job_queue import PRIORITY_RANK, JobChange, NodeState, QueuedJob
from printscp.model.enums import ExecutionStatus, PrintPriority

log = logging.getLogger(__name__)

CHANNEL = "printscp_print_job"

_TAKE = """
UPDATE print_jobs p
SET lease_owner = %(node)s, lease_expires = now() + %(lease)s * interval '1 second',
    attempts = attempts + 1, updated_at = now()
FROM (
    SELECT job_uid FROM print_jobs j
    WHERE finished_at IS NULL
      AND (lease_owner IS NULL OR lease_expires < now())
      AND printer = ANY(%(printers)s)
      AND (NOT relayed OR node_id = %(node)s)
      AND NOT EXISTS (
          SELECT 1 FROM print_jobs e
          WHERE e.film_session_uid = j.film_session_uid AND e.sequence < j.sequence AND e.finished_at IS NULL
      )
    ORDER BY priority_rank, sequence
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) free
WHERE p.job_uid = free.job_uid
RETURNING p.*
"""

_CHANGE = """
UPDATE print_jobs
SET execution_status = %(status)s, execution_status_info = %(info)s, version = version + 1, updated_at = now(),
    finished_at = CASE WHEN %(finished)s THEN now() ELSE NULL END,
    lease_owner = CASE WHEN %(finished)s THEN NULL ELSE lease_owner END,
    lease_expires = CASE WHEN %(finished)s THEN NULL ELSE lease_expires END
WHERE job_uid = %(uid)s
RETURNING job_uid, node_id, execution_status, execution_status_info, version, finished_at IS NOT NULL AS finished
"""

_HEARTBEAT = """
INSERT INTO nodes (node_id, host, port, version, started_at, last_heartbeat, jobs_running, associations)
VALUES (%(node_id)s, %(host)s, %(port)s, %(version)s, %(started_at)s, now(), %(jobs_running)s, %(associations)s)
ON CONFLICT (node_id) DO UPDATE SET
    host = EXCLUDED.host, port = EXCLUDED.port, version = EXCLUDED.version, last_heartbeat = now(),
    jobs_running = EXCLUDED.jobs_running, associations = EXCLUDED.associations, stopped_at = NULL,
    draining = nodes.draining AND nodes.started_at = EXCLUDED.started_at,
    started_at = EXCLUDED.started_at
RETURNING draining
"""


class PostgresJobQueue:
    """JobQueue on a PostgreSQL database at the code's schema version; safe to share between threads."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        """schema.SchemaError (one line) when the database is unreachable or of another schema version."""
        self.url = url
        with schema.connect(url) as connection:
            schema.check(connection, url)
        self._pool: ConnectionPool = schema.pool(url, "printscp-jobs", pool_size)
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._pool.close()

    def _execute(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with schema.connection(self._pool) as connection:  # commits on leaving, rolls back on an exception
            with connection.cursor(row_factory=dict_row) as cursor:
                cursor.execute(sql.encode(), params)
                return cursor.fetchall() if cursor.description is not None else []

    # --- jobs --------------------------------------------------------------------------------------------

    def add(self, job: QueuedJob) -> int:
        params = {
            "uid": job.job_uid,
            "node": job.node_id,
            "folder": str(job.spool_folder),
            "printer": job.printer,
            "session": job.film_session_uid,
            "priority": job.print_priority.value,
            "rank": PRIORITY_RANK[job.print_priority],
            "creation": job.creation.isoformat(),
            "originator": _text(job.originator),
            "label": _text(job.film_session_label),
            "films": job.films,
            "relayed": job.relayed,
        }
        added = {"job_uid": job.job_uid, "node_id": job.node_id, "status": "PENDING", "info": "QUEUED"}
        with schema.connection(self._pool) as connection:  # one transaction: the row and its notification
            row = connection.execute(
                b"INSERT INTO print_jobs (job_uid, node_id, spool_folder, printer, film_session_uid, print_priority, "
                b"priority_rank, creation, originator, film_session_label, films, relayed) VALUES (%(uid)s, "
                b"%(node)s, %(folder)s, %(printer)s, %(session)s, %(priority)s, %(rank)s, %(creation)s, "
                b"%(originator)s, %(label)s, %(films)s, %(relayed)s) "
                b"ON CONFLICT (job_uid) DO NOTHING RETURNING sequence",
                params,
            ).fetchone()
            if row is None:  # added before (a restart found it in the spool again)
                row = connection.execute(
                    b"SELECT sequence FROM print_jobs WHERE job_uid = %s", (job.job_uid,)
                ).fetchone()
                assert row is not None
            else:
                payload = json.dumps({**added, "version": 1, "finished": False})
                connection.execute(b"SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        return int(str(row[0]))

    def take(self, node_id: str, printers: Sequence[str], lease_seconds: float) -> QueuedJob | None:
        rows = self._execute(_TAKE, {"node": node_id, "printers": list(printers), "lease": lease_seconds})
        return _job(rows[0]) if rows else None

    def renew(self, node_id: str, job_uids: Iterable[str], lease_seconds: float) -> None:
        uids = list(job_uids)
        if uids:
            self._execute(
                "UPDATE print_jobs SET lease_expires = now() + %(lease)s * interval '1 second' "
                "WHERE job_uid = ANY(%(uids)s) AND lease_owner = %(node)s AND finished_at IS NULL",
                {"lease": lease_seconds, "uids": uids, "node": node_id},
            )

    def release(self, node_id: str, job_uids: Iterable[str] | None = None) -> None:
        self._execute(
            "UPDATE print_jobs SET lease_owner = NULL, lease_expires = NULL WHERE lease_owner = %(node)s "
            "AND finished_at IS NULL AND (%(all)s OR job_uid = ANY(%(uids)s))",
            {"node": node_id, "all": job_uids is None, "uids": list(job_uids or [])},
        )

    def change(self, job_uid: str, status: ExecutionStatus, info: str, finished: bool) -> JobChange | None:
        with schema.connection(self._pool) as connection:
            with connection.cursor(row_factory=dict_row) as cursor:
                cursor.execute(
                    _CHANGE.encode(), {"status": status.value, "info": info, "finished": finished, "uid": job_uid}
                )
                row = cursor.fetchone()
                if row is None:
                    return None
                change = JobChange(
                    row["job_uid"],
                    row["node_id"],
                    ExecutionStatus(row["execution_status"]),
                    row["execution_status_info"],
                    row["version"],
                    row["finished"],
                )
                payload = {
                    "job_uid": change.job_uid,
                    "node_id": change.node_id,
                    "status": change.execution_status.value,
                    "info": change.execution_status_info,
                    "version": change.version,
                    "finished": change.finished,
                }
                cursor.execute(b"SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(payload)))
        return change

    def get(self, job_uid: str) -> QueuedJob | None:
        rows = self._execute("SELECT * FROM print_jobs WHERE job_uid = %(uid)s", {"uid": job_uid})
        return _job(rows[0]) if rows else None

    def adopt(self, job_uids: Iterable[str], node_id: str) -> int:
        uids = list(job_uids)
        if not uids:
            return 0
        rows = self._execute(
            "UPDATE print_jobs SET node_id = %(node)s, updated_at = now() WHERE job_uid = ANY(%(uids)s) "
            "AND relayed AND finished_at IS NULL AND node_id <> %(node)s RETURNING job_uid",
            {"uids": uids, "node": node_id},
        )
        return len(rows)

    def prune(self, older_than: float) -> int:
        rows = self._execute(
            "DELETE FROM print_jobs WHERE finished_at < now() - %(age)s * interval '1 second' RETURNING job_uid",
            {"age": older_than},
        )
        return len(rows)

    def watch(self, on_change: Callable[[JobChange], None], on_connect: Callable[[], None]) -> None:
        self._listener = schema.listening(
            self.url,
            CHANNEL,
            lambda payload: on_change(_change(payload)),
            on_connect,
            self._closing,
            "print job changes",
            "print-job-listener",
        )

    # --- nodes -------------------------------------------------------------------------------------------

    def heartbeat(self, node: NodeState) -> bool:
        rows = self._execute(
            _HEARTBEAT,
            {
                "node_id": node.node_id,
                "host": node.host,
                "port": node.port,
                "version": node.version,
                "started_at": node.started_at,
                "jobs_running": node.jobs_running,
                "associations": node.associations,
            },
        )
        return bool(rows[0]["draining"])

    def nodes(self) -> list[NodeState]:
        rows = self._execute(
            "SELECT *, extract(epoch FROM now() - last_heartbeat)::float8 AS heartbeat_age FROM nodes ORDER BY node_id",
            {},
        )
        return [NodeState(**row) for row in rows]

    def drain(self, node_id: str) -> bool:
        rows = self._execute(
            "UPDATE nodes SET draining = true WHERE node_id = %(node)s RETURNING node_id", {"node": node_id}
        )
        return bool(rows)

    def stopped(self, node_id: str) -> None:
        self._execute(
            "UPDATE nodes SET stopped_at = now(), jobs_running = 0, associations = 0 WHERE node_id = %(node)s",
            {"node": node_id},
        )


def _job(row: dict[str, Any]) -> QueuedJob:
    return QueuedJob(
        job_uid=row["job_uid"],
        node_id=row["node_id"],
        spool_folder=Path(row["spool_folder"]),
        printer=row["printer"],
        film_session_uid=row["film_session_uid"],
        print_priority=PrintPriority(row["print_priority"]),
        creation=datetime.fromisoformat(row["creation"]),
        originator=row["originator"],
        film_session_label=row["film_session_label"],
        films=row["films"],
        execution_status=ExecutionStatus(row["execution_status"]),
        execution_status_info=row["execution_status_info"],
        sequence=row["sequence"],
        version=row["version"],
        lease_owner=row["lease_owner"],
        attempts=row["attempts"],
        finished=row["finished_at"] is not None,
        relayed=row["relayed"],
    )


def _change(payload: str) -> JobChange:
    document = json.loads(payload)
    return JobChange(
        document["job_uid"],
        document["node_id"],
        ExecutionStatus(document["status"]),
        document["info"],
        int(document["version"]),
        bool(document["finished"]),
    )


def _text(value: str) -> str:
    return value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
