"""Operator mistakes end in one clear line and exit code 2, never a traceback (issue 11 item 7).

The tests run as root, which ignores file permissions: an unwritable archive is a read-only tmpfs mount, a
folder of /sys (where even root may not create files), a file, or a path under a file.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from printscu import PrintSCU

from printscp import uids
from printscp.archive.lock import ArchiveLock

REPO = Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printscp", *args], capture_output=True, text=True, timeout=30, cwd=REPO
    )


def one_clear_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """The mistake's one line on stderr, exit code 2, no traceback; it names every one of `names`.

    Besides that line stderr may only hold the server's ordinary log lines (a server that could not listen
    logs its archive folder and that it stopped)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 2, output
    lines = [line for line in result.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("printscp: "), output
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (holding one folder, `films`, made while it was writable)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "films").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_archive_that_is_a_file_or_inside_one(tmp_path: Path) -> None:
    file = tmp_path / "films"
    file.write_text("not a folder")
    one_clear_line(
        run("serve", "--no-web", "--port", "0", "--archive", str(file)), str(file), "not a folder", "--archive"
    )
    inside = file / "sub"
    one_clear_line(run("serve", "--no-web", "--port", "0", "--archive", str(inside)), str(inside), "not a folder")
    assert file.read_text() == "not a folder"


def test_archive_on_a_read_only_file_system(read_only: Path) -> None:
    for folder in (read_only / "films", read_only / "new"):  # an existing folder, and one to be made
        one_clear_line(run("serve", "--no-web", "--port", "0", "--archive", str(folder)), str(folder), "read-only")


def test_archive_without_permission() -> None:
    folder = "/sys/kernel"  # exists, but nobody (root included) may create a file in it
    assert Path(folder).is_dir()
    one_clear_line(run("serve", "--no-web", "--port", "0", "--archive", folder), folder, "Permission denied")


def test_archive_with_a_broken_inside(tmp_path: Path) -> None:
    archive = tmp_path / "films"
    archive.mkdir()
    (archive / ".spool").write_text("a file where the spool folder goes")
    line = one_clear_line(run("serve", "--no-web", "--port", "0", "--archive", str(archive)), str(archive), ".spool")
    assert "Not a directory" in line


def test_port_in_use(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = run("serve", "--no-web", "--host", "127.0.0.1", "--port", port, "--archive", str(tmp_path / "films"))
        one_clear_line(result, f"127.0.0.1:{port}", "in use", "--port")
    # it had taken the archive, and its exit frees it for the next server
    lock = ArchiveLock(tmp_path / "films")
    lock.acquire()
    lock.release()


def test_bad_config_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nport = 'eleven'\n")
    one_clear_line(run("serve", "--no-web", "--config", str(bad)), "network.port")


def test_echo_with_a_calling_ae_title_longer_than_16_characters() -> None:
    one_clear_line(run("echo", "127.0.0.1", "1", "--calling", "A_CALLING_AE_TITLE_17"), "--calling", "16")
    one_clear_line(run("echo", "127.0.0.1", "1", "--ae-title", "BACK\\SLASH"), "--ae-title")


def test_films_export_to_a_bad_destination(start_server: object, tmp_path: Path, read_only: Path) -> None:
    running = start_server()  # type: ignore[operator]
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        _, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, np.full((16, 16), 500, dtype=np.uint16)).status == 0
        assert scu.n_action(uids.BASIC_FILM_SESSION, session).status == 0
    assert len(running.jobs()) == 1
    archive = ["--archive", str(running.archive)]
    file = tmp_path / "export.pdf"
    file.write_text("a file")
    for destination in (file, file / "inside", read_only / "films"):
        line = one_clear_line(run("films", "export", str(destination), *archive), str(destination))
        assert "films export" in line
    assert run("films", "export", str(tmp_path / "fine"), *archive).returncode == 0
    assert len(list((tmp_path / "fine").glob("*.pdf"))) == 1


def test_a_paper_printer_without_ipptool_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[archive]\nfolder = "films"\n[printer]\nrelay_to = ["OFFICE"]\n[paper.OFFICE]\nuri = "ipp://127.0.0.1:9/ipp/print"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "printscp", "serve", "--no-web", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PATH": str(tmp_path)},  # no ipptool on it
    )
    one_clear_line(result, "paper.OFFICE", "ipptool", "cups-ipp-utils")
