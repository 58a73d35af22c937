"""The printscp command line as a user runs it: real processes, real signals."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import index_options, lose_index

REPO = Path(__file__).resolve().parents[2]
PRINTSCP = [sys.executable, "-m", "printscp"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PRINTSCP, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int, log: list[str]) -> None:
        self.process, self.port, self.log = process, port, log


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    process = subprocess.Popen(
        [
            *PRINTSCP,
            "serve",
            "--no-web",
            "--config",
            str(REPO / "config.toml"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ae-title",
            "CLI_PRINTER",
            "--archive",
            str(tmp_path / "films"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stderr is not None
    log: list[str] = []
    deadline = time.monotonic() + 20
    port = None
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        log.append(line)
        match = re.search(r"printscp (\S+) listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            assert match.group(1) == "CLI_PRINTER"  # --ae-title overrides the file
            port = int(match.group(2))
    assert port is not None, "".join(log)
    yield Served(process, port, log)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_answers_echo_and_stops_on_sigterm(served: Served, tmp_path: Path) -> None:
    echo = run("echo", "127.0.0.1", str(served.port), "--ae-title", "CLI_PRINTER")
    assert echo.returncode == 0, echo.stderr
    assert "success" in echo.stdout
    assert any(str(tmp_path / "films") in line for line in served.log), "--archive overrides the file"
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=15) == 0
    rest = served.process.stderr.read() if served.process.stderr else ""
    assert "C-ECHO from PRINTSCP_ECHO" in rest and "printscp stopped" in rest


def test_serve_stops_on_ctrl_c(served: Served) -> None:
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 0


def test_echo_fails_when_nobody_listens() -> None:
    echo = run("echo", "127.0.0.1", "1", "--timeout", "5")
    assert echo.returncode == 1
    assert "association failed" in echo.stderr


def test_config_errors_name_the_key_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[printer.defaults]\nfilm_size_id = 'HUGE'\n")
    result = run("serve", "--no-web", "--config", str(bad))
    assert result.returncode == 2
    assert "printer.defaults.film_size_id" in result.stderr
    result = run("serve", "--no-web", "--port", "99999")
    assert result.returncode == 2 and "network.port" in result.stderr


def test_port_in_use_is_reported(served: Served, tmp_path: Path) -> None:
    other = str(tmp_path / "other")
    result = run("serve", "--no-web", "--host", "127.0.0.1", "--port", str(served.port), "--archive", other, timeout=20)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{served.port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_server_on_the_same_archive_exits_and_touches_nothing(served: Served, tmp_path: Path) -> None:
    """Issue 11 item 4: the second server used to empty the first one's spool (its N-ACTION then failed)."""
    import numpy as np
    from printscu import PrintSCU
    from waiting import wait_until

    from printscp import uids

    archive = tmp_path / "films"
    live = archive / ".spool" / "live"
    with PrintSCU(("127.0.0.1", served.port), called="CLI_PRINTER") as scu:
        session = scu.film_session(FilmSessionLabel="FIRST SERVER")
        _, boxes, _ = scu.film_box(session)
        assert scu.set_image(boxes[0], 1, np.full((32, 32), 1000, dtype=np.uint16)).status == 0
        wait_until(lambda: list(live.glob("*.npy")), 10, "the image written to the spool")
        before = sorted(p.name for p in live.iterdir())
        second = run(
            "serve", "--no-web", "--config", str(REPO / "config.toml"), "--port", "0", "--archive", str(archive)
        )
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(archive) in lines[0] and f"PID {served.process.pid}" in lines[0]
        assert sorted(p.name for p in live.iterdir()) == before  # the first server's spool is untouched
        assert scu.n_action(uids.BASIC_FILM_SESSION, session).status == 0
    wait_until(lambda: list(archive.glob("*/*/*/*/film-1.pdf")), 30, "the first server's film printed")
    assert (archive / ".lock").read_text().strip() == str(served.process.pid)


def test_printer_commands_change_a_running_server(served: Served, tmp_path: Path) -> None:
    import threading

    from printscu import META, PrintSCU
    from pynetdicom import evt

    from printscp import uids

    options = ["--config", str(REPO / "config.toml"), "--port", str(served.port), "--archive", str(tmp_path / "films")]
    status = run("printer", "status", *options)
    assert status.returncode == 0 and "printer CLI_PRINTER: NORMAL (NORMAL)" in status.stdout
    events: list[tuple[int, str]] = []
    arrived = threading.Event()

    def on_event(event: Any) -> tuple[int, None]:
        info = event.event_information if event.request.EventInformation.getvalue() else None
        events.append((int(event.request.EventTypeID), str(info.PrinterStatusInfo) if info else ""))
        arrived.set()
        return 0, None

    with PrintSCU(
        ("127.0.0.1", served.port),
        contexts=(META,),
        called="CLI_PRINTER",
        handlers=[(evt.EVT_N_EVENT_REPORT, on_event)],
    ) as scu:
        changed = run("printer", "set", "FAILURE", "film jam", *options)
        assert changed.returncode == 0 and "printer CLI_PRINTER: FAILURE (FILM JAM)" in changed.stdout
        assert arrived.wait(10)
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert printer is not None and (printer.PrinterStatus, printer.PrinterStatusInfo) == ("FAILURE", "FILM JAM")
    assert events == [(3, "FILM JAM")]
    refused = run("printer", "set", "WARNING", "NOT A TERM", *options)
    assert refused.returncode == 1 and "not a Printer Status Info defined term" in refused.stderr
    assert "printer CLI_PRINTER: FAILURE (FILM JAM)" in run("printer", "status", *options).stdout
    wrong_port = run("printer", "status", "--port", "1", "--archive", str(tmp_path / "films"))
    assert wrong_port.returncode == 1 and "no printscp is serving" in wrong_port.stderr
    # the channel is a Unix socket, never the network; its file, socket and folder are the owner's only
    admin_file = tmp_path / "films" / f".printscp-{served.port}.admin"
    endpoint = json.loads(admin_file.read_text())
    assert endpoint["pid"] == served.process.pid
    socket_path = Path(endpoint["socket"])
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert oct(admin_file.stat().st_mode & 0o777) == "0o600"
    assert oct(socket_path.stat().st_mode & 0o777) == "0o600"
    assert oct(socket_path.parent.stat().st_mode & 0o777) == "0o700"


# Run as another user (nobody) with the system Python: connect to the admin socket, send a command, print
# the reply or the error. The tests run as root; a child process can drop to another user id.
AS_ANOTHER_USER = """
import socket, sys
connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    connection.connect(sys.argv[1])
except OSError as exc:
    print("connect:", exc.strerror)
    raise SystemExit(0)
connection.sendall(b'{"command": "set", "status": "FAILURE", "info": "FILM JAM"}\\n')
print("reply:", connection.recv(4096).decode().strip())
"""


def test_admin_channel_refuses_every_other_user(served: Served, tmp_path: Path) -> None:
    """Issue 11 item 10: only the user who runs the server may change the printer, through the file
    permissions and, behind them, the kernel's peer credentials (SO_PEERCRED) checked by the server."""
    import os

    options = ["--port", str(served.port), "--archive", str(tmp_path / "films")]
    endpoint = json.loads((tmp_path / "films" / f".printscp-{served.port}.admin").read_text())
    socket_path = Path(endpoint["socket"])
    nobody = 65534
    assert os.getuid() != nobody

    def as_nobody() -> str:
        result = subprocess.run(
            ["/usr/bin/python3", "-c", AS_ANOTHER_USER, str(socket_path)],
            capture_output=True,
            text=True,
            timeout=20,
            user=nobody,
            group=nobody,
            extra_groups=[],
            cwd="/",
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert as_nobody() == "connect: Permission denied"  # the folder (0700) and the socket (0600)
    # behind the permissions, the server's own check: open them up, and the server still refuses
    os.chmod(socket_path.parent, 0o777)
    os.chmod(socket_path, 0o777)
    reply = as_nobody()
    assert reply.startswith("reply:") and "not authorized" in reply, reply
    status = run("printer", "status", *options)
    assert status.returncode == 0 and "printer CLI_PRINTER: NORMAL (NORMAL)" in status.stdout  # nothing changed
    # the owner (root here) is served
    changed = run("printer", "set", "WARNING", "SUPPLY LOW", *options)
    assert changed.returncode == 0 and "printer CLI_PRINTER: WARNING (SUPPLY LOW)" in changed.stdout


def _print_film(
    address: tuple[str, int], calling: str, label: str, patient: tuple[str, str] | None = None, films: int = 1
) -> None:
    import numpy as np
    from printscu import PrintSCU
    from pydicom.dataset import Dataset

    from printscp import uids

    attributes: dict[str, Any] = {"FilmSessionLabel": label}
    if not label.isascii():  # text beyond ASCII needs its character set (PS3.5 6.1.2.1)
        attributes["SpecificCharacterSet"] = "ISO_IR 192"
    if patient:
        study = Dataset()
        study.PatientName, study.PatientID = patient
        attributes["ProposedStudySequence"] = [study]
    with PrintSCU(address, calling=calling) as scu:
        session = scu.film_session(**attributes)
        for _ in range(films):
            _, boxes, _ = scu.film_box(session)
            assert scu.set_image(boxes[0], 1, np.full((32, 32), 1000, dtype=np.uint16)).status == 0
        assert scu.n_action(uids.BASIC_FILM_SESSION, session).status == 0


def _rows(listing: str) -> list[str]:
    """The table's data lines (no header, no count line)."""
    return listing.splitlines()[1:-1]


def test_films_list_show_and_export_with_and_without_a_server(start_server: Any, tmp_path: Path) -> None:
    running = start_server()
    _print_film(running.address, "CT_ROOM1", "CHEST/ABDOMEN", ("DOE^JANE", "P-0001"), films=2)
    _print_film(running.address, "MR_3T", "BRAIN", ("ROE^RICHARD", "P-0002"))
    _print_film(running.address, "../US", "Zürich ümlaut")  # a sender's name is no path; no patient
    jobs = running.jobs()
    assert len(jobs) == 3
    archive = [*index_options(running.archive, tmp_path), "--archive", str(running.archive)]

    listing = run("films", "list", *archive)  # while the server runs
    assert listing.returncode == 0, listing.stderr
    rows = _rows(listing.stdout)
    assert listing.stdout.splitlines()[-1] == "4 film(s)" and len(rows) == 4
    assert [row.split()[2] for row in rows] == ["CT_ROOM1", "CT_ROOM1", "MR_3T", "../US"]  # oldest first
    assert "DOE^JANE [P-0001]" in rows[0] and "Zürich ümlaut" in rows[3]

    def count(*filters: str) -> int:
        result = run("films", "list", *archive, *filters)
        assert result.returncode == 0, result.stderr
        return len(_rows(result.stdout))

    today = time.strftime("%Y-%m-%d")
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    yesterday = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    assert count("--calling", "MR_3T") == 1
    assert count("--label", "chest") == 2  # contains, any case
    assert count("--label", "B*") == 1  # a pattern: BRAIN only
    assert count("--patient", "P-000?") == 3
    assert count("--patient", "roe") == 1
    assert count("--from", today, "--to", today) == 4
    assert count("--from", tomorrow) == 0 and count("--to", yesterday) == 0
    assert count("--patient", "nobody") == 0
    bad_date = run("films", "list", *archive, "--from", "30/11/2026")
    assert bad_date.returncode == 2 and "is not a date" in bad_date.stderr

    ct_job = next(j for j in jobs if j.manifest["calling_ae_title"] == "CT_ROOM1")
    uid = ct_job.manifest["print_job_uid"]
    shown = run("films", "show", uid[:-3], *archive)
    assert shown.returncode == 0, shown.stderr
    assert f"print job {uid}" in shown.stdout and "CHEST/ABDOMEN" in shown.stdout
    assert shown.stdout.count("sha256 ok") == 6  # pdf, png, dcm of two films
    ct_job.pngs[1].write_bytes(b"damaged")
    assert "CHECKSUM MISMATCH" in run("films", "show", uid, *archive).stdout
    assert run("films", "show", "9.9.9", *archive).returncode == 1

    # without the server, and with the index lost: the same films
    running.server.stop()
    lose_index(running.archive)
    assert _rows(run("films", "list", *archive).stdout) == rows

    exported = tmp_path / "export"
    result = run("films", "export", str(exported), "--calling", "CT_ROOM1", *archive)
    assert result.returncode == 0 and "2 film(s) exported" in result.stdout, result.stderr
    pdfs = sorted(exported.iterdir())
    assert [p.read_bytes() for p in pdfs] == [p.read_bytes() for p in ct_job.pdfs]
    assert all(p.name.endswith(f"_CT_ROOM1_{uid}_film-{n}.pdf") for n, p in enumerate(pdfs, start=1))
    dicom = tmp_path / "dicom"
    assert run("films", "export", str(dicom), "--dicom", *archive).returncode == 0
    names = sorted(p.name for p in dicom.iterdir())
    assert len(names) == 4 and all(name.endswith(".dcm") and "/" not in name for name in names)
    assert any("_US_" in name for name in names)  # ../US made safe, inside the destination
    assert {p.parent for p in dicom.rglob("*")} == {dicom}


def test_films_without_an_archive_say_so(tmp_path: Path) -> None:
    result = run("films", "list", "--archive", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "no archive at" in result.stderr


NEIGHBOURS = """\
[network]
ae_title = "FILE_AE"
host = "127.0.0.2"
port = 11999
max_pdu = 65536
max_associations = 3
allowed_calling_ae_titles = ["TESTSCU", "PRINTSCP_ECHO"]

[archive]
folder = "file-films"
max_age_days = 30
max_size_gb = 2.5
forward_to = ["STORESCP"]

[nodes.STORESCP]
host = "127.0.0.1"
port = {port}
"""


def test_every_cli_override_changes_only_its_key(tmp_path: Path) -> None:
    """Issue 11 item 5: --archive used to replace the whole [archive] section, dropping forwarding and retention."""
    import dataclasses

    from printscp.cli import _load, build_parser

    config_file = tmp_path / "config.toml"
    config_file.write_text(NEIGHBOURS.format(port=11113))
    base = _load(build_parser().parse_args(["serve", "--config", str(config_file)]))
    assert base.archive.folder == tmp_path / "file-films" and base.archive.forward_to == ("STORESCP",)
    overrides: list[tuple[list[str], str, str, object]] = [
        (["--archive", str(tmp_path / "cli")], "archive", "folder", tmp_path / "cli"),
        (["--port", "0"], "network", "port", 0),
        (["--host", "127.0.0.1"], "network", "host", "127.0.0.1"),
        (["--ae-title", "CLI_AE"], "network", "ae_title", "CLI_AE"),
    ]
    for flags, section, key, value in overrides:
        for command in (["serve"], ["printer", "status"], ["films", "list"]):
            parser = build_parser()
            try:
                args = parser.parse_args([*command, "--config", str(config_file), *flags])
            except SystemExit:  # this command has no such flag (films take --archive only)
                assert command[0] != "serve" and flags[0] != "--archive"
                continue
            config = _load(args)
            changed = getattr(config, section)
            assert getattr(changed, key) == value, (command, flags)
            # every other key of the section, and every other section, is the file's
            assert changed == dataclasses.replace(getattr(base, section), **{key: value}), (command, flags)
            others = {name: getattr(base, name) for name in ("network", "archive", "nodes", "queue", "printer")}
            others[section] = changed
            assert dataclasses.replace(base, **others) == config


def test_serve_with_archive_flag_still_forwards_to_the_configured_node(tmp_path: Path) -> None:
    """Acceptance of issue 11 item 5: `serve --archive DIR` with a config that forwards; the film reaches storescp."""
    from dcmtk import StoreSCP, free_port

    storescp_port = free_port()
    config_file = tmp_path / "config.toml"
    config_file.write_text(NEIGHBOURS.format(port=storescp_port))
    archive = tmp_path / "cli-films"
    command = [
        *PRINTSCP,
        "serve",
        "--no-web",
        "--config",
        str(config_file),
        "--archive",
        str(archive),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ae-title",
        "CLI_PRINTER",
    ]
    log = tmp_path / "serve.log"
    with StoreSCP(tmp_path / "storescp", storescp_port) as scp, open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, text=True, cwd=REPO)
        try:
            from waiting import wait_until

            def listening() -> list[str]:
                return re.findall(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())

            wait_until(lambda: process.poll() is not None or listening(), 20, "the server listening")
            assert process.poll() is None, log.read_text()
            _print_film(("127.0.0.1", int(listening()[0])), "TESTSCU", "FORWARDED", patient=("DOE^JANE", "P-1"))
            (received,) = scp.wait_for(1, 30)
            assert received.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF
            printed = list(archive.glob("*/*/*/*/film-1.dcm"))
            assert len(printed) == 1 and not (tmp_path / "file-films").exists()
            from pydicom import dcmread

            assert dcmread(printed[0]).SOPInstanceUID == received.SOPInstanceUID
        finally:
            process.terminate()
            process.wait(15)
