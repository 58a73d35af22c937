"""No acknowledged print is lost or printed twice, even when the server is killed with SIGKILL."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from printscu import META, PrintSCU
from pynetdicom import evt
from waiting import wait_until

from printscp import uids
from printscp.archive.store import JOB_MANIFESTS

REPO = Path(__file__).resolve().parents[2]


class Server:
    """`printscp serve` as a separate process, on its own config and archive."""

    def __init__(self, folder: Path, print_delay: float) -> None:
        self.config = folder / "config.toml"
        bundled = (REPO / "config.toml").read_text()
        self.config.write_text(re.sub(r"print_delay = \d+", f"print_delay = {print_delay}", bundled))
        self.archive = folder / "films"
        self.log = folder / f"server-{len(list(folder.glob('server-*.log')))}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "printscp",
                "serve",
                "--config",
                str(self.config),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--archive",
                str(self.archive),
            ],
            stderr=open(self.log, "w"),
            cwd=REPO,
        )  # noqa: SIM115
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if found and self.process.poll() is None:
                return int(found[-1])
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def print_jobs(port: int, count: int, images: int = 20) -> list[str]:
    """Print `count` films of `images` 512x512 images; returns the acknowledged Print Job UIDs."""
    acknowledged = []
    pixels = (np.arange(512 * 512).reshape(512, 512) % 4096).astype(np.uint16)
    with PrintSCU(
        ("127.0.0.1", port),
        contexts=(META, uids.PRINT_JOB),
        handlers=[(evt.EVT_N_EVENT_REPORT, lambda event: (0, None))],
    ) as scu:
        for n in range(count):
            session = scu.film_session(FilmSessionLabel=f"FILM {n}")
            box, boxes, _ = scu.film_box(session, "STANDARD\\4,5")
            for position in range(1, images + 1):
                assert scu.set_image(boxes[position - 1], position, pixels).status == 0
            action = scu.n_action(uids.BASIC_FILM_BOX, box)
            assert action.status == 0 and action.dataset is not None
            acknowledged.append(str(action.dataset[0x21000500].value[0].ReferencedSOPInstanceUID))
            scu.n_delete(uids.BASIC_FILM_SESSION, session)
    return acknowledged


def printed(archive: Path) -> list[str]:
    """Print Job UIDs of the jobs in the archive, one entry per job folder.

    Only the day folders (JOB_MANIFESTS): pathlib's "*" also matches .incoming, whose job folders the
    server renames away, and Python 3.11's glob then fails with FileNotFoundError (1 run in 8).
    """
    return [json.loads(path.read_text())["print_job_uid"] for path in archive.glob(JOB_MANIFESTS)]


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
        done_before = len(printed(server.archive))
        server.kill()
        kills += 1
        assert len(printed(server.archive)) == done_before
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
    assert not list((spool / "jobs").iterdir()) and not list((spool / "failed").iterdir())
    for manifest in server.archive.glob(JOB_MANIFESTS):
        film = json.loads(manifest.read_text())["films"][0]
        assert len([b for b in film["image_boxes"] if not b.get("empty")]) == 20
        assert (manifest.parent / film["pdf"]).stat().st_size > 0 and (manifest.parent / film["png"]).exists()
    log = server.log.read_text()
    assert "from the spool will be printed" in log
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
