"""model/reading.py `read_received` and `read_sequence_from_views`: a received data set, and its sequences, read
by pydicom from a Viewer of its bytes, so that a sequence's bytes and its pixel data are views, not copies.
What the engine reads must be what pydicom reads from bytes as pynetdicom hands them over: element for
element, and every request's outcome, on the fuzz corpus (tests/unit/test_fuzz.py's requests, as sent and
mutated, in both VR encodings)."""

from __future__ import annotations

import io
import itertools
import random
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from mutations import mutate
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode
from test_engine import IMAGE_BOX, META, Harness, dataset, image_item
from test_fuzz import requests

from printscp import engine
from printscp.errors import PrintError
from printscp.model import reading, session

ROUNDS = 60
OUTCOME_ROUNDS = 30  # each request built twice, on two new engines: slower
OFF = 1 << 62  # Viewer.LARGE that no sequence reaches: pydicom reads every one from bytes
views_read: list[int] = []  # tags of the values _element found as views
IMAGE_BOX_SEQUENCE = 0x20200110


def pynetdicom_dataset(data: bytes, implicit: bool) -> Dataset:
    """What pynetdicom's Event.modification_list makes of a request's data set (events.py _get_dataset)."""
    dataset = decode(io.BytesIO(data), implicit, True)
    dataset.set_original_encoding(implicit, True)
    return dataset


def received(data: bytes, implicit: bool) -> Dataset:
    """What printscp's handlers read (net/handlers.py _attribute_list)."""
    return reading.read_received(data, implicit, True, False, lambda: pynetdicom_dataset(data, implicit))


def image_box_bytes(pixels: np.ndarray, implicit: bool = True, undefined_length: bool = False) -> bytes:
    """An Image Box N-SET's data set, encoded."""
    image_box = dataset(ImageBoxPosition=1)
    image_box.BasicGrayscaleImageSequence = [image_item(pixels)]
    image_box["BasicGrayscaleImageSequence"].is_undefined_length = undefined_length
    data = encode(image_box, implicit, True)
    assert data is not None
    return data


def _element(elem: DataElement) -> Any:
    """An element as read, comparable: a view and bytes with the same content compare equal."""
    if elem.VR == "SQ":
        return (elem.tag, "SQ", elem.is_undefined_length, [_items(item) for item in elem.value or []])
    if isinstance(elem.value, memoryview):
        views_read.append(elem.tag)
    value = bytes(elem.value) if isinstance(elem.value, memoryview) else elem.value
    return (elem.tag, elem.VR, elem.is_undefined_length, elem.file_tell, type(value).__name__, repr(value))


def _items(item: Dataset) -> list[Any]:
    return [getattr(item, "seq_item_tell", None), item.is_implicit_VR, *(_element(item[tag]) for tag in item.keys())]


def _read_all(data: bytes, implicit: bool, views: bool) -> list[Any]:
    """Every top-level element of a data set as model/reading.py reads it, or the error it raises: read by
    printscp's handlers (`views`) or as pynetdicom hands it over."""
    dataset = received(data, implicit) if views else pynetdicom_dataset(data, implicit)
    if views and IMAGE_BOX_SEQUENCE in dataset:  # get_item: get() would convert the element
        if isinstance(dataset.get_item(IMAGE_BOX_SEQUENCE).value, memoryview):
            views_read.append(IMAGE_BOX_SEQUENCE)
    read: list[Any] = []
    for tag in dataset.keys():
        try:
            read.append(_element(reading.read_element(dataset, tag)))
        except PrintError as error:
            read.append((tag, error.status, str(error)))
    return read


def _corpus(implicit: bool) -> Iterator[bytes]:
    rng = random.Random(20261204)
    for _, _, ds in requests(Harness()):
        data = encode(ds, implicit, True)
        assert data is not None
        yield data
        for _ in range(ROUNDS):
            yield mutate(data, rng)


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit VR", "explicit VR"])
def test_sequences_read_from_views_are_the_elements_pydicom_reads_from_bytes(
    implicit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    views_read.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every invalid value it reads
        for data in _corpus(implicit):
            try:
                decode(io.BytesIO(data), implicit, True)
            except Exception:  # the handler answers 0106 before any element is read
                continue
            monkeypatch.setattr(reading.Viewer, "LARGE", 64)  # the fuzz images are small: make them views
            from_views = _read_all(data, implicit, views=True)
            monkeypatch.setattr(reading.Viewer, "LARGE", OFF)
            viewed = len(views_read)
            assert from_views == _read_all(data, implicit, views=False)
            assert len(views_read) == viewed  # read from bytes, nothing is a view
    assert views_read.count(0x7FE00010) > ROUNDS // 2  # the corpus's pixel data were read as views
    assert views_read.count(IMAGE_BOX_SEQUENCE) > ROUNDS // 2  # and the sequences holding them, at the top


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit VR", "explicit VR"])
def test_every_fuzzed_request_gets_the_outcome_it_gets_without_views(
    implicit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request, as sent and mutated, to a new engine reading sequences from views (a low Viewer.LARGE) and
    to another reading them from bytes: the same status, Error Comment and Offending Element. The engines make
    the same UIDs (a counter from 0 for each), so that a request names the same instances in both."""
    counter = itertools.count()

    def next_uid(*args: Any, **kwargs: Any) -> str:
        return f"1.2.3.{next(counter)}"

    monkeypatch.setattr(engine, "generate_uid", next_uid)
    monkeypatch.setattr(session, "generate_uid", next_uid)

    def request(kind: int) -> tuple[str, Any, Dataset]:
        nonlocal counter
        counter = itertools.count()
        return list(itertools.islice(requests(Harness()), kind + 1))[kind]

    rng = random.Random(20261205)
    kinds = len(list(requests(Harness())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in range(kinds):
            name, _, ds = request(kind)
            data = encode(ds, implicit, True)
            assert data is not None
            for sent in [data] + [mutate(data, rng) for _ in range(OUTCOME_ROUNDS)]:
                try:
                    decode(io.BytesIO(sent), implicit, True)
                except Exception:
                    continue
                outcomes = []
                for large in (64, OFF):
                    _, call, _ = request(kind)
                    monkeypatch.setattr(reading.Viewer, "LARGE", large)
                    dataset = received(sent, implicit) if large == 64 else pynetdicom_dataset(sent, implicit)
                    outcomes.append(_outcome(call, dataset))
                assert outcomes[0] == outcomes[1], name


def _outcome(call: Any, received: Dataset) -> Any:
    try:
        result = call(received)
    except PrintError as error:
        return (error.status, str(error), getattr(error, "offending", None))
    return (result.status, result.error_comment)


def test_a_512_image_box_is_read_from_views_into_the_same_image() -> None:
    pixels = (np.arange(512 * 512, dtype=np.uint16).reshape(512, 512) * 13) % 4096
    image_box = dataset(ImageBoxPosition=1)
    image_box.BasicGrayscaleImageSequence = [image_item(pixels)]
    data = encode(image_box, False, True)
    assert data is not None
    received = decode(io.BytesIO(data), False, True)
    (item,) = reading.read_element(received, 0x20200110).value
    assert isinstance(item.PixelData, memoryview)  # not a copy of the bytes received
    h = Harness()
    box, images = h.film_box(h.session())[:2]
    assert h.engine.n_set(META, IMAGE_BOX, images[0], decode(io.BytesIO(data), False, True)).status == 0
    image = h.engine.hierarchy.last_film_box().image_boxes[0].image  # type: ignore[union-attr]
    assert image is not None and np.array_equal(image.pixels, pixels)


def test_an_image_box_sequence_received_is_a_view_of_the_bytes_received() -> None:
    """The Image Box's sequence is not copied out of the data set's bytes (8 MiB per 2048x2048 N-SET): its raw
    value, and then its image's pixel data, are views of those very bytes."""
    data = image_box_bytes((np.arange(512 * 512, dtype=np.uint16).reshape(512, 512) * 7) % 4096)
    got = received(data, True)
    raw = got.get_item(IMAGE_BOX_SEQUENCE)
    assert isinstance(raw.value, memoryview) and raw.value.obj is data
    (item,) = reading.read_element(got, IMAGE_BOX_SEQUENCE).value
    assert isinstance(item.PixelData, memoryview) and item.PixelData.obj is data
    assert got.original_encoding == (True, True)


@pytest.mark.parametrize("cut", [2, 1000, 4096], ids=["2 bytes", "1000 bytes", "4096 bytes"])
def test_a_data_set_cut_short_reads_as_pynetdicom_reads_it(cut: int) -> None:
    """Cut inside the image: pydicom reads what is there either way, and the engine answers the same."""
    data = image_box_bytes(np.zeros((512, 512), dtype=np.uint16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _read_all(data[:-cut], True, views=True) == _read_all(data[:-cut], True, views=False)
        outcomes = []
        for views in (True, False):
            h = Harness()
            _, images = h.film_box(h.session())[:2]
            got = received(data[:-cut], True) if views else pynetdicom_dataset(data[:-cut], True)
            outcomes.append(
                _outcome(lambda ds, h=h, images=images: h.engine.n_set(META, IMAGE_BOX, images[0], ds), got)
            )
    assert outcomes[0] == outcomes[1] and outcomes[0][0] != 0  # refused, the same way


def test_a_sequence_of_undefined_length_is_left_to_pynetdicom() -> None:
    data = image_box_bytes(np.zeros((512, 512), dtype=np.uint16), undefined_length=True)
    marker = Dataset()
    assert reading.read_received(data, True, True, False, lambda: marker) is marker


def test_the_debug_log_shows_an_image_box_received_as_views_and_leaves_it_unread() -> None:
    from printscp.net.handlers import _readable

    got = received(image_box_bytes(np.zeros((512, 512), dtype=np.uint16)), True)
    text = _readable(got)
    assert "Pixel Data" in text and "<524288 bytes>" in text and "cannot be read" not in text
    assert isinstance(got.get_item(IMAGE_BOX_SEQUENCE).value, memoryview)  # the request itself untouched
