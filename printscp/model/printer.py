"""The Printer SOP Instance (PS3.4 H.4.6): one per server, with a status that listeners follow."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from printscp.model.enums import PRINTER_STATUS_INFO_TERMS, PrinterStatus


@dataclass(frozen=True)
class PrinterState:
    printer_status: PrinterStatus
    printer_status_info: str  # PS3.3 C.13.9.1 defined term; NORMAL when the status is NORMAL


def printer_state(status: PrinterStatus, info: str | None = None) -> PrinterState:
    """A valid state; `info` defaults to NORMAL for NORMAL (else UNKNOWN) and must be a defined term."""
    if info is None:
        info = "NORMAL" if status is PrinterStatus.NORMAL else "UNKNOWN"
    if info not in PRINTER_STATUS_INFO_TERMS:
        raise ValueError(f"'{info}' is not a Printer Status Info defined term of PS3.3 C.13.9.1")
    if (status is PrinterStatus.NORMAL) != (info == "NORMAL"):  # C.13.9.1: NORMAL goes with NORMAL only
        raise ValueError(f"Printer Status Info '{info}' does not go with Printer Status {status.value}")
    return PrinterState(status, info)


Listener = Callable[[PrinterState, PrinterState], None]  # (old, new)


class Printer:
    """Thread-safe printer status; every change is offered to the listeners (N-EVENT-REPORT senders)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PrinterState(PrinterStatus.NORMAL, "NORMAL")
        self._listeners: list[Listener] = []

    @property
    def state(self) -> PrinterState:
        with self._lock:
            return self._state

    def set_status(self, status: PrinterStatus, info: str | None = None) -> PrinterState:
        """Change the status; `info` defaults to NORMAL for NORMAL and must be a defined term otherwise."""
        new = printer_state(status, info)
        with self._lock:
            old, self._state = self._state, new
            listeners = list(self._listeners)
        if new != old:
            for listener in listeners:
                listener(old, new)
        return new

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
