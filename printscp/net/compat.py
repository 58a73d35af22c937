"""Two adjustments to pynetdicom 3.0 that a strict print SCP needs, applied once at import.

1. pynetdicom aborts the association when a request names a SOP class it does not know (a retired
   print class, or any unknown UID), before any handler runs. PS3.7 wants a status (0118 No Such SOP
   Class) instead. We route DIMSE-N requests of unknown classes to the Print Management service
   class, whose handlers are ours and answer 0118; DIMSE-C requests keep pynetdicom's behaviour.
2. pynetdicom's DIMSE-N response primitives cannot carry Offending Element (0000,0901), the PS3.7
   Annex C failure field that names the attribute at fault. We add it to the N-CREATE, N-SET,
   N-GET, N-ACTION and N-DELETE responses (command set, primitive and status keywords).
3. pynetdicom's DUL thread sleeps 1 ms whenever it finds nothing to do, so every message, and every
   PDU of a large N-SET that has not fully arrived, waits up to a millisecond more. Our DUL polls
   every 50 us for 50 ms after the last traffic and every millisecond (pynetdicom's delay) when the
   association is quiet: lower latency during a print, the same idle cost.

1 and 2 are covered by integration tests that look at the bytes on the wire; 3 is measured by
benchmarks/print_vs_dcmprscp.py.
"""

from __future__ import annotations

import time
from typing import Any

import pynetdicom.association
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dul import DULServiceProvider
from pynetdicom.service_class import ServiceClass
from pynetdicom.service_class_n import PrintManagementServiceClass
from pynetdicom.sop_class import uid_to_service_class

_N_RESPONSES = ("N-CREATE-RSP", "N-SET-RSP", "N-GET-RSP", "N-ACTION-RSP", "N-DELETE-RSP")
_N_PRIMITIVES = (dimse_primitives.N_CREATE, dimse_primitives.N_SET, dimse_primitives.N_GET,
                 dimse_primitives.N_ACTION, dimse_primitives.N_DELETE)


def _service_class_or_print(uid: str) -> Any:
    service_class = uid_to_service_class(uid)
    return PrintManagementServiceClass if service_class is ServiceClass else service_class


class _AdaptiveDUL(DULServiceProvider):  # type: ignore[misc]
    """pynetdicom's DUL with a run-loop delay that depends on how recently there was traffic."""

    BUSY_DELAY, IDLE_DELAY, BUSY_FOR = 0.00005, 0.001, 0.05  # seconds

    _last_traffic = 0.0

    @property  # type: ignore[override]
    def _run_loop_delay(self) -> float:
        busy = time.monotonic() - self._last_traffic < self.BUSY_FOR
        return self.BUSY_DELAY if busy else self.IDLE_DELAY

    @_run_loop_delay.setter
    def _run_loop_delay(self, value: float) -> None:
        pass  # pynetdicom's constant 0.001 is replaced by the property above

    def _is_transport_event(self) -> bool:
        if super()._is_transport_event():
            self._last_traffic = time.monotonic()
            return True
        return False

    def _process_recv_primitive(self) -> bool:
        if super()._process_recv_primitive():
            self._last_traffic = time.monotonic()
            return True
        return False


def _apply() -> None:
    if getattr(pynetdicom.association, "_printscp_patched", False):
        return
    setattr(pynetdicom.association, "uid_to_service_class", _service_class_or_print)  # noqa: B010
    keywords = dimse_messages._COMMAND_SET_KEYWORDS
    for name in _N_RESPONSES:
        if "OffendingElement" not in keywords[name]:
            keywords[name] = (*keywords[name], "OffendingElement")
    for primitive in _N_PRIMITIVES:
        setattr(primitive, "OffendingElement", None)  # noqa: B010
        if "OffendingElement" not in primitive.STATUS_OPTIONAL_KEYWORDS:
            primitive.STATUS_OPTIONAL_KEYWORDS = (*primitive.STATUS_OPTIONAL_KEYWORDS, "OffendingElement")
    setattr(pynetdicom.association, "DULServiceProvider", _AdaptiveDUL)  # noqa: B010
    pynetdicom.association._printscp_patched = True  # type: ignore[attr-defined]


_apply()
