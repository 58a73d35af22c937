"""What `/metrics` shows (the web console serves it), in the Prometheus text format, on a registry of this server's own.

Counters are counted where things happen (an association accepted or rejected, a DIMSE response that
refuses a request, a print job finished, an ERROR logged); queue depth, printer status and open
associations are read when Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pynetdicom.events import Event

from printscp.jobs import PrintJob
from printscp.model.enums import ExecutionStatus, PrinterStatus

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: a timestamp per counter that nobody graphs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RENDER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_RESPONSES = {  # DIMSE-C and DIMSE-N response Command Field (PS3.7 E.1-1 and E.2-1) -> the request's name
    0x8001: "C-STORE",
    0x8020: "C-FIND",
    0x8010: "C-GET",
    0x8021: "C-MOVE",
    0x8030: "C-ECHO",
    0x8100: "N-EVENT-REPORT",
    0x8110: "N-GET",
    0x8120: "N-SET",
    0x8130: "N-ACTION",
    0x8140: "N-CREATE",
    0x8150: "N-DELETE",
}


def refused(status: int) -> bool:
    """A failure status (PS3.7 C): not Success, not Warning (0001, Bxxx, 0107, 0116), not Pending or Cancel."""
    return not (status == 0 or status == 0x0001 or status in (0x0107, 0x0116, 0xFE00, 0xFF00, 0xFF01)) and not (
        0xB000 <= status <= 0xBFFF
    )


class Metrics:
    def __init__(
        self,
        queue_depths: Callable[[], Mapping[str, int]],
        printer_statuses: Callable[[], Mapping[str, PrinterStatus]],
        associations: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry()
        self.associations = Counter(
            "printscp_associations",
            "Associations requested, by result (accepted or rejected)",
            ["result"],
            registry=self.registry,
        )
        self.refused = Counter(
            "printscp_dimse_refused",
            "DIMSE requests answered with a failure status, by command and status (hex)",
            ["command", "status"],
            registry=self.registry,
        )
        self.films_printed = Counter(
            "printscp_films_printed", "Films printed into the archive, by printer", ["printer"], registry=self.registry
        )
        self.print_jobs = Counter(
            "printscp_print_jobs",
            "Print jobs finished, by printer and Execution Status (DONE or FAILURE)",
            ["printer", "execution_status"],
            registry=self.registry,
        )
        self.render_seconds = Histogram(
            "printscp_render_seconds",
            "Seconds from a job handed to a render worker to its films in the archive, by printer",
            ["printer"],
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter("printscp_errors", "Errors logged, by logger", ["logger"], registry=self.registry)
        self.registry.register(_Now(queue_depths, printer_statuses, associations))
        self.error_counter = _ErrorCounter(self.errors)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # --- pynetdicom event handlers (bound in net/server.py; they must never raise) ---

    def on_accepted(self, event: Event) -> None:
        self.associations.labels("accepted").inc()

    def on_rejected(self, event: Event) -> None:
        self.associations.labels("rejected").inc()

    def on_dimse_sent(self, event: Event) -> None:
        command = event.message.command_set
        field = command.get("CommandField")
        status = command.get("Status")
        if field in _RESPONSES and status is not None and refused(int(status)):
            self.refused.labels(_RESPONSES[field], f"{int(status):04X}").inc()

    # --- the print queue ---

    def job_changed(self, job: PrintJob) -> None:
        if job.execution_status is ExecutionStatus.DONE:
            self.print_jobs.labels(job.printer, "DONE").inc()
            self.films_printed.labels(job.printer).inc(job.films)
            if job.render_seconds is not None:
                self.render_seconds.labels(job.printer).observe(job.render_seconds)
        elif job.execution_status is ExecutionStatus.FAILURE:
            self.print_jobs.labels(job.printer, "FAILURE").inc()


class _Now(Collector):
    """Gauges read at scrape time."""

    def __init__(
        self,
        queue_depths: Callable[[], Mapping[str, int]],
        printer_statuses: Callable[[], Mapping[str, PrinterStatus]],
        associations: Callable[[], int],
    ) -> None:
        self._queue_depths, self._printer_statuses, self._associations = queue_depths, printer_statuses, associations

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("printscp_queue_depth", "Print jobs waiting, by printer", labels=["printer"])
        for printer, jobs in self._queue_depths().items():
            depth.add_metric([printer], jobs)
        yield depth
        status = GaugeMetricFamily(
            "printscp_printer_status",
            "1 for each printer's current Printer Status (NORMAL, WARNING, FAILURE)",
            labels=["printer", "printer_status"],
        )
        for printer, current in self._printer_statuses().items():
            for value in PrinterStatus:
                status.add_metric([printer, value.value], 1 if value is current else 0)
        yield status
        yield GaugeMetricFamily("printscp_associations_open", "Associations open now", value=self._associations())


class _ErrorCounter(logging.Handler):
    """Counts each ERROR (and CRITICAL) record of printscp's loggers; attached while the server runs."""

    def __init__(self, errors: Counter) -> None:
        super().__init__(logging.ERROR)
        self._errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self._errors.labels(record.name).inc()
