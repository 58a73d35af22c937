"""Several `printscp serve` processes on one port (network.reuse_port, SO_REUSEPORT): the kernel spreads the
connections over them. Cluster nodes on one machine use every core for receiving this way (issue 12: one
process's receive path is bound by its interpreter lock), and a new server can take over a port before the
old one stops. Real servers, real associations, real PostgreSQL for the cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

from postgres import PostgresServer, free_port
from pynetdicom import AE
from serve import ServeProcess
from test_cluster_queue import Node, archived, print_without_events, row
from test_operator_errors import one_clear_line, run
from waiting import wait_until

from printscp import uids

# How many associations make "every server got one" certain: the kernel picks a listener by a hash of the
# connection's addresses, so with two listeners all N on one has a chance of 2 / 2**N.
ECHOES = 40
RELEASED = re.compile(r"association released: ")


def echo(port: int) -> int:
    ae = AE(ae_title="SHARED_PORT")
    ae.add_requested_context(uids.VERIFICATION)
    assoc = ae.associate("127.0.0.1", port, ae_title="PRINTSCP")
    assert assoc.is_established
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()


def released(server: ServeProcess) -> int:
    """Associations the server has served and released (its association log)."""
    return len(RELEASED.findall(server.log.read_text(errors="replace")))


def shared_port_config(folder: Path, name: str, archive: Path) -> Path:
    config = folder / f"{name}.toml"
    config.write_text(
        f'[network]\nreuse_port = true\n\n[archive]\nfolder = "{archive}"\n\n[render]\nworkers = 1\n\n'
        "[identity]\nocr = false\n",
        encoding="utf-8",
    )
    return config


def test_two_servers_share_a_port_and_the_second_takes_it_over_when_the_first_stops(
    tmp_path: Path, nodes: list[ServeProcess]
) -> None:
    port = free_port()
    first = ServeProcess(shared_port_config(tmp_path, "first", tmp_path / "a"), tmp_path / "first.log", port=port)
    nodes.append(first)
    second = ServeProcess(shared_port_config(tmp_path, "second", tmp_path / "b"), tmp_path / "second.log", port=port)
    nodes.append(second)
    assert first.port == second.port == port

    assert [echo(port) for _ in range(ECHOES)] == [0] * ECHOES
    wait_until(lambda: released(first) + released(second) == ECHOES, 30, "every association logged once")
    assert released(first) > 0 and released(second) > 0  # both listen: each got its share

    assert first.stop() == 0
    before = released(second)
    assert [echo(port) for _ in range(10)] == [0] * 10  # none refused once the first has gone
    wait_until(lambda: released(second) == before + 10, 30, "the second server serves them all")


def test_a_server_without_reuse_port_cannot_join_a_shared_port(tmp_path: Path, nodes: list[ServeProcess]) -> None:
    port = free_port()
    nodes.append(ServeProcess(shared_port_config(tmp_path, "first", tmp_path / "a"), tmp_path / "first.log", port=port))
    result = run("serve", "--no-web", "--host", "127.0.0.1", "--port", str(port), "--archive", str(tmp_path / "b"))
    one_clear_line(result, f"127.0.0.1:{port}", "in use", "--port")


def test_cluster_nodes_on_one_port_print_each_film_once(
    postgres_server: PostgresServer, tmp_path: Path, nodes: list[ServeProcess]
) -> None:
    url, archive, port = postgres_server.database(), tmp_path / "shared", free_port()
    shared = "\n[network]\nreuse_port = true\n"
    for name in ("node-a", "node-b"):
        nodes.append(Node(tmp_path, archive, url, name, extra=shared, port=port))
    a, b = nodes

    assert [echo(port) for _ in range(ECHOES)] == [0] * ECHOES
    wait_until(lambda: released(a) + released(b) == ECHOES, 30, "every association logged once")
    assert released(a) > 0 and released(b) > 0

    jobs = [print_without_events(port) for _ in range(6)]
    for job in jobs:
        wait_until(lambda job=job: row(url, job)[0] == "DONE", 60, f"print job {job} DONE")  # type: ignore[misc,index]
    assert sorted(archived(archive)) == sorted(jobs)  # each film once, whichever node received or printed it

    a.kill()  # as when its process dies: the port is left to the other node at once
    before = released(b)
    last = print_without_events(port)
    assert [echo(port) for _ in range(10)] == [0] * 10
    wait_until(lambda: released(b) == before + 11, 30, "node-b serves every association once node-a is dead")
    wait_until(lambda: row(url, last)[0] == "DONE", 60, "the film printed after the kill DONE")  # type: ignore[index]
    assert sorted(archived(archive)) == sorted([*jobs, last])
