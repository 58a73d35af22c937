"""Forwarding: every printed film's Encapsulated PDF goes to the PACS of `archive.forward_to`, durably.

When a film reaches the archive its .dcm file is hard-linked into `<archive>/.outbox/<node>/` (a link, so
the film in the archive is not copied, and the outbox keeps it even if retention removes the job). A
worker sends what is in each node's outbox with C-STORE and unlinks a file once the PACS answered success
or warning. A node that cannot be reached is tried again after 1, 2, 4 ... up to MAX_BACKOFF seconds; the
outbox survives restarts, so a PACS that is down loses nothing.

In cluster mode each node has its own outbox, `<archive>/.nodes/<node id>/outbox/<node>/` (`outbox_of`), and
forwards the films it archived: two nodes never send one file. When a node dies (or stops and is not
started again), another node takes over its outbox (`adopt`, cluster.adopt_orphans).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE, evt

from printscp.config import Config, Node, node_folder
from printscp.net import association_log, compat, tls
from printscp.spool import fsync_dir

log = logging.getLogger(__name__)

MAX_BACKOFF = 10.0  # seconds


def outbox_of(config: Config) -> Path:
    """The outbox folder: `<archive>/.outbox`, or in cluster mode this node's own."""
    return node_folder(config) / "outbox" if config.cluster.enabled else config.archive.folder / ".outbox"


def link_into_outbox(archive: Path, targets: Iterable[str], files: Iterable[Path], outbox: Path | None = None) -> None:
    """Queue instance files for each target node (also with no server running: the next one sends them);
    in `outbox` (by default `<archive>/.outbox`)."""
    files = list(files)
    root = outbox if outbox is not None else archive / ".outbox"
    for name in targets:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:  # named by time, so the outbox is sent oldest first
            os.link(path, folder / f"{time.time_ns()}-{path.name}")
        fsync_dir(folder)


class Forwarder:
    def __init__(
        self,
        archive: Path,
        nodes: Mapping[str, Node],
        targets: Iterable[str],
        ae_title: str,
        client_tls: ssl.SSLContext | None = None,
        outbox: Path | None = None,
    ) -> None:
        self.archive = archive
        self.root = outbox if outbox is not None else archive / ".outbox"
        self.client_tls = client_tls  # for nodes with tls = true (PS3.15 B.1)
        self.nodes = {name: nodes[name] for name in targets}
        self.ae_title = ae_title
        for name in self.nodes:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self._wake = threading.Condition()
        self._stopping = False
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._repeats = association_log.Repeats()  # a PACS that is down: one line a minute, with a count
        self._thread = threading.Thread(target=self._run, name="printscp-forward", daemon=True)
        self._thread.start()

    def enqueue(self, files: Iterable[Path]) -> None:
        """Queue instance files for every target node; durable when this returns."""
        link_into_outbox(self.archive, self.nodes, files, self.root)
        with self._wake:
            self._retry_at.clear()  # new work: try now
            self._wake.notify_all()

    def adopt(self, outbox: Path) -> int:
        """Take over the files of another outbox (a cluster node's that died or stopped; the caller holds
        that node's lock): each is renamed into ours, in one step. Files for a PACS this server does not
        forward to stay where they are (logged). How many were taken."""
        taken = 0
        for folder in sorted(outbox.iterdir()) if outbox.is_dir() else ():
            files = sorted(folder.iterdir())
            if not files:
                continue
            if folder.name not in self.nodes:
                log.warning("%d film(s) in %s: this node does not forward to %s", len(files), folder, folder.name)
                continue
            for path in files:
                os.rename(path, self.root / folder.name / path.name)
                taken += 1
            fsync_dir(self.root / folder.name)
        if taken:
            with self._wake:
                self._retry_at.clear()
                self._wake.notify_all()
        return taken

    def pending(self) -> dict[str, int]:
        return {name: len(list((self.root / name).glob("*"))) for name in self.nodes}

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                now = time.monotonic()
                due = [n for n in self.nodes if self._retry_at.get(n, 0) <= now and any((self.root / n).iterdir())]
                if not due:
                    waits = [t - now for n, t in self._retry_at.items() if any((self.root / n).iterdir())]
                    self._wake.wait(timeout=min(waits) if waits else None)
                    continue
            for name in due:
                self._send(name)

    def _send(self, name: str) -> None:
        node = self.nodes[name]
        files = sorted((self.root / name).iterdir())
        datasets = []
        for path in files:
            try:
                datasets.append((path, dcmread(path)))
            except Exception:
                log.exception("outbox file %s cannot be read; dropped", path)
                path.unlink()
        if not datasets:
            return
        ae = AE(self.ae_title)
        association_log.expect_failures(ae)  # _failed says why, once per attempt; pynetdicom's errors -> DEBUG
        for sop_class in sorted({str(ds.SOPClassUID) for _, ds in datasets})[:128]:
            ae.add_requested_context(sop_class)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        connected: list[bool] = []
        assoc = ae.associate(
            node.host,
            node.port,
            ae_title=name,
            evt_handlers=[(evt.EVT_CONN_OPEN, lambda _: connected.append(True))],
            tls_args=tls.tls_args(node, self.client_tls),
        )
        if not assoc.is_established:
            self._failed(name, association_log.why_not_associated(assoc) if connected else "cannot connect")
            return
        compat.set_tcp_nodelay(assoc)
        sent = 0
        try:
            for path, ds in datasets:
                status = assoc.send_c_store(ds)
                code = getattr(status, "Status", None)
                if code is None:
                    self._failed(name, "no response")
                    return
                if code == 0x0000 or 0xB000 <= code <= 0xBFFF:
                    path.unlink()
                    sent += 1
                else:
                    log.warning("forwarding %s to %s refused with 0x%04X; kept in the outbox", path.name, name, code)
                    self._failed(name, f"status 0x{code:04X}")
                    return
        finally:
            if assoc.is_established:
                assoc.release()
        log.info("forwarded %d instance(s) to %s", sent, name)
        self._repeats.forget(name)
        with self._wake:
            self._backoff.pop(name, None)
            self._retry_at.pop(name, None)

    def _failed(self, name: str, why: str) -> None:
        with self._wake:
            backoff = min(MAX_BACKOFF, self._backoff.get(name, 0.5) * 2)
            self._backoff[name] = backoff
            self._retry_at[name] = time.monotonic() + backoff
        waiting = len(list((self.root / name).iterdir()))
        repeats = self._repeats.admit((name, why))
        if repeats is None:  # said less than a minute ago
            log.debug("forwarding to %s failed again (%s); %d waiting, next try in %.0f s", name, why, waiting, backoff)
            return
        log.warning(
            "forwarding to %s failed (%s); %d waiting, next try in %.0f s%s",
            name,
            why,
            waiting,
            backoff,
            f" ({repeats} more such failures in the last minute)" if repeats else "",
        )
