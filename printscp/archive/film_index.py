"""What the archive asks of its index, in domain terms: `FilmIndex`, whatever database is behind it.

The index is a cache of the archive's files (rebuilt from them by `FilmArchive.reconcile`): one row per
DICOM instance (received by C-STORE, or an Encapsulated PDF of a printed film) and one per printed film.
Rows are mappings of the column names below to text (or None). Every write is idempotent by key, so two
processes may both rebuild. archive/index.py is the SQLite backend (the embedded default) and
archive/pg_index.py the PostgreSQL one (`[index] url`, its schema in printscp/db); with printscp/db/schema.py
they are the only modules that know SQL. archive/store.py `open_index` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

Row = Mapping[str, Any]

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
    "source",  # "print": a printed film's Encapsulated PDF; "store": received by C-STORE
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
    "printer",  # AE title of the printer that printed it
    "requested_at",
    "rendered_at",
    "film_session_label",
    "owner_id",
    "film_size_id",
    "image_display_format",
    "number_of_copies",
    "color",  # "1": a film of colour images (Basic Color Print Management), "0" grayscale
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "accession_number",
    "identity_source",  # printscp/identity: scu, label, worklist, pacs, ocr, manual; "" unknown
    "identity_confirmed",  # "1" or "0"
    "identity_review",  # why a person should look; "" nothing to review
    "study_instance_uid",
    "folder",
    "pdf",
    "png",
    "dcm",
    "pdf_sha256",
    "png_sha256",
    "dcm_sha256",
    "size",
    "association_id",  # the association that printed it (net/association_log.py; its transcript's id)
)
TRANSCRIPT_COLUMNS = (
    "association_id",
    "started",  # ISO 8601
    "calling_ae_title",
    "called_ae_title",
    "printer",
    "peer",
    "messages",  # DIMSE messages, both directions
    "films",
    "outcome",  # bench/transcript.py Outcome
    "verdict",  # bench/transcript.py Verdict
    "path",  # the transcript file, relative to the archive folder
    "size",
)

Source = Literal["print", "store"]


@dataclass(frozen=True)
class FilmFilter:
    """Which printed films `printscp films` (and the web API) asks for; every condition must hold."""

    printed_from: date | None = None  # first day, inclusive
    printed_to: date | None = None  # last day, inclusive
    calling_ae_title: str | None = None
    printer: str | None = None  # AE title of the printer
    label: str | None = None  # Film Session Label; contains, or a * ? pattern; any case
    patient: str | None = None  # Patient Name or Patient ID of the Proposed Study Sequence, the same way
    job_uid: str | None = None  # a Print Job SOP Instance UID or its beginning
    association_id: str | None = None  # the association that printed it
    sop_instance_uid: str | None = None  # one film: the SOP Instance UID of its Encapsulated PDF
    text: str | None = None  # any of patient name or ID, label, calling AE title, printer, job UID contains it
    review: bool | None = None  # True: only films whose identity is unconfirmed or unknown; False: only confirmed
    newest_first: bool = False  # else oldest first
    limit: int | None = None  # at most this many (a page), from `offset`
    offset: int = 0


@dataclass(frozen=True)
class TranscriptFilter:
    """Which association transcripts `printscp transcripts` and `printscp report` ask for."""

    association_id: str | None = None  # an association id or its beginning
    calling_ae_title: str | None = None
    since: str | None = None  # ISO 8601: started at or after
    limit: int | None = None  # the newest this many
    offset: int = 0  # after skipping this many of the newest


@dataclass(frozen=True)
class Condition:
    """One matching condition on an instance column (archive/query.py turns C-FIND keys into these).

    `equal`: the column is one of `values`; `at_least` / `at_most`: compared as text (DA, TM, DT ranges);
    `pattern`: one value with * (any run) and ? (one character) wildcards, nothing else special.
    With `ignore_case` the column is compared upper-cased (values come upper-cased already).
    """

    column: str
    kind: Literal["equal", "at_least", "at_most", "pattern"]
    values: tuple[str, ...]
    ignore_case: bool = False


# Values computed over the instances below a matched entity (PS3.4 C.3.2 to C.3.4)
Aggregate = Literal["studies", "series", "instances", "modalities"]


@dataclass(frozen=True)
class InstanceQuery:
    """C-FIND at one level: one answer per distinct `group_by`, with `columns` (any value of the group)
    and `aggregates`, ordered by study date and time, then `group_by`."""

    group_by: str
    columns: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    aggregates: tuple[Aggregate, ...] = field(default=())
    # Modalities in Study matching (PS3.4 C.6.2.1.2): a study matches when one of its series has one of these
    with_modalities: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class RetentionItem:
    """Something retention may delete: a print job (all its films) or an instance received by C-STORE."""

    at: str  # ISO 8601: when it was rendered or received
    size: int  # bytes on disk
    kind: Literal["job", "instance"]
    uid: str  # Print Job SOP Instance UID, or SOP Instance UID


class FilmIndex(Protocol):
    # --- writes (idempotent) ---

    def add_films(self, rows: Iterable[Row]) -> None:
        """Add or replace printed films, by (job_uid, film_number)."""

    def add_instances(self, rows: Iterable[Row], replace: bool = True) -> None:
        """Add instances; with replace=False a row already there wins (a rebuild never overwrites a fresher one)."""

    def remove_job(self, job_uid: str) -> None:
        """Forget a print job: its films and their Encapsulated PDF instances."""

    def remove_instance(self, sop_instance_uid: str) -> None: ...

    # --- printed films ---

    def job_uids(self) -> set[str]:
        """Every print job with a film in the index."""

    def job_folders(self, job_uid: str) -> list[str]:
        """The folder (relative to the archive) of a print job's films."""

    def count_films(self, where: FilmFilter) -> int:
        """How many films match (`limit` and `offset` ignored): the total of a paged list."""
        ...

    def find_films(self, where: FilmFilter) -> list[dict[str, Any]]:
        """Film rows that match, oldest first (by requested_at, job, film number)."""

    # --- instances ---

    def instances(self, job_uid: str | None = None) -> list[dict[str, Any]]:
        """Every instance row, or those of one print job."""

    def instance_paths(self, sop_instance_uid: str, source: Source) -> list[str]:
        """Where an instance of that source is kept (relative to the archive)."""

    def stored_paths(self) -> dict[str, str]:
        """path -> SOP Instance UID of every instance received by C-STORE."""

    def match_instances(self, query: InstanceQuery) -> list[dict[str, Any]]:
        """C-FIND: one row per matching entity, `query.columns` and `query.aggregates` as keys
        (an aggregate of modalities is a list of the distinct values)."""

    def retrieve_instances(self, conditions: Sequence[Condition]) -> list[tuple[str, str, str]]:
        """C-GET / C-MOVE: (SOP Instance UID, SOP Class UID, path) of every matching instance, in study,
        series and Instance Number order."""

    # --- retention ---

    def retention_items(self) -> list[RetentionItem]:
        """Every print job and C-STORE instance with its age and size, oldest first."""

    # --- transcripts (bench/store.py) ---

    def add_transcripts(self, rows: Iterable[Row]) -> None:
        """Add or replace transcript rows (by association_id)."""

    def remove_transcript(self, association_id: str) -> None: ...

    def find_transcripts(self, where: TranscriptFilter) -> list[dict[str, Any]]:
        """Transcript rows matching `where`, newest first."""

    def transcript_paths(self) -> dict[str, str]:
        """association_id -> path of every indexed transcript."""

    def close(self) -> None: ...
