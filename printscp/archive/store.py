"""The film archive: printed films, received instances, and their index.

Layout under the archive folder:

    YYYY/MM/DD/<print job uid>/   one print job: film-N.pdf, film-N.png, film-N.dcm (Encapsulated PDF),
                                  manifest.json (the film record as model/record.py writes it, plus each
                                  film's files and checksums), and print.pdf when the job is more than one sheet
    instances/YYYYMMDD/<sop instance uid>.dcm   instances received by C-STORE, by day of arrival
    index.sqlite                  the index (archive/index.py), rebuilt from the files when lost; with
                                  [index] url the index is a PostgreSQL database instead (archive/pg_index.py)
    .incoming/  .trash/           being written / being deleted

A job is written into `.incoming/<job uid>/`, every file fsynced, and the folder renamed into its day
folder in one step, so a reader never sees half a job; it is indexed after the rename, and a crash in
between is mended by `reconcile` at the next start. Deleting moves a folder into `.trash/` first (one
atomic step), then drops its rows, then removes the files. Names on disk come from UIDs and counters only,
never from text an SCU sent (a Film Session Label of `../../etc/passwd` stays a string in the manifest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite

from printscp.archive.dicom import INDEXED, encapsulated_pdf, index_row
from printscp.archive.film_index import FilmIndex
from printscp.archive.index import SqliteFilmIndex
from printscp.db import MISSING_DRIVER, DatabaseUnavailable, SchemaError
from printscp.identity.model import KEYWORDS, Identity, from_proposed_study
from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintRequest, RenderedFilm, RenderedJob
from printscp.model.record_json import dump_request, load_request

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PRINT_PDF = "print.pdf"  # the whole job in print order, when it is more than one sheet
PENDING_IDENTITY = "identity.pending.json"  # an assignment being written (FilmArchive.assign)
AUDIT_LOG = "audit.jsonl"  # every identity assignment: who, when, the old and the new
INDEX = "index.sqlite"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
JOB_MANIFESTS = f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*/{MANIFEST}"


@dataclass(frozen=True)
class StoredJob:
    folder: Path
    manifest: dict[str, Any]

    @property
    def request(self) -> PrintRequest:
        """The film record the job was printed from (without pixels: the archive keeps none)."""
        return load_request(json.dumps(self.manifest).encode(), None)

    @property
    def identity(self) -> Identity:
        """Whose films these are (a manifest from before identities: the Proposed Study's patient, if any)."""
        return identity_of(self.manifest)

    @property
    def pdfs(self) -> list[Path]:
        return [self.folder / film["pdf"] for film in self.manifest["films"]]

    @property
    def pngs(self) -> list[Path]:
        return [self.folder / film["png"] for film in self.manifest["films"]]

    @property
    def dicoms(self) -> list[Path]:
        return [self.folder / film["dcm"] for film in self.manifest["films"]]


def open_index(folder: Path, url: str = "", pool_size: int = 10) -> FilmIndex:
    """The index of the archive in `folder`: the PostgreSQL database at `url` ([index] url), else the SQLite
    file in the folder. SchemaError: psycopg is missing, or the database is unreachable or not upgraded."""
    if url:
        try:  # psycopg (an optional dependency) only when a database is named
            from printscp.archive.pg_index import PostgresFilmIndex
        except ImportError:
            raise SchemaError(MISSING_DRIVER) from None
        return PostgresFilmIndex(url, pool_size)
    return SqliteFilmIndex(folder / INDEX)


class FilmArchive:
    def __init__(
        self,
        folder: Path,
        profile: PrinterProfile | None = None,
        index: FilmIndex | None = None,
        work: Path | None = None,
    ) -> None:
        """`index`: where the films are indexed (open_index); None: the SQLite file in `folder`. `work`: where
        this process writes and deletes (`incoming/`, `trash/`), when several nodes share the folder (a
        cluster: `<archive>/.nodes/<node id>`); None: `.incoming/` and `.trash/` of the folder."""
        self.folder = folder
        self.profile = profile or PrinterProfile()
        self.incoming = work / "incoming" if work is not None else folder / ".incoming"
        self.trash = work / "trash" if work is not None else folder / ".trash"
        self.instances = folder / "instances"
        self.index: FilmIndex = index or SqliteFilmIndex(folder / INDEX)
        self._lock = threading.Lock()
        self._retention = threading.Lock()  # the print worker, C-STORE and a timer may all enforce it
        self._unindexed: dict[str, StoredJob] = {}  # archived while the index could not be written
        self._unindexed_said: set[str] = set()  # those the log has named
        self._unindexed_lock = threading.Lock()

    # --- print jobs ----------------------------------------------------------------------------------

    def folder_of(self, job_uid: str, requested_at: datetime) -> Path:
        return folder_of(self.folder, job_uid, requested_at)

    def store(self, job_uid: str, request: PrintRequest, job: RenderedJob, rendered_at: datetime) -> StoredJob:
        """Write a rendered job into the archive and index it."""
        stored = write_job(self.folder, self.profile, job_uid, request, job, rendered_at, incoming=self.incoming)
        self.index_stored(stored)
        return stored

    def index_stored(self, stored: StoredJob) -> None:
        """Index a job that `write_job` put in place (perhaps in a render worker process). When the index
        cannot take it (its database restarts, say) the films are safe on disk and the job is printed; it is
        indexed by the next `index_waiting` that can (at the next job, and every few seconds)."""
        with self._unindexed_lock:
            self._unindexed[stored.manifest["print_job_uid"]] = stored
        self.index_waiting()

    def index_waiting(self) -> int:
        """Index the archived jobs the index could not take before, oldest first; how many still wait."""
        with self._unindexed_lock:
            for job_uid, stored in list(self._unindexed.items()):
                try:
                    self._index_job(stored)
                except DatabaseUnavailable as exc:  # one line per job: the rest wait for the same database
                    if job_uid not in self._unindexed_said:
                        self._unindexed_said.add(job_uid)
                        log.error(
                            "print job %s is archived in %s but cannot be indexed now (%s); it will be once the "
                            "index can be written",
                            job_uid,
                            stored.folder,
                            exc,
                        )
                    break
                except Exception:  # a bug, or a damaged job: the next start's reconcile() tries it again
                    log.exception("print job %s is archived in %s but could not be indexed", job_uid, stored.folder)
                    del self._unindexed[job_uid]
                else:
                    del self._unindexed[job_uid]
                    if job_uid in self._unindexed_said:
                        self._unindexed_said.discard(job_uid)
                        log.warning("print job %s is indexed now", job_uid)
            return len(self._unindexed)

    def find(self, job_uid: str, requested_at: datetime) -> StoredJob | None:
        """The stored job, if its folder is in place (renamed there only once complete)."""
        return find_job(self.folder, job_uid, requested_at)

    def jobs(self) -> list[StoredJob]:
        """Every stored print job, oldest first (read from the files, not the index)."""
        found = []
        for path in self.folder.glob(JOB_MANIFESTS):
            try:
                found.append(_load_job(path))
            except FileNotFoundError:  # deleted by retention since the glob (a `printscp films` beside the server)
                continue
        return sorted(found, key=lambda job: job.manifest["requested_at"])

    def _index_job(self, job: StoredJob) -> None:
        """Index a stored job; its Encapsulated PDFs are read from disk (the index's tags only)."""
        manifest, request, identity = job.manifest, job.request, job.identity
        films, instances = [], []
        # the job's own files (manifest, print.pdf) count with its first film, so retention sees them
        shared = sum(path.stat().st_size for path in (job.folder / MANIFEST, job.folder / PRINT_PDF) if path.exists())
        for n, (film, snapshot) in enumerate(zip(manifest["films"], request.films, strict=True)):
            size = sum((job.folder / film[key]).stat().st_size for key in ("pdf", "png", "dcm"))
            size += shared if n == 0 else 0
            films.append(
                {
                    "job_uid": manifest["print_job_uid"],
                    "film_number": film["number"],
                    "sop_instance_uid": film["sop_instance_uid"],
                    "film_session_uid": snapshot.film_session_uid,
                    "film_box_uid": snapshot.film_box_uid,
                    "calling_ae_title": request.calling_ae_title,
                    "called_ae_title": request.called_ae_title,
                    "printer": request.printer_ae_title,
                    "requested_at": request.requested_at.isoformat(),
                    "rendered_at": manifest["rendered_at"],
                    "film_session_label": request.film_session_label,
                    "owner_id": snapshot.owner_id,
                    "film_size_id": snapshot.film_size_id,
                    "image_display_format": str(snapshot.image_display_format),
                    "number_of_copies": request.number_of_copies,
                    "color": "1" if snapshot.color else "0",
                    "patient_name": identity.patient_name,
                    "patient_id": identity.patient_id,
                    "patient_birth_date": identity.patient_birth_date,
                    "patient_sex": identity.patient_sex,
                    "accession_number": identity.accession_number,
                    "identity_source": identity.source or "",
                    "identity_confirmed": "1" if identity.confirmed else "0",
                    "identity_review": identity.review,
                    "study_instance_uid": film["study_instance_uid"],
                    "folder": self._relative(job.folder),
                    "pdf": film["pdf"],
                    "png": film["png"],
                    "dcm": film["dcm"],
                    "pdf_sha256": film["pdf_sha256"],
                    "png_sha256": film["png_sha256"],
                    "dcm_sha256": film["dcm_sha256"],
                    "size": size,
                    "association_id": request.association_id,
                }
            )
            header = _read_header(job.folder / film["dcm"])
            instances.append(
                {
                    **index_row(header),
                    "path": self._relative(job.folder / film["dcm"]),
                    "size": (job.folder / film["dcm"]).stat().st_size,
                    "added_at": manifest["rendered_at"],
                    "source": "print",
                    "job_uid": manifest["print_job_uid"],
                    "calling_ae_title": request.calling_ae_title,
                }
            )
        self.index.add_instances(instances)
        self.index.add_films(films)

    # --- instances received by C-STORE ----------------------------------------------------------------

    def store_instance(self, encoded: bytes, dataset: Dataset, calling_ae_title: str) -> Path:
        """Keep a received instance (`encoded`: the file as pynetdicom gives it) and index it."""
        uid = str(dataset.SOPInstanceUID)
        if not _UID.fullmatch(uid):
            raise ValueError(f"SOP Instance UID {uid!r} is not a UID")
        printed = self.index.instance_paths(uid, "print")
        if printed:  # one of our films coming back (say, a PACS returning what we forwarded): ours stays
            log.info(
                "C-STORE of %s from %s: a printed film that is archived already; kept as it is", uid, calling_ae_title
            )
            return self.folder / printed[0]
        now = datetime.now().astimezone()
        final = self.instances / f"{now:%Y%m%d}" / f"{uid}.dcm"
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f"{uid}.{threading.get_ident()}.tmp")
        _write(temporary, encoded)
        os.replace(temporary, final)
        _fsync_dir(final.parent)
        with self._lock:  # a second copy of an instance replaces the first
            previous = self.index.instance_paths(uid, "store")
            self.index.add_instances(
                [
                    {
                        **index_row(dataset),
                        "path": self._relative(final),
                        "size": len(encoded),
                        "added_at": now.isoformat(),
                        "source": "store",
                        "calling_ae_title": calling_ae_title,
                    }
                ]
            )
        for path in previous:
            if path != self._relative(final):
                _unlink(self.folder / path)
        return final

    # --- consistency with the disk -------------------------------------------------------------------------

    def clear_leftovers(self) -> None:
        """Finish deletes and identity assignments, and drop writes, that a killed server left half done; only
        the server calls this."""
        for leftover in (self.trash, self.incoming):
            if leftover.exists():
                shutil.rmtree(leftover)
        for pending in self.folder.glob(f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*/{PENDING_IDENTITY}"):
            entry = json.loads(pending.read_text(encoding="utf-8"))
            self._index_job(_apply_identity(pending.parent, entry))  # all again: each step is idempotent
            with open(self.folder / AUDIT_LOG, "a", encoding="utf-8") as audit:
                audit.write(json.dumps(entry, ensure_ascii=False) + "\n")
            pending.unlink()
            log.warning("print job %s: an identity assignment cut short was finished", entry["print_job_uid"])

    def reconcile(self) -> tuple[int, int]:
        """Make the index match the files: index what it misses, drop what is gone; (added, dropped).

        Safe beside a running server (a `printscp films` command does it too): rows are written by
        primary key, and it never touches a file.
        """
        with self._lock:
            added = dropped = 0
            indexed = self.index.job_uids()
            on_disk = {path.parent.name: path for path in self.folder.glob(JOB_MANIFESTS)}
            for job_uid, path in on_disk.items():
                if job_uid not in indexed:
                    try:
                        self._index_job(_load_job(path))
                        added += 1
                    except Exception:  # one damaged manifest must not stop the server; the files stay
                        log.exception("print job folder %s cannot be indexed", path.parent)
            for job_uid in indexed - set(on_disk):
                self.index.remove_job(job_uid)
                dropped += 1
            known = self.index.stored_paths()
            files = {self._relative(path) for path in self.instances.glob("*/*.dcm")}
            for relative in files - set(known):
                path = self.folder / relative
                try:
                    header = _read_header(path)
                    self.index.add_instances(
                        [
                            {
                                **index_row(header),
                                "path": relative,
                                "size": path.stat().st_size,
                                "added_at": datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(),
                                "source": "store",
                            }
                        ],
                        replace=False,
                    )
                    added += 1
                except Exception:  # not a DICOM file after all: leave it, say so
                    log.exception("%s is in the archive but cannot be read as DICOM", path)
            for relative in set(known) - files:
                self.index.remove_instance(known[relative])
                dropped += 1
        if added or dropped:
            log.info("archive index reconciled with %s: %d added, %d dropped", self.folder, added, dropped)
        return added, dropped

    # --- identity ---------------------------------------------------------------------------------------------

    def assign(self, job_uid: str, identity: Identity, by: str) -> StoredJob:
        """A person says whose films these are: every film's Encapsulated PDF, the manifest and the index
        take `identity` (source manual, confirmed), the change goes into the manifest's identity_history and
        <archive>/audit.jsonl. A kill half way is finished at the next start (`clear_leftovers`).

        A Study Instance UID not given keeps the films' own. The films keep their SOP Instance UIDs: a PACS
        that had the anonymous film gets the corrected one as the same instance."""
        with self._lock:
            folders = self.index.job_folders(job_uid)
            if not folders:
                raise KeyError(f"no print job {job_uid} in the archive")
            folder = self.folder / folders[0]
            old = _load_job(folder / MANIFEST).identity
            new = dataclasses.replace(identity, source="manual", confirmed=True, review="")
            entry = {
                "at": datetime.now().astimezone().isoformat(),
                "by": by,
                "action": "assign",
                "print_job_uid": job_uid,
                "old": identity_json(old),
                "new": identity_json(new),
            }
            _write(folder / PENDING_IDENTITY, json.dumps(entry, ensure_ascii=False).encode())  # the intent, first
            stored = _apply_identity(folder, entry)
            with open(self.folder / AUDIT_LOG, "a", encoding="utf-8") as audit:
                audit.write(json.dumps(entry, ensure_ascii=False) + "\n")
                audit.flush()
                os.fsync(audit.fileno())
            (folder / PENDING_IDENTITY).unlink()
            self._index_job(stored)
        log.info("print job %s: identity assigned by %s", job_uid, by)
        return stored

    # --- deletion and retention -------------------------------------------------------------------------------

    def remove_job(self, job_uid: str) -> None:
        for folder in self.index.job_folders(job_uid):
            self._discard(self.folder / folder)
        self.index.remove_job(job_uid)
        shutil.rmtree(self.trash, ignore_errors=True)

    def remove_instance(self, sop_instance_uid: str) -> None:
        for path in self.index.instance_paths(sop_instance_uid, "store"):
            self._discard(self.folder / path)
        self.index.remove_instance(sop_instance_uid)
        shutil.rmtree(self.trash, ignore_errors=True)

    def _discard(self, path: Path) -> None:
        """Move a job folder or instance file into .trash in one step (a crash leaves no half folder)."""
        if path.exists():
            self.trash.mkdir(exist_ok=True)
            os.rename(path, self.trash / f"{path.name}-{time.monotonic_ns()}")

    def enforce_retention(self, max_age_days: float, max_size_gb: float) -> int:
        """Delete the oldest print jobs and instances past the age or over the size; returns how many."""
        if not max_age_days and not max_size_gb:
            return 0
        with self._retention:
            return self._enforce_retention(max_age_days, max_size_gb)

    def _enforce_retention(self, max_age_days: float, max_size_gb: float) -> int:
        items = self.index.retention_items()
        total = sum(item.size for item in items)
        oldest_kept = (datetime.now().astimezone() - timedelta(days=max_age_days)).isoformat() if max_age_days else ""
        removed = 0
        for item in items:
            at, size, kind, uid = item.at, item.size, item.kind, item.uid
            too_old = bool(oldest_kept) and at < oldest_kept
            too_big = bool(max_size_gb) and total > max_size_gb * 1e9
            if not (too_old or too_big):
                break
            if kind == "job":
                self.remove_job(uid)
            else:
                self.remove_instance(uid)
            total -= size
            removed += 1
            log.info("retention: removed %s %s (%s)", kind, uid, "older than allowed" if too_old else "over size")
        return removed

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()


def find_job(archive: Path, job_uid: str, requested_at: datetime) -> StoredJob | None:
    """A stored job by its files alone (no index), if its folder is in place."""
    manifest_path = folder_of(archive, job_uid, requested_at) / MANIFEST
    if not manifest_path.exists():
        return None
    return _load_job(manifest_path)


def folder_of(archive: Path, job_uid: str, requested_at: datetime) -> Path:
    return archive / f"{requested_at:%Y}" / f"{requested_at:%m}" / f"{requested_at:%d}" / job_uid


def write_job(
    archive: Path,
    profile: PrinterProfile,
    job_uid: str,
    request: PrintRequest,
    job: RenderedJob,
    rendered_at: datetime,
    identity: Identity | None = None,
    incoming: Path | None = None,
) -> StoredJob:
    """Write a rendered job's files into `.incoming/<job uid>/` (or `incoming`: a cluster node's own, see
    FilmArchive) and rename the folder into its day folder.

    No index: a render worker process calls this, and the server indexes the job it returns
    (`FilmArchive.index_stored`), so SQLite has one writer.
    """
    if not _UID.fullmatch(job_uid):
        raise ValueError(f"not a UID: {job_uid!r}")
    staging = (incoming if incoming is not None else archive / ".incoming") / job_uid
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        identity = identity if identity is not None else from_proposed_study(request)
        return _write_job(archive, staging, profile, job_uid, request, job, rendered_at, identity)
    except BaseException:  # a full disk: the half-written job must not keep the space it took
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_job(
    archive: Path,
    staging: Path,
    profile: PrinterProfile,
    job_uid: str,
    request: PrintRequest,
    job: RenderedJob,
    rendered_at: datetime,
    identity: Identity,
) -> StoredJob:
    manifest = _manifest(job_uid, request, rendered_at, PRINT_PDF if job.print_pdf else None)
    manifest["identity"] = identity_json(identity)
    for number, (snapshot, rendered) in enumerate(zip(request.films, job.films, strict=True), start=1):
        pdf, png, dcm = f"film-{number}.pdf", f"film-{number}.png", f"film-{number}.dcm"
        _write(staging / pdf, rendered.pdf)
        _write(staging / png, rendered.png)
        document = encapsulated_pdf(rendered.pdf, request, snapshot, job_uid, number, profile, rendered_at, identity)
        encoded = _encode(document)
        _write(staging / dcm, encoded)
        _add_film_files(manifest["films"][number - 1], number, rendered, pdf, png, dcm, document, encoded)
        del document, encoded
    if job.print_pdf is not None:
        _write(staging / PRINT_PDF, job.print_pdf)
    _write(staging / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    _fsync_dir(staging)
    final = folder_of(archive, job_uid, request.requested_at)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, final)
    except OSError as exc:  # ENOTEMPTY, EEXIST: the job is there already (printed once, by whoever)
        if not (final / MANIFEST).exists():
            raise
        log.warning("print job %s was archived already (%s); the copy just written is dropped", job_uid, exc)
        shutil.rmtree(staging, ignore_errors=True)
        return _load_job(final / MANIFEST)
    _fsync_dir(final.parent)
    log.info("stored print job %s: %d film(s) in %s", job_uid, len(job.films), final)
    return StoredJob(final, manifest)


def _read_header(path: Path) -> Dataset:
    """Only what the index keeps, not pixels or an encapsulated document."""
    return dcmread(path, specific_tags=["SpecificCharacterSet", *INDEXED.values()])


def _encode(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _apply_identity(folder: Path, entry: Mapping[str, Any]) -> StoredJob:
    """Write an assignment's identity into each film's Encapsulated PDF, then the manifest (each file
    replaced by a rename, so a reader sees the old or the new one, never half)."""
    job = _load_job(folder / MANIFEST)
    identity = identity_of({"identity": entry["new"]})
    manifest = job.manifest
    for film in manifest["films"]:
        path = folder / film["dcm"]
        document = dcmread(path)
        for field, keyword in KEYWORDS.items():
            value = getattr(identity, field)
            if keyword == "StudyInstanceUID" and not value:
                continue  # not given: the film stays in its study
            setattr(document, keyword, value)
        encoded = _encode(document)
        _replace(path, encoded)
        film["dcm_sha256"] = hashlib.sha256(encoded).hexdigest()
        film["study_instance_uid"] = str(document.StudyInstanceUID)
    history = [h for h in manifest.get("identity_history", []) if h.get("at") != entry["at"]]
    manifest["identity"] = entry["new"]
    manifest["identity_history"] = [*history, dict(entry)]
    _replace(folder / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return StoredJob(folder, manifest)


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.new")
    _write(temporary, data)
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def identity_json(identity: Identity) -> dict[str, Any]:
    return dataclasses.asdict(identity)


def identity_of(manifest: Mapping[str, Any]) -> Identity:
    """The identity a manifest records; one written before identities: its Proposed Study's patient."""
    stored = manifest.get("identity")
    if isinstance(stored, dict):
        fields = {f.name for f in dataclasses.fields(Identity)}
        return Identity(**{k: v for k, v in stored.items() if k in fields})
    return from_proposed_study(load_request(json.dumps(manifest).encode(), None))


def _load_job(manifest_path: Path) -> StoredJob:
    with open(manifest_path, encoding="utf-8") as file:
        return StoredJob(manifest_path.parent, json.load(file))


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _manifest(job_uid: str, request: PrintRequest, rendered_at: datetime, print_pdf: str | None) -> dict[str, Any]:
    """The film record as model/record.py writes it (images described, not kept), and the job's own entries;
    each film gets its files with `_add_film_files`."""
    record = json.loads(dump_request(request, lambda image: None))
    return {
        "print_job_uid": job_uid,
        **record,
        "rendered_at": rendered_at.isoformat(),
        # PS3.4 H.4.1.2.4.1: copies are collated, 1-2-3-1-2-3; numbers refer to "films"
        "print_order": [index + 1 for index in request.collated_order],
        "print_pdf": print_pdf,
    }


def _add_film_files(
    film: dict[str, Any],
    number: int,
    rendered: RenderedFilm,
    pdf: str,
    png: str,
    dcm: str,
    document: Dataset,
    encoded: bytes,
) -> None:
    """A film's entry of the manifest: where its images landed, its files and their SHA-256."""
    placed = {image.image_box_position: image for image in rendered.images}
    for box in film["image_boxes"]:
        image = placed.get(box["image_box_position"])
        if image is not None:
            box.update(
                rect_pt=[round(v, 3) for v in image.rect_pt],
                printed_rows=image.printed_rows,
                printed_columns=image.printed_columns,
            )
    film.update(
        number=number,
        page_size_pt=[round(v, 3) for v in rendered.page_size_pt],
        png_dpi=rendered.dpi,
        pdf=pdf,
        png=png,
        dcm=dcm,
        sop_instance_uid=str(document.SOPInstanceUID),
        study_instance_uid=str(document.StudyInstanceUID),
        series_instance_uid=str(document.SeriesInstanceUID),
        pdf_sha256=hashlib.sha256(rendered.pdf).hexdigest(),
        png_sha256=hashlib.sha256(rendered.png).hexdigest(),
        dcm_sha256=hashlib.sha256(encoded).hexdigest(),
    )
