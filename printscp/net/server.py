"""The print SCP: one pynetdicom AE, the presentation contexts it accepts, and its handlers in one list.

One listening port serves every printer of config.toml: the Called AE Title of an association selects its
printer (`Config.printer_for`), whose profile and status its engine uses, whose presentation contexts it is
offered, and whose printer events it receives. A Called AE Title that names no printer is rejected
(A-ASSOCIATE-RJ 1/1/7, "called AE title not recognized") when network.require_called_ae_title is true, and
prints on the default printer ([printer], network.ae_title) otherwise.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydicom.uid import (
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from printscp import __version__, heap, uids
from printscp.admin import AdminServer
from printscp.archive.lock import ArchiveLock
from printscp.archive.store import FilmArchive, StoredJob, open_index
from printscp.bench.faults import FaultPlan
from printscp.bench.recorder import Recorder
from printscp.bench.store import TranscriptStore
from printscp.cluster import ClusterPrintQueue, NodePaths, adopt_orphans, open_job_queue
from printscp.config import Config, PrinterConfig
from printscp.db import one_line
from printscp.engine import AssociationInfo, PrintEngine, PrintJobState
from printscp.events import Notify, printer_event
from printscp.identity.model import Identity
from printscp.job_queue import JobQueue, NodeState
from printscp.jobs import PrintQueue
from printscp.metrics import Metrics
from printscp.model import sop_classes
from printscp.model.enums import PrinterStatus
from printscp.model.printer import Printer, PrinterState
from printscp.model.record import Image, PrintRequest
from printscp.net import association_log, compat, handlers, qr, tls
from printscp.net.forward import Forwarder, outbox_of
from printscp.net.notify import PrintAssociation
from printscp.relay.queue import RelayQueue
from printscp.shared_state import SharedState, open_shared_state

log = logging.getLogger(__name__)

# Stored instances are kept as they arrive, compressed ones included.
ALL_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    *AllTransferSyntaxes[4:],
]
INDEX_RETRY = 5.0  # seconds between attempts to index the jobs archived while the index was away
RETENTION_INTERVAL = 600.0  # seconds between retention checks when nothing is stored


class _AssociationPrinting:
    """The print queue as one association's engine sees it: its jobs report back to it."""

    def __init__(self, queue: PrintQueue, notify: Notify | None) -> None:
        self._queue, self._notify = queue, notify

    def prepare(self, image: Image) -> None:
        self._queue.prepare(image)

    def submit(self, request: PrintRequest) -> str:
        job_uid = self._queue.submit(request, self._notify)
        association_log.printed(request.association_id, len(request.films))
        return job_uid

    def print_job(self, sop_instance_uid: str) -> PrintJobState | None:
        return self._queue.job(sop_instance_uid)


class PrintServer:
    """A running (or ready to run) printscp: the AE, the printer, the print queue, one engine per association."""

    def __init__(self, config: Config) -> None:
        """Take the archive folder (raises ArchiveLocked / ArchiveError), then mend and index it."""
        self.config = config
        # DICOM TLS (PS3.15 B.1): built first, so that a bad certificate or key file stops us before anything starts
        self.server_tls = tls.server_context(config.tls) if config.tls is not None else None
        self.client_tls = tls.node_client_context(config.tls) if any(n.tls for n in config.nodes.values()) else None
        self.profile = config.printer
        # the status of each printer, by AE title; `printer` is the default one's
        self.printers: dict[str, Printer] = {ae_title: Printer() for ae_title in config.all_printers}
        self.printer = self.printers[config.network.ae_title]
        self.faults = FaultPlan.from_config(config)  # scripted faults per request; the admin channel adds more
        # before anything touches the folder: a second server must not clear the first one's spool. In a
        # cluster the folder is shared: each node locks (and clears) only its own part of it.
        self.node = NodePaths.of(config) if config.cluster.enabled else None
        self.drained = threading.Event()  # a drained cluster node has finished: `printscp serve` exits
        self._listener_closed = False
        if self.node is not None:
            self._archive_lock = ArchiveLock(self.node.root, NodePaths.lock)
        else:
            self._archive_lock = ArchiveLock(config.archive.folder)
        self._archive_lock.acquire(wait=10.0 if self.node is not None else 0.0)  # another node may be taking
        # over what this node left (cluster.adopt_orphans): a moment
        self.shared: SharedState | None = None
        try:
            if self.node is not None:  # printer status and run-time fault rules shared by the nodes
                self.shared = open_shared_state(config, self.node.node_id, self.faults)
                self.printers, self.faults = dict(self.shared.printers), self.shared.faults
                self.printer = self.printers[config.network.ae_title]
                self.shared.start()
            self._open_archive()
        except BaseException:
            if self.shared is not None:
                self.shared.close()
            self._archive_lock.release()
            raise

    def _open_archive(self) -> None:
        config = self.config
        index = open_index(config.archive.folder, config.index.url, config.index.pool_size)
        node = self.node
        self.archive = FilmArchive(config.archive.folder, config.printer, index, node.root if node else None)
        self.archive.clear_leftovers()
        self.archive.reconcile()  # the index matches the disk before anyone asks it anything
        self.transcripts = TranscriptStore(config.archive.folder, self.archive.index)
        self.transcripts.reconcile()  # an association cut short by a kill has a file and no row
        self.recorder = (
            Recorder(self.transcripts, self.printer_of, config.transcripts.keep_pixels)
            if config.transcripts.enabled
            else None
        )
        archive = config.archive
        self.forwarder = (
            Forwarder(
                archive.folder,
                config.nodes,
                archive.forward_to,
                config.network.ae_title,
                self.client_tls,
                outbox=outbox_of(config),  # in cluster mode, this node's own
            )
            if archive.forward_to
            else None
        )
        relaying = any(printer.profile.relay_to for printer in config.all_printers.values())
        relay_root = node.relay if node is not None else None
        self.relays = RelayQueue(config, archive.folder, self.client_tls, root=relay_root) if relaying else None
        self.job_store: JobQueue | None = None
        self.queue: PrintQueue
        if node is None:
            self.queue = PrintQueue(config, self.printers, self.archive, on_stored=self._stored, relays=self.relays)
        else:
            self.job_store = open_job_queue(config.index.url)
            self.queue = ClusterPrintQueue(
                config, self.printers, self.job_store, node, self.archive, on_stored=self._stored, relays=self.relays
            )
        self._stored_observers: list[Callable[[StoredJob], None]] = []
        self.metrics = Metrics(
            lambda: {ae_title: self.queue.depth_of(ae_title) for ae_title in self.printers},
            lambda: {ae_title: printer.state.printer_status for ae_title, printer in self.printers.items()},
            lambda: len(self.associations),
        )
        self.queue.observe(self.metrics.job_changed)
        self._say_identity_sources()
        self._engines: dict[Association, PrintEngine] = {}
        self._lock = threading.Lock()
        self._server: compat.AssociationServer | None = None
        self._admin: AdminServer | None = None
        self._stopping = threading.Event()
        self._listeners = {ae: functools.partial(self._printer_changed, ae) for ae in self.printers}
        for ae_title, printer in self.printers.items():
            printer.add_listener(self._listeners[ae_title])
        self.after_store()
        threading.Thread(target=self._retention_timer, name="printscp-retention", daemon=True).start()

    def _say_identity_sources(self) -> None:
        """Once, at start: where the identity of an anonymous print will come from (issue 16)."""
        from printscp.identity import ocr

        identity = self.config.identity
        sources = [f"label patterns ({len(identity.label_patterns)})"] if identity.label_patterns else []
        sources += [f"worklist {identity.worklist}"] if identity.worklist else []
        sources += [f"PACS {identity.pacs}"] if identity.pacs else []
        if identity.ocr and ocr.available():
            sources.append(f"OCR (Tesseract {ocr.version()})")
        elif identity.ocr:
            log.warning("identity: no OCR of burnt-in text: Tesseract is not installed (apt-get install tesseract-ocr)")
        log.info(
            "identity of prints that name no patient: %s; unconfirmed films are %s",
            ", ".join(sources) or "none (only what the SCU sends)",
            "held from forwarding" if identity.unconfirmed == "hold" else "forwarded",
        )

    # --- association lifecycle -----------------------------------------------------------------------

    def printer_of(self, assoc: Association) -> PrinterConfig:
        """The printer an association's Called AE Title selected."""
        called = compat.called_ae_title(assoc)
        printer = self.config.printer_for(called) if called is not None else None
        return printer if printer is not None else self.config.default_printer

    def _requested(self, event: Event) -> None:
        """A-ASSOCIATE-RQ: answer as the printer it calls, offering what that printer offers."""
        assoc = event.assoc
        called = compat.called_ae_title(assoc)
        printer = self.config.all_printers.get(called) if called is not None else None
        if printer is None:  # pynetdicom rejects it 1/1/7 if network.require_called_ae_title; else the default
            return
        assoc.acceptor.ae_title = printer.ae_title  # the A-ASSOCIATE-AC names the printer called
        unoffered = {uid for uid in sop_classes.NEGOTIATED if not sop_classes.offered(uid, printer.profile)}
        if unoffered:  # PS3.4 H.3.2.2: e.g. no Presentation LUT context for a printer without P-LUT support
            assoc.acceptor.supported_contexts = [
                cx for cx in assoc.acceptor.supported_contexts if str(cx.abstract_syntax) not in unoffered
            ]

    def engine_for(self, assoc: Association) -> PrintEngine:
        with self._lock:
            engine = self._engines.get(assoc)
            if engine is None:
                accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
                called = compat.called_ae_title(assoc)
                printer = self.printer_of(assoc)
                info = AssociationInfo(
                    calling_ae_title=str(assoc.requestor.ae_title).strip(),
                    called_ae_title=called if called is not None else self.config.network.ae_title,
                    annotation_negotiated=uids.BASIC_ANNOTATION_BOX in accepted,
                    print_job_negotiated=uids.PRINT_JOB in accepted,
                    association_id=association_log.association_id(assoc),  # made when its connection opened
                    printer=printer.ae_title,
                )
                notify = assoc.post_event if info.print_job_negotiated and isinstance(assoc, PrintAssociation) else None
                engine = PrintEngine(
                    printer.profile, self.printers[printer.ae_title], info, _AssociationPrinting(self.queue, notify)
                )
                self._engines[assoc] = engine
            return engine

    def _forget(self, event: Event) -> None:
        with self._lock:
            engine = self._engines.pop(event.assoc, None)
        if engine is not None:
            engine.close()

    def _closed(self, event: Event) -> None:
        self._forget(event)  # an association ends before its connection does, or with it
        # The connection is gone, and with it the association's images, decoded data sets and PDUs: give
        # them back. Once per connection (malloc_trim walks every arena: ~1 ms), not at each end event.
        heap.trim()

    @property
    def active_engines(self) -> int:
        with self._lock:
            return len(self._engines)

    def _established(self, event: Event) -> None:
        assoc = event.assoc  # association_log logs it
        printer = self.printer_of(assoc)
        state = self.printers[printer.ae_title].state
        if state.printer_status is not PrinterStatus.NORMAL and isinstance(assoc, PrintAssociation):
            # The standard sends printer events on changes (PS3.4 H.4.6.2); an SCU that associates while
            # the printer is in WARNING or FAILURE is told at once, as if it had seen the change.
            if assoc.context_for(uids.PRINTER) is not None:
                report = printer_event(state.printer_status, state.printer_status_info, printer.profile.name)
                assoc.post_event(report)

    def _printer_changed(self, ae_title: str, old: PrinterState, new: PrinterState) -> None:
        """PS3.4 H.4.6.2: every change goes to every association using the printer."""
        log.info("printer %s status %s (%s)", ae_title, new.printer_status.value, new.printer_status_info)
        name = self.config.all_printers[ae_title].profile.name
        report = printer_event(new.printer_status, new.printer_status_info, name)
        for assoc in self.associations:
            if (
                assoc.is_established
                and self.printer_of(assoc).ae_title == ae_title
                and assoc.context_for(uids.PRINTER) is not None
            ):
                assoc.post_event(report)

    # --- the archive -----------------------------------------------------------------------------

    def observe_stored(self, observer: Callable[[StoredJob], None]) -> None:
        """Call `observer` with each print job that reached the archive, indexed (the web console)."""
        self._stored_observers.append(observer)

    def _stored(self, job: StoredJob) -> None:
        """A print job reached the archive: tell who watches, forward its films, keep the archive within
        its limits."""
        for observer in self._stored_observers:
            try:
                observer(job)
            except Exception:  # the job is printed and archived whatever a watcher does
                log.exception("a watcher of the archive failed")
        if self.forwarder is not None:
            identity = job.identity
            if identity.confirmed or self.config.identity.unconfirmed == "forward":
                self.forwarder.enqueue(job.dicoms)
            else:  # issue 16: no orphan study in the PACS; forwarded once a person confirms or assigns it
                log.info(
                    "print job %s is held, not forwarded: its identity is %s (printscp films assign)",
                    job.manifest["print_job_uid"],
                    f"unconfirmed, from {identity.source}" if identity.known else "unknown",
                )
        self.after_store()

    def assign_identity(self, job_uid: str, identity: Identity, by: str) -> StoredJob:
        """A person says whose films a job's are; the films go to the PACS now (held until now, or corrected)."""
        stored = self.archive.assign(job_uid, identity, by)
        if self.forwarder is not None:
            self.forwarder.enqueue(stored.dicoms)
        return stored

    def after_store(self) -> None:
        archive = self.config.archive
        if archive.max_age_days or archive.max_size_gb:
            self.archive.enforce_retention(archive.max_age_days, archive.max_size_gb)

    def _retention_timer(self) -> None:
        # Transcripts are pruned here only (at start, then every RETENTION_INTERVAL), not after each film:
        # there is one per association, and a few kilobytes each.
        # Jobs archived while the index could not be written are indexed here too, every INDEX_RETRY seconds.
        transcripts = self.config.transcripts
        retention_at = time.monotonic()
        while True:
            if time.monotonic() >= retention_at:
                self.transcripts.enforce_retention(transcripts.max_age_days, transcripts.max_size_gb)
                retention_at = time.monotonic() + RETENTION_INTERVAL
            if self._stopping.wait(INDEX_RETRY):
                return
            self.archive.index_waiting()
            if time.monotonic() >= retention_at:  # films also age while nobody prints
                self.after_store()

    @property
    def associations(self) -> list[PrintAssociation]:
        server = self._server
        if server is None:
            return []
        return [a for a in server.active_associations if isinstance(a, PrintAssociation)]

    # --- the AE --------------------------------------------------------------------------------------

    def build_ae(self) -> AE:
        network = self.config.network
        ae = AE(ae_title=network.ae_title)
        ae.maximum_pdu_size = network.max_pdu
        ae.acse_timeout = network.acse_timeout
        ae.dimse_timeout = network.dimse_timeout
        ae.network_timeout = network.network_timeout
        ae.maximum_associations = network.max_associations
        ae.require_calling_aet = list(network.allowed_calling_ae_titles)
        ae.require_called_aet = network.require_called_ae_title  # else: A-ASSOCIATE-RJ 1/1/7 (PS3.8 9.3.4)
        ae.add_supported_context(uids.VERIFICATION)
        # offered if any printer offers it; _requested takes it away from the others' associations
        profiles = [printer.profile for printer in self.config.all_printers.values()]
        for abstract_syntax in sop_classes.PRINT_CONTEXTS:
            if any(sop_classes.offered(abstract_syntax, profile) for profile in profiles):
                ae.add_supported_context(abstract_syntax, sop_classes.PRINT_TRANSFER_SYNTAXES)
        # Storage: C-STORE in, and the C-STORE sub-operations of C-GET out (SCP role selection, PS3.7 D.3.3.4)
        for context in StoragePresentationContexts:
            if str(context.abstract_syntax) in uids.RETIRED_PRINT_CLASSES:  # Stored Print, Hardcopy: retired
                continue
            ae.add_supported_context(str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
        for abstract_syntax in sorted(qr.PATIENT_ROOT_CLASSES | qr.STUDY_ROOT_CLASSES):
            ae.add_supported_context(abstract_syntax)
        return ae

    def event_handlers(self) -> list[tuple[Any, ...]]:
        """Every handler printscp binds, in one visible list."""
        return [
            (evt.EVT_CONN_OPEN, association_log.on_conn_open),  # first: it gives the association its id
            (evt.EVT_CONN_OPEN, _set_tcp_nodelay),
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ACCEPTED, association_log.on_accepted),
            (evt.EVT_REJECTED, association_log.on_rejected),
            (evt.EVT_DIMSE_RECV, association_log.on_dimse_recv),
            (evt.EVT_ACSE_RECV, association_log.on_acse_recv),
            (evt.EVT_ACCEPTED, self.metrics.on_accepted),
            (evt.EVT_REJECTED, self.metrics.on_rejected),
            (evt.EVT_DIMSE_SENT, self.metrics.on_dimse_sent),
            (evt.EVT_C_ECHO, handlers.handle_c_echo, [self]),
            (evt.EVT_N_CREATE, handlers.handle_n_create, [self]),
            (evt.EVT_N_SET, handlers.handle_n_set, [self]),
            (evt.EVT_N_GET, handlers.handle_n_get, [self]),
            (evt.EVT_N_ACTION, handlers.handle_n_action, [self]),
            (evt.EVT_N_DELETE, handlers.handle_n_delete, [self]),
            (evt.EVT_N_EVENT_REPORT, handlers.handle_n_event_report, [self]),
            (evt.EVT_C_STORE, qr.handle_c_store, [self]),
            (evt.EVT_C_FIND, qr.handle_c_find, [self]),
            (evt.EVT_C_GET, qr.handle_c_get, [self]),
            (evt.EVT_C_MOVE, qr.handle_c_move, [self]),
            (evt.EVT_ESTABLISHED, self._established),
            (evt.EVT_RELEASED, self._forget),
            (evt.EVT_ABORTED, self._forget),
            (evt.EVT_CONN_CLOSE, self._closed),
            (evt.EVT_RELEASED, association_log.on_released),
            (evt.EVT_ABORTED, association_log.on_aborted),
            (evt.EVT_CONN_CLOSE, association_log.on_conn_close),
            *(self.recorder.handlers() if self.recorder is not None else []),  # bench/recorder.py
        ]

    def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Listen without blocking; returns the bound address (port 0 picks a free port)."""
        network = self.config.network
        address = (host if host is not None else network.host, port if port is not None else network.port)
        ae = self.build_ae()
        limits = compat.ConnectionLimits(
            max_pdu=network.max_pdu,
            artim_timeout=network.artim_timeout,
            pdu_timeout=network.pdu_timeout,
            idle_timeout=network.idle_timeout,
            max_associations=network.max_associations,
            max_pending_connections=network.max_pending_connections,
            max_connections_per_ip=network.max_connections_per_ip,
            max_buffered_bytes=network.max_buffered_bytes,
        )
        server = compat.start_server(
            ae,
            address,
            self.event_handlers(),
            PrintAssociation,
            limits,
            ssl_context=self.server_tls,
            reuse_port=network.reuse_port,
        )
        self._server = server
        logging.getLogger("printscp").addHandler(self.metrics.error_counter)
        bound = server.server_address
        self._admin = AdminServer(
            self.printers,
            self.queue,
            self.node.root if self.node is not None else self.config.archive.folder,  # config.node_folder
            int(bound[1]),
            faults=self.faults,
            assign=self.assign_identity,
            relays=self.relays,
        )
        self._admin.start()
        if self.node is not None:
            self._started_at = datetime.now(UTC)
            self._port = int(bound[1])
            self._heartbeat()  # in the nodes table before the first association
            threading.Thread(target=self._heartbeats, name="printscp-heartbeat", daemon=True).start()
        log.info(
            "printscp %s listening on %s:%d%s; printers by called AE title: %s",
            network.ae_title,
            bound[0],
            bound[1],
            " (TLS)" if self.server_tls else "",
            ", ".join(self.printers),
        )
        return str(bound[0]), int(bound[1])

    # --- cluster: heartbeat and draining -------------------------------------------------------------------

    def _heartbeat(self) -> bool:
        """Say this node is alive, renew its leases; then take over what dead nodes left and forget old
        finished jobs. Whether it is asked to drain."""
        assert self.node is not None and self.job_store is not None
        assert isinstance(self.queue, ClusterPrintQueue)
        running = self.queue.renew_leases()
        asked = self.job_store.heartbeat(
            NodeState(
                self.node.node_id,
                socket.gethostname(),
                self._port,
                __version__,
                self._started_at,
                self._started_at,
                jobs_running=running,
                associations=len(self.associations),
            )
        )
        try:  # after the heartbeat: trouble here must not make this node look dead
            if not self._listener_closed:  # a draining node takes nothing over
                adopt_orphans(self.job_store, self.node, self.config.cluster.lease_seconds, self.queue, self.forwarder)
            self.job_store.prune(self.config.queue.keep_finished_jobs)
        except Exception as exc:
            log.warning("what stopped nodes left could not be taken over, or old jobs pruned (%s)", one_line(exc))
        return asked

    def _heartbeats(self) -> None:
        interval = self.config.cluster.heartbeat_seconds
        draining = failing = False
        while not self._stopping.wait(interval):
            try:
                asked = self._heartbeat()
            except Exception as exc:  # the database is away: the leases run out, other nodes take the jobs
                if not failing:  # one line per outage, not one per heartbeat
                    log.warning("heartbeat failed (%s); trying again every %g s", one_line(exc), interval)
                failing = True
                continue
            if failing:
                log.warning("heartbeat works again")
                failing = False
            if asked and not draining:
                draining = True
                threading.Thread(target=self._drain, name="printscp-drain", daemon=True).start()

    def _drain(self) -> None:
        """`printscp node drain`: no new associations (the listener closes: a load balancer's health check
        fails and it sends them elsewhere), no new jobs; once the associations have ended and the jobs held
        are finished, `drained` is set and `printscp serve` exits 0."""
        assert isinstance(self.queue, ClusterPrintQueue)
        log.info("node %s is draining: no new associations or jobs", self.node.node_id if self.node else "")
        self.queue.drain()
        server = self._server
        if server is not None:
            self._listener_closed = True
            server.shutdown()  # closes the listening socket; open associations go on
        while not self._stopping.wait(0.2):  # polled: associations end in pynetdicom's threads
            if not self.associations and not self.queue.busy:
                break
        log.info("node drained: its associations ended and its jobs are finished")
        self.drained.set()

    def stop(self) -> None:
        """Stop accepting, end open associations, let the print being rendered finish (the rest wait in
        the spool for the next start)."""
        server, self._server = self._server, None
        if server is not None:
            if self._admin is not None:
                self._admin.stop()
            for assoc in server.active_associations:
                assoc.abort()
            if not self._listener_closed:
                server.shutdown()
        if self.recorder is not None:
            self.recorder.stop()  # the transcripts of the associations just ended, written and indexed
        self.queue.stop()
        logging.getLogger("printscp").removeHandler(self.metrics.error_counter)
        self._stopping.set()
        if self.forwarder is not None:
            self.forwarder.stop()
        if self.relays is not None:
            self.relays.stop()
        for ae_title, printer in self.printers.items():
            printer.remove_listener(self._listeners[ae_title])
        if self.job_store is not None and self.node is not None:
            try:
                self.job_store.stopped(self.node.node_id)
            except Exception as exc:
                log.warning("the nodes table could not be told this node stopped (%s)", exc)
            self.job_store.close()
        if self.shared is not None:
            self.shared.close()
        self.archive.index.close()
        self._archive_lock.release()
        log.info("printscp stopped")


def _set_tcp_nodelay(event: Event) -> None:
    # without it every response with a data set waits ~40 ms for the peer's delayed ACK
    compat.set_tcp_nodelay(event.assoc)
