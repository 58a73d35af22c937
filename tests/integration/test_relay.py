"""Relaying films to real printers (issue 20), end to end over loopback: a modality prints to printscp, whose
printer relays to another printscp (with a fault plan where the test needs a target that fails) or, in
test_relay_targets.py, to DCMTK's dcmprscp and CUPS's ippeveprinter."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer, bundled_config
from printscu import META, PrintSCU
from pynetdicom import evt
from serve import ServeProcess, printscp
from waiting import wait_until

from printscp import uids
from printscp.archive.store import JOB_MANIFESTS
from printscp.config import FaultRuleConfig, NetworkConfig, Node, RelayConfig
from printscp.net.server import PrintServer
from printscp.relay.queue import DONE, FAILED, read_relays

REPO = Path(__file__).resolve().parents[2]
TARGET = "FILMER"  # the AE title of the target printer (a second printscp)
PIXELS = (np.arange(64 * 64).reshape(64, 64) * 7 % 4096).astype(np.uint16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def labels(archive: Path) -> list[str]:
    """Film Session Labels of the print jobs in an archive, one per job."""
    return sorted(
        json.loads(path.read_text())["film_session"]["film_session_label"] for path in archive.glob(JOB_MANIFESTS)
    )


def print_film(scu: PrintSCU, label: str) -> tuple[int, str, str]:
    """One 1x2 film; returns the N-ACTION's status, its Error Comment and the Print Job UID."""
    session = scu.film_session(FilmSessionLabel=label)
    box, boxes, _ = scu.film_box(session, "STANDARD\\1,2")
    for position, uid in enumerate(boxes, 1):
        assert scu.set_image(uid, position, PIXELS).status == 0
    action = scu.n_action(uids.BASIC_FILM_BOX, box)
    job = ""
    if action.dataset is not None and 0x21000500 in action.dataset:  # Referenced Print Job Sequence
        job = str(action.dataset[0x21000500].value[0].ReferencedSOPInstanceUID)
    scu.n_delete(uids.BASIC_FILM_SESSION, session)  # the next film gets a session of its own
    return action.status, action.comment, job


def execution_status(scu: PrintSCU, job: str) -> tuple[str, str]:
    got = scu.n_get(uids.PRINT_JOB, job, [0x21000020, 0x21000030])
    assert got.status == 0 and got.dataset is not None
    return str(got.dataset.ExecutionStatus), str(got.dataset.ExecutionStatusInfo)


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """A second printscp, the target printer TARGET, on a given port (a fault plan where asked)."""
    started: list[PrintServer] = []

    def start(port: int, *fault_plan: FaultRuleConfig) -> RunningServer:
        network = NetworkConfig(ae_title=TARGET, host="127.0.0.1", port=port)
        config = bundled_config(
            tmp_path / f"target{len(started)}", sections={"network": network, "fault_plan": fault_plan}
        )
        server = PrintServer(config)
        host, bound = server.start("127.0.0.1", port)
        started.append(server)
        return RunningServer(server, host, bound)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gateway(start_server: Callable[..., RunningServer]) -> Callable[..., tuple[RunningServer, int]]:
    """printscp relaying its default printer to TARGET on a port of its own; returns it and that port."""

    def start(relay: RelayConfig | None = None, port: int | None = None) -> tuple[RunningServer, int]:
        port = port or free_port()
        server = start_server(
            nodes={TARGET: Node("127.0.0.1", port)},
            sections={"relay": relay or RelayConfig(retry_seconds=0.2)},
            relay_to=(TARGET,),
        )
        return server, port

    return start


def test_films_printed_while_the_target_is_down_reach_it_once_it_is_up(
    gateway: Callable[..., tuple[RunningServer, int]], start_target: Callable[..., RunningServer]
) -> None:
    server, port = gateway()
    events = [(evt.EVT_N_EVENT_REPORT, lambda event: (0, None))]
    with PrintSCU(server.address, contexts=(META, uids.PRINT_JOB), handlers=events) as scu:
        jobs = []
        for n in range(3):
            status, comment, job = print_film(scu, f"OUTAGE {n}")
            assert status == 0, comment  # on_spool: acknowledged at once, the target down or not
            jobs.append(job)
        # the target cannot be reached: each Print Job waits, PENDING, and says why
        wait_until(lambda: execution_status(scu, jobs[-1]) == ("PENDING", "PRINTER DOWN"), 30, "PENDING")
        assert server.server.printers[server.server.config.network.ae_title].state.printer_status_info == "PRINTER DOWN"
        target = start_target(port)
        wait_until(lambda: all(execution_status(scu, j)[0] == "DONE" for j in jobs), 30, "every Print Job DONE")
    assert labels(target.archive) == ["OUTAGE 0", "OUTAGE 1", "OUTAGE 2"]  # each exactly once
    relays = read_relays(server.archive)
    assert [r.targets[TARGET].state for r in relays] == [DONE] * 3
    assert server.server.printers[server.server.config.network.ae_title].state.printer_status.value == "NORMAL"


def test_after_relay_a_target_answering_c602_fails_the_modalitys_n_action(
    gateway: Callable[..., tuple[RunningServer, int]], start_target: Callable[..., RunningServer]
) -> None:
    port = free_port()
    refuse = FaultRuleConfig(on="N-ACTION", sop_class="FilmBox", status=0xC602, count=0)
    start_target(port, refuse)
    server, _ = gateway(RelayConfig(acknowledge="after_relay", retry_seconds=0.2), port=port)
    with PrintSCU(server.address) as scu:
        status, comment, _ = print_film(scu, "REFUSED")
    assert status == 0xC602
    assert TARGET in comment and "C602" in comment
    (relay,) = read_relays(server.archive)
    assert relay.targets[TARGET].state == FAILED and relay.targets[TARGET].attempts == 1
    # the server keeps serving: a print to the target's own good printer is fine
    with PrintSCU(server.address) as scu:
        assert scu.assoc.is_established


def test_after_relay_the_n_action_succeeds_once_the_target_has_the_film(
    gateway: Callable[..., tuple[RunningServer, int]], start_target: Callable[..., RunningServer]
) -> None:
    port = free_port()
    target = start_target(port)
    server, _ = gateway(RelayConfig(acknowledge="after_relay"), port=port)
    with PrintSCU(server.address) as scu:
        status, comment, _ = print_film(scu, "RELAYED")
    assert status == 0, comment
    assert labels(target.archive) == ["RELAYED"]  # there before the modality was answered


def test_eight_modalities_at_once_with_a_slow_target_see_no_refusals(
    gateway: Callable[..., tuple[RunningServer, int]], start_target: Callable[..., RunningServer]
) -> None:
    port = free_port()
    slow = FaultRuleConfig(on="N-ACTION", sop_class="FilmBox", delay=2.0, count=0)  # 2 s per film
    target = start_target(port, slow)
    server, _ = gateway(port=port)
    statuses: list[int] = []

    def modality(n: int) -> None:
        with PrintSCU(server.address, calling=f"MODALITY{n}") as scu:
            for k in range(2):
                statuses.append(print_film(scu, f"M{n} F{k}")[0])

    threads = [threading.Thread(target=modality, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [0] * 16  # none refused while the relays wait behind the slow target
    wait_until(lambda: len(labels(target.archive)) >= 1, 30, "the slow target printed the first film")
    assert len(read_relays(server.archive)) == 16


class Gateway(ServeProcess):
    """`printscp serve` as a process whose printer relays to TARGET at `port`: it can be killed with SIGKILL."""

    def __init__(self, folder: Path, port: int) -> None:
        folder.mkdir(exist_ok=True)
        config = folder / "config.toml"
        bundled = (REPO / "config.toml").read_text()
        relaying = bundled.replace("\n[printer]\n", f'\n[printer]\nrelay_to = ["{TARGET}"]\n', 1)
        relaying = re.sub(r"\nretry_seconds = \d+", "\nretry_seconds = 0.2", relaying)
        relaying += f'\n[nodes.{TARGET}]\nhost = "127.0.0.1"\nport = {port}\n'
        config.write_text(relaying)
        self.archive = folder / "films"
        log = folder / f"gateway-{len(list(folder.glob('gateway-*.log')))}.log"
        super().__init__(config, log, "--archive", str(self.archive))


def test_a_kill_9_during_the_outage_loses_and_duplicates_no_relay(
    tmp_path: Path, start_target: Callable[..., RunningServer]
) -> None:
    port = free_port()
    gateway = Gateway(tmp_path / "gateway", port)
    try:
        with PrintSCU(("127.0.0.1", gateway.port), contexts=(META,)) as scu:
            for n in range(5):
                assert print_film(scu, f"KILLED {n}")[0] == 0
        # acknowledged: every relay is on disk, and the target is still down
        assert len(read_relays(gateway.archive)) == 5
        gateway.kill()
        gateway = Gateway(tmp_path / "gateway", port)
        target = start_target(port)
        wait_until(lambda: len(labels(target.archive)) >= 5, 60, "the 5 films at the target")
        wait_until(lambda: all(r.targets[TARGET].state == DONE for r in read_relays(gateway.archive)), 30, "DONE")
        assert labels(target.archive) == [f"KILLED {n}" for n in range(5)]  # each exactly once
    finally:
        gateway.stop()


def test_an_operator_lists_retries_and_shows_a_relay_that_was_given_up(
    gateway: Callable[..., tuple[RunningServer, int]], start_target: Callable[..., RunningServer]
) -> None:
    server, port = gateway(RelayConfig(retry_seconds=0.1, give_up_after=0.3))
    with PrintSCU(server.address) as scu:
        assert print_film(scu, "GIVEN UP")[0] == 0
    wait_until(lambda: [r.targets[TARGET].state for r in read_relays(server.archive)] == [FAILED], 30, "given up")
    (relay,) = read_relays(server.archive)
    archive = ["--archive", str(server.archive)]
    listed = printscp("relay", "list", *archive)
    assert listed.returncode == 0, listed.stderr
    assert relay.job_uid in listed.stdout and f"{TARGET}" in listed.stdout and "FAILED" in listed.stdout
    assert "cannot connect" in listed.stdout and "1 relay(s) waiting or failed" in listed.stdout
    start_target(port)
    # through the running server's admin channel (its DICOM port names it)
    retried = printscp("relay", "retry", relay.job_uid[:20], *archive, "--port", str(server.port))
    assert retried.returncode == 0, retried.stderr
    assert "by the running server" in retried.stdout
    wait_until(lambda: [r.targets[TARGET].state for r in read_relays(server.archive)] == [DONE], 30, "retried")
    shown = printscp("films", "show", relay.job_uid, *archive)
    assert shown.returncode == 0, shown.stderr
    assert f"relays of print job {relay.job_uid}" in shown.stdout
    assert re.search(rf"{TARGET}\s+DONE\s+\d+ attempts, printed 20", shown.stdout), shown.stdout
    assert "0 relay(s) waiting or failed" in printscp("relay", "list", *archive).stdout
    nothing = printscp("relay", "retry", "9.9.9", *archive)
    assert nothing.returncode == 2 and "no relay of a print job has it" in nothing.stderr
