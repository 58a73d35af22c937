"""bench/store.py: transcript files, their index rows, reconcile and retention (files on disk, no sockets); on
each FilmIndex backend (SQLite, PostgreSQL: the `new_index` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from printscp.bench.store import TranscriptStore
from printscp.bench.transcript import Association, End, Outcome, line


def write(store: TranscriptStore, association_id: str, started: datetime, size: int = 0) -> Path:
    path = store.path_for(association_id, started)
    path.parent.mkdir(parents=True, exist_ok=True)
    association = Association(association_id, "127.0.0.1:1", "SCU", "PRINTSCP", "PRINTSCP", started.isoformat())
    lines = [line(association), line(End(Outcome.RELEASED, started.isoformat())), line(())]
    path.write_text("\n".join(lines) + "\n" + " " * size, encoding="utf-8")
    return path


def test_retention_removes_the_old_and_then_the_oldest_over_the_size(tmp_path: Path, new_index: Any) -> None:
    store = TranscriptStore(tmp_path, new_index())
    now = datetime.now().astimezone()
    paths = {
        "old": write(store, "old", now - timedelta(days=40)),
        "older": write(store, "older", now - timedelta(days=50)),
        "a": write(store, "a", now - timedelta(days=3), size=4000),
        "b": write(store, "b", now - timedelta(days=2), size=4000),
        "c": write(store, "c", now - timedelta(days=1), size=4000),
    }
    assert store.reconcile() == (5, 0)
    assert [row.association_id for row in store.list()] == ["c", "b", "a", "old", "older"]
    assert store.enforce_retention(max_age_days=30, max_size_gb=0) == 2
    assert not paths["old"].exists() and not paths["older"].exists()
    # about 4.3 kB each: room for two
    assert store.enforce_retention(max_age_days=0, max_size_gb=9000 / 1e9) == 1
    assert [row.association_id for row in store.list()] == ["c", "b"]
    assert not paths["a"].exists() and paths["b"].exists()
    assert store.enforce_retention(max_age_days=0, max_size_gb=0) == 0


def test_reconcile_indexes_files_it_lacks_and_forgets_rows_whose_file_is_gone(tmp_path: Path, new_index: Any) -> None:
    store = TranscriptStore(tmp_path, new_index())
    now = datetime.now().astimezone()
    kept = write(store, "kept", now)
    gone = write(store, "gone", now - timedelta(minutes=1))
    broken = store.path_for("broken", now)
    broken.write_text("{not json\n", encoding="utf-8")
    assert store.reconcile() == (2, 0)  # the broken file is left alone, and said so in the log
    gone.unlink()
    assert store.reconcile() == (0, 1)
    (row,) = store.list()
    assert (row.association_id, row.outcome, row.verdict, row.path) == ("kept", "released", "pass", kept)
