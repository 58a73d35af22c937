#!/usr/bin/env python3
"""The floor under issue 12's targets: printscp, a print SCP that is pynetdicom and nothing else, and dcmprscp.

The ground rules make pynetdicom printscp's network layer. This script measures what pynetdicom itself costs
for the benchmark's print jobs with no print server behind it, so that printscp's figures and issue 12's
targets can be read against what any print server on pynetdicom must spend.

The bare SCP (this script with --serve) is pynetdicom's AE with the Basic Grayscale Print Management Meta,
Presentation LUT and Basic Annotation Box SOP classes, a 1 MiB maximum PDU and TCP_NODELAY (as printscp),
and handlers that do only what dcmprscu needs back or what any print server must do:

* N-GET (Printer): Printer Status and Printer Status Info NORMAL;
* N-CREATE: decodes the data set, answers a new instance UID; for a Film Box also the Referenced Image Box
  Sequence, one item per cell of its Image Display Format;
* N-SET: decodes the data set and reads the image item's Rows, Columns and Pixel Data, nothing else;
* N-ACTION and N-DELETE: Success.

No validation, no state, no spool, no rendering, no logging (pynetdicom's logger at WARNING). By default it
first imports printscp.net.compat, so pynetdicom runs with printscp's patches (the event-driven DUL, command
sets encoded once, UIDs validated once ...): the lowest floor we know, and the one printscp stands on. With
--stock it is pynetdicom as released.

Measured, in one command:

* per case of print_vs_dcmprscp.py (1 x 512x512, 20 x 512x512, 20 x 2048x2048 12-bit on STANDARD\\4,5,
  14INX17IN), a job to each server in turn (printscp's waited for in its archive, so that its rendering
  falls outside every timed run): dcmprscu's wall time, start to exit, median of --repeat runs; the ratios
  between the three; and the CPU per film of the server process (utime + stime from /proc, 10 ms ticks;
  printscp's without its render workers); with --no-printscp, the bare SCP and dcmprscp only (dcmprscp's
  2048x2048 films then follow its previous run sooner, while that run's writes are still being written back);
* with --clients K (default 8, 0 for none): K dcmprscu clients at once, --films films each, of case 2, against
  --nodes bare SCPs on one port (SO_REUSEPORT) and against dcmprscp: films/s (films printed / wall from the
  first start to the last exit) and the servers' CPU per film. concurrent_clients.py measures printscp so.

Issue 12's targets: printscp/dcmprscp <= 1.5 / 1.3 / 1.0 for the three cases, <= 45 ms of receive CPU per
20 x 512x512 film, and with 8 clients films/s >= dcmprscp's. Run from the repository root:

    .venv/bin/python benchmarks/pynetdicom_floor.py [--repeat 7] [--warmup 1] [--cases 1,2,3]
        [--clients 8] [--films 5] [--nodes 1] [--stock] [--no-printscp] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from servers import (
    DCMPRSCP_AE,
    FILM_SIZE,
    LAYOUT,
    PRINTSCP_AE,
    REPO,
    cpu_seconds,
    dcmprscp_server,
    dcmtk_version,
    listening_port,
    phantom,
    printscp_server,
    stop,
    work_folder,
)

sys.path.insert(0, str(REPO / "tests"))

from concurrent_clients import figure, prepare_clients, run_clients  # noqa: E402
from dcmtk import IHEFULL, DcmtkPrintClient, PreparedJob, dcmtk_environment, write_image  # noqa: E402
from print_vs_dcmprscp import CASES, Case, send_timed, wait_for_jobs  # noqa: E402

FLOOR_AE = "FLOOR"
MAX_PDU = 1048576  # as config.toml's network.max_pdu

# --- the bare SCP (--serve) ------------------------------------------------------------------------------


def serve(compat: bool, port: int) -> None:
    """Run the bare print SCP on loopback `port` (0: a free one; SO_REUSEPORT: other bare SCPs may listen
    on it too) until killed; say the port as printscp does."""
    if compat:
        import printscp.net.compat  # noqa: F401  (applies printscp's patches to pynetdicom)
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom import AE, evt
    from pynetdicom.transport import ThreadedAssociationServer

    from printscp.uids import (
        BASIC_ANNOTATION_BOX,
        BASIC_FILM_BOX,
        BASIC_GRAYSCALE_IMAGE_BOX,
        BASIC_GRAYSCALE_PRINT_MANAGEMENT_META,
        PRESENTATION_LUT,
    )

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)

    def nodelay(event: Any) -> None:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def n_get(event: Any) -> tuple[int, Dataset]:
        printer = Dataset()
        printer.PrinterStatus = "NORMAL"
        printer.PrinterStatusInfo = "NORMAL"
        return 0x0000, printer

    def n_create(event: Any) -> tuple[int, Dataset]:
        request = event.attribute_list
        created = Dataset()
        created.AffectedSOPInstanceUID = generate_uid()  # pynetdicom moves it into the command set
        if event.request.AffectedSOPClassUID == BASIC_FILM_BOX:
            columns, rows = request.ImageDisplayFormat.split("\\")[1].split(",")
            boxes = []
            for _ in range(int(columns) * int(rows)):
                box = Dataset()
                box.ReferencedSOPClassUID = BASIC_GRAYSCALE_IMAGE_BOX
                box.ReferencedSOPInstanceUID = generate_uid()
                boxes.append(box)
            created.ReferencedImageBoxSequence = boxes
        return 0x0000, created

    def n_set(event: Any) -> tuple[int, None]:
        image = event.modification_list.BasicGrayscaleImageSequence[0]
        _ = image.Rows, image.Columns, image.PixelData
        return 0x0000, None

    def n_action(event: Any) -> tuple[int, None]:
        return 0x0000, None

    def n_delete(event: Any) -> int:
        return 0x0000

    ae = AE(FLOOR_AE)
    ae.maximum_pdu_size = MAX_PDU
    for abstract_syntax in (BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, PRESENTATION_LUT, BASIC_ANNOTATION_BOX):
        ae.add_supported_context(abstract_syntax)
    handlers: list[Any] = [
        (evt.EVT_CONN_OPEN, nodelay),
        (evt.EVT_N_GET, n_get),
        (evt.EVT_N_CREATE, n_create),
        (evt.EVT_N_SET, n_set),
        (evt.EVT_N_ACTION, n_action),
        (evt.EVT_N_DELETE, n_delete),
    ]

    class SharedPort(ThreadedAssociationServer):
        def server_bind(self) -> None:
            cast(socket.socket, self.socket).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    server = ae.make_server(("127.0.0.1", port), evt_handlers=handlers, server_class=SharedPort)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


@contextmanager
def floor_server(folder: Path, compat: bool, nodes: int = 1) -> Iterator[tuple[list[int], int]]:
    """(pids, port) of `nodes` bare SCPs on one port (this script's --serve); the kernel spreads the
    connections over them (SO_REUSEPORT), as over printscp's cluster nodes in concurrent_clients.py."""
    folder.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    port = 0
    try:
        for node in range(nodes):
            log_path = folder / f"floor-{node}.log"
            command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--port", str(port)]
            with open(log_path, "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [*command, *([] if compat else ["--stock"])],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=dcmtk_environment(),
                        cwd=REPO,
                    )
                )
            port = listening_port(processes[-1], log_path, "the bare pynetdicom SCP")
        yield [process.pid for process in processes], port
    finally:
        for process in processes:
            stop(process)


# --- measuring ---------------------------------------------------------------------------------------------


def checked_send(client: DcmtkPrintClient, job: PreparedJob) -> float:
    return send_timed(client, job)[1]


@dataclass
class Contestant:
    """One server of a case: its client and Stored Print, and what its timed runs measured."""

    name: str
    client: DcmtkPrintClient
    job: PreparedJob
    pid: int
    archive: Path | None = None  # printscp: each job is waited for in its archive, PDF and all
    walls: list[float] = field(default_factory=list)
    cpu: float = 0.0  # CPU seconds of the server process over the timed runs (printscp: not its renderers)
    sent: int = 0

    def send(self, timed: bool) -> None:
        before = cpu_seconds(self.pid)
        wall = checked_send(self.client, self.job)
        cpu = cpu_seconds(self.pid) - before
        self.sent += 1
        if self.archive is not None:
            wait_for_jobs(self.archive, self.sent)
        if timed:
            self.walls.append(wall)
            self.cpu += cpu

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


def run_case(
    case: Case, folder: Path, repeat: int, warmup: int, compat: bool, with_printscp: bool
) -> dict[str, Contestant]:
    """printscp (unless not `with_printscp`), the bare SCP and dcmprscp, a job to each in turn, by name:
    printscp's waited for in its archive (rendering outside the others' runs, as in print_vs_dcmprscp.py),
    then the bare SCP's, then dcmprscp's."""
    source = write_image(folder / "source.dcm", phantom(case.size))
    images = [source] * case.images
    with ExitStack() as servers:
        printscp = servers.enter_context(printscp_server(folder / "printscp")) if with_printscp else None
        [floor_pid], floor_port = servers.enter_context(floor_server(folder / "floor", compat))
        reference = servers.enter_context(dcmprscp_server(folder / "dcmprscp"))
        entrants: list[tuple[str, str, int, int, Path | None]] = [
            ("pynetdicom alone", FLOOR_AE, floor_port, floor_pid, None),
            ("dcmprscp", DCMPRSCP_AE, reference.port, reference.pid, None),
        ]
        if printscp is not None:
            entrants.insert(0, ("printscp", PRINTSCP_AE, printscp.port, printscp.pid, printscp.folder))
        contestants = []
        for name, called, port, pid, archive in entrants:
            client = DcmtkPrintClient(folder / f"client-{called.lower()}", "127.0.0.1", port, called, printer=IHEFULL)
            job = client.prepare(images, LAYOUT, FILM_SIZE)
            contestants.append(Contestant(name, client, job, pid, archive))
        for number in range(warmup + repeat):
            for contestant in contestants:
                contestant.send(timed=number >= warmup)
    return {contestant.name: contestant for contestant in contestants}


def run_clients_against(
    folder: Path, port: int, called: str, clients: int, films: int, images: list[Path], pids: list[int]
) -> tuple[float, int, float]:
    """(films/s, films printed, CPU seconds per printed film of the server processes) of `clients` dcmprscu
    clients at once."""
    prepared = prepare_clients(folder, port, called, clients, images)
    before = sum(map(cpu_seconds, pids))
    done, wall = run_clients(prepared, films)
    cpu = sum(map(cpu_seconds, pids)) - before
    printed = sum(1 for film in done if film.printed)
    return (printed / wall if wall > 0 else 0.0), printed, (cpu / printed if printed else float("nan"))


def concurrent(folder: Path, clients: int, films: int, compat: bool, nodes: int) -> None:
    case = CASES[1]
    source = write_image(folder / "source.dcm", phantom(case.size))
    images = [source] * case.images
    rows = []
    alone = "pynetdicom alone" + (f" x {nodes}" if nodes > 1 else "")
    with floor_server(folder / "floor", compat, nodes) as (pids, port):
        warm = DcmtkPrintClient(folder / "warm-floor", "127.0.0.1", port, FLOOR_AE, printer=IHEFULL)
        for _ in pids:  # a warm-up film per node, if the kernel spreads them so
            checked_send(warm, warm.prepare(images, LAYOUT, FILM_SIZE))
        measured = run_clients_against(folder / "floor-clients", port, FLOOR_AE, clients, films, images, pids)
        rows.append((alone, *measured))
    with dcmprscp_server(folder / "dcmprscp") as reference:
        warm = DcmtkPrintClient(folder / "warm-dcmprscp", "127.0.0.1", reference.port, DCMPRSCP_AE, printer=IHEFULL)
        checked_send(warm, warm.prepare(images, LAYOUT, FILM_SIZE))
        rows.append(
            (
                "dcmprscp",
                *run_clients_against(
                    folder / "dcmprscp-clients", reference.port, DCMPRSCP_AE, clients, films, images, [reference.pid]
                ),
            )
        )
    print(f"\n{clients} clients x {films} films of {case.name} at once")
    print(f"{'server':<22} {'films/s':>8} {'printed':>8} {'CPU/film':>9}")
    for name, per_second, printed, cpu in rows:
        print(f"{name:<22} {per_second:>8.2f} {printed:>8} {cpu * 1000:>6.0f} ms")
    print(f"ratio {alone} / dcmprscp: {rows[0][1] / rows[1][1]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help="pynetdicom without printscp's patches (net/compat.py)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per case and server (7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (1)")
    parser.add_argument("--cases", default="1,2,3", help="cases by number: 1 x 512, 20 x 512, 20 x 2048 (1,2,3)")
    parser.add_argument("--clients", type=int, default=8, help="clients at once for films/s, 0 for none (8)")
    parser.add_argument("--films", type=int, default=5, help="films per client (5)")
    parser.add_argument("--nodes", type=int, default=1, help="bare SCP processes on one port for --clients (1)")
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-printscp", action="store_true", help="the cases against the bare SCP and dcmprscp only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.serve:
        serve(not args.stock, args.port)
        return 0
    try:
        cases = [CASES[int(number) - 1] for number in args.cases.split(",") if number]
    except (ValueError, IndexError):
        parser.error(f"--cases takes numbers from 1 to {len(CASES)}, comma-separated")
    if args.repeat < 1 or args.warmup < 0 or args.clients < 0 or args.films < 1 or args.nodes < 1:
        parser.error("--repeat, --films and --nodes at least 1, --warmup and --clients at least 0")

    print(
        f"printscp, pynetdicom alone ({'stock' if args.stock else 'with printscp.net.compat'}) and dcmprscp "
        f"(DCMTK {dcmtk_version()}), Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"medians of {args.repeat} runs after {args.warmup} warm-up, alternating"
    )
    with work_folder("printscp-floor-", args.keep) as workdir:
        if cases:
            print(
                "wall: dcmprscu start to exit, seconds; CPU: the server process per film, ms (printscp: receiving, "
                "spooling and recording, not rendering)"
            )
            header = (
                f"{'case':<16} {'printscp':>9} {'alone':>7} {'dcmprscp':>9}   {'alone/dcmprscp':>14} "
                f"{'printscp/dcmprscp':>17} {'printscp/alone':>14}   {'CPU printscp':>12} {'alone':>6}"
            )
            print(header)
            print("-" * len(header))
        for number, case in enumerate(cases):
            folder = workdir / f"case{number}"
            ran = run_case(case, folder, args.repeat, args.warmup, not args.stock, not args.no_printscp)
            alone, theirs, ours = ran["pynetdicom alone"], ran["dcmprscp"], ran.get("printscp")
            # printscp's figures: "-" with --no-printscp
            wall, cpu = (ours.wall, ours.cpu / args.repeat * 1000) if ours else (None, None)
            print(
                f"{case.name:<16} {figure(wall, 9)} {alone.wall:>7.3f} {theirs.wall:>9.3f}   "
                f"{alone.wall / theirs.wall:>14.2f} {figure(wall and wall / theirs.wall, 17, 2)} "
                f"{figure(wall and wall / alone.wall, 14, 2)}   "
                f"{figure(cpu, 12, 0)} {alone.cpu / args.repeat * 1000:>6.0f}"
            )
        if args.clients:
            concurrent(workdir / "concurrent", args.clients, args.films, not args.stock, args.nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
