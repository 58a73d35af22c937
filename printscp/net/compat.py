"""Everything printscp does with pynetdicom beyond its public API, in one place, for pynetdicom >=3.0.4,<3.1.

The rest of printscp talks to pynetdicom through its public API only (AE, evt, event handlers, Event,
`assoc.send_*`, `release()`, `abort()`, the accepted contexts and service users); tests/unit/test_compat.py
checks that no other module imports a pynetdicom submodule outside a public list or touches its
internals. What follows relies on pynetdicom's private code; each item has tests there named after it
(test_itemN_...), and tests/integration/test_compat_net.py runs items 6 to 9 on real associations. They
fail, naming what changed, when an upgrade changes what an item relies on.

Adjustments applied once, at import:

1. pynetdicom aborts the association when a request names a SOP class it does not know (a retired
   print class, or any unknown UID), before any handler runs. PS3.7 wants a status (0118 No Such SOP
   Class) instead. We route DIMSE-N requests of unknown classes to the Print Management service
   class, whose handlers are ours and answer 0118; DIMSE-C requests keep pynetdicom's behaviour.
2. pynetdicom's DIMSE-N response primitives cannot carry Offending Element (0000,0901), the PS3.7
   Annex C failure field that names the attribute at fault. We add it to the N-CREATE, N-SET,
   N-GET, N-ACTION and N-DELETE responses (command set, primitive and status keywords).
3. pynetdicom's DUL thread sleeps 1 ms whenever it finds nothing to do, so every message, and every
   PDU of a large N-SET that has not fully arrived, waits up to a millisecond more. Our DUL waits in
   select() for the socket or for something to send instead: no delay, and no CPU while idle.
4. pynetdicom's requestor can lose a response. send_c_store & co. clear the reactor checkpoint and
   send once `_is_paused` is True, but the flag is also True in the instant after the reactor's
   checkpoint wait returned and before it resets it; a response that arrives then is taken by the
   reactor, logged as "Received unexpected ... service message" and dropped, and the requestor waits
   out its DIMSE timeout. We hand such a response back to the send_* that is waiting for it. This
   concerns printscp's forwarder, C-MOVE sub-associations and echo command, and the test SCUs.
5. pynetdicom serves each N-EVENT-REPORT request a requestor receives in a new thread, through
   _serve_request, which ends with `_is_paused = False`. If that lands while the reactor is parked
   for a send_*, the next send_* waits for `_is_paused` for ever (seen: an SCU associating with a
   printer in FAILURE, whose status event arrives at once). We serve those events without touching
   the flag.

Tools the rest of printscp calls:

6. `ReactorAssociation`: the acceptor's reactor loop, a mirror of 3.0.4's `Association._run_reactor`
   (same release, abort, dead DUL and network timeout handling) that waits on the DIMSE queue for up
   to 1 ms instead of sleeping 1 ms before every look, and calls `between_requests()` in the
   association's own thread, where net/notify.py sends event reports. `next_message`, `serve`,
   `peer_is_leaving` and `send_event_report` are the DIMSE queue, DUL and primitive operations it needs.
7. `start_server`: pynetdicom's threaded server with a request handler that makes each accepted
   association an instance of a `ReactorAssociation` subclass (`RequestHandler._create_association`),
   contexts that are cheap to copy per association, and the `AE._servers` bookkeeping that
   `AE.start_server` does (the server's shutdown() removes it).
8. `set_tcp_nodelay`: pynetdicom never sets TCP_NODELAY; the socket is reached through the DUL.
9. `called_ae_title`: the Called AE Title of the A-ASSOCIATE-RQ (an acceptor's own title is its AE's).
10. `quiet_logging`: pynetdicom's `_config` switches for its per-message logging.
11. `TlsAssociationServer` (DICOM TLS, PS3.15 B.1): pynetdicom's server does the TLS handshake inside
    `AssociationServer.get_request`, in the one thread that accepts, so a client that connects and sends no
    ClientHello blocks every later connection. Ours only wraps the socket there and does the handshake in
    the association's thread, under a timeout (the ARTIM timer, PS3.8 9.1.5), before pynetdicom sees it.
    Item 3's DUL also looks at the TLS buffer before it waits in select(): decrypted bytes already read
    from the socket do not make it readable.

Version range: >=3.0.4 because 3.0.4 is the release the whole test suite runs on and the behaviours
above were measured on. (This module's tests also pass on 3.0.0 and 3.0.3, whose copied and wrapped
code is the same: lowering the floor needs only the rest of the suite run there.) <3.1 because items 3
to 7 copy, wrap or override private code that the tests pin by digest, and a minor release may change
it without notice. To widen the range, install the new release, run tests/unit/test_compat.py and
tests/integration/test_compat_net.py, re-check each item a test reports, then change SUPPORTED_VERSIONS
below, pyproject.toml's pin and this paragraph together (a test checks they agree).
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any, TypeAlias, cast

import pynetdicom.association
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, dimse_messages, dimse_primitives, evt
from pynetdicom import __version__ as pynetdicom_version
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.dsutils import encode
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import A_ABORT, A_P_ABORT, A_RELEASE
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass
from pynetdicom.service_class_n import PrintManagementServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

log = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ">=3.0.4,<3.1"  # keep in step with pyproject.toml and the module docstring
LOWEST, BELOW = (3, 0, 4), (3, 1)

AssociationServer: TypeAlias = ThreadedAssociationServer


def version_supported(version: str = pynetdicom_version) -> bool:
    """Whether a pynetdicom version ("3.0.4", "3.1.0.dev0") is inside SUPPORTED_VERSIONS."""
    numbers = tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
    return LOWEST <= numbers and numbers[:2] < BELOW


_N_RESPONSES = ("N-CREATE-RSP", "N-SET-RSP", "N-GET-RSP", "N-ACTION-RSP", "N-DELETE-RSP")
_N_PRIMITIVES = (
    dimse_primitives.N_CREATE,
    dimse_primitives.N_SET,
    dimse_primitives.N_GET,
    dimse_primitives.N_ACTION,
    dimse_primitives.N_DELETE,
)


def _service_class_or_print(uid: str) -> Any:
    service_class = uid_to_service_class(uid)
    return PrintManagementServiceClass if service_class is ServiceClass else service_class


class _EventDrivenDUL(DULServiceProvider):
    """pynetdicom's DUL, waiting in select() for the peer or for something to send instead of polling.

    pynetdicom's run loop sleeps 1 ms whenever it finds nothing to do. This one sleeps 0 and instead
    blocks in `_is_transport_event` until the socket is readable or `send_pdu` writes a byte to a
    wake-up socket pair, at most WAIT seconds so that the ARTIM timer, the idle timer and a kill are
    still seen in time. The loop itself is pynetdicom's.
    """

    WAIT = 0.01  # seconds
    MAX_QUEUED = 8  # PDUs waiting to be sent

    def __init__(self, assoc: Any) -> None:
        super().__init__(assoc)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selecting = False  # the DUL thread is in (or about to enter) select(): a send must wake it
        self._sent_last = False  # the last turn of the loop sent a PDU

    @property
    def _run_loop_delay(self) -> float:
        return 0.0

    @_run_loop_delay.setter
    def _run_loop_delay(self, value: float) -> None:
        pass  # pynetdicom's constant 0.001 is replaced by the select() below

    def send_pdu(self, primitive: Any) -> None:
        # Back-pressure: a handler streaming responses (C-FIND) waits while MAX_QUEUED PDUs are not yet
        # sent, so memory stays bounded and it sees a C-CANCEL within a few responses.
        while (
            self.to_provider_queue.qsize() >= self.MAX_QUEUED
            and not self._kill_thread
            and threading.current_thread() is not self
            and self.is_alive()
        ):
            time.sleep(0.0005)
        super().send_pdu(primitive)
        # Only a DUL thread that may be asleep needs the byte: it set _selecting before it looked at the
        # queue, so either it sees this PDU there or we see the flag. A busy DUL thread finds the PDU
        # on its next turn, and a stream of responses costs no system call per PDU.
        if self._selecting:
            try:
                self._wake_write.send(b"\0")
            except OSError:  # a wake-up is already pending (buffer full), or the DUL has ended
                pass

    def _process_recv_primitive(self) -> bool:
        # pynetdicom sends all it has queued before it reads again, so a C-CANCEL (or an A-ABORT)
        # behind a stream of C-FIND responses would be read after the last of them. While associated,
        # sending and reading take turns when both have work (returning False makes the loop read).
        if (
            self._sent_last
            and self.state_machine.current_state == "Sta6"
            and not self.to_provider_queue.empty()
            and self.socket is not None
            and self.socket.ready
        ):
            self._sent_last = False
            return False
        self._sent_last = bool(super()._process_recv_primitive())
        return self._sent_last

    def _is_transport_event(self) -> bool:
        sock = self.socket.socket if self.socket is not None else None
        self._selecting = True
        try:
            if (
                sock is not None
                and self.to_provider_queue.empty()
                and self.event_queue.empty()
                and not (isinstance(sock, ssl.SSLSocket) and sock.pending())  # item 11: TLS bytes buffered
            ):
                select.select([sock, self._wake_read], [], [], self.WAIT)
                while self._wake_read.recv(4096):
                    pass
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ValueError):  # the socket closed under us: pynetdicom's check says so
            pass
        finally:
            self._selecting = False
        return bool(super()._is_transport_event())

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            self._wake_read.close()
            self._wake_write.close()


class TemplateContext(PresentationContext):
    """A presentation context the server accepts, cheap to copy for each association.

    pynetdicom deep-copies the server's contexts for every association it accepts
    (RequestHandler._create_association). printscp's 130 contexts hold 4603 transfer syntax UIDs, and
    deep-copying re-creates and re-validates each: 19 ms per association. UIDs are immutable strings, so
    a copy with its own list of the same UIDs is as safe for the association to change.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> PresentationContext:
        copied = PresentationContext()
        copied.__dict__.update(self.__dict__)
        copied._transfer_syntax = list(self._transfer_syntax)
        return copied


def template_contexts(contexts: list[PresentationContext]) -> list[PresentationContext]:
    templates: list[PresentationContext] = []
    for context in contexts:
        template = TemplateContext()
        template.__dict__.update(context.__dict__)
        templates.append(template)
    return templates


_serve_request = pynetdicom.association.Association._serve_request


def _serve_request_keeping_responses(self: Any, msg: Any, context_id: int) -> None:
    if not msg.is_valid_request and not self._reactor_checkpoint.is_set():
        self.dimse.msg_queue.put((context_id, msg))  # a send_* cleared the checkpoint and waits for it
        return
    if (
        isinstance(msg, dimse_primitives.N_EVENT_REPORT)
        and self.is_requestor
        and threading.current_thread() is not self
    ):  # pynetdicom's event thread (dimse.py)
        _serve_event_report(self, msg, context_id)
        return
    _serve_request(self, msg, context_id)


def _serve_event_report(assoc: Any, msg: dimse_primitives.N_EVENT_REPORT, context_id: int) -> None:
    """What _serve_request does for an event report, minus the reactor's pause flag."""
    context = assoc._accepted_cx.get(context_id)
    if context is None:
        log.warning("N-EVENT-REPORT on a context that was not accepted (%d); aborting", context_id)
        assoc.abort()
        return
    try:
        _service_class_or_print(str(msg.AffectedSOPClassUID))(assoc).SCP(msg, context)
    except Exception:
        log.exception("serving an N-EVENT-REPORT failed; aborting")
        assoc.abort()


def _apply() -> None:
    if getattr(pynetdicom.association, "_printscp_patched", False):
        return
    setattr(pynetdicom.association, "uid_to_service_class", _service_class_or_print)  # noqa: B010
    keywords = dimse_messages._COMMAND_SET_KEYWORDS
    for name in _N_RESPONSES:
        if "OffendingElement" not in keywords[name]:
            keywords[name] = (*keywords[name], "OffendingElement")
    for primitive in _N_PRIMITIVES:
        setattr(primitive, "OffendingElement", None)  # noqa: B010
        if "OffendingElement" not in primitive.STATUS_OPTIONAL_KEYWORDS:
            primitive.STATUS_OPTIONAL_KEYWORDS = (*primitive.STATUS_OPTIONAL_KEYWORDS, "OffendingElement")
    setattr(pynetdicom.association, "DULServiceProvider", _EventDrivenDUL)  # noqa: B010
    setattr(pynetdicom.association.Association, "_serve_request", _serve_request_keeping_responses)  # noqa: B010
    pynetdicom.association._printscp_patched = True  # type: ignore[attr-defined]


# --- 6. the acceptor's reactor and what it needs from the DIMSE queue, the DUL and the primitives ---------


@dataclass(frozen=True)
class Message:
    """A DIMSE message taken off an association's queue: a request, or a response to one of ours."""

    context_id: int
    primitive: Any  # a pynetdicom.dimse_primitives primitive

    @property
    def is_request(self) -> bool:
        return bool(getattr(self.primitive, "is_valid_request", False))

    @property
    def name(self) -> str:
        return type(self.primitive).__name__

    @property
    def status(self) -> int | None:
        return cast(int | None, getattr(self.primitive, "Status", None))

    def answers_event_report(self, message_id: int) -> bool:
        """Whether this is the N-EVENT-REPORT-RSP to our request with this Message ID."""
        return (
            isinstance(self.primitive, dimse_primitives.N_EVENT_REPORT)
            and not self.is_request
            and self.primitive.MessageIDBeingRespondedTo == message_id
        )


def next_message(assoc: Association, timeout: float) -> Message | None:
    """The next message on the association's DIMSE queue, waiting up to `timeout` seconds."""
    try:
        context_id, primitive = assoc.dimse.msg_queue.get(timeout=timeout)
    except queue.Empty:
        return None
    return Message(cast(int, context_id), primitive) if primitive else None


def serve(assoc: Association, message: Message) -> None:
    """Serve a request as pynetdicom's reactor does: its service class calls our event handlers."""
    assoc._serve_request(message.primitive, message.context_id)


def peer_is_leaving(assoc: Association) -> bool:
    """Whether the next PDU from the peer is an A-ABORT or an A-RELEASE request."""
    primitive = assoc.dul.peek_next_pdu()
    return isinstance(primitive, (A_ABORT, A_P_ABORT)) or (
        isinstance(primitive, A_RELEASE) and primitive.result is None
    )


def send_event_report(
    assoc: Association,
    context: PresentationContext,
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    event_type_id: int,
    information: Dataset | None,
) -> None:
    """Send an N-EVENT-REPORT request without waiting for its response (the caller reads it)."""
    request = dimse_primitives.N_EVENT_REPORT()
    request.MessageID = message_id
    request.AffectedSOPClassUID = UID(sop_class_uid)
    request.AffectedSOPInstanceUID = UID(sop_instance_uid)
    request.EventTypeID = event_type_id
    if information is not None:
        syntax = context.transfer_syntax[0]
        data = encode(information, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
        request.EventInformation = BytesIO(cast(bytes, data))
    assoc.dimse.send_msg(request, cast(int, context.context_id))


class ReactorAssociation(Association):
    """pynetdicom's acceptor Association with a reactor that calls `between_requests` in its own thread.

    Accepted associations become instances of a subclass (see `start_server`), whose `adopted` sets up
    its state: pynetdicom has already built the object, so `__init__` does not run again.
    """

    def adopted(self) -> None:
        """Called once, when pynetdicom's new acceptor Association has become this class."""

    def between_requests(self) -> None:
        """Called by the reactor after each look at the DIMSE queue, in the association's thread."""

    def _run_reactor(self) -> None:
        # 3.0.4's Association._run_reactor, but waiting on the queue instead of sleeping before each look
        self._is_paused = False
        while not self._kill:
            # pynetdicom pauses the reactor here to send from other threads (release, abort)
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False

            message = next_message(self, timeout=0.001)
            if message is not None:
                serve(self, message)
            self.between_requests()

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                log.debug("association released")
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                log.warning("network timeout reached on the association from %s", self.requestor.ae_title)
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


# --- 7. the server -----------------------------------------------------------------------------------------


def _request_handler(association_class: type[ReactorAssociation]) -> type[RequestHandler]:
    class AdoptingRequestHandler(RequestHandler):
        """Accepts each association as an `association_class`."""

        def _create_association(self) -> Association:
            assoc = super()._create_association()
            # pynetdicom builds a plain Association with its handlers bound; we give it our reactor.
            # The subclass adds methods and no slots, so switching the class of the new object is safe.
            assoc.__class__ = association_class
            adopted = cast(ReactorAssociation, assoc)
            adopted.adopted()
            return adopted

    return AdoptingRequestHandler


def start_server(
    ae: AE,
    address: tuple[str, int],
    evt_handlers: list[tuple[Any, ...]],
    association_class: type[ReactorAssociation],
    ssl_context: ssl.SSLContext | None = None,
    handshake_timeout: float = 10.0,
) -> AssociationServer:
    """Listen on `address` without blocking, as `AE.start_server(block=False)` does, accepting each
    association as an `association_class`. With an `ssl_context` the listener speaks TLS only, each
    handshake in its association's thread within `handshake_timeout` seconds (item 11)."""
    server = ae.make_server(
        address,
        evt_handlers=evt_handlers,
        server_class=ThreadedAssociationServer if ssl_context is None else TlsAssociationServer,
        request_handler=_request_handler(association_class),
        ssl_context=ssl_context,
    )
    if isinstance(server, TlsAssociationServer):
        server.handshake_timeout = handshake_timeout
    server.contexts = template_contexts(server.contexts)  # copied for each association
    ae._servers.append(server)  # as AE.start_server does; the server's shutdown() removes it
    threading.Thread(target=server.serve_forever, name="printscp-acceptor", daemon=True).start()
    return server


# --- 11. DICOM TLS: the handshake in the association's thread --------------------------------------------


class TlsAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with each TLS handshake done in the new connection's thread.

    `AssociationServer.get_request` wraps an accepted socket with `ssl_context.wrap_socket`, which shakes
    hands at once, in the accept loop. Here it only wraps (`do_handshake_on_connect=False`);
    `process_request_thread`, which runs in the thread pynetdicom starts for the connection, shakes hands
    within `handshake_timeout` seconds and hands the socket to pynetdicom only once that succeeded.
    """

    handshake_timeout = 10.0  # seconds; start_server sets it

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        listener = cast(socket.socket, self.socket)
        client, address = listener.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: tuple[str, int] | str
    ) -> None:
        if isinstance(request, ssl.SSLSocket) and not tls_handshake(request, self.handshake_timeout):
            return
        super().process_request_thread(request, client_address)


def tls_handshake(sock: ssl.SSLSocket, timeout: float) -> bool:
    """Do the server side of a TLS handshake within `timeout` seconds; on failure log why and close."""
    try:
        address = sock.getpeername()
    except OSError:
        address = None
    peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "?"
    try:
        sock.settimeout(timeout)  # one deadline for the whole handshake, however slowly bytes come
        sock.do_handshake()
        sock.settimeout(None)  # pynetdicom's DUL uses the socket blocking, as it would a plain one
    except (OSError, ValueError) as exc:  # ssl.SSLError and TimeoutError are OSErrors
        reason = f"no handshake within {timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
        log.warning("TLS connection from %s refused: %s", peer, reason)
        sock.close()
        return False
    log.debug("TLS connection from %s: %s %s", peer, sock.version(), sock.cipher())
    return True


# --- 8 to 10: small things reached through internals --------------------------------------------------------


def set_tcp_nodelay(assoc: Association) -> None:
    """Switch Nagle off on the association's socket (pynetdicom never does).

    Without it every message with a data set waits ~40 ms for the peer's delayed ACK (measured: Printer
    N-GET 47 ms -> 6 ms).
    """
    transport = assoc.dul.socket
    sock = transport.socket if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def called_ae_title(assoc: Association) -> str | None:
    """The Called AE Title the requestor sent in its A-ASSOCIATE-RQ, if the association has one."""
    primitive = assoc.requestor.primitive
    return str(primitive.called_ae_title).strip() if primitive is not None else None


def quiet_logging() -> None:
    """Keep pynetdicom to warnings, and stop it formatting every PDU, DIMSE message and identifier.

    It formats every C-FIND identifier whether logged or not: about 7% of a C-FIND's time.
    """
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False


_apply()
