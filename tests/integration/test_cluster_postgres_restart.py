"""Issue 18's last two acceptance points, with real `printscp serve` nodes in cluster mode on a real PostgreSQL
(tests/postgres.py) and one archive folder:

- PostgreSQL stopped (`pg_ctl stop -m fast`) and started again while an SCU prints through two nodes: every
  N-ACTION answered Success (before and after the outage) is archived exactly once and indexed; every
  N-ACTION during the outage gets a failure status with an Error Comment, within a bound, and its film is not
  printed; the nodes reconnect by themselves (queue pool, LISTEN connection, heartbeat) and say so in one
  line each, with no traceback in their logs.
- `printscp films list` on every node lists the films printed through all of them, and a Study Root C-FIND
  to every node finds them all.

`python tests/integration/test_cluster_postgres_restart.py` prints the measured times of the outage test.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from postgres import PostgresServer
from printscu import META, PrintSCU
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]
from serve import printscp
from test_cluster_queue import Node, archived
from waiting import wait_until

from printscp import uids

OUTAGE = 6.0  # seconds PostgreSQL stays down: longer than the nodes' lease (2 s) and several heartbeats
FAILURE_STATUSES = {0x0110, 0xC602}  # Processing failure; Unable to create Print Job SOP Instance


@dataclass
class Printed:
    status: int
    job_uid: str | None
    comment: str
    seconds: float
    node: str


@dataclass
class Prints:
    answers: list[Printed] = field(default_factory=list)

    def one(self, node: Node, label: str) -> Printed:
        """One film (one association) through `node`; the N-ACTION's status, whatever it is."""
        with PrintSCU(("127.0.0.1", node.port), contexts=(META, uids.PRINT_JOB)) as scu:
            session = scu.film_session(FilmSessionLabel=label)
            box, boxes, _ = scu.film_box(session)
            assert scu.set_image(boxes[0], 1, np.full((64, 64), 2000, dtype=np.uint16)).status == 0
            started = time.monotonic()
            action = scu.n_action(uids.BASIC_FILM_BOX, box)
            seconds = time.monotonic() - started
        job_uid, comment = None, ""
        if action.status == 0:
            assert action.dataset is not None
            (item,) = action.dataset[0x21000500].value
            job_uid = str(item.ReferencedSOPInstanceUID)
        else:
            comment = str(action.comment or "")
        printed = Printed(action.status, job_uid, comment, seconds, node.node_id)
        self.answers.append(printed)
        return printed

    def acknowledged(self) -> set[str]:
        return {p.job_uid for p in self.answers if p.job_uid is not None}


def indexed(url: str) -> list[str]:
    with psycopg.connect(url, connect_timeout=5) as connection:
        return [str(r[0]) for r in connection.execute("SELECT job_uid FROM films ORDER BY job_uid").fetchall()]


def done(url: str) -> set[str]:
    with psycopg.connect(url, connect_timeout=5) as connection:
        rows = connection.execute("SELECT job_uid FROM print_jobs WHERE execution_status = 'DONE'").fetchall()
        return {str(r[0]) for r in rows}


def log_of(node: Node) -> str:
    return node.log.read_text(errors="replace")


def run_outage(server: PostgresServer, tmp_path: Path, nodes: list[Node]) -> dict[str, float]:
    """The scenario; asserts as it goes and returns what it measured."""
    url, archive = server.database(), tmp_path / "shared"
    nodes.append(a := Node(tmp_path, archive, url, "node-a"))
    nodes.append(b := Node(tmp_path, archive, url, "node-b"))
    prints = Prints()
    before = [prints.one(node, f"BEFORE {i}") for i in range(2) for node in (a, b)]
    assert all(p.status == 0 for p in before), before  # some are still rendering when PostgreSQL stops

    stopped_at = time.monotonic()
    server.shut_down("fast")
    during: list[Printed] = []
    while time.monotonic() - stopped_at < OUTAGE:
        during += [prints.one(node, f"DURING {len(during)}") for node in (a, b)]
    server.start_again()
    outage = time.monotonic() - stopped_at

    for p in during:  # a failure the SCU can read, soon enough for its DIMSE timeout
        assert p.status in FAILURE_STATUSES and p.comment, p
        assert p.seconds < 10, p

    def reconnected(node: Node) -> bool:
        text = log_of(node)
        return "listening to print job changes again" in text and "heartbeat works again" in text

    wait_until(lambda: reconnected(a) and reconnected(b), 60, "both nodes reconnect")
    reconnect = time.monotonic() - stopped_at - outage

    after = [prints.one(node, f"AFTER {i}") for i in range(2) for node in (a, b)]
    assert all(p.status == 0 for p in after), after  # the first N-ACTION after the restart too

    acknowledged = prints.acknowledged()
    assert len(acknowledged) == len(before) + len(after)
    wait_until(lambda: done(url) >= acknowledged, 90, "every acknowledged job DONE")
    wait_until(lambda: set(indexed(url)) >= acknowledged, 60, "every acknowledged job indexed")
    in_archive = archived(archive)
    assert sorted(in_archive) == sorted(acknowledged)  # exactly once each; nothing of the failed N-ACTIONs
    assert sorted(indexed(url)) == sorted(acknowledged)  # one film each
    for node in (a, b):
        text = log_of(node)
        assert "Traceback" not in text, text[-4000:]
        assert node.process.poll() is None
    return {
        "outage": outage,
        "reconnect": reconnect,
        "failed": len(during),
        "acknowledged": len(acknowledged),
        "slowest failure": max(p.seconds for p in during),
    }


def test_postgresql_restarting_while_printing_loses_no_acknowledged_film(
    restartable_postgres: PostgresServer, tmp_path: Path, nodes: list[Node]
) -> None:
    measured = run_outage(restartable_postgres, tmp_path, nodes)
    assert measured["failed"] >= 2


def study_find(port: int) -> list[str]:
    """Study Instance UIDs a Study Root C-FIND for every study answers."""
    ae = AE("QRSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="PRINTSCP")
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID, query.PatientName = "", ""
    try:
        return sorted(
            str(answer.StudyInstanceUID)
            for status, answer in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind)
            if status is not None and status.Status == 0xFF00
        )
    finally:
        assoc.release()


def test_films_list_and_c_find_on_every_node_show_the_films_of_all(
    postgres_server: PostgresServer, tmp_path: Path, nodes: list[Node]
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    for name in ("node-a", "node-b", "node-c"):
        nodes.append(Node(tmp_path, archive, url, name))
    prints = Prints()
    for node in nodes:
        assert prints.one(node, f"FROM {node.node_id}").status == 0
    acknowledged = prints.acknowledged()
    wait_until(lambda: set(indexed(url)) >= acknowledged, 60, "every film indexed")
    with psycopg.connect(url) as connection:
        studies = sorted(str(r[0]) for r in connection.execute("SELECT study_instance_uid FROM films").fetchall())
    assert len(set(studies)) == len(nodes)

    for node in nodes:
        listed = printscp("films", "list", "--config", str(node.config))
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.rstrip().endswith(f"{len(nodes)} film(s)"), listed.stdout
        for other in nodes:
            assert f"FROM {other.node_id}" in listed.stdout
        assert study_find(node.port) == studies, node.node_id
    for node in nodes:
        assert re.search(r"Traceback", log_of(node)) is None


if __name__ == "__main__":  # the measured times, for docs/deployment.md
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        server, started = PostgresServer(), []
        server.start()
        try:
            print(run_outage(server, Path(folder), started))
        finally:
            for node in started:
                node.process.kill()
            server.stop()
