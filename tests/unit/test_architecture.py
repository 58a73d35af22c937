"""Architecture rules as tests: the print domain imports no IO library (STYLE: imports point net -> engine -> model),
no import cycles among printscp modules, config/status/errors are leaves, the archive does not import the renderer.
"""

import ast
import re
from collections.abc import Iterator
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


# --- the import graph of printscp ----------------------------------------------------------------------------
#
# Every `import` and `from ... import` anywhere in a module counts (module level and inside functions: both
# run), except those under `if TYPE_CHECKING:`, which never execute and so cannot make a cycle at run time.
# `from printscp.x import y` is an edge to printscp.x.y when that is a module, else to printscp.x.

PACKAGE = Path(printscp.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def executed_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of `tree` that can run: all but those in an `if TYPE_CHECKING:` body."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for branch in node.orelse:
                yield from executed_imports(ast.Module(body=[branch], type_ignores=[]))
        else:
            yield from executed_imports(node)


def printscp_imports(module: str) -> set[str]:
    """The printscp modules that `module` imports (resolved as described above)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in executed_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = ".".join(part for part in (base if node.level else "", node.module or "") if part)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            targets.add(submodule if submodule in MODULES else source)
    return {target for target in targets if target in MODULES and target != module}


def import_graph() -> dict[str, set[str]]:
    return {module: printscp_imports(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules, as [a, b, ..., a]."""
    found: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(graph):
        if start in seen:
            continue
        # breadth-first from start's imports back to start: the shortest cycle through start, if any
        parents: dict[str, str] = {}
        frontier = sorted(graph[start])
        for node in frontier:
            parents.setdefault(node, start)
        while frontier and start not in parents:
            following = []
            for node in frontier:
                for target in sorted(graph[node]):
                    if target not in parents:
                        parents[target] = node
                        following.append(target)
            frontier = following
        if start in parents:
            cycle = [start]
            while cycle[-1] != start or len(cycle) == 1:
                cycle.append(parents[cycle[-1]])
            cycle.reverse()
            found.append(cycle)
            seen.update(cycle)
    return found


def test_the_import_graph_sees_every_module_and_function_level_imports() -> None:
    graph = import_graph()
    assert len(graph) >= 30 and "printscp.model.session" in graph
    assert "printscp.model.enums" in graph["printscp.config"]  # from printscp.model.enums import ...
    assert "printscp.uids" in graph["printscp.events"]  # from printscp import uids: the module uids
    tree = ast.parse("def f():\n    import a\nif TYPE_CHECKING:\n    import b\nelse:\n    import c\n")
    assert [alias.name for node in executed_imports(tree) for alias in node.names] == ["a", "c"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every printscp module that importing `start` may import, directly or not."""
    found: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()] - found:
            found.add(target)
            todo.append(target)
    return found


LEAVES = {"printscp.config", "printscp.status", "printscp.errors", "printscp.presets"}


def test_config_status_and_errors_are_leaves() -> None:
    """STYLE: config, status and errors are leaves (and the vendor presets, data that config reads). What holds
    today: directly or not, they import only each other, the print domain (printscp.model.*) and the package
    itself (for __version__)."""
    graph = import_graph()
    for leaf in sorted(LEAVES):
        beyond = {
            module
            for module in reachable(graph, leaf)
            if module not in LEAVES and module != "printscp" and not module.startswith("printscp.model.")
        }
        assert not beyond, f"{leaf} imports {sorted(beyond)}"
    assert graph["printscp.status"] == set()  # the named status codes import nothing at all


def test_the_archive_and_the_renderer_do_not_import_each_other() -> None:
    """A job goes spool -> render -> archive as plain values (jobs.py); neither room reaches the other."""
    graph = import_graph()
    for room, other in (("printscp.archive", "printscp.render"), ("printscp.render", "printscp.archive")):
        bad = {
            module: sorted(target for target in reachable(graph, module) if target.startswith(other))
            for module in graph
            if module.startswith(room)
        }
        assert not any(bad.values()), {module: targets for module, targets in bad.items() if targets}


# --- issue 10 item 4: SQL only in the index backend; the archive and the renderer apart -----------------

SQL = re.compile(r"\b(SELECT|INSERT|CREATE TABLE|UPDATE|DELETE FROM)\b")
# the FilmIndex backends (SQLite, PostgreSQL) and the PostgreSQL schema's versions (printscp db upgrade)
INDEX_BACKENDS = {
    "archive/index.py",
    "archive/pg_index.py",
    "db/schema.py",
    "db/pg_jobs.py",  # the shared print queue
    "db/pg_shared.py",  # the printer status and fault rules cluster nodes share
}


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
    assert with_sql == INDEX_BACKENDS
