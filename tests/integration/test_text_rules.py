"""Text held to its character repertoire and VR length over real associations (found from outside, item 5),
whatever the server logs: a request logged at DEBUG must be checked on the bytes the SCU sent."""

from __future__ import annotations

import io
import logging
import struct

import pytest
from conftest import RunningServer
from printscu import PrintSCU, reference
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.dsutils import decode

from printscp import uids

SESSION, FILM_BOX, ANNOTATION = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX, uids.BASIC_ANNOTATION_BOX
LABEL, TEXT_STRING, CONFIGURATION_INFORMATION = 0x20000050, 0x20300020, 0x20100150
INVALID_ATTRIBUTE_VALUE = 0x0106


def _bytes_as_sent(ds: Dataset, tag: int, value: bytes) -> Dataset:
    """`ds` with element `tag` holding exactly `value` on the wire: in Implicit VR the VR is not sent, so an
    OB element carries the bytes unchanged and the server reads them with the dictionary's VR (LO)."""
    ds.add_new(tag, "OB", value)
    return ds


@pytest.fixture(params=[logging.INFO, logging.DEBUG], ids=["INFO", "DEBUG"])
def log_level(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> int:
    """The server's log level: at DEBUG it writes every request's data set to the log first."""
    caplog.set_level(request.param, logger="printscp")
    return int(request.param)


def test_invalid_text_is_refused_over_the_wire(running: RunningServer, log_level: int) -> None:
    with PrintSCU(running.address, transfer_syntaxes=(ImplicitVRLittleEndian,)) as scu:
        utf8 = Dataset()
        utf8.SpecificCharacterSet = "ISO_IR 192"
        response = scu.n_create(SESSION, _bytes_as_sent(utf8, LABEL, b"Caf\xe9 \xff "))
        assert (response.status, response.offending) == (INVALID_ATTRIBUTE_VALUE, [LABEL]), response.comment

        session = scu.film_session()
        box = Dataset()
        box.ImageDisplayFormat = "STANDARD\\1,1"
        box.AnnotationDisplayFormatID = "LABEL"
        box.ReferencedFilmSessionSequence = [reference(SESSION, session)]
        box.ConfigurationInformation = "CS" + "9" * 4998  # ST allows 1,024 characters
        response = scu.n_create(FILM_BOX, box)
        assert (response.status, response.offending) == (INVALID_ATTRIBUTE_VALUE, [CONFIGURATION_INFORMATION])

        del box.ConfigurationInformation
        _, _, created = scu.film_box(session, AnnotationDisplayFormatID="LABEL")
        assert created.dataset is not None
        annotation = str(created.dataset.ReferencedBasicAnnotationBoxSequence[0].ReferencedSOPInstanceUID)
        text = Dataset()
        text.AnnotationPosition = 1
        response = scu.n_set(ANNOTATION, annotation, _bytes_as_sent(text, TEXT_STRING, b"caf\xe9"))
        assert (response.status, response.offending) == (INVALID_ATTRIBUTE_VALUE, [TEXT_STRING]), response.comment

        text = Dataset()
        text.AnnotationPosition = 1
        text.TextString = "cafe"
        assert scu.n_set(ANNOTATION, annotation, text).status == 0


def test_unreadable_bytes_are_0106_at_debug_too(running: RunningServer, log_level: int) -> None:
    """The DEBUG log of a request whose bytes pydicom cannot read must not turn its 0106 into 0110."""
    with PrintSCU(running.address, transfer_syntaxes=(ImplicitVRLittleEndian,)) as scu:
        session = scu.film_session()
        _, images, _ = scu.film_box(session)
        # Image Box Position (US) of 3 bytes, then an empty Basic Grayscale Image Sequence: sent as they are
        data = struct.pack("<HHI", 0x2020, 0x0010, 3) + b"\x01\x00\x00" + struct.pack("<HHI", 0x2020, 0x0110, 0)
        ds = decode(io.BytesIO(data), True, True)
        response = scu.n_set(uids.BASIC_GRAYSCALE_IMAGE_BOX, images[0], ds)
        assert response.status == INVALID_ATTRIBUTE_VALUE, (hex(response.status), response.comment)
