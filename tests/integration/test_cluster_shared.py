"""What the nodes of a cluster share besides the queue (issue 18): printer status, run-time fault rules, and
forwarding without sending a film twice. Two real `printscp serve` cluster nodes on real PostgreSQL
(tests/postgres.py), a pynetdicom SCU, and DCMTK's storescp as the PACS.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from dcmtk import StoreSCP
from postgres import PostgresServer, free_port
from printscu import PrintSCU
from pynetdicom import evt
from serve import printscp
from test_cluster_queue import Node, print_without_events, row
from test_print_jobs import PRINT_CONTEXTS, Received, print_one
from waiting import wait_until

from printscp import uids

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

FAILURE = 3  # Printer event type of PS3.4 Table H.4-16


@pytest.fixture
def two_nodes(postgres_server: PostgresServer, tmp_path: Path, nodes: list[Node]) -> tuple[str, Node, Node]:  # noqa: F811
    """node-a and node-b, cluster nodes on one new database and one folder; the database's URL and both."""
    url, archive = postgres_server.database(), tmp_path / "shared"
    nodes.append(a := Node(tmp_path, archive, url, "node-a"))
    nodes.append(b := Node(tmp_path, archive, url, "node-b"))
    return url, a, b


def printer_set(node: Node, *args: str) -> str:
    done = printscp("printer", "set", *args, "--config", str(node.config), "--port", str(node.port))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_printer_status_set_on_one_node_reaches_every_node_and_holds_its_jobs_on_both(
    two_nodes: tuple[str, Node, Node],
) -> None:
    url, a, b = two_nodes

    received = Received()
    handlers = [(evt.EVT_N_EVENT_REPORT, received.handler)]
    with PrintSCU(("127.0.0.1", b.port), contexts=PRINT_CONTEXTS, calling="EVENTS", handlers=handlers) as scu:
        assert "FAILURE (FILM JAM)" in printer_set(a, "FAILURE", "FILM JAM")  # through A's admin channel
        wait_until(lambda: received.of(uids.PRINTER), 30, "B's association hears of A's change")
        ((_, _, instance, event_type, information),) = received.of(uids.PRINTER)
        assert (instance, event_type) == (uids.PRINTER_INSTANCE, FAILURE)
        assert information is not None and information.PrinterStatusInfo == "FILM JAM"
        got = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
        assert got.status == 0 and got.dataset is not None
        assert (got.dataset.PrinterStatus, got.dataset.PrinterStatusInfo) == ("FAILURE", "FILM JAM")
        shown = printscp("printer", "status", "--config", str(b.config), "--port", str(b.port))
        assert "FAILURE (FILM JAM)" in shown.stdout, shown.stderr

        # on_printer_failure = WAIT (the default): its jobs wait on every node, whichever spooled them
        jobs = [print_one(scu, "HELD ON B"), print_without_events(a.port)]
        deadline = time.monotonic() + 3  # six looks into the queue by each node: none takes them
        while time.monotonic() < deadline:
            assert all(row(url, job)[:2] == ("PENDING", None) for job in jobs)  # type: ignore[index]
            time.sleep(0.2)

        printer_set(b, "NORMAL")  # through B's this time
        for job in jobs:
            wait_until(lambda job=job: row(url, job)[0] == "DONE", 60, "printed after NORMAL")  # type: ignore[misc,index]
        wait_until(lambda: len(received.of(uids.PRINTER)) == 2, 30, "B hears NORMAL")
    assert "printer PRINTSCP status FAILURE (FILM JAM)" in b.log.read_text()


def test_a_fault_rule_added_on_one_node_fires_on_another_and_is_cleared_on_both(
    two_nodes: tuple[str, Node, Node],
) -> None:
    url, a, b = two_nodes
    on = ["--config", str(a.config), "--port", str(a.port)]
    added = printscp(
        "fault", "add", "--on", "N-GET", "--sop-class", "Printer", "--status", "0xC000", "--count", "0", *on
    )
    assert added.returncode == 0, added.stderr

    def listed_on_b() -> str:
        return printscp("fault", "list", "--config", str(b.config), "--port", str(b.port)).stdout

    wait_until(lambda: "#101 N-GET Printer" in listed_on_b(), 30, "B has the rule")
    with PrintSCU(("127.0.0.1", b.port), contexts=PRINT_CONTEXTS) as scu:
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0xC000
        cleared = printscp("fault", "clear", *on)
        assert cleared.returncode == 0, cleared.stderr
        wait_until(lambda: "#101" not in listed_on_b(), 30, "B forgets it")
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM fault_rules").fetchone() == (0,)


def test_a_fault_rules_after_and_count_are_counted_over_every_node(
    two_nodes: tuple[str, Node, Node],
) -> None:
    """`--after 1 --count 2`: the 2nd and 3rd matching requests of the cluster fail, whichever node they reach."""
    url, a, b = two_nodes
    on_a = ["--config", str(a.config), "--port", str(a.port)]
    rule = ["--on", "N-GET", "--sop-class", "Printer", "--status", "0xC000", "--after", "1", "--count", "2"]
    assert printscp("fault", "add", *rule, *on_a).returncode == 0
    on_b = ["--config", str(b.config), "--port", str(b.port)]
    wait_until(lambda: "#101 N-GET Printer" in printscp("fault", "list", *on_b).stdout, 30, "B has the rule")
    statuses = []
    for node in (a, b, a, b):
        with PrintSCU(("127.0.0.1", node.port), contexts=PRINT_CONTEXTS) as scu:
            statuses.append(scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status)
    assert statuses == [0, 0xC000, 0xC000, 0]  # counted per node, it would fire on the 2nd request of each
    assert "fired 2/2" in printscp("fault", "list", *on_b).stdout


def test_films_forwarded_by_two_nodes_reach_the_pacs_once_each(
    postgres_server: PostgresServer,
    tmp_path: Path,
    nodes: list[Node],  # noqa: F811
) -> None:
    url, archive = postgres_server.database(), tmp_path / "shared"
    port = free_port()
    forward = 'forward_to = ["PACS"]\n'
    pacs = f'\n[nodes.PACS]\nhost = "127.0.0.1"\nport = {port}\n\n[identity]\nunconfirmed = "forward"\nocr = false\n'
    with StoreSCP(tmp_path / "pacs", port, ae_title="PACS") as store:
        nodes.append(a := Node(tmp_path, archive, url, "node-a", archive_extra=forward, extra=pacs))
        nodes.append(b := Node(tmp_path, archive, url, "node-b", archive_extra=forward, extra=pacs))
        jobs = [print_without_events(node.port) for node in (a, b, a, b)]
        for job in jobs:
            wait_until(lambda job=job: row(url, job)[0] == "DONE", 60, "printed")  # type: ignore[misc,index]
        received = store.wait_for(len(jobs), 60)
        time.sleep(2)  # a second copy, if any node were to send one, would come now
        assert len(store.received()) == len(jobs)
        assert len({str(ds.SOPInstanceUID) for ds in received}) == len(jobs)
    assert not (archive / ".outbox").exists()  # in cluster mode each node has its own
    for node in ("node-a", "node-b"):
        assert not list((archive / ".nodes" / node / "outbox" / "PACS").iterdir())  # all sent
