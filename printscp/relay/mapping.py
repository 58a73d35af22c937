"""What a target print SCP supports, and a film mapped onto it: the pure part of the DICOM relay (no IO).

How it works. `TargetCapabilities` says what a print SCP takes, learnt from its Printer Configuration
Retrieval N-GET (`from_printer_configuration`, PS3.4 H.4.11, PS3.3 C.13.13), else from the preset named for
the node (`from_profile`), else nothing (`UNKNOWN`: every film goes as it is). Each field that is empty or
None is unknown and maps nothing. `map_film` then changes what the target lacks to the nearest it has, by the
data tables below, and says each change in one short phrase (relay/dicom.py puts them in Delivery.mapped):

    attribute            the target lacks it ->
    Film Size ID         the target's size nearest in area and aspect (FILM_SIZES_MM; |log| distances)
    Image Display Format STANDARD\\c,r beyond max columns/rows (or a kind it lacks: ROW, COL ... as their grid)
                         -> the smallest STANDARD\\c,r within its maxima that holds the film's images
                         (fewest boxes along its longer side, then fewest boxes, then the nearest aspect)
    Medium Type          MEDIUM_PREFERENCES, then the target's first
    Film Destination     DESTINATION_PREFERENCES, then the target's first
    Magnification Type   MAGNIFICATION_PREFERENCES, then the target's first
    Smoothing Type       SMOOTHING_PREFERENCES, else left out (the target's default)
    Min/Max Density      clamped into the target's range (film box, image boxes, numeric border/empty)
    12-bit pixels        8-bit: each pixel shifted right 4 bits; a Presentation LUT table resampled to 256
                         entries (PS3.4 H.4.9.2.2.1: its entries match the images' Bits Stored)
    Presentation LUT     no Presentation LUT SOP Class: a LUT table is burnt into the pixels (out = table[in]
                         rescaled to the pixels' bits); IDENTITY is the target's default anyway; LIN OD is
                         left out (turning densities into P-values needs the target's L0/La and GSDF)
    Annotation Box       no Basic Annotation Box: the annotations and Annotation Display Format ID left out;
                         an ID the target does not list -> its first
    colour               no Basic Color Print Management: RGB as luminance (ITU-R BT.601), 8-bit MONOCHROME2
    Trim, Requested Image Size, Requested Decimate/Crop Behavior: left out when the target has no such support

`next_value` gives the next entry of the same tables for a value the target refused at run time (0106 with
an Offending Element): relay/dicom.py retries the step once with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from printscp import uids
from printscp.model.enums import FILM_SIZES_MM, PhotometricInterpretation, Trim
from printscp.model.layout import ImageDisplayFormat
from printscp.model.profile import PrinterProfile
from printscp.model.record import (
    ColorImage,
    FilmSnapshot,
    GrayscaleImage,
    Image,
    ImageBoxSnapshot,
    Pixels,
    PresentationLUTSnapshot,
)


@dataclass(frozen=True)
class TargetCapabilities:
    """What a target print SCP supports; an empty tuple or None is unknown (sent as it is)."""

    source: str = "unknown"  # where it was learnt: "Printer Configuration Retrieval", "preset NAME", "unknown"
    film_size_ids: tuple[str, ...] = ()
    image_display_formats: tuple[str, ...] = ()  # kinds: STANDARD, ROW, COL, SLIDE, SUPERSLIDE, CUSTOM
    max_columns: int | None = None
    max_rows: int | None = None
    medium_types: tuple[str, ...] = ()
    film_destinations: tuple[str, ...] = ()
    magnification_types: tuple[str, ...] = ()
    smoothing_types: tuple[str, ...] = ()
    min_density: int | None = None
    max_density: int | None = None
    supports_12_bit: bool | None = None
    presentation_lut: bool | None = None  # the Presentation LUT SOP Class
    annotation: bool | None = None  # the Basic Annotation Box SOP Class
    annotation_display_format_ids: tuple[str, ...] = ()
    color: bool | None = None  # Basic Color Print Management
    trim: bool | None = None
    requested_image_size: bool | None = None
    decimate_crop: bool | None = None

    def negotiated(self, accepted: frozenset[str]) -> TargetCapabilities:
        """These capabilities less the SOP classes the association did not accept (accepted ones stay as known)."""

        def accepts(uid: str, known: bool | None) -> bool:
            return uid in accepted and known is not False

        return dataclasses.replace(
            self,
            presentation_lut=accepts(uids.PRESENTATION_LUT, self.presentation_lut),
            annotation=accepts(uids.BASIC_ANNOTATION_BOX, self.annotation),
            color=accepts(uids.BASIC_COLOR_PRINT_MANAGEMENT_META, self.color),
        )


UNKNOWN = TargetCapabilities()


def from_profile(profile: PrinterProfile) -> TargetCapabilities:
    """A printer profile (a node's preset) as capabilities."""
    return TargetCapabilities(
        source=f"preset {profile.preset}" if profile.preset else "printer profile",
        film_size_ids=profile.film_size_ids,
        image_display_formats=profile.image_display_formats,
        max_columns=profile.max_columns,
        max_rows=profile.max_rows,
        medium_types=profile.medium_types,
        film_destinations=profile.film_destinations,
        magnification_types=profile.magnification_types,
        smoothing_types=profile.smoothing_types,
        min_density=profile.min_density,
        max_density=profile.max_density,
        supports_12_bit=profile.supports_12_bit,
        presentation_lut=profile.supports_presentation_lut,
        annotation=profile.supports_annotation,
        annotation_display_format_ids=tuple(profile.annotation_display_formats),
        color=profile.supports_color,
        trim=profile.supports_trim,
        requested_image_size=profile.supports_requested_image_size,
        decimate_crop=profile.supports_decimate_crop,
    )


def _strings(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (str, bytes)):
        return (str(value),)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def from_printer_configuration(response: Dataset) -> TargetCapabilities:
    """The Printer Configuration Retrieval N-GET response (PS3.3 C.13.13) as capabilities.

    Its first Printer Configuration Sequence item is read: SOP Classes Supported (Presentation LUT, Basic
    Annotation Box, Basic Color Print Management Meta), the installed and other media (Film Size IDs, Medium
    Types, the density range: the lowest Min and highest Max Density), the supported Image Display Formats
    (their kinds; STANDARD\\c,r maxima only when some listed format has more than one box, since a printer
    may list STANDARD\\1,1 to mean any grid), magnification and smoothing types, and Memory Bit Depth (12-bit
    pixels when it is 12 or more). Film destinations and annotation formats are not in it: unknown."""
    items = response.get("PrinterConfigurationSequence") or []
    if not items:
        return dataclasses.replace(UNKNOWN, source="Printer Configuration Retrieval (empty)")
    item = items[0]
    classes = set(_strings(item.get("SOPClassesSupported")))
    media = [*(item.get("MediaInstalledSequence") or []), *(item.get("OtherMediaAvailableSequence") or [])]
    sizes = tuple(dict.fromkeys(str(m.FilmSizeID) for m in media if m.get("FilmSizeID")))
    mediums = tuple(dict.fromkeys(str(m.MediumType) for m in media if m.get("MediumType")))
    mins = [int(m.MinDensity) for m in media if m.get("MinDensity") is not None]
    maxes = [int(m.MaxDensity) for m in media if m.get("MaxDensity") is not None]
    formats: list[ImageDisplayFormat] = []
    for entry in item.get("SupportedImageDisplayFormatsSequence") or []:
        try:
            formats.append(ImageDisplayFormat.parse(str(entry.get("ImageDisplayFormat", ""))))
        except ValueError:
            continue
    grids = [f.counts for f in formats if f.kind == "STANDARD"]
    has_grid = any(c * r > 1 for c, r in grids)
    magnifications = _strings(item.get("DefaultMagnificationType")) + _strings(
        item.get("OtherMagnificationTypesAvailable")
    )
    smoothings = _strings(item.get("DefaultSmoothingType")) + _strings(item.get("OtherSmoothingTypesAvailable"))
    depth = item.get("MemoryBitDepth")
    return TargetCapabilities(
        source="Printer Configuration Retrieval",
        film_size_ids=sizes,
        image_display_formats=tuple(dict.fromkeys(f.kind for f in formats)),
        max_columns=max(c for c, _ in grids) if has_grid else None,
        max_rows=max(r for _, r in grids) if has_grid else None,
        medium_types=mediums,
        magnification_types=tuple(dict.fromkeys(magnifications)),
        smoothing_types=tuple(dict.fromkeys(smoothings)),
        min_density=min(mins) if mins else None,
        max_density=max(maxes) if maxes else None,
        supports_12_bit=int(depth) >= 12 if depth is not None else None,
        presentation_lut=uids.PRESENTATION_LUT in classes if classes else None,
        annotation=uids.BASIC_ANNOTATION_BOX in classes if classes else None,
        color=uids.BASIC_COLOR_PRINT_MANAGEMENT_META in classes if classes else None,
    )


# --- the tables -------------------------------------------------------------------------------------------------

# A value the target lacks -> what to try instead, nearest first (then the target's first value).
MEDIUM_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "CLEAR FILM": ("BLUE FILM", "MAMMO CLEAR FILM", "MAMMO BLUE FILM", "PAPER"),
    "BLUE FILM": ("CLEAR FILM", "MAMMO BLUE FILM", "MAMMO CLEAR FILM", "PAPER"),
    "MAMMO CLEAR FILM": ("MAMMO BLUE FILM", "CLEAR FILM", "BLUE FILM", "PAPER"),
    "MAMMO BLUE FILM": ("MAMMO CLEAR FILM", "BLUE FILM", "CLEAR FILM", "PAPER"),
    "PAPER": ("CLEAR FILM", "BLUE FILM"),
}
DESTINATION_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "MAGAZINE": ("PROCESSOR",),
    "PROCESSOR": ("MAGAZINE",),
    "BIN_*": ("MAGAZINE", "PROCESSOR"),  # any BIN_i
}
MAGNIFICATION_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "REPLICATE": ("NONE", "BILINEAR", "CUBIC"),
    "BILINEAR": ("CUBIC", "REPLICATE", "NONE"),
    "CUBIC": ("BILINEAR", "REPLICATE", "NONE"),
    "NONE": ("REPLICATE", "BILINEAR", "CUBIC"),
}
SMOOTHING_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    "MEDIUM": ("SMOOTH", "SHARP"),
    "SMOOTH": ("MEDIUM", "SHARP"),
    "SHARP": ("MEDIUM", "SMOOTH"),
}
PREFERENCES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "MediumType": MEDIUM_PREFERENCES,
    "FilmDestination": DESTINATION_PREFERENCES,
    "MagnificationType": MAGNIFICATION_PREFERENCES,
    "SmoothingType": SMOOTHING_PREFERENCES,
}
# Attributes whose value may be left out (the target then uses its default) when nothing nearer is known.
MAY_BE_LEFT_OUT = frozenset(
    {
        "SmoothingType",
        "MaxDensity",
        "MinDensity",
        "Trim",
        "RequestedImageSize",
        "RequestedDecimateCropBehavior",
        "AnnotationDisplayFormatID",
        "ConfigurationInformation",
        "BorderDensity",
        "EmptyImageDensity",
        "FilmDestination",
        "MediumType",
        "MagnificationType",
        "Illumination",
        "ReflectedAmbientLight",
        "RequestedResolutionID",
    }
)
BITS_KEYWORDS = frozenset({"BitsAllocated", "BitsStored", "HighBit", "BasicGrayscaleImageSequence", "PixelData"})


def film_sizes_by_nearness(film_size_id: str, candidates: Sequence[str]) -> list[str]:
    """`candidates` with a known size, nearest to `film_size_id` first: |log area ratio| + |log aspect ratio|."""
    if film_size_id not in FILM_SIZES_MM:
        return [c for c in candidates if c in FILM_SIZES_MM]
    width, height = FILM_SIZES_MM[film_size_id]

    def distance(candidate: str) -> float:
        w, h = FILM_SIZES_MM[candidate]
        return abs(math.log((w * h) / (width * height))) + abs(math.log((w / h) / (width / height)))

    return sorted((c for c in candidates if c in FILM_SIZES_MM and c != film_size_id), key=distance)


def _preferred(keyword: str, value: str, offered: Sequence[str]) -> list[str]:
    """The values of `offered` to use for `value`, best first (its preference table, then the target's order)."""
    table = PREFERENCES.get(keyword, {})
    key = "BIN_*" if keyword == "FilmDestination" and value.startswith("BIN_") else value
    preferred = [v for v in table.get(key, ()) if v in offered]
    return [*preferred, *(v for v in offered if v not in preferred and v != value)]


def next_value(keyword: str, refused: str, tried: Sequence[str], capabilities: TargetCapabilities) -> str | None:
    """After the target refused `refused` for `keyword` (0106 with an Offending Element): the next value of the
    table not tried yet, None to leave the attribute out, or "" when there is nothing to do."""
    if keyword == "FilmSizeID":
        candidates = capabilities.film_size_ids or tuple(FILM_SIZES_MM)
        for size in film_sizes_by_nearness(refused, candidates):
            if size not in tried:
                return size
        return ""
    if keyword in PREFERENCES:
        offered = getattr(capabilities, _FIELDS[keyword]) or tuple(
            dict.fromkeys(v for values in PREFERENCES[keyword].values() for v in values)
        )
        for value in _preferred(keyword, refused, offered):
            if value not in tried:
                return value
    return None if keyword in MAY_BE_LEFT_OUT else ""


_FIELDS = {
    "MediumType": "medium_types",
    "FilmDestination": "film_destinations",
    "MagnificationType": "magnification_types",
    "SmoothingType": "smoothing_types",
}


# --- the mapping ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionValues:
    """The Film Session values a target gets (medium and destination mapped)."""

    medium_type: str
    film_destination: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class MappedFilm:
    """A film as a target gets it: its attributes, boxes and annotations mapped, and what changed."""

    film: FilmSnapshot
    send_presentation_lut: bool  # reference the image boxes' Presentation LUT (else it was burnt in or left out)
    changes: tuple[str, ...]
    left_out: frozenset[str] = frozenset()  # keywords not to send (the target's default applies)

    @property
    def presentation_lut(self) -> PresentationLUTSnapshot | None:
        """The film's Presentation LUT (all its boxes share one: the film box's), when it is sent."""
        if not self.send_presentation_lut:
            return None
        return next((b.presentation_lut for b in self.film.image_boxes if b.presentation_lut is not None), None)


def _nearest(keyword: str, label: str, value: str, offered: Sequence[str], changes: list[str]) -> str:
    if not offered or value in offered or not value:
        return value
    choices = _preferred(keyword, value, offered)
    if not choices:
        return value
    changes.append(f"{label} {value} -> {choices[0]}")
    return choices[0]


def map_session(film: FilmSnapshot, capabilities: TargetCapabilities) -> SessionValues:
    """The Film Session's Medium Type and Film Destination (a request's films share them) for the target."""
    changes: list[str] = []
    medium = _nearest("MediumType", "Medium Type", film.medium_type, capabilities.medium_types, changes)
    destination = _nearest(
        "FilmDestination", "Film Destination", film.film_destination, capabilities.film_destinations, changes
    )
    return SessionValues(medium, destination, tuple(changes))


def _clamp(value: int, low: int | None, high: int | None) -> int:
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def _densities(low: int, high: int, capabilities: TargetCapabilities) -> tuple[int, int]:
    """Min and Max Density clamped into the target's range, min kept below max."""
    new_low = _clamp(low, capabilities.min_density, capabilities.max_density)
    new_high = _clamp(high, capabilities.min_density, capabilities.max_density)
    if new_low >= new_high:  # the film's range lies outside the target's: the target's whole range
        new_low = capabilities.min_density if capabilities.min_density is not None else new_low
        new_high = capabilities.max_density if capabilities.max_density is not None else new_high
    return new_low, new_high


def _density_text(value: str, capabilities: TargetCapabilities) -> str:
    """A Border or Empty Image Density: a number (hundredths of OD) is clamped; BLACK and WHITE stay."""
    if not value.isdigit():
        return value
    return str(_clamp(int(value), capabilities.min_density, capabilities.max_density))


def _display_format(film: FilmSnapshot, capabilities: TargetCapabilities, changes: list[str]) -> ImageDisplayFormat:
    fmt = film.image_display_format
    kinds, max_columns, max_rows = capabilities.image_display_formats, capabilities.max_columns, capabilities.max_rows
    kind_ok = not kinds or fmt.kind in kinds
    try:
        columns, rows = fmt.columns_and_rows
    except ValueError:  # SLIDE, SUPERSLIDE, CUSTOM: no grid to compare
        if kind_ok:
            return fmt
        columns, rows = math.ceil(math.sqrt(film.image_count or 1)), math.ceil(math.sqrt(film.image_count or 1))
    fits = (max_columns is None or columns <= max_columns) and (max_rows is None or rows <= max_rows)
    if kind_ok and fits:
        return fmt
    images = max(film.image_count, 1)
    limit_c, limit_r = max_columns or max(columns, images), max_rows or max(rows, images)
    grids = [(c, r) for c in range(1, limit_c + 1) for r in range(1, limit_r + 1) if c * r >= images]
    if not grids:  # nothing holds every image: the largest grid, the rest left out
        grids = [(limit_c, limit_r)]
    aspect = columns / rows
    # the smallest: fewest boxes along its longer side, then fewest boxes, then the film's own aspect nearest
    best = min(grids, key=lambda g: (max(g), g[0] * g[1], abs(math.log((g[0] / g[1]) / aspect))))
    new = ImageDisplayFormat("STANDARD", best)
    changes.append(f"Image Display Format {fmt} -> {new}")
    return new


def _image_boxes(
    film: FilmSnapshot, fmt: ImageDisplayFormat, capabilities: TargetCapabilities, changes: list[str]
) -> tuple[ImageBoxSnapshot, ...]:
    """The image boxes for `fmt`: the same when the format did not change, else the images in order."""
    boxes = film.image_boxes
    if fmt != film.image_display_format:
        holding = [b for b in boxes if b.image is not None]
        capacity = fmt.number_of_image_boxes
        if len(holding) > capacity:
            changes.append(f"{len(holding) - capacity} images left out: {fmt} holds {capacity}")
        boxes = tuple(dataclasses.replace(b, image_box_position=n) for n, b in enumerate(holding[:capacity], 1))
    mapped = []
    for box in boxes:
        magnification = _nearest(
            "MagnificationType", "Magnification Type", box.magnification_type, capabilities.magnification_types, []
        )
        low, high = _densities(box.min_density, box.max_density, capabilities)
        mapped.append(
            dataclasses.replace(
                box, magnification_type=type(box.magnification_type)(magnification), min_density=low, max_density=high
            )
        )
    return tuple(mapped)


def _to_8_bit(image: GrayscaleImage) -> GrayscaleImage:
    return GrayscaleImage(
        image.rows,
        image.columns,
        8,
        image.photometric_interpretation,
        image.pixel_aspect_ratio,
        (np.asarray(image.pixels, dtype=np.uint16) >> 4).astype(np.uint8),
    )


def lut_to_8_bit(plut: PresentationLUTSnapshot) -> PresentationLUTSnapshot:
    """A Presentation LUT for 8-bit images: a table of 4096 entries resampled to 256 (entry i: the 12-bit
    table's entry for input i*16, the input the shifted pixels came from); a shape as it is."""
    if plut.lut_data is None or plut.lut_descriptor is None or plut.lut_descriptor[0] != 4096:
        return plut
    data = np.ascontiguousarray(plut.lut_data[::16])
    return dataclasses.replace(plut, lut_descriptor=(256, 0, plut.lut_descriptor[2]), lut_data=data)


def burn_in(image: GrayscaleImage, plut: PresentationLUTSnapshot) -> GrayscaleImage:
    """The image's pixels through a Presentation LUT table: P-values at the image's own bit depth."""
    assert plut.lut_data is not None and plut.lut_descriptor is not None
    entries, first, out_bits = plut.lut_descriptor
    table = np.asarray(plut.lut_data, dtype=np.float64)
    index = np.clip(np.asarray(image.pixels, dtype=np.int64) - first, 0, (entries or 65536) - 1)
    top = (1 << image.bits_stored) - 1
    values = np.rint(table[index] * top / ((1 << out_bits) - 1))
    clipped = np.clip(values, 0, top)
    pixels: Pixels = clipped.astype(np.uint8) if image.bits_stored == 8 else clipped.astype(np.uint16)
    return dataclasses.replace(image, pixels=pixels)


def _grey_rgb(image: GrayscaleImage) -> ColorImage:
    pixels = np.asarray(image.pixels, dtype=np.uint8)
    if image.photometric_interpretation == PhotometricInterpretation.MONOCHROME1:
        pixels = 255 - pixels
    return ColorImage(image.rows, image.columns, image.pixel_aspect_ratio, np.repeat(pixels[:, :, None], 3, axis=2))


def _images(
    boxes: tuple[ImageBoxSnapshot, ...],
    capabilities: TargetCapabilities,
    force_8_bit: bool,
    color_session: bool,
    changes: list[str],
) -> tuple[tuple[ImageBoxSnapshot, ...], bool]:
    """The boxes' images and Presentation LUTs for the target; whether the LUT is still sent. In a colour
    session (PS3.4 H.4.1: one Film Session an association, under one Meta SOP Class) grayscale images go as
    grey RGB, 8-bit, their Presentation LUT burnt in."""
    eight = force_8_bit or capabilities.supports_12_bit is False
    twelve = [b for b in boxes if isinstance(b.image, GrayscaleImage) and b.image.bits_stored == 12]
    colour = [b for b in boxes if isinstance(b.image, ColorImage)]
    pluts = [b.presentation_lut for b in boxes if b.presentation_lut is not None]
    send_lut = bool(pluts) and capabilities.presentation_lut is not False and not color_session
    grey = [b for b in boxes if isinstance(b.image, GrayscaleImage)]
    if color_session and grey:
        changes.append(f"{len(grey)} grayscale images sent as grey RGB: a colour film session")
    if eight and twelve:
        changes.append("12-bit pixels sent as 8-bit")
    if colour and capabilities.color is False:
        changes.append(f"{len(colour)} colour images printed in grayscale: no Basic Color Print Management")
    if pluts and not send_lut:
        shapes = {p.presentation_lut_shape for p in pluts}
        if any(p.lut_data is not None for p in pluts):
            changes.append("Presentation LUT burnt into the pixels: no Presentation LUT SOP Class")
        elif shapes - {None, "IDENTITY"}:
            changes.append(
                f"Presentation LUT {'/'.join(sorted(map(str, shapes)))} left out: no Presentation LUT SOP Class"
            )
    mapped = []
    for box in boxes:
        image: Image | None = box.image
        plut = box.presentation_lut
        if isinstance(image, ColorImage) and capabilities.color is False:
            image = image.grayscale()
        if isinstance(image, GrayscaleImage) and plut is not None and not send_lut and plut.lut_data is not None:
            image = burn_in(image, plut)
        if (eight or color_session) and isinstance(image, GrayscaleImage) and image.bits_stored == 12:
            image = _to_8_bit(image)
            plut = lut_to_8_bit(plut) if plut is not None else None
        if color_session and isinstance(image, GrayscaleImage):
            image = _grey_rgb(image)
        mapped.append(dataclasses.replace(box, image=image, presentation_lut=plut if send_lut else None))
    return tuple(mapped), send_lut


def map_film(
    film: FilmSnapshot, capabilities: TargetCapabilities, force_8_bit: bool = False, color_session: bool = False
) -> MappedFilm:
    """`film` as the target gets it (see the module docstring for the table); `force_8_bit`: the target
    refused 12-bit pixels at run time; `color_session`: the film goes under Basic Color Print Management."""
    changes: list[str] = []
    left_out: set[str] = set()
    size = film.film_size_id
    if capabilities.film_size_ids and size not in capabilities.film_size_ids:
        nearest = film_sizes_by_nearness(size, capabilities.film_size_ids)
        if nearest:
            changes.append(f"Film Size ID {size} -> {nearest[0]}")
            size = nearest[0]
    magnification = _nearest(
        "MagnificationType", "Magnification Type", film.magnification_type, capabilities.magnification_types, changes
    )
    smoothing = film.smoothing_type
    if smoothing and capabilities.smoothing_types and smoothing not in capabilities.smoothing_types:
        choices = [s for s in SMOOTHING_PREFERENCES.get(smoothing, ()) if s in capabilities.smoothing_types]
        if choices:
            changes.append(f"Smoothing Type {smoothing} -> {choices[0]}")
            smoothing = choices[0]
        else:
            changes.append(
                f"Smoothing Type {smoothing} left out: the target has {', '.join(capabilities.smoothing_types)}"
            )
            left_out.add("SmoothingType")
    low, high = _densities(film.min_density, film.max_density, capabilities)
    if (low, high) != (film.min_density, film.max_density):
        changes.append(f"Min\\Max Density {film.min_density}\\{film.max_density} -> {low}\\{high}")
    fmt = _display_format(film, capabilities, changes)
    boxes = _image_boxes(film, fmt, capabilities, changes)
    boxes, send_lut = _images(boxes, capabilities, force_8_bit, color_session, changes)
    annotations = film.annotations
    annotation_format = film.annotation_display_format_id
    if annotations and capabilities.annotation is False:
        changes.append(f"{len(annotations)} annotations left out: no Basic Annotation Box")
        annotations, annotation_format = (), ""
    elif capabilities.annotation is False:
        annotation_format = ""
    elif (
        annotation_format
        and capabilities.annotation_display_format_ids
        and annotation_format not in capabilities.annotation_display_format_ids
    ):
        new_format = capabilities.annotation_display_format_ids[0]
        changes.append(f"Annotation Display Format ID {annotation_format} -> {new_format}")
        annotation_format = new_format
    for keyword, label, supported, present in (
        ("Trim", "Trim", capabilities.trim, film.trim is Trim.YES),
        (
            "RequestedImageSize",
            "Requested Image Size",
            capabilities.requested_image_size,
            any(b.requested_image_size for b in boxes),
        ),
        (
            "RequestedDecimateCropBehavior",
            "Requested Decimate/Crop Behavior",
            capabilities.decimate_crop,
            any(b.requested_decimate_crop_behavior for b in boxes),
        ),
    ):
        if supported is False and present:
            changes.append(f"{label} left out: the target does not support it")
            left_out.add(keyword)
    mapped = dataclasses.replace(
        film,
        film_size_id=size,
        image_display_format=fmt,
        magnification_type=type(film.magnification_type)(magnification),
        smoothing_type=smoothing,
        min_density=low,
        max_density=high,
        border_density=_density_text(film.border_density, capabilities),
        empty_image_density=_density_text(film.empty_image_density, capabilities),
        image_boxes=boxes,
        annotations=annotations,
        annotation_display_format_id=annotation_format,
        referenced_presentation_lut=film.referenced_presentation_lut if send_lut else None,
    )
    return MappedFilm(mapped, send_lut, tuple(changes), frozenset(left_out))
