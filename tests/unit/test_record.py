"""The film record's one serialisation: round trip, and records written by the previous version still load."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

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
from printscp.model.layout import ImageDisplayFormat
from printscp.model.record import (
    AnnotationSnapshot,
    FilmBoxAttributes,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
    PrintRequest,
    ProposedStudy,
    frozen_mapping,
)
from printscp.model.record_json import RECORD_VERSION, dump_request, load_request, pixels_sha256
from printscp.spool import Spool

V0 = Path(__file__).parent.parent / "data" / "record-v0"
JOB_UID = "1.2.826.0.1.3680043.2.1125.99.1"


def v0_request() -> PrintRequest:
    """The request tests/data/record-v0/make_v0.py.txt spooled and archived with the previous version."""
    img12 = GrayscaleImage(
        6, 8, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), np.arange(48, dtype=np.uint16).reshape(6, 8) * 80
    )
    img8 = GrayscaleImage(
        8, 4, 8, PhotometricInterpretation.MONOCHROME1, (2, 1), np.arange(32, dtype=np.uint8).reshape(8, 4) * 7
    )
    lut = np.linspace(0, 4095, 256).astype(np.uint16)
    table = PresentationLUTSnapshot("1.2.826.0.1.3680043.2.1125.9.1", None, (256, 0, 12), lut)
    shape = PresentationLUTSnapshot("1.2.826.0.1.3680043.2.1125.9.2", PresentationLUTShape.IDENTITY, None, None)
    original = (
        frozen_mapping(
            {
                "ReferencedSOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
                "ReferencedSOPInstanceUID": "1.2.826.0.1.3680043.2.1125.7.1",
            }
        ),
    )

    def box(
        position: int,
        image: GrayscaleImage | None,
        plut: PresentationLUTSnapshot | None = None,
        original: tuple[dict[str, str], ...] = (),
        size: float | None = None,
        crop: RequestedDecimateCropBehavior | None = None,
        polarity: Polarity = Polarity.NORMAL,
    ) -> ImageBoxSnapshot:
        return ImageBoxSnapshot(
            position, image, polarity, MagnificationType.REPLICATE, "MEDIUM", 20, 300, "", size, crop, plut, original
        )

    def film(
        number: int,
        fmt: str,
        boxes: list[ImageBoxSnapshot],
        annotations: tuple[AnnotationSnapshot, ...] = (),
        annotation_format: str = "",
    ) -> FilmSnapshot:
        return FilmSnapshot(
            film_session_uid="1.2.826.0.1.3680043.2.1125.1",
            film_box_uid=f"1.2.826.0.1.3680043.2.1125.2.{number}",
            medium_type="BLUE FILM",
            film_destination="MAGAZINE",
            film_session_label="Ünïcode label",
            owner_id="OWNER",
            specific_character_set=("ISO_IR 192",),
            image_display_format=ImageDisplayFormat.parse(fmt),
            film_orientation=FilmOrientation.PORTRAIT,
            film_size_id="8INX10IN",
            magnification_type=MagnificationType.REPLICATE,
            smoothing_type="MEDIUM",
            max_density=300,
            min_density=20,
            configuration_information="",
            border_density="BLACK",
            empty_image_density="WHITE",
            trim=Trim.NO,
            illumination=2000,
            reflected_ambient_light=None,
            requested_resolution_id=RequestedResolutionID.STANDARD,
            annotation_display_format_id=annotation_format,
            image_boxes=tuple(boxes),
            annotations=annotations,
            film_box_number=number,
        )

    films = (
        film(
            1,
            "STANDARD\\1,2",
            [box(1, img12, shape, original, 50.0, RequestedDecimateCropBehavior.DECIMATE), box(2, None)],
            (AnnotationSnapshot(1, "TOP TEXT"), AnnotationSnapshot(2, "bottom")),
            "TOP_BOTTOM",
        ),
        film(2, "STANDARD\\1,1", [box(1, img8, table, polarity=Polarity.REVERSE)]),
    )
    study = {"PatientName": "DOE^JOHN", "PatientID": "P1", "StudyInstanceUID": "1.2.826.0.1.3680043.2.1125.3"}
    return PrintRequest(
        films,
        2,
        PrintPriority.HIGH,
        "Ünïcode label",
        "MODALITY",
        "PRINTSCP",
        datetime(2026, 3, 15, 10, 15, 30, 123456, tzinfo=timezone(timedelta(hours=1))),
        ProposedStudy(frozen_mapping(study)),
    )


def assert_same(loaded: PrintRequest, expected: PrintRequest) -> None:
    """Equal records: every field (the pixels by their SHA-256), then the pixels themselves."""
    assert dump_request(loaded, lambda image: None) == dump_request(expected, lambda image: None)
    for got, want in zip(loaded.films, expected.films, strict=True):
        for a, b in zip(got.image_boxes, want.image_boxes, strict=True):
            assert (a.image is None) == (b.image is None)
            if a.image is not None and b.image is not None:
                assert a.image.pixels.dtype == b.image.pixels.dtype
                np.testing.assert_array_equal(a.image.pixels, b.image.pixels)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    request = PrintRequest(**{**v0_request().__dict__, "association_id": "assoc-7"})
    files: dict[str, np.ndarray] = {}

    def name(image: GrayscaleImage) -> str:
        files[f"{len(files)}.npy"] = image.pixels
        return f"{len(files) - 1}.npy"

    data = dump_request(request, name)
    document = json.loads(data)
    assert document["version"] == 1  # a grayscale record: version 2 is for colour (RECORD_VERSION)
    loaded = load_request(data, files.__getitem__)
    assert loaded.association_id == "assoc-7"
    assert_same(loaded, request)


def test_without_files_images_are_described_not_kept() -> None:
    document = json.loads(dump_request(v0_request(), lambda image: None))
    box = document["films"][0]["image_boxes"][0]
    assert (box["rows"], box["columns"], box["bits_stored"]) == (6, 8, 12)
    assert len(box["pixels_sha256"]) == 64 and "pixels" not in box
    loaded = load_request(json.dumps(document).encode(), None)
    image = loaded.films[0].image_boxes[0].image
    assert image is not None and image.pixels.shape == (6, 8) and not image.pixels.flags.writeable


def test_pixels_sha256_hashes_the_bytes_in_row_order_without_copying_them(tmp_path: Path) -> None:
    pixels = (np.arange(600 * 700, dtype=np.uint16) * 7 % 4096).reshape(600, 700)
    expected = hashlib.sha256(pixels.tobytes()).hexdigest()  # what the previous version wrote
    np.save(tmp_path / "p.npy", pixels)
    tracemalloc.start()  # numpy's and Python's allocations both
    try:
        assert pixels_sha256(pixels) == expected
        assert tracemalloc.get_traced_memory()[1] < pixels.nbytes / 10
    finally:
        tracemalloc.stop()
    assert pixels_sha256(np.load(tmp_path / "p.npy", mmap_mode="r")) == expected
    strided = np.asfortranarray(pixels)[:, ::2]
    assert pixels_sha256(strided) == hashlib.sha256(strided.tobytes()).hexdigest()


def test_a_newer_version_is_refused() -> None:
    document = json.loads(dump_request(v0_request(), lambda image: None))
    document["version"] = RECORD_VERSION + 1
    with pytest.raises(ValueError, match="newer"):
        load_request(json.dumps(document).encode(), None)


def test_a_job_spooled_by_the_previous_version_loads(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    try:
        folder = spool.jobs / JOB_UID
        shutil.copytree(V0 / "spool-v0" / JOB_UID, folder)
        (job,) = spool.pending()
    finally:
        spool.close()
    assert job.job_uid == JOB_UID and job.sequence == 1
    assert_same(job.request, v0_request())
    assert job.request.association_id == ""


def test_a_job_spooled_now_loads_equal(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    try:
        spooled = spool.add("1.2.3.4", v0_request())
        assert json.loads((spooled.folder / "job.json").read_text())["request"]["version"] == 1
        loaded = spool.load(spooled.folder)
    finally:
        spool.close()
    assert_same(loaded.request, v0_request())


def test_the_manifest_of_the_previous_version_loads_as_a_record() -> None:
    (manifest,) = (V0 / "archive-v0").glob("*/*/*/*/manifest.json")
    loaded = load_request(manifest.read_bytes(), None)
    expected = v0_request()
    assert (loaded.calling_ae_title, loaded.requested_at, loaded.number_of_copies) == (
        expected.calling_ae_title,
        expected.requested_at,
        expected.number_of_copies,
    )
    assert loaded.proposed_study == expected.proposed_study
    assert [f.film_box_uid for f in loaded.films] == [f.film_box_uid for f in expected.films]
    assert [f.annotations for f in loaded.films] == [f.annotations for f in expected.films]
    assert [str(f.image_display_format) for f in loaded.films] == ["STANDARD\\1,2", "STANDARD\\1,1"]


def test_an_empty_image_box_keeps_only_what_differs_from_its_film_box() -> None:
    request = v0_request()
    film = request.films[0]
    lighter = dataclasses.replace(film.image_boxes[1], min_density=50, polarity=Polarity.REVERSE)
    changed = dataclasses.replace(film, image_boxes=(film.image_boxes[0], lighter))
    request = dataclasses.replace(request, films=(changed, request.films[1]))
    data = dump_request(request, lambda image: None)
    assert json.loads(data)["films"][0]["image_boxes"][1] == {
        "image_box_position": 2,
        "polarity": "REVERSE",
        "min_density": 50,
        "empty": True,
    }
    loaded = load_request(data, None).films[0].image_boxes[1]
    assert loaded == lighter


def test_every_film_box_attribute_survives_a_round_trip() -> None:
    """The record writes FilmBoxAttributes field by field: a new field is recorded without a change there."""
    request = v0_request()
    film = dataclasses.replace(request.films[0], referenced_presentation_lut="1.2.3.4", illumination=1500)
    request = dataclasses.replace(request, films=(film,))
    loaded = load_request(dump_request(request, lambda image: None), None).films[0]
    for field in dataclasses.fields(FilmBoxAttributes):
        assert getattr(loaded, field.name) == getattr(film, field.name), field.name
    assert (loaded.referenced_presentation_lut, loaded.illumination) == ("1.2.3.4", 1500)
