"""No acknowledged print is lost or printed twice, even when the server is killed with SIGKILL."""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from printscu import META, PrintSCU
from serve import ServeProcess
from waiting import wait_until

from printscp import uids
from printscp.archive.store import JOB_MANIFESTS

REPO = Path(__file__).resolve().parents[2]


class Server(ServeProcess):
    """`printscp serve` as a separate process, on its own config and archive."""

    def __init__(self, folder: Path, print_delay: float) -> None:
        config = folder / "config.toml"
        bundled = (REPO / "config.toml").read_text()
        config.write_text(re.sub(r"print_delay = \d+", f"print_delay = {print_delay}", bundled))
        self.archive = folder / "films"
        log = folder / f"server-{len(list(folder.glob('server-*.log')))}.log"
        super().__init__(config, log, "--archive", str(self.archive))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


_labels = itertools.count(1)


def print_jobs(port: int, count: int, images: int = 20) -> list[str]:
    """Print `count` films of `images` 512x512 images; returns their Film Session Labels, one of a kind each.

    The SCU does not negotiate Print Job: without its events, pynetdicom's requestor cannot be caught
    answering one after it has sent A-RELEASE-RQ (invalid in Sta7; its DUL then stops, and its release
    waits out the ACSE timeout). What the test checks is the spool and the archive.
    """
    acknowledged = []
    pixels = (np.arange(512 * 512).reshape(512, 512) % 4096).astype(np.uint16)
    with PrintSCU(("127.0.0.1", port), contexts=(META,)) as scu:
        for _ in range(count):
            label = f"FILM {next(_labels)}"
            session = scu.film_session(FilmSessionLabel=label)
            box, boxes, _ = scu.film_box(session, "STANDARD\\4,5")
            for position in range(1, images + 1):
                assert scu.set_image(boxes[position - 1], position, pixels).status == 0
            action = scu.n_action(uids.BASIC_FILM_BOX, box)
            assert action.status == 0
            acknowledged.append(label)
            scu.n_delete(uids.BASIC_FILM_SESSION, session)
    return acknowledged


def printed(archive: Path) -> list[str]:
    """Film Session Labels of the jobs in the archive, one entry per job folder.

    Only the day folders (JOB_MANIFESTS): pathlib's "*" also matches .incoming, whose job folders the
    server renames away, and Python 3.11's glob then fails with FileNotFoundError (1 run in 8).
    """
    return [json.loads(path.read_text())["film_session"]["film_session_label"] for path in archive.glob(JOB_MANIFESTS)]


# pynetdicom's requestor (the test SCU) may try to answer an event report after sending A-RELEASE-RQ
# (Evt9 in Sta7) and logs that from its DUL thread; the server is not involved.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def test_sigkill_at_any_moment_loses_and_duplicates_nothing(servers: list[Server], tmp_path: Path) -> None:
    rng = random.Random(20261126)
    # printing is slowed (0.6 s of PRINTING per job, then ~0.3 s of rendering 20 images) so kills land
    # while jobs wait, while one is "printing", and while one is being rendered and written
    server = Server(tmp_path, print_delay=0.6)
    servers.append(server)
    acknowledged = print_jobs(server.port, 5)
    kills = 0
    for _ in range(4):
        time.sleep(rng.uniform(0.0, 1.2))  # test input, not a readiness wait: the random moment of the kill
        workers = descendants(server.process.pid)
        server.kill()
        kills += 1
        # a render worker may finish the rename of a job it had written (the job is complete, and the next
        # start indexes it instead of printing it again), then it exits: nothing of this server lives on
        wait_until(lambda w=workers: not [pid for pid in w if alive(pid)], 10, "the render workers gone")
        server = Server(tmp_path, print_delay=0.6)
        servers.append(server)
        acknowledged += print_jobs(server.port, 1)
    # the last start has no delay: let it finish everything
    server.kill()
    server = Server(tmp_path, print_delay=0)
    servers.append(server)
    wait_until(lambda: len(printed(server.archive)) >= len(acknowledged), 120, "every acknowledged job printed")
    server.stop()  # SIGTERM finishes the job in hand and keeps the rest: after it, nothing more may arrive
    assert server.process.returncode == 0
    jobs = printed(server.archive)
    assert sorted(jobs) == sorted(acknowledged)  # every acknowledged job, each exactly once
    assert kills == 4
    spool = server.archive / ".spool"
    assert not list((spool / "jobs").iterdir())
    set_aside = {f.name: (f / "error.txt").read_text()[-2000:] for f in (spool / "failed").iterdir()}
    assert not set_aside, (set_aside, [s.log.read_text()[-4000:] for s in servers])
    for manifest in server.archive.glob(JOB_MANIFESTS):
        film = json.loads(manifest.read_text())["films"][0]
        assert len([b for b in film["image_boxes"] if not b.get("empty")]) == 20
        assert (manifest.parent / film["pdf"]).stat().st_size > 0 and (manifest.parent / film["png"]).exists()
    # some start found jobs in the spool (with several render workers, the last start may find none)
    assert any("from the spool will be printed" in s.log.read_text() for s in servers)
    assert not (server.archive / ".incoming").exists() or not list((server.archive / ".incoming").iterdir())


def test_sigterm_finishes_the_current_job_and_keeps_the_rest(servers: list[Server], tmp_path: Path) -> None:
    server = Server(tmp_path, print_delay=0.3)
    servers.append(server)
    acknowledged = print_jobs(server.port, 3, images=1)
    server.stop()
    assert server.process.returncode == 0
    server = Server(tmp_path, print_delay=0)
    servers.append(server)
    wait_until(lambda: sorted(printed(server.archive)) == sorted(acknowledged), 60, "the kept jobs printed")
    server.stop()


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_a_killed_server_leaves_no_render_worker_behind(servers: list[Server], tmp_path: Path) -> None:
    server = Server(tmp_path, print_delay=0)
    servers.append(server)
    (job,) = print_jobs(server.port, 1, images=2)
    wait_until(lambda: printed(server.archive) == [job], 60, "the job printed")
    workers = descendants(server.process.pid)
    assert len(workers) >= 2  # the forkserver and its render workers
    server.kill()
    wait_until(lambda: not [pid for pid in workers if alive(pid)], 10, "the render workers gone")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not read its status yet
