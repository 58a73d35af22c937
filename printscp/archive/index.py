"""The archive's index on SQLite (`FilmIndex` of archive/film_index.py): the one module that holds SQL.

One row per DICOM instance and one per printed film. The index is a cache of what is on disk:
`FilmArchive.reconcile` adds every job folder and instance file it does not know and drops rows whose files
are gone, so a lost, stale or corrupt index is rebuilt from the files (a corrupt one is set aside first).
Every write is idempotent (INSERT OR REPLACE by primary key), so the server and a `printscp films` command
may both reconcile. WAL mode lets them read while the other writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from printscp.identity.model import fold

log = logging.getLogger(__name__)

SCHEMA_VERSION = "5"  # 2: films.printer; 3: films.association_id, transcripts; 4: films' identity; 5: films.color

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS instances ({", ".join(f"{c} TEXT" for c in INSTANCE_COLUMNS)},
    PRIMARY KEY (sop_instance_uid));
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_instance_uid);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_instance_uid);
CREATE INDEX IF NOT EXISTS instances_patient ON instances (patient_id);
CREATE INDEX IF NOT EXISTS instances_job ON instances (job_uid);
CREATE TABLE IF NOT EXISTS films ({", ".join(f"{c} TEXT" for c in FILM_COLUMNS)},
    PRIMARY KEY (job_uid, film_number));
CREATE INDEX IF NOT EXISTS films_requested ON films (requested_at);
CREATE INDEX IF NOT EXISTS films_association ON films (association_id);
CREATE INDEX IF NOT EXISTS films_instance ON films (sop_instance_uid);
CREATE TABLE IF NOT EXISTS transcripts ({", ".join(f"{c} TEXT" for c in TRANSCRIPT_COLUMNS)},
    PRIMARY KEY (association_id));
CREATE INDEX IF NOT EXISTS transcripts_started ON transcripts (started);
"""


class SqliteFilmIndex:
    """FilmIndex on one SQLite file, in WAL mode; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db: sqlite3.Connection | None = None
        try:
            db = self._connect()
            healthy = db.execute("PRAGMA quick_check").fetchone()[0] == "ok" and _schema_version(db) in (
                None,
                SCHEMA_VERSION,
            )
        except sqlite3.DatabaseError:
            healthy = False
        if not healthy:  # set the file aside; reconcile() rebuilds the index from the files on disk
            if db is not None:
                db.close()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning(
                "archive index %s is unreadable or of another version; set aside as %s and rebuilt",
                self.path,
                aside.name,
            )
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{self.path}{suffix}").exists():
                    Path(f"{self.path}{suffix}").rename(Path(f"{aside}{suffix}"))
            db = self._connect()
        assert db is not None
        db.executescript(_SCHEMA)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.commit()
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        db.row_factory = sqlite3.Row
        db.create_function("fold", 1, fold, deterministic=True)
        db.create_function("unicode_upper", 1, _upper, deterministic=True)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writes (idempotent) --------------------------------------------------------------------------

    def add_instances(self, rows: Iterable[Row], replace: bool = True) -> None:
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO instances ({', '.join(INSTANCE_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in INSTANCE_COLUMNS)})",
                [tuple(_text(row.get(c)) for c in INSTANCE_COLUMNS) for row in rows],
            )

    def add_films(self, rows: Iterable[Row]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO films ({', '.join(FILM_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in FILM_COLUMNS)})",
                [tuple(_text(row.get(c)) for c in FILM_COLUMNS) for row in rows],
            )

    def remove_job(self, job_uid: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM films WHERE job_uid = ?", (job_uid,))
            self._db.execute("DELETE FROM instances WHERE job_uid = ?", (job_uid,))

    def remove_instance(self, sop_instance_uid: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,))

    # --- printed films ----------------------------------------------------------------------------------

    def job_uids(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT DISTINCT job_uid FROM films")}

    def job_folders(self, job_uid: str) -> list[str]:
        return [row[0] for row in self._rows("SELECT DISTINCT folder FROM films WHERE job_uid = ?", (job_uid,))]

    def find_films(self, where: FilmFilter) -> list[dict[str, Any]]:
        condition, parameters = film_conditions(where)
        order = "DESC" if where.newest_first else "ASC"
        sql = (
            f"SELECT * FROM films{condition} "
            f"ORDER BY requested_at {order}, job_uid {order}, CAST(film_number AS INTEGER) {order}"
        )
        if where.limit is not None or where.offset:
            sql += " LIMIT ? OFFSET ?"
            parameters += [where.limit if where.limit is not None else -1, where.offset]
        return [dict(row) for row in self._rows(sql, parameters)]

    def count_films(self, where: FilmFilter) -> int:
        condition, parameters = film_conditions(where)
        return int(self._rows(f"SELECT COUNT(*) FROM films{condition}", parameters)[0][0])

    # --- transcripts ----------------------------------------------------------------------------------

    def add_transcripts(self, rows: Iterable[Row]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO transcripts ({', '.join(TRANSCRIPT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in TRANSCRIPT_COLUMNS)})",
                [tuple(_text(row.get(c)) for c in TRANSCRIPT_COLUMNS) for row in rows],
            )

    def remove_transcript(self, association_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM transcripts WHERE association_id = ?", (association_id,))

    def find_transcripts(self, where: TranscriptFilter) -> list[dict[str, Any]]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if where.association_id:
            conditions.append("association_id LIKE ? ESCAPE '\\'")
            parameters.append(_like(where.association_id.rstrip("*") + "*"))
        if where.calling_ae_title:
            conditions.append("calling_ae_title = ?")
            parameters.append(where.calling_ae_title.strip())
        if where.since:
            conditions.append("started >= ?")
            parameters.append(where.since)
        sql = "SELECT * FROM transcripts"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY started DESC, association_id DESC"
        if where.limit is not None or where.offset:
            sql += " LIMIT ? OFFSET ?"
            parameters += [where.limit if where.limit is not None else -1, where.offset]
        return [dict(row) for row in self._rows(sql, parameters)]

    def transcript_paths(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self._rows("SELECT association_id, path FROM transcripts")}

    # --- instances --------------------------------------------------------------------------------------

    def instances(self, job_uid: str | None = None) -> list[dict[str, Any]]:
        if job_uid is None:
            return [dict(row) for row in self._rows("SELECT * FROM instances ORDER BY sop_instance_uid")]
        return [dict(row) for row in self._rows("SELECT * FROM instances WHERE job_uid = ?", (job_uid,))]

    def instance_paths(self, sop_instance_uid: str, source: Source) -> list[str]:
        return [
            row[0]
            for row in self._rows(
                "SELECT path FROM instances WHERE sop_instance_uid = ? AND source = ?", (sop_instance_uid, source)
            )
        ]

    def stored_paths(self) -> dict[str, str]:
        return {
            row[0]: row[1] for row in self._rows("SELECT path, sop_instance_uid FROM instances WHERE source = 'store'")
        }

    def match_instances(self, query: InstanceQuery) -> list[dict[str, Any]]:
        where, parameters = _where(query.conditions)
        select = [f"MAX({column}) AS {column}" for column in dict.fromkeys(query.columns)]
        select += [f"{_AGGREGATES[name]} AS {name}" for name in query.aggregates]
        unique = _column(query.group_by)
        having = ""
        if query.with_modalities:  # after grouping: the aggregates still count every series of the study
            having = f"HAVING SUM(modality IN ({', '.join('?' for _ in query.with_modalities)})) > 0 "
            parameters = [*parameters, *query.with_modalities]
        sql = (
            f"SELECT {', '.join(select)} FROM instances {where} "
            f"GROUP BY {unique} {having}ORDER BY MAX(study_date), MAX(study_time), {unique}"
        )
        found = []
        for row in self._rows(sql, parameters):
            answer = dict(row)
            if "modalities" in answer:
                answer["modalities"] = answer["modalities"].split(",") if answer["modalities"] else []
            found.append(answer)
        return found

    def retrieve_instances(self, conditions: Sequence[Condition]) -> list[tuple[str, str, str]]:
        where, parameters = _where(conditions)
        rows = self._rows(
            f"SELECT sop_instance_uid, sop_class_uid, path FROM instances {where} "
            "ORDER BY study_instance_uid, series_instance_uid, CAST(instance_number AS INTEGER)",
            parameters,
        )
        return [(row[0], row[1], row[2]) for row in rows]

    # --- retention --------------------------------------------------------------------------------------

    def retention_items(self) -> list[RetentionItem]:
        items = [
            RetentionItem(row["at"], int(row["size"] or 0), "job", row["uid"])
            for row in self._rows(
                "SELECT job_uid AS uid, MIN(rendered_at) AS at, SUM(CAST(size AS INTEGER)) AS size FROM films "
                "GROUP BY job_uid"
            )
        ]
        items += [
            RetentionItem(row["at"], int(row["size"] or 0), "instance", row["uid"])
            for row in self._rows(
                "SELECT sop_instance_uid AS uid, added_at AS at, CAST(size AS INTEGER) AS size FROM instances "
                "WHERE source = 'store'"
            )
        ]
        return sorted(items)

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, parameters))


_AGGREGATES: dict[Aggregate, str] = {
    "studies": "COUNT(DISTINCT study_instance_uid)",
    "series": "COUNT(DISTINCT series_instance_uid)",
    "instances": "COUNT(*)",
    "modalities": "GROUP_CONCAT(DISTINCT modality)",
}


TEXT_COLUMNS = ("patient_name", "patient_id", "film_session_label", "calling_ae_title", "printer", "job_uid")


@dataclass(frozen=True)
class FilmSql:
    """How one backend writes a FilmFilter's conditions; the rest of them is the same SQL."""

    parameter: str  # its placeholder
    like: str  # a case-insensitive LIKE (SQLite's LIKE is, for ASCII)
    patient: tuple[str, str]  # the folded patient name and patient ID (identity.model.fold)
    text: str  # the folded text of a film's TEXT_COLUMNS, joined by spaces


SQLITE_FILMS = FilmSql(
    "?",
    "LIKE",
    ("fold(patient_name)", "fold(patient_id)"),
    # one fold() per row, of the columns joined (a Python call per column made a search of 1000 films take
    # 45 ms); words may then be found across columns ("doe p-1")
    "fold(" + " || ' ' || ".join(f"coalesce({c}, '')" for c in TEXT_COLUMNS) + ")",
)


def film_conditions(where: FilmFilter, sql: FilmSql = SQLITE_FILMS) -> tuple[str, list[Any]]:
    """The WHERE clause of a FilmFilter (" WHERE ..." or ""), and its parameters."""
    p, like = sql.parameter, sql.like
    conditions: list[str] = []
    parameters: list[Any] = []
    if where.printed_from:
        conditions.append(f"substr(requested_at, 1, 10) >= {p}")
        parameters.append(where.printed_from.isoformat())
    if where.printed_to:
        conditions.append(f"substr(requested_at, 1, 10) <= {p}")
        parameters.append(where.printed_to.isoformat())
    if where.calling_ae_title:
        conditions.append(f"calling_ae_title = {p}")
        parameters.append(where.calling_ae_title.strip())
    if where.printer:
        conditions.append(f"printer = {p}")
        parameters.append(where.printer.strip())
    if where.label:
        conditions.append(f"film_session_label {like} {p} ESCAPE '\\'")
        parameters.append(_like(where.label))
    if where.patient:
        name, patient_id = sql.patient
        conditions.append(f"({name} LIKE {p} ESCAPE '\\' OR {patient_id} LIKE {p} ESCAPE '\\')")
        parameters += [_folded_like(where.patient)] * 2
    if where.job_uid:
        conditions.append(f"job_uid {like} {p} ESCAPE '\\'")
        parameters.append(_like(where.job_uid.rstrip("*") + "*"))
    if where.association_id:
        conditions.append(f"association_id = {p}")
        parameters.append(where.association_id)
    if where.review is not None:
        conditions.append("identity_confirmed = '0'" if where.review else "identity_confirmed = '1'")
    if where.sop_instance_uid:
        conditions.append(f"sop_instance_uid = {p}")
        parameters.append(where.sop_instance_uid)
    if where.text:
        conditions.append(f"{sql.text} LIKE {p} ESCAPE '\\'")
        parameters.append(_folded_like(where.text.replace("*", " ").replace("?", " ")))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), parameters


def _column(name: str) -> str:
    """A column name from a query, checked: names are put into SQL text, values never are."""
    if name not in INSTANCE_COLUMNS:
        raise ValueError(f"not an instance column: {name!r}")
    return name


def _where(conditions: Sequence[Condition]) -> tuple[str, list[str]]:
    clauses: list[str] = []
    parameters: list[str] = []
    for condition in conditions:
        column = _column(condition.column)
        target = f"unicode_upper({column})" if condition.ignore_case else column  # SQLite's UPPER: ASCII only
        if condition.kind == "equal" and len(condition.values) == 1:
            clauses.append(f"{target} = ?")
        elif condition.kind == "equal":
            clauses.append(f"{target} IN ({', '.join('?' for _ in condition.values)})")
        elif condition.kind == "at_least":
            clauses.append(f"{target} >= ?")
        elif condition.kind == "at_most":
            clauses.append(f"{target} <= ?")
        else:  # GLOB has * and ? as wanted; its own [ is escaped
            clauses.append(f"{target} GLOB ?")
            parameters.append(condition.values[0].replace("[", "[[]"))
            continue
        parameters.extend(condition.values)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def _like(text: str) -> str:
    """A user's text as a LIKE pattern: * and ? are wildcards, anything else is contained, any case."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in text or "?" in text:
        return escaped.replace("*", "%").replace("?", "_")
    return f"%{escaped}%"


def _upper(value: str | None) -> str | None:
    return value.upper() if value else value


def _folded_like(text: str) -> str:
    """A user's search as a LIKE pattern on folded text: with * or ?, the whole value matches the pattern;
    else its words are found in that order, each anywhere (a prefix of a name is enough)."""
    folded = fold(text)
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in folded or "?" in folded:
        return escaped.replace("*", "%").replace("?", "_")
    return "%" + "%".join(escaped.split(" ")) + "%"


def _schema_version(db: sqlite3.Connection) -> str | None:
    """The schema version of an index, or None for a new, empty file."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return None if row is None else str(row[0])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
