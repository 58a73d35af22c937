"""Pixels and tables of print requests: the Basic Grayscale Image Sequence item of an Image Box
(PS3.4 Table H.4-10, PS3.3 C.13.5) and the Presentation LUT (PS3.4 Table H.4-23, PS3.3 C.11.4)."""

from __future__ import annotations

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from printscp.errors import InvalidAttributeValue, MissingAttribute, MissingAttributeValue, NoSuchAttribute
from printscp.model.enums import PhotometricInterpretation, PresentationLUTShape
from printscp.model.reading import read_element
from printscp.model.record import GrayscaleImage
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
_REQUIRED_IMAGE_ITEM_KEYWORDS = tuple(k for k in _IMAGE_ITEM_KEYWORDS if k != "PixelAspectRatio")
_IMAGE_ITEM_TAGS = frozenset(tag_of(keyword) for keyword in _IMAGE_ITEM_KEYWORDS)


def grayscale_image(elem: DataElement, ctx: Context) -> GrayscaleImage | None:
    """The image of a Basic Grayscale Image Box; an empty sequence erases it (PS3.4 H.4.3.1.2.1.1)."""
    items = read_items(elem, maximum=1)
    if not items:
        return None
    item = items[0]
    unknown = [Tag(t) for t in item.keys() if Tag(t).element != 0 and t not in _IMAGE_ITEM_TAGS]
    if unknown:
        raise NoSuchAttribute(
            f"{describe(elem.tag)} item holds {', '.join(describe(t) for t in unknown)}, not defined for it",
            unknown,
        )
    for keyword in _REQUIRED_IMAGE_ITEM_KEYWORDS:
        if keyword not in item:
            raise MissingAttribute(f"{describe(elem.tag)} item has no {describe(tag_of(keyword))}", [tag_of(keyword)])
        check_vr(item[keyword])
        if is_empty(item[keyword]):
            raise MissingAttributeValue(f"{describe(tag_of(keyword))} is empty", [tag_of(keyword)])

    def integer(keyword: str) -> tuple[int, int]:
        return read_integer(item[keyword]), tag_of(keyword)

    samples, tag = integer("SamplesPerPixel")
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
    rows, rows_tag = integer("Rows")
    columns, columns_tag = integer("Columns")
    if rows < 1 or columns < 1:
        raise InvalidAttributeValue(
            f"Rows x Columns is {rows} x {columns}; both must be at least 1", [rows_tag, columns_tag]
        )
    bits = (integer("BitsAllocated")[0], integer("BitsStored")[0], integer("HighBit")[0])
    allowed_bits = [(8, 8, 7)] + ([(16, 12, 11)] if ctx.profile.supports_12_bit else [])
    if bits not in allowed_bits:
        raise InvalidAttributeValue(
            "Bits Allocated/Stored/High Bit {}/{}/{} not supported; this printer takes {}".format(
                *bits, " or ".join("{}/{}/{}".format(*b) for b in allowed_bits)
            ),
            [tag_of("BitsStored")],
        )
    representation, tag = integer("PixelRepresentation")
    if representation != 0:
        raise InvalidAttributeValue(f"Pixel Representation {representation}: print pixels are unsigned (0)", [tag])
    aspect = (1, 1)
    if "PixelAspectRatio" in item and not is_empty(item["PixelAspectRatio"]):
        ratio = item["PixelAspectRatio"]
        values = list(ratio.value) if ratio.VM == 2 else []
        if len(values) != 2 or not all(isinstance(v, int) and v > 0 for v in values):
            raise InvalidAttributeValue(
                f"Pixel Aspect Ratio {ratio.value!r} must be two positive integers", [ratio.tag]
            )
        aspect = (int(values[0]), int(values[1]))

    pixel_data = item["PixelData"].value
    bytes_per_pixel = bits[0] // 8
    expected = rows * columns * bytes_per_pixel
    if not isinstance(pixel_data, bytes) or len(pixel_data) not in (expected, expected + (expected & 1)):
        size = len(pixel_data) if isinstance(pixel_data, bytes) else "?"
        raise InvalidAttributeValue(
            f"Pixel Data holds {size} bytes; Rows x Columns x Bits Allocated/8 = {rows} x {columns} x "
            f"{bytes_per_pixel} = {expected}",
            [tag_of("PixelData")],
        )
    if bytes_per_pixel == 1:
        pixels = np.frombuffer(pixel_data, dtype=np.uint8, count=rows * columns).reshape(rows, columns)
    else:
        # Little Endian only on print contexts; bits above High Bit are not part of the value (PS3.5 8.1.1)
        words = np.frombuffer(pixel_data, dtype="<u2", count=rows * columns).reshape(rows, columns)
        # Always a copy, also of a clean image: kept instead, pydicom's value (a fresh allocation per N-SET)
        # page-faulted ~2,800 times per 20 x 512x512 film against ~100, for no less CPU (measured).
        pixels = np.bitwise_and(words, 0x0FFF, dtype=np.uint16)
    return GrayscaleImage(rows, columns, bits[1], photometric_interpretation, aspect, pixels)


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
