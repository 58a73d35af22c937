"""The archive's index on PostgreSQL (`[index] url`, issue 18 item 1) through the real programs: a server
prints a film into it, `printscp films list` and a C-FIND find it, `printscp db upgrade` makes and keeps the
schema, and a server refuses a database that was never upgraded. PostgreSQL is started by tests/postgres.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import RunningServer
from postgres import PostgresServer
from pydicom.dataset import Dataset
from test_archive_services import STUDY_ROOT_FIND, composite, print_film
from test_operator_errors import one_clear_line
from waiting import wait_until

from printscp.config import IndexConfig

REPO = Path(__file__).resolve().parents[2]


def printscp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printscp", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def config_file(tmp_path: Path, archive: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[archive]\nfolder = "{archive}"\n\n[index]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_db_upgrade_is_idempotent_and_a_server_refuses_a_database_not_upgraded(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.database(upgraded=False)
    config = config_file(tmp_path, tmp_path / "films", url)
    refused = printscp("serve", "--no-web", "--port", "0", "--config", str(config))
    line = one_clear_line(refused, "schema version 0", "needs 4", "printscp db upgrade")
    assert "postgres@" not in line  # the URL is shown without its user (or password)
    assert one_clear_line(printscp("films", "list", "--config", str(config)), "printscp db upgrade")

    first = printscp("db", "upgrade", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert (
        "upgraded to schema version 4 (applied 1 film_index, 2 cluster, 3 shared_state, 4 takeover_pruning_counters)"
        in first.stdout
    )
    again = printscp("db", "upgrade", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert "already at schema version 4; nothing to do" in again.stdout
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT version, name FROM schema_version").fetchall() == [
            (1, "film_index"),
            (2, "cluster"),
            (3, "shared_state"),
            (4, "takeover_pruning_counters"),
        ]


def test_db_upgrade_without_a_database_or_with_one_unreachable(postgres_server: PostgresServer, tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('[archive]\nfolder = "films"\n', encoding="utf-8")
    one_clear_line(printscp("db", "upgrade", "--config", str(plain)), "[index] url", "SQLite")
    nowhere = f"postgresql://printscp:secret@127.0.0.1:{postgres_server.port}/no_such_database"
    config = config_file(tmp_path, tmp_path / "films", nowhere)
    line = one_clear_line(printscp("db", "upgrade", "--config", str(config)), "cannot connect", "no_such_database")
    assert "secret" not in line
    line = one_clear_line(printscp("serve", "--no-web", "--port", "0", "--config", str(config)), "cannot connect")
    assert "secret" not in line


def test_a_server_on_postgresql_prints_and_films_list_and_c_find_find_the_film(
    postgres_server: PostgresServer, start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    url = postgres_server.database()
    running = start_server(sections={"index": IndexConfig(url=url)})
    session = print_film(running, label="ON POSTGRES")
    assert running.server.queue.wait_idle(60)
    (job,) = running.server.archive.jobs()  # (RunningServer.jobs() would open an SQLite index)
    study = job.manifest["films"][0]["study_instance_uid"]
    assert not (running.archive / "index.sqlite").exists()  # the database is the only index

    with psycopg.connect(url) as connection:  # the rows are in PostgreSQL
        (film,) = connection.execute("SELECT film_session_uid, film_session_label FROM films").fetchall()
    assert film == (session, "ON POSTGRES")

    listed = printscp("films", "list", "--config", str(config_file(tmp_path, running.archive, url)))
    assert listed.returncode == 0, listed.stderr
    assert "ON POSTGRES" in listed.stdout and listed.stdout.rstrip().endswith("1 film(s)")

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID, query.ModalitiesInStudy, query.PatientName = "", "", ""
    assoc = composite(running, STUDY_ROOT_FIND)
    try:
        answers = [
            (str(answer.StudyInstanceUID), str(answer.ModalitiesInStudy))
            for status, answer in assoc.send_c_find(query, STUDY_ROOT_FIND)
            if status is not None and status.Status == 0xFF00
        ]
    finally:
        assoc.release()
    assert answers == [(study, "DOC")]


def test_a_film_archived_while_postgresql_is_down_is_indexed_once_it_is_back_without_a_restart(
    restartable_postgres: PostgresServer,
    start_server: Callable[..., RunningServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = restartable_postgres.database()
    running = start_server(sections={"index": IndexConfig(url=url)})
    restartable_postgres.shut_down()
    print_film(running, label="DURING THE OUTAGE")  # a single node's queue is in memory: acknowledged
    assert running.server.queue.wait_idle(60)
    assert [job.manifest["film_session"]["film_session_label"] for job in running.server.archive.jobs()] == [
        "DURING THE OUTAGE"
    ]  # archived on disk
    restartable_postgres.start_again()

    def indexed() -> list[tuple[object, ...]]:
        with psycopg.connect(url) as connection:
            return connection.execute("SELECT film_session_label FROM films").fetchall()

    wait_until(lambda: indexed() == [("DURING THE OUTAGE",)], 30, "the film indexed by the running server")
    # the row is visible to others as the index commits; the line saying so is logged just after
    wait_until(lambda: "is indexed now" in caplog.text, 30, "the log line saying the film is indexed now")
    assert "cannot be indexed now" in caplog.text
