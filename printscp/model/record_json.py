"""The film record as bytes: `dump_request` / `load_request`, the one serialiser pair of model/record.py's types.

The spool's job.json and the archive's manifest.json are both this format (issue 10 item 3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

import numpy as np

from printscp.model.enums import (
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedDecimateCropBehavior,
)
from printscp.model.layout import ImageDisplayFormat
from printscp.model.mapped_pixels import release_pages
from printscp.model.record import (
    AnnotationSnapshot,
    ColorImage,
    FilmBoxAttributes,
    FilmSnapshot,
    GrayscaleImage,
    Image,
    ImageBoxSnapshot,
    Pixels,
    PresentationLUTSnapshot,
    PrintRequest,
    ProposedStudy,
    frozen_mapping,
)

# --- the record as JSON ------------------------------------------------------------------------------
#
# Version 1, one JSON object, shaped like the manifest of an archived job so that the manifest is this
# object with the archive's own entries added (file names, checksums, where each image landed):
#
#   {"version": 1, "calling_ae_title", "called_ae_title", "printer", "association_id", "requested_at": ISO 8601,
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
#   (version 2: "photometric_interpretation" may be "RGB", a colour image)
#
# "printer" (the AE title of the printer that printed it) came with several printers; a record without it was
# printed by the printer its Called AE Title names.
# All films of one request come from one Film Session (PS3.4 H.4.1.2.4), so its attributes are written once.
# Version 0 is what printscp wrote before: the spool's job.json ("request", the dataclasses field by field)
# and the archive's manifest.json (no image box attributes beyond the image's); both still load.

RECORD_VERSION = 2
# Version 2 adds colour images: "photometric_interpretation": "RGB" (8 bits stored, pixels rows x columns x 3).
# A record without one is written as version 1, which printscp before colour reads.
_GRAYSCALE_VERSION = 1

_SESSION_FIELDS = ("film_session_uid", "medium_type", "film_destination", "owner_id", "specific_character_set")


def dump_request(request: PrintRequest, image_name: Callable[[Image], str | None]) -> bytes:
    """The record as UTF-8 JSON; `image_name` gives the file holding an image's pixels, or None to
    describe the image by a SHA-256 of its pixels instead (the archive keeps no pixels)."""
    if not request.films:
        raise ValueError("a print request has at least one film")
    first = request.films[0]
    for film in request.films[1:]:
        if any(getattr(film, name) != getattr(first, name) for name in _SESSION_FIELDS):
            raise ValueError(f"film box {film.film_box_uid} is of another Film Session than the first film")
    document = {
        "version": RECORD_VERSION if any(film.color for film in request.films) else _GRAYSCALE_VERSION,
        "calling_ae_title": request.calling_ae_title,
        "called_ae_title": request.called_ae_title,
        "printer": request.printer,
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
    if version in (_GRAYSCALE_VERSION, RECORD_VERSION) or (
        version == 0 and "film_session" in document
    ):  # v0 manifest: same shape
        return _load_v1(document, load_image)
    if version == 0:
        return _load_v0_spool(document, load_image)
    raise ValueError(f"film record version {version} is newer than this printscp reads ({RECORD_VERSION})")


def pixels_sha256(pixels: Pixels) -> str:
    """SHA-256 of the pixel bytes in row order, hashed where they lie (a copy only for a strided view).

    Pixels memory-mapped from the spool are read once and their pages given back (model/mapped_pixels.py),
    so describing a film's images does not leave them all resident.
    """
    digest = hashlib.sha256(np.ascontiguousarray(pixels).data).hexdigest()
    release_pages(pixels)
    return digest


def _dump_film(film: FilmSnapshot, image_name: Callable[[Image], str | None]) -> dict[str, Any]:
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


def _dump_box(box: ImageBoxSnapshot, film: FilmSnapshot, image_name: Callable[[Image], str | None]) -> dict[str, Any]:
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
        photometric_interpretation=str(image.photometric_interpretation),
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
        printer=document.get("printer", ""),
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
    image: Image | None = None
    if not box.get("empty"):
        rows, columns, bits = box["rows"], box["columns"], box["bits_stored"]
        aspect = _pair(box.get("pixel_aspect_ratio", (1, 1)))
        if box["photometric_interpretation"] == ColorImage.photometric_interpretation:
            pixels = _pixels(box.get("pixels"), rows, columns, bits, load_image, 3)
            image = ColorImage(rows, columns, aspect, pixels.astype(np.uint8, copy=False))
        else:
            image = GrayscaleImage(
                rows,
                columns,
                bits,
                PhotometricInterpretation(box["photometric_interpretation"]),
                aspect,
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


def _pixels(
    name: str | None,
    rows: int,
    columns: int,
    bits: int,
    load_image: Callable[[str], Pixels] | None,
    samples: int = 1,
) -> Pixels:
    if name is not None and load_image is not None:
        return load_image(name)
    shape = (rows, columns) if samples == 1 else (rows, columns, samples)
    stand_in: Pixels = np.broadcast_to(np.zeros(1, dtype=np.uint8 if bits <= 8 else np.uint16), shape)
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
