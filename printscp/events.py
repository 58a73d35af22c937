"""N-EVENT-REPORTs printscp sends (PS3.4 Tables H.4-14 and H.4-16), as plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from printscp import uids
from printscp.model.enums import ExecutionStatus, PrinterStatus

# Event Type IDs
PRINT_JOB_EVENTS = {
    ExecutionStatus.PENDING: 1,
    ExecutionStatus.PRINTING: 2,
    ExecutionStatus.DONE: 3,
    ExecutionStatus.FAILURE: 4,
}
PRINTER_EVENTS = {PrinterStatus.NORMAL: 1, PrinterStatus.WARNING: 2, PrinterStatus.FAILURE: 3}


@dataclass(frozen=True)
class EventReport:
    """One N-EVENT-REPORT-RQ to send (PS3.7 10.1.1)."""

    sop_class_uid: str
    sop_instance_uid: str
    event_type_id: int
    information: Dataset | None = None


Notify = Callable[[EventReport], None]  # queues an event report for one association


def print_job_event(job_uid: str, status: ExecutionStatus, info: str, label: str, printer_name: str) -> EventReport:
    """Table H.4-14: Execution Status Info, Film Session Label, Printer Name."""
    information = Dataset()
    information.ExecutionStatusInfo = info
    information.FilmSessionLabel = label
    information.PrinterName = printer_name
    return EventReport(uids.PRINT_JOB, job_uid, PRINT_JOB_EVENTS[status], information)


def printer_event(status: PrinterStatus, info: str, printer_name: str) -> EventReport:
    """Table H.4-16: no information for Normal; Printer Status Info and Printer Name otherwise."""
    information = None
    if status is not PrinterStatus.NORMAL:
        information = Dataset()
        information.PrinterStatusInfo = info
        information.PrinterName = printer_name
    return EventReport(uids.PRINTER, uids.PRINTER_INSTANCE, PRINTER_EVENTS[status], information)
