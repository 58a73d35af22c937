"""Several `printscp serve` nodes on one PostgreSQL database and one archive folder ([cluster], issue 18 items
2, 3 and 5): a job of a node killed with SIGKILL is printed by another once its lease expires, exactly once;
Print Job N-GET and N-EVENT-REPORT on one node's association follow the job another node renders; `node list`
shows the nodes and `node drain` makes one finish and exit 0. Real processes, real PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import numpy as np
import psycopg
import pytest
from postgres import PostgresServer
from printscu import META, PrintSCU
from pynetdicom import evt
from serve import ServeProcess, printscp
from test_print_jobs import PRINT_CONTEXTS, Received, print_one
from waiting import wait_until

from printscp import uids
from printscp.archive.store import JOB_MANIFESTS
from printscp.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]

# pynetdicom's requestor may answer an event report after sending A-RELEASE-RQ (see test_durability.py)
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


class Node(ServeProcess):
    """`printscp serve` in cluster mode, as a separate process."""

    def __init__(
        self,
        folder: Path,
        archive: Path,
        url: str,
        node_id: str,
        print_delay: float = 0,
        archive_extra: str = "",
        extra: str = "",
        port: int = 0,
    ) -> None:
        self.node_id = node_id
        config = folder / f"{node_id}.toml"
        config.write_text(
            f'[archive]\nfolder = "{archive}"\n{archive_extra}\n[index]\nurl = "{url}"\n\n'
            f'[cluster]\nenabled = true\nnode_id = "{node_id}"\nlease_seconds = 2\nheartbeat_seconds = 0.4\n\n'
            f"[render]\nworkers = 1\n\n[faults]\nprint_delay = {print_delay}\n{extra}",
            encoding="utf-8",
        )
        super().__init__(config, folder / f"{node_id}.log", port=port)


def row(url: str, job_uid: str) -> tuple[object, ...] | None:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT execution_status, lease_owner, attempts, node_id FROM print_jobs WHERE job_uid = %s", (job_uid,)
        ).fetchone()


def archived(archive: Path) -> list[str]:
    """The Print Job UIDs of the jobs in the archive, one per job folder."""
    return [json.loads(path.read_text())["print_job_uid"] for path in archive.glob(JOB_MANIFESTS)]


def print_without_events(port: int) -> str:
    with PrintSCU(("127.0.0.1", port), contexts=(META, uids.PRINT_JOB)) as scu:
        session = scu.film_session(FilmSessionLabel="CLUSTER")
        box, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, np.full((64, 64), 2000, dtype=np.uint16)).status == 0
        action = scu.n_action(uids.BASIC_FILM_BOX, box)
        assert action.status == 0 and action.dataset is not None
        (item,) = action.dataset[0x21000500].value
        return str(item.ReferencedSOPInstanceUID)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_a_job_of_a_killed_node_is_printed_by_another_exactly_once(
    postgres_server: PostgresServer, tmp_path: Path, nodes: list[Node]
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    nodes.append(a := Node(tmp_path, archive, url, "node-a", print_delay=300))  # holds its job, PRINTING
    job = print_without_events(a.port)
    wait_until(lambda: (r := row(url, job)) is not None and r[:2] == ("PRINTING", "node-a"), 30, "A takes the job")
    nodes.append(b := Node(tmp_path, archive, url, "node-b"))
    assert row(url, job)[1] == "node-a"  # type: ignore[index]  # A's lease is renewed: B does not take it
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(10)

    wait_until(lambda: (r := row(url, job)) is not None and r[0] == "DONE", 60, "B prints the job after the lease")
    assert archived(archive) == [job]  # exactly once
    status, owner, attempts, spooled_by = row(url, job)  # type: ignore[misc]
    assert (owner, attempts, spooled_by) == (None, 2, "node-a")  # taken by A, then by B
    assert f"print job {job} of node node-a is printed here" in b.log.read_text()
    assert not list((archive / ".nodes" / "node-a" / "spool" / "jobs").iterdir())  # B removed it from A's spool
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM films WHERE job_uid = %s", (job,)).fetchone() == (1,)


def test_n_get_and_events_on_a_draining_node_follow_the_job_another_renders_and_drain_exits_0(
    postgres_server: PostgresServer, tmp_path: Path, nodes: list[Node]
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    nodes.append(a := Node(tmp_path, archive, url, "node-a"))
    nodes.append(b := Node(tmp_path, archive, url, "node-b"))
    config_a = str(a.config)

    listed = printscp("node", "list", "--config", config_a)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
    assert lines == {"node-a": "alive", "node-b": "alive"}

    received = Received()
    handlers = [(evt.EVT_N_EVENT_REPORT, received.handler)]
    with PrintSCU(("127.0.0.1", a.port), contexts=PRINT_CONTEXTS, calling="EVENTS", handlers=handlers) as scu:
        drained = printscp("node", "drain", "node-a", "--config", config_a)
        assert drained.returncode == 0, drained.stderr
        wait_until(lambda: refused(a.port), 30, "A closes its listener")  # new associations go elsewhere
        listed = printscp("node", "list", "--config", config_a).stdout
        assert re.search(r"^node-a\s+draining", listed, re.M), listed

        job = print_one(scu, "RENDERED BY B")  # A, draining, takes no job: B renders it
        wait_until(lambda: len(received.of(uids.PRINT_JOB, job)) == 3, 60, "Pending, Printing, Done on A")
        got = scu.n_get(uids.PRINT_JOB, job)
        assert got.status == 0 and got.dataset is not None
        assert (got.dataset.ExecutionStatus, got.dataset.ExecutionStatusInfo) == ("DONE", "NORMAL")
        events = received.of(uids.PRINT_JOB, job)
        assert [e[3] for e in events] == [1, 2, 3]  # Pending, Printing, Done, in order
        assert a.process.poll() is None  # its association is still open
    assert f"print job {job} of node node-a is printed here" in b.log.read_text()
    assert archived(archive) == [job]

    assert a.process.wait(30) == 0  # its association ended, it held no job: it exits 0
    listed = printscp("node", "list", "--config", config_a).stdout
    assert re.search(r"^node-a\s+stopped", listed, re.M) and re.search(r"^node-b\s+alive", listed, re.M), listed
    assert "no node 'node-z'" in printscp("node", "drain", "node-z", "--config", config_a).stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cluster]\nenabled = true\n", "cluster.enabled: needs [index] url"),
        ('[index]\nurl = "postgresql://h/db"\n[cluster]\nenabled = true\nnode_id = "a/b"\n', "cluster.node_id:"),
        ("[cluster]\nlease_seconds = 0\n", "cluster.lease_seconds:"),
        ("[cluster]\nlease_seconds = 5\nheartbeat_seconds = 5\n", "cluster.heartbeat_seconds:"),
        ("[cluster]\nleases = 5\n", "cluster.leases: unknown key"),
    ],
)
def test_cluster_config_errors_name_their_keys(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
