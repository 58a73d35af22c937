"""The archive's index: SQLite, one row per DICOM instance and one per printed film.

The index is a cache of what is on disk: `FilmArchive.reconcile` adds every job folder and instance file it
does not know and drops rows whose files are gone, so a lost, stale or corrupt index is rebuilt from the
files (a corrupt one is set aside first). Every write is idempotent (INSERT OR REPLACE by primary key), so
the server and a `printscp films` command may both reconcile. WAL mode lets them read while the other
writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

INSTANCE_COLUMNS = (
    "sop_instance_uid",
    "sop_class_uid",
    "patient_id",
    "patient_name",
    "patient_birth_date",
    "patient_sex",
    "study_instance_uid",
    "study_date",
    "study_time",
    "accession_number",
    "study_id",
    "study_description",
    "referring_physician_name",
    "series_instance_uid",
    "modality",
    "series_number",
    "series_description",
    "instance_number",
    "path",
    "size",
    "added_at",
    "source",
    "job_uid",
    "calling_ae_title",
)
FILM_COLUMNS = (
    "job_uid",
    "film_number",
    "sop_instance_uid",
    "film_session_uid",
    "film_box_uid",
    "calling_ae_title",
    "called_ae_title",
    "requested_at",
    "rendered_at",
    "film_session_label",
    "owner_id",
    "film_size_id",
    "image_display_format",
    "number_of_copies",
    "patient_name",
    "patient_id",
    "study_instance_uid",
    "folder",
    "pdf",
    "png",
    "dcm",
    "pdf_sha256",
    "png_sha256",
    "dcm_sha256",
    "size",
)

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
"""


class Index:
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
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writes (idempotent) --------------------------------------------------------------------------

    def add_instances(self, rows: Iterable[dict[str, Any]], replace: bool = True) -> None:
        """Add rows; with replace=False a row already there wins (a rebuild never overwrites a fresher row)."""
        with self._lock, self._db:
            self._db.executemany(
                f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO instances ({', '.join(INSTANCE_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in INSTANCE_COLUMNS)})",
                [tuple(_text(row.get(c)) for c in INSTANCE_COLUMNS) for row in rows],
            )

    def add_films(self, rows: Iterable[dict[str, Any]]) -> None:
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

    # --- reads ------------------------------------------------------------------------------------------

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, parameters))

    def job_uids(self) -> set[str]:
        return {row[0] for row in self.query("SELECT DISTINCT job_uid FROM films")}

    def stored_paths(self) -> dict[str, str]:
        """path -> SOP Instance UID of every instance received by C-STORE."""
        return {
            row[0]: row[1] for row in self.query("SELECT path, sop_instance_uid FROM instances WHERE source = 'store'")
        }


def _schema_version(db: sqlite3.Connection) -> str | None:
    """The schema version of an index, or None for a new, empty file."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return None if row is None else str(row[0])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
