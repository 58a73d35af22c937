"""A pynetdicom print SCU for tests: sends requests and keeps every response command set from the wire."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.events import Event

from printscp import uids
from printscp.net import compat  # noqa: F401  (pynetdicom's requestor races: compat items 4 and 5)

META = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META
COLOR_META = uids.BASIC_COLOR_PRINT_MANAGEMENT_META


@dataclass
class Response:
    status: int
    dataset: Dataset | None
    command: Dataset  # the response command set as received

    @property
    def comment(self) -> str:
        return str(self.command.get("ErrorComment", ""))

    @property
    def offending(self) -> list[int]:
        if "OffendingElement" not in self.command:
            return []
        value = self.command.OffendingElement
        return [int(t) for t in (value if isinstance(value, list) else [value])]

    @property
    def affected_uid(self) -> str:
        return str(self.command.AffectedSOPInstanceUID)


def image_item(
    pixels: np.ndarray, bits_stored: int = 12, photometric: str = "MONOCHROME2", aspect: tuple[int, int] | None = None
) -> Dataset:
    """A Basic Grayscale Image Sequence item for `pixels` (rows x columns)."""
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = photometric
    item.Rows, item.Columns = pixels.shape
    if aspect:
        item.PixelAspectRatio = list(aspect)
    item.BitsAllocated = 8 if bits_stored == 8 else 16
    item.BitsStored = bits_stored
    item.HighBit = bits_stored - 1
    item.PixelRepresentation = 0
    data = pixels.astype(np.uint8 if bits_stored == 8 else "<u2").tobytes()
    item.add_new(0x7FE00010, "OW", data + b"\x00" * (len(data) & 1))
    return item


def color_image_item(pixels: np.ndarray, planar_configuration: int = 1) -> Dataset:
    """A Basic Color Image Sequence item for `pixels` (rows x columns x 3, RGB), colour-by-plane (1) or
    colour-by-pixel (0)."""
    item = Dataset()
    item.SamplesPerPixel = 3
    item.PhotometricInterpretation = "RGB"
    item.PlanarConfiguration = planar_configuration
    item.Rows, item.Columns = pixels.shape[:2]
    item.BitsAllocated = item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    data = (pixels.transpose(2, 0, 1) if planar_configuration == 1 else pixels).astype(np.uint8).tobytes()
    item.add_new(0x7FE00010, "OB", data + b"\x00" * (len(data) & 1))
    return item


def reference(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


@dataclass
class PrintSCU:
    address: tuple[str, int]
    contexts: tuple[str, ...] = (META, uids.PRESENTATION_LUT, uids.BASIC_ANNOTATION_BOX)
    calling: str = "TESTSCU"
    called: str = "PRINTSCP"
    transfer_syntaxes: tuple[str, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    handlers: list[Any] = field(default_factory=list)
    responses: list[Dataset] = field(default_factory=list)

    def __post_init__(self) -> None:
        ae = AE(self.calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        for context in self.contexts:
            ae.add_requested_context(context, list(self.transfer_syntaxes))
        self.assoc = ae.associate(
            *self.address, ae_title=self.called, evt_handlers=[(evt.EVT_DIMSE_RECV, self._received), *self.handlers]
        )
        if not self.assoc.is_established:
            raise ConnectionError(f"association to {self.address} failed")
        # like the server: without TCP_NODELAY a request and an event response sent back to back wait
        # ~40 ms for the peer's delayed ACK
        assert self.assoc.dul.socket is not None and self.assoc.dul.socket.socket is not None
        self.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send = self.assoc.dimse.send_msg
        self._send_lock = threading.Lock()
        self.assoc.dimse.send_msg = self._send_whole_message  # type: ignore[method-assign]

    def _send_whole_message(self, primitive: Any, context_id: int) -> None:
        """Send one DIMSE message's P-DATA PDUs without another thread's PDUs between them.

        pynetdicom (3.0.4) answers an event report from its own thread while this SCU's thread may be
        sending a request; DIMSEServiceProvider.send_msg queues the PDUs of each message with no lock,
        so the two messages' fragments can interleave and the server decodes a mixture (seen as an
        N-CREATE answered with the status for an N-EVENT-REPORT-RQ, 1 run in 8).
        """
        with self._send_lock:
            self._send(primitive, context_id)

    def _received(self, event: Event) -> None:
        command = event.message.command_set
        if "MessageIDBeingRespondedTo" in command:
            self.responses.append(command)

    def __enter__(self) -> PrintSCU:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.assoc.is_established:
            self.assoc.release()

    def _response(self, status: Dataset | None, dataset: Dataset | None) -> Response:
        assert status is not None and "Status" in status, "no response (association aborted or timed out?)"
        return Response(int(status.Status), dataset, self.responses[-1])

    @staticmethod
    def _meta(sop_class_uid: str, meta: str | None = None) -> str | None:
        """The Meta SOP Class context a request goes on: `meta` if given, the colour one for a colour image
        box, else the grayscale one for the classes of a Meta SOP Class."""
        if sop_class_uid == uids.BASIC_COLOR_IMAGE_BOX:
            return meta or COLOR_META
        return (meta or META) if sop_class_uid in uids.GRAYSCALE_META_MEMBERS else None

    # raw operations

    def n_create(
        self,
        sop_class_uid: str,
        dataset: Dataset | None = None,
        instance_uid: str | None = None,
        meta: str | None = None,
    ) -> Response:
        status, ds = self.assoc.send_n_create(
            dataset, sop_class_uid, instance_uid, meta_uid=self._meta(sop_class_uid, meta)
        )
        return self._response(status, ds)

    def n_set(self, sop_class_uid: str, instance_uid: str, dataset: Dataset, meta: str | None = None) -> Response:
        status, ds = self.assoc.send_n_set(
            dataset, sop_class_uid, instance_uid, meta_uid=self._meta(sop_class_uid, meta)
        )
        return self._response(status, ds)

    def n_get(
        self, sop_class_uid: str, instance_uid: str, tags: list[int] | None = None, meta: str | None = None
    ) -> Response:
        status, ds = self.assoc.send_n_get(
            [Tag(t) for t in tags or []], sop_class_uid, instance_uid, meta_uid=self._meta(sop_class_uid, meta)
        )
        return self._response(status, ds)

    def n_action(
        self, sop_class_uid: str, instance_uid: str, action_type_id: int = 1, meta: str | None = None
    ) -> Response:
        status, ds = self.assoc.send_n_action(
            None, action_type_id, sop_class_uid, instance_uid, meta_uid=self._meta(sop_class_uid, meta)
        )
        return self._response(status, ds)

    def n_delete(self, sop_class_uid: str, instance_uid: str, meta: str | None = None) -> Response:
        status = self.assoc.send_n_delete(sop_class_uid, instance_uid, meta_uid=self._meta(sop_class_uid, meta))
        return self._response(status, None)

    # the usual steps of a print

    def film_session(self, meta: str | None = None, **attributes: Any) -> str:
        # an empty Dataset makes pynetdicom hang until the DIMSE timeout: send none instead
        response = self.n_create(uids.BASIC_FILM_SESSION, _dataset(attributes) if attributes else None, meta=meta)
        assert response.status in (0, 0x0116, 0xB600), (hex(response.status), response.comment)
        return response.affected_uid

    def film_box(
        self,
        session_uid: str,
        image_display_format: str = "STANDARD\\1,1",
        meta: str | None = None,
        **attributes: Any,
    ) -> tuple[str, list[str], Response]:
        """A Film Box created under `meta` (default grayscale): its image boxes are of the class it gives."""
        dataset = _dataset(attributes)
        dataset.ImageDisplayFormat = image_display_format
        dataset.ReferencedFilmSessionSequence = [reference(uids.BASIC_FILM_SESSION, session_uid)]
        response = self.n_create(uids.BASIC_FILM_BOX, dataset, meta=meta)
        assert response.status in (0, 0x0116, 0xB605), (hex(response.status), response.comment)
        assert response.dataset is not None
        boxes = [str(item.ReferencedSOPInstanceUID) for item in response.dataset.ReferencedImageBoxSequence]
        return response.affected_uid, boxes, response

    def set_image(
        self,
        image_box_uid: str,
        position: int,
        pixels: np.ndarray,
        bits_stored: int = 12,
        photometric: str = "MONOCHROME2",
        aspect: tuple[int, int] | None = None,
        **attributes: Any,
    ) -> Response:
        dataset = _dataset(attributes)
        dataset.ImageBoxPosition = position
        dataset.BasicGrayscaleImageSequence = [image_item(pixels, bits_stored, photometric, aspect)]
        return self.n_set(uids.BASIC_GRAYSCALE_IMAGE_BOX, image_box_uid, dataset)

    def set_color_image(
        self, image_box_uid: str, position: int, pixels: np.ndarray, planar_configuration: int = 1, **attributes: Any
    ) -> Response:
        dataset = _dataset(attributes)
        dataset.ImageBoxPosition = position
        dataset.BasicColorImageSequence = [color_image_item(pixels, planar_configuration)]
        return self.n_set(uids.BASIC_COLOR_IMAGE_BOX, image_box_uid, dataset)


def _dataset(attributes: dict[str, Any]) -> Dataset:
    dataset = Dataset()
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    return dataset


def ramp(rows: int = 64, columns: int = 64, bits_stored: int = 12) -> np.ndarray:
    """A horizontal ramp over the whole value range: column 0 darkest, last column lightest."""
    top = (1 << bits_stored) - 1
    row = np.linspace(0, top, columns).round().astype(np.uint16)
    return np.tile(row, (rows, 1))
