"""net/association_log.py: the association's end line when pynetdicom's events come in an unlucky order."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from pynetdicom.pdu_primitives import A_ABORT

from printscp.net import association_log


class FakeAssociation:
    """What the end handlers read of an association whose connection has closed, nothing queued any more."""

    def __init__(self) -> None:
        self.is_released = False
        self.dul = SimpleNamespace(state_machine=SimpleNamespace(current_state="Sta1"), peek_next_pdu=lambda: None)


def event(assoc: Any, **fields: Any) -> Any:
    return SimpleNamespace(assoc=assoc, **fields)


def test_a_peer_abort_taken_by_the_reactor_but_not_yet_reported_is_logged_as_aborted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The reactor has taken the A-ABORT off the DUL's queue (EVT_ACSE_RECV) and not yet reported it
    (EVT_ABORTED) when the DUL reports the closed connection: the queue is empty by then."""
    assoc = FakeAssociation()
    association_log.on_conn_open(event(assoc, address=("127.0.0.1", 1)))
    association_log._entry(assoc).state = "accepted"
    abort = A_ABORT()
    abort.abort_source = 0
    caplog.set_level(logging.INFO, logger=association_log.__name__)
    association_log.on_acse_recv(event(assoc, primitive=abort))
    association_log.on_conn_close(event(assoc))
    association_log.on_aborted(event(assoc))  # the reactor's report comes after: no second line
    ends = [r.getMessage() for r in caplog.records if r.getMessage().startswith("association ")]
    assert len(ends) == 1 and ends[0].startswith("association aborted"), ends


def test_a_connection_closed_without_release_or_abort_is_logged_as_closed(caplog: pytest.LogCaptureFixture) -> None:
    assoc = FakeAssociation()
    association_log.on_conn_open(event(assoc, address=("127.0.0.1", 2)))
    association_log._entry(assoc).state = "accepted"
    caplog.set_level(logging.INFO, logger=association_log.__name__)
    association_log.on_conn_close(event(assoc))
    ends = [r.getMessage() for r in caplog.records if r.getMessage().startswith("association ")]
    assert len(ends) == 1 and ends[0].startswith("association closed"), ends
