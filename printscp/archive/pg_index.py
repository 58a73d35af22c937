"""The archive's index on PostgreSQL (`FilmIndex` of archive/film_index.py), for `[index] url`.

The same tables as the SQLite index (archive/index.py), made by the versioned schema of printscp/db
(`printscp db upgrade`); opening one checks that the database is at the code's version and refuses it
otherwise. Connections come from a psycopg_pool pool, one per call, so threads never share one; each call
is one transaction. Writes are idempotent by key (INSERT ... ON CONFLICT), as in SQLite.

Where the SQLite index calls Python inside SQL, this one stores the result instead: fold() of the patient
columns and of the searchable text (films.*_folded) and str.upper() of the PN columns of instances
(*_upper), computed here when a row is written. Text is compared byte by byte (the columns are
COLLATE "C"), as SQLite compares it; LIKE there ignores ASCII case, so ILIKE here. PostgreSQL text cannot
hold NUL: a NUL character in a value is stored as U+FFFD.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from printscp.archive.film_index import (
    FILM_COLUMNS,
    INSTANCE_COLUMNS,
    TRANSCRIPT_COLUMNS,
    Aggregate,
    Condition,
    FilmFilter,
    InstanceQuery,
    RetentionItem,
    Row,
    Source,
    TranscriptFilter,
)
from printscp.archive.index import TEXT_COLUMNS, FilmSql, _column, _like, _upper, film_conditions
from printscp.db import schema
from printscp.identity.model import fold

log = logging.getLogger(__name__)

_UPPER_COLUMNS = ("patient_name", "referring_physician_name")  # instances' PN columns: <column>_upper
# a FilmFilter's conditions: as SQLite's, on the folded columns written with each row (no fold() in SQL)
_FILMS = FilmSql("%s", "ILIKE", ("patient_name_folded", "patient_id_folded"), "text_folded")
_INSTANCE_WRITE = (*INSTANCE_COLUMNS, *(f"{c}_upper" for c in _UPPER_COLUMNS))
_FILM_WRITE = (*FILM_COLUMNS, "patient_name_folded", "patient_id_folded", "text_folded")


class PostgresFilmIndex:
    """FilmIndex on a PostgreSQL database at the code's schema version; safe to share between threads."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        """schema.SchemaError (one line for the operator) when the database is unreachable or of another
        schema version."""
        self.url = url
        with schema.connect(url) as connection:
            schema.check(connection, url)
        self._pool: ConnectionPool = schema.pool(url, "printscp-index", pool_size)

    def close(self) -> None:
        self._pool.close()

    # --- writes (idempotent) --------------------------------------------------------------------------

    def add_instances(self, rows: Iterable[Row], replace: bool = True) -> None:
        values = []
        for row in rows:
            texts = [_text(row.get(c)) for c in INSTANCE_COLUMNS]
            texts += [_upper(_text(row.get(c))) for c in _UPPER_COLUMNS]
            values.append(texts)
        self._write("instances", _INSTANCE_WRITE, ("sop_instance_uid",), values, replace)

    def add_films(self, rows: Iterable[Row]) -> None:
        values = []
        for row in rows:
            texts = [_text(row.get(c)) for c in FILM_COLUMNS]
            film = dict(zip(FILM_COLUMNS, texts, strict=True))
            joined = " ".join(film[c] or "" for c in TEXT_COLUMNS)
            texts += [fold(film["patient_name"]), fold(film["patient_id"]), fold(joined)]
            values.append(texts)
        self._write("films", _FILM_WRITE, ("job_uid", "film_number"), values, True)

    def add_transcripts(self, rows: Iterable[Row]) -> None:
        values = [[_text(row.get(c)) for c in TRANSCRIPT_COLUMNS] for row in rows]
        self._write("transcripts", TRANSCRIPT_COLUMNS, ("association_id",), values, True)

    def _write(
        self, table: str, columns: Sequence[str], key: Sequence[str], values: list[list[Any]], replace: bool
    ) -> None:
        if not values:
            return
        if replace:
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
            conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        else:
            conflict = f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('%s' for _ in columns)}) {conflict}"
        with schema.connection(self._pool) as connection, connection.cursor() as cursor:
            cursor.executemany(statement.encode(), values)

    def remove_job(self, job_uid: str) -> None:
        with schema.connection(self._pool) as connection:
            connection.execute("DELETE FROM films WHERE job_uid = %s", (job_uid,))
            connection.execute("DELETE FROM instances WHERE job_uid = %s", (job_uid,))

    def remove_instance(self, sop_instance_uid: str) -> None:
        self._execute("DELETE FROM instances WHERE sop_instance_uid = %s", (sop_instance_uid,))

    def remove_transcript(self, association_id: str) -> None:
        self._execute("DELETE FROM transcripts WHERE association_id = %s", (association_id,))

    # --- printed films ----------------------------------------------------------------------------------

    def job_uids(self) -> set[str]:
        return {row["job_uid"] for row in self._rows("SELECT DISTINCT job_uid FROM films")}

    def job_folders(self, job_uid: str) -> list[str]:
        return [row["folder"] for row in self._rows("SELECT DISTINCT folder FROM films WHERE job_uid = %s", (job_uid,))]

    def find_films(self, where: FilmFilter) -> list[dict[str, Any]]:
        condition, parameters = film_conditions(where, _FILMS)
        # SQLite puts NULL first when ascending, last when descending
        order = "ASC NULLS FIRST" if not where.newest_first else "DESC NULLS LAST"
        sql = (
            f"SELECT {', '.join(FILM_COLUMNS)} FROM films{condition} "
            f"ORDER BY requested_at {order}, job_uid {order}, printscp_integer(film_number) {order}"
        )
        if where.limit is not None or where.offset:
            sql += " LIMIT %s OFFSET %s"
            parameters += [where.limit, where.offset]  # LIMIT NULL: all
        return self._rows(sql, parameters)

    def count_films(self, where: FilmFilter) -> int:
        condition, parameters = film_conditions(where, _FILMS)
        return int(self._rows(f"SELECT COUNT(*) AS n FROM films{condition}", parameters)[0]["n"])

    # --- transcripts ----------------------------------------------------------------------------------

    def find_transcripts(self, where: TranscriptFilter) -> list[dict[str, Any]]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if where.association_id:
            conditions.append("association_id ILIKE %s ESCAPE '\\'")
            parameters.append(_like(where.association_id.rstrip("*") + "*"))
        if where.calling_ae_title:
            conditions.append("calling_ae_title = %s")
            parameters.append(where.calling_ae_title.strip())
        if where.since:
            conditions.append("started >= %s")
            parameters.append(where.since)
        sql = f"SELECT {', '.join(TRANSCRIPT_COLUMNS)} FROM transcripts"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY started DESC NULLS LAST, association_id DESC"
        if where.limit is not None or where.offset:
            sql += " LIMIT %s OFFSET %s"
            parameters += [where.limit, where.offset]
        return self._rows(sql, parameters)

    def transcript_paths(self) -> dict[str, str]:
        return {
            row["association_id"]: row["path"] for row in self._rows("SELECT association_id, path FROM transcripts")
        }

    # --- instances --------------------------------------------------------------------------------------

    def instances(self, job_uid: str | None = None) -> list[dict[str, Any]]:
        columns = ", ".join(INSTANCE_COLUMNS)
        if job_uid is None:
            return self._rows(f"SELECT {columns} FROM instances ORDER BY sop_instance_uid")
        return self._rows(f"SELECT {columns} FROM instances WHERE job_uid = %s", (job_uid,))

    def instance_paths(self, sop_instance_uid: str, source: Source) -> list[str]:
        return [
            row["path"]
            for row in self._rows(
                "SELECT path FROM instances WHERE sop_instance_uid = %s AND source = %s", (sop_instance_uid, source)
            )
        ]

    def stored_paths(self) -> dict[str, str]:
        rows = self._rows("SELECT path, sop_instance_uid FROM instances WHERE source = 'store'")
        return {row["path"]: row["sop_instance_uid"] for row in rows}

    def match_instances(self, query: InstanceQuery) -> list[dict[str, Any]]:
        where, parameters = _where(query.conditions)
        select = [f"MAX({column}) AS {column}" for column in dict.fromkeys(_column(c) for c in query.columns)]
        select += [f"{_AGGREGATES[name]} AS {name}" for name in query.aggregates]
        unique = _column(query.group_by)
        having = ""
        if query.with_modalities:  # after grouping: the aggregates still count every series of the study
            having = "HAVING bool_or(modality = ANY(%s)) "
            parameters = [*parameters, list(query.with_modalities)]
        sql = (
            f"SELECT {', '.join(select)} FROM instances {where} GROUP BY {unique} {having}"
            f"ORDER BY MAX(study_date) NULLS FIRST, MAX(study_time) NULLS FIRST, {unique} NULLS FIRST"
        )
        found = []
        for answer in self._rows(sql, parameters):
            if "modalities" in answer:
                answer["modalities"] = answer["modalities"].split(",") if answer["modalities"] else []
            found.append(answer)
        return found

    def retrieve_instances(self, conditions: Sequence[Condition]) -> list[tuple[str, str, str]]:
        where, parameters = _where(conditions)
        rows = self._rows(
            f"SELECT sop_instance_uid, sop_class_uid, path FROM instances {where} ORDER BY study_instance_uid "
            "NULLS FIRST, series_instance_uid NULLS FIRST, printscp_integer(instance_number) NULLS FIRST",
            parameters,
        )
        return [(row["sop_instance_uid"], row["sop_class_uid"], row["path"]) for row in rows]

    # --- retention --------------------------------------------------------------------------------------

    def retention_items(self) -> list[RetentionItem]:
        items = [
            RetentionItem(row["at"], int(row["size"] or 0), "job", row["uid"])
            for row in self._rows(
                "SELECT job_uid AS uid, MIN(rendered_at) AS at, SUM(printscp_integer(size)) AS size FROM films "
                "GROUP BY job_uid"
            )
        ]
        items += [
            RetentionItem(row["at"], int(row["size"] or 0), "instance", row["uid"])
            for row in self._rows(
                "SELECT sop_instance_uid AS uid, added_at AS at, printscp_integer(size) AS size FROM instances "
                "WHERE source = 'store'"
            )
        ]
        return sorted(items)

    # ------------------------------------------------------------------------------------------------------

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with schema.connection(self._pool) as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql.encode(), parameters)
            return cursor.fetchall()

    def _execute(self, sql: str, parameters: Sequence[Any]) -> None:
        with schema.connection(self._pool) as connection:
            connection.execute(sql.encode(), parameters)


_AGGREGATES: dict[Aggregate, str] = {
    "studies": "COUNT(DISTINCT study_instance_uid)",
    "series": "COUNT(DISTINCT series_instance_uid)",
    "instances": "COUNT(*)",
    "modalities": "string_agg(DISTINCT modality, ',')",
}


def _where(conditions: Sequence[Condition]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    parameters: list[Any] = []
    for condition in conditions:
        column = _column(condition.column)
        if condition.ignore_case:
            if column not in _UPPER_COLUMNS:  # only PN is matched ignoring case (archive/query.py)
                raise ValueError(f"no upper-cased copy of {column!r} is indexed")
            column = f"{column}_upper"
        if condition.kind == "equal" and len(condition.values) == 1:
            clauses.append(f"{column} = %s")
            parameters.append(condition.values[0])
        elif condition.kind == "equal":
            clauses.append(f"{column} = ANY(%s)")
            parameters.append(list(condition.values))
        elif condition.kind == "at_least":
            clauses.append(f"{column} >= %s")
            parameters.append(condition.values[0])
        elif condition.kind == "at_most":
            clauses.append(f"{column} <= %s")
            parameters.append(condition.values[0])
        else:  # * and ? wildcards (GLOB in SQLite): LIKE, its own % _ \ escaped, case kept
            pattern = condition.values[0].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"{column} LIKE %s ESCAPE '\\'")
            parameters.append(pattern.replace("*", "%").replace("?", "_"))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def _text(value: Any) -> str | None:
    return None if value is None else str(value).replace("\x00", "\ufffd")
