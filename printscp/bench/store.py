"""Transcripts on disk, beside the archive, and in its index.

Each association's transcript is `<archive>/transcripts/YYYY/MM/DD/<association id>.jsonl` (its start day),
with `<association id>.data/` beside it when transcripts.keep_pixels keeps whole data sets. The archive's
index has a row per transcript (written when the association ends); like the films' rows it is a cache of
the files: `reconcile` indexes the files it lacks (a server killed mid-association leaves a file without a
row) and drops rows whose file is gone.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from printscp.archive.film_index import FilmFilter, FilmIndex, TranscriptFilter
from printscp.bench.transcript import Film, Transcript, load

log = logging.getLogger(__name__)

TRANSCRIPTS = "transcripts"
SUFFIX = ".jsonl"


class TranscriptNotFound(LookupError):
    """No transcript, or several, answer to what was asked; the message says which."""


@dataclass(frozen=True)
class TranscriptSummary:
    """One row of `printscp transcripts`."""

    association_id: str
    started: str
    calling_ae_title: str
    called_ae_title: str
    printer: str
    peer: str
    messages: int
    films: int
    outcome: str
    verdict: str
    path: Path


class TranscriptStore:
    def __init__(self, archive_folder: Path, index: FilmIndex) -> None:
        self.archive_folder = archive_folder
        self.folder = archive_folder / TRANSCRIPTS
        self.index = index

    def path_for(self, association_id: str, started: datetime) -> Path:
        return self.folder / f"{started:%Y}" / f"{started:%m}" / f"{started:%d}" / f"{association_id}{SUFFIX}"

    @staticmethod
    def data_folder(path: Path) -> Path:
        """Where keep_pixels puts the whole data sets of the transcript at `path`."""
        return path.with_suffix(".data")

    # --- the index ------------------------------------------------------------------------------------

    def add(self, path: Path, transcript: Transcript | None = None, films: int | None = None) -> None:
        """Index the transcript at `path` (read from it unless given); `films` as counted while serving."""
        transcript = transcript if transcript is not None else load(path)
        association = transcript.association
        if films is None:
            films = len(self.index.find_films(FilmFilter(association_id=association.id)))
        self.index.add_transcripts(
            [
                {
                    "association_id": association.id,
                    "started": association.started,
                    "calling_ae_title": association.calling_ae_title,
                    "called_ae_title": association.called_ae_title,
                    "printer": association.printer,
                    "peer": association.peer,
                    "messages": len(transcript.messages),
                    "films": films,
                    "outcome": transcript.outcome.value,
                    "verdict": transcript.verdict.value,
                    "path": path.relative_to(self.archive_folder).as_posix(),
                    "size": _size(path),
                }
            ]
        )

    def reconcile(self) -> tuple[int, int]:
        """Index transcript files the index lacks, drop rows whose file is gone: (added, dropped)."""
        known = self.index.transcript_paths()
        on_disk = {path.stem: path for path in self.folder.glob(f"*/*/*/*{SUFFIX}")}
        added = dropped = 0
        for association_id, path in on_disk.items():
            if association_id not in known:
                try:
                    self.add(path)
                    added += 1
                except (OSError, ValueError) as exc:  # not a transcript after all: leave the file, say so
                    log.warning("%s is not a readable transcript: %s", path, exc)
        for association_id in set(known) - set(on_disk):
            self.index.remove_transcript(association_id)
            dropped += 1
        return added, dropped

    # --- reading --------------------------------------------------------------------------------------

    def list(self, where: TranscriptFilter | None = None) -> list[TranscriptSummary]:
        """The transcripts that match, newest first."""
        return [
            TranscriptSummary(
                association_id=row["association_id"],
                started=row["started"] or "",
                calling_ae_title=row["calling_ae_title"] or "",
                called_ae_title=row["called_ae_title"] or "",
                printer=row["printer"] or "",
                peer=row["peer"] or "",
                messages=int(row["messages"] or 0),
                films=int(row["films"] or 0),
                outcome=row["outcome"] or "",
                verdict=row["verdict"] or "",
                path=self.archive_folder / row["path"],
            )
            for row in self.index.find_transcripts(where or TranscriptFilter())
        ]

    def load(self, association_id: str) -> Transcript:
        """The transcript of an association (its id, or a beginning that only it has), with its films."""
        rows = self.list(TranscriptFilter(association_id=association_id))
        exact = [row for row in rows if row.association_id == association_id]
        if exact:
            rows = exact
        if not rows:
            raise TranscriptNotFound(f"no transcript of an association {association_id!r}")
        if len(rows) > 1:
            ids = ", ".join(row.association_id for row in rows[:5])
            raise TranscriptNotFound(f"{len(rows)} associations begin with {association_id!r}: {ids}")
        return self.read(rows[0].path)

    def last(self, calling_ae_title: str | None = None, since: str | None = None) -> Transcript | None:
        """The newest transcript (of that calling AE, started at or after `since`), or None."""
        rows = self.list(TranscriptFilter(calling_ae_title=calling_ae_title, since=since, limit=1))
        return self.read(rows[0].path) if rows else None

    def read(self, path: Path) -> Transcript:
        """A transcript file, with the films its association printed as the archive has them now."""
        transcript = load(path)
        rows = self.index.find_films(FilmFilter(association_id=transcript.association.id))
        films = tuple(
            Film(
                job_uid=row["job_uid"],
                film_number=int(row["film_number"]),
                pdf=f"{row['folder']}/{row['pdf']}",
                png=f"{row['folder']}/{row['png']}",
            )
            for row in rows
        )
        return replace(transcript, films=films)

    # --- retention ------------------------------------------------------------------------------------

    def enforce_retention(self, max_age_days: float, max_size_gb: float) -> int:
        """Delete the oldest transcripts past the age or over the size; returns how many."""
        if not max_age_days and not max_size_gb:
            return 0
        rows = sorted(self.index.find_transcripts(TranscriptFilter()), key=lambda row: row["started"] or "")
        total = sum(int(row["size"] or 0) for row in rows)
        oldest_kept = (datetime.now().astimezone() - timedelta(days=max_age_days)).isoformat() if max_age_days else ""
        removed = 0
        for row in rows:
            too_old = bool(oldest_kept) and (row["started"] or "") < oldest_kept
            too_big = bool(max_size_gb) and total > max_size_gb * 1e9
            if not (too_old or too_big):
                break
            path = self.archive_folder / row["path"]
            path.unlink(missing_ok=True)
            shutil.rmtree(self.data_folder(path), ignore_errors=True)
            self.index.remove_transcript(row["association_id"])
            total -= int(row["size"] or 0)
            removed += 1
        if removed:
            log.info("retention: removed %d transcript(s)", removed)
        return removed


def _size(path: Path) -> int:
    size = path.stat().st_size
    data = TranscriptStore.data_folder(path)
    if data.is_dir():
        size += sum(file.stat().st_size for file in data.iterdir())
    return size
