"""relay/mapping.py: capabilities from a printer configuration or a profile, and a film mapped onto them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from printscp import uids
from printscp.model.encode import encode_printer_configuration
from printscp.model.enums import FilmOrientation, MagnificationType, PhotometricInterpretation, Polarity, Trim
from printscp.model.enums import RequestedResolutionID as Resolution
from printscp.model.layout import ImageDisplayFormat
from printscp.model.profile import PrinterProfile
from printscp.model.record import (
    AnnotationSnapshot,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
)
from printscp.relay import mapping
from printscp.relay.mapping import TargetCapabilities

TABLE = PresentationLUTSnapshot("1.2.3", None, (4096, 0, 12), np.arange(4096, dtype=np.uint16)[::-1].copy())


def film(fmt: str = "STANDARD\\2,2", images: int = 4, size: str = "14INX17IN", **changes: object) -> FilmSnapshot:
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    boxes = tuple(
        ImageBoxSnapshot(
            n,
            GrayscaleImage(3, 4, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), pixels) if n <= images else None,
            Polarity.NORMAL,
            MagnificationType.CUBIC,
            "MEDIUM",
            20,
            300,
            "",
            None,
            None,
            TABLE,
        )
        for n in range(1, ImageDisplayFormat.parse(fmt).number_of_image_boxes + 1)
    )
    snapshot = FilmSnapshot(
        film_session_uid="1",
        film_box_uid="2",
        medium_type="BLUE FILM",
        film_destination="BIN_2",
        film_session_label="",
        owner_id="",
        specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse(fmt),
        film_orientation=FilmOrientation.PORTRAIT,
        film_size_id=size,
        magnification_type=MagnificationType.CUBIC,
        smoothing_type="MEDIUM",
        max_density=300,
        min_density=20,
        configuration_information="",
        border_density="250",
        empty_image_density="BLACK",
        trim=Trim.NO,
        illumination=None,
        reflected_ambient_light=None,
        requested_resolution_id=Resolution.STANDARD,
        annotation_display_format_id="LABEL",
        referenced_presentation_lut="1.2.3",
        image_boxes=boxes,
        annotations=(AnnotationSnapshot(1, "a"), AnnotationSnapshot(2, "b")),
    )
    return dataclasses.replace(snapshot, **changes)


def test_unknown_capabilities_change_nothing() -> None:
    original = film()
    mapped = mapping.map_film(original, mapping.UNKNOWN)
    assert mapped.changes == () and mapped.film == original and mapped.send_presentation_lut


@pytest.mark.parametrize(
    ("size", "offered", "expected"),
    [
        ("14INX17IN", ("8INX10IN", "35CMX43CM", "11INX14IN"), "11INX14IN"),  # 35CMX43CM has no known size
        ("14INX17IN", ("75MMX100MM", "100MMX150MM"), "100MMX150MM"),
        ("8INX10IN", ("A4", "14INX17IN"), "A4"),
        ("14INX14IN", ("24CMX24CM", "14INX17IN"), "14INX17IN"),
    ],
)
def test_film_sizes_map_to_the_nearest_in_area_and_aspect(size: str, offered: tuple[str, ...], expected: str) -> None:
    mapped = mapping.map_film(film(size=size), TargetCapabilities(film_size_ids=offered))
    assert mapped.film.film_size_id == expected
    assert mapped.changes == (f"Film Size ID {size} -> {expected}",)


@pytest.mark.parametrize(
    ("fmt", "images", "expected"),
    [
        ("STANDARD\\4,5", 20, "STANDARD\\4,5"),  # within 4 x 5
        ("STANDARD\\5,5", 7, "STANDARD\\3,3"),  # 3 a side holds 7 (2,4 has a longer side)
        ("STANDARD\\6,2", 12, "STANDARD\\4,3"),  # 4 a side; 4,3 is nearer 6:2 than 3,4
        ("ROW\\2,3", 5, "STANDARD\\3,2"),  # no ROW: its 3 x 2 grid as STANDARD
    ],
)
def test_display_formats_beyond_the_maxima_map_to_the_smallest_that_holds_the_images(
    fmt: str, images: int, expected: str
) -> None:
    caps = TargetCapabilities(image_display_formats=("STANDARD",), max_columns=4, max_rows=5)
    mapped = mapping.map_film(film(fmt, images), caps)
    assert str(mapped.film.image_display_format) == expected
    held = [b.image_box_position for b in mapped.film.image_boxes if b.image is not None]
    assert held == list(range(1, images + 1))


def test_terms_map_by_their_tables_and_densities_are_clamped() -> None:
    caps = TargetCapabilities(
        medium_types=("PAPER", "CLEAR FILM"),
        film_destinations=("PROCESSOR", "MAGAZINE"),
        magnification_types=("REPLICATE", "BILINEAR"),
        smoothing_types=("SHARP",),
        min_density=10,
        max_density=200,
    )
    session = mapping.map_session(film(), caps)
    assert (session.medium_type, session.film_destination) == ("CLEAR FILM", "MAGAZINE")
    assert session.changes == ("Medium Type BLUE FILM -> CLEAR FILM", "Film Destination BIN_2 -> MAGAZINE")
    mapped = mapping.map_film(film(), caps)
    assert mapped.film.magnification_type == "BILINEAR"
    assert mapped.film.smoothing_type == "SHARP"
    assert (mapped.film.min_density, mapped.film.max_density, mapped.film.border_density) == (20, 200, "200")
    assert all(b.max_density == 200 and b.magnification_type == "BILINEAR" for b in mapped.film.image_boxes)
    assert "Min\\Max Density 20\\300 -> 20\\200" in mapped.changes


def test_12_bit_goes_as_8_bit_shifted_with_its_lut_resampled() -> None:
    mapped = mapping.map_film(film(), TargetCapabilities(supports_12_bit=False))
    box = mapped.film.image_boxes[0]
    assert isinstance(box.image, GrayscaleImage) and box.image.bits_stored == 8
    np.testing.assert_array_equal(box.image.pixels, np.arange(12).reshape(3, 4) * 300 >> 4)
    assert box.presentation_lut is not None and box.presentation_lut.lut_descriptor == (256, 0, 12)
    assert box.presentation_lut.lut_data is not None and box.presentation_lut.lut_data[0] == 4095
    assert mapped.changes == ("12-bit pixels sent as 8-bit",)


def test_a_lut_table_is_burnt_in_without_the_presentation_lut_class() -> None:
    mapped = mapping.map_film(film(), TargetCapabilities(presentation_lut=False))
    box = mapped.film.image_boxes[0]
    assert isinstance(box.image, GrayscaleImage) and box.presentation_lut is None and not mapped.send_presentation_lut
    np.testing.assert_array_equal(box.image.pixels, 4095 - np.arange(12).reshape(3, 4) * 300)  # the reversing table
    assert mapped.changes == ("Presentation LUT burnt into the pixels: no Presentation LUT SOP Class",)


def test_annotations_are_left_out_without_the_annotation_box() -> None:
    mapped = mapping.map_film(film(), TargetCapabilities(annotation=False))
    assert mapped.film.annotations == () and mapped.film.annotation_display_format_id == ""
    assert mapped.changes == ("2 annotations left out: no Basic Annotation Box",)


def test_capabilities_from_printscp_printer_configuration_retrieval() -> None:
    profile = PrinterProfile(
        film_size_ids=("8INX10IN", "14INX17IN"),
        medium_types=("PAPER",),
        supports_12_bit=False,
        supports_presentation_lut=False,
        min_density=15,
        max_density=250,
    )
    caps = mapping.from_printer_configuration(encode_printer_configuration(profile))
    assert set(caps.film_size_ids) == {"8INX10IN", "14INX17IN"}
    assert "PAPER" in caps.medium_types
    assert (caps.min_density, caps.max_density, caps.supports_12_bit) == (15, 250, False)
    assert caps.presentation_lut is False and caps.annotation is False
    assert "STANDARD" in caps.image_display_formats and caps.max_columns is None  # STANDARD\1,1: any grid
    assert set(caps.magnification_types) == set(profile.magnification_types)


def test_negotiation_takes_away_what_the_association_refused() -> None:
    caps = mapping.from_profile(PrinterProfile()).negotiated(frozenset({uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META}))
    assert (caps.presentation_lut, caps.annotation, caps.color) == (False, False, False)


@pytest.mark.parametrize(
    ("keyword", "refused", "tried", "expected"),
    [
        ("FilmSizeID", "14INX17IN", ["14INX17IN"], "A3"),  # nearest in area and aspect
        ("MediumType", "BLUE FILM", ["BLUE FILM"], "CLEAR FILM"),
        ("SmoothingType", "MEDIUM", ["MEDIUM", "SMOOTH", "SHARP"], None),  # left out: the target's default
        ("ImageDisplayFormat", "STANDARD\\2,2", [], ""),  # nothing to do
    ],
)
def test_next_value_after_a_refusal(keyword: str, refused: str, tried: list[str], expected: str | None) -> None:
    assert mapping.next_value(keyword, refused, tried, mapping.UNKNOWN) == expected
