"""What the nodes of a cluster share besides the print queue: printer status and run-time fault rules.

Tables `printer_status` and `fault_rules` (migrations/0003_shared_state.sql). Each change is one transaction
that writes the row and `pg_notify`s it on the channel `printscp_shared_state`, so every node (the one that
made the change too) hears of it after it is committed, in commit order. A printer's row carries a version,
+1 at each change: a node applies a change only if it is newer than the one it has, so a late notification
never undoes a later change. `watch` LISTENs on a connection of its own, reconnecting after a failure, and
calls `on_connect` after each (re)connection so the watcher reads the tables again (notifications sent while
it was away are lost, the rows are not).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from printscp.db import schema

log = logging.getLogger(__name__)

CHANNEL = "printscp_shared_state"


@dataclass(frozen=True)
class PrinterRow:
    ae_title: str
    printer_status: str
    printer_status_info: str
    version: int


@dataclass(frozen=True)
class FaultRow:
    number: int
    rule: dict[str, Any]  # the rule's keys, as in [[faults.plan]]


SharedEvent = PrinterRow | FaultRow | tuple[int, ...]  # a printer's change, a rule added, rules cleared


class PostgresSharedState:
    """The shared printer status and fault rules on a database at the code's schema version; thread-safe."""

    def __init__(self, url: str, node_id: str) -> None:
        """schema.SchemaError (one line) when the database is unreachable or of another schema version."""
        self.url, self.node_id = url, node_id
        with schema.connect(url) as connection:
            schema.check(connection, url)
        self._pool: ConnectionPool = ConnectionPool(
            url, min_size=1, max_size=2, open=True, name="printscp-shared", timeout=10.0
        )
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._pool.close()

    def _execute(
        self, sql: str, params: Mapping[str, Any], notify: Callable[[list[dict[str, Any]]], Any] | None = None
    ) -> list[dict[str, Any]]:
        """One transaction: the statement, then (if given) the notification made of its rows."""
        with self._pool.connection() as connection:  # commits on leaving, rolls back on an exception
            with connection.cursor(row_factory=dict_row) as cursor:
                cursor.execute(sql.encode(), dict(params))
                rows = cursor.fetchall() if cursor.description is not None else []
                if notify is not None:
                    cursor.execute(b"SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(notify(rows))))
                return rows

    # --- printer status ------------------------------------------------------------------------------------

    def printers(self) -> list[PrinterRow]:
        rows = self._execute("SELECT ae_title, printer_status, printer_status_info, version FROM printer_status", {})
        return [PrinterRow(**row) for row in rows]

    def set_printer(self, ae_title: str, status: str, info: str) -> PrinterRow:
        """Change a printer's status for every node; the row as it now is."""
        rows = self._execute(
            "INSERT INTO printer_status (ae_title, printer_status, printer_status_info, changed_by) "
            "VALUES (%(ae)s, %(status)s, %(info)s, %(node)s) ON CONFLICT (ae_title) DO UPDATE SET "
            "printer_status = EXCLUDED.printer_status, printer_status_info = EXCLUDED.printer_status_info, "
            "changed_by = EXCLUDED.changed_by, changed_at = now(), version = printer_status.version + 1 "
            "RETURNING ae_title, printer_status, printer_status_info, version",
            {"ae": ae_title, "status": status, "info": info, "node": self.node_id},
            lambda rows: {"printer": rows[0]},
        )
        return PrinterRow(**rows[0])

    # --- fault rules ---------------------------------------------------------------------------------------

    def faults(self) -> list[FaultRow]:
        rows = self._execute("SELECT number, rule FROM fault_rules ORDER BY number", {})
        return [FaultRow(row["number"], dict(row["rule"])) for row in rows]

    def add_fault(self, rule: Mapping[str, Any]) -> FaultRow:
        rows = self._execute(
            "INSERT INTO fault_rules (printer, rule, added_by) VALUES (%(printer)s, %(rule)s, %(node)s) "
            "RETURNING number, rule",
            {"printer": rule.get("printer") or None, "rule": Jsonb(dict(rule)), "node": self.node_id},
            lambda rows: {"fault": {"number": rows[0]["number"], "rule": rows[0]["rule"]}},
        )
        return FaultRow(rows[0]["number"], dict(rows[0]["rule"]))

    def count_fault(self, number: int, after: int, count: int) -> tuple[int, int, bool] | None:
        """Count one matching request against a shared rule, whichever node saw it: its counters then and
        whether it fires on it (it lets `after` requests through, then fires on `count`, 0: every one).
        None: the rule is gone (cleared on another node)."""
        rows = self._execute(
            "WITH old AS (SELECT number, fired FROM fault_rules WHERE number = %(number)s FOR UPDATE) "
            "UPDATE fault_rules f SET seen = f.seen + 1, fired = f.fired + CASE "
            "WHEN f.seen + 1 > %(after)s AND (%(count)s = 0 OR f.fired < %(count)s) THEN 1 ELSE 0 END "
            "FROM old WHERE f.number = old.number RETURNING f.seen, f.fired, f.fired > old.fired AS fires",
            {"number": number, "after": after, "count": count},
        )
        return (rows[0]["seen"], rows[0]["fired"], rows[0]["fires"]) if rows else None

    def clear_faults(self, printer: str | None) -> list[int]:
        """Remove every rule, or `printer`'s own; the numbers removed."""
        rows = self._execute(
            "DELETE FROM fault_rules WHERE %(printer)s::text IS NULL OR printer = %(printer)s RETURNING number",
            {"printer": printer},
            lambda rows: {"cleared": [row["number"] for row in rows]},
        )
        return [int(row["number"]) for row in rows]

    # --- following the changes -----------------------------------------------------------------------------

    def watch(self, on_event: Callable[[SharedEvent], None], on_connect: Callable[[], None]) -> None:
        self._listener = schema.listening(
            self.url,
            CHANNEL,
            lambda payload: on_event(_event(payload)),
            on_connect,
            self._closing,
            "shared printer status and fault rules",
            "shared-state-listener",
        )


def _event(payload: str) -> SharedEvent:
    document = json.loads(payload)
    if "printer" in document:
        return PrinterRow(**document["printer"])
    if "fault" in document:
        return FaultRow(int(document["fault"]["number"]), dict(document["fault"]["rule"]))
    return tuple(int(number) for number in document["cleared"])
