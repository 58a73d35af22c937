"""What a cluster node leaves when it dies is taken over by another (issue 18 with issue 20's relays): its
relays to real printers and its forwarding outbox move to a live node, which sends each exactly once, prints
the relayed jobs the dead node had not printed, and makes their Print Jobs follow the relays to DONE. Real
`printscp serve` nodes killed with SIGKILL, real PostgreSQL, a second printscp as the real printer, DCMTK's
storescp as the PACS.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import RunningServer
from dcmtk import StoreSCP
from postgres import PostgresServer, free_port
from serve import printscp
from test_cluster_queue import Node, archived, print_without_events, row
from test_relay import TARGET, labels, start_target  # noqa: F401  (start_target: a fixture)
from waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def relaying_node(tmp_path: Path, archive: Path, url: str, node_id: str, target: int, pacs: int, delay: float) -> Node:
    """A cluster node whose printer relays to TARGET and whose films are forwarded to PACS."""
    extra = (
        f'\n[printer]\nrelay_to = ["{TARGET}"]\n\n[relay]\nretry_seconds = 0.2\n'
        f'\n[nodes.{TARGET}]\nhost = "127.0.0.1"\nport = {target}\n'
        f'\n[nodes.PACS]\nhost = "127.0.0.1"\nport = {pacs}\n\n[identity]\nunconfirmed = "forward"\nocr = false\n'
    )
    return Node(tmp_path, archive, url, node_id, print_delay=delay, archive_extra='forward_to = ["PACS"]', extra=extra)


def statuses(url: str, jobs: list[str]) -> list[object]:
    return [(row(url, job) or ("?",))[0] for job in jobs]


def killed(node: Node) -> None:
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(10)


def test_a_killed_nodes_relays_and_outbox_are_sent_once_by_another_node(
    postgres_server: PostgresServer,
    tmp_path: Path,
    nodes: list[Node],
    start_target: Callable[..., RunningServer],  # noqa: F811
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    target_port, pacs_port = free_port(), free_port()
    node_a = archive / ".nodes" / "node-a"
    nodes.append(a := relaying_node(tmp_path, archive, url, "node-a", target_port, pacs_port, delay=0))
    jobs = [print_without_events(a.port) for _ in range(2)]  # the printer and the PACS are both down
    wait_until(lambda: len(archived(archive)) == 2, 60, "both films archived by A")
    wait_until(lambda: len(list((node_a / "outbox" / "PACS").iterdir())) == 2, 30, "both in A's outbox")
    assert statuses(url, jobs) == ["PENDING", "PENDING"]  # archived, waiting for the real printer
    killed(a)

    nodes.append(b := relaying_node(tmp_path, archive, url, "node-b", target_port, pacs_port, delay=0))
    with StoreSCP(tmp_path / "pacs", pacs_port, ae_title="PACS") as pacs:
        target = start_target(target_port)
        wait_until(lambda: statuses(url, jobs) == ["DONE", "DONE"], 60, "the Print Jobs follow the relays on B")
        received = pacs.wait_for(2, 60)
        assert len({str(ds.SOPInstanceUID) for ds in received}) == 2
    assert len(labels(target.archive)) == 2  # each film printed once on the real printer
    assert "node node-a is silent" in b.log.read_text()
    assert "2 relay(s) and 2 film(s) to forward are taken over by this node" in b.log.read_text()
    assert not list((node_a / "relay").iterdir()) and not list((node_a / "outbox" / "PACS").iterdir())
    assert len(list((archive / ".nodes" / "node-b" / "relay").iterdir())) == 2

    listed = printscp("relay", "list", "--all", "--config", str(a.config))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("kept by node node-b") == 2, listed.stdout
    nodes.append(relaying_node(tmp_path, archive, url, "node-a", target_port, pacs_port, delay=0))  # A again:
    # it starts with nothing of its own left to send (B would have to wait for its lock, had it been moving)
    assert "relayed to" not in nodes[-1].log.read_text()


def test_relayed_jobs_a_killed_node_had_not_printed_are_printed_and_relayed_by_another_once(
    postgres_server: PostgresServer,
    tmp_path: Path,
    nodes: list[Node],
    start_target: Callable[..., RunningServer],  # noqa: F811
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    target_port, pacs_port = free_port(), free_port()
    nodes.append(a := relaying_node(tmp_path, archive, url, "node-a", target_port, pacs_port, delay=300))
    jobs = [print_without_events(a.port) for _ in range(3)]  # A holds them (print_delay), the printer is down
    wait_until(lambda: (row(url, jobs[0]) or ("",))[0] == "PRINTING", 30, "A renders the first")
    nodes.append(b := relaying_node(tmp_path, archive, url, "node-b", target_port, pacs_port, delay=0))
    own = print_without_events(b.port)  # B's own job, later in the queue than A's two waiting ones
    wait_until(lambda: own in archived(archive), 60, "B prints its own job")
    assert statuses(url, jobs)[1:] == ["PENDING", "PENDING"]  # not A's relayed jobs, while A lives
    killed(a)

    target = start_target(target_port)
    wait_until(lambda: statuses(url, [*jobs, own]) == ["DONE"] * 4, 90, "B prints and relays A's jobs")
    assert sorted(archived(archive)) == sorted([*jobs, own])  # each once in the archive
    assert len(labels(target.archive)) == 4  # and once on the real printer
    assert b.process.poll() is None
    with psycopg.connect(url) as connection:
        owners = connection.execute("SELECT DISTINCT node_id FROM print_jobs").fetchall()
    assert owners == [("node-b",)]  # the rows moved with the relays
    assert not list((archive / ".nodes" / "node-a" / "spool" / "jobs").iterdir())  # B emptied A's spool
