"""The film record: what one accepted N-ACTION froze, immutable and typed, and its one serialisation.

PS3.4 H.4.1.2.4.1 / H.4.2.2.4.1: when a Film Session or Film Box N-ACTION is accepted, the films it prints
are copied out of the association's hierarchy (model/session.py) into these frozen values, sharing the
read-only pixel arrays. The same record is what the spool keeps (job.json), what the renderer draws, what
the archive indexes and what its manifest says. `dump_request` / `load_request` are the only way it is
written and read (see "the record as JSON" below): pixels never go into the JSON; the caller names a file
for each image, or the image is described by its shape and a SHA-256 of its pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from printscp.errors import InvalidAttributeValue
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import FilmGeometry, ImageDisplayFormat, Placement, Rect, film_geometry, place_image
from printscp.model.profile import PrinterProfile
from printscp.status import Status

Pixels = npt.NDArray[np.uint8] | npt.NDArray[np.uint16]  # grayscale rows x columns, colour rows x columns x 3


@dataclass(frozen=True)
class GrayscaleImage:
    """The Basic Grayscale Image Sequence item of an Image Box (PS3.4 H.4.3.1.2.1)."""

    rows: int
    columns: int
    bits_stored: int  # 8 or 12; Bits Allocated is 8 or 16 accordingly
    photometric_interpretation: PhotometricInterpretation
    pixel_aspect_ratio: tuple[int, int]  # row spacing \ column spacing; 1\1 when absent
    pixels: Pixels  # rows x columns, read-only

    def __post_init__(self) -> None:
        self.pixels.flags.writeable = False


@dataclass(frozen=True)
class ColorImage:
    """The Basic Color Image Sequence item of a Basic Color Image Box (PS3.4 H.4.3.2.2.1, PS3.3 C.13.5):
    8-bit RGB, its pixels rows x columns x 3 (R, G, B of each pixel together, whichever Planar
    Configuration they arrived in)."""

    rows: int
    columns: int
    pixel_aspect_ratio: tuple[int, int]  # row spacing \ column spacing; 1\1 when absent
    pixels: npt.NDArray[np.uint8]  # rows x columns x 3, read-only

    bits_stored = 8  # PS3.3 C.13.5: colour print pixels are 8 bits per sample
    photometric_interpretation = "RGB"

    def __post_init__(self) -> None:
        self.pixels.flags.writeable = False

    def grayscale(self) -> GrayscaleImage:
        """The image as 8-bit MONOCHROME2 luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B): for a printer
        without colour, and for reading the text burnt into it."""
        luma = np.rint(np.asarray(self.pixels, dtype=np.float64) @ np.array([0.299, 0.587, 0.114]))
        return GrayscaleImage(
            self.rows,
            self.columns,
            8,
            PhotometricInterpretation.MONOCHROME2,
            self.pixel_aspect_ratio,
            luma.astype(np.uint8),
        )


Image = GrayscaleImage | ColorImage  # the image of an image box, of the class its Meta SOP Class gives


@dataclass(frozen=True)
class PresentationLUTSnapshot:
    """The Presentation LUT an image box prints with (PS3.4 H.4.9), as it was at N-ACTION."""

    sop_instance_uid: str
    presentation_lut_shape: PresentationLUTShape | None
    lut_descriptor: tuple[int, int, int] | None
    lut_data: npt.NDArray[np.uint16] | None


@dataclass(frozen=True)
class ProposedStudy:
    """Patient and study identity from the Proposed Study Sequence (2130,00A0), keyword -> value."""

    attributes: Mapping[str, str]


@dataclass(frozen=True)
class ImageBoxSnapshot:
    """One Image Box of a printed film, with the film box's values filled in where it had none."""

    image_box_position: int
    image: Image | None
    polarity: Polarity
    magnification_type: MagnificationType
    smoothing_type: str
    min_density: int
    max_density: int
    configuration_information: str
    requested_image_size: float | None
    requested_decimate_crop_behavior: RequestedDecimateCropBehavior | None
    presentation_lut: PresentationLUTSnapshot | None
    original_image: tuple[Mapping[str, str], ...] = ()  # the modality's source instances, when it said


@dataclass(frozen=True)
class AnnotationSnapshot:
    """The text of one Annotation Box (PS3.3 C.13.7) of a printed film."""

    annotation_position: int
    text_string: str


@dataclass(frozen=True, kw_only=True)
class FilmBoxAttributes:
    """The Basic Film Box attributes (PS3.3 C.13.3) a film is printed with: each is a row of BASIC_FILM_BOX
    in model/sop_classes.py, as the SCU set it or the printer defaulted it. The live Film Box holds one of
    these and replaces it on N-SET; a film record is one, with what else the film needs."""

    image_display_format: ImageDisplayFormat
    film_orientation: FilmOrientation
    film_size_id: str
    magnification_type: MagnificationType
    smoothing_type: str
    max_density: int
    min_density: int
    configuration_information: str
    border_density: str
    empty_image_density: str
    trim: Trim
    illumination: int | None  # None: the printer's value for the medium
    reflected_ambient_light: int | None  # None: the printer's
    requested_resolution_id: RequestedResolutionID
    annotation_display_format_id: str  # "": none
    referenced_presentation_lut: str | None = None  # SOP Instance UID of the film's Presentation LUT

    def __post_init__(self) -> None:
        if self.min_density >= self.max_density:
            raise InvalidAttributeValue(
                f"Min Density {self.min_density} must be below Max Density {self.max_density}",
                [0x20100120, 0x20100130],
            )


@dataclass(frozen=True, kw_only=True)
class FilmSnapshot(FilmBoxAttributes):
    """Everything needed to render one film, frozen at N-ACTION time: its Film Box attributes, the Film
    Session's that matter to it, its image boxes with their values resolved, and its annotations."""

    film_session_uid: str
    film_box_uid: str
    medium_type: str
    film_destination: str
    film_session_label: str
    owner_id: str
    specific_character_set: tuple[str, ...]
    image_boxes: tuple[ImageBoxSnapshot, ...]
    annotations: tuple[AnnotationSnapshot, ...]
    film_box_number: int = 1  # position of the film box in its Film Session, from 1

    @property
    def image_count(self) -> int:
        return sum(box.image is not None for box in self.image_boxes)

    @property
    def color(self) -> bool:
        """Whether the film holds a colour image (of a Basic Color Image Box: its Film Box was created under the
        colour Meta SOP Class). A colour film box printed with no image holds none, and counts as grayscale."""
        return any(isinstance(box.image, ColorImage) for box in self.image_boxes)


@dataclass(frozen=True)
class PrintRequest:
    """The film record of one accepted N-ACTION: films in order, copies of each, and its provenance
    (who asked, on which association, when)."""

    films: tuple[FilmSnapshot, ...]
    number_of_copies: int
    print_priority: PrintPriority
    film_session_label: str
    calling_ae_title: str
    called_ae_title: str
    requested_at: datetime
    proposed_study: ProposedStudy | None
    association_id: str = ""  # the association that asked (engine.AssociationInfo)
    printer: str = ""  # AE title of the printer that prints it ("" in records of one-printer days: called_ae_title)

    @property
    def printer_ae_title(self) -> str:
        """The printer (config.toml [printers.AE], or [printer] under network.ae_title) that prints it."""
        return self.printer or self.called_ae_title

    @property
    def collated_order(self) -> tuple[int, ...]:
        """Film indices in print order: copies collated, 1-2-3-1-2-3 (PS3.4 H.4.1.2.4.1)."""
        return tuple(range(len(self.films))) * self.number_of_copies


@dataclass(frozen=True)
class FilmLayout:
    """A film's geometry and where each of its images lands (see model/layout.py)."""

    geometry: FilmGeometry
    placements: Mapping[int, Placement]  # Image Box Position -> placement, for boxes holding an image
    dpi: int  # the printer's resolution for the film's Requested Resolution ID: the grid images are placed on

    @property
    def statuses(self) -> list[Status]:
        """The fit warnings (B604, B609, B60A) of the film's images, each once, in position order."""
        found = (p.status for _, p in sorted(self.placements.items()) if p.status is not None)
        return list(dict.fromkeys(found))


def geometry_of(
    film_size_id: str,
    orientation: FilmOrientation,
    fmt: ImageDisplayFormat,
    annotation_display_format_id: str,
    profile: PrinterProfile,
) -> FilmGeometry:
    """The cells and annotation boxes of a film box; LayoutError when the layout is not the printer's."""
    annotation = profile.annotation_display_formats.get(annotation_display_format_id)
    if annotation is None:
        return film_geometry(film_size_id, orientation, fmt, profile.layout_tables)
    return film_geometry(film_size_id, orientation, fmt, profile.layout_tables, annotation.image_area, annotation.boxes)


def layout_film(film: FilmSnapshot, profile: PrinterProfile) -> FilmLayout:
    """Geometry and placements of a frozen film; raises PrintError C603 when an image cannot be printed."""
    geometry = geometry_of(
        film.film_size_id, film.film_orientation, film.image_display_format, film.annotation_display_format_id, profile
    )
    dpi = profile.dpi(film.requested_resolution_id.value)
    placements = {
        box.image_box_position: place(cell, box, dpi, profile)
        for cell, box in zip(geometry.cells, film.image_boxes, strict=True)
        if box.image is not None
    }
    return FilmLayout(geometry, placements, dpi)


def place(cell: Rect, box: ImageBoxSnapshot, dpi: int, profile: PrinterProfile) -> Placement:
    """Where an image box's image lands in its cell; PrintError C603 if it cannot be printed."""
    image = box.image
    assert image is not None
    default = RequestedDecimateCropBehavior(profile.defaults.requested_decimate_crop_behavior)
    return place_image(
        cell,
        image.rows,
        image.columns,
        image.pixel_aspect_ratio,
        box.magnification_type,
        box.requested_image_size,
        box.requested_decimate_crop_behavior,
        default,
        dpi,
    )


def frozen_mapping(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class PrintedImage:
    """Where the renderer put one image box's image on its film."""

    image_box_position: int
    rect_pt: tuple[float, float, float, float]  # x, y, width, height in points, from the film's top left
    printed_rows: int  # the image's pixels after magnification
    printed_columns: int


@dataclass(frozen=True)
class RenderedFilm:
    """One film as the renderer produced it: plain values, so the archive needs no renderer."""

    pdf: bytes
    png: bytes
    page_size_pt: tuple[float, float]
    dpi: int  # of the PNG
    images: tuple[PrintedImage, ...]


@dataclass(frozen=True)
class RenderedJob:
    films: tuple[RenderedFilm, ...]  # one per distinct film, in the order of the request
    print_pdf: bytes | None  # every sheet in print order, when there is more than one
