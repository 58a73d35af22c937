"""The acceptance test of issue 18 in cluster mode; in the suite, and by hand with other numbers:

    PYTHONPATH=. .venv/bin/python tests/integration/test_cluster_acceptance.py [--clients 8] [--films 10] [--keep]

3 `printscp serve` nodes in cluster mode (`[cluster] enabled = true`, each its own node_id) on one shared
archive folder and one PostgreSQL database (started here, tests/postgres.py, schema by `printscp db upgrade`),
HAProxy in front (tests/cluster.py, the C-ECHO health check). 8 DCMTK clients print 10 films each through
HAProxy; when half the films have ended, node2 is killed with SIGKILL. Then:

* every acknowledged film (its N-ACTION succeeded; the response names its Print Job UID) is in the shared
  archive exactly once (one job folder of that UID, with its PDF) and in the index (its rows in PostgreSQL);
* no job folder in the archive is there twice; films not acknowledged (cut off by the kill) may be printed or
  not, but at most once;
* HAProxy shows node2 DOWN (its health check, a C-ECHO, fails);
* node2 restarted (same port, same node_id) comes back UP in HAProxy.

`--today` runs the same scenario on single nodes (each its own archive and SQLite index), as a check of the
script itself.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

import numpy as np  # noqa: E402
from cluster import Cluster, Film, cluster_mode_available, print_round, wait_for  # noqa: E402
from dcmtk import write_image  # noqa: E402
from postgres import PostgresServer  # noqa: E402

ARCHIVE_TIMEOUT = 300.0  # seconds for every acknowledged film to be archived, lease take-over included
VICTIM = "node2"


def acceptance(folder: Path, clients: int = 8, films: int = 10, shared: bool = True) -> list[str]:
    """Run the scenario; the problems found (empty: passed). `shared=False` runs it on today's single nodes
    (each its own archive and SQLite index, no PostgreSQL), as a check of this script: there the films that
    node2 acknowledged wait in its own spool, so node2 is restarted before the archive is checked."""
    pixels = (np.add.outer(np.arange(256), np.arange(256)) * 8 % 4096).astype(np.uint16)
    images = [write_image(folder / "source.dcm", pixels)] * 4
    server = PostgresServer() if shared else None
    try:
        url = None
        if server is not None:
            server.start()
            url = server.database()  # made and upgraded to the code's schema (printscp db upgrade)
        # print_delay: jobs wait a moment before rendering, so that the kill leaves some queued on the victim
        with Cluster(folder / "cluster", nodes_count=3, shared=shared, postgres_url=url, print_delay=0.5) as cluster:
            assert cluster.haproxy is not None
            total = clients * films
            ended: list[Film] = []
            killed = threading.Event()
            lock = threading.Lock()

            def on_film(film: Film) -> None:
                with lock:
                    ended.append(film)
                    due = len(ended) >= total // 2 and not killed.is_set()
                    if due:
                        killed.set()
                if due:
                    cluster.kill(VICTIM)

            done = print_round(cluster.address, folder / "clients", clients, films, "K", images, on_film=on_film)
            problems = [] if killed.is_set() else ["the node was never killed"]
            try:
                cluster.haproxy.wait_for_state(VICTIM, "DOWN", 30)
            except AssertionError as exc:
                problems.append(str(exc))
            if not shared:
                restart(cluster, problems)
            problems += check(cluster, done.films)
            if shared:
                restart(cluster, problems)
            if problems:
                problems.append(cluster.logs())
            return problems
    finally:
        if server is not None:
            server.stop()


def restart(cluster: Cluster, problems: list[str]) -> None:
    """Start node2 again (same port, config and node_id); it must come back UP in HAProxy."""
    assert cluster.haproxy is not None
    cluster.node(VICTIM).start()
    try:
        cluster.haproxy.wait_for_state(VICTIM, "UP", 60)
    except AssertionError as exc:
        problems.append(f"{VICTIM} restarted: {exc}")


def check(cluster: Cluster, films: list[Film]) -> list[str]:
    """Every acknowledged film archived exactly once and indexed once; nothing archived or indexed twice."""
    problems: list[str] = []
    acknowledged = [film for film in films if film.accepted]
    wanted = {str(film.film_box_uid) for film in acknowledged}
    print(f"{len(films)} films sent, {len(acknowledged)} acknowledged, {sum(f.printed for f in films)} fully printed")
    try:
        wait_for(
            lambda: wanted <= set(cluster.archived_film_boxes()), ARCHIVE_TIMEOUT, "acknowledged films archived", 0.2
        )
    except AssertionError as exc:
        problems.append(f"{exc}: {len(wanted - set(cluster.archived_film_boxes()))} missing")
    archived = cluster.archived_film_boxes()
    twice = [uid for uid, count in archived.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} film(s) archived more than once: {twice[:5]}")
    jobs = Counter(str(job["print_job_uid"]) for job in cluster.jobs())
    if jobs and max(jobs.values()) > 1:
        problems.append("a job UID in more than one job folder")
    no_pdf = [job["_folder"] for job in cluster.jobs() if not list(Path(str(job["_folder"])).glob("film-*.pdf"))]
    if no_pdf:
        problems.append(f"job folder(s) without a PDF: {no_pdf[:5]}")
    try:
        wait_for(lambda: cluster.indexed_film_boxes() == archived, 60, "every archived film indexed once", 0.2)
    except AssertionError as exc:
        indexed = cluster.indexed_film_boxes()
        problems.append(
            f"{exc}: {len(set(archived) - set(indexed))} not indexed, {len(set(indexed) - set(archived))} extra"
        )
    return problems


def test_acceptance(tmp_path: Path) -> None:
    """3 cluster nodes behind HAProxy, 8 clients x 10 films, node2 SIGKILLed half-way: see the module's text."""
    problems = acceptance(tmp_path)
    assert not problems, "\n".join(problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--films", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archive, logs)")
    parser.add_argument(
        "--today",
        action="store_true",
        help="run the scenario on today's single nodes (own archives, SQLite): a check of this script only",
    )
    args = parser.parse_args()
    if not args.today and not cluster_mode_available():
        print(
            "cluster mode is not in this printscp: its config loader refuses a [cluster] section, so nodes cannot "
            "share an archive and a database; nothing was run (tests/integration/test_cluster.py covers the "
            "single-node nodes behind HAProxy)"
        )
        return 2
    folder = Path(tempfile.mkdtemp(prefix="printscp-acceptance-"))
    started = time.monotonic()
    try:
        problems = acceptance(folder, args.clients, args.films, shared=not args.today)
    finally:
        if args.keep:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{time.monotonic() - started:.0f} s")
    for problem in problems:
        print(problem)
    print("FAIL" if problems else "PASS: every acknowledged film archived exactly once and indexed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
