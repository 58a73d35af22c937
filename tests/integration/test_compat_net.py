"""compat.py's server, reactor and socket tools on real loopback associations (items 6 to 9 of its docstring).

The unit tests in tests/unit/test_compat.py pin the pynetdicom code these rely on; these show that the
tools still work end to end with the installed pynetdicom.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.events import Event

from printscp.net import compat

VERIFICATION = "1.2.840.10008.1.1"
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
TIMEOUT = 10.0


class RecordingAssociation(compat.ReactorAssociation):
    """Counts its reactor's turns and sends one Printer event report when asked, as notify.py does."""

    turns: int
    send_event: threading.Event
    event_answered: threading.Event
    answer: compat.Message | None

    def adopted(self) -> None:
        self.turns = 0
        self.send_event = threading.Event()
        self.event_answered = threading.Event()
        self.answer = None

    def between_requests(self) -> None:
        self.turns += 1
        if not self.send_event.is_set() or self.event_answered.is_set():
            return
        context = next(cx for cx in self.accepted_contexts if cx.abstract_syntax == PRINTER)
        info = Dataset()
        info.PrinterStatusInfo = "SUPPLY LOW"
        compat.send_event_report(self, context, 41, PRINTER, PRINTER_INSTANCE, 2, info)
        while self.is_established:
            message = compat.next_message(self, timeout=0.05)
            if message is not None and message.answers_event_report(41):
                self.answer = message
                break
        self.event_answered.set()


@dataclass
class Seen:
    """What the server's handlers saw."""

    associations: list[Any] = field(default_factory=list)
    called: list[str | None] = field(default_factory=list)
    nodelay: list[int] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    aborted: threading.Event = field(default_factory=threading.Event)


@dataclass
class Running:
    ae: AE
    server: compat.AssociationServer
    port: int
    seen: Seen


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.fixture
def running() -> Iterator[Running]:
    seen = Seen()

    def on_open(event: Event) -> None:
        compat.set_tcp_nodelay(event.assoc)

    def on_echo(event: Event) -> int:
        seen.associations.append(event.assoc)
        seen.called.append(compat.called_ae_title(event.assoc))
        seen.nodelay.append(_nodelay(event.assoc.dul.socket.socket))  # the test may look; printscp may not
        return 0x0000

    ae = AE(ae_title="COMPATSCP")
    ae.add_supported_context(VERIFICATION)
    ae.add_supported_context(PRINTER)
    handlers = [
        (evt.EVT_CONN_OPEN, on_open),
        (evt.EVT_C_ECHO, on_echo),
        (evt.EVT_RELEASED, lambda event: seen.released.set()),
        (evt.EVT_ABORTED, lambda event: seen.aborted.set()),
    ]
    server = compat.start_server(ae, ("127.0.0.1", 0), handlers, RecordingAssociation)
    try:
        yield Running(ae, server, int(server.server_address[1]), seen)
    finally:
        if server in ae._servers:
            server.shutdown()


def _requestor() -> AE:
    ae = AE(ae_title="COMPATSCU")
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(PRINTER)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae


def test_start_server_adopts_each_association_and_keeps_the_ae_bookkeeping(running: Running) -> None:
    assert running.server in running.ae._servers, "start_server no longer registers the server like start_server"
    assoc = _requestor().associate("127.0.0.1", running.port, ae_title="CALLED")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    (server_side,) = running.seen.associations
    assert isinstance(server_side, RecordingAssociation) and server_side.turns > 0  # our reactor serves it
    assert running.seen.called == ["CALLED"]  # item 9: the Called AE Title of the request
    assert all(isinstance(cx, compat.TemplateContext) for cx in running.server.contexts)
    assoc.release()
    assert running.seen.released.wait(TIMEOUT), "the reactor did not see the release (compat item 6)"
    running.server.shutdown()
    assert running.server not in running.ae._servers, "the server's shutdown no longer removes it from AE._servers"


def test_set_tcp_nodelay_reaches_both_ends_sockets(running: Running) -> None:
    assoc = _requestor().associate("127.0.0.1", running.port, ae_title="CALLED")
    assert assoc.is_established
    compat.set_tcp_nodelay(assoc)  # as the forwarder does
    assert _nodelay(assoc.dul.socket.socket) != 0
    assert assoc.send_c_echo().Status == 0x0000
    assert running.seen.nodelay and running.seen.nodelay[0] != 0  # set by the EVT_CONN_OPEN handler
    assoc.release()


def test_the_reactor_sees_an_abort(running: Running) -> None:
    assoc = _requestor().associate("127.0.0.1", running.port, ae_title="CALLED")
    assert assoc.is_established and assoc.send_c_echo().Status == 0x0000
    assoc.abort()
    assert running.seen.aborted.wait(TIMEOUT), "the reactor did not see the abort (compat item 6)"


def test_an_event_report_sent_between_requests_gets_its_response(running: Running) -> None:
    received: list[tuple[int, str]] = []

    def on_event_report(event: Event) -> tuple[int, None]:
        received.append((event.request.EventTypeID, event.event_information.PrinterStatusInfo))
        return 0x0000, None

    assoc = _requestor().associate(
        "127.0.0.1", running.port, ae_title="CALLED", evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_event_report)]
    )
    assert assoc.is_established and assoc.send_c_echo().Status == 0x0000
    (server_side,) = running.seen.associations
    server_side.send_event.set()
    assert server_side.event_answered.wait(TIMEOUT)
    assert server_side.answer is not None and server_side.answer.status == 0x0000
    assert received == [(2, "SUPPLY LOW")]
    assert assoc.send_c_echo().Status == 0x0000  # the association goes on as before
    assoc.release()
