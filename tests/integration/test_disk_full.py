"""A full or read-only archive disk (issue 11 item 11): a print that cannot be spooled fails with a status, the
server keeps answering, nothing acknowledged is lost, and printing resumes when space returns.

The archive is a small tmpfs mounted by the test (the tests run as root), filled with a file and freed.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer
from printscu import META, PrintSCU
from pynetdicom import evt
from waiting import wait_until

from printscp import uids
from printscp.archive.store import JOB_MANIFESTS
from printscp.config import ArchiveConfig
from printscp.model.enums import PrinterStatus

PRINT_JOB_STATUS = (0x2100, 0x0020)
PRINT_JOB_STATUS_INFO = (0x2100, 0x0030)

# pynetdicom's requestor (the test SCU) may try to answer an event report after sending A-RELEASE-RQ
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte; returns the file that holds the space."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as file:
        try:
            while True:
                file.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:
                file.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def printed(archive: Path) -> list[str]:
    return sorted(path.parent.name for path in archive.glob(JOB_MANIFESTS))


def job_uid(response: object) -> str:
    dataset = response.dataset  # type: ignore[attr-defined]
    assert dataset is not None
    return str(dataset[0x21000500].value[0].ReferencedSOPInstanceUID)


def done(scu: PrintSCU, job: str) -> None:
    """Wait until the Print Job reads DONE over the association."""
    wait_until(
        lambda: scu.n_get(uids.PRINT_JOB, job).dataset.get(PRINT_JOB_STATUS).value == "DONE",  # type: ignore[union-attr]
        30,
        f"print job {job} DONE",
    )


def pixels() -> np.ndarray:
    return (np.arange(128 * 128).reshape(128, 128) % 4096).astype(np.uint16)


def test_disk_full_fails_the_print_keeps_serving_and_resumes(
    small_disk: Path, start_server: Callable[..., RunningServer]
) -> None:
    running = start_server(archive=ArchiveConfig(small_disk / "films"))
    archive = running.archive
    spool = archive / ".spool"
    running.server.printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")  # job A waits in the spool
    with PrintSCU(
        running.address,
        contexts=(META, uids.PRINT_JOB, uids.VERIFICATION),
        handlers=[(evt.EVT_N_EVENT_REPORT, lambda event: (0, None))],
    ) as scu:
        session = scu.film_session(FilmSessionLabel="BEFORE FULL")
        box_a, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, pixels()).status == 0
        action = scu.n_action(uids.BASIC_FILM_BOX, box_a)
        assert action.status == 0
        job_a = job_uid(action)  # acknowledged: it must be printed, whatever the disk does
        scu.n_delete(uids.BASIC_FILM_SESSION, session)

        filler = fill(small_disk)
        running.server.printer.set_status(PrinterStatus.NORMAL)  # A is tried, and cannot be archived
        wait_until(
            lambda: scu.n_get(uids.PRINT_JOB, job_a).dataset.get(PRINT_JOB_STATUS_INFO).value == "INSUFFIC MEMORY",  # type: ignore[union-attr]
            30,
            "job A waiting for space",
        )
        job = scu.n_get(uids.PRINT_JOB, job_a).dataset
        assert job is not None and job[PRINT_JOB_STATUS].value == "PENDING"
        assert [p.name for p in (spool / "jobs").iterdir()] == [job_a]  # kept in the spool
        assert not list((spool / "failed").iterdir())  # not given up

        # a new print cannot be spooled: a failure status with the reason, not success
        session = scu.film_session(FilmSessionLabel="WHILE FULL")
        box_b, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, pixels()).status == 0
        refused = scu.n_action(uids.BASIC_FILM_BOX, box_b)
        assert refused.status == 0xC602, hex(refused.status)  # print queue full (PS3.4 H.4.2.2.4)
        assert refused.comment == "print queue full: No space left on device"
        assert not list((spool / "incoming").iterdir())
        # and the server keeps serving
        echo = scu.assoc.send_c_echo()
        assert echo is not None and echo.Status == 0
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
        assert printer.status == 0 and printer.dataset is not None
        assert printed(archive) == []

        filler.unlink()  # space returns
        wait_until(lambda: printed(archive) == [job_a], 30, "job A printed once space returned")
        again = scu.n_action(uids.BASIC_FILM_BOX, box_b)  # the SCU tries again: the film box was not printed
        assert again.status == 0, (hex(again.status), again.comment)
        job_b = job_uid(again)
        assert running.server.queue.wait_idle(60)
        done(scu, job_b)  # its events answered before the release
    assert printed(archive) == sorted([job_a, job_b])  # each once
    assert not list((spool / "jobs").iterdir()) and not list((spool / "failed").iterdir())
    for uid in (job_a, job_b):
        (folder,) = [p.parent for p in archive.glob(JOB_MANIFESTS) if p.parent.name == uid]
        assert (folder / "film-1.pdf").stat().st_size > 0 and (folder / "film-1.dcm").stat().st_size > 0


@pytest.fixture
def read_only_over(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Make folders read-only while the server runs: a read-only tmpfs mounted over each (a whole mount
    cannot be remounted read-only while the server holds files open for writing on it)."""
    mounted: list[Path] = []

    def mount(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], check=True)
        mounted.append(folder)

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def test_read_only_archive_fails_the_print_and_resumes(
    read_only_over: Callable[[Path], None], start_server: Callable[..., RunningServer]
) -> None:
    running = start_server()
    archive = running.archive
    running.server.printer.set_status(PrinterStatus.FAILURE, "PRINTER DOWN")
    with PrintSCU(
        running.address,
        contexts=(META, uids.PRINT_JOB),
        handlers=[(evt.EVT_N_EVENT_REPORT, lambda event: (0, None))],
    ) as scu:
        session = scu.film_session()
        box_a, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, pixels()).status == 0
        job_a = job_uid(scu.n_action(uids.BASIC_FILM_BOX, box_a))
        # where the spool and the archive write new jobs becomes read-only
        read_only_over(archive / ".spool" / "incoming")
        read_only_over(archive / ".incoming")
        running.server.printer.set_status(PrinterStatus.NORMAL)
        wait_until(
            lambda: scu.n_get(uids.PRINT_JOB, job_a).dataset.get(PRINT_JOB_STATUS_INFO).value == "PRINTER DOWN",  # type: ignore[union-attr]
            30,
            "job A waiting for a writable archive",
        )
        refused = scu.n_action(uids.BASIC_FILM_BOX, box_a)  # print the same film box again
        assert refused.status == 0x0110 and refused.comment == "spool not writable: Read-only file system"
        assert not list((archive / ".spool" / "failed").iterdir())
        subprocess.run(["umount", str(archive / ".spool" / "incoming")], check=True)
        subprocess.run(["umount", str(archive / ".incoming")], check=True)
        wait_until(lambda: printed(archive) == [job_a], 30, "job A printed once the archive was writable")
        again = scu.n_action(uids.BASIC_FILM_BOX, box_a)
        assert again.status == 0
        job_b = job_uid(again)
        assert running.server.queue.wait_idle(60)
        done(scu, job_b)
    assert printed(archive) == sorted([job_a, job_b])
