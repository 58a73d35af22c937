#!/usr/bin/env python3
"""K print clients through HAProxy to 1 printscp node and to 3 nodes: films/s (issue 18, "sizing").

Three set-ups, each fresh (tests/cluster.py: `printscp serve` nodes from the bundled config.toml with --render-
workers render workers each and OCR off, HAProxy in front with the C-ECHO health check, all on loopback):

* 1 node, direct: the clients connect to the node itself (what HAProxy costs, by difference);
* 1 node behind HAProxy;
* N nodes behind HAProxy (--nodes, default 3).

In each, one untimed warm-up film per node (through HAProxy, leastconn: a film for each), then K DCMTK `dcmprscu`
clients at once (--clients, default 8), each printing --films films (default 3) one after another, every film
20 images of 512x512 12-bit on STANDARD\\4,5 (one dcmprscu run, one association each). Per set-up it prints:

* acknowledged films/s: films printed (every DIMSE status success) / first dcmprscu start to last exit;
* archived films/s: the same films / first dcmprscu start until the last of them is in an archive (its job
  folder renamed complete, manifest and PDF), and a check that each is there exactly once (by calling AE title
  and job UID, over every node's archive);
* p50 / p95 of a film's dcmprscu run, and how many films each node printed.

Today each node has its own archive folder (today's single-node mode); with issue 18's cluster mode they would
share one, which changes where films land, not what the clients wait for. Everything runs on this machine:
N nodes share its cores, so this measures what spreading costs and gains on one machine, not N machines.
Run from the repository root:

    .venv/bin/python benchmarks/cluster.py [--clients 8] [--films 3] [--nodes 3] [--render-workers 1] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cluster import Cluster, Round, print_round  # noqa: E402  (the cluster harness of the tests)
from dcmtk import write_image  # noqa: E402
from servers import phantom  # noqa: E402

IMAGES, SIZE, LAYOUT = 20, 512, (4, 5)
ARCHIVE_TIMEOUT = 300.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def archived_when(cluster: Cluster, prefix: str, count: int) -> tuple[float, list[dict[str, object]]]:
    """Poll until `count` jobs of callers `prefix*` are in the archives; the time (monotonic) and the jobs."""
    deadline = time.monotonic() + ARCHIVE_TIMEOUT
    while True:
        jobs = [job for job in cluster.jobs() if str(job["calling_ae_title"]).startswith(prefix)]
        now = time.monotonic()
        if len(jobs) >= count or now > deadline:
            return now, jobs
        time.sleep(0.05)


def one_setup(
    label: str, folder: Path, nodes: int, direct: bool, clients: int, films: int, workers: int, images: list[Path]
) -> tuple[str, bool, float, float]:
    with Cluster(folder, nodes_count=nodes, render_workers=workers, inter="2s") as cluster:
        address = ("127.0.0.1", cluster.nodes[0].port) if direct else cluster.address
        warm = print_round(address, folder / "warmup", nodes, 1, "WARM", images, LAYOUT)
        if not all(film.printed for film in warm.films):
            raise SystemExit(f"{label}: the warm-up film failed:\n{cluster.logs()}")
        archived_when(cluster, "WARM", nodes)
        timed: Round = print_round(address, folder / "clients", clients, films, "K", images, LAYOUT)
        printed = [film for film in timed.films if film.printed]
        done, jobs = archived_when(cluster, "K", len(printed))
        sent = Counter(film.calling_ae_title for film in printed)
        archived = Counter(str(job["calling_ae_title"]) for job in jobs)
        boxes = cluster.archived_film_boxes("K")  # the film boxes the N-ACTIONs printed, each once
        once = archived == sent and boxes == Counter(str(film.film_box_uid) for film in printed)
        per_node = Counter(str(job["_node"]) for job in jobs)
        seconds = [film.seconds for film in printed]
        acknowledged, stored = len(printed) / timed.wall, len(jobs) / (done - timed.started)
        line = (
            f"{label:<22} {len(timed.films):>5} {len(printed):>7} {acknowledged:>12.2f} {stored:>10.2f} "
            f"{percentile(seconds, 50):>6.2f} {percentile(seconds, 95):>6.2f} {'OK' if once else 'FAIL':>12}  "
            + " ".join(f"{name}:{per_node[name]}" for name in sorted(per_node))
        )
        return line, once, acknowledged, stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="print clients at once (8)")
    parser.add_argument("--films", type=int, default=3, help="films each client prints, one after another (3)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster set-up (3)")
    parser.add_argument("--render-workers", type=int, default=1, help="render workers per node (1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archives, logs)")
    args = parser.parse_args()
    if min(args.clients, args.films, args.nodes, args.render_workers) < 1:
        parser.error("every number must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="printscp-cluster-bench-"))
    print(f"printscp cluster: K clients through HAProxy, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(
        f"every film: one dcmprscu run, {IMAGES} x {SIZE}x{SIZE} 12-bit on STANDARD\\{LAYOUT[0]},{LAYOUT[1]}; "
        f"K={args.clients} clients at once, {args.films} films each; {args.render_workers} render worker(s) per node; "
        "all nodes on this one machine\n"
    )
    header = (
        f"{'set-up':<22} {'films':>5} {'printed':>7} {'ack films/s':>12} {'archived/s':>10} {'p50 s':>6} "
        f"{'p95 s':>6} {'exactly once':>12}  films per node"
    )
    print(header)
    print("-" * len(header))
    ok = True
    try:
        images = [write_image(workdir / "source.dcm", phantom(SIZE))] * IMAGES
        setups = [
            ("1 node, direct", 1, True),
            ("1 node, HAProxy", 1, False),
            (f"{args.nodes} nodes, HAProxy", args.nodes, False),
        ]
        rates = []
        for number, (label, nodes, direct) in enumerate(setups):
            line, once, acknowledged, stored = one_setup(
                label, workdir / f"setup{number}", nodes, direct, args.clients, args.films, args.render_workers, images
            )
            print(line, flush=True)
            rates.append((acknowledged, stored))
            ok &= once
        (one_ack, one_stored), (many_ack, many_stored) = rates[1], rates[2]
        print(
            f"\n{args.nodes} nodes / 1 node, both behind HAProxy: acknowledged films/s x{many_ack / one_ack:.2f}, "
            f"archived films/s x{many_stored / one_stored:.2f} (issue 18 asks >= 2 on {args.nodes} machines; here "
            "they share one)"
        )
    finally:
        if args.keep:
            print(f"\nfiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        print("a printed film is missing from the archives, or is there more than once")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
