"""A real PostgreSQL server for the tests: initdb and pg_ctl on a temporary folder and a free port.

PostgreSQL refuses to run as root, so as root the server runs as `nobody` (runuser) in a folder that user
owns; the Unix socket is inside that folder and the tests connect over TCP on 127.0.0.1 (trust
authentication, nothing listens elsewhere). `pg_ctl start -w` returns once the server accepts connections
and the first connection is retried until then: no fixed sleeps. fsync is off: the data is thrown away.

`postgres_server` (session scope) starts one server for the whole run and stops it at the end;
`PostgresServer.database()` makes a new empty database on it, upgraded to the code's schema unless asked not
to, so that each test starts from nothing. A test module uses it with `from postgres import postgres_server`
(conftest-free, so the cluster tests can start their own server the same way).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from printscp.archive.film_index import FilmIndex

USER = "nobody"  # who runs the server when the tests run as root
TIMEOUT = 60.0  # seconds for the server to start or stop


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else in Debian's /usr/lib/postgresql/<newest version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in its own folder; `start()`, then `database()`, `url`, and `stop()`."""

    def __init__(self) -> None:
        initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.folder = Path(tempfile.mkdtemp(prefix="printscp-pg-"))
        self.port = 0
        self._names = itertools.count(1)
        self._template = ""  # an upgraded database that `database()` copies (CREATE DATABASE ... TEMPLATE)
        self._lock = threading.Lock()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", USER, "--"]

    @property
    def url(self) -> str:
        """The server's own `postgres` database."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *command],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def start(self) -> str:
        data = self.folder / "data"
        done = self._run(
            self.initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-N"
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        for _ in range(5):  # another process may take the free port between free_port() and the start
            self.port = free_port()
            done = self._pg_ctl_start()
            if done.returncode == 0:
                break
        else:
            log = (self.folder / "log").read_text(errors="replace") if (self.folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log[-2000:]}")
        self._wait_for_connections()
        return self.url

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        data, log = str(self.folder / "data"), str(self.folder / "log")
        return self._run(self.pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "start")

    def shut_down(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>` (its databases kept): clients lose their connections until `start_again`."""
        done = self._run(self.pg_ctl, "-D", str(self.folder / "data"), "-m", mode, "-w", "stop")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stdout}{done.stderr}")

    def start_again(self) -> None:
        """`pg_ctl start` on the same folder and port after `shut_down`."""
        done = self._pg_ctl_start()
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}")
        self._wait_for_connections()

    def _wait_for_connections(self) -> None:
        import psycopg

        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling: pg_ctl -w has normally waited already

    def database(self, upgraded: bool = True) -> str:
        """A new, empty database; its URL. `upgraded`: with the code's schema (printscp db upgrade), copied
        from a template database upgraded once (a copy takes milliseconds, an upgrade a good part of a second)."""
        import psycopg

        from printscp.db import schema

        with self._lock:
            name = f"test_{next(self._names)}"
            if upgraded and not self._template:
                template = f"{name}_template"
                with psycopg.connect(self.url, autocommit=True) as connection:
                    connection.execute(f"CREATE DATABASE {template}".encode())
                schema.upgrade(self.url_of(template))
                self._template = template
            copied = f" TEMPLATE {self._template}" if upgraded else ""
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {name}{copied}".encode())
        return self.url_of(name)

    def drop(self, url: str) -> None:
        """Drop a database `database()` made, closing whatever connections to it are still open."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())

    def stop(self) -> None:
        if self.port:
            self._run(self.pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def _started() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    yield from _started()


@pytest.fixture
def restartable_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own: stopping it must not disturb the session's."""
    yield from _started()


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def new_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], FilmIndex]]:
    """Makes empty FilmIndexes of one backend (the test runs once per backend): an SQLite file in tmp_path,
    or a new database on the session's PostgreSQL server; all closed at the end of the test."""
    from printscp.archive.index import SqliteFilmIndex
    from printscp.archive.pg_index import PostgresFilmIndex

    made: list[FilmIndex] = []
    server: PostgresServer | None = request.getfixturevalue("postgres_server") if request.param != "sqlite" else None

    def make() -> FilmIndex:
        if server is None:
            index: FilmIndex = SqliteFilmIndex(tmp_path / f"index-{len(made)}.sqlite")
        else:
            index = PostgresFilmIndex(server.database(), pool_size=4)
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()


class IndexPerFolder:
    """The suite on PostgreSQL (`pytest --index postgresql`): every archive folder gets its own new database,
    as every folder has its own index.sqlite on SQLite. `bundled_config` names it in `[index] url`; an index
    opened without a url (FilmArchive(folder), open_index(folder)) is opened on it instead of the SQLite file
    (`open`, put in place of SqliteFilmIndex by tests/conftest.py). One for the session (a module's server
    keeps its database); `release(folder)` closes the indexes opened on the folders under a test's tmp_path
    and drops their databases at the end of the test."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.urls: dict[Path, str] = {}
        self.opened: list[tuple[Path, FilmIndex]] = []
        self._lock = threading.Lock()

    def url(self, folder: Path) -> str:
        """The database of the archive in `folder`, made on first use."""
        with self._lock:
            key = folder.resolve()
            if key not in self.urls:
                self.urls[key] = self.server.database()
            return self.urls[key]

    def open(self, path: Path) -> FilmIndex:
        """In place of SqliteFilmIndex(<folder>/index.sqlite): the folder's database."""
        from printscp.archive.pg_index import PostgresFilmIndex

        index = PostgresFilmIndex(self.url(path.parent), pool_size=4)
        with self._lock:
            self.opened.append((path.parent.resolve(), index))
        return index

    def empty(self, folder: Path) -> None:
        """Delete every row of the folder's index (lost, as a deleted index.sqlite)."""
        import psycopg

        with psycopg.connect(self.url(folder), autocommit=True) as connection:
            connection.execute("TRUNCATE instances, films, transcripts")

    def release(self, under: Path | None = None) -> None:
        """Close the indexes opened on folders `under` a folder (None: all) and drop their databases."""
        top = under.resolve() if under is not None else None
        with self._lock:
            ours = [f for f in self.urls if top is None or f.is_relative_to(top)]
            urls = [self.urls.pop(f) for f in ours]
            closing = [i for f, i in self.opened if top is None or f.is_relative_to(top)]
            self.opened = [(f, i) for f, i in self.opened if top is not None and not f.is_relative_to(top)]
        for index in closing:
            index.close()
        for url in urls:
            self.server.drop(url)


ACTIVE: IndexPerFolder | None = None  # set under --index postgresql, except in tests marked `sqlite`
