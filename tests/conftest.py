"""Fixtures: the real server on a free loopback port, with the bundled config.toml's printer profile.

`pytest --index postgresql` (or PRINTSCP_TEST_INDEX=postgresql) runs the suite with every index on
PostgreSQL: each archive folder of a test gets a new database on the session's server (tests/postgres.py
IndexPerFolder), named in `[index] url` by `bundled_config` and opened by FilmArchive(folder) and
open_index(folder) in place of the SQLite file. Tests about the SQLite file itself are marked `sqlite` and
keep it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import postgres
import pytest
from postgres import new_index, postgres_server, restartable_postgres  # noqa: F401  (fixtures: every test may use them)
from serve import ServeProcess

import printscp.archive.store
from printscp.archive.store import FilmArchive, StoredJob
from printscp.config import (
    ArchiveConfig,
    Config,
    FaultConfig,
    IndexConfig,
    Node,
    PrinterProfile,
    QueueConfig,
    load_config,
    validate,
)
from printscp.net.server import PrintServer

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONFIG = REPO / "config.toml"


def bundled_config(
    archive: Path | ArchiveConfig,
    queue: QueueConfig | None = None,
    faults: FaultConfig | None = None,
    nodes: dict[str, Node] | None = None,
    sections: dict[str, Any] | None = None,
    **printer_changes: Any,
) -> Config:
    """The bundled config.toml with another archive, queue, faults or nodes, printer profile changes, and
    `sections`: other top-level sections replaced whole, by name (e.g. {"network": NetworkConfig(...)})."""
    config = load_config(BUNDLED_CONFIG)
    # OCR (Tesseract: 0.16 s to load in each render worker, ~50 ms per anonymous print) only where a test asks
    # for it: the identity tests, and the servers started as `printscp serve` with the bundled config.toml as it is
    config = dataclasses.replace(config, identity=dataclasses.replace(config.identity, ocr=False))
    printer: PrinterProfile = dataclasses.replace(config.printer, **printer_changes)
    archive_config = archive if isinstance(archive, ArchiveConfig) else ArchiveConfig(archive)
    sections = dict(sections or {})
    if postgres.ACTIVE is not None and "index" not in sections and not config.index.url:
        sections["index"] = IndexConfig(postgres.ACTIVE.url(archive_config.folder))
    return validate(
        dataclasses.replace(
            config,
            archive=archive_config,
            printer=printer,
            queue=queue or config.queue,
            faults=faults or config.faults,
            nodes=nodes if nodes is not None else config.nodes,
            **sections,
        )
    )


def lose_index(folder: Path) -> None:
    """Lose the index of the archive in `folder` (the server is stopped): delete index.sqlite, or under
    --index postgresql empty the folder's database (its schema stays, as a new database is upgraded)."""
    for path in folder.glob("index.sqlite*"):
        path.unlink()
    if postgres.ACTIVE is not None:
        postgres.ACTIVE.empty(folder)


def index_options(folder: Path, tmp_path: Path) -> list[str]:
    """Options that make a `printscp` subprocess use the index of the archive in `folder`: none on SQLite
    (the file is in the folder), under --index postgresql a --config: the bundled one with the folder's
    database as [index] url."""
    if postgres.ACTIVE is None:
        return []
    config = tmp_path / "index.toml"
    config.write_text(f'{BUNDLED_CONFIG.read_text()}\n[index]\nurl = "{postgres.ACTIVE.url(folder)}"\n')
    return ["--config", str(config)]


@dataclass
class RunningServer:
    server: PrintServer
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def archive(self) -> Path:
        return self.server.config.archive.folder

    def jobs(self) -> list[StoredJob]:
        """The print jobs in the archive, once the print queue has printed everything it was given."""
        assert self.server.queue.wait_idle(60), "the print queue did not finish"
        return FilmArchive(self.archive).jobs()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start a server whose printer profile differs from the bundled one by the given changes."""
    started: list[PrintServer] = []

    def start(
        queue: QueueConfig | None = None,
        faults: FaultConfig | None = None,
        nodes: dict[str, Node] | None = None,
        archive: ArchiveConfig | None = None,
        sections: dict[str, Any] | None = None,
        **printer_changes: Any,
    ) -> RunningServer:
        """`archive` replaces the whole [archive] section (its folder included); default: a fresh folder.
        `sections` replaces other top-level sections of the config by name (see bundled_config)."""
        folder = archive or tmp_path / f"films{len(started)}"
        server = PrintServer(bundled_config(folder, queue, faults, nodes, sections, **printer_changes))
        host, port = server.start("127.0.0.1", 0)
        started.append(server)
        return RunningServer(server, host, port)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def nodes() -> Iterator[list[ServeProcess]]:
    """The `printscp serve` processes a test starts (tests/serve.py) and appends here: killed at its end."""
    started: list[ServeProcess] = []
    yield started
    for node in started:
        if node.alive:
            node.kill()


@pytest.fixture
def running(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--index",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("PRINTSCP_TEST_INDEX") or "sqlite",
        help="where the tests' archives keep their index (default: $PRINTSCP_TEST_INDEX, else sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite: about the SQLite index file itself; keeps SQLite under --index")


@pytest.fixture(scope="session")
def indexes_per_folder(request: pytest.FixtureRequest) -> Iterator[postgres.IndexPerFolder | None]:
    """Under --index postgresql: the session's IndexPerFolder, put in place of SqliteFilmIndex."""
    if request.config.getoption("--index") != "postgresql":
        yield None
        return
    indexes = postgres.IndexPerFolder(request.getfixturevalue("postgres_server"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(printscp.archive.store, "SqliteFilmIndex", indexes.open)
        postgres.ACTIVE = indexes
        try:
            yield indexes
        finally:
            postgres.ACTIVE = None
            indexes.release()


@pytest.fixture(autouse=True)
def index_backend(
    request: pytest.FixtureRequest, indexes_per_folder: postgres.IndexPerFolder | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The index backend of this test's archives: "postgresql" under --index postgresql (see the module's
    docstring), else "sqlite"; a test marked `sqlite` keeps SQLite."""
    if indexes_per_folder is None:
        yield "sqlite"
        return
    if request.node.get_closest_marker("sqlite"):
        from printscp.archive.index import SqliteFilmIndex

        monkeypatch.setattr(printscp.archive.store, "SqliteFilmIndex", SqliteFilmIndex)
        monkeypatch.setattr(postgres, "ACTIVE", None)
        yield "sqlite"
        return
    tmp_path = request.getfixturevalue("tmp_path")
    yield "postgresql"
    indexes_per_folder.release(tmp_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skipped test is a failure here: a missing tool or feature must not pass CI quietly."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests are not allowed in this suite: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same for a module skipped as a whole (pytest.skip(allow_module_level=True), importorskip)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped modules are not allowed in this suite: {report.longrepr}"
