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
