"""The print spool: acknowledged print jobs, durable on disk until their films are in the archive.

Layout under `<archive>/.spool/`:

    live/<spool>-<n>.npy  pixels of an Image Box as received, written in the background at N-SET time;
                          deleted when the image is dropped (replaced, its hierarchy gone)
    incoming/<job uid>/   a job being written
    jobs/<job uid>/       an acknowledged job: job.json ({"job_uid", "sequence", "request": the film record as
                          model/record.py writes it}) and one hard link per image
    failed/<job uid>/     a job that could not be rendered, kept with error.txt for inspection
    removing/             a printed job's folder, moved here in one rename before it is deleted: a kill
                          in the middle of deleting it leaves no half job in jobs/ (it would be set aside
                          in failed/ as unreadable at the next start, though it was printed)

N-ACTION hard-links the images of the request (waiting for any write still in flight), writes
job.json, fsyncs, and renames the folder into jobs/ in one step; only then is the N-ACTION answered.
Writing the pixels while the N-SETs arrive keeps that step short: on this machine 20 x 8 MB take
~0.5 s to write, the same as receiving them. A job leaves jobs/ after its films are in the archive;
after a crash, a job whose archive folder already exists is removed, not printed twice.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import json
import logging
import os
import secrets
import shutil
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from printscp.model.record import Image, Pixels, PrintRequest
from printscp.model.record_json import dump_request, load_request

log = logging.getLogger(__name__)

JOB_FILE = "job.json"


@dataclasses.dataclass(frozen=True)
class SpooledJob:
    job_uid: str
    sequence: int  # order of acknowledgement, kept across restarts
    request: PrintRequest
    folder: Path


class Spool:
    def __init__(self, archive: Path, root: Path | None = None) -> None:
        """The spool of the archive folder `archive`: `<archive>/.spool`, or `root` (a cluster node's own)."""
        self.root = root if root is not None else archive / ".spool"
        self.live, self.incoming = self.root / "live", self.root / "incoming"
        self.jobs, self.failed = self.root / "jobs", self.root / "failed"
        self.removing = self.root / "removing"
        for folder in (self.live, self.incoming, self.jobs, self.failed, self.removing):
            folder.mkdir(parents=True, exist_ok=True)
        # Files in live/, incoming/ and removing/ belong to a process that is gone, or to an earlier Spool of
        # this one, whose images may delete their own files meanwhile: nothing of ours refers to them.
        for folder in (self.live, self.incoming, self.removing):
            for entry in folder.iterdir():
                try:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                except FileNotFoundError:  # deleted by its owner since we listed it
                    pass
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-writer")
        self._written: dict[int, tuple[Future[Path], Any]] = {}  # id(image) -> (write, finalizer)
        self._lock = threading.Lock()
        # live/ names of this Spool alone: a file another Spool on the folder made (and cleared away at our
        # start) is deleted by its image's finalizer when that image goes, and must not be one of ours
        self._instance = secrets.token_hex(4)
        self._names = itertools.count()
        existing = [job.sequence for job in self.pending()]
        self._sequence = itertools.count(max(existing, default=0) + 1)

    # --- images, as they arrive --------------------------------------------------------------------

    def prepare(self, image: Image) -> None:
        """Start writing an image's pixels now, so that a print of it can be made durable quickly."""
        path = self.live / f"{self._instance}-{next(self._names)}.npy"
        future = self._writer.submit(_save, path, image.pixels)
        key = id(image)
        # the file goes when the image does (replaced by a later N-SET, or its association ended)
        finalizer = weakref.finalize(image, self._forget, key, future)
        with self._lock:
            self._written[key] = (future, finalizer)

    def _forget(self, key: int, future: Future[Path]) -> None:
        with self._lock:
            self._written.pop(key, None)
        future.add_done_callback(lambda done: _unlink(done.result()) if not done.exception() else None)

    def _image_file(self, image: Image) -> Path:
        with self._lock:
            entry = self._written.get(id(image))
        if entry is None or entry[0].exception() is not None:
            # not prepared (or prepared by another spool), or its write failed (disk full at N-SET time,
            # space since freed): write it now
            if entry is not None:
                entry[1].detach()
            self.prepare(image)
            with self._lock:
                entry = self._written[id(image)]
        return entry[0].result()

    # --- jobs ----------------------------------------------------------------------------------------

    def add(self, job_uid: str, request: PrintRequest) -> SpooledJob:
        """Make a job durable: when this returns, a crash cannot lose it."""
        staging = self.incoming / job_uid
        try:
            return self._add(staging, job_uid, request)
        except BaseException:  # disk full, read-only: nothing half written stays behind
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _add(self, staging: Path, job_uid: str, request: PrintRequest) -> SpooledJob:
        staging.mkdir()
        images: dict[int, str] = {}
        for f, film in enumerate(request.films):
            for box in film.image_boxes:
                if box.image is not None and id(box.image) not in images:
                    name = f"film{f + 1}-box{box.image_box_position}.npy"
                    os.link(self._image_file(box.image), staging / name)
                    images[id(box.image)] = name
        sequence = next(self._sequence)
        record = json.loads(dump_request(request, lambda image: images[id(image)]))
        document = {"job_uid": job_uid, "sequence": sequence, "request": record}
        _write_json(staging / JOB_FILE, document)
        fsync_dir(staging)
        final = self.jobs / job_uid
        os.rename(staging, final)
        fsync_dir(self.jobs)
        return SpooledJob(job_uid, sequence, request, final)

    def pending(self) -> list[SpooledJob]:
        """Every acknowledged job still to print, as stored (pixels memory-mapped from the spool)."""
        found = []
        for folder in sorted(self.jobs.iterdir()):
            try:
                found.append(self.load(folder))
            except Exception:  # a job that cannot be read is set aside, not retried for ever
                log.exception("spooled job %s cannot be read; moved to %s", folder.name, self.failed)
                self.set_aside(folder, "cannot be read")
        return found

    def load(self, folder: Path) -> SpooledJob:
        return load_spooled(folder)

    def remove(self, job_uid: str) -> None:
        """Forget a printed (or dropped) job: out of jobs/ in one rename, then deleted."""
        gone = self.removing / f"{job_uid}-{time.monotonic_ns()}"
        try:
            os.rename(self.jobs / job_uid, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    def remove_folder(self, folder: Path) -> None:
        """Forget a printed job spooled elsewhere (another node's spool, on shared storage) as `remove` does."""
        gone = self.removing / f"{folder.name}-{time.monotonic_ns()}"
        try:
            os.rename(folder, gone)
        except FileNotFoundError:
            return
        shutil.rmtree(gone, ignore_errors=True)

    def set_aside(self, folder: Path, reason: str) -> None:
        target = self.failed / folder.name
        if target.exists():
            shutil.rmtree(target)
        os.rename(folder, target)
        (target / "error.txt").write_text(reason + "\n", encoding="utf-8")

    def close(self) -> None:
        self._writer.shutdown(wait=True)


def load_spooled(folder: Path) -> SpooledJob:
    """A spooled job as stored, its pixels memory-mapped from the spool (a render worker reads it so)."""
    with open(folder / JOB_FILE, encoding="utf-8") as file:
        document = json.load(file)
    request = load_request(json.dumps(document["request"]).encode(), lambda name: _load_pixels(folder / name))
    return SpooledJob(document["job_uid"], document["sequence"], request, folder)


def _save(path: Path, pixels: np.ndarray) -> Path:
    try:
        with open(path, "wb") as file:
            header = _npy_header(pixels.dtype, pixels.shape) if _plain_c_order(pixels) else None
            if header is not None:
                # the bytes np.save writes (tests/unit/test_spool_npy.py): its header, then the pixels in
                # C order; np.save builds the header anew and syncs a C FILE* with the file (seeks) per image
                file.write(header)
                file.write(pixels.data)
            else:
                np.save(file, pixels, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:  # a full disk leaves no half file behind
        _unlink(path)
        raise
    return path


def _plain_c_order(pixels: np.ndarray) -> bool:
    """An array np.save writes as its header and then its memory as it is: C-contiguous, not empty, no
    objects (F-contiguous arrays are written in Fortran order, object arrays pickled)."""
    return (
        type(pixels) is np.ndarray
        and pixels.flags.c_contiguous
        and pixels.size > 0
        and not pixels.dtype.hasobject
        and pixels.dtype.fields is None
    )


@functools.lru_cache(maxsize=64)
def _npy_header(dtype: np.dtype[Any], shape: tuple[int, ...]) -> bytes:
    """The .npy header np.save writes for a C-contiguous array of `dtype` and `shape` (taken from what it
    writes for one: the header depends on nothing else)."""
    model = np.zeros(shape, dtype)
    buffer = io.BytesIO()
    np.save(buffer, model, allow_pickle=False)
    return buffer.getvalue()[: -model.nbytes]


def _load_pixels(path: Path) -> Pixels:
    pixels: Pixels = np.load(path, mmap_mode="r")
    return pixels


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _write_json(path: Path, document: Any) -> None:
    # dumps, not dump: json.dump encodes in pure Python, piece by piece; dumps uses the C encoder
    text = json.dumps(document, ensure_ascii=False)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a file made, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
