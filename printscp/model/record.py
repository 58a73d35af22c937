"""The film record: what one accepted N-ACTION froze, immutable and typed, and its one serialisation.

PS3.4 H.4.1.2.4.1 / H.4.2.2.4.1: when a Film Session or Film Box N-ACTION is accepted, the films it prints
are copied out of the association's hierarchy (model/session.py) into these frozen values, sharing the
read-only pixel arrays. The same record is what the spool keeps (job.json), what the renderer draws, what
the archive indexes and what its manifest says. `dump_request` / `load_request` are the only way it is
written and read (see "the record as JSON" below): pixels never go into the JSON; the caller names a file
for each image, or the image is described by its shape and a SHA-256 of its pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any

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

Pixels = npt.NDArray[np.uint8] | npt.NDArray[np.uint16]


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
    image: GrayscaleImage | None
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

    @property
    def collated_order(self) -> tuple[int, ...]:
        """Film indices in print order: copies collated, 1-2-3-1-2-3 (PS3.4 H.4.1.2.4.1)."""
        return tuple(range(len(self.films))) * self.number_of_copies


@dataclass(frozen=True)
class FilmLayout:
    """A film's geometry and where each of its images lands (see model/layout.py)."""

    geometry: FilmGeometry
    placements: Mapping[int, Placement]  # Image Box Position -> placement, for boxes holding an image
    dpi: int  # the printer raster resolution of the film's Requested Resolution ID

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


# --- the record as JSON ------------------------------------------------------------------------------
#
# Version 1, one JSON object, shaped like the manifest of an archived job so that the manifest is this
# object with the archive's own entries added (file names, checksums, where each image landed):
#
#   {"version": 1, "calling_ae_title", "called_ae_title", "association_id", "requested_at": ISO 8601,
#    "film_session": {"sop_instance_uid", "film_session_label", "owner_id", "number_of_copies",
#                     "print_priority", "medium_type", "film_destination", "specific_character_set": [...],
#                     "proposed_study": {keyword: value} | null},
#    "films": [{"film_box_uid", "film_box_number", "image_display_format": "STANDARD\\2,2", Film Box
#               attributes by keyword, "annotations": [{"annotation_position", "text_string"}],
#               "image_boxes": [{"image_box_position", Image Box attributes, "presentation_lut": {...} | null,
#                                "original_image": [...], then either "empty": true (with only the attributes
#                                that differ from the film box's or the defaults) or the image:
#                                "rows", "columns", "bits_stored", "photometric_interpretation",
#                                "pixel_aspect_ratio", and "pixels": file name or "pixels_sha256"}]}]}
#
# All films of one request come from one Film Session (PS3.4 H.4.1.2.4), so its attributes are written once.
# Version 0 is what printscp wrote before: the spool's job.json ("request", the dataclasses field by field)
# and the archive's manifest.json (no image box attributes beyond the image's); both still load.

RECORD_VERSION = 1

_SESSION_FIELDS = ("film_session_uid", "medium_type", "film_destination", "owner_id", "specific_character_set")


def dump_request(request: PrintRequest, image_name: Callable[[GrayscaleImage], str | None]) -> bytes:
    """The record as UTF-8 JSON; `image_name` gives the file holding an image's pixels, or None to
    describe the image by a SHA-256 of its pixels instead (the archive keeps no pixels)."""
    if not request.films:
        raise ValueError("a print request has at least one film")
    first = request.films[0]
    for film in request.films[1:]:
        if any(getattr(film, name) != getattr(first, name) for name in _SESSION_FIELDS):
            raise ValueError(f"film box {film.film_box_uid} is of another Film Session than the first film")
    document = {
        "version": RECORD_VERSION,
        "calling_ae_title": request.calling_ae_title,
        "called_ae_title": request.called_ae_title,
        "association_id": request.association_id,
        "requested_at": request.requested_at.isoformat(),
        "film_session": {
            "sop_instance_uid": first.film_session_uid,
            "film_session_label": request.film_session_label,
            "owner_id": first.owner_id,
            "number_of_copies": request.number_of_copies,
            "print_priority": request.print_priority.value,
            "medium_type": first.medium_type,
            "film_destination": first.film_destination,
            "specific_character_set": list(first.specific_character_set),
            "proposed_study": dict(request.proposed_study.attributes) if request.proposed_study else None,
        },
        "films": [_dump_film(film, image_name) for film in request.films],
    }
    return json.dumps(document, ensure_ascii=False).encode()


def load_request(data: bytes, load_image: Callable[[str], Pixels] | None) -> PrintRequest:
    """The record `dump_request` wrote (or version 0 wrote); `load_image` reads an image file by name.

    Without `load_image` (a manifest: the archive keeps no pixels) each image's pixels are a read-only,
    zero-filled stand-in of its shape, which nothing there reads.
    """
    document = json.loads(data)
    version = document.get("version", 0)
    if version == RECORD_VERSION or (version == 0 and "film_session" in document):  # v0 manifest: same shape
        return _load_v1(document, load_image)
    if version == 0:
        return _load_v0_spool(document, load_image)
    raise ValueError(f"film record version {version} is newer than this printscp reads ({RECORD_VERSION})")


def pixels_sha256(pixels: Pixels) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def _dump_film(film: FilmSnapshot, image_name: Callable[[GrayscaleImage], str | None]) -> dict[str, Any]:
    return {
        "film_box_uid": film.film_box_uid,
        "film_box_number": film.film_box_number,
        "film_session_label": film.film_session_label,
        **_dump_film_box_attributes(film),
        "annotations": [
            {"annotation_position": a.annotation_position, "text_string": a.text_string} for a in film.annotations
        ],
        "image_boxes": [_dump_box(box, film, image_name) for box in film.image_boxes],
    }


def _dump_box(
    box: ImageBoxSnapshot, film: FilmSnapshot, image_name: Callable[[GrayscaleImage], str | None]
) -> dict[str, Any]:
    plut = box.presentation_lut
    entry: dict[str, Any] = {
        "image_box_position": box.image_box_position,
        "polarity": box.polarity.value,
        "magnification_type": box.magnification_type.value,
        "smoothing_type": box.smoothing_type,
        "min_density": box.min_density,
        "max_density": box.max_density,
        "configuration_information": box.configuration_information,
        "requested_image_size": box.requested_image_size,
        "requested_decimate_crop_behavior": _value(box.requested_decimate_crop_behavior),
        "presentation_lut": None
        if plut is None
        else {
            "sop_instance_uid": plut.sop_instance_uid,
            "presentation_lut_shape": _value(plut.presentation_lut_shape),
            "lut_descriptor": list(plut.lut_descriptor) if plut.lut_descriptor else None,
            "lut_data": plut.lut_data.tolist() if plut.lut_data is not None else None,
        },
        "original_image": [dict(item) for item in box.original_image],
    }
    image = box.image
    if image is None:  # only what differs from its film box and the defaults: an empty box is mostly empty
        usual = {**_BOX_DEFAULTS, **{name: _json(getattr(film, name)) for name in _INHERITED}}
        return {
            **{key: value for key, value in entry.items() if key not in usual or value != usual[key]},
            "empty": True,
        }
    entry.update(
        rows=image.rows,
        columns=image.columns,
        bits_stored=image.bits_stored,
        photometric_interpretation=image.photometric_interpretation.value,
        pixel_aspect_ratio=list(image.pixel_aspect_ratio),
    )
    name = image_name(image)
    if name is None:
        entry["pixels_sha256"] = pixels_sha256(image.pixels)
    else:
        entry["pixels"] = name
    return entry


def _json(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _value(member: PresentationLUTShape | RequestedDecimateCropBehavior | None) -> str | None:
    return None if member is None else member.value


def _load_v1(document: dict[str, Any], load_image: Callable[[str], Pixels] | None) -> PrintRequest:
    session = document["film_session"]
    study = session.get("proposed_study")
    films = tuple(_load_film(film, session, load_image) for film in document["films"])
    return PrintRequest(
        films=films,
        number_of_copies=int(session["number_of_copies"]),
        print_priority=PrintPriority(session["print_priority"]),
        film_session_label=session["film_session_label"],
        calling_ae_title=document["calling_ae_title"],
        called_ae_title=document["called_ae_title"],
        requested_at=datetime.fromisoformat(document["requested_at"]),
        proposed_study=ProposedStudy(frozen_mapping(study)) if study is not None else None,
        association_id=document.get("association_id", ""),
    )


# Film Box attributes are written by name, each as its JSON value, so that a new row of BASIC_FILM_BOX
# (model/sop_classes.py) with its FilmBoxAttributes field is recorded without a change here.
_FILM_BOX_FIELDS = {f.name: f for f in dataclasses.fields(FilmBoxAttributes)}


def _dump_film_box_attributes(film: FilmBoxAttributes) -> dict[str, Any]:
    values = {}
    for name in _FILM_BOX_FIELDS:
        value = getattr(film, name)
        values[name] = (
            value.value if isinstance(value, Enum) else str(value) if isinstance(value, ImageDisplayFormat) else value
        )
    return values


def _load_film_box_attributes(film: dict[str, Any]) -> dict[str, Any]:
    """The fields of FilmBoxAttributes from their JSON values; a field an older record lacks takes its default."""
    hints = typing.get_type_hints(FilmBoxAttributes)
    values: dict[str, Any] = {}
    for name, spec in _FILM_BOX_FIELDS.items():
        if name not in film:
            if spec.default is dataclasses.MISSING:
                raise ValueError(f"film record without {name}")
            continue
        raw, kind = film[name], hints[name]
        if raw is None:
            values[name] = None
        elif kind is ImageDisplayFormat:
            values[name] = ImageDisplayFormat.parse(raw)
        elif isinstance(kind, type) and issubclass(kind, Enum):
            values[name] = kind(raw)
        else:
            values[name] = raw
    return values


def _load_film(
    film: dict[str, Any], session: dict[str, Any], load_image: Callable[[str], Pixels] | None
) -> FilmSnapshot:
    return FilmSnapshot(
        film_session_uid=session["sop_instance_uid"],
        film_box_uid=film["film_box_uid"],
        medium_type=session["medium_type"],
        film_destination=session["film_destination"],
        film_session_label=film.get("film_session_label", session["film_session_label"]),
        owner_id=session["owner_id"],
        specific_character_set=tuple(session["specific_character_set"]),
        **_load_film_box_attributes(film),
        # a v0 manifest kept only the image's own attributes: the rest are the film box's
        image_boxes=tuple(
            _load_box({**_BOX_DEFAULTS, **_inherited(film), **box}, load_image) for box in film["image_boxes"]
        ),
        annotations=tuple(AnnotationSnapshot(a["annotation_position"], a["text_string"]) for a in film["annotations"]),
        film_box_number=film.get("film_box_number", 1),
    )


_INHERITED = ("magnification_type", "smoothing_type", "min_density", "max_density", "configuration_information")
_BOX_DEFAULTS: dict[str, Any] = {
    "polarity": Polarity.NORMAL.value,
    "requested_image_size": None,
    "requested_decimate_crop_behavior": None,
    "presentation_lut": None,
    "original_image": [],
}


def _inherited(film: dict[str, Any]) -> dict[str, Any]:
    return {name: film[name] for name in _INHERITED}


def _load_box(box: dict[str, Any], load_image: Callable[[str], Pixels] | None) -> ImageBoxSnapshot:
    image = None
    if not box.get("empty"):
        rows, columns, bits = box["rows"], box["columns"], box["bits_stored"]
        image = GrayscaleImage(
            rows,
            columns,
            bits,
            PhotometricInterpretation(box["photometric_interpretation"]),
            _pair(box.get("pixel_aspect_ratio", (1, 1))),
            _pixels(box.get("pixels"), rows, columns, bits, load_image),
        )
    plut, crop = box["presentation_lut"], box["requested_decimate_crop_behavior"]
    return ImageBoxSnapshot(
        image_box_position=box["image_box_position"],
        image=image,
        polarity=Polarity(box["polarity"]),
        magnification_type=MagnificationType(box["magnification_type"]),
        smoothing_type=box["smoothing_type"],
        min_density=box["min_density"],
        max_density=box["max_density"],
        configuration_information=box["configuration_information"],
        requested_image_size=box["requested_image_size"],
        requested_decimate_crop_behavior=RequestedDecimateCropBehavior(crop) if crop else None,
        presentation_lut=_load_plut(plut) if plut else None,
        original_image=tuple(frozen_mapping(item) for item in box["original_image"]),
    )


def _load_plut(plut: dict[str, Any]) -> PresentationLUTSnapshot:
    shape, descriptor, data = plut["presentation_lut_shape"], plut["lut_descriptor"], plut["lut_data"]
    table = None
    if data is not None:
        table = np.asarray(data, dtype=np.uint16)
        table.flags.writeable = False
    return PresentationLUTSnapshot(
        plut["sop_instance_uid"],
        PresentationLUTShape(shape) if shape else None,
        _triple(descriptor) if descriptor else None,
        table,
    )


def _pixels(name: str | None, rows: int, columns: int, bits: int, load_image: Callable[[str], Pixels] | None) -> Pixels:
    if name is not None and load_image is not None:
        return load_image(name)
    stand_in: Pixels = np.broadcast_to(np.zeros(1, dtype=np.uint8 if bits <= 8 else np.uint16), (rows, columns))
    return stand_in


def _pair(values: Any) -> tuple[int, int]:
    first, second = values
    return int(first), int(second)


def _triple(values: Any) -> tuple[int, int, int]:
    first, second, third = values
    return int(first), int(second), int(third)


def _load_v0_spool(document: dict[str, Any], load_image: Callable[[str], Pixels] | None) -> PrintRequest:
    """Version 0 of the spool: the request's dataclasses field by field, as spool.py wrote them."""
    films = []
    for film in document["films"]:
        fmt = film["image_display_format"]  # written as the dataclass {"kind", "counts"}
        session = {
            "sop_instance_uid": film["film_session_uid"],
            "film_session_label": film["film_session_label"],
            **{name: film[name] for name in _SESSION_FIELDS[1:]},
        }
        boxes = []
        for box in film["image_boxes"]:
            image = box.pop("image")
            boxes.append({**box, **image} if image is not None else {**box, "empty": True})
        v1 = {
            **film,
            "image_boxes": boxes,
            "image_display_format": str(ImageDisplayFormat(fmt["kind"], tuple(fmt["counts"]))),
        }
        films.append(_load_film(v1, session, load_image))
    study = document.get("proposed_study")
    return PrintRequest(
        films=tuple(films),
        number_of_copies=int(document["number_of_copies"]),
        print_priority=PrintPriority(document["print_priority"]),
        film_session_label=document["film_session_label"],
        calling_ae_title=document["calling_ae_title"],
        called_ae_title=document["called_ae_title"],
        requested_at=datetime.fromisoformat(document["requested_at"]),
        proposed_study=ProposedStudy(frozen_mapping(study["attributes"])) if study is not None else None,
    )
