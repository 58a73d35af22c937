"""The print SCP: one pynetdicom AE, the presentation contexts it accepts, and its handlers in one list."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from printscp import uids
from printscp.archive.store import FilmArchive
from printscp.config import Config
from printscp.engine import AssociationInfo, PrintEngine, Submit
from printscp.jobs import SynchronousPrintQueue
from printscp.model.printer import Printer
from printscp.net import compat as _compat  # noqa: F401  (adjusts pynetdicom on import)
from printscp.net import handlers

log = logging.getLogger(__name__)

# Print contexts take Little Endian only: pixel data arrives as OW, and DCMTK also offers Big Endian.
PRINT_TRANSFER_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]


class PrintServer:
    """A running (or ready to run) printscp: the AE, the printer, the archive and one engine per association."""

    def __init__(self, config: Config, submit: Submit | None = None) -> None:
        self.config = config
        self.profile = config.printer
        self.printer = Printer()
        self.archive = FilmArchive(config.archive.folder)
        self.submit: Submit = submit or SynchronousPrintQueue(self.profile, self.archive).submit
        self._engines: dict[Association, PrintEngine] = {}
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None

    # --- association lifecycle -----------------------------------------------------------------------

    def engine_for(self, assoc: Association) -> PrintEngine:
        with self._lock:
            engine = self._engines.get(assoc)
            if engine is None:
                accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
                info = AssociationInfo(
                    calling_ae_title=str(assoc.requestor.ae_title).strip(),
                    called_ae_title=str(assoc.requestor.primitive.called_ae_title).strip()
                    if assoc.requestor.primitive else self.config.network.ae_title,
                    annotation_negotiated=uids.BASIC_ANNOTATION_BOX in accepted,
                    print_job_negotiated=uids.PRINT_JOB in accepted,
                )
                engine = PrintEngine(self.profile, self.printer, info, self.submit)
                self._engines[assoc] = engine
            return engine

    def _forget(self, event: Event) -> None:
        with self._lock:
            engine = self._engines.pop(event.assoc, None)
        if engine is not None:
            engine.close()

    @property
    def active_engines(self) -> int:
        with self._lock:
            return len(self._engines)

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
        ae.add_supported_context(uids.VERIFICATION)
        print_contexts = [uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, uids.PRINTER]
        if self.profile.supports_presentation_lut:
            print_contexts.append(uids.PRESENTATION_LUT)
        if self.profile.supports_annotation:
            print_contexts.append(uids.BASIC_ANNOTATION_BOX)
        for abstract_syntax in print_contexts:
            ae.add_supported_context(abstract_syntax, PRINT_TRANSFER_SYNTAXES)
        return ae

    def event_handlers(self) -> list[tuple[Any, ...]]:
        """Every handler printscp binds, in one visible list."""
        return [
            (evt.EVT_CONN_OPEN, _set_tcp_nodelay),
            (evt.EVT_C_ECHO, handlers.handle_c_echo, [self]),
            (evt.EVT_N_CREATE, handlers.handle_n_create, [self]),
            (evt.EVT_N_SET, handlers.handle_n_set, [self]),
            (evt.EVT_N_GET, handlers.handle_n_get, [self]),
            (evt.EVT_N_ACTION, handlers.handle_n_action, [self]),
            (evt.EVT_N_DELETE, handlers.handle_n_delete, [self]),
            (evt.EVT_N_EVENT_REPORT, handlers.handle_n_event_report, [self]),
            (evt.EVT_ESTABLISHED, _log_established),
            (evt.EVT_RELEASED, self._forget),
            (evt.EVT_ABORTED, self._forget),
            (evt.EVT_CONN_CLOSE, self._forget),
        ]

    def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Listen without blocking; returns the bound address (port 0 picks a free port)."""
        network = self.config.network
        address = (host if host is not None else network.host, port if port is not None else network.port)
        server = self.build_ae().start_server(address, block=False, evt_handlers=self.event_handlers())
        assert server is not None  # block=False always returns the server
        self._server = server
        bound = server.server_address
        log.info("printscp %s listening on %s:%d", network.ae_title, bound[0], bound[1])
        return str(bound[0]), int(bound[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            log.info("printscp stopped")


def _set_tcp_nodelay(event: Event) -> None:
    # pynetdicom never sets TCP_NODELAY; without it every response with a data set waits ~40 ms for
    # the peer's delayed ACK (measured: Printer N-GET 47 ms -> 6 ms).
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _log_established(event: Event) -> None:
    assoc = event.assoc
    contexts = ", ".join(uids.name(str(cx.abstract_syntax)) for cx in assoc.accepted_contexts)
    log.info("association from %s (%s:%s) accepted: %s", str(assoc.requestor.ae_title).strip(),
             assoc.requestor.address, assoc.requestor.port, contexts)
