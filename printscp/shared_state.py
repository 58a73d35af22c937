"""Cluster mode: printer status and run-time fault rules shared by every node (db/pg_shared.py).

`SharedPrinter` is a `Printer` whose `set_status` (from `printscp printer set`, the web console, a fault
rule, a relay whose real printer is in trouble) writes the shared row; every node, this one included,
follows the row: `SharedState` LISTENs to the changes and applies each to its `SharedPrinter`, whose
listeners then send the Printer N-EVENT-REPORTs to that node's own associations. Changes are applied in the
order of the row's version, each once. So a printer's status, its Printer N-GET and the queue's
`on_printer_failure` policy are the same on every node. The state is kept across restarts: a node that
starts reads it (a single node starts NORMAL).

`SharedFaultPlan` is the `FaultPlan` whose rules added at run time (`printscp fault add` on any node) are
rows every node adds, with the row's number (101, 102, ...), and `fault clear` removes them on every node.
Each node counts its own requests against a rule (`after`, `count`: per node). The rules of config.toml
stay each node's own, as its config is.

When the database cannot be written, a change is made on this node alone (logged), as without a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from printscp.bench.faults import FaultPlan, PlanEntry, RuleState
from printscp.config import Config, fault_rule
from printscp.db import MISSING_DRIVER, SchemaError
from printscp.model.enums import PrinterStatus
from printscp.model.printer import Printer, PrinterState, printer_state

if TYPE_CHECKING:
    from printscp.db.pg_shared import FaultRow, PostgresSharedState, PrinterRow, SharedEvent

log = logging.getLogger(__name__)

FIRST_SHARED = 101  # the number of the first shared fault rule (migrations/0003): config.toml's come before


class SharedPrinter(Printer):
    """A printer whose status is a row shared by the nodes; the interface of `Printer`."""

    def __init__(self, ae_title: str, store: PostgresSharedState) -> None:
        super().__init__()
        self.ae_title, self._store = ae_title, store
        self._version = 0  # of the shared row last applied

    def set_status(self, status: PrinterStatus, info: str | None = None) -> PrinterState:
        new = printer_state(status, info)  # ValueError before anything is written
        try:
            row = self._store.set_printer(self.ae_title, new.printer_status.value, new.printer_status_info)
        except Exception as exc:
            log.error("printer %s: its status could not be shared (%s); changed on this node only", self.ae_title, exc)
            return super().set_status(status, info)
        self.follow(row)  # at once here; the other nodes when the notification reaches them
        return new

    def follow(self, row: PrinterRow) -> None:
        """Apply a shared row, unless this node applied a newer one already."""
        new = printer_state(PrinterStatus(row.printer_status), row.printer_status_info)
        with self._lock:
            if row.version <= self._version:
                return
            self._version = row.version
            old, self._state = self._state, new
            listeners = list(self._listeners)
        if new != old:
            for listener in listeners:
                listener(old, new)


class SharedFaultPlan(FaultPlan):
    """A fault plan whose run-time rules are shared by the nodes."""

    def __init__(self, local: FaultPlan, store: PostgresSharedState) -> None:
        super().__init__()
        self._store = store
        self._shared: set[int] = set()  # numbers of the rules in the database: counted there
        for state in local.rules():  # config.toml's rules: this node's own
            self.add(state.rule.config, state.rule.number)

    def add_table(self, table: Mapping[str, Any]) -> RuleState:
        rule = fault_rule(table)  # ConfigError naming a bad key, before anything is written
        try:
            row = self._store.add_fault(table)
        except Exception as exc:
            log.error("fault rule could not be shared (%s); added on this node only", exc)
            return self.add(rule)
        self._shared.add(row.number)
        return self.add(rule, row.number)

    def clear(self, printer: str | None = None) -> int:
        try:
            self._store.clear_faults(printer)  # every node forgets them when it hears of it
        except Exception as exc:
            log.error("fault rules could not be cleared on every node (%s); cleared on this node only", exc)
        return super().clear(printer)

    def follow(self, row: FaultRow) -> None:
        try:
            self.add(fault_rule(row.rule), row.number)
        except Exception:  # a rule another version of printscp wrote
            log.exception("shared fault rule #%d cannot be used here", row.number)
        else:
            self._shared.add(row.number)

    def _count(self, entry: PlanEntry) -> bool:
        """A shared rule counts the requests of every node (`--after 2 --count 1`: the third matching request
        of the cluster, whichever node it reaches); this node's copy of its counters is updated for `fault
        list`. When the database cannot count it, this node counts alone (logged)."""
        number, config = entry.rule.number, entry.rule.config
        if number not in self._shared:
            return super()._count(entry)
        try:
            counted = self._store.count_fault(number, config.after, config.count)
        except Exception as exc:
            log.warning("fault rule #%d is counted on this node only (%s)", number, exc)
            return super()._count(entry)
        if counted is None:  # cleared on another node; this node hears of it in a moment
            return False
        entry.seen, entry.fired, fires = counted
        return fires


class SharedState:
    """Follows the shared rows for this node's printers and fault plan."""

    def __init__(self, store: PostgresSharedState, printers: Mapping[str, SharedPrinter], faults: SharedFaultPlan):
        self.store, self.printers, self.faults = store, dict(printers), faults

    def start(self) -> None:
        """Read the shared state now (a node starts as the others are), then follow its changes."""
        self._resync()
        self.store.watch(self._event, self._resync)

    def close(self) -> None:
        self.store.close()

    def _event(self, event: SharedEvent) -> None:
        from printscp.db.pg_shared import FaultRow, PrinterRow

        if isinstance(event, PrinterRow):
            printer = self.printers.get(event.ae_title)
            if printer is not None:
                printer.follow(event)
        elif isinstance(event, FaultRow):
            self.faults.follow(event)
        else:
            self.faults.forget(event)

    def _resync(self) -> None:
        for row in self.store.printers():
            self._event(row)
        rows = self.store.faults()
        shared = {row.number for row in rows}
        numbers = [state.rule.number for state in self.faults.rules()]
        gone = [n for n in numbers if n >= FIRST_SHARED and n not in shared]
        self.faults.forget(gone)
        for fault in rows:
            self.faults.follow(fault)


def open_shared_state(config: Config, node_id: str, plan: FaultPlan) -> SharedState:
    """The shared state of a cluster node: its printers and fault plan; SchemaError when it cannot be used."""
    try:  # psycopg (an optional dependency) only in cluster mode
        from printscp.db.pg_shared import PostgresSharedState
    except ImportError:
        raise SchemaError(MISSING_DRIVER) from None
    assert config.index.url is not None
    store = PostgresSharedState(config.index.url, node_id)
    printers = {ae_title: SharedPrinter(ae_title, store) for ae_title in config.all_printers}
    return SharedState(store, printers, SharedFaultPlan(plan, store))
