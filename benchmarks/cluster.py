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

By default each node has its own archive folder (single nodes); with --cluster-mode the nodes are issue 18's
cluster ([cluster] enabled: one shared archive folder, one PostgreSQL database that the script starts, as the
tests do with tests/postgres.py, a new database per set-up), and the 1-node set-ups are one cluster node.

Everything runs on this machine, so N nodes share its cores: plainly run, this measures what spreading costs
and gains on one machine, not on N machines. --node-cpus C makes each node a machine of C cores: the node's
processes (the server, its forkserver and render workers) go into a cgroup of their own whose CPU quota is C
cores (Linux CFS bandwidth control, cgroup v1 `cpu` or v2; needs root), so 1 node and N nodes are compared
at the same "machine class". The clients, HAProxy and PostgreSQL stay outside the quotas, on what is left:
keep N x C below the machine's cores (3 x 0.5 on 2 cores leaves half a core for them). Disk and memory
bandwidth are still shared. Run from the repository root:

    .venv/bin/python benchmarks/cluster.py [--clients 8] [--films 3] [--nodes 3] [--render-workers 1]
        [--cluster-mode] [--node-cpus C] [--keep]
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
CGROUP_V1, CGROUP_V2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/unified")
PERIOD_US = 100_000


class CpuQuota:
    """A cgroup whose processes together get at most `cpus` cores (CFS bandwidth: quota per period)."""

    def __init__(self, name: str, cpus: float) -> None:
        quota = str(int(cpus * PERIOD_US))
        if (CGROUP_V1 / "cpu.cfs_quota_us").exists():
            self.folder = CGROUP_V1 / name
            self.folder.mkdir(exist_ok=True)
            (self.folder / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.folder / "cpu.cfs_quota_us").write_text(quota)
        elif (CGROUP_V2 / "cgroup.controllers").exists():
            self.folder = CGROUP_V2 / name
            self.folder.mkdir(exist_ok=True)
            (self.folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            raise SystemExit("--node-cpus needs a writable cgroup cpu controller (/sys/fs/cgroup/cpu)")

    def add_tree(self, pid: int) -> int:
        """Move a process and every descendant into the cgroup (children forked later follow); how many."""
        moved = _tree(pid)
        for member in moved:
            try:
                (self.folder / "cgroup.procs").write_text(str(member))
            except OSError:  # ended meanwhile
                pass
        return len(moved)

    def remove(self) -> None:
        """Once its processes have ended (render workers end a moment after their server)."""
        deadline = time.monotonic() + 30
        while (self.folder / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            self.folder.rmdir()
        except OSError as exc:
            print(f"cgroup {self.folder} left behind: {exc}", file=sys.stderr)


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        member = todo.pop()
        found.append(member)
        todo += children.get(member, [])
    return found


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
    label: str,
    folder: Path,
    nodes: int,
    direct: bool,
    clients: int,
    films: int,
    workers: int,
    images: list[Path],
    postgres_url: str | None = None,
    node_cpus: float | None = None,
) -> tuple[str, bool, float, float]:
    shared = postgres_url is not None
    cluster = Cluster(folder, nodes, shared, postgres_url, render_workers=workers, inter="2s")
    quotas = []
    with cluster:
        if node_cpus is not None:
            for node in cluster.nodes:
                assert node.process is not None
                quotas.append(CpuQuota(f"printscp-bench-{os.getpid()}-{folder.name}-{node.name}", node_cpus))
                quotas[-1].add_tree(node.process.pid)
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
        per_node = Counter(str(job["_node"]) for job in jobs) if not shared else _rendered_by(cluster)
        seconds = [film.seconds for film in printed]
        acknowledged, stored = len(printed) / timed.wall, len(jobs) / (done - timed.started)
        line = (
            f"{label:<22} {len(timed.films):>5} {len(printed):>7} {acknowledged:>12.2f} {stored:>10.2f} "
            f"{percentile(seconds, 50):>6.2f} {percentile(seconds, 95):>6.2f} {'OK' if once else 'FAIL':>12}  "
            + " ".join(f"{name}:{per_node[name]}" for name in sorted(per_node))
        )
    for quota in quotas:
        quota.remove()
    return line, once, acknowledged, stored


def _rendered_by(cluster: Cluster) -> Counter[str]:
    """In cluster mode, where the films land says nothing of who rendered them: count each node's log lines
    of jobs it printed ("print job ... DONE"), the warm-up films included."""
    return Counter(
        {node.name: node.log.read_text(errors="replace").count(" DONE") for node in cluster.nodes if node.log.exists()}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="print clients at once (8)")
    parser.add_argument("--films", type=int, default=3, help="films each client prints, one after another (3)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster set-up (3)")
    parser.add_argument("--render-workers", type=int, default=1, help="render workers per node (1)")
    parser.add_argument("--cluster-mode", action="store_true", help="[cluster] nodes on one folder and database")
    parser.add_argument("--node-cpus", type=float, help="each node's processes get at most this many cores")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archives, logs)")
    args = parser.parse_args()
    if min(args.clients, args.films, args.nodes, args.render_workers) < 1:
        parser.error("every number must be at least 1")
    if args.node_cpus is not None and not 0.05 <= args.node_cpus <= (os.cpu_count() or 1):
        parser.error("--node-cpus: from 0.05 to the machine's cores")

    workdir = Path(tempfile.mkdtemp(prefix="printscp-cluster-bench-"))
    print(f"printscp cluster: K clients through HAProxy, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(
        f"every film: one dcmprscu run, {IMAGES} x {SIZE}x{SIZE} 12-bit on STANDARD\\{LAYOUT[0]},{LAYOUT[1]}; "
        f"K={args.clients} clients at once, {args.films} films each; {args.render_workers} render worker(s) per node; "
        f"{'cluster mode (one folder, PostgreSQL)' if args.cluster_mode else 'single nodes'}; all nodes on this one "
        "machine"
        + (f", each limited to {args.node_cpus:g} core(s) (cgroup CPU quota)" if args.node_cpus else "")
        + "\n"
    )
    header = (
        f"{'set-up':<22} {'films':>5} {'printed':>7} {'ack films/s':>12} {'archived/s':>10} {'p50 s':>6} "
        f"{'p95 s':>6} {'exactly once':>12}  films per node"
    )
    print(header)
    print("-" * len(header))
    ok = True
    postgres = None
    try:
        if args.cluster_mode:
            from postgres import PostgresServer

            postgres = PostgresServer()
            postgres.start()
        images = [write_image(workdir / "source.dcm", phantom(SIZE))] * IMAGES
        setups = [
            ("1 node, direct", 1, True),
            ("1 node, HAProxy", 1, False),
            (f"{args.nodes} nodes, HAProxy", args.nodes, False),
        ]
        rates = []
        for number, (label, nodes, direct) in enumerate(setups):
            line, once, acknowledged, stored = one_setup(
                label,
                workdir / f"setup{number}",
                nodes,
                direct,
                args.clients,
                args.films,
                args.render_workers,
                images,
                postgres.database() if postgres is not None else None,
                args.node_cpus,
            )
            print(line, flush=True)
            rates.append((acknowledged, stored))
            ok &= once
        (one_ack, one_stored), (many_ack, many_stored) = rates[1], rates[2]
        print(
            f"\n{args.nodes} nodes / 1 node, both behind HAProxy: acknowledged films/s x{many_ack / one_ack:.2f}, "
            f"archived films/s x{many_stored / one_stored:.2f} (issue 18 asks >= 2 on {args.nodes} machines; here "
            + (f"{args.nodes} nodes of {args.node_cpus:g} core(s) each)" if args.node_cpus else "they share one)")
        )
    finally:
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"\nfiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        print("a printed film is missing from the archives, or is there more than once")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
