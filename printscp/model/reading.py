"""Reading a request's elements: the one place where pydicom turns the bytes an SCU sent into values.

A failure there is the SCU's malformed value (0106 naming the element), so the value rules of
model/values.py run on values already read and an exception inside one is a bug of ours (0110).
"""

from __future__ import annotations

import copy
import io
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from pydicom import config
from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset, read_sequence
from pydicom.sequence import Sequence

from printscp.errors import InvalidAttributeValue, PrintError
from printscp.model.values import describe

SPECIFIC_CHARACTER_SET = 0x00080005


def read_element(dataset: Dataset, tag: int, text_rules: bool = True) -> DataElement:
    """The element `tag` of a request with its value, and the values of its sequence items, read.

    pydicom reads values lazily and raises many kinds of exception on bytes it cannot read; this is
    the only place that lets it, so every such failure is the SCU's malformed value (0106). Text is
    also held to the request's character repertoire and its VR's length here (`text_rules`; off only
    for a value a leniency repairs instead, model/personality.py), because pydicom only warns about
    bytes its character set cannot decode (and replaces them).
    """
    try:
        return _read(dataset, tag, _character_sets(dataset), text_rules)
    except PrintError:
        raise
    except Exception as exc:  # any failure of pydicom to read the bytes the SCU sent
        raise InvalidAttributeValue(f"{describe(tag)} cannot be read: {exc}", [tag]) from exc


# PS3.5 6.2: text VRs, and the longest value each may hold where that is counted in characters
TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})
MAX_CHARACTERS = {"SH": 16, "LO": 64, "ST": 1024, "LT": 10240}
_DEFAULT_REPERTOIRE = ("", "ISO_IR 6", "ISO 2022 IR 6")  # PS3.5 6.1.2.1: 7-bit ASCII


def _character_sets(dataset: Dataset) -> tuple[str, ...]:
    elem = dataset.get(SPECIFIC_CHARACTER_SET)
    if elem is None or not elem.value:
        return ()
    return tuple(str(term).strip() for term in ([elem.value] if isinstance(elem.value, str) else elem.value))


def _read(dataset: Dataset, tag: int, character_sets: tuple[str, ...], text_rules: bool = True) -> DataElement:
    received = dataset.get_item(tag)  # as received, before pydicom decodes it (unless something read it already)
    read_sequence_from_views(dataset, tag)
    elem = dataset[tag]
    if elem.VR == "SQ":
        for item in elem.value or []:
            nested = _character_sets(item) or character_sets
            for item_tag in item.keys():
                _read(item, item_tag, nested)
    elif text_rules and elem.VR in TEXT_VRS:
        encoded = received.value if isinstance(received, RawDataElement) else None
        _check_text(elem, encoded if isinstance(encoded, bytes) else None, character_sets)
    return elem


def _check_text(elem: DataElement, encoded: bytes | None, character_sets: tuple[str, ...]) -> None:
    """The checks on the bytes sent when they are at hand, else on the text pydicom made of them: an
    element read before (a log of the request at DEBUG) is held to the same rules."""
    values = elem.value if isinstance(elem.value, (list, tuple)) else [elem.value]
    texts = [str(v) for v in values if v is not None]
    if all(term in _DEFAULT_REPERTOIRE for term in character_sets) and (
        any(b >= 0x80 for b in encoded) if encoded is not None else any(c > "\x7f" for t in texts for c in t)
    ):
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} has bytes outside the default character repertoire and no Specific Character "
            "Set (0008,0005) names another (PS3.5 6.1.2.1)",
            [elem.tag],
        )
    # pydicom puts U+FFFD for bytes it cannot decode; one the SCU sent itself, encoded, is text
    if any("\ufffd" in text for text in texts) and (encoded is None or "\ufffd".encode() not in encoded):
        raise InvalidAttributeValue(f"{describe(elem.tag)} is not valid text in {'/'.join(character_sets)}", [elem.tag])
    limit = MAX_CHARACTERS.get(elem.VR)
    if limit is not None and any(len(text) > limit for text in texts):
        raise InvalidAttributeValue(
            f"{describe(elem.tag)} is longer than the {limit} characters {elem.VR} allows (PS3.5 6.2)", [elem.tag]
        )


# --- a received sequence's pixel data, without copies ---------------------------------------------------------

VIEWED_VRS = frozenset({"OB", "OW", "OB or OW"})  # Pixel Data's: the values left as views of the bytes received


def read_received(
    data: bytes, is_implicit_VR: bool, is_little_endian: bool, is_deflated: bool, pynetdicom: Callable[[], Dataset]
) -> Dataset:
    """A request's data set as pynetdicom's Event gives it (`pynetdicom()`: dsutils.decode of a BytesIO of
    `data`, then set_original_encoding), but with pydicom reading the top level from a Viewer: a sequence of
    Viewer.LARGE bytes or more (an Image Box's, holding its image) keeps a view of the bytes received as its
    raw value, not a copy, for read_sequence_from_views. Any other value read as a view is made bytes at once.
    A data set whose reading fails, or that holds a sequence of undefined length (pydicom reads those at once,
    items and all), is left to `pynetdicom()`, which reads it, or fails, as it always did.
    tests/unit/test_reading_views.py: the same elements and outcomes as pydicom reading bytes."""
    try:
        if is_deflated:  # PS3.5 A.5: raw deflate; the data set within is explicit VR little endian
            data = zlib.decompress(data, -zlib.MAX_WBITS)
            is_implicit_VR, is_little_endian = False, True
        dataset = read_dataset(cast(BinaryIO, Viewer(data)), is_implicit_VR, is_little_endian)
        for tag in list(dataset.keys()):
            raw = dataset.get_item(tag)
            if not isinstance(raw, RawDataElement):  # a sequence of undefined length, read with its items
                break
            if isinstance(raw.value, memoryview) and (raw.VR or _dictionary_vr(tag)) != "SQ":
                dataset._dict[tag] = raw._replace(value=bytes(raw.value))
        else:
            dataset.set_original_encoding(is_implicit_VR, is_little_endian)
            return dataset
    except Exception:
        pass
    return pynetdicom()


def read_sequence_from_views(dataset: Dataset, tag: int) -> None:
    """Convert the raw sequence `tag` of a received data set as pydicom's Dataset.__getitem__ does, but with
    pydicom reading its items from a Viewer of its bytes: their OB and OW values (Pixel Data) stay views of
    those bytes instead of copies (8 MiB per 2048x2048 Image Box N-SET); every other value is bytes, as pydicom
    reads it. A sequence under Viewer.LARGE bytes, an element pydicom would not read as SQ, a data element
    callback, or any failure leaves the element to pydicom, which then reads it, or fails, as it always did.
    tests/unit/test_reading_views.py: the elements read are those pydicom reads, on the fuzz corpus."""
    raw = dataset.get_item(tag)
    if (
        not isinstance(raw, RawDataElement)
        or type(raw.value) not in (bytes, memoryview)
        or len(raw.value) < Viewer.LARGE
        or config.data_element_callback is not None
        or (raw.VR or _dictionary_vr(tag)) != "SQ"
        or raw.VR not in ("SQ", None)
    ):
        return
    try:
        sequence = sequence_from_view(raw, dataset.original_character_set or dataset._character_set)
    except Exception:  # pydicom reads it again from bytes, and answers as it does
        return
    for item in sequence:
        for item_tag in list(item.keys()):
            value = item.get_item(item_tag)
            if (
                isinstance(value, RawDataElement)
                and isinstance(value.value, memoryview)
                and (value.VR or _dictionary_vr(item_tag)) not in VIEWED_VRS
            ):
                item._dict[item_tag] = value._replace(value=bytes(value.value))  # pydicom's converters take bytes
    # what Dataset.__getitem__ does with the element convert_raw_data_element makes of a raw SQ
    dataset[tag] = DataElement(
        raw.tag, "SQ", sequence, raw.value_tell, raw.length == 0xFFFFFFFF, already_converted=True
    )
    dataset._set_pixel_representation(dataset[tag])


def sequence_from_view(raw: RawDataElement, encodings: Any) -> Sequence:
    """What pydicom's convert_SQ makes of a raw SQ's bytes, read by pydicom's read_sequence from a Viewer of
    them (convert_SQ reads a BytesIO)."""
    data = cast(bytes | memoryview, raw.value)
    encodings = encodings or [default_encoding]
    return read_sequence(
        cast(BinaryIO, Viewer(data)),
        raw.is_implicit_VR,
        raw.is_little_endian,
        len(data),
        [encodings] if isinstance(encodings, str) else encodings,
        raw.value_tell,
    )


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def with_bytes(dataset: Dataset) -> Dataset:
    """A deep copy of a received data set whose raw values are bytes where they were views."""
    copied = copy.copy(dataset)
    copied._dict = {
        tag: raw._replace(value=bytes(raw.value))
        if isinstance(raw, RawDataElement) and isinstance(raw.value, memoryview)
        else raw
        for tag, raw in dataset._dict.items()
    }
    return copy.deepcopy(copied)


class Viewer(io.RawIOBase):
    """A file over bytes received, for pydicom's readers: a read of LARGE bytes or more gives a memoryview of
    them instead of a copy (a value's bytes: pixel data, a sequence), a smaller one bytes as BytesIO does.
    Whoever reads with it hands pydicom's converters bytes (read_sequence_from_views, bench/transcript.py)."""

    LARGE = 1 << 16

    def __init__(self, data: bytes | memoryview) -> None:
        super().__init__()
        self._data = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> Any:
        start = min(self._position, len(self._data))
        end = len(self._data) if size is None or size < 0 else min(start + size, len(self._data))
        self._position = end
        view = self._data[start:end]
        return view if end - start >= self.LARGE else bytes(view)

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._data)}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position
