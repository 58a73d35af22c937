"""PostgreSQL, when `[index] url` names a database: its versioned schema (db/schema.py, migrations/*.sql).

psycopg is an optional dependency (`pip install 'printscp[postgresql]'`): this package imports it only in
its modules, so that SchemaError can be caught where no database is configured and psycopg is absent.
"""


class SchemaError(Exception):
    """The database cannot be used as it is (psycopg missing, unreachable, or of another schema version); the
    message is one line for the operator and names no password."""


MISSING_DRIVER = (
    "[index] url names a PostgreSQL database but psycopg is not installed: pip install 'printscp[postgresql]'"
)


class DatabaseUnavailable(Exception):
    """The database cannot be reached (stopped, restarting, the network): the call failed without a result and
    may be tried again later; the message is one line."""


CONNECT_TIMEOUT = 3  # seconds: libpq's connect_timeout for every connection of a server
WAIT_FOR_CONNECTION = 3.0  # seconds a call waits for a pooled connection before failing (database away)


def one_line(exc: BaseException) -> str:
    """A database error for a log line: libpq's messages run over several lines (hints, the addresses tried)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(exc).__name__
