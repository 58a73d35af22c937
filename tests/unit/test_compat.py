"""What printscp/net/compat.py relies on in pynetdicom, one test per behaviour, and the rule that nothing else
in printscp touches pynetdicom's internals.

Each test names what changed in pynetdicom when it fails. A failing test here means: read the item of
compat.py's docstring it names, check the new pynetdicom code, adapt compat.py, then update the test.
The socket-level behaviours (server bookkeeping, TCP_NODELAY, Called AE Title, the reactor on a real
association) are in tests/integration/test_compat_net.py.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import json
import logging
import queue
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import tomllib
from io import BytesIO
from pathlib import Path
from typing import Any

import pynetdicom
import pynetdicom.acse
import pynetdicom.association
import pynetdicom.dimse
import pynetdicom.dsutils
import pynetdicom.dul
import pynetdicom.fsm
import pynetdicom.transport
import pynetdicom.utils
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, dimse_messages, dimse_primitives, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.acse import ACSE
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import DIMSEMessage
from pynetdicom.dsutils import decode
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import P_DATA_TF, PDU
from pynetdicom.pdu_primitives import A_ABORT, A_ASSOCIATE, A_P_ABORT, A_RELEASE
from pynetdicom.presentation import PresentationContext
from pynetdicom.service_class import ServiceClass
from pynetdicom.service_class_n import PrintManagementServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import AssociationServer, AssociationSocket, RequestHandler, ThreadedAssociationServer

import printscp
from printscp.net import compat
from printscp.net.notify import PrintAssociation

REPO = Path(__file__).resolve().parents[2]
PRINT_META = "1.2.840.10008.5.1.1.9"
PRINTER = "1.2.840.10008.5.1.1.16"
UNKNOWN_CLASS = "1.2.826.0.1.3680043.2.1143.99.1"

# sha256[:16] of the source of the pynetdicom code compat.py copies, wraps or overrides, as in 3.0.4.
# A new digest means pynetdicom changed that code: compare it with compat.py's item, adapt, update here.
DIGESTS = {
    "Association._run_reactor": "f28838c5559e462a",  # item 6 mirrors it
    "Association._serve_request": "2f24c1759cdf6c8c",  # items 1, 4, 5 wrap it; 5 copies its event part
    "DULServiceProvider.run_reactor": "e3a10eb3a0931e48",  # item 3 runs it with its own waits
    "DULServiceProvider._is_transport_event": "8725ed03bb8fbdef",  # item 3 overrides it
    "DULServiceProvider._process_recv_primitive": "4c0ebbb3e646e35e",  # item 3 overrides it
    "DULServiceProvider.send_pdu": "7cbce5da8594124e",  # item 3 overrides it
    "DIMSEServiceProvider.receive_primitive": "5f99c86b14a15cef",  # item 5: event reports in a thread
    "RequestHandler._create_association": "05c8d12b79863cdb",  # item 7 adopts what it returns
    "AssociationServer.shutdown": "e8e2c3a41009886d",  # item 7: removes the server from AE._servers
    "Association.run_reactor": "ed8bbbe3b3d6ddae",  # item 11 mirrors its acceptor part
    "DULServiceProvider._read_pdu_data": "19f2d4e38c13c835",  # item 11 replaces it on accepted connections
    "RequestHandler.handle": "034823fb4df3a874",  # item 11 mirrors it
    "AssociationSocket.close": "c726c8db53813d55",  # item 11: closing queues Evt17
    "ACSE._negotiate_as_acceptor": "fffd360957c42a8e",  # item 11 turns off its maximum_associations check
    "AssociationServer.get_request": "925a4f3a3042f6e4",  # item 13 overrides it
    "DULServiceProvider._decode_pdu": "fc71dd1bf853e1ce",  # item 14 does what it does without its copy
    "PDU.decode": "07098f2d8a4d45e4",  # item 14 hands it a memoryview: it must only slice
    "P_DATA_TF._generate_items": "55a5deea47745b72",  # item 14: slices, so PDVs are views
    "P_DATA_TF.to_primitive": "3cba1cd31f03fdf0",  # item 14: PDVs go to the DIMSE layer as they are
    "DIMSEMessage.decode_msg": "f51c777e841a76be",  # item 14: writes each fragment, sliced, into its message
    "DIMSEMessage._set_command_group_length": "c3057c97344d5db3",  # item 15 does it, keeping what it encodes
    "DIMSEMessage.encode_msg": "73000c902c52832d",  # item 15: encodes the command set with the module's encode
    "set_uid": "f917a8035170f792",  # item 16 remembers what it returns for conformant UIDs
}
SOURCES = {
    "Association._run_reactor": Association.__dict__["_run_reactor"],
    "Association._serve_request": compat._serve_request,  # the original, as compat wraps it
    "DULServiceProvider.run_reactor": DULServiceProvider.run_reactor,
    "DULServiceProvider._is_transport_event": DULServiceProvider._is_transport_event,
    "DULServiceProvider._process_recv_primitive": DULServiceProvider._process_recv_primitive,
    "DULServiceProvider.send_pdu": DULServiceProvider.send_pdu,
    "DIMSEServiceProvider.receive_primitive": DIMSEServiceProvider.receive_primitive,
    "RequestHandler._create_association": RequestHandler._create_association,
    "AssociationServer.shutdown": AssociationServer.shutdown,
    "Association.run_reactor": Association.run_reactor,
    "DULServiceProvider._read_pdu_data": DULServiceProvider._read_pdu_data,
    "RequestHandler.handle": RequestHandler.handle,
    "AssociationSocket.close": AssociationSocket.close,
    "ACSE._negotiate_as_acceptor": ACSE._negotiate_as_acceptor,
    "AssociationServer.get_request": AssociationServer.get_request,
    "DULServiceProvider._decode_pdu": DULServiceProvider._decode_pdu,
    "PDU.decode": PDU.decode,
    "P_DATA_TF._generate_items": P_DATA_TF._generate_items,
    "P_DATA_TF.to_primitive": P_DATA_TF.to_primitive,
    "DIMSEMessage.decode_msg": compat._decode_msg,  # the original, as compat replaces it
    "DIMSEMessage._set_command_group_length": compat._set_command_group_length,  # the original
    "DIMSEMessage.encode_msg": DIMSEMessage.encode_msg,
    "set_uid": pynetdicom.utils.set_uid,
}


def source_of(name: str) -> str:
    return inspect.getsource(SOURCES[name])


def acceptor() -> Association:
    """An acceptor Association that is 'established' without a socket: enough for pynetdicom to serve a
    request primitive and encode its response (its DUL is never started, PDUs wait in its queue)."""
    assoc = Association(AE(), "acceptor")
    context = build_context(PRINT_META, [ImplicitVRLittleEndian])
    context.context_id = 1
    assoc._accepted_cx = {1: context}
    assoc.is_established = True
    return assoc


def sent_messages(assoc: Association) -> list[Any]:
    messages: list[Any] = []
    assoc.bind(evt.EVT_DIMSE_SENT, lambda event: messages.append(event.message))
    return messages


# --- the version range ---------------------------------------------------------------------------------------


def test_installed_pynetdicom_is_in_the_supported_range() -> None:
    assert compat.version_supported(pynetdicom.__version__), (
        f"pynetdicom {pynetdicom.__version__} is outside {compat.SUPPORTED_VERSIONS}: run this file against it "
        "and widen the range in compat.py and pyproject.toml only once every test here passes"
    )


def test_the_range_is_the_same_in_compat_pyproject_and_the_docstring() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"pynetdicom{compat.SUPPORTED_VERSIONS}" in dependencies
    assert f"pynetdicom {compat.SUPPORTED_VERSIONS}" in (compat.__doc__ or "")


@pytest.mark.parametrize(
    ("version", "supported"),
    [("3.0.3", False), ("3.0.4", True), ("3.0.12", True), ("3.1.0", False), ("3.1.0.dev0", False), ("4.0.0", False)],
)
def test_version_supported_reads_the_range(version: str, supported: bool) -> None:
    assert compat.version_supported(version) is supported


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_the_code_compat_copies_wraps_or_overrides_is_unchanged(name: str) -> None:
    digest = hashlib.sha256(source_of(name).encode()).hexdigest()[:16]
    assert digest == DIGESTS[name], (
        f"pynetdicom {pynetdicom.__version__} changed {name} (digest {digest}); compat.py copies, wraps or "
        "overrides it: compare with 3.0.4, adapt compat.py, then update DIGESTS"
    )


# --- pynetdicom as it is without compat.py (a fresh interpreter) ------------------------------------------------

UPSTREAM = """
import json
import logging
import pynetdicom.association
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dsutils import decode
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import PDU, P_DATA_TF
from pynetdicom.service_class import ServiceClass
from pynetdicom.sop_class import uid_to_service_class
responses = ("N-CREATE-RSP", "N-SET-RSP", "N-GET-RSP", "N-ACTION-RSP", "N-DELETE-RSP")
primitives = ("N_CREATE", "N_SET", "N_GET", "N_ACTION", "N_DELETE")
print(json.dumps({
    "keywords": [n for n in responses if "OffendingElement" in dimse_messages._COMMAND_SET_KEYWORDS[n]],
    "primitives": [
        p for p in primitives
        if hasattr(getattr(dimse_primitives, p), "OffendingElement")
        or "OffendingElement" in getattr(dimse_primitives, p).STATUS_OPTIONAL_KEYWORDS
    ],
    "lookup_is_sop_class": pynetdicom.association.uid_to_service_class is uid_to_service_class,
    "unknown_is_base": uid_to_service_class("%s") is ServiceClass,
    "dul_is_upstream": pynetdicom.association.DULServiceProvider is DULServiceProvider,
}))
"""


@pytest.fixture(scope="module")
def upstream() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", UPSTREAM % UNKNOWN_CLASS], capture_output=True, text=True, timeout=120, check=True
    )
    facts: dict[str, Any] = json.loads(run.stdout)
    return facts


def test_item1_pynetdicom_finds_no_service_class_for_unknown_uids(upstream: dict[str, Any]) -> None:
    assert upstream["unknown_is_base"], (
        "pynetdicom's uid_to_service_class no longer returns ServiceClass for an unknown UID: compat item 1 "
        "tests for exactly that to route unknown DIMSE-N classes to Print Management"
    )
    assert uid_to_service_class(PRINT_META) is PrintManagementServiceClass
    assert uid_to_service_class(UNKNOWN_CLASS) is ServiceClass
    assert compat._service_class_or_print(UNKNOWN_CLASS) is PrintManagementServiceClass


def test_item1_association_looks_service_classes_up_in_its_own_module(upstream: dict[str, Any]) -> None:
    assert upstream["lookup_is_sop_class"], "pynetdicom.association no longer imports uid_to_service_class"
    assert "uid_to_service_class(class_uid)" in source_of("Association._serve_request"), (
        "Association._serve_request no longer calls the module's uid_to_service_class, which compat item 1 replaces"
    )
    assert pynetdicom.association.uid_to_service_class is compat._service_class_or_print


def test_item2_dimse_n_responses_lack_offending_element_upstream(upstream: dict[str, Any]) -> None:
    assert upstream["keywords"] == [] and upstream["primitives"] == [], (
        f"pynetdicom now supports Offending Element in {upstream}: compat item 2 may be dropped or must not "
        "add it twice"
    )


def test_items_1_and_2_an_unknown_class_gets_our_status_with_offending_element() -> None:
    """An N-GET of an unknown SOP class reaches our handler (item 1) and its Offending Element reaches the
    response's command set (item 2), through pynetdicom's own _serve_request and service class."""
    assoc = acceptor()

    def on_n_get(event: Any) -> tuple[Dataset, None]:
        status = Dataset()
        status.Status = 0x0118
        status.OffendingElement = [0x20100010]
        return status, None

    assoc.bind(evt.EVT_N_GET, on_n_get)
    sent = sent_messages(assoc)
    request = dimse_primitives.N_GET()
    request.MessageID = 7
    request.RequestedSOPClassUID = UNKNOWN_CLASS
    request.RequestedSOPInstanceUID = "1.2.3.4"
    assoc._serve_request(request, 1)
    assert not assoc.is_aborted
    assert len(sent) == 1, "pynetdicom sent no N-GET response through DIMSEServiceProvider.send_msg"
    command = sent[0].command_set
    assert command.Status == 0x0118 and command.MessageIDBeingRespondedTo == 7
    assert command.OffendingElement == 0x20100010, "Offending Element no longer reaches the command set"


def test_item3_associations_build_their_dul_from_the_association_module(upstream: dict[str, Any]) -> None:
    assert upstream["dul_is_upstream"], "pynetdicom.association no longer imports DULServiceProvider"
    assoc = Association(AE(), "requestor")
    assert isinstance(assoc.dul, compat._EventDrivenDUL), (
        "Association() no longer builds its DUL from pynetdicom.association.DULServiceProvider (compat item 3)"
    )


def test_item3_the_dul_loop_sleeps_run_loop_delay_between_turns() -> None:
    plain = DULServiceProvider(Association(AE(), "requestor"))
    assert plain._run_loop_delay == 0.001, "DULServiceProvider's idle sleep is no longer _run_loop_delay = 0.001"
    assert "time.sleep(self._run_loop_delay)" in source_of("DULServiceProvider.run_reactor")
    assert Association(AE(), "requestor").dul._run_loop_delay == 0.0


def test_item3_the_dul_state_the_event_driven_dul_reads() -> None:
    dul = Association(AE(), "requestor").dul
    assert isinstance(dul.to_provider_queue, queue.Queue) and isinstance(dul.event_queue, queue.Queue)
    assert dul.socket is None and dul._kill_thread is False
    assert dul.state_machine.current_state == "Sta1", "the DUL's state machine names its states differently"
    assert dul._is_transport_event() is False  # no socket, nothing queued: no event, and no error
    assert not dul._process_recv_primitive()
    dul.send_pdu(A_ABORT())  # a DUL that is not running takes PDUs into to_provider_queue without blocking
    assert dul.to_provider_queue.qsize() == 1


def test_items_4_and_5_send_methods_park_the_reactor_with_checkpoint_and_is_paused() -> None:
    for name in ("send_c_store", "send_c_echo", "send_n_get", "send_n_set", "send_n_create", "send_n_action"):
        source = inspect.getsource(getattr(Association, name))
        assert "self._reactor_checkpoint.clear()" in source and "while not self._is_paused" in source, (
            f"Association.{name} no longer parks the reactor with _reactor_checkpoint/_is_paused (compat items 4, 5)"
        )
    assoc = Association(AE(), "requestor")
    assert isinstance(assoc._reactor_checkpoint, threading.Event) and assoc._reactor_checkpoint.is_set()
    assert assoc._is_paused is False
    assert isinstance(assoc.dimse.msg_queue, queue.Queue)


def test_item4_serve_request_has_the_signature_we_wrap() -> None:
    assert list(inspect.signature(compat._serve_request).parameters) == ["self", "msg", "context_id"]
    assert Association._serve_request is compat._serve_request_keeping_responses
    source = source_of("Association._serve_request")
    assert "if not msg.is_valid_request" in source, "_serve_request no longer drops non-requests (item 4)"


def test_item4_a_response_taken_by_a_parked_reactor_goes_back_to_the_queue() -> None:
    assoc = Association(AE(), "requestor")
    response = dimse_primitives.N_GET()
    response.MessageIDBeingRespondedTo = 3
    response.Status = 0x0000
    assoc._reactor_checkpoint.clear()  # as send_n_get does
    assoc._serve_request(response, 1)
    assert assoc.dimse.msg_queue.get_nowait() == (1, response)


def test_item5_a_requestor_serves_event_reports_in_a_thread_through_serve_request() -> None:
    source = source_of("DIMSEServiceProvider.receive_primitive")
    assert "N_EVENT_REPORT" in source and "threading.Thread" in source and "_serve_request" in source, (
        "pynetdicom no longer serves a requestor's N-EVENT-REPORT in a thread of its own (compat item 5)"
    )
    assert "self._is_paused = False" in source_of("Association._serve_request")
    parameters = list(inspect.signature(PrintManagementServiceClass.SCP).parameters)
    assert parameters == ["self", "req", "context"]


def test_item5_an_event_report_to_a_requestor_leaves_is_paused_alone() -> None:
    assoc = Association(AE(), "requestor")
    context = build_context(PRINTER, [ImplicitVRLittleEndian])
    context.context_id = 1
    assoc._accepted_cx = {1: context}
    assoc.is_established = True
    assoc.bind(evt.EVT_N_EVENT_REPORT, lambda event: (0x0000, None))
    sent = sent_messages(assoc)
    request = dimse_primitives.N_EVENT_REPORT()
    request.MessageID = 1
    request.AffectedSOPClassUID = PRINTER
    request.AffectedSOPInstanceUID = "1.2.840.10008.5.1.1.17"
    request.EventTypeID = 2
    assoc._is_paused = True  # parked by a send_*
    worker = threading.Thread(target=assoc._serve_request, args=(request, 1))  # pynetdicom's event thread
    worker.start()
    worker.join(timeout=10)
    assert assoc._is_paused is True
    assert [m.command_set.Status for m in sent] == [0x0000]


def test_item6_the_acse_dul_and_evt_calls_the_reactor_makes() -> None:
    assoc = Association(AE(), "acceptor")
    for obj, name, parameters in [
        (assoc.acse, "is_release_requested", []),
        (assoc.acse, "send_release", ["is_response"]),
        (assoc.acse, "is_aborted", ["abort_type"]),
        (assoc.dul, "receive_pdu", ["wait", "timeout"]),
        (assoc.dul, "idle_timer_expired", []),
        (assoc.dul, "peek_next_pdu", []),
        (assoc.dimse, "send_msg", ["primitive", "context_id"]),
        (assoc, "kill", []),
    ]:
        assert list(inspect.signature(getattr(obj, name)).parameters) == parameters, (
            f"{type(obj).__name__}.{name} changed its parameters; ReactorAssociation (compat item 6) calls it"
        )
    assert assoc.network_timeout_response in ("A-ABORT", "A-RELEASE")
    assert not assoc.acse.is_release_requested() and not assoc.acse.is_aborted()
    assert not assoc.dul.idle_timer_expired()
    assert assoc._kill is False
    assert compat.next_message(assoc, timeout=0) is None


def test_item6_the_reactor_waits_for_a_request_or_a_wake() -> None:
    assoc = Association(AE(), "acceptor")
    assert compat.wait_for_work(assoc, timeout=0.01) is None  # nothing: the timeout
    request = dimse_primitives.N_GET()
    assoc.dimse.msg_queue.put((1, request))
    message = compat.wait_for_work(assoc, timeout=30)
    assert message is not None and message.primitive is request
    # a wake from another thread ends a long wait without a message
    waker = threading.Timer(0.05, compat.wake, [assoc])
    waker.start()
    assert compat.wait_for_work(assoc, timeout=30) is None
    waker.join()
    # a wake that came while the reactor was busy is not lost: the next wait returns at once
    compat.wake(assoc)
    assert compat.wait_for_work(assoc, timeout=30) is None
    assert assoc.dimse.msg_queue.empty(), "wake put something a send_* could take for a response"


def test_item6_the_peer_leaving_and_the_dul_ending_wake_the_reactor() -> None:
    assoc = Association(AE(), "acceptor")
    assert isinstance(assoc.dul, compat._EventDrivenDUL)
    assert 'self.to_user_queue: "queue.Queue[_UserQueuePrimitives]" = queue.Queue()' in inspect.getsource(
        DULServiceProvider.__init__
    ), "the DUL builds its queue to the user elsewhere: _EventDrivenDUL replaces it"
    for name in ("AR_2", "AA_3", "AA_4"):  # release request, abort, connection lost: put for the user
        assert "dul.to_user_queue.put(" in inspect.getsource(getattr(pynetdicom.fsm, name)), name
    assoc.dul.to_user_queue.put(A_RELEASE())  # as the state machine's AR-2 does
    assert compat.wait_for_work(assoc, timeout=30) is None and compat.peer_is_leaving(assoc)


def test_item6_a_wake_does_not_disturb_a_send_waiting_for_its_response() -> None:
    assoc = Association(AE(), "acceptor")
    assoc.dimse_timeout = 30
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.append(assoc.dimse.get_msg(block=True)))
    waiting.start()
    for _ in range(3):
        compat.wake(assoc)
    response = dimse_primitives.N_EVENT_REPORT()
    assoc.dimse.msg_queue.put((1, response))
    waiting.join(30)
    assert got == [(1, response)]


def test_item6_peer_is_leaving_reads_the_next_pdu_from_the_peer() -> None:
    for primitive, leaving in [(None, False), (A_ABORT(), True), (A_P_ABORT(), True), (A_RELEASE(), True)]:
        assoc = Association(AE(), "acceptor")
        if primitive is not None:
            assoc.dul.to_user_queue.put(primitive)
        assert compat.peer_is_leaving(assoc) is leaving, f"peek_next_pdu with {primitive!r} queued"
    release_response = A_RELEASE()
    release_response.result = "affirmative"
    assoc = Association(AE(), "acceptor")
    assoc.dul.to_user_queue.put(release_response)
    assert compat.peer_is_leaving(assoc) is False


def test_item6_send_event_report_encodes_what_the_requestor_receives() -> None:
    assoc = acceptor()
    context = build_context(PRINTER, [ExplicitVRLittleEndian])
    context.context_id = 3
    sent = sent_messages(assoc)
    information = Dataset()
    information.PrinterStatusInfo = "SUPPLY LOW"
    compat.send_event_report(assoc, context, 9, PRINTER, "1.2.840.10008.5.1.1.17", 2, information)
    (message,) = sent
    command = message.command_set
    assert (command.CommandField, command.MessageID, command.EventTypeID) == (0x0100, 9, 2)
    assert command.AffectedSOPClassUID == PRINTER and message.context_id == 3
    data = message.data_set
    assert isinstance(data, BytesIO)
    decoded = decode(data, is_implicit_vr=False, is_little_endian=True)  # as the context says
    assert decoded is not None
    assert decoded.PrinterStatusInfo == "SUPPLY LOW"
    assert assoc.dul.to_provider_queue.qsize() >= 1, "DIMSEServiceProvider.send_msg no longer hands P-DATA to the DUL"


def test_item6_message_tells_requests_from_the_event_report_response() -> None:
    response = dimse_primitives.N_EVENT_REPORT()
    response.MessageIDBeingRespondedTo = 5
    response.Status = 0x0110
    message = compat.Message(1, response)
    assert message.answers_event_report(5) and not message.answers_event_report(6)
    assert not message.is_request and message.status == 0x0110 and message.name == "N_EVENT_REPORT"
    request = dimse_primitives.N_GET()
    request.MessageID, request.RequestedSOPClassUID, request.RequestedSOPInstanceUID = 1, PRINTER, "1.2.3"
    assert compat.Message(1, request).is_request


def test_item6_the_names_our_association_classes_add_are_not_pynetdicoms() -> None:
    """PrintAssociation and ReactorAssociation add attributes to pynetdicom's Association; a pynetdicom
    attribute of the same name would be silently replaced."""
    upstream = set(dir(Association)) | set(vars(Association(AE(), "acceptor")))
    overridden = {"_run_reactor", "run_reactor"}  # on purpose: items 6 and 11, pinned by DIGESTS
    ours = (set(vars(compat.ReactorAssociation)) | set(vars(PrintAssociation))) - overridden
    ours |= set(PrintAssociation.__annotations__)
    ours -= {"__module__", "__doc__", "__annotations__", "__dict__", "__weakref__", "__qualname__"}
    assert not ours & upstream, f"pynetdicom's Association now has {sorted(ours & upstream)}"


def test_item7_an_association_can_change_its_class_to_ours() -> None:
    assoc = Association(AE(), "acceptor")
    assert "__slots__" not in vars(Association) and "__slots__" not in vars(PrintAssociation)
    assoc.__class__ = PrintAssociation
    assert isinstance(assoc, PrintAssociation)
    assert "assoc = Association(self.ae, MODE_ACCEPTOR)" in source_of("RequestHandler._create_association"), (
        "RequestHandler._create_association no longer builds a plain Association that compat item 7 adopts"
    )
    assert "deepcopy(self.server.contexts)" in source_of("RequestHandler._create_association")


def test_item7_template_contexts_copy_like_pynetdicoms_contexts() -> None:
    original = build_context(PRINT_META, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    (template,) = compat.template_contexts([original])
    copied = copy.deepcopy(template)
    assert isinstance(copied, PresentationContext) and type(copied) is PresentationContext
    assert copied.abstract_syntax == PRINT_META and copied.transfer_syntax == original.transfer_syntax
    assert isinstance(original._transfer_syntax, list), "PresentationContext keeps its syntaxes elsewhere"
    copied.transfer_syntax = [ExplicitVRLittleEndian]
    assert len(template.transfer_syntax) == 2  # the copy has its own list


def test_item7_ae_keeps_its_servers_in_a_list() -> None:
    ae = AE()
    assert ae._servers == [], "AE._servers is no longer a list; compat.start_server appends to it"
    assert "self.ae._servers.remove(" in source_of("AssociationServer.shutdown")


def test_item9_a_service_user_keeps_the_associate_request() -> None:
    assoc = Association(AE(), "acceptor")
    assert compat.called_ae_title(assoc) is None
    request = A_ASSOCIATE()
    request.called_ae_title = "PRINTSCP"
    assoc.requestor.primitive = request
    assert compat.called_ae_title(assoc) == "PRINTSCP"


def test_item10_the_config_switches_exist_and_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, kind in [
        ("LOG_HANDLER_LEVEL", str),
        ("LOG_REQUEST_IDENTIFIERS", bool),
        ("LOG_RESPONSE_IDENTIFIERS", bool),
    ]:
        assert isinstance(getattr(pynetdicom_config, name, None), kind), f"pynetdicom._config.{name} is gone"
        monkeypatch.setattr(pynetdicom_config, name, getattr(pynetdicom_config, name))  # restored afterwards
    logger = pynetdicom.association.LOGGER.parent
    assert logger is not None and logger.name == "pynetdicom"
    level = logger.level
    try:
        compat.quiet_logging()
        assert pynetdicom_config.LOG_HANDLER_LEVEL == "none" and not pynetdicom_config.LOG_REQUEST_IDENTIFIERS
        assert logger.level == logging.WARNING
    finally:
        logger.setLevel(level)  # setLevel, not an attribute, so that the loggers' caches are cleared
    package = Path(pynetdicom.__file__).parent
    readers = "".join(p.read_text() for p in package.glob("*.py") if p.name != "_config.py")
    for name in ("LOG_HANDLER_LEVEL", "LOG_REQUEST_IDENTIFIERS", "LOG_RESPONSE_IDENTIFIERS"):
        assert f"_config.{name}" in readers, f"pynetdicom no longer reads _config.{name}"


# --- item 11: limits and timeouts of accepted connections ------------------------------------------------------


def test_item11_pynetdicom_counts_every_acceptor_thread_against_maximum_associations() -> None:
    source = source_of("ACSE._negotiate_as_acceptor")
    assert "self.assoc.ae.active_associations if tt.is_acceptor" in source
    assert "> self.assoc.ae.maximum_associations" in source, "the check compat.start_server turns off moved"


def test_item11_the_association_thread_runs_the_run_reactor_bound_at_init() -> None:
    assert "target=make_target(self.run_reactor)" in inspect.getsource(Association.__init__)
    assoc = Association(AE(), "acceptor")
    assert assoc._target.__func__ is Association.run_reactor  # type: ignore[attr-defined]


def test_item11_pynetdicom_reads_a_pdu_with_one_blocking_recv_of_its_announced_length() -> None:
    source = source_of("DULServiceProvider._read_pdu_data")
    assert "self.socket.recv(pdu_length)" in source, "pynetdicom changed its reader: is item 11 still needed?"
    assert "self._recv_pdu.put(pdu)" in source and "self._decode_pdu(bytestream)" in source


def test_item11_artim_runs_in_sta2_and_its_expiry_closes_and_the_loop_restarts_the_idle_timer() -> None:
    from pynetdicom import fsm

    assert fsm.TRANSITION_TABLE[("Evt5", "Sta1")] == "AE-5"  # AE-5 starts ARTIM
    assert fsm.TRANSITION_TABLE[("Evt18", "Sta2")] == "AA-2"  # ARTIM expiry: close (PS3.8 9.2)
    assert "dul.artim_timer.start()" in inspect.getsource(fsm.AE_5)
    run = source_of("DULServiceProvider.run_reactor")
    assert "elif self._is_transport_event():" in run and "self._idle_timer.restart()" in run
    assert 'self.event_queue.put("Evt17")' in source_of("AssociationSocket.close")


def test_item11_the_table_drops_the_oldest_pending_connection_beyond_the_limits() -> None:
    table = compat.ConnectionTable(compat.ConnectionLimits(max_pending_connections=3, max_connections_per_ip=2))
    a, b, c, d = (compat.Connection(socket.socket(), (f"10.0.0.{i}", 1000)) for i in (1, 1, 2, 3))
    for connection in (a, b, c):
        table.opened(connection)
    assert table.counts[0] == 3 and not a.dropped
    table.opened(compat.Connection(socket.socket(), ("10.0.0.1", 1001)))  # a third from 10.0.0.1
    assert a.dropped and not b.dropped
    table.opened(d)  # a fourth pending: the oldest (b) goes
    assert b.dropped and not c.dropped and table.counts[0] == 3


def test_item11_only_admitted_associations_count_against_max_associations() -> None:
    table = compat.ConnectionTable(compat.ConnectionLimits(max_associations=1, max_buffered_bytes=100))
    first, second = (compat.Connection(socket.socket(), ("10.0.0.1", port)) for port in (1, 2))
    table.opened(first)
    table.opened(second)
    assert table.admit(first) and not table.admit(second)
    table.closed(first)
    assert table.admit(second) and table.counts == (0, 1, 0)
    assert table.reserve(60) and not table.reserve(60)
    table.unreserve(60)
    assert table.reserve(100)


def test_item11_pdu_limits_follow_ps3_8() -> None:
    limits = compat.ConnectionLimits(max_pdu=16384)
    assert limits.pdu_limit(0x04) == 16384  # P-DATA-TF: our Maximum Length Received
    assert limits.pdu_limit(0x01) == 65536  # A-ASSOCIATE-RQ and the other association PDUs
    assert compat.ConnectionLimits(max_pdu=0).pdu_limit(0x04) is None


# --- item 14: receiving without copies ----------------------------------------------------------------------


def p_data_tf(*pdvs: tuple[int, bytes]) -> bytearray:
    """A P-DATA-TF PDU (PS3.8 9.3.5) as the reader holds it: PDVs of (context id, control header + fragment)."""
    items = b"".join(struct.pack(">LB", len(value) + 1, context_id) + value for context_id, value in pdvs)
    return bytearray(struct.pack(">BBL", 0x04, 0, len(items)) + items)


def n_set_fragments(pixel_bytes: int = 3000) -> tuple[list[bytes], bytes]:
    """An N-SET-RQ cut into PDV values as an SCU sends them: (command, then data set fragments; data set)."""
    command = Dataset()
    command.CommandGroupLength = 0
    command.RequestedSOPClassUID = "1.2.840.10008.5.1.1.4"
    command.CommandField = 0x0120
    command.MessageID = 7
    command.CommandDataSetType = 0x0001
    command.RequestedSOPInstanceUID = "1.2.3.4"
    encoded_command = pynetdicom.dsutils.encode(command, True, True)
    assert encoded_command is not None
    data = Dataset()
    data.ImageBoxPosition = 1
    data.add_new(0x7FE00010, "OW", bytes(range(256)) * (pixel_bytes // 256))
    encoded_data = pynetdicom.dsutils.encode(data, True, True)
    assert encoded_data is not None
    cut = len(encoded_data) // 3
    parts = [encoded_data[:cut], encoded_data[cut : 2 * cut], encoded_data[2 * cut :]]
    return [b"\x03" + encoded_command, b"\x00" + parts[0], b"\x00" + parts[1], b"\x02" + parts[2]], encoded_data


def test_item14_pynetdicoms_p_data_tf_decoder_only_slices_so_pdvs_are_views() -> None:
    fragments, _ = n_set_fragments()
    buffer = p_data_tf(*((1, fragment) for fragment in fragments))
    expected = P_DATA_TF()
    expected.decode(bytes(buffer))
    viewed = P_DATA_TF()
    viewed.decode(memoryview(buffer))  # type: ignore[arg-type]
    values = [value for _, value in viewed.to_primitive().presentation_data_value_list]
    assert all(isinstance(value, memoryview) and value.obj is buffer for value in values), "a PDV was copied"
    assert [bytes(value) for value in values] == fragments
    assert [
        (i.presentation_context_id, bytes(i.presentation_data_value)) for i in viewed.presentation_data_value_items
    ] == [(i.presentation_context_id, i.presentation_data_value) for i in expected.presentation_data_value_items]
    assert "b = bytes(bytestream)" in source_of("DULServiceProvider._decode_pdu"), "_decode_pdu no longer copies"


def test_item14_a_malformed_pdv_fails_as_it_does_on_bytes() -> None:
    buffer = p_data_tf((1, b"\x03abc"))
    buffer[9] += 10  # the PDV claims more bytes than the PDU holds
    for given in (bytes(buffer), memoryview(buffer)):
        with pytest.raises(AssertionError):
            P_DATA_TF().decode(given)  # type: ignore[arg-type]


def assemble(decode_msg: Any, pdus: list[bytearray], view: bool) -> Any:
    """The N-SET primitive a DIMSE message decoder makes of these P-DATA-TF PDUs."""
    message = DIMSEMessage()
    done = False
    for buffer in pdus:
        pdu = P_DATA_TF()
        pdu.decode(memoryview(buffer) if view else bytes(buffer))  # type: ignore[arg-type]
        assert not done
        done = decode_msg(message, pdu.to_primitive())
    assert done and type(message).__name__ == "N_SET_RQ"
    return message.message_to_primitive()


@pytest.mark.parametrize("view", [False, True])
def test_item14_the_dimse_layer_assembles_the_same_message_from_views_or_bytes(view: bool) -> None:
    assert DIMSEMessage.decode_msg is compat._decode_msg_joining
    fragments, encoded_data = n_set_fragments()
    command = fragments[0]
    layouts = [
        [p_data_tf((1, fragment)) for fragment in fragments],  # a PDU per fragment
        [p_data_tf(*((1, fragment) for fragment in fragments))],  # all in one PDU
        # the command set in two fragments (PS3.8 E.2: 01 then 03), the data set in two PDUs of two PDVs
        [p_data_tf((1, b"\x01" + command[1:20]), (1, b"\x03" + command[20:]))]
        + [p_data_tf((1, fragments[1]), (1, fragments[2])), p_data_tf((1, fragments[3]))],
    ]
    for pdus in layouts:
        upstream = assemble(compat._decode_msg, pdus, view)
        ours = assemble(compat._decode_msg_joining, pdus, view)
        for primitive in (upstream, ours):
            assert (primitive.MessageID, primitive.RequestedSOPInstanceUID) == (7, "1.2.3.4")
            assert primitive.ModificationList.getvalue() == encoded_data
            assert primitive._context_id == 1
        assert isinstance(ours.ModificationList.getvalue(), bytes)


def test_item14_a_message_without_a_data_set_ends_with_its_command_set() -> None:
    command = Dataset()
    command.CommandGroupLength = 0
    command.CommandField = 0x0150  # N-DELETE-RQ
    command.MessageID = 3
    command.CommandDataSetType = 0x0101
    command.RequestedSOPClassUID = "1.2.840.10008.5.1.1.2"
    command.RequestedSOPInstanceUID = "1.2.3"
    encoded = pynetdicom.dsutils.encode(command, True, True)
    assert encoded is not None
    pdu = P_DATA_TF()
    pdu.decode(memoryview(p_data_tf((3, b"\x03" + encoded))))  # type: ignore[arg-type]
    message = DIMSEMessage()
    assert message.decode_msg(pdu.to_primitive())
    assert type(message).__name__ == "N_DELETE_RQ" and message.message_to_primitive().MessageID == 3


def guarded_dul() -> compat._GuardedDUL:
    assoc = Association(AE(), "acceptor")
    dul = assoc.dul
    assert isinstance(dul, compat._GuardedDUL)
    return dul


def test_item14_accepted_connections_decode_p_data_tf_without_copying() -> None:
    dul = guarded_dul()
    fragments, _ = n_set_fragments()
    buffer = p_data_tf(*((1, fragment) for fragment in fragments))
    pdu, event = dul._decode_received(buffer)
    reference, reference_event = dul._decode_pdu(bytearray(buffer))
    assert (event, type(pdu)) == (reference_event, type(reference)) == ("Evt10", P_DATA_TF)
    values = [value for _, value in pdu.to_primitive().presentation_data_value_list]
    assert all(isinstance(value, memoryview) and value.obj is buffer for value in values)
    assert [bytes(v) for v in values] == [v for _, v in reference.to_primitive().presentation_data_value_list]
    # other PDUs, and any PDU when an EVT_DATA_RECV handler wants its bytes, go through pynetdicom's decoder
    release = bytearray(struct.pack(">BBLL", 0x05, 0, 4, 0))
    assert type(dul._decode_received(release)[0]).__name__ == "A_RELEASE_RQ"
    seen: list[bytes] = []
    dul.assoc.bind(evt.EVT_DATA_RECV, lambda event: seen.append(event.data))
    pdu, _ = dul._decode_received(buffer)
    assert seen == [bytes(buffer)] and all(
        isinstance(v, bytes) for _, v in pdu.to_primitive().presentation_data_value_list
    )


def test_item14_one_turn_reads_all_of_a_pdu_that_has_arrived_and_no_more() -> None:
    dul = guarded_dul()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(30)  # as prepare_accepted_socket leaves it: a recv() would wait for a silent peer
        dul.socket = AssociationSocket(dul.assoc, client_socket=ours)
        while not dul.event_queue.empty():  # Evt5, the connection opened
            dul.event_queue.get_nowait()
        table = compat.ConnectionTable(compat.ConnectionLimits())
        dul.receiver = compat._Receiver(table, compat.Connection(ours, ("127.0.0.1", 1)))
        fragments, _ = n_set_fragments(pixel_bytes=200_000)
        pdu = bytes(p_data_tf(*((1, fragment) for fragment in fragments)))
        theirs.sendall(pdu[:100_000])
        dul._read_pdu_data()  # header and what followed it, in one turn, without waiting for the rest
        assert dul.receiver.received == 100_000 and dul.event_queue.empty()
        theirs.sendall(pdu[100_000:])
        dul._read_pdu_data()
        assert dul.event_queue.get_nowait() == "Evt10" and dul.receiver.pdu is None
        assert table.counts[2] == 0  # the receive budget is given back once the PDU is decoded


def test_item12_reactor_and_dul_threads_lead_to_their_association() -> None:
    assoc = Association(AE(), "acceptor")
    assert isinstance(assoc, threading.Thread) and isinstance(assoc.dul, threading.Thread)
    assert compat.thread_association(assoc) is assoc
    assert compat.thread_association(assoc.dul) is assoc
    assert compat.thread_association(threading.current_thread()) is None


def test_item12_release_completed_reads_is_released_and_sta13() -> None:
    assoc = Association(AE(), "acceptor")
    assert assoc.dul.state_machine.current_state == "Sta1" and not compat.release_completed(assoc)
    assoc.dul.state_machine.current_state = "Sta13"  # A-RELEASE-RP sent, awaiting the close (PS3.8 9.2)
    assert compat.release_completed(assoc)
    assoc.dul.state_machine.current_state = "Sta1"
    assoc.is_released = True
    assert compat.release_completed(assoc)


def test_item12_the_dul_reports_a_reset_after_release_on_its_logger_in_sta13() -> None:
    source = inspect.getsource(DULServiceProvider._read_pdu_data)
    assert 'LOGGER.error("Connection closed before the entire PDU was received")' in source
    assert "pynetdicom.dul" in compat.NETWORK_LOGGERS and "pynetdicom.transport" in compat.NETWORK_LOGGERS
    fsm_source = inspect.getsource(pynetdicom.fsm)
    assert '("Evt17", "Sta13"): "AR-5"' in fsm_source, "a closed connection in Sta13 is no longer AR-5"
    for module in (pynetdicom.dul, pynetdicom.transport, pynetdicom.acse, pynetdicom.fsm, pynetdicom.association):
        assert module.LOGGER.name in compat.NETWORK_LOGGERS, module.__name__


def test_item12_rejection_and_peer_aborted_read_the_primitives() -> None:
    assoc = Association(AE(), "acceptor")
    assert compat.rejection(assoc) is None and not compat.peer_aborted(assoc)
    reject = A_ASSOCIATE()
    reject.result, reject.result_source, reject.diagnostic = 0x01, 0x01, 0x03
    assoc.acceptor.primitive = reject  # what ACSE.send_reject keeps
    assert compat.rejection(assoc) == (1, 1, 3)
    assert "self.acceptor.primitive = primitive" in inspect.getsource(pynetdicom.acse.ACSE.send_reject)
    assoc.dul.to_user_queue.put(A_ABORT())
    assert compat.peer_aborted(assoc)


def test_item12_filter_network_logs_adds_and_removes_a_filter() -> None:
    log_filter = logging.Filter("nothing")
    compat.filter_network_logs(log_filter)
    try:
        assert all(log_filter in logging.getLogger(name).filters for name in compat.NETWORK_LOGGERS)
    finally:
        compat.filter_network_logs(log_filter, add=False)
    assert not any(log_filter in logging.getLogger(name).filters for name in compat.NETWORK_LOGGERS)


def test_item13_pynetdicom_shakes_hands_in_get_request_in_the_accept_thread() -> None:
    source = source_of("AssociationServer.get_request")
    assert "self.ssl_context.wrap_socket(" in source and "do_handshake_on_connect" not in source, (
        "AssociationServer.get_request no longer wraps (and shakes hands) in the accept loop: check item 13"
    )


def test_item13_each_connection_is_handled_in_a_thread_of_its_own() -> None:
    """The handshake is in RequestHandler.handle (prepare_accepted_socket), so never in the accept thread."""
    assert issubclass(ThreadedAssociationServer, socketserver.ThreadingMixIn)
    assert "target = self.process_request_thread" in inspect.getsource(socketserver.ThreadingMixIn.process_request)
    assert issubclass(compat.GuardedAssociationServer, ThreadedAssociationServer)
    assert "get_request" in compat.GuardedAssociationServer.__dict__
    parameters = inspect.signature(AE.make_server).parameters
    assert {"server_class", "ssl_context", "kwargs"} <= set(parameters)  # request_handler goes in kwargs


def test_item13_the_dul_reads_tls_bytes_buffered_out_of_selects_sight() -> None:
    assert hasattr(ssl.SSLSocket, "pending")
    ready = inspect.getsource(AssociationSocket.ready.fget)  # type: ignore[attr-defined]
    assert "self.socket.pending()" in ready, "AssociationSocket.ready no longer looks at the TLS buffer"


def _server_side(peer_sends: bytes | None) -> tuple[ssl.SSLSocket, socket.socket]:
    ours, theirs = socket.socketpair()
    if peer_sends is not None:
        theirs.sendall(peer_sends)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    return context.wrap_socket(ours, server_side=True, do_handshake_on_connect=False), theirs


def test_item13_a_failed_handshake_is_logged_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    sock, theirs = _server_side(b"\x01\x00\x00\x00\x00\xcc" + bytes(16))  # an A-ASSOCIATE-RQ in clear text
    with theirs:
        assert compat.tls_handshake(sock, timeout=5) is False
        assert sock.fileno() == -1
    assert any("TLS connection from" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)


def test_item13_a_silent_peer_is_closed_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    sock, theirs = _server_side(None)
    with theirs:
        assert compat.tls_handshake(sock, timeout=0.2) is False
        assert theirs.recv(1) == b""  # closed
    assert any("no handshake within 0.2 s" in r.getMessage() for r in caplog.records)


def sent_primitives() -> list[Any]:
    """A primitive of each kind printscp sends, as acceptor and as requestor, with every optional command field
    it uses (Error Comment, Offending Element, Attribute Identifier List) and with and without a data set."""
    data = BytesIO(b"\x10\x00\x10\x00\x04\x00\x00\x00DOE ")
    printer, session = "1.2.840.10008.5.1.1.16", "1.2.840.10008.5.1.1.1"
    instance = "1.2.826.0.1.3680043.8.498.12345678901234567890123456789012345678"  # 63 characters: odd, padded
    made: list[Any] = []

    def response(kind: type, status: int, **fields: Any) -> None:
        primitive = kind()
        primitive.MessageIDBeingRespondedTo = 7
        primitive.Status = status
        for name, value in fields.items():
            setattr(primitive, name, value)
        made.append(primitive)

    response(dimse_primitives.C_ECHO, 0x0000, AffectedSOPClassUID="1.2.840.10008.1.1")
    response(dimse_primitives.N_GET, 0x0000, AffectedSOPClassUID=printer, AffectedSOPInstanceUID=printer + ".1")
    made[-1].AttributeList = data
    response(dimse_primitives.N_CREATE, 0x0000, AffectedSOPClassUID=session, AffectedSOPInstanceUID=instance)
    response(dimse_primitives.N_CREATE, 0xB600, AffectedSOPClassUID=session, AffectedSOPInstanceUID=instance)
    made[-1].AttributeList = data
    response(dimse_primitives.N_SET, 0x0000, AffectedSOPClassUID=session, AffectedSOPInstanceUID=instance)
    response(
        dimse_primitives.N_SET,
        0x0106,
        AffectedSOPClassUID=session,
        AffectedSOPInstanceUID=instance,
        ErrorComment="Magnification Type: NEAREST is not supported",
        OffendingElement=[0x20100060, 0x20100080],
    )
    response(dimse_primitives.N_ACTION, 0xC602, AffectedSOPClassUID=session, ErrorComment="the queue is full")
    response(dimse_primitives.N_DELETE, 0x0112, AffectedSOPClassUID=session, AffectedSOPInstanceUID=instance)
    event = dimse_primitives.N_EVENT_REPORT()
    event.MessageID = 65535
    event.AffectedSOPClassUID, event.AffectedSOPInstanceUID = printer, printer + ".1"
    event.EventTypeID = 2
    event.EventInformation = data
    get = dimse_primitives.N_GET()
    get.MessageID = 1
    get.RequestedSOPClassUID, get.RequestedSOPInstanceUID = printer, printer + ".1"
    get.AttributeIdentifierList = [0x21100010, 0x21100020, 0x21100030]
    store = dimse_primitives.C_STORE()
    store.MessageID, store.Priority = 2, 0
    store.AffectedSOPClassUID, store.AffectedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", instance
    store.MoveOriginatorApplicationEntityTitle, store.MoveOriginatorMessageID = "PACS", 9
    store.DataSet = data
    return [*made, event, get, store]


def sent_bytes(primitive: Any) -> list[bytes]:
    """The PDVs pynetdicom's send_msg would send for `primitive`: as it converts and encodes the message."""
    is_response = primitive.MessageIDBeingRespondedTo is not None
    kinds = pynetdicom.dimse._RSP_TO_MESSAGE if is_response else pynetdicom.dimse._RQ_TO_MESSAGE
    message = kinds[type(primitive)]()  # type: ignore[index]
    message.primitive_to_message(primitive)
    return [bytes(pdv) for pdata in message.encode_msg(1, 16382) for _, pdv in pdata.presentation_data_value_list]


def encode_as_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DIMSEMessage, "_set_command_group_length", compat._set_command_group_length)
    monkeypatch.setattr(dimse_messages, "encode", pynetdicom.dsutils.encode)


def test_item15_each_message_is_sent_as_pynetdicom_sends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DIMSEMessage._set_command_group_length is compat._set_command_group_length_once
    ours = [sent_bytes(primitive) for primitive in sent_primitives()]
    encode_as_upstream(monkeypatch)
    theirs = [sent_bytes(primitive) for primitive in sent_primitives()]
    assert ours == theirs
    assert len(ours) == 11 and all(pdvs[0][:1] == b"\x03" for pdvs in ours)  # each a whole command set


def test_item15_the_command_set_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom writes each command set's elements once (pynetdicom's own code: twice)."""
    written: list[int] = []
    write_dataset = pynetdicom.dsutils.write_dataset

    def counting(fp: Any, dataset: Dataset) -> Any:
        written.append(len(dataset))
        return write_dataset(fp, dataset)

    monkeypatch.setattr(pynetdicom.dsutils, "write_dataset", counting)
    for primitive in sent_primitives():
        written.clear()
        sent_bytes(primitive)
        assert [length for length in written if length > 1] == written[:1], written  # once, before its length
    encode_as_upstream(monkeypatch)
    written.clear()
    sent_bytes(sent_primitives()[0])
    assert written == [5, 6]  # C-ECHO-RSP: without the group length, then whole


def test_item15_a_command_set_changed_after_its_length_is_encoded_again() -> None:
    """EVT_DIMSE_SENT's handlers run between the two encodings: after a value changed in place, an element
    added or one removed, the command set is sent as pynetdicom's encode_msg encodes it then."""
    changes = [
        (5, lambda cs: setattr(cs, "MessageIDBeingRespondedTo", 8)),  # pydicom changes the element in place
        (5, lambda cs: setattr(cs, "ErrorComment", "changed after")),
        (4, lambda cs: setattr(cs, "ErrorComment", "added after")),
        (5, lambda cs: delattr(cs, "AffectedSOPInstanceUID")),
    ]
    for index, change in changes:
        message = dimse_messages.N_SET_RSP()
        message.primitive_to_message(sent_primitives()[index])
        kept = pynetdicom.dsutils.encode(message.command_set, True, True)
        change(message.command_set)
        expected = pynetdicom.dsutils.encode(message.command_set, True, True)
        assert expected is not None and expected != kept
        sent = [bytes(pdv) for pdata in message.encode_msg(1, 0) for _, pdv in pdata.presentation_data_value_list]
        assert sent[0] == b"\x03" + expected


UID_TEXTS = [
    "1.2.840.10008.5.1.1.1",  # conformant
    "1.2.840.10008.5.1.1.1 ",  # conformant once stripped, as pydicom strips it
    "1.2.840.10008.5.1.1.01",  # a component with a leading zero: valid, not conformant (a warning)
    "1.2.840.10008.5.1.1.1" + ".1" * 30,  # longer than 64 characters: refused
    "not a UID",
    "",
]


def set_uid_outcomes(set_uid: Any, caplog: pytest.LogCaptureFixture) -> list[Any]:
    """What set_uid gives for each text (twice over, with each flag) and bytes and None: value or error, and
    what it logged."""
    outcomes = []
    for value in [*UID_TEXTS, *UID_TEXTS, b"1.2.3", None]:
        for flags in ({}, {"allow_empty": False}, {"allow_none": False}, {"validate": False}):
            caplog.clear()
            try:
                result: Any = set_uid(value, "Affected SOP Class UID", **flags)
                result = (type(result).__name__, result)
            except Exception as exc:
                result = (type(exc).__name__, str(exc))
            outcomes.append((value, flags, result, [(r.levelname, r.getMessage()) for r in caplog.records]))
    return outcomes


def test_item16_set_uid_gives_what_pynetdicoms_gives(caplog: pytest.LogCaptureFixture) -> None:
    assert dimse_primitives.set_uid is compat._set_uid_remembering
    caplog.set_level(logging.DEBUG)
    compat._conformant_uids.clear()
    ours = set_uid_outcomes(compat._set_uid_remembering, caplog)
    assert "1.2.840.10008.5.1.1.1" in compat._conformant_uids  # the second round was answered from memory
    theirs = set_uid_outcomes(pynetdicom.utils.set_uid, caplog)
    assert ours == theirs
    assert any(levels for *_, levels in ours), "some value must have been logged (non-conformant, invalid)"


def test_item16_a_conformant_uid_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    validate = pynetdicom_config.VALIDATORS["UI"]
    monkeypatch.setitem(pynetdicom_config.VALIDATORS, "UI", lambda value: checked.append(value) or validate(value))
    compat._conformant_uids.clear()
    for _ in range(3):
        primitive = dimse_primitives.N_SET()
        primitive.RequestedSOPClassUID = "1.2.840.10008.5.1.1.4"
        primitive.AffectedSOPClassUID = primitive.RequestedSOPClassUID
        primitive.AffectedSOPInstanceUID = "1.2.840.10008.5.1.1.4.01"  # not conformant: checked every time
    assert checked == ["1.2.840.10008.5.1.1.4", *["1.2.840.10008.5.1.1.4.01"] * 3]


def test_item16_what_is_remembered_is_bounded() -> None:
    compat._conformant_uids.clear()
    for n in range(compat._CONFORMANT_UIDS_KEPT + 10):
        compat._set_uid_remembering(f"1.2.3.{n}", "SOP Instance UID")
    assert 0 < len(compat._conformant_uids) <= compat._CONFORMANT_UIDS_KEPT


# --- the rest of printscp uses the public API only --------------------------------------------------------------

# Submodules (and the names from them) that are pynetdicom's documented public API.
PUBLIC_SUBMODULES = {"pynetdicom.events": {"Event"}, "pynetdicom.association": {"Association"}}
# Attributes that reach the network machinery under the public API.
INTERNAL_ATTRIBUTES = {"dul", "dimse", "acse"}


def pynetdicom_private_names() -> set[str]:
    """Every _name pynetdicom's AE, Association and its providers, servers and events define."""
    ae = AE()
    assoc = Association(ae, "acceptor")
    objects: list[Any] = [ae, assoc, assoc.dul, assoc.acse, assoc.dimse, assoc.requestor, AssociationServer]
    objects += [RequestHandler, evt.Event, PresentationContext, DULServiceProvider]
    names = set()
    for obj in objects:
        names |= set(dir(obj)) | set(getattr(obj, "__dict__", {}))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_only_compat_touches_pynetdicom_internals() -> None:
    private = pynetdicom_private_names()
    assert {"_servers", "_serve_request", "_is_paused", "_reactor_checkpoint", "_create_association"} <= private
    package = Path(printscp.__file__).parent
    exempt = package / "net" / "compat.py"
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if path == exempt:
            continue
        where = path.relative_to(package.parent)
        tree = ast.parse(path.read_text())
        imported = {  # names this module takes from pynetdicom
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pynetdicom"
            for alias in node.names
        } | {"pynetdicom"}
        subclassing = {  # classes of this module that derive from one of pynetdicom's
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(isinstance(n, ast.Name) and n.id in imported for b in node.bases for n in ast.walk(b))
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("pynetdicom."):
                        problems.append(f"{where}:{node.lineno} imports {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pynetdicom":
                names = {alias.name for alias in node.names}
                if node.module == "pynetdicom":
                    bad = {n for n in names if n not in pynetdicom.__all__}
                else:
                    bad = names - PUBLIC_SUBMODULES.get(node.module, set())
                if bad:
                    problems.append(f"{where}:{node.lineno} imports {sorted(bad)} from {node.module}")
            elif isinstance(node, ast.Attribute):
                receiver = node.value.id if isinstance(node.value, ast.Name) else None
                if node.attr in INTERNAL_ATTRIBUTES:
                    problems.append(f"{where}:{node.lineno} reaches .{node.attr}")
                elif node.attr in private and (receiver not in ("self", "cls") or subclassing):
                    problems.append(f"{where}:{node.lineno} touches .{node.attr}")
    assert not problems, "pynetdicom internals outside printscp/net/compat.py:\n" + "\n".join(problems)
