"""Model -> data sets: N-CREATE and N-SET responses, N-GET return sets, Print Job and Printer Configuration.

The attributes an instance returns are its SOP class's rows (model/sop_classes.py) that have `get`, each
encoded from its model field by the value's type; a class adds only what the SCP itself holds
(references to the instances it created, values it resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from printscp import uids
from printscp.errors import PrintWarning
from printscp.model import sop_classes
from printscp.model.enums import FilmOrientation, PresentationLUTShape
from printscp.model.layout import MM_PER_INCH, ImageDisplayFormat, film_geometry, printable_pixels
from printscp.model.profile import PrinterProfile
from printscp.model.record import ColorImage, Image, ProposedStudy
from printscp.model.session import AnnotationBox, FilmBox, FilmSession, ImageBox, PresentationLUT
from printscp.model.values import describe
from printscp.status import Status

# (2100,0500): PS3.4 calls it Referenced Print Job Sequence; pydicom's keyword of that name is (2120,0070).
REFERENCED_PRINT_JOB_SEQUENCE = Tag(0x2100, 0x0500)
LO_CHARACTERS = 64  # PS3.5 6.2


def _reference_item(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


def _character_set(dataset: Dataset, character_set: tuple[str, ...]) -> None:
    if character_set and any(character_set):
        dataset.SpecificCharacterSet = list(character_set) if len(character_set) > 1 else character_set[0]


def _value(value: Any) -> Any:
    """A model value as pydicom takes it for its element."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, ImageDisplayFormat):
        return str(value)
    if isinstance(value, ProposedStudy):
        item = Dataset()
        for keyword, text in value.attributes.items():
            setattr(item, keyword, text)
        return [item]
    return value


def encode_attributes(holder: object, sop_class: sop_classes.SOPClass, profile: PrinterProfile) -> Dataset:
    """The table's returned attributes that `holder` (an instance, or a Film Box's attributes) has a value for."""
    ds = Dataset()
    for row in sop_class.returned_attributes(profile):
        value = getattr(holder, row.field)
        if value is None or (row.omit_empty and value == ""):
            continue
        setattr(ds, row.keyword, [_reference_item(row.reference, value)] if row.reference else _value(value))
    return ds


def encode_film_session(session: FilmSession, profile: PrinterProfile) -> Dataset:
    ds = encode_attributes(session, sop_classes.BASIC_FILM_SESSION, profile)
    _character_set(ds, session.specific_character_set)
    ds.ReferencedFilmBoxSequence = [_reference_item(b.sop_class_uid, b.sop_instance_uid) for b in session.film_boxes]
    return ds


def encode_film_box(box: FilmBox, session: FilmSession, profile: PrinterProfile, with_annotations: bool) -> Dataset:
    """The complete attribute list of a film box (PS3.7 10.1.5: what an N-CREATE-RSP returns), with the values
    it prints with (its session's presentation values where it has none, model/session.py)."""
    attributes = box.printed_attributes
    ds = encode_attributes(attributes, sop_classes.BASIC_FILM_BOX, profile)
    _character_set(ds, session.specific_character_set)
    ds.ReferencedFilmSessionSequence = [_reference_item(session.sop_class_uid, session.sop_instance_uid)]
    if profile.supports_presentation_lut:
        # PS3.4 H.4.2.2.1.1: U/MC for a P-LUT-capable SCP; report the values that will be used
        if attributes.illumination is None:
            ds.Illumination = profile.illumination_for(session.medium_type)
        if attributes.reflected_ambient_light is None:
            ds.ReflectedAmbientLight = profile.defaults.reflected_ambient_light
    ds.ReferencedImageBoxSequence = [_reference_item(b.sop_class_uid, b.sop_instance_uid) for b in box.image_boxes]
    if with_annotations:
        ds.ReferencedBasicAnnotationBoxSequence = [
            _reference_item(a.sop_class_uid, a.sop_instance_uid) for a in box.annotation_boxes
        ]
    return ds


def encode_image_box(box: ImageBox, profile: PrinterProfile) -> Dataset:
    color = box.sop_class_uid == uids.BASIC_COLOR_IMAGE_BOX
    ds = encode_attributes(
        box, sop_classes.BASIC_COLOR_IMAGE_BOX if color else sop_classes.BASIC_GRAYSCALE_IMAGE_BOX, profile
    )
    items = [image_item(box.image)] if box.image is not None else []
    if color:
        ds.BasicColorImageSequence = items
    else:
        ds.BasicGrayscaleImageSequence = items
    return ds


def image_item(image: Image) -> Dataset:
    """The Basic Grayscale or Color Image Sequence item of an image (PS3.4 Tables H.4-10, H.4-11): the pixels
    as they are, 8/8/7 or 16/12/11, OW for grayscale (8-bit too, as dcmprscu sends it), OB for colour."""
    color = isinstance(image, ColorImage)
    item = Dataset()
    item.SamplesPerPixel = 3 if color else 1
    item.PhotometricInterpretation = str(image.photometric_interpretation)
    if color:
        item.PlanarConfiguration = 1  # PS3.3 C.13.5: colour-by-plane
    item.Rows = image.rows
    item.Columns = image.columns
    if image.pixel_aspect_ratio != (1, 1):
        item.PixelAspectRatio = list(image.pixel_aspect_ratio)
    item.BitsAllocated = 8 if image.bits_stored == 8 else 16
    item.BitsStored = image.bits_stored
    item.HighBit = image.bits_stored - 1
    item.PixelRepresentation = 0
    if color:
        data = image.pixels.transpose(2, 0, 1).tobytes()
    else:
        data = image.pixels.astype("<u2").tobytes() if image.bits_stored == 12 else image.pixels.tobytes()
    item.add_new(0x7FE00010, "OB" if color else "OW", data + b"\x00" * (len(data) & 1))
    return item


def encode_annotation_box(box: AnnotationBox, character_set: tuple[str, ...], profile: PrinterProfile) -> Dataset:
    ds = encode_attributes(box, sop_classes.BASIC_ANNOTATION_BOX, profile)
    if len(box.text_string) > LO_CHARACTERS:  # texts placed together (Leniency.ANNOTATION_POSITION) print whole
        ds.TextString = box.text_string[:LO_CHARACTERS]
    _character_set(ds, character_set)
    return ds


def encode_presentation_lut(plut: PresentationLUT) -> Dataset:
    return presentation_lut_dataset(
        plut.presentation_lut_shape, plut.lut_descriptor, plut.lut_data, plut.lut_explanation
    )


def presentation_lut_dataset(
    shape: PresentationLUTShape | None,
    descriptor: tuple[int, int, int] | None,
    data: npt.NDArray[np.uint16] | None,
    explanation: str = "",
) -> Dataset:
    """A Presentation LUT's attributes (PS3.4 Table H.4-23): its shape, or its one table item."""
    ds = Dataset()
    if shape is not None:
        ds.PresentationLUTShape = shape.value
    else:
        assert descriptor is not None and data is not None
        item = Dataset()
        item.add_new(0x00283002, "US", list(descriptor))
        if explanation:
            item.LUTExplanation = explanation
        item.add_new(0x00283006, "OW", data.astype("<u2").tobytes())
        ds.PresentationLUTSequence = [item]
    return ds


def select(dataset: Dataset, identifiers: Sequence[int], ctx_warnings: list[PrintWarning]) -> Dataset:
    """N-GET: keep the attributes named in the Attribute Identifier List (empty = all, PS3.7 10.1.2.1.3)."""
    if not identifiers:
        return dataset
    selected = Dataset()
    missing = []
    for tag in identifiers:
        if tag in dataset:
            selected[tag] = dataset[tag]
        else:
            missing.append(Tag(tag))
    if "SpecificCharacterSet" in dataset:
        selected.SpecificCharacterSet = dataset.SpecificCharacterSet
    if missing:
        ctx_warnings.append(
            PrintWarning(
                Status.ATTRIBUTE_LIST_ERROR,
                f"{', '.join(describe(t) for t in missing[:3])} not held by this instance",
                tuple(missing),
            )
        )
    return selected


def encode_print_job(job: Any, printer_name: str) -> Dataset:
    """Print Job N-GET attributes (PS3.4 Table H.4-15); `job` has the fields of engine.PrintJobState."""
    ds = Dataset()
    ds.ExecutionStatus = job.execution_status.value
    ds.ExecutionStatusInfo = job.execution_status_info
    ds.PrintPriority = job.print_priority.value
    ds.CreationDate = job.creation.strftime("%Y%m%d")
    ds.CreationTime = job.creation.strftime("%H%M%S")
    ds.PrinterName = printer_name
    ds.Originator = job.originator
    return ds


@dataclass(frozen=True)
class PrintableArea:
    """The printer pixels of one image box of a format on a portrait film at one resolution (PS3.3 C.13.13)."""

    film_size_id: str
    image_display_format: str
    resolution_id: str
    dpi: int
    columns: int
    rows: int


def whole_film_format(profile: PrinterProfile) -> str | None:
    """One image box on the whole film, in the first of STANDARD, ROW and COL the printer offers."""
    texts = {"STANDARD": "STANDARD\\1,1", "ROW": "ROW\\1", "COL": "COL\\1"}
    return next((text for kind, text in texts.items() if kind in profile.image_display_formats), None)


def printable_areas(profile: PrinterProfile, formats: Sequence[str]) -> list[PrintableArea]:
    """For every Film Size ID (portrait) and resolution of the printer, the first image box of each format."""
    areas = []
    for size in profile.film_size_ids:
        for resolution, dpi in profile.resolutions.items():
            for text in formats:
                fmt = ImageDisplayFormat.parse(text)
                cell = film_geometry(size, FilmOrientation.PORTRAIT, fmt, profile.layout_tables).cells[0]
                columns, rows = printable_pixels(cell, dpi)  # what decides whether an image fits (layout.py)
                areas.append(PrintableArea(size, text, resolution, dpi, columns, rows))
    return areas


def encode_printer_configuration(profile: PrinterProfile) -> Dataset:
    """Printer Configuration Retrieval N-GET (PS3.4 H.4.11, PS3.3 C.13.13), from the printer profile.

    One item for the one printer and Meta SOP Class. Supported Image Display Formats lists, for every
    Film Size ID in portrait and each resolution, STANDARD\\1,1 (or ROW\\1 or COL\\1) with its printable
    pixels and the printer's slide layouts; STANDARD, ROW and COL take any counts up to max_columns x max_rows.
    """
    item = Dataset()
    item.SOPClassesSupported = sop_classes.supported_sop_classes(profile)
    item.MaximumMemoryAllocation = 0  # Memory Allocation is not supported
    item.MemoryBitDepth = 16 if profile.supports_12_bit else 8  # the pixels it keeps: 12 in 16 bits, or 8
    item.PrintingBitDepth = 8  # the densities printed: PNG and PDF grey levels are 8-bit (MemoryBitDepth: input)
    defaults = profile.defaults
    media = [(defaults.medium_type, defaults.film_size_id)]
    media += [(m, defaults.film_size_id) for m in profile.medium_types if m != defaults.medium_type]
    media += [(defaults.medium_type, f) for f in profile.film_size_ids if f != defaults.film_size_id]
    installed = []
    for number, (medium, size) in enumerate(media, start=1):  # item 1 is the printer's default
        medium_item = Dataset()
        medium_item.ItemNumber = number
        medium_item.MediumType = medium
        medium_item.FilmSizeID = size
        medium_item.MinDensity = profile.min_density
        medium_item.MaxDensity = profile.max_density
        installed.append(medium_item)
    item.MediaInstalledSequence = installed
    item.OtherMediaAvailableSequence = []
    formats = []
    whole = whole_film_format(profile)
    slides = [k for k in ("SLIDE", "SUPERSLIDE") if k in profile.image_display_formats and k in profile.slide_formats]
    for area in printable_areas(profile, [*([whole] if whole else []), *slides]):
        entry = Dataset()
        entry.Rows = area.rows
        entry.Columns = area.columns
        entry.ImageDisplayFormat = area.image_display_format
        entry.FilmOrientation = FilmOrientation.PORTRAIT.value
        entry.FilmSizeID = area.film_size_id
        entry.PrinterResolutionID = area.resolution_id
        pitch = f"{MM_PER_INCH / area.dpi:.6f}"
        entry.PrinterPixelSpacing = [pitch, pitch]
        entry.RequestedImageSizeFlag = "YES" if profile.supports_requested_image_size else "NO"
        formats.append(entry)
    item.SupportedImageDisplayFormatsSequence = formats
    item.DefaultPrinterResolutionID = defaults.requested_resolution_id
    item.DefaultMagnificationType = defaults.magnification_type
    others = [m for m in profile.magnification_types if m != defaults.magnification_type]
    if others:
        item.OtherMagnificationTypesAvailable = others
    if profile.smoothing_types:
        item.DefaultSmoothingType = defaults.smoothing_type
        smoothing = [t for t in profile.smoothing_types if t != defaults.smoothing_type]
        if smoothing:
            item.OtherSmoothingTypesAvailable = smoothing
    item.ConfigurationInformationDescription = "; ".join(
        f"{curve}: mid-grey contrast {contrast:g} (S-curve on P-Values, used without a Presentation LUT)"
        for curve, contrast in profile.contrast_curves.items()
    )
    item.MaximumCollatedFilms = 9999 if profile.supports_film_session_print else 0
    behavior = defaults.requested_decimate_crop_behavior
    item.DecimateCropResult = f"DEF {behavior}" if profile.supports_decimate_crop else behavior
    item.Manufacturer = profile.manufacturer
    item.ManufacturerModelName = profile.manufacturer_model_name
    item.PrinterName = profile.name
    ds = Dataset()
    ds.PrinterConfigurationSequence = [item]
    return ds
