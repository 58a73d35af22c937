"""The association log on real associations: one line at accept, reject, release, abort and close, with the
association's id on every line logged while serving it; JSON lines from `printscp serve --log-format json`;
no false ERRORs from the network library; repeated forwarding failures rate-limited."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO, RunningServer
from dcmtk import dcmtk_environment, tool
from printscu import PrintSCU, ramp
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from waiting import wait_until

from printscp import uids
from printscp.config import Node
from printscp.net import association_log, forward

StartServer = Callable[..., RunningServer]
LOGGER = "printscp.net.association_log"


class Captured:
    """The records caplog holds for the current phase of the test (it starts a new list for each phase)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(list(self._caplog.records))


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    """Every record at DEBUG and above, with its association id, as `printscp serve` logs them."""
    id_filter = association_log.AssociationFilter()
    caplog.handler.addFilter(id_filter)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("pynetdicom").setLevel(logging.INFO)  # pynetdicom's own DEBUG dump is not needed here
    association_log.filter_network_noise()
    yield Captured(caplog)
    association_log.filter_network_noise(False)
    logging.getLogger("pynetdicom").setLevel(logging.NOTSET)
    caplog.handler.removeFilter(id_filter)


def lines(records: Captured, start: str, logger: str = LOGGER) -> list[logging.LogRecord]:
    return [r for r in records if r.name == logger and r.getMessage().startswith(start)]


def wait_for_line(records: Captured, start: str, count: int = 1) -> list[logging.LogRecord]:
    wait_until(lambda: len(lines(records, start)) >= count, 10, f"{count} log line(s) '{start}'")
    return lines(records, start)


def test_accept_and_release_lines_and_the_id_on_every_line(running: RunningServer, records: Captured) -> None:
    with PrintSCU(running.address, calling="LOG_SCU") as scu:
        local_port = scu.assoc.requestor.port
        session = scu.film_session()
        box, images, _ = scu.film_box(session, "STANDARD\\1,1")
        assert scu.set_image(images[0], 1, ramp()).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
    [accepted] = wait_for_line(records, "association accepted")
    [released] = wait_for_line(records, "association released")
    association = accepted.association_id  # type: ignore[attr-defined]
    assert re.fullmatch(r"[0-9a-z]{10}", association)
    assert released.association_id == association  # type: ignore[attr-defined]
    text = accepted.getMessage()
    assert f"127.0.0.1:{local_port}, LOG_SCU -> PRINTSCP" in text
    assert "3 of 3 contexts: Basic Grayscale Print Management Meta, Presentation LUT, Basic Annotation Box" in text
    assert re.search(
        r"released: 127\.0\.0\.1:\d+, LOG_SCU -> PRINTSCP, \d+\.\d\d s, 4 message\(s\), 1 film\(s\)$",
        released.getMessage(),
    ), released.getMessage()
    # the handlers' and the engine's lines of that association carry its id; the film record keeps it
    served = [r for r in records if r.name == "printscp.net.handlers"]
    assert len(served) >= 4 and {r.association_id for r in served} == {association}  # type: ignore[attr-defined]
    [job] = running.jobs()
    assert job.manifest["association_id"] == association


def test_dcmtk_echo_and_a_context_proposed_twice_are_logged_once(running: RunningServer, records: Captured) -> None:
    echo = subprocess.run(
        [tool("echoscu"), "-aet", "DCMTK_ECHO", "-aec", "PRINTSCP", running.host, str(running.port)],
        capture_output=True,
        text=True,
        timeout=30,
        env=dcmtk_environment(),
        check=False,
    )
    assert echo.returncode == 0, echo.stderr
    ae = AE("TWICE")
    ae.add_requested_context(uids.VERIFICATION)
    ae.add_requested_context(uids.VERIFICATION)
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    assert assoc.is_established
    assoc.release()
    accepted = wait_for_line(records, "association accepted", 2)
    assert "DCMTK_ECHO -> PRINTSCP, 1 of 1 contexts: Verification" in accepted[0].getMessage()
    assert accepted[1].getMessage().endswith("TWICE -> PRINTSCP, 2 of 2 contexts: Verification")
    released = wait_for_line(records, "association released", 2)
    assert [r.association_id for r in released] == [r.association_id for r in accepted]  # type: ignore[attr-defined]
    assert "1 message(s), 0 film(s)" in released[0].getMessage()


def test_a_rejected_association_is_logged_with_peer_titles_and_reason(
    start_server: StartServer, records: Captured
) -> None:
    network = dataclasses.replace(start_server().server.config.network, allowed_calling_ae_titles=("WARD_3",))
    running = start_server(sections={"network": network})
    ae = AE("INTRUDER")
    ae.add_requested_context(uids.VERIFICATION)
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    assert assoc.is_rejected
    [rejected] = wait_for_line(records, "association rejected")
    assert rejected.levelno == logging.WARNING
    assert re.fullmatch(
        r"association rejected: 127\.0\.0\.1:\d+, INTRUDER -> PRINTSCP: "
        r"rejected-permanent, service-user: calling-AE-title-not-recognized",
        rejected.getMessage(),
    ), rejected.getMessage()
    assert rejected.association_id  # type: ignore[attr-defined]
    assert not lines(records, "association released") and not lines(records, "association closed")


def test_an_aborted_association_and_a_connection_without_association(running: RunningServer, records: Captured) -> None:
    scu = PrintSCU(running.address, calling="ABORTER")
    scu.film_session()
    scu.assoc.abort()
    [aborted] = wait_for_line(records, "association aborted")
    assert re.search(r"ABORTER -> PRINTSCP, \d+\.\d\d s, 1 message\(s\), 0 film\(s\)$", aborted.getMessage())
    [accepted] = lines(records, "association accepted")
    assert aborted.association_id == accepted.association_id  # type: ignore[attr-defined]
    socket.create_connection(running.address).close()  # a port probe: connects, sends nothing
    [closed] = wait_for_line(records, "connection from 127.0.0.1:")
    assert "without an association" in closed.getMessage() and closed.association_id  # type: ignore[attr-defined]


def _item(item_type: int, data: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(data)) + data


def _uid(uid: str) -> bytes:
    return uid.encode() + b"\0" * (len(uid) % 2)


def associate_release_and_reset(address: tuple[str, int], calling: str) -> None:
    """What CTN's print_client does: A-ASSOCIATE-RQ, A-RELEASE-RQ, and once the A-RELEASE-RP is in, close
    TCP at once; here with a reset (SO_LINGER 0, no shutdown), the harshest way to do it."""
    context = _item(0x30, _uid(uids.VERIFICATION)) + _item(0x40, _uid("1.2.840.10008.1.2"))
    body = (
        struct.pack(">HH", 1, 0)
        + b"PRINTSCP".ljust(16)
        + calling.encode().ljust(16)
        + b"\0" * 32
        + _item(0x10, _uid("1.2.840.10008.3.1.1.1"))
        + _item(0x20, bytes([1, 0, 0, 0]) + context)
        + _item(0x50, _item(0x51, struct.pack(">I", 16384)) + _item(0x52, _uid("1.2.826.0.1.3680043.9.9999.7")))
    )
    with socket.create_connection(address, timeout=10) as sock:

        def pdu() -> int:
            header = sock.recv(6, socket.MSG_WAITALL)
            pdu_type, _, length = struct.unpack(">BBI", header)
            sock.recv(length, socket.MSG_WAITALL)
            return int(pdu_type)

        sock.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
        assert pdu() == 0x02, "A-ASSOCIATE-AC"
        sock.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
        assert pdu() == 0x06, "A-RELEASE-RP"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_peer_resetting_tcp_after_the_release_is_no_error(running: RunningServer, records: Captured) -> None:
    """found-from-outside 3: a peer that closes TCP right after the A-RELEASE-RP is normal."""
    for n in range(5):
        associate_release_and_reset(running.address, "RESETTER")
        wait_for_line(records, "association released", n + 1)
    wait_until(lambda: running.server.active_engines == 0, 10, "the associations to end")
    problems = [r for r in records if r.levelno >= logging.WARNING]
    assert not problems, [f"{r.name}: {r.getMessage()}" for r in problems]
    assert all("RESETTER -> PRINTSCP, " in r.getMessage() for r in lines(records, "association released"))


def _dicom_file(path: Path) -> Path:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF Storage, as the archive makes
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def test_forwarding_to_a_pacs_that_is_down_logs_one_line_a_minute(
    tmp_path: Path, records: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """found-from-outside 4: one line per attempt, not two network ERRORs and a WARNING, then rate-limited."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(forward, "MAX_BACKOFF", 0.02)  # retry at once, so that a test sees many attempts
    forwarder = forward.Forwarder(tmp_path, {"PACS": Node("127.0.0.1", port)}, ["PACS"], "PRINTSCP")
    try:
        forwarder.enqueue([_dicom_file(tmp_path / "film.dcm")])
        again = "forwarding to PACS failed again (cannot connect)"
        wait_until(lambda: len(lines(records, again, forward.__name__)) >= 5, 30, "five retries")
    finally:
        forwarder.stop()
    [first] = lines(records, "forwarding to PACS failed (cannot connect)", forward.__name__)
    assert first.levelno == logging.WARNING
    assert all(r.levelno == logging.DEBUG for r in lines(records, again, forward.__name__))
    loud = [r for r in records if r.levelno >= logging.WARNING and r is not first]
    assert not loud, [f"{r.name}: {r.getMessage()}" for r in loud]
    assert forwarder.pending() == {"PACS": 1}  # nothing lost


def test_repeats_are_counted_and_reported_once_a_minute() -> None:
    now = [0.0]
    repeats = association_log.Repeats(60, clock=lambda: now[0])
    assert repeats.admit("PACS") == 0  # the first is logged
    for _ in range(7):
        now[0] += 5
        assert repeats.admit("PACS") is None  # counted, not logged
    assert repeats.admit("other") == 0  # another failure is another line
    now[0] = 61
    assert repeats.admit("PACS") == 7  # logged with the count of those not logged
    assert repeats.forget("PACS") == 0


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    config = tmp_path / "config.toml"
    text = (REPO / "config.toml").read_text()
    config.write_text(text.replace("allowed_calling_ae_titles = []", 'allowed_calling_ae_titles = ["JSON_ECHO"]'))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "printscp",
            "serve",
            "--no-web",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--archive",
            str(tmp_path / "films"),
            "--log-format",
            "json",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stderr is not None
    output: list[str] = []
    port = None
    deadline = time.monotonic() + 20
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        output.append(line)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        port = int(match.group(1)) if match else None
    assert port is not None, "".join(output)
    yield process, port, output
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_log_format_json_writes_one_object_per_line(
    json_server: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    process, port, output = json_server
    for calling, options, succeeds in [("JSON_ECHO", [], True), ("JSON_ECHO", ["--abort"], True), ("OTHER", [], False)]:
        command = [tool("echoscu"), "-aet", calling, "-aec", "PRINTSCP", *options, "127.0.0.1", str(port)]
        echo = subprocess.run(command, capture_output=True, text=True, timeout=30, env=dcmtk_environment())
        assert (echo.returncode == 0) is succeeds, echo.stderr
    assert process.stderr is not None
    # the server logs each association's end when its reactor sees it: wait for the three end lines
    # (released, aborted, rejected) before stopping it, so that none is cut off by the stop
    guard = threading.Timer(20, process.kill)  # a line that never comes ends the readline below
    guard.start()
    ends = ("association released", "association aborted", "association rejected")
    while sum(any(end in line for end in ends) for line in output) < 3 and (line := process.stderr.readline()):
        output.append(line)
    guard.cancel()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    output += process.stderr.read().splitlines(keepends=True)
    objects = [json.loads(line) for line in output]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(o) for o in objects)
    ours = [o for o in objects if o["logger"] == LOGGER]
    accepted = [o for o in ours if o["message"].startswith("association accepted")]
    ended = [o for o in ours if o["message"].startswith(("association released", "association aborted"))]
    rejected = [o for o in ours if o["message"].startswith("association rejected")]
    assert len(accepted) == 2 and len(ended) == 2 and len(rejected) == 1, ours
    assert [o["association"] for o in accepted] == [o["association"] for o in ended]
    assert [o["message"].split(":")[0] for o in ended] == ["association released", "association aborted"]
    assert "OTHER -> PRINTSCP: rejected-permanent" in rejected[0]["message"] and rejected[0]["level"] == "WARNING"
    assert rejected[0]["association"] not in {o["association"] for o in accepted}
    echoes = [o for o in objects if o["message"].startswith("C-ECHO from")]
    assert [o["association"] for o in echoes] == [o["association"] for o in accepted]
