"""Print one spooled job: read its film record from the spool, render its films, write them into the archive.

This is what a render worker process does (jobs.py runs it in a process pool). The worker is given
paths, not pixels: it reads the job from the spool itself, its images memory-mapped from the spool's
.npy files, so no pixel crosses a pipe and nothing of a finished job stays in the server process. It
writes the job's files and renames its folder into place (archive/store.py `write_job`); indexing is
left to the server, so that the SQLite index has one writer.

`start_worker` prepares a worker process: it runs at a lower CPU priority than the server
(RENDER_NICENESS), its log records go to the server's log through a queue, it ignores SIGINT (a Ctrl-C of
`printscp serve` reaches the whole process group; the server decides what happens to the job), glibc
returns large freed blocks to the system (see heap.py), it loads Tesseract at once when OCR is on, and it
exits as soon as the server process is gone. A pool's worker would otherwise live on after a server killed
with -9 (it waits on a queue it holds both ends of), and could write a job into the archive while the next
server prints the same job from the spool.
"""

from __future__ import annotations

import copyreg
import logging
import logging.handlers
import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from queue import Queue
from types import MappingProxyType
from typing import Any

from printscp import heap
from printscp.archive.store import StoredJob, write_job
from printscp.config import DEFAULT_PNG_DPI
from printscp.identity.model import Identity, from_proposed_study
from printscp.identity.sources import IdentitySettings, identify
from printscp.model.profile import PrinterProfile
from printscp.model.record import PrintRequest
from printscp.model.stamp import format_stamp
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo
from printscp.spool import load_spooled

# Render workers (and the Tesseract runs they start) yield the CPU to the server process: a modality waits for
# its N-ACTION, which needs the job spooled, not rendered (issue 12, benchmarks/concurrent_clients.py, 8
# clients at once: 4.9 -> 5.6 acknowledged films/s, archived films/s unchanged). Idle, nothing changes.
RENDER_NICENESS = 10


def _read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_mapping(mapping: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _read_only, (dict(mapping),)


# The printer profile's tables are read-only mappings (config.py), which pickle cannot send as they are.
copyreg.pickle(MappingProxyType, _reduce_mapping)


@dataclass(frozen=True)
class PrintTask:
    """One job for a render worker: where it is spooled, where its films go, the printer that prints it."""

    job_uid: str
    spool_folder: Path
    archive_folder: Path
    profile: PrinterProfile
    threads: int = 1  # 2: the PNG is drawn beside the PDF (render_job), when the server has a core to spare
    png_dpi: int = DEFAULT_PNG_DPI  # [render] png_dpi: the PNGs are drawn at the printer's dpi, at most this
    identity: IdentitySettings | None = None  # [identity]: whose films these are, decided here before rendering
    incoming: Path | None = None  # where its films are written before the rename; None: <archive>/.incoming


def document_info(request: PrintRequest, profile: PrinterProfile) -> DocumentInfo:
    return DocumentInfo(
        title=request.film_session_label or f"Film from {request.calling_ae_title}",
        subject=request.calling_ae_title,
        author=profile.name,
    )


def print_spooled(task: PrintTask) -> StoredJob:
    """Render every film of a spooled job and write them into the archive, not indexed."""
    request = load_spooled(task.spool_folder).request
    identity = identify(request, task.identity) if task.identity is not None else None
    info = document_info(request, task.profile)
    stamps = film_stamps(request, task.profile.film_stamp, identity or from_proposed_study(request))
    rendered = render_job(request, task.profile, info, task.threads, task.png_dpi, stamps)
    rendered_at = datetime.now().astimezone()
    return write_job(
        task.archive_folder, task.profile, task.job_uid, request, rendered, rendered_at, identity, task.incoming
    )


def film_stamps(request: PrintRequest, template: str, identity: Identity) -> list[str]:
    """The film stamp of each film of `request` (model/stamp.py); none without a template.

    Only a confirmed identity names the patient on the film: an unconfirmed one (OCR alone, sources that
    disagree) is a guess a person has yet to check, and a film carries its stamp for good."""
    if not template:
        return []
    fields = identity.as_dicom() if identity.confirmed else {}
    return [
        format_stamp(template, fields, request, number, len(request.films))
        for number in range(1, len(request.films) + 1)
    ]


def start_worker(server_pid: int, records: Queue[Any], level: int, ocr: bool = False) -> None:
    """Initialise a render worker process (ProcessPoolExecutor's initializer); with `ocr`, load Tesseract
    now (0.16 s) rather than while the first film that names no patient waits for its PDF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(RENDER_NICENESS)
    threading.Thread(target=_exit_with, args=(server_pid,), name="server-watch", daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    if level > logging.DEBUG:  # as the server: pynetdicom's INFO lines would carry worklist answers (patients)
        from printscp.net import compat

        compat.quiet_logging()
    heap.return_large_blocks()
    if ocr:
        from printscp.identity import ocr as tesseract

        tesseract.warm()


def _exit_with(server_pid: int) -> None:
    """End this worker as soon as the server process has gone (killed with -9, crashed)."""
    try:
        pidfd = os.pidfd_open(server_pid)  # readable once the process has exited (Linux 5.3)
    except OSError:  # gone already, or no pidfd: look every second
        while os.path.exists(f"/proc/{server_pid}"):
            time.sleep(1.0)
    else:
        select.select([pidfd], [], [])
    os._exit(1)
