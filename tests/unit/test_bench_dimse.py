"""bench/dimse.py and bench/transcript.py: DIMSE messages and data sets as transcript records."""

from __future__ import annotations

import hashlib
import random
import warnings
import zlib
from collections.abc import Iterator
from io import BytesIO

import numpy as np
import pytest
from mutations import mutate
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dimse_messages import N_CREATE_RSP, N_GET_RQ, N_SET_RQ
from pynetdicom.pdu_primitives import A_ABORT, A_P_ABORT, A_RELEASE
from test_engine import Harness, image_item
from test_fuzz import requests

from printscp import uids
from printscp.bench import dimse, transcript
from printscp.bench.dimse import _COMMAND_TAGS, _command_values, message_record
from printscp.bench.transcript import Direction, Element, find, line, parse, summarise, walk
from printscp.model import reading
from printscp.net import compat


def encoded(dataset: Dataset, implicit: bool = False) -> bytes:
    stream = DicomBytesIO()
    stream.is_little_endian, stream.is_implicit_VR = True, implicit
    write_dataset(stream, dataset)
    return stream.getvalue()


def test_an_n_get_with_several_attribute_identifiers_names_each() -> None:
    message = N_GET_RQ()
    message.command_set.MessageID = 7
    message.command_set.RequestedSOPClassUID = uids.PRINTER
    message.command_set.RequestedSOPInstanceUID = uids.PRINTER_INSTANCE
    message.command_set.AttributeIdentifierList = [0x21100010, 0x21100020]
    record = message_record(message, Direction.RECEIVED, 1, ExplicitVRLittleEndian)
    assert record.attribute_identifiers == ("(2110,0010)", "(2110,0020)")
    assert record.offending_elements == ()
    assert (record.command, record.message_id, record.sop_class) == ("N-GET-RQ", 7, "Printer")
    message.command_set.AttributeIdentifierList = 0x21100010  # one value: not a list
    assert message_record(message, Direction.RECEIVED, 1, None).attribute_identifiers == ("(2110,0010)",)


def test_a_response_keeps_status_comment_and_offending_elements() -> None:
    message = N_CREATE_RSP()
    message.command_set.MessageIDBeingRespondedTo = 3
    message.command_set.AffectedSOPClassUID = uids.BASIC_FILM_BOX
    message.command_set.Status = 0x0120
    message.command_set.ErrorComment = "(2010,0010) ImageDisplayFormat: missing"
    message.command_set.OffendingElement = [0x20100010]
    record = message_record(message, Direction.SENT, 4, ExplicitVRLittleEndian, elapsed_ms=1.5)
    assert (record.status, record.responding_to, record.elapsed_ms) == (0x0120, 3, 1.5)
    assert record.offending_elements == ("(2010,0010)",)
    assert record.error_comment.startswith("(2010,0010)")
    assert not record.is_request and record.operation == "N-CREATE"


def test_data_sets_in_every_print_transfer_syntax_summarise_alike() -> None:
    dataset = Dataset()
    dataset.ImageBoxPosition = 3
    item = Dataset()
    item.Rows, item.Columns, item.BitsAllocated = 2, 2, 16
    item.add_new(0x7FE00010, "OW", b"\x01\x00\x02\x00\x03\x00\x04\x00")
    dataset.BasicGrayscaleImageSequence = [item]
    explicit = encoded(dataset)
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = compressor.compress(explicit) + compressor.flush()
    summaries = []
    for syntax, data in (
        (ExplicitVRLittleEndian, explicit),
        (ImplicitVRLittleEndian, encoded(dataset, implicit=True)),
        (DeflatedExplicitVRLittleEndian, deflated),
    ):
        message = N_SET_RQ()
        message.data_set = BytesIO(data)
        record = message_record(message, Direction.RECEIVED, 1, syntax)
        assert record.data_set is not None
        summaries.append(record.data_set)
    position = find(summaries[0], "ImageBoxPosition")
    assert position is not None and position.value == 3
    pixels = [e for e in walk(summaries[0]) if e.keyword == "PixelData"]
    assert pixels[0].length == 8 and pixels[0].sha256 == hashlib.sha256(item.PixelData).hexdigest()
    assert pixels[0].value is None  # the pixels themselves are not kept
    # implicit VR data sets have no VR on the wire: the dictionary's is shown
    assert [e.keyword for e in walk(summaries[1])] == [e.keyword for e in walk(summaries[0])]
    assert summaries[2] == summaries[0]


def test_a_data_set_that_cannot_be_decoded_is_one_element_with_the_error() -> None:
    message = N_SET_RQ()
    message.data_set = BytesIO(b"\x20\x20\x10\x00US\x08\x00\x01")  # announces 8 bytes, holds 1
    record = message_record(message, Direction.RECEIVED, 1, ExplicitVRLittleEndian)
    assert record.data_set is not None
    errors = [e for e in walk(record.data_set) if e.error]
    assert errors and errors[0].raw is not None


def test_hostile_text_is_kept_as_sent_and_round_trips_through_a_line() -> None:
    dataset = Dataset()
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.FilmSessionLabel = "Müller </script><script>alert(1)</script>"
    elements = summarise(Dataset.from_json(dataset.to_json()))
    message = N_SET_RQ()
    message.data_set = BytesIO(encoded(dataset))
    record = message_record(message, Direction.RECEIVED, 1, ExplicitVRLittleEndian)
    assert record.data_set is not None and find(record.data_set, "FilmSessionLabel") == find(
        elements, "FilmSessionLabel"
    )
    association_line = '{"record":"association","id":"x","peer":"p","calling_ae_title":"A","called_ae_title":"B",'
    association_line += '"printer":"B","started":"2026-12-04T12:00:00.000+00:00"}'
    back = parse([association_line, line(record)])
    label = find(back.messages[0].data_set or (), "FilmSessionLabel")
    assert isinstance(label, Element) and label.value == "Müller </script><script>alert(1)</script>"


def test_abort_primitives_in_words() -> None:
    abort = A_ABORT()
    abort.abort_source = 0
    assert compat.abort_in_words(abort) == "A-ABORT (source 0)"
    provider = A_P_ABORT()
    provider.provider_reason = 2
    assert compat.abort_in_words(provider) == "A-P-ABORT (provider reason 2)"
    assert compat.abort_in_words(A_RELEASE()) is None


def _corpus() -> Iterator[tuple[UID, bytes]]:
    """The fuzz tests' requests (tests/unit/test_fuzz.py) and a 512 x 512 Image Box N-SET, as sent and
    mutated, in the three print transfer syntaxes."""
    datasets = [ds for _, _, ds in requests(Harness())]
    image_box = Dataset()
    image_box.ImageBoxPosition = 3
    image_box.BasicGrayscaleImageSequence = [image_item(np.arange(512 * 512, dtype=np.uint16).reshape(512, 512) % 4096)]
    datasets.append(image_box)
    rng = random.Random(20261204)
    for ds in datasets:
        for syntax, implicit in ((ImplicitVRLittleEndian, True), (ExplicitVRLittleEndian, False)):
            data = encoded(ds, implicit)
            yield syntax, data
            for _ in range(60):
                yield syntax, mutate(data, rng)
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        yield DeflatedExplicitVRLittleEndian, compressor.compress(encoded(ds)) + compressor.flush()


def _lines(corpus: list[tuple[UID, bytes]]) -> list[str]:
    lines = []
    for index, (syntax, data) in enumerate(corpus):
        message = N_SET_RQ()
        message.command_set.MessageID = index
        message.data_set = BytesIO(data)
        lines.append(line(message_record(message, Direction.RECEIVED, index, syntax, time="t")))
    return lines


def test_kept_number_summaries_leave_every_line_as_pydicom_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The summaries bench/transcript.py keeps for numbers: the lines of the fuzz corpus are byte for byte
    those made without them (pydicom converting every value), the first time and once kept."""
    corpus = list(_corpus())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every invalid value it reads
        transcript._numbers.clear()
        first, kept = _lines(corpus), _lines(corpus)
        assert transcript._numbers  # the corpus's numbers were kept ...
        monkeypatch.setattr(transcript, "_NUMBER_SIZES", {})
        transcript._numbers.clear()
        converted = _lines(corpus)
        assert not transcript._numbers  # ... and these were all made by pydicom
    assert first == converted and kept == converted


def test_data_sets_read_from_views_give_the_lines_pydicom_gives_reading_a_bytesio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bench/dimse.py reads a data set for its summary through reading.Viewer, whose large reads are views of
    the bytes received (no copy of the pixel data). The fuzz corpus (each data set as sent and mutated, in the
    three print transfer syntaxes) and 512x512 and 2048x2048 Image Box N-SETs give the same lines, byte for
    byte, as pydicom reading each data set from a BytesIO."""
    corpus = list(_corpus())
    for size in (512, 2048):
        image_box = Dataset()
        image_box.ImageBoxPosition = 1
        pixels = (np.arange(size * size, dtype=np.uint16).reshape(size, size) * 7) % 4096
        image_box.BasicGrayscaleImageSequence = [image_item(pixels)]
        corpus += [(ExplicitVRLittleEndian, encoded(image_box)), (ImplicitVRLittleEndian, encoded(image_box, True))]
    views: list[int] = []
    read = reading.Viewer.read

    def counting(self: reading.Viewer, size: int | None = -1) -> object:
        data = read(self, size)
        if isinstance(data, memoryview):
            views.append(len(data))
        return data

    monkeypatch.setattr(reading.Viewer, "read", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every invalid value it reads
        viewed = _lines(corpus)
        assert 2 * 2048 * 2048 in views and 2 * 512 * 512 in views  # the pixel data were read as views
        monkeypatch.setattr(dimse, "Viewer", BytesIO)
        views.clear()
        copied = _lines(corpus)
        assert not views
    assert viewed == copied


def test_a_viewer_reads_like_a_bytesio() -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    viewer, stream = reading.Viewer(data), BytesIO(data)
    for size in (8, reading.Viewer.LARGE, 3, -1, 5):
        got, expected = viewer.read(size), stream.read(size)
        assert bytes(got) == expected and type(got) is (memoryview if len(expected) >= viewer.LARGE else bytes)
        assert viewer.tell() == stream.tell()
    for offset, whence in ((10, 0), (-4, 1), (-100, 2), (5, 1)):
        assert viewer.seek(offset, whence) == stream.seek(offset, whence)
        assert viewer.read(6) == stream.read(6)


def test_command_values_are_those_a_lookup_of_each_tag_finds() -> None:
    response = N_CREATE_RSP()
    command = response.command_set
    command.MessageIDBeingRespondedTo, command.Status, command.ErrorComment = 3, 0x0120, ""
    command.AffectedSOPClassUID, command.OffendingElement = uids.BASIC_FILM_BOX, [0x20100010, 0x20100030]
    values = _command_values(command)
    for tag in _COMMAND_TAGS.values():
        element = command.get(tag)
        expected = None if element is None or element.value in (None, "") else element.value
        assert values.get(tag) == expected, hex(tag)
    assert values[0x00000900] == 0x0120 and 0x00000902 not in values  # an empty Error Comment is no value
