"""Slow, huge and idle connections against a real server with short limits (issue 11 items 1 to 3).

Every wait is on a socket: recv() returning b"" (closed) or a PDU; deadlines are derived from the configured
timeouts and generous, since they only matter when a test is failing. benchmarks/hostile_connections.py runs
the full-size attacks against `printscp serve` with the default config.
"""

from __future__ import annotations

import dataclasses
import logging
import select
import socket
import struct
import time
from collections.abc import Callable

import pytest
from pynetdicom import AE
from tests.conftest import RunningServer
from tests.waiting import wait_until

from printscp.config import NetworkConfig

ARTIM, PDU, IDLE = 0.5, 1.0, 1.5
SHORT = NetworkConfig(
    artim_timeout=ARTIM,
    pdu_timeout=PDU,
    idle_timeout=IDLE,
    max_pending_connections=6,
    max_connections_per_ip=4,
    max_associations=2,
)
VERIFICATION = "1.2.840.10008.1.1"
A_ABORT, A_ASSOCIATE_RJ = 0x07, 0x03


def hostile(running: RunningServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(running.address, timeout=30, source_address=(source, 0))
    return sock


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (monotonic)."""
    received = bytearray()
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after the deadline; received {bytes(received[:20])!r}") from None
    return bytes(received), time.monotonic()


def associate_rq(called: str = "PRINTSCP", calling: str = "HOSTILE") -> bytes:
    """A minimal valid A-ASSOCIATE-RQ PDU proposing Verification (PS3.8 9.3.2)."""

    def item(kind: int, value: bytes) -> bytes:
        return struct.pack(">BBH", kind, 0, len(value)) + value

    context = item(0x30, b"1.2.840.10008.3.1.1.1")
    presentation = item(
        0x20, bytes([1, 0, 0, 0]) + item(0x30, VERIFICATION.encode()) + item(0x40, b"1.2.840.10008.1.2")
    )
    user = item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, b"1.2.3"))
    body = struct.pack(">HH", 1, 0) + called.encode().ljust(16) + calling.encode().ljust(16) + bytes(32)
    body += context + presentation + user
    return struct.pack(">BBL", 0x01, 0, len(body)) + body


def read_pdu(sock: socket.socket) -> bytes:
    header = sock.recv(6, socket.MSG_WAITALL)
    assert len(header) == 6, header
    length = struct.unpack(">L", header[2:])[0]
    return header + sock.recv(length, socket.MSG_WAITALL)


def associated(running: RunningServer, calling: str = "HOSTILE", source: str = "127.0.0.1") -> socket.socket:
    sock = hostile(running, source)
    sock.sendall(associate_rq(calling=calling))
    assert read_pdu(sock)[0] == 0x02  # A-ASSOCIATE-AC
    return sock


def echo(running: RunningServer) -> bool:
    ae = AE(ae_title="GOOD")
    ae.add_requested_context(VERIFICATION)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server(sections={"network": dataclasses.replace(SHORT)})


def test_a_huge_pdu_is_aborted_on_its_header(server: RunningServer) -> None:
    sock = associated(server)
    sent = time.monotonic()
    sock.sendall(struct.pack(">BBL", 0x04, 0, 1 << 30) + bytes(4096))  # a P-DATA-TF of 1 GiB
    received, closed = read_until_closed(sock, sent + 10)
    assert received[:1] == bytes([A_ABORT]), received
    assert received[8:10] == bytes([0x02, 0x06])  # service-provider, invalid PDU parameter value
    assert closed - sent < 5
    assert echo(server)


def test_a_huge_associate_request_is_aborted_before_association(server: RunningServer) -> None:
    sock = hostile(server)
    sock.sendall(struct.pack(">BBL", 0x01, 0, 1 << 30) + bytes(4096))
    received, _ = read_until_closed(sock, time.monotonic() + 10)
    assert received[:1] == bytes([A_ABORT])
    assert server.server._server is not None
    assert server.server._server.connections.counts[2] == 0  # nothing buffered


def test_a_silent_connection_is_closed_by_artim(server: RunningServer) -> None:
    sock = hostile(server)
    opened = time.monotonic()
    received, closed = read_until_closed(sock, opened + 2 * ARTIM + 5)
    assert received == b""
    assert closed - opened >= ARTIM * 0.9


def test_a_trickled_associate_request_is_closed_by_artim(server: RunningServer) -> None:
    sock = hostile(server)
    opened = time.monotonic()
    request = associate_rq()
    for byte in request[:40]:
        if _readable(sock):  # closed
            break
        try:
            sock.send(bytes([byte]))
        except OSError:
            break
        time.sleep(ARTIM / 10)  # the attack itself: a byte every tenth of ARTIM
    _, closed = read_until_closed(sock, opened + 2 * ARTIM + 5)
    assert closed - opened < 2 * ARTIM + 5


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def test_a_trickled_pdu_after_association_is_aborted_by_pdu_timeout(server: RunningServer) -> None:
    sock = associated(server)
    started = time.monotonic()
    header = struct.pack(">BBL", 0x04, 0, 100)
    sock.sendall(header)
    received = b""
    for _ in range(100):  # a byte every PDU / 5 s: each resets nothing
        if _readable(sock):
            received, closed = read_until_closed(sock, started + PDU + 10)
            break
        sock.send(b"\0")
        time.sleep(PDU / 5)
    else:
        raise AssertionError("never aborted")
    assert received[:1] == bytes([A_ABORT])
    assert closed - started < PDU + 5


def test_an_idle_association_is_aborted(server: RunningServer) -> None:
    sock = associated(server)
    established = time.monotonic()
    received, closed = read_until_closed(sock, established + 2 * IDLE + 5)
    assert received[:1] == bytes([A_ABORT])
    assert closed - established >= IDLE * 0.9


def test_held_connections_do_not_lock_out_a_legitimate_client(server: RunningServer) -> None:
    # More idle and half-request connections than both limits allow, from 127.0.0.2 and 127.0.0.3.
    idle = [hostile(server, "127.0.0.2") for _ in range(6)]
    half = [hostile(server, "127.0.0.3") for _ in range(6)]
    for sock in half:
        sock.sendall(associate_rq()[:30])
    assert all(echo(server) for _ in range(3))
    # The oldest beyond the limits were dropped at once; the rest close by ARTIM; none outlives 2 x ARTIM
    # (after the last of them opened) by more than the deadline's slack.
    deadline = time.monotonic() + 2 * ARTIM + 5
    for sock in idle + half:
        read_until_closed(sock, deadline)
    table = server.server._server.connections  # type: ignore[union-attr]
    wait_until(lambda: table.counts == (0, 0, 0), 5, "the table forgets closed connections")


def test_the_oldest_pending_connection_is_dropped_for_a_new_one(server: RunningServer) -> None:
    first = hostile(server)
    others = [hostile(server) for _ in range(SHORT.max_connections_per_ip)]
    # The fifth connection from 127.0.0.1 dropped the first, long before ARTIM.
    read_until_closed(first, time.monotonic() + ARTIM * 0.8)
    for sock in others:
        sock.close()


def test_associations_beyond_max_associations_are_rejected_and_logged(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    held = []
    for _ in range(SHORT.max_associations):
        held.append(associated(server))
    caplog.set_level(logging.WARNING, logger="printscp")
    sock = hostile(server)
    sock.sendall(associate_rq(calling="LATECOMER"))
    received, _ = read_until_closed(sock, time.monotonic() + 2 * ARTIM + 5)
    # PS3.8 9.3.4: A-ASSOCIATE-RJ, rejected-transient, service-provider (presentation), local-limit-exceeded
    assert received[:1] == bytes([A_ASSOCIATE_RJ])
    assert received[7:10] == bytes([0x02, 0x03, 0x02])
    assert any("LATECOMER" in r.getMessage() and "local-limit-exceeded" in r.getMessage() for r in caplog.records)
    for sock in held:
        sock.close()


def test_a_calling_ae_not_allowed_is_rejected_and_logged(
    start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    network = dataclasses.replace(SHORT, allowed_calling_ae_titles=("FRIEND",))
    running = start_server(sections={"network": network})
    caplog.set_level(logging.WARNING, logger="printscp")
    sock = hostile(running)
    sock.sendall(associate_rq(calling="STRANGER"))
    received, _ = read_until_closed(sock, time.monotonic() + 2 * ARTIM + 5)
    assert received[:1] == bytes([A_ASSOCIATE_RJ])
    assert received[7:10] == bytes([0x01, 0x01, 0x03])  # permanent, service-user, calling AE not recognized
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert any(
        "STRANGER" in line and "127.0.0.1" in line and "calling-AE-title-not-recognized" in line for line in lines
    )


def test_an_unknown_called_ae_title_is_rejected_and_logged_when_required(
    start_server: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    network = dataclasses.replace(SHORT, require_called_ae_title=True)
    running = start_server(sections={"network": network})
    caplog.set_level(logging.WARNING, logger="printscp")
    sock = hostile(running)
    sock.sendall(associate_rq(called="NOT_A_PRINTER", calling="MODALITY"))
    received, _ = read_until_closed(sock, time.monotonic() + 2 * ARTIM + 5)
    assert received[:1] == bytes([A_ASSOCIATE_RJ])
    assert received[7:10] == bytes([0x01, 0x01, 0x07])  # permanent, service-user, called AE not recognized
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    expected = ("MODALITY", "NOT_A_PRINTER", "127.0.0.1", "called-AE-title-not-recognized")
    assert any(all(part in line for part in expected) for line in lines), lines
    own = hostile(running)  # the printer's own title still associates
    own.sendall(associate_rq(called=network.ae_title, calling="MODALITY"))
    own.settimeout(5)
    assert own.recv(1) == bytes([0x02])  # A-ASSOCIATE-AC
    own.close()
