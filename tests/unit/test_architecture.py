"""The print domain imports no network, imaging or storage library (STYLE: imports point net -> engine -> model)."""

import ast
from pathlib import Path

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
    return names


def test_model_has_no_io_imports() -> None:
    folder = Path(printscp.model.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        bad = {name for name in imported_modules(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"{path.name} imports {bad}"
