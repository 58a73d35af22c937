"""The relay queue (printscp/relay/queue.py) on a real PrintQueue and spool, its targets scripted: durable
relays, retries with backoff, the Print Job's status following them, after_relay, giving up, retry, restart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import bundled_config
from test_jobs import Association, statuses
from waiting import wait_until

import printscp.jobs
from printscp.config import Config, FaultConfig, Node, PaperPrinter, RelayConfig, RelayRule, relay_targets, validate
from printscp.errors import PrintError
from printscp.jobs import PrintQueue
from printscp.model.enums import ExecutionStatus, PrinterStatus
from printscp.model.printer import Printer
from printscp.relay import Delivery
from printscp.relay.queue import DONE, FAILED, PENDING, RELAY_FILE, Relay, RelayQueue, retry_on_disk
from printscp.spool import load_spooled
from printscp.status import Status

TARGET = "FILMER"


class Target:
    """A scripted target: each attempt takes the next outcome (the last one repeats), and records its call."""

    def __init__(self, *outcomes: Delivery) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, str, frozenset[int], int]] = []  # job, target, skip, films in the request
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, relay: Relay, target: str, skip: frozenset[int], folder: Path) -> Delivery:
        self.gate.wait(30)
        films = len(load_spooled(folder).request.films)  # the pixels are there to send
        self.calls.append((relay.job_uid, target, skip, films))
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


DOWN = Delivery(False, error_comment=f"{TARGET}: cannot connect")
PRINTED = Delivery(True, films_printed=(0,), printer_status="NORMAL", printer_status_info="NORMAL")


def relay_config(tmp_path: Path, **relay: Any) -> Config:
    config = bundled_config(tmp_path / "films", nodes={TARGET: Node("127.0.0.1", 9)}, relay_to=(TARGET,))
    defaults: dict[str, Any] = {"retry_seconds": 0.05}
    return validate(Config(**{**config.__dict__, "relay": RelayConfig(**{**defaults, **relay})}))


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[PrintQueue, RelayQueue]] = []

    def start(config: Config, target: Target) -> tuple[PrintQueue, RelayQueue, Printer]:
        printer = Printer()
        relays = RelayQueue(config, config.archive.folder, deliver=target)
        pool = ThreadPoolExecutor(printscp.jobs.render_workers(config))
        queue = PrintQueue(config, {config.network.ae_title: printer}, pool=pool, relays=relays)
        made.append((queue, relays))
        return queue, relays, printer

    yield start
    for queue, relays in made:
        queue.stop()
        relays.stop()


def relay_file(config: Config, job: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((config.archive.folder / ".relay" / job / RELAY_FILE).read_text())
    return document


def test_a_target_that_is_down_is_tried_again_and_the_print_job_follows(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path)
    target = Target(DOWN, DOWN, PRINTED)
    queue, relays, printer = make(config, target)
    scu = Association(queue, printer)
    job = scu.print()
    wait_until(lambda: (j := queue.job(job)) is not None and j.finished_at is not None, 30, "the job finished")
    # PENDING QUEUED, PRINTING (the archive copy), PENDING while the target is down, DONE once it printed
    assert statuses(scu.events, job)[0] == (1, "QUEUED")
    assert (1, "PRINTER DOWN") in statuses(scu.events, job)
    assert statuses(scu.events, job)[-1] == (3, "NORMAL")
    assert [call[:3] for call in target.calls] == [(job, TARGET, frozenset())] * 3
    document = relay_file(config, job)["targets"][TARGET]
    assert (document["state"], document["attempts"], document["films_printed"]) == (DONE, 3, [0])
    # delivered everywhere: only relay.json is kept, the pixels are gone (dropped once the job is told DONE)
    folder = config.archive.folder / ".relay" / job
    wait_until(lambda: [p.name for p in folder.iterdir()] == [RELAY_FILE], 30, "only relay.json left")
    # the printer showed the target's trouble while it lasted
    assert printer.state.printer_status is PrinterStatus.NORMAL


def test_the_printer_shows_a_target_that_cannot_be_reached(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, retry_seconds=60)
    queue, relays, printer = make(config, Target(DOWN))
    Association(queue, printer).print()
    wait_until(lambda: printer.state.printer_status is PrinterStatus.WARNING, 30, "the printer in WARNING")
    assert printer.state.printer_status_info == "PRINTER DOWN"


def test_a_target_failure_status_is_shown_on_the_printer_and_its_return_clears_it(make: Any, tmp_path: Path) -> None:
    jam = Delivery(False, status=0xC602, error_comment=f"{TARGET}: N-ACTION answered 0xC602", printer_status="FAILURE",
                   printer_status_info="FILM JAM")  # fmt: skip
    config = relay_config(tmp_path)
    target = Target(jam, PRINTED)
    seen: list[tuple[str, str]] = []
    queue, relays, printer = make(config, target)
    printer.add_listener(lambda old, new: seen.append((new.printer_status.value, new.printer_status_info)))
    job = Association(queue, printer).print()
    wait_until(lambda: (j := queue.job(job)) is not None and j.finished_at is not None, 30, "the job finished")
    assert seen == [("FAILURE", "FILM JAM"), ("NORMAL", "NORMAL")]
    # the target's FAILURE did not stop the archive copy: the job printed, and is DONE
    assert queue.job(job).execution_status is ExecutionStatus.DONE  # type: ignore[union-attr]


def test_after_relay_a_failing_target_fails_the_n_action_naming_it(make: Any, tmp_path: Path) -> None:
    refused = Delivery(False, status=0xC602, error_comment=f"{TARGET}: N-ACTION Basic Film Box answered 0xC602")
    config = relay_config(tmp_path, acknowledge="after_relay")
    queue, relays, printer = make(config, Target(refused))
    with pytest.raises(PrintError) as raised:
        Association(queue, printer).print()
    assert raised.value.status == Status(0xC602)
    assert TARGET in raised.value.message and len(raised.value.message) <= 64
    (relay,) = relays.relays()
    assert relay.targets[TARGET].state == FAILED and relay.targets[TARGET].attempts == 1  # the SCU sends again


def test_after_relay_the_n_action_succeeds_once_the_target_printed(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, acknowledge="after_relay")
    target = Target(PRINTED)
    queue, relays, printer = make(config, target)
    job = Association(queue, printer).print()
    assert relays.relay(job).targets[TARGET].state == DONE  # type: ignore[union-attr]
    assert len(target.calls) == 1


def test_after_relay_a_target_that_does_not_answer_in_time_fails_the_n_action(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, acknowledge="after_relay", after_relay_timeout=0.2)
    target = Target(PRINTED)
    target.gate.clear()  # the target takes its time
    queue, relays, printer = make(config, target)
    with pytest.raises(PrintError, match=f"{TARGET} did not print it in 0.2 s") as raised:
        Association(queue, printer).print()
    assert raised.value.status is Status.PROCESSING_FAILURE
    target.gate.set()


def test_a_relay_failing_past_give_up_after_fails_the_print_job_and_can_be_retried(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, give_up_after=0.2)
    target = Target(DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, DOWN, PRINTED)
    queue, relays, printer = make(config, target)
    job = Association(queue, printer).print()
    wait_until(lambda: (j := queue.job(job)) is not None and j.finished_at is not None, 30, "the job finished")
    record = queue.job(job)
    assert record is not None and record.execution_status is ExecutionStatus.FAILURE
    assert record.execution_status_info == "PRINTER DOWN"
    assert relays.relay(job).targets[TARGET].state == FAILED  # type: ignore[union-attr]
    target.outcomes = [PRINTED]
    relays.retry(job)
    wait_until(lambda: relays.relay(job).targets[TARGET].state == DONE, 30, "the retried relay printed")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no target"):
        relays.retry(job)
    with pytest.raises(KeyError):
        relays.retry("1.2.3")


def test_relays_survive_a_restart_and_send_only_the_films_not_printed(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, retry_seconds=3600)
    half = Delivery(False, films_printed=(0,), status=0xC602, error_comment=f"{TARGET}: answered 0xC602")
    queue, relays, printer = make(config, Target(half))
    job = Association(queue, printer).print()
    wait_until(lambda: relays.relay(job).targets[TARGET].attempts == 1, 30, "the first attempt")  # type: ignore[union-attr]
    wait_until(lambda: relays.relay(job).targets[TARGET].state == PENDING, 30, "it waits")  # type: ignore[union-attr]
    queue.stop()
    relays.stop()
    # the next process, with a sooner retry: it reads relay.json and sends what is left
    config = relay_config(tmp_path, retry_seconds=0.05)
    target = Target(PRINTED)
    queue, relays, printer = make(config, target)
    document = relay_file(config, job)["targets"][TARGET]
    wait_until(lambda: relays.relay(job).targets[TARGET].state == DONE, 30, "delivered after the restart")  # type: ignore[union-attr]
    assert document["films_printed"] == [0]
    assert target.calls[0][2] == frozenset({0})


def test_a_job_spooled_but_not_queued_for_relay_before_a_kill_is_relayed_after(make: Any, tmp_path: Path) -> None:
    # as if killed between the spool and the relay: the job is in the spool (held there by a print delay)
    # and no relay of it exists
    config = relay_config(tmp_path)
    held = validate(Config(**{**config.__dict__, "faults": FaultConfig(print_delay=3600)}))
    printer = Printer()
    queue = PrintQueue(held, {held.network.ae_title: printer}, pool=ThreadPoolExecutor(1))
    job = Association(queue, printer).print()
    queue.stop()
    assert [p.name for p in (config.archive.folder / ".spool" / "jobs").iterdir()] == [job]
    assert not (config.archive.folder / ".relay").exists()
    target = Target(PRINTED)
    queue, relays, printer = make(config, target)
    wait_until(lambda: (r := relays.relay(job)) is not None and r.targets[TARGET].state == DONE, 30, "relayed")
    assert [call[0] for call in target.calls] == [job]


def test_rules_restrict_a_target_to_some_calling_ae_titles(tmp_path: Path) -> None:
    config = bundled_config(
        tmp_path / "films",
        nodes={TARGET: Node("127.0.0.1", 9)},
        sections={
            "paper": {"PAPER": PaperPrinter("ipp://127.0.0.1:631/ipp/print")},
            "relay": RelayConfig(rules=(RelayRule("PAPER", ("US1",)),)),
        },
        relay_to=(TARGET, "PAPER"),
    )
    assert relay_targets(config, config.network.ae_title, "US1") == (TARGET, "PAPER")
    assert relay_targets(config, config.network.ae_title, "CT1") == (TARGET,)
    assert relay_targets(config, "UNKNOWN", "CT1") == (TARGET,)  # the default printer's


def test_a_relay_retried_with_no_server_running_is_sent_at_the_next_start(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path, give_up_after=0.1)
    queue, relays, printer = make(config, Target(DOWN))
    job = Association(queue, printer).print()
    wait_until(lambda: relays.relay(job).targets[TARGET].state == FAILED, 30, "given up")  # type: ignore[union-attr]
    queue.stop()
    relays.stop()
    assert retry_on_disk(config.archive.folder, job).targets[TARGET].state == PENDING
    with pytest.raises(ValueError, match="no target"):
        retry_on_disk(config.archive.folder, job)
    target = Target(PRINTED)
    queue, relays, printer = make(config, target)
    wait_until(lambda: relays.relay(job).targets[TARGET].state == DONE, 30, "sent at the start")  # type: ignore[union-attr]
    assert [call[0] for call in target.calls] == [job]


def test_a_start_deletes_finished_relays_whose_films_left_the_archive(make: Any, tmp_path: Path) -> None:
    config = relay_config(tmp_path)
    queue, relays, printer = make(config, Target(PRINTED))
    kept, removed = Association(queue, printer).print(), Association(queue, printer).print()
    wait_until(lambda: all(r.finished for r in relays.relays()) and len(relays.relays()) == 2, 30, "relayed")
    assert queue.wait_idle()
    queue.archive.remove_job(removed)
    queue.stop()
    relays.stop()
    restarted = RelayQueue(config, config.archive.folder, deliver=Target(PRINTED))
    try:
        assert [r.job_uid for r in restarted.relays()] == [kept]
        assert not (config.archive.folder / ".relay" / removed).exists()
    finally:
        restarted.stop()
