"""The print domain imports no network, imaging or storage library (STYLE: imports point net -> engine -> model)."""

import ast
import re
from pathlib import Path

import printscp
import printscp.model

FORBIDDEN = {
    "pynetdicom",
    "PIL",
    "reportlab",
    "sqlite3",
    "socket",
    "printscp.net",
    "printscp.render",
    "printscp.archive",
    "printscp.engine",
    "printscp.jobs",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # from printscp import render
    return names


def test_model_has_no_io_imports() -> None:
    folder = Path(printscp.model.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        bad = {name for name in imported_modules(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"{path.name} imports {bad}"


# --- issue 10 item 4: SQL only in the index backend; the archive and the renderer apart -----------------

SQL = re.compile(r"\b(SELECT|INSERT|CREATE TABLE|UPDATE|DELETE FROM)\b")
INDEX_BACKEND = "archive/index.py"


def string_literals(path: Path) -> list[str]:
    """Every string constant of a module, f-string parts included."""
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_sql_is_written_in_the_index_backend_only() -> None:
    package = Path(printscp.__file__).parent
    with_sql = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if any(SQL.search(text) for text in string_literals(path))
    }
    assert with_sql == {INDEX_BACKEND}


def test_archive_and_renderer_do_not_import_each_other() -> None:
    package = Path(printscp.__file__).parent
    for room, other in (("archive", "printscp.render"), ("render", "printscp.archive")):
        files = sorted((package / room).glob("*.py"))
        assert files
        for path in files:
            bad = {name for name in imported_modules(path) if name == other or name.startswith(other + ".")}
            assert not bad, f"{room}/{path.name} imports {bad}"
