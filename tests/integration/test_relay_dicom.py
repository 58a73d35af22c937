"""relay/dicom.py: a film record printed on real print SCPs (DCMTK's dcmprscp, printscp itself) as a print SCU."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from conftest import RunningServer
from dcmprscp import start_dcmprscp
from dcmtk import free_port

from printscp.config import FaultRuleConfig, Node
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PrintPriority,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat
from printscp.model.record import (
    AnnotationSnapshot,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
    PrintRequest,
)
from printscp.relay.dicom import print_on_node

CALLING = "PRINTSCP"
LUT = PresentationLUTSnapshot(
    "1.2.826.0.1.3680043.2.1125.20.9",
    None,
    (4096, 0, 12),
    np.asarray(np.rint(np.linspace(0, 1, 4096) ** 0.8 * 4095), dtype=np.uint16),
)


def pixels(number: int) -> np.ndarray:
    """A 12-bit image that says which it is: a level, noise and a band at its own rows."""
    rng = np.random.default_rng(number)
    level = 300 + 300 * number
    image = np.full((40, 48), level, dtype=np.uint16) + rng.integers(0, 200, (40, 48), dtype=np.uint16)
    image[(number % 5) * 8 : (number % 5) * 8 + 8, :] = 4095 - level
    return image


def film(number: int, images: list[np.ndarray]) -> FilmSnapshot:
    boxes = tuple(
        ImageBoxSnapshot(
            position,
            GrayscaleImage(40, 48, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), image),
            Polarity.NORMAL,
            MagnificationType.REPLICATE,
            "",
            20,
            300,
            "",
            None,
            None,
            LUT,
        )
        for position, image in enumerate(images, start=1)
    )
    return FilmSnapshot(
        film_session_uid="1.2.826.0.1.3680043.2.1125.20.1",
        film_box_uid=f"1.2.826.0.1.3680043.2.1125.20.2.{number}",
        medium_type="BLUE FILM",
        film_destination="MAGAZINE",
        film_session_label="relay test",
        owner_id="",
        specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse("STANDARD\\2,2"),
        film_orientation=FilmOrientation.PORTRAIT,
        film_size_id="8INX10IN" if number == 2 else "14INX17IN",
        magnification_type=MagnificationType.REPLICATE,
        smoothing_type="",
        max_density=300,
        min_density=20,
        configuration_information="",
        border_density="BLACK",
        empty_image_density="BLACK",
        trim=Trim.NO,
        illumination=2000,
        reflected_ambient_light=10,
        requested_resolution_id=RequestedResolutionID.STANDARD,
        annotation_display_format_id="",
        referenced_presentation_lut=LUT.sop_instance_uid,
        image_boxes=boxes,
        annotations=(AnnotationSnapshot(1, f"film {number}"),),
        film_box_number=number,
    )


def request(films: int = 1) -> tuple[PrintRequest, list[list[np.ndarray]]]:
    """`films` 2x2 films of four 12-bit images, each with an annotation and a Presentation LUT table."""
    images = [[pixels(4 * f + n) for n in range(4)] for f in range(films)]
    snapshots = tuple(film(f + 1, images[f]) for f in range(films))
    return (
        PrintRequest(snapshots, 1, PrintPriority.MED, "relay test", "MODALITY", CALLING, datetime.now(UTC), None),
        images,
    )


def test_a_12_bit_film_on_dcmprscp_is_stored_as_sent(tmp_path: Path) -> None:
    job, images = request()
    with start_dcmprscp(tmp_path / "target") as target:
        delivery = print_on_node(job, CALLING, target.ae_title, Node("127.0.0.1", target.port))
        assert delivery.delivered, (delivery, target.text())
        assert delivery.films_printed == (0,) and delivery.status is None
        assert delivery.printer_status == "NORMAL" and delivery.association_id
        # dcmprscp has no Basic Annotation Box: the one thing left out, and said
        assert delivery.mapped == ("1 annotations left out: no Basic Annotation Box",), delivery.mapped
        (stored_print,) = target.stored_prints()
        film_box = stored_print.FilmBoxContentSequence[0]
        assert (film_box.ImageDisplayFormat, film_box.FilmSizeID) == ("STANDARD\\2,2", "14INX17IN")
        by_uid = {str(ds.SOPInstanceUID): ds for ds in target.hardcopies()}
        boxes = sorted(stored_print.ImageBoxContentSequence, key=lambda box: int(box.ImageBoxPosition))
        assert len(boxes) == 4
        for box, expected in zip(boxes, images[0], strict=True):
            image = by_uid[str(box.ReferencedImageSequence[0].ReferencedSOPInstanceUID)]
            assert (image.BitsStored, image.PhotometricInterpretation) == (12, "MONOCHROME2")
            np.testing.assert_array_equal(image.pixel_array, expected)
        # the Presentation LUT went as the table it is
        (lut,) = stored_print.PresentationLUTContentSequence
        np.testing.assert_array_equal(
            np.frombuffer(lut.PresentationLUTSequence[0].LUTData, "<u2")
            if isinstance(lut.PresentationLUTSequence[0].LUTData, bytes)
            else np.asarray(lut.PresentationLUTSequence[0].LUTData),
            LUT.lut_data,
        )


def test_a_film_is_mapped_to_what_an_8_bit_dcmprscp_with_other_sizes_supports(tmp_path: Path) -> None:
    job, images = request()
    with start_dcmprscp(
        tmp_path / "target",
        supports_12_bit=False,
        film_sizes=("75MMX100MM", "100MMX150MM"),
        medium_types=("PAPER",),
        magnification_types=("REPLICATE", "BILINEAR", "CUBIC"),
        min_density=10,
        max_density=200,
    ) as target:
        # dcmprscp does not answer Printer Configuration Retrieval: the node's preset says what it takes
        node = Node("127.0.0.1", target.port, preset="SONY_UP")
        delivery = print_on_node(job, CALLING, target.ae_title, node)
        assert delivery.delivered, (delivery, target.text())
        assert "Film Size ID 14INX17IN -> 100MMX150MM" in delivery.mapped
        assert "12-bit pixels sent as 8-bit" in delivery.mapped
        assert "Medium Type BLUE FILM -> PAPER" in delivery.mapped
        assert "Min\\Max Density 20\\300 -> 20\\200" in delivery.mapped
        (stored_print,) = target.stored_prints()
        assert stored_print.FilmBoxContentSequence[0].FilmSizeID == "100MMX150MM"
        by_uid = {str(ds.SOPInstanceUID): ds for ds in target.hardcopies()}
        boxes = sorted(stored_print.ImageBoxContentSequence, key=lambda box: int(box.ImageBoxPosition))
        for box, expected in zip(boxes, images[0], strict=True):
            image = by_uid[str(box.ReferencedImageSequence[0].ReferencedSOPInstanceUID)]
            assert image.BitsStored == 8
            np.testing.assert_array_equal(image.pixel_array, expected >> 4)


def test_a_failure_of_the_target_fails_the_delivery_naming_it(start_server: Callable[..., RunningServer]) -> None:
    plan = (FaultRuleConfig(on="N-ACTION", status=0xC602, error_comment="out of film"),)
    target = start_server(sections={"fault_plan": plan})
    job, _ = request()
    delivery = print_on_node(job, CALLING, "PRINTSCP", Node(*target.address))
    assert not delivery.delivered and delivery.films_printed == (), delivery
    assert delivery.status == 0xC602, delivery
    assert delivery.error_comment.startswith("PRINTSCP: N-ACTION Basic Film Box (film 1) answered 0xC602"), delivery


def test_a_target_that_is_down_cannot_be_connected() -> None:
    job, _ = request()
    delivery = print_on_node(job, CALLING, "DRYPIX", Node("127.0.0.1", free_port()), timeout=5)
    assert (delivery.delivered, delivery.status, delivery.error_comment) == (False, None, "DRYPIX: cannot connect")
    assert delivery.films_printed == ()


def test_skip_prints_only_the_remaining_films(running: RunningServer) -> None:
    job, _ = request(films=3)
    delivery = print_on_node(job, CALLING, "PRINTSCP", Node(*running.address), skip=frozenset({0, 2}))
    assert delivery.delivered, delivery
    assert delivery.films_printed == (1,)
    (stored,) = running.jobs()
    (printed,) = stored.request.films
    assert printed.film_size_id == "8INX10IN"  # the second film, and only it


def test_capabilities_come_from_printer_configuration_retrieval(start_server: Callable[..., RunningServer]) -> None:
    target = start_server(supports_12_bit=False)  # the printer says so in its Memory Bit Depth
    job, _ = request()
    delivery = print_on_node(job, CALLING, "PRINTSCP", Node(*target.address))  # the node has no preset
    assert delivery.delivered, delivery
    assert "12-bit pixels sent as 8-bit" in delivery.mapped
    assert delivery.error_comment == ""  # nothing refused: mapped before sending
