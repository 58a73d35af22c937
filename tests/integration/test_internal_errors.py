"""Our bugs are ours (issue 10 item 6): an exception inside printscp's own code is answered 0110 "internal
error" with its traceback in the log, never a status that blames the SCU; a value pydicom cannot read is
the SCU's malformed data (0106 naming the element). The association goes on either way."""

from __future__ import annotations

import logging

import pytest
from conftest import RunningServer
from printscu import PrintSCU
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from printscp import uids
from printscp.model import values
from printscp.model.values import Context
from printscp.status import Status

SESSION = uids.BASIC_FILM_SESSION


def _broken_parser(elem: DataElement, ctx: Context) -> int:
    raise ZeroDivisionError("a bug of ours")


def test_a_bug_in_a_value_rule_is_0110_with_a_traceback(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a bug inside the Number of Copies rule, wherever the table holds it
    monkeypatch.setattr(values.number_of_copies, "__code__", _broken_parser.__code__)
    with caplog.at_level(logging.ERROR, logger="printscp"), PrintSCU(running.address) as scu:
        response = scu.n_create(SESSION, _session(NumberOfCopies=2))
        assert response.status == Status.PROCESSING_FAILURE
        assert "internal error" in response.comment
        assert response.offending == []  # nothing the SCU sent is blamed
        # the association is still served: a request that does not reach the bug succeeds
        assert scu.n_create(SESSION, _session(FilmSessionLabel="after")).status == Status.SUCCESS
    tracebacks = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError)]
    assert tracebacks, "the bug's traceback is logged"


def test_a_value_pydicom_cannot_read_is_0106_naming_it(running: RunningServer) -> None:
    ds = _session()
    # Number of Copies is IS: bytes that are no integer string cannot be read as one
    # sent as raw bytes, so that only the server reads them
    ds[0x20000010] = RawDataElement(Tag(0x20000010), "IS", 4, b"1x2 ", 0, True, True)  # type: ignore[assignment]
    with PrintSCU(running.address) as scu:
        response = scu.n_create(SESSION, ds)
        assert response.status == Status.INVALID_ATTRIBUTE_VALUE
        assert response.offending == [0x20000010]
        assert response.comment.startswith("(2000,0010) NumberOfCopies: ")


def _session(**attributes: object) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds
