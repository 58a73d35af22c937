"""Thin handlers of the composite services: C-STORE into the archive, C-FIND, C-GET and C-MOVE out of it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_context
from pynetdicom.events import Event

from printscp.archive.query import PATIENT_ROOT, STUDY_ROOT, QueryError, find, retrieve
from printscp.net import tls

if TYPE_CHECKING:
    from printscp.net.server import PrintServer

log = logging.getLogger(__name__)

PATIENT_ROOT_CLASSES = {"1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2", "1.2.840.10008.5.1.4.1.2.1.3"}
STUDY_ROOT_CLASSES = {"1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.5.1.4.1.2.2.3"}

# PS3.4 Annex B / C status codes
CANNOT_UNDERSTAND = 0xC000
DATA_SET_DOES_NOT_MATCH = 0xA900  # C-STORE; C-FIND/C-GET/C-MOVE: identifier does not match SOP Class
OUT_OF_RESOURCES = 0xA700
CANCEL, PENDING = 0xFE00, 0xFF00


def _peer(event: Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _model(event: Event) -> str:
    sop_class = str(event.request.AffectedSOPClassUID)
    return PATIENT_ROOT if sop_class in PATIENT_ROOT_CLASSES else STUDY_ROOT


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment.replace("\\", "/")[:64]
    return status


def handle_c_store(event: Event, server: PrintServer) -> Dataset | int:
    try:
        dataset = event.dataset
        missing = [k for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID") if not dataset.get(k)]
        if missing:
            return _status(DATA_SET_DOES_NOT_MATCH, f"{', '.join(missing)} missing")
        if not all(
            UID(str(dataset.get(k))).is_valid for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
        ):
            return _status(DATA_SET_DOES_NOT_MATCH, "a UID of the instance is not valid")
        path = server.archive.store_instance(event.encoded_dataset(), dataset, _peer(event))
    except OSError as exc:
        log.error("C-STORE from %s: cannot write: %s", _peer(event), exc)
        return _status(OUT_OF_RESOURCES, "cannot write the instance")
    except Exception as exc:  # an instance pydicom cannot read
        log.warning("C-STORE from %s refused: %s", _peer(event), exc)
        return _status(CANNOT_UNDERSTAND, f"cannot read the data set: {exc}")
    log.info(
        "C-STORE %s from %s -> %s",
        dataset.SOPClassUID.name if "SOPClassUID" in dataset else "?",
        _peer(event),
        path.relative_to(server.archive.folder),
    )
    server.after_store()
    return 0x0000


def handle_c_find(event: Event, server: PrintServer) -> Iterator[tuple[int, Dataset | None]]:
    try:
        identifier = event.identifier
        matches = find(server.archive.index, _model(event), identifier)
        count = 0
        for answer in matches:
            if event.is_cancelled:
                log.info("C-FIND from %s cancelled after %d matches", _peer(event), count)
                yield CANCEL, None
                return
            count += 1
            yield PENDING, answer
    except QueryError as exc:
        log.warning("C-FIND from %s refused: %s", _peer(event), exc)
        yield _status(DATA_SET_DOES_NOT_MATCH, str(exc)), None  # type: ignore[misc]
        return
    log.info("C-FIND %s level from %s: %d match(es)", identifier.get("QueryRetrieveLevel", "?"), _peer(event), count)


def _matches(event: Event, server: PrintServer) -> list[Any]:
    return retrieve(server.archive.index, _model(event), event.identifier)


def handle_c_get(event: Event, server: PrintServer) -> Iterator[Any]:
    try:
        matches = _matches(event, server)
    except QueryError as exc:
        yield 0
        yield _status(DATA_SET_DOES_NOT_MATCH, str(exc)), None
        return
    log.info("C-GET from %s: %d instance(s)", _peer(event), len(matches))
    yield len(matches)
    for match in matches:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, dcmread(server.archive.folder / match.path)


def handle_c_move(event: Event, server: PrintServer) -> Iterator[Any]:
    destination = server.config.nodes.get(str(event.move_destination).strip())
    if destination is None:  # PS3.4 C.4.2.1.4: 0xA801 Move Destination unknown
        log.warning("C-MOVE from %s to unknown destination %s", _peer(event), event.move_destination)
        yield None, None
        return
    try:
        matches = _matches(event, server)
    except QueryError as exc:
        yield destination.host, destination.port
        yield 0
        yield _status(DATA_SET_DOES_NOT_MATCH, str(exc)), None
        return
    contexts = [build_context(uid) for uid in sorted({m.sop_class_uid for m in matches})][:128]
    log.info("C-MOVE from %s to %s: %d instance(s)", _peer(event), event.move_destination, len(matches))
    # a TLS node gets its sub-association over TLS (PS3.15 B.1); pynetdicom passes these to AE.associate
    yield (
        destination.host,
        destination.port,
        {"contexts": contexts, "tls_args": tls.tls_args(destination, server.client_tls)},
    )
    yield len(matches)
    for match in matches:
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, dcmread(server.archive.folder / match.path)
