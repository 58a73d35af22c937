"""Pixels and tables of print requests: the Basic Grayscale and Basic Color Image Sequence items of an
Image Box (PS3.4 Tables H.4-10 and H.4-11, PS3.3 C.13.5) and the Presentation LUT (PS3.4 Table H.4-23, PS3.3 C.11.4)."""

from __future__ import annotations

from typing import cast

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from printscp.errors import InvalidAttributeValue, MissingAttribute, MissingAttributeValue, NoSuchAttribute
from printscp.model.enums import PhotometricInterpretation, PresentationLUTShape
from printscp.model.reading import read_element
from printscp.model.record import ColorImage, GrayscaleImage
from printscp.model.session import PresentationLUT
from printscp.model.values import (
    Context,
    check_vr,
    describe,
    enumerated,
    is_empty,
    read_integer,
    read_items,
    read_string,
    tag_of,
)

# The Basic Grayscale Image Sequence item: pixel descriptions allowed.
_IMAGE_ITEM_KEYWORDS = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "PixelAspectRatio",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelData",
)
# The Basic Color Image Sequence item adds Planar Configuration (PS3.3 C.13.5).
_COLOR_ITEM_KEYWORDS = (*_IMAGE_ITEM_KEYWORDS[:2], "PlanarConfiguration", *_IMAGE_ITEM_KEYWORDS[2:])


def _image_item(elem: DataElement, keywords: tuple[str, ...]) -> Dataset | None:
    """The one item of an image sequence with every required element present and not empty (Planar
    Configuration is checked by `color_image`, after what says a grayscale item was sent); None: erase."""
    items = read_items(elem, maximum=1)
    if not items:
        return None
    item = items[0]
    tags = [tag_of(keyword) for keyword in keywords]
    allowed = frozenset(tags)
    unknown = [Tag(t) for t in item.keys() if t not in allowed and Tag(t).element != 0]
    if unknown:
        raise NoSuchAttribute(
            f"{describe(elem.tag)} item holds {', '.join(describe(t) for t in unknown)}, not defined for it",
            unknown,
        )
    for keyword, tag in zip(keywords, tags, strict=True):
        if keyword in ("PixelAspectRatio", "PlanarConfiguration"):
            continue
        if tag not in item:
            raise MissingAttribute(f"{describe(elem.tag)} item has no {describe(tag)}", [tag])
        element = item[tag]
        check_vr(element)
        if is_empty(element):
            raise MissingAttributeValue(f"{describe(tag)} is empty", [tag])
    return item


def _integer(item: Dataset, keyword: str) -> tuple[int, int]:
    tag = tag_of(keyword)
    return read_integer(item[tag]), tag


def _size(item: Dataset) -> tuple[int, int]:
    rows, rows_tag = _integer(item, "Rows")
    columns, columns_tag = _integer(item, "Columns")
    if rows < 1 or columns < 1:
        raise InvalidAttributeValue(
            f"Rows x Columns is {rows} x {columns}; both must be at least 1", [rows_tag, columns_tag]
        )
    return rows, columns


def _bits(item: Dataset, allowed_bits: list[tuple[int, int, int]], box: str) -> tuple[int, int, int]:
    bits = (_integer(item, "BitsAllocated")[0], _integer(item, "BitsStored")[0], _integer(item, "HighBit")[0])
    if bits not in allowed_bits:
        raise InvalidAttributeValue(
            "Bits Allocated/Stored/High Bit {}/{}/{} not supported; {} takes {}".format(
                *bits, box, " or ".join("{}/{}/{}".format(*b) for b in allowed_bits)
            ),
            [tag_of("BitsStored")],
        )
    representation, tag = _integer(item, "PixelRepresentation")
    if representation != 0:
        raise InvalidAttributeValue(f"Pixel Representation {representation}: print pixels are unsigned (0)", [tag])
    return bits


def _aspect(item: Dataset) -> tuple[int, int]:
    tag = tag_of("PixelAspectRatio")
    if tag not in item or is_empty(item[tag]):
        return (1, 1)
    ratio = item[tag]
    values = list(ratio.value) if ratio.VM == 2 else []
    if len(values) != 2 or not all(isinstance(v, int) and v > 0 for v in values):
        raise InvalidAttributeValue(f"Pixel Aspect Ratio {ratio.value!r} must be two positive integers", [ratio.tag])
    return (int(values[0]), int(values[1]))


def _pixel_data(item: Dataset, rows: int, columns: int, samples: int, bytes_per_sample: int) -> bytes | memoryview:
    # a view of the bytes received when model/reading.py read the sequence from them
    pixel_data = item[tag_of("PixelData")].value
    expected = rows * columns * samples * bytes_per_sample
    readable = isinstance(pixel_data, (bytes, memoryview))
    if not readable or len(pixel_data) not in (expected, expected + (expected & 1)):
        size = len(pixel_data) if readable else "?"
        factors = (
            f"{rows} x {columns} x {samples} x {bytes_per_sample}"
            if samples > 1
            else (f"{rows} x {columns} x {bytes_per_sample}")
        )
        raise InvalidAttributeValue(
            f"Pixel Data holds {size} bytes; Rows x Columns x "
            f"{'Samples per Pixel x ' if samples > 1 else ''}Bits Allocated/8 = {factors} = {expected}",
            [tag_of("PixelData")],
        )
    return cast(bytes | memoryview, pixel_data)


def grayscale_image(elem: DataElement, ctx: Context) -> GrayscaleImage | None:
    """The image of a Basic Grayscale Image Box; an empty sequence erases it (PS3.4 H.4.3.1.2.1.1)."""
    item = _image_item(elem, _IMAGE_ITEM_KEYWORDS)
    if item is None:
        return None
    samples, tag = _integer(item, "SamplesPerPixel")
    if samples != 1:
        raise InvalidAttributeValue(f"Samples per Pixel is {samples}; a grayscale image box takes 1", [tag])
    photometric = read_string(item["PhotometricInterpretation"])
    try:
        photometric_interpretation = PhotometricInterpretation(photometric)
    except ValueError:
        raise InvalidAttributeValue(
            f"Photometric Interpretation '{photometric}' must be MONOCHROME1 or MONOCHROME2",
            [tag_of("PhotometricInterpretation")],
        ) from None
    rows, columns = _size(item)
    allowed_bits = [(8, 8, 7)] + ([(16, 12, 11)] if ctx.profile.supports_12_bit else [])
    bits = _bits(item, allowed_bits, "this printer")
    aspect = _aspect(item)
    bytes_per_pixel = bits[0] // 8
    pixel_data = _pixel_data(item, rows, columns, 1, bytes_per_pixel)
    if bytes_per_pixel == 1:
        pixels = np.frombuffer(pixel_data, dtype=np.uint8, count=rows * columns).reshape(rows, columns)
    else:
        # Little Endian only on print contexts; bits above High Bit are not part of the value (PS3.5 8.1.1)
        words = np.frombuffer(pixel_data, dtype="<u2", count=rows * columns).reshape(rows, columns)
        # Always a copy, also of a clean image: kept instead, pydicom's value (a fresh allocation per N-SET)
        # page-faulted ~2,800 times per 20 x 512x512 film against ~100, for no less CPU (measured).
        pixels = np.bitwise_and(words, 0x0FFF, dtype=np.uint16)
    return GrayscaleImage(rows, columns, bits[1], photometric_interpretation, aspect, pixels)


def color_image(elem: DataElement, ctx: Context) -> ColorImage | None:
    """The image of a Basic Color Image Box (PS3.4 H.4.3.2.2.1, PS3.3 C.13.5): 8-bit RGB; an empty
    sequence erases it.

    PS3.3 C.13.5 enumerates Planar Configuration 1 (colour-by-plane) only; 0 (colour-by-pixel), which
    modalities also send, is taken as well, since it cannot be misread once the value is given."""
    item = _image_item(elem, _COLOR_ITEM_KEYWORDS)
    if item is None:
        return None
    samples, tag = _integer(item, "SamplesPerPixel")
    if samples != 3:
        raise InvalidAttributeValue(f"Samples per Pixel is {samples}; a color image box takes 3", [tag])
    photometric = read_string(item["PhotometricInterpretation"])
    if photometric != "RGB":
        raise InvalidAttributeValue(
            f"Photometric Interpretation '{photometric}' must be RGB in a color image box",
            [tag_of("PhotometricInterpretation")],
        )
    planar_tag = tag_of("PlanarConfiguration")
    if "PlanarConfiguration" not in item:
        raise MissingAttribute(f"{describe(elem.tag)} item has no {describe(planar_tag)}", [planar_tag])
    check_vr(item["PlanarConfiguration"])
    if is_empty(item["PlanarConfiguration"]):
        raise MissingAttributeValue(f"{describe(planar_tag)} is empty", [planar_tag])
    planar = read_integer(item["PlanarConfiguration"])
    if planar not in (0, 1):
        raise InvalidAttributeValue(f"Planar Configuration {planar} must be 0 or 1", [planar_tag])
    rows, columns = _size(item)
    _bits(item, [(8, 8, 7)], "a color image box")
    aspect = _aspect(item)
    data = np.frombuffer(_pixel_data(item, rows, columns, 3, 1), dtype=np.uint8, count=rows * columns * 3)
    if planar == 1:  # all R, then all G, then all B
        pixels = np.ascontiguousarray(data.reshape(3, rows, columns).transpose(1, 2, 0))
    else:
        pixels = data.reshape(rows, columns, 3).copy()
    return ColorImage(rows, columns, aspect, pixels)


def decode_presentation_lut(dataset: Dataset | None, sop_instance_uid: str) -> PresentationLUT:
    """PS3.4 Table H.4-23: exactly one of Presentation LUT Sequence and Presentation LUT Shape."""
    dataset = dataset if dataset is not None else Dataset()
    shape_tag, sequence_tag = tag_of("PresentationLUTShape"), tag_of("PresentationLUTSequence")
    unknown = [Tag(t) for t in dataset.keys() if t not in (shape_tag, sequence_tag, 0x00080005) and Tag(t).element != 0]
    if unknown:
        raise NoSuchAttribute(
            f"{', '.join(describe(t) for t in unknown[:3])} not defined for a Presentation LUT", unknown
        )
    shape_elem = read_element(dataset, shape_tag) if shape_tag in dataset else None
    sequence_elem = read_element(dataset, sequence_tag) if sequence_tag in dataset else None
    has_shape = shape_elem is not None and not is_empty(shape_elem)
    has_sequence = sequence_elem is not None
    if has_shape == has_sequence:
        raise (InvalidAttributeValue if has_shape else MissingAttribute)(
            "a Presentation LUT needs exactly one of Presentation LUT Sequence (2050,0010) and "
            "Presentation LUT Shape (2050,0020)",
            [sequence_tag, shape_tag],
        )
    if shape_elem is not None and has_shape:
        check_vr(shape_elem)
        shape = enumerated(PresentationLUTShape)(shape_elem, None)  # type: ignore[arg-type]
        return PresentationLUT(sop_instance_uid, presentation_lut_shape=PresentationLUTShape(shape))

    assert sequence_elem is not None
    (item,) = read_items(sequence_elem, maximum=1, minimum=1)
    for keyword in ("LUTDescriptor", "LUTData"):
        if keyword not in item or is_empty(item[keyword]):
            raise MissingAttribute(f"Presentation LUT Sequence item has no {keyword}", [tag_of(keyword)])
    descriptor_elem = item["LUTDescriptor"]
    check_vr(descriptor_elem)
    raw_descriptor = descriptor_elem.value
    if isinstance(raw_descriptor, bytes):  # implicit VR: US or SS, read as raw words
        descriptor = [int(v) for v in np.frombuffer(raw_descriptor, dtype="<u2")] if len(raw_descriptor) == 6 else []
    elif isinstance(raw_descriptor, int):
        descriptor = [raw_descriptor]
    else:
        descriptor = [int(v) for v in raw_descriptor]
    if len(descriptor) != 3:
        raise InvalidAttributeValue("LUT Descriptor must have three values", [descriptor_elem.tag])
    entries, first, bits = descriptor
    # PS3.3 C.11.4.1: 256 entries for 8-bit images, 4096 for 12-bit; first value mapped 0; 10-16 bits per entry
    if entries not in (256, 4096) or first != 0 or not 10 <= bits <= 16:
        raise InvalidAttributeValue(
            f"LUT Descriptor {entries}\\{first}\\{bits}: need 256 or 4096 entries, first value 0, 10 to 16 bits",
            [descriptor_elem.tag],
        )
    data_elem = item["LUTData"]
    check_vr(data_elem)
    raw = data_elem.value
    if isinstance(raw, bytes) and len(raw) % 2:
        raise InvalidAttributeValue(f"LUT Data has an odd length of {len(raw)} bytes", [data_elem.tag])
    data = (
        np.frombuffer(raw, dtype="<u2").copy()
        if isinstance(raw, bytes)
        else np.asarray([raw] if isinstance(raw, int) else list(raw), dtype=np.int64)
    )
    if data.size != entries:
        raise InvalidAttributeValue(f"LUT Data has {data.size} entries, the descriptor says {entries}", [data_elem.tag])
    if data.min() < 0 or data.max() >= 1 << bits:
        raise InvalidAttributeValue(f"LUT Data values must be 0 to {(1 << bits) - 1}", [data_elem.tag])
    explanation = ""
    if "LUTExplanation" in item and isinstance(item["LUTExplanation"].value, str):
        explanation = item["LUTExplanation"].value
    lut = data.astype(np.uint16)
    lut.flags.writeable = False
    return PresentationLUT(
        sop_instance_uid, lut_descriptor=(entries, first, bits), lut_explanation=explanation, lut_data=lut
    )
