"""The PostgreSQL schema, versioned: an ordered list of SQL files, applied by `printscp db upgrade`.

`migrations/NNNN_name.sql` are applied in the order of their number; each one applied is a row of the
`schema_version` table. An upgrade applies every missing one in ONE transaction (under an advisory lock, so
two `printscp db upgrade` at once apply them once): either the database reaches the code's version or it
stays as it was. A server never changes the schema itself: `check` refuses a database older (or newer)
than the code, with one line that says what to do.

Files are never edited once released; a change of schema is a new file.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from printscp.db import CONNECT_TIMEOUT, WAIT_FOR_CONNECTION, DatabaseUnavailable, SchemaError, one_line

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_LOCK = 0x7072_696E_7473_6370  # pg_advisory_xact_lock key of upgrades: "printscp" in ASCII


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)


def migrations() -> list[Migration]:
    """Every migration this code knows, in order (numbered 1, 2, ... without gaps)."""
    found = []
    for entry in (resources.files("printscp.db") / "migrations").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"printscp/db/migrations are not numbered 1..n: {[m.version for m in found]}")
    return found


CODE_VERSION = len(migrations())


def describe(url: str) -> str:
    """A database URL as a message may show it: host, port and database, never the password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an invalid URL)"
    host, port, dbname = parts.get("host") or "localhost", parts.get("port") or "5432", parts.get("dbname") or ""
    return f"postgresql://{host}:{port}/{dbname}"


def connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """One connection, or SchemaError saying why not."""
    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise SchemaError(f"cannot connect to the index database {describe(url)}: {why}") from None


def version(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    """The schema version of a database: 0 for one that no upgrade has touched."""
    exists = connection.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(str(row[0])) if row else 0


def upgrade(url: str) -> list[Migration]:
    """Apply the migrations the database lacks, all in one transaction; return those applied."""
    with connect(url) as connection:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            current = version(connection)
            if current > CODE_VERSION:
                raise SchemaError(_newer(url, current))
            pending = [m for m in migrations() if m.version > current]
            for migration in pending:
                connection.execute(migration.sql.encode())  # several statements: no parameters
                connection.execute(
                    "INSERT INTO schema_version (version, name) VALUES (%s, %s)", (migration.version, migration.name)
                )
        return pending


def check(connection: psycopg.Connection[tuple[object, ...]], url: str) -> None:
    """SchemaError unless the database is at the code's schema version."""
    current = version(connection)
    if current < CODE_VERSION:
        raise SchemaError(
            f"the index database {describe(url)} is at schema version {current}, this printscp needs "
            f"{CODE_VERSION}: run `printscp db upgrade` (with the same --config) first"
        )
    if current > CODE_VERSION:
        raise SchemaError(_newer(url, current))


def _newer(url: str, current: int) -> str:
    return (
        f"the index database {describe(url)} is at schema version {current}, newer than this printscp "
        f"({CODE_VERSION}): run the printscp that upgraded it, or a newer one"
    )


def pool(url: str, name: str, max_size: int, autocommit: bool = False) -> ConnectionPool:
    """A server's pool of connections to `url`, made for a database that may restart: each connection is
    checked before it is lent (one round trip), so connections broken by a restart are replaced rather than
    failing the next call; a call waits WAIT_FOR_CONNECTION seconds at most for one (each attempt to connect
    CONNECT_TIMEOUT), then fails with DatabaseUnavailable (see `connection`). The pool reconnects by itself."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=True,
        name=name,
        timeout=WAIT_FOR_CONNECTION,
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": autocommit, "connect_timeout": CONNECT_TIMEOUT},
    )


@contextmanager
def connection(lender: ConnectionPool) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection of the pool for one transaction (committed on leaving); DatabaseUnavailable, not psycopg's
    OperationalError, when the database cannot be reached or the connection broke meanwhile."""
    try:
        with lender.connection() as lent:
            yield lent
    except psycopg.OperationalError as exc:  # PoolTimeout is one too
        url = lender.conninfo if isinstance(lender.conninfo, str) else ""
        raise DatabaseUnavailable(f"the database {describe(url)} is unreachable: {one_line(exc)}") from exc


RECONNECT = 1.0  # seconds between attempts to LISTEN again after the connection failed
_log = logging.getLogger(__name__)


def listening(
    url: str,
    channel: str,
    on_payload: Callable[[str], None],
    on_connect: Callable[[], None],
    closing: threading.Event,
    what: str,
    thread_name: str,
) -> threading.Thread:
    """`listen` in a daemon thread of its own, started."""
    thread = threading.Thread(
        target=listen, args=(url, channel, on_payload, on_connect, closing, what), name=thread_name, daemon=True
    )
    thread.start()
    return thread


def listen(
    url: str,
    channel: str,
    on_payload: Callable[[str], None],
    on_connect: Callable[[], None],
    closing: threading.Event,
    what: str,
) -> None:
    """LISTEN on `channel` until `closing` is set, handing each notification's payload to `on_payload`; on a
    lost connection, connect again every RECONNECT seconds. `on_connect` runs after each (re)connection, before
    anything is said of it: the caller reads again what it follows, since notifications sent meanwhile are
    lost. One log line when `what` ("print job changes") cannot be listened to, one when it can again."""
    failed = False
    while not closing.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as connection:
                connection.execute(f"LISTEN {channel}".encode())
                on_connect()
                if failed:
                    _log.warning("listening to %s again", what)
                failed = False
                while not closing.is_set():
                    for notify in connection.notifies(timeout=0.5):
                        on_payload(notify.payload)
        except (psycopg.Error, DatabaseUnavailable) as exc:
            if not failed:  # one line per outage
                _log.warning("%s cannot be listened to (%s); trying again", what, one_line(exc))
            failed = True
            closing.wait(RECONNECT)
        except Exception:  # a bug in a callback: say so, keep listening
            _log.exception("a notification of %s could not be followed", what)
