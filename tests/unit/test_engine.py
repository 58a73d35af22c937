"""The print engine driven without sockets: attribute tables, status codes and lifecycle rules."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pynetdicom.dsutils import decode, encode

from printscp import uids
from printscp.config import load_config
from printscp.engine import AssociationInfo, Outcome, PrintEngine
from printscp.errors import PrintError, QueueFull
from printscp.model.enums import PrinterStatus
from printscp.model.printer import Printer
from printscp.model.profile import PrinterProfile
from printscp.model.record import GrayscaleImage, PrintRequest
from printscp.model.session import snapshot_film
from printscp.status import Status

REPO = Path(__file__).resolve().parents[2]
META = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META
PLUT = uids.PRESENTATION_LUT
SESSION, FILM_BOX, IMAGE_BOX = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX, uids.BASIC_GRAYSCALE_IMAGE_BOX
ANNOTATION = uids.BASIC_ANNOTATION_BOX


def profile(**changes: Any) -> PrinterProfile:
    return dataclasses.replace(load_config(REPO / "config.toml").printer, **changes)


class Harness:
    """An engine whose print queue records what it was given (engine.Printing)."""

    def __init__(self, annotation: bool = False, print_job: bool = False, **profile_changes: Any) -> None:
        self.submitted: list[PrintRequest] = []
        self.prepared: list[GrayscaleImage] = []
        self.queue_full = False
        info = AssociationInfo("MODALITY", "PRINTSCP", annotation_negotiated=annotation, print_job_negotiated=print_job)
        self.engine = PrintEngine(profile(**profile_changes), Printer(), info, self)

    def prepare(self, image: GrayscaleImage) -> None:
        self.prepared.append(image)

    def submit(self, request: PrintRequest) -> str:
        if self.queue_full:
            raise QueueFull
        self.submitted.append(request)
        return f"1.2.3.{len(self.submitted)}"

    def print_job(self, sop_instance_uid: str) -> Any:
        return None

    # steps

    def session(self, **attributes: Any) -> str:
        outcome = self.engine.n_create(META, SESSION, None, wire(attributes) if attributes else None)
        assert outcome.affected_sop_instance_uid
        return outcome.affected_sop_instance_uid

    def film_box(
        self, session_uid: str, fmt: str = "STANDARD\\1,1", **attributes: Any
    ) -> tuple[str, list[str], Outcome]:
        outcome = self.engine.n_create(META, FILM_BOX, None, film_box_request(session_uid, fmt, **attributes))
        assert outcome.dataset is not None and outcome.affected_sop_instance_uid
        boxes = [str(i.ReferencedSOPInstanceUID) for i in outcome.dataset.ReferencedImageBoxSequence]
        return outcome.affected_sop_instance_uid, boxes, outcome

    def set_image(self, uid: str, position: int, pixels: np.ndarray | None = None, **attributes: Any) -> Outcome:
        return self.engine.n_set(META, IMAGE_BOX, uid, image_request(position, pixels, **attributes))

    def printable(self, fmt: str = "STANDARD\\1,1") -> tuple[str, str, list[str]]:
        session = self.session()
        box, images, _ = self.film_box(session, fmt)
        self.set_image(images[0], 1)
        return session, box, images


def wire(attributes: dict[str, Any] | Dataset, implicit: bool = True) -> Dataset:
    """What the engine gets from pynetdicom: the dataset encoded and decoded again."""
    ds = attributes if isinstance(attributes, Dataset) else dataset(**attributes)
    data = encode(ds, implicit, True)
    assert data is not None
    return decode(io.BytesIO(data), implicit, True)


def dataset(**attributes: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def raw(ds: Dataset, tag: int, vr: str, value: bytes) -> Dataset:
    """Put a malformed element that pydicom would refuse to create from Python values."""
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, True, True)
    return ds


def reference(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    return dataset(ReferencedSOPClassUID=sop_class_uid, ReferencedSOPInstanceUID=sop_instance_uid)


def film_box_request(session_uid: str, fmt: str = "STANDARD\\1,1", **attributes: Any) -> Dataset:
    ds = dataset(**attributes)
    if fmt:
        ds.ImageDisplayFormat = fmt
    ds.ReferencedFilmSessionSequence = [reference(SESSION, session_uid)]
    return wire(ds)


def image_item(
    pixels: np.ndarray | None = None,
    bits: tuple[int, int, int] = (16, 12, 11),
    photometric: str = "MONOCHROME2",
    **overrides: Any,
) -> Dataset:
    if pixels is None:
        pixels = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) % 4096
    item = dataset(
        SamplesPerPixel=1,
        PhotometricInterpretation=photometric,
        Rows=pixels.shape[0],
        Columns=pixels.shape[1],
        BitsAllocated=bits[0],
        BitsStored=bits[1],
        HighBit=bits[2],
        PixelRepresentation=0,
    )
    data = pixels.astype(np.uint8 if bits[0] == 8 else "<u2").tobytes()
    item.add_new(0x7FE00010, "OW", data + b"\x00" * (len(data) & 1))
    for keyword, value in overrides.items():
        if value is None:
            delattr(item, keyword)
        else:
            setattr(item, keyword, value)
    return item


def image_request(
    position: int, pixels: np.ndarray | None = None, item: Dataset | None = None, **attributes: Any
) -> Dataset:
    ds = dataset(ImageBoxPosition=position, **attributes)
    ds.BasicGrayscaleImageSequence = [item if item is not None else image_item(pixels)]
    return wire(ds)


def fails(status: Status, call: Any, *args: Any, offending: int | None = None, **kwargs: Any) -> PrintError:
    with pytest.raises(PrintError) as error:
        call(*args, **kwargs)
    assert error.value.status is status, f"{error.value.status}: {error.value.message}"
    if offending is not None:
        assert offending in error.value.offending, [hex(t) for t in error.value.offending]
    return error.value


# --- Film Session ---------------------------------------------------------------------------------------


def test_film_session_defaults_come_from_the_profile() -> None:
    h = Harness()
    outcome = h.engine.n_create(META, SESSION, None, None)
    assert outcome.status is Status.SUCCESS
    ds = outcome.dataset
    assert ds is not None
    assert (ds.NumberOfCopies, ds.PrintPriority, ds.MediumType, ds.FilmDestination) == (
        1,
        "MED",
        "CLEAR FILM",
        "MAGAZINE",
    )


def test_scu_given_session_uid_is_honoured_and_invalid_uid_refused() -> None:
    h = Harness()
    outcome = h.engine.n_create(META, SESSION, "1.2.826.0.1.3680043.9.1.1", None)
    assert outcome.affected_sop_instance_uid == "1.2.826.0.1.3680043.9.1.1"
    fails(Status.INVALID_SOP_INSTANCE, Harness().engine.n_create, META, SESSION, "1.2.abc", None)


@pytest.mark.parametrize(
    ("attributes", "status", "tag"),
    [
        ({"NumberOfCopies": "0"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000010),
        ({"NumberOfCopies": "-2"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000010),
        ({"PrintPriority": "URGENT"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000020),
        ({"PrintPriority": ["HIGH", "LOW"]}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000020),
        ({"MediumType": "paper"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000030),
        ({"FilmDestination": "BIN 1!"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000040),
        ({"FilmSessionLabel": "x" * 65}, Status.INVALID_ATTRIBUTE_VALUE, 0x20000050),
        ({"SpecificCharacterSet": "ISO_IR 999"}, Status.INVALID_ATTRIBUTE_VALUE, 0x00080005),
        ({"PatientName": "DOE^JOHN"}, Status.NO_SUCH_ATTRIBUTE, 0x00100010),
        ({"Illumination": 2000}, Status.NO_SUCH_ATTRIBUTE, 0x2010015E),
    ],
)
def test_film_session_failures(attributes: dict[str, Any], status: Status, tag: int) -> None:
    h = Harness()
    fails(status, h.engine.n_create, META, SESSION, None, wire(attributes), offending=tag)
    assert h.engine.hierarchy.film_session is None  # nothing is created by a failed N-CREATE


def test_malformed_number_of_copies_and_wrong_vr() -> None:
    h = Harness()
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_create,
        META,
        SESSION,
        None,
        wire(raw(Dataset(), 0x20000010, "IS", b"abc "), implicit=False),
        offending=0x20000010,
    )
    # Explicit VR carries the VR: Number of Copies sent as US is refused, naming the tag
    wrong_vr = Dataset()
    wrong_vr.add_new(0x20000010, "US", 2)
    error = fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_create,
        META,
        SESSION,
        None,
        wire(wrong_vr, implicit=False),
        offending=0x20000010,
    )
    assert "VR US" in error.message


@pytest.mark.parametrize(
    ("attributes", "status", "field", "value"),
    [
        ({"NumberOfCopies": "150"}, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE, "number_of_copies", 99),
        ({"MediumType": "GOLD FILM"}, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE, "medium_type", "CLEAR FILM"),
        ({"FilmDestination": "BIN_7"}, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE, "film_destination", "MAGAZINE"),
        ({"MemoryAllocation": "4096"}, Status.MEMORY_ALLOCATION_NOT_SUPPORTED, "memory_allocation", 4096),
    ],
)
def test_film_session_warnings_substitute_defaults(
    attributes: dict[str, Any], status: Status, field: str, value: Any
) -> None:
    h = Harness()
    outcome = h.engine.n_create(META, SESSION, None, wire(attributes))
    assert outcome.status is status
    assert getattr(h.engine.hierarchy.film_session, field) == value


def test_proposed_study_sequence_is_kept() -> None:
    h = Harness()
    ds = dataset()
    ds.ProposedStudySequence = [dataset(PatientName="DOE^JANE", PatientID="P-1", StudyInstanceUID="1.2.3.4")]
    h.engine.n_create(META, SESSION, None, wire(ds))
    session = h.engine.hierarchy.film_session
    assert session is not None and session.proposed_study is not None
    assert dict(session.proposed_study.attributes) == {
        "PatientName": "DOE^JANE",
        "PatientID": "P-1",
        "StudyInstanceUID": "1.2.3.4",
    }


def test_a_proposed_study_uid_that_is_not_a_uid_is_refused() -> None:
    ds = dataset()
    ds.ProposedStudySequence = [dataset(StudyInstanceUID="1.2.3.04\\..")]
    fails(
        Status.INVALID_ATTRIBUTE_VALUE, Harness().engine.n_create, META, SESSION, None, wire(ds), offending=0x213000A0
    )


@pytest.mark.parametrize("label", ["../../etc\x00passwd", "TAB\tHERE", "LINE\nBREAK", "\x1b$B"])
def test_control_characters_in_text_are_invalid(label: str) -> None:
    error = fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        Harness().engine.n_create,
        META,
        SESSION,
        None,
        wire(dataset(FilmSessionLabel=label)),
        offending=0x20000050,
    )
    assert "control character" in error.message


def test_one_film_session_per_association() -> None:
    h = Harness()
    h.session()
    fails(Status.DUPLICATE_SOP_INSTANCE, h.engine.n_create, META, SESSION, None, None)


def test_film_session_n_set_changes_only_what_is_sent() -> None:
    h = Harness()
    uid = h.session(NumberOfCopies="2", FilmSessionLabel="CT HEAD")
    outcome = h.engine.n_set(META, SESSION, uid, wire({"PrintPriority": "HIGH"}))
    assert outcome.status is Status.SUCCESS
    session = h.engine.hierarchy.film_session
    assert session is not None
    assert (session.print_priority.value, session.number_of_copies, session.film_session_label) == (
        "HIGH",
        2,
        "CT HEAD",
    )


# --- Film Box -------------------------------------------------------------------------------------------


def test_film_box_creates_image_boxes_in_position_order() -> None:
    h = Harness()
    session = h.session()
    uid, images, outcome = h.film_box(session, "ROW\\2,3")
    assert len(images) == 5
    boxes = h.engine.hierarchy.last_film_box()
    assert boxes is not None and boxes.sop_instance_uid == uid
    assert [b.image_box_position for b in boxes.image_boxes] == [1, 2, 3, 4, 5]
    assert [b.sop_instance_uid for b in boxes.image_boxes] == images
    ds = outcome.dataset
    assert ds is not None
    assert {str(i.ReferencedSOPClassUID) for i in ds.ReferencedImageBoxSequence} == {IMAGE_BOX}
    # the response is the complete attribute list, defaults included (PS3.7 10.1.5)
    assert (ds.FilmOrientation, ds.FilmSizeID, ds.MagnificationType, ds.MaxDensity) == (
        "PORTRAIT",
        "14INX17IN",
        "BILINEAR",
        300,
    )
    assert (ds.Illumination, ds.ReflectedAmbientLight) == (2000, 10)
    assert "ReferencedBasicAnnotationBoxSequence" not in ds  # annotation not negotiated


def test_annotation_boxes_follow_the_annotation_display_format() -> None:
    h = Harness(annotation=True)
    session = h.session()
    _, _, outcome = h.film_box(session, AnnotationDisplayFormatID="TOP_BOTTOM")
    assert outcome.dataset is not None
    items = outcome.dataset.ReferencedBasicAnnotationBoxSequence
    assert [str(i.ReferencedSOPClassUID) for i in items] == [uids.BASIC_ANNOTATION_BOX] * 2
    _, _, plain = h.film_box(session)
    assert plain.dataset is not None and len(plain.dataset.ReferencedBasicAnnotationBoxSequence) == 0


def test_film_box_without_session_is_refused() -> None:
    fails(Status.INVALID_SOP_INSTANCE, Harness().engine.n_create, META, FILM_BOX, None, film_box_request("1.2.3"))


@pytest.mark.parametrize(
    ("fmt", "attributes", "status", "tag"),
    [
        ("", {}, Status.MISSING_ATTRIBUTE, 0x20100010),
        ("STANDARD\\11,1", {}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100010),
        ("STANDARD\\1,x", {}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100010),
        ("CUSTOM\\9", {}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100010),
        ("STANDARD\\1,1", {"FilmOrientation": "DIAGONAL"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100040),
        ("STANDARD\\1,1", {"Trim": "MAYBE"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100140),
        ("STANDARD\\1,1", {"BorderDensity": "GREY"}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100100),
        ("STANDARD\\1,1", {"MinDensity": 250, "MaxDensity": 200}, Status.INVALID_ATTRIBUTE_VALUE, 0x20100120),
        ("STANDARD\\1,1", {"ICCProfile": b"\x00\x01"}, Status.NO_SUCH_ATTRIBUTE, 0x00282000),
    ],
)
def test_film_box_failures(fmt: str, attributes: dict[str, Any], status: Status, tag: int) -> None:
    h = Harness()
    session = h.session()
    fails(status, h.engine.n_create, META, FILM_BOX, None, film_box_request(session, fmt, **attributes), offending=tag)
    assert h.engine.hierarchy.last_film_box() is None


def test_image_display_format_sent_empty_is_missing_value() -> None:
    h = Harness()
    session = h.session()
    ds = dataset(ImageDisplayFormat="")
    ds.ReferencedFilmSessionSequence = [reference(SESSION, session)]
    fails(Status.MISSING_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, wire(ds), offending=0x20100010)


@pytest.mark.parametrize(
    "items",
    [
        [reference(SESSION, "1.2.3.999")],  # not this association's session
        [reference(FILM_BOX, "SESSION")],  # wrong class
        "two",  # two items
    ],
)
def test_referenced_film_session_must_be_ours(items: Any) -> None:
    h = Harness()
    session = h.session()
    ds = dataset(ImageDisplayFormat="STANDARD\\1,1")
    if items == "two":
        items = [reference(SESSION, session), reference(SESSION, session)]
    elif items[0].ReferencedSOPInstanceUID == "SESSION":
        items[0].ReferencedSOPInstanceUID = session
    ds.ReferencedFilmSessionSequence = items
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, wire(ds), offending=0x20100500)


def test_missing_referenced_film_session() -> None:
    h = Harness()
    h.session()
    fails(
        Status.MISSING_ATTRIBUTE,
        h.engine.n_create,
        META,
        FILM_BOX,
        None,
        wire({"ImageDisplayFormat": "STANDARD\\1,1"}),
        offending=0x20100500,
    )


def test_film_box_warnings() -> None:
    h = Harness()
    session = h.session()
    _, _, outcome = h.film_box(session, FilmSizeID="A3", MaxDensity=400)
    assert outcome.status is Status.DENSITY_OUT_OF_RANGE  # the first warning sets the status
    assert {w.status for w in outcome.warnings} == {Status.DENSITY_OUT_OF_RANGE}
    box = h.engine.hierarchy.last_film_box()
    assert box is not None and (box.attributes.film_size_id, box.attributes.max_density) == ("A3", 330)
    h2 = Harness(film_size_ids=("14INX17IN", "8INX10IN"))
    _, _, outcome = h2.film_box(h2.session(), FilmSizeID="A3", MinDensity=5, MagnificationType="SINC")
    assert outcome.status is Status.ATTRIBUTE_VALUE_OUT_OF_RANGE
    assert [w.offending for w in outcome.warnings] == [(0x20100050,), (0x20100060,), (0x20100120,)]
    box = h2.engine.hierarchy.last_film_box()
    assert box is not None and (
        box.attributes.film_size_id,
        box.attributes.magnification_type.value,
        box.attributes.min_density,
    ) == (
        "14INX17IN",
        "BILINEAR",
        10,
    )


def test_profile_switches_turn_attributes_into_no_such_attribute() -> None:
    h = Harness(supports_trim=False, supports_presentation_lut=False)
    session = h.session()
    fails(
        Status.NO_SUCH_ATTRIBUTE,
        h.engine.n_create,
        META,
        FILM_BOX,
        None,
        film_box_request(session, Trim="YES"),
        offending=0x20100140,
    )
    fails(
        Status.NO_SUCH_ATTRIBUTE,
        h.engine.n_create,
        META,
        FILM_BOX,
        None,
        film_box_request(session, Illumination=2000),
        offending=0x2010015E,
    )


def test_film_box_n_set_only_settable_attributes_only_last_box() -> None:
    h = Harness()
    session = h.session()
    first, _, _ = h.film_box(session)
    outcome = h.engine.n_set(META, FILM_BOX, first, wire({"MaxDensity": 250, "BorderDensity": "WHITE"}))
    assert outcome.status is Status.SUCCESS
    fails(
        Status.NO_SUCH_ATTRIBUTE,
        h.engine.n_set,
        META,
        FILM_BOX,
        first,
        wire({"ImageDisplayFormat": "STANDARD\\2,2"}),
        offending=0x20100010,
    )
    h.film_box(session)
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_set, META, FILM_BOX, first, wire({"MaxDensity": 250}))
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_delete, META, FILM_BOX, first)


def test_c616_when_printer_cannot_print_sessions() -> None:
    h = Harness(supports_film_session_print=False)
    session = h.session()
    box, images, _ = h.film_box(session)
    fails(Status.UNPRINTED_FILM_BOX_EXISTS, h.engine.n_create, META, FILM_BOX, None, film_box_request(session))
    fails(Status.UNRECOGNIZED_OPERATION, h.engine.n_action, META, SESSION, session, 1, None)
    h.set_image(images[0], 1)
    assert h.engine.n_action(META, FILM_BOX, box, 1, None).status is Status.SUCCESS
    h.film_box(session)  # once printed, the next film box may come


# --- Image Box ------------------------------------------------------------------------------------------


def test_image_box_takes_8_and_12_bit_images_and_masks_high_bits() -> None:
    h = Harness()
    session = h.session()
    _, images, _ = h.film_box(session, "STANDARD\\2,1")
    pixels = np.array([[0x0FFF, 0xF001], [5, 0x1234]], dtype=np.uint16)
    assert h.set_image(images[0], 1, pixels).status is Status.SUCCESS
    eight = image_item(np.array([[0, 255, 7]], dtype=np.uint8), bits=(8, 8, 7), photometric="MONOCHROME1")
    assert h.engine.n_set(META, IMAGE_BOX, images[1], image_request(2, item=eight)).status is Status.SUCCESS
    box = h.engine.hierarchy.last_film_box()
    assert box is not None
    first, second = box.image_boxes[0].image, box.image_boxes[1].image
    assert first is not None and second is not None
    assert first.pixels.tolist() == [[0x0FFF, 0x0001], [5, 0x0234]]  # bits above High Bit dropped
    assert (second.bits_stored, second.photometric_interpretation.value, second.pixels.tolist()) == (
        8,
        "MONOCHROME1",
        [[0, 255, 7]],
    )
    assert not first.pixels.flags.writeable


def test_odd_length_8_bit_pixel_data_with_pad_byte() -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session())
    item = image_item(np.zeros((3, 3), dtype=np.uint8), bits=(8, 8, 7))
    assert len(item.PixelData) == 10  # 9 bytes + pad
    assert h.engine.n_set(META, IMAGE_BOX, images[0], image_request(1, item=item)).status is Status.SUCCESS


@pytest.mark.parametrize(
    ("item_changes", "status", "tag"),
    [
        ({"SamplesPerPixel": 3}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280002),
        ({"PhotometricInterpretation": "RGB"}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280004),
        ({"PixelRepresentation": 1}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280103),
        ({"BitsStored": 10, "HighBit": 9}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280101),
        ({"HighBit": 15}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280101),
        ({"Rows": 65}, Status.INVALID_ATTRIBUTE_VALUE, 0x7FE00010),  # Rows x Columns no longer matches Pixel Data
        ({"Rows": 0}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280010),
        ({"Columns": None}, Status.MISSING_ATTRIBUTE, 0x00280011),
        ({"PixelData": None}, Status.MISSING_ATTRIBUTE, 0x7FE00010),
        ({"PixelAspectRatio": [1, 0]}, Status.INVALID_ATTRIBUTE_VALUE, 0x00280034),
        ({"WindowCenter": "40"}, Status.NO_SUCH_ATTRIBUTE, 0x00281050),
    ],
)
def test_image_pixel_description_failures(item_changes: dict[str, Any], status: Status, tag: int) -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session())
    fails(
        status,
        h.engine.n_set,
        META,
        IMAGE_BOX,
        images[0],
        image_request(1, item=image_item(**item_changes)),
        offending=tag,
    )
    box = h.engine.hierarchy.last_film_box()
    assert box is not None and box.image_boxes[0].image is None


def test_12_bit_refused_by_an_8_bit_printer() -> None:
    h = Harness(supports_12_bit=False)
    _, images, _ = h.film_box(h.session())
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.set_image, images[0], 1, offending=0x00280101)


def test_image_box_position_must_match_and_sequence_is_mandatory() -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session(), "STANDARD\\2,1")
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.set_image, images[0], 2, offending=0x20200010)
    fails(
        Status.MISSING_ATTRIBUTE,
        h.engine.n_set,
        META,
        IMAGE_BOX,
        images[0],
        wire({"ImageBoxPosition": 1, "Polarity": "REVERSE"}),
        offending=0x20200110,
    )
    fails(
        Status.MISSING_ATTRIBUTE,
        h.engine.n_set,
        META,
        IMAGE_BOX,
        images[0],
        wire({"Polarity": "REVERSE"}),
        offending=0x20200010,
    )


def test_empty_image_sequence_erases_the_image() -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session())
    h.set_image(images[0], 1)
    ds = dataset(ImageBoxPosition=1)
    ds.BasicGrayscaleImageSequence = []
    assert h.engine.n_set(META, IMAGE_BOX, images[0], wire(ds)).status is Status.SUCCESS
    box = h.engine.hierarchy.last_film_box()
    assert box is not None and box.image_boxes[0].image is None


def test_image_box_overrides_and_their_rules() -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session())
    outcome = h.set_image(
        images[0],
        1,
        Polarity="REVERSE",
        MagnificationType="REPLICATE",
        MaxDensity=500,
        RequestedImageSize="120.5",
        RequestedDecimateCropBehavior="CROP",
    )
    assert outcome.status is Status.DENSITY_OUT_OF_RANGE
    image_box = h.engine.hierarchy.last_film_box().image_boxes[0]  # type: ignore[union-attr]
    assert (
        image_box.polarity.value,
        image_box.magnification_type.value,
        image_box.max_density,  # type: ignore
        image_box.requested_image_size,
        image_box.requested_decimate_crop_behavior.value,
    ) == (  # type: ignore
        "REVERSE",
        "REPLICATE",
        330,
        120.5,
        "CROP",
    )
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.set_image, images[0], 1, None, Polarity="INVERTED")
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.set_image, images[0], 1, None, RequestedImageSize="-3")
    h2 = Harness(supports_requested_image_size=False, supports_decimate_crop=False)
    _, images2, _ = h2.film_box(h2.session())
    fails(Status.NO_SUCH_ATTRIBUTE, h2.set_image, images2[0], 1, None, RequestedImageSize="100", offending=0x20200030)
    fails(
        Status.NO_SUCH_ATTRIBUTE,
        h2.set_image,
        images2[0],
        1,
        None,
        RequestedDecimateCropBehavior="FAIL",
        offending=0x20200040,
    )


def test_only_boxes_of_the_last_film_box_can_be_set() -> None:
    h = Harness()
    session = h.session()
    _, first_images, _ = h.film_box(session)
    h.film_box(session)
    fails(Status.NO_SUCH_SOP_INSTANCE, h.set_image, first_images[0], 1)


# --- Presentation LUT -----------------------------------------------------------------------------------


def lut_request(
    entries: int = 4096, bits: int = 12, data: np.ndarray | None = None, descriptor: list[int] | None = None
) -> Dataset:
    item = Dataset()
    item.add_new(0x00283002, "US", descriptor or [entries, 0, bits])
    values = data if data is not None else np.linspace(0, (1 << bits) - 1, entries).astype("<u2")
    item.add_new(0x00283006, "OW", values.astype("<u2").tobytes())
    ds = Dataset()
    ds.PresentationLUTSequence = [item]
    return wire(ds)


def test_presentation_lut_shapes_and_tables() -> None:
    h = Harness()
    assert h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "IDENTITY"})).status is Status.SUCCESS
    assert h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "LIN OD"})).status is Status.SUCCESS
    outcome = h.engine.n_create(PLUT, PLUT, None, lut_request())
    assert outcome.status is Status.SUCCESS
    plut = h.engine.hierarchy.presentation_luts[outcome.affected_sop_instance_uid]  # type: ignore[index]
    assert plut.lut_descriptor == (4096, 0, 12) and plut.lut_data is not None and plut.lut_data[-1] == 4095
    # implicit VR: LUT Descriptor and LUT Data arrive with ambiguous VRs
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 10])
    item.add_new(0x00283006, "US", list(range(0, 1024, 4)))
    ds = Dataset()
    ds.PresentationLUTSequence = [item]
    assert h.engine.n_create(PLUT, PLUT, None, wire(ds, implicit=True)).status is Status.SUCCESS


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (lambda: wire({"PresentationLUTShape": "GAMMA"}), Status.INVALID_ATTRIBUTE_VALUE),
        (lambda: None, Status.MISSING_ATTRIBUTE),
        (lambda: lut_request(entries=1024), Status.INVALID_ATTRIBUTE_VALUE),
        (lambda: lut_request(descriptor=[4096, 1, 12]), Status.INVALID_ATTRIBUTE_VALUE),
        (lambda: lut_request(descriptor=[4096, 0, 8]), Status.INVALID_ATTRIBUTE_VALUE),
        (lambda: lut_request(data=np.zeros(100)), Status.INVALID_ATTRIBUTE_VALUE),
        (lambda: lut_request(bits=10, data=np.full(4096, 2000)), Status.INVALID_ATTRIBUTE_VALUE),
    ],
)
def test_presentation_lut_failures(request_: Any, status: Status) -> None:
    fails(status, Harness().engine.n_create, PLUT, PLUT, None, request_())


def test_presentation_lut_shape_and_sequence_together_are_invalid() -> None:
    ds = lut_request()
    ds.PresentationLUTShape = "IDENTITY"
    fails(Status.INVALID_ATTRIBUTE_VALUE, Harness().engine.n_create, PLUT, PLUT, None, ds)


def test_presentation_lut_reference_rules_and_delete() -> None:
    h = Harness()
    plut = h.engine.n_create(PLUT, PLUT, None, lut_request()).affected_sop_instance_uid
    assert plut
    session = h.session()
    ds = dataset(ImageDisplayFormat="STANDARD\\1,1")
    ds.ReferencedFilmSessionSequence = [reference(SESSION, session)]
    ds.ReferencedPresentationLUTSequence = [reference(PLUT, "1.2.3.404")]
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, wire(ds), offending=0x20500500)
    ds.ReferencedPresentationLUTSequence = [reference(PLUT, plut)]
    outcome = h.engine.n_create(META, FILM_BOX, None, wire(ds))
    images = [str(i.ReferencedSOPInstanceUID) for i in outcome.dataset.ReferencedImageBoxSequence]  # type: ignore
    # a 4096-entry LUT does not fit an 8-bit image
    eight = image_item(np.zeros((4, 4), dtype=np.uint8), bits=(8, 8, 7))
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_set, META, IMAGE_BOX, images[0], image_request(1, item=eight))
    assert h.set_image(images[0], 1).status is Status.SUCCESS
    fails(Status.PROCESSING_FAILURE, h.engine.n_delete, PLUT, PLUT, plut)  # still referenced
    h.engine.n_delete(META, SESSION, session)
    assert h.engine.n_delete(PLUT, PLUT, plut).status is Status.SUCCESS
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_delete, PLUT, PLUT, plut)


# --- N-ACTION and snapshots -----------------------------------------------------------------------------


def test_film_box_print_submits_a_snapshot() -> None:
    h = Harness()
    session, box, images = h.printable()
    outcome = h.engine.n_action(META, FILM_BOX, box, 1, None)
    assert outcome.status is Status.SUCCESS and outcome.dataset is None  # no Print Job negotiated
    (request,) = h.submitted
    assert request.calling_ae_title == "MODALITY" and len(request.films) == 1
    before = request.films[0].image_boxes[0].image
    # later N-SETs never reach a queued print
    h.set_image(images[0], 1, np.zeros((8, 8), dtype=np.uint16), Polarity="REVERSE")
    h.engine.n_set(META, SESSION, session, wire({"NumberOfCopies": "5"}))
    h.engine.n_set(META, FILM_BOX, box, wire({"BorderDensity": "WHITE"}))
    after = request.films[0]
    assert after.image_boxes[0].image is before and before is not None and before.rows == 64
    assert after.image_boxes[0].polarity.value == "NORMAL"
    assert (request.number_of_copies, after.border_density) == (1, "BLACK")


def test_print_job_reference_in_action_reply_when_negotiated() -> None:
    h = Harness(print_job=True)
    _, box, _ = h.printable()
    outcome = h.engine.n_action(META, FILM_BOX, box, 1, None)
    assert outcome.dataset is not None
    (item,) = outcome.dataset[0x21000500].value  # PS3.4: Referenced Print Job Sequence is (2100,0500)
    assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) == (uids.PRINT_JOB, "1.2.3.1")


def test_session_print_collates_copies_and_skips_empty_pages() -> None:
    h = Harness()
    session = h.session(NumberOfCopies="2")
    _, first, _ = h.film_box(session)
    h.set_image(first[0], 1)
    h.film_box(session, "STANDARD\\2,2")  # left empty
    _, third, _ = h.film_box(session)
    h.set_image(third[0], 1)
    outcome = h.engine.n_action(META, SESSION, session, 1, None)
    assert outcome.status is Status.EMPTY_PAGE_FILM_SESSION
    (request,) = h.submitted
    assert len(request.films) == 2 and request.collated_order == (0, 1, 0, 1)


def test_empty_prints() -> None:
    h = Harness()
    session = h.session()
    fails(Status.NO_FILM_BOX, h.engine.n_action, META, SESSION, session, 1, None)
    box, _, _ = h.film_box(session)
    assert h.engine.n_action(META, FILM_BOX, box, 1, None).status is Status.EMPTY_PAGE_FILM_BOX
    assert h.engine.n_action(META, SESSION, session, 1, None).status is Status.EMPTY_PAGE_FILM_SESSION
    assert h.submitted == []


def test_action_failures() -> None:
    h = Harness()
    session, box, _ = h.printable()
    fails(Status.NO_SUCH_ACTION, h.engine.n_action, META, FILM_BOX, box, 2, None)
    fails(Status.NO_SUCH_ARGUMENT, h.engine.n_action, META, FILM_BOX, box, 1, wire({"PrintPriority": "HIGH"}))
    h.queue_full = True
    fails(Status.QUEUE_FULL_FILM_BOX, h.engine.n_action, META, FILM_BOX, box, 1, None)
    fails(Status.QUEUE_FULL_FILM_SESSION, h.engine.n_action, META, SESSION, session, 1, None)


# --- classes, instances and deletion -----------------------------------------------------------------------


def test_class_and_instance_checks() -> None:
    h = Harness()
    session = h.session()
    box, images, _ = h.film_box(session)
    fails(Status.NO_SUCH_SOP_CLASS, h.engine.n_create, PLUT, SESSION, None, None)  # wrong context
    fails(Status.NO_SUCH_SOP_CLASS, h.engine.n_create, META, "1.2.840.10008.5.1.1.24.1", None, None)  # retired
    fails(Status.NO_SUCH_SOP_CLASS, h.engine.n_set, META, uids.BASIC_COLOR_IMAGE_BOX, images[0], Dataset())
    fails(Status.UNRECOGNIZED_OPERATION, h.engine.n_delete, META, IMAGE_BOX, images[0])
    fails(Status.UNRECOGNIZED_OPERATION, h.engine.n_action, META, IMAGE_BOX, images[0], 1, None)
    fails(Status.CLASS_INSTANCE_CONFLICT, h.engine.n_set, META, FILM_BOX, session, wire({"MaxDensity": 250}))
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_get, META, uids.PRINTER, "1.2.3", [])
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_set, META, SESSION, "1.2.3.4", wire({"NumberOfCopies": "1"}))


def test_film_session_delete_cascades() -> None:
    h = Harness()
    session = h.session()
    box, images, _ = h.film_box(session)
    assert len(h.engine.hierarchy) == 3
    h.engine.n_delete(META, SESSION, session)
    assert len(h.engine.hierarchy) == 0
    fails(Status.NO_SUCH_SOP_INSTANCE, h.set_image, images[0], 1)
    fails(Status.NO_SUCH_SOP_INSTANCE, h.engine.n_get, META, FILM_BOX, box, [])
    h.session()  # a new session may follow on the same association


def test_film_box_delete_leaves_the_previous_one_last() -> None:
    h = Harness()
    session = h.session()
    first, _, _ = h.film_box(session)
    second, images, _ = h.film_box(session)
    h.engine.n_delete(META, FILM_BOX, second)
    box = h.engine.hierarchy.last_film_box()
    assert box is not None and box.sop_instance_uid == first
    fails(Status.NO_SUCH_SOP_INSTANCE, h.set_image, images[0], 1)


def test_n_get_extension_and_attribute_identifier_list() -> None:
    h = Harness()
    session = h.session(FilmSessionLabel="CHEST")
    box, images, _ = h.film_box(session)
    h.set_image(images[0], 1)
    assert h.engine.n_get(META, SESSION, session, []).dataset.FilmSessionLabel == "CHEST"  # type: ignore[union-attr]
    outcome = h.engine.n_get(META, FILM_BOX, box, [0x20100050, 0x20100040])
    assert outcome.status is Status.SUCCESS and outcome.dataset is not None
    assert sorted(outcome.dataset.keys()) == [0x20100040, 0x20100050]
    image = h.engine.n_get(META, IMAGE_BOX, images[0], []).dataset
    assert image is not None and image.BasicGrayscaleImageSequence[0].Rows == 64
    printer = h.engine.n_get(META, uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010, 0x00080070, 0x00100010])
    assert printer.status is Status.ATTRIBUTE_LIST_ERROR and printer.offending == (0x00100010,)
    assert printer.dataset is not None and printer.dataset.PrinterStatus == "NORMAL"


def test_close_drops_everything() -> None:
    h = Harness()
    h.printable()
    h.engine.n_create(PLUT, PLUT, None, wire({"PresentationLUTShape": "IDENTITY"}))
    h.engine.close()
    assert len(h.engine.hierarchy) == 0 and h.engine.hierarchy.film_session is None


def test_annotation_text_uses_the_session_character_set() -> None:
    h = Harness(annotation=True)
    session = h.session(SpecificCharacterSet="ISO_IR 192")
    h.film_box(session, AnnotationDisplayFormatID="LABEL")
    box = h.engine.hierarchy.last_film_box()
    assert box is not None
    annotation = box.annotation_boxes[0]
    text = "Müller 日本 ≥ 3"
    sent = dataset(SpecificCharacterSet="ISO_IR 192", AnnotationPosition=1, TextString=text)
    received = wire(sent)
    del received.SpecificCharacterSet  # the SCU relies on the session's character set (H.4.2.2.1.3)
    outcome = h.engine.n_set(
        uids.BASIC_ANNOTATION_BOX, uids.BASIC_ANNOTATION_BOX, annotation.sop_instance_uid, received
    )
    assert outcome.status is Status.SUCCESS
    assert annotation.text_string == text
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_set,
        uids.BASIC_ANNOTATION_BOX,
        uids.BASIC_ANNOTATION_BOX,
        annotation.sop_instance_uid,
        wire({"AnnotationPosition": 2, "TextString": "x"}),
    )


def _implicit_element(group: int, element: int, value: bytes, length: int | None = None) -> bytes:
    import struct

    return struct.pack("<HHI", group, element, len(value) if length is None else length) + value


@pytest.mark.parametrize(
    ("data", "status", "tag"),
    [
        (
            _implicit_element(0x2020, 0x0010, b"\x01\x00\x00"),
            Status.INVALID_ATTRIBUTE_VALUE,
            0x20200010,
        ),  # US of 3 bytes
        (_implicit_element(0x2020, 0x0010, b"\x01"), Status.INVALID_ATTRIBUTE_VALUE, 0x20200010),
        (_implicit_element(0x0100, 0x0002, b"\x00\x01\x02"), Status.NO_SUCH_ATTRIBUTE, 0x01000002),
    ],
)
def test_unreadable_bytes_get_a_status_naming_the_tag(data: bytes, status: Status, tag: int) -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session())
    received = decode(io.BytesIO(data), True, True)
    fails(status, h.engine.n_set, META, IMAGE_BOX, images[0], received, offending=tag)


# --- layouts and fit (PS3.4 H.4.3.1.2.1.2) --------------------------------------------------------------------


def test_slide_and_custom_layouts_create_their_image_boxes() -> None:
    h = Harness()
    session = h.session()
    _, slides, _ = h.film_box(session, "SLIDE", FilmSizeID="14INX17IN")
    assert len(slides) == 56
    _, custom, _ = h.film_box(session, "CUSTOM\\1")
    assert len(custom) == 3
    h2 = Harness(image_display_formats=("STANDARD",))
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h2.engine.n_create,
        META,
        FILM_BOX,
        None,
        film_box_request(h2.session(), "SLIDE"),
        offending=0x20100010,
    )


def test_fit_statuses_at_image_box_n_set() -> None:
    h = Harness()
    _, images, _ = h.film_box(h.session(), "STANDARD\\2,2", FilmSizeID="8INX10IN")  # boxes 101.6 x 127 mm
    assert h.set_image(images[0], 1, RequestedImageSize="90").status is Status.SUCCESS
    assert h.set_image(images[0], 1, RequestedImageSize="150").status is Status.IMAGE_DEMAGNIFIED
    assert (
        h.set_image(images[0], 1, RequestedImageSize="150", RequestedDecimateCropBehavior="DECIMATE").status
        is Status.IMAGE_DECIMATED
    )
    assert (
        h.set_image(images[0], 1, RequestedImageSize="150", RequestedDecimateCropBehavior="CROP").status
        is Status.IMAGE_CROPPED
    )
    image_box = h.engine.hierarchy.last_film_box().image_boxes[0]  # type: ignore[union-attr]
    before = image_box.image
    fails(
        Status.IMAGE_LARGER_THAN_BOX,
        h.set_image,
        images[0],
        1,
        np.zeros((8, 8), dtype=np.uint16),
        RequestedImageSize="150",
        RequestedDecimateCropBehavior="FAIL",
    )
    assert image_box.image is before and image_box.requested_decimate_crop_behavior.value == "CROP"  # type: ignore
    # a box of 101.6 x 127 mm prints 1200 x 1500 pixels at 300 dpi: Magnification Type NONE cannot decimate
    # 2048 columns into it
    big = np.zeros((2048, 2048), dtype=np.uint16)
    fails(
        Status.IMAGE_LARGER_THAN_BOX,
        h.set_image,
        images[1],
        2,
        big,
        MagnificationType="NONE",
        RequestedDecimateCropBehavior="DECIMATE",
    )
    assert (
        h.set_image(images[1], 2, np.zeros((256, 256), dtype=np.uint16), MagnificationType="NONE").status
        is Status.SUCCESS
    )  # 21.7 mm at 300 dpi: fits


def test_fit_is_checked_again_at_print_time() -> None:
    h = Harness()
    session = h.session()
    box, images, _ = h.film_box(session, "STANDARD\\1,1", FilmSizeID="8INX10IN")
    assert h.set_image(images[0], 1, np.zeros((512, 512), dtype=np.uint16)).status is Status.SUCCESS
    # the film box now asks for one image pixel per printer pixel; 512 px at 300 dpi = 43.3 mm still fits
    h.engine.n_set(META, FILM_BOX, box, wire({"MagnificationType": "NONE"}))
    assert h.engine.n_action(META, FILM_BOX, box, 1, None).status is Status.SUCCESS
    h.set_image(
        images[0],
        1,
        np.zeros((2048, 2048), dtype=np.uint16),
        MagnificationType="BILINEAR",
        RequestedImageSize="300",
        RequestedDecimateCropBehavior="CROP",
    )
    outcome = h.engine.n_action(META, SESSION, session, 1, None)
    assert outcome.status is Status.IMAGE_CROPPED and len(h.submitted) == 2
    # an image wider than the 2400 x 3000 pixels the film prints at 300 dpi is demagnified by the printer's
    # default DECIMATE; then the film box asks for Magnification Type NONE, which cannot shrink
    box2, images2, _ = h.film_box(session, "STANDARD\\1,1", FilmSizeID="8INX10IN")
    assert h.set_image(images2[0], 1, np.zeros((2600, 2600), dtype=np.uint16)).status is Status.IMAGE_DEMAGNIFIED
    h.engine.n_set(META, FILM_BOX, box2, wire({"MagnificationType": "NONE"}))
    fails(Status.IMAGE_LARGER_THAN_BOX, h.engine.n_action, META, FILM_BOX, box2, 1, None)
    assert len(h.submitted) == 2  # nothing queued


def test_film_box_presentation_lut_must_fit_the_images_already_set() -> None:
    h = Harness()
    eight_bit_lut = h.engine.n_create(PLUT, PLUT, None, lut_request(entries=256, bits=12)).affected_sop_instance_uid
    box, images, _ = h.film_box(h.session())
    h.set_image(images[0], 1)  # 12-bit
    ds = Dataset()
    ds.ReferencedPresentationLUTSequence = [reference(PLUT, eight_bit_lut)]  # type: ignore[arg-type]
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_set, META, FILM_BOX, box, wire(ds), offending=0x20500500)
    assert h.engine.hierarchy.last_film_box().attributes.referenced_presentation_lut is None  # type: ignore[union-attr]
    assert h.engine.n_action(META, FILM_BOX, box, 1, None).status is Status.SUCCESS


def test_illumination_must_be_positive() -> None:
    h = Harness()
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_create,
        META,
        FILM_BOX,
        None,
        film_box_request(h.session(), Illumination=0),
        offending=0x2010015E,
    )


def test_unsupported_image_box_override_falls_back_to_the_film_box() -> None:
    h = Harness(magnification_types=("REPLICATE", "BILINEAR"))
    _, images, _ = h.film_box(h.session(), MagnificationType="REPLICATE", ConfigurationInformation="CS700")
    outcome = h.set_image(images[0], 1, MagnificationType="CUBIC", ConfigurationInformation="CS123")
    assert outcome.status is Status.ATTRIBUTE_VALUE_OUT_OF_RANGE
    assert "using the Film Box's" in outcome.error_comment
    (request_film,) = [
        snapshot_film(
            h.engine.hierarchy.film_session, h.engine.hierarchy.last_film_box(), h.engine.hierarchy.presentation_luts
        )
    ]  # type: ignore
    assert (
        request_film.image_boxes[0].magnification_type.value,
        request_film.image_boxes[0].configuration_information,
    ) == ("REPLICATE", "CS700")


def test_character_set_terms_and_consistency() -> None:
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        Harness().engine.n_create,
        META,
        SESSION,
        None,
        wire({"SpecificCharacterSet": "ISO_IR 6"}),
        offending=0x00080005,
    )  # a pydicom alias, not a DICOM term
    h = Harness()
    session = h.session(SpecificCharacterSet="ISO_IR 100")
    ds = film_box_request(session)
    ds.SpecificCharacterSet = "ISO_IR 192"
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, ds, offending=0x00080005)
    same = film_box_request(session)
    same.SpecificCharacterSet = "ISO_IR 100"
    assert h.engine.n_create(META, FILM_BOX, None, same).status is Status.SUCCESS


def test_the_session_character_set_changes_only_before_its_first_film_box() -> None:
    h = Harness()
    session = h.session(SpecificCharacterSet="ISO_IR 100")
    assert h.engine.n_set(META, SESSION, session, wire({"SpecificCharacterSet": "ISO_IR 192"})).status is Status.SUCCESS
    assert h.engine.n_create(META, FILM_BOX, None, film_box_request(session)).status is Status.SUCCESS
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_set,
        META,
        SESSION,
        session,
        wire({"SpecificCharacterSet": "ISO_IR 100"}),
        offending=0x00080005,
    )
    same = wire({"SpecificCharacterSet": "ISO_IR 192", "FilmSessionLabel": "Ωmega"})
    outcome = h.engine.n_set(META, SESSION, session, same)
    assert outcome.status is Status.SUCCESS and outcome.dataset is not None
    assert (outcome.dataset.SpecificCharacterSet, outcome.dataset.FilmSessionLabel) == ("ISO_IR 192", "Ωmega")


def test_image_box_polarity_default_comes_from_the_profile() -> None:
    defaults = dataclasses.replace(profile().defaults, polarity="REVERSE")
    h = Harness(defaults=defaults)
    _, box, _ = h.printable()
    h.engine.n_action(META, FILM_BOX, box, 1, None)
    assert h.submitted[0].films[0].image_boxes[0].polarity.value == "REVERSE"


@pytest.mark.parametrize(
    ("status", "info"),
    [(PrinterStatus.NORMAL, "SUPPLY LOW"), (PrinterStatus.WARNING, "NORMAL"), (PrinterStatus.FAILURE, "NOT A TERM")],
)
def test_printer_status_info_must_go_with_the_status(status: PrinterStatus, info: str) -> None:
    printer = Printer()
    with pytest.raises(ValueError, match="Printer Status Info"):
        printer.set_status(status, info)
    assert printer.state.printer_status is PrinterStatus.NORMAL


def test_printer_configuration_lists_only_formats_the_printer_offers() -> None:
    from printscp.model.encode import encode_printer_configuration

    (item,) = encode_printer_configuration(profile(image_display_formats=("ROW", "COL"))).PrinterConfigurationSequence
    formats = {str(f.ImageDisplayFormat) for f in item.SupportedImageDisplayFormatsSequence}
    assert formats == {"ROW\\1"} and item.PrintingBitDepth == 8


# --- text held to its character repertoire and VR length (found from outside, item 5) -------------------


def _raw_text(ds: Dataset, tag: int, vr: str, value: bytes) -> Dataset:
    """`ds` on the wire with one text element holding exactly `value` (not encoded by pydicom)."""
    received = wire(ds)
    received[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, True, True)  # type: ignore[assignment]
    return received


def test_a_label_that_is_not_utf8_in_iso_ir_192_is_refused() -> None:
    sent = _raw_text(dataset(SpecificCharacterSet="ISO_IR 192"), 0x20000050, "LO", b"Caf\xe9 \xff ")
    fails(Status.INVALID_ATTRIBUTE_VALUE, Harness().engine.n_create, META, SESSION, None, sent, offending=0x20000050)
    good = _raw_text(dataset(SpecificCharacterSet="ISO_IR 192"), 0x20000050, "LO", "Café".encode())
    assert Harness().engine.n_create(META, SESSION, None, good).status is Status.SUCCESS


def test_annotation_text_outside_the_default_repertoire_is_refused() -> None:
    h = Harness(annotation=True)
    h.film_box(h.session(), AnnotationDisplayFormatID="LABEL")
    box = h.engine.hierarchy.last_film_box()
    assert box is not None
    annotation = box.annotation_boxes[0].sop_instance_uid
    sent = _raw_text(dataset(AnnotationPosition=1), 0x20300020, "LO", b"caf\xe9")
    fails(
        Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_set, ANNOTATION, ANNOTATION, annotation, sent, offending=0x20300020
    )
    ascii_text = _raw_text(dataset(AnnotationPosition=1), 0x20300020, "LO", b"cafe")
    assert h.engine.n_set(ANNOTATION, ANNOTATION, annotation, ascii_text).status is Status.SUCCESS


def test_configuration_information_longer_than_st_allows_is_refused() -> None:
    h = Harness()
    session = h.session()
    request = film_box_request(session, ConfigurationInformation="CS" + "9" * 4998)
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, request, offending=0x20100150)


def test_text_without_a_character_set_is_read_in_the_sessions() -> None:
    """An Annotation Box N-SET that names no character set, as most SCUs send it, is read in its Film
    Session's (PS3.4 H.4.2.2.1.3): its UTF-8 text is text, and bytes that are not UTF-8 are refused."""
    h = Harness(annotation=True)
    h.film_box(h.session(SpecificCharacterSet="ISO_IR 192"), AnnotationDisplayFormatID="LABEL")
    box = h.engine.hierarchy.last_film_box()
    assert box is not None
    annotation = box.annotation_boxes[0]
    sent = _raw_text(dataset(AnnotationPosition=1), 0x20300020, "LO", "Müller 日本".encode())
    assert "SpecificCharacterSet" not in sent
    assert h.engine.n_set(ANNOTATION, ANNOTATION, annotation.sop_instance_uid, sent).status is Status.SUCCESS
    assert annotation.text_string == "Müller 日本"
    latin1 = _raw_text(dataset(AnnotationPosition=1), 0x20300020, "LO", "Müller".encode("latin-1"))
    fails(
        Status.INVALID_ATTRIBUTE_VALUE,
        h.engine.n_set,
        ANNOTATION,
        ANNOTATION,
        annotation.sop_instance_uid,
        latin1,
        offending=0x20300020,
    )


def test_text_rules_hold_for_elements_read_before_the_engine() -> None:
    """A request whose values something read already (a DEBUG log of it) is held to the same text rules."""
    h = Harness(annotation=True)
    session = h.session()
    request = film_box_request(session, ConfigurationInformation="CS" + "9" * 4998)
    list(request.iterall())
    fails(Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_create, META, FILM_BOX, None, request, offending=0x20100150)
    h.film_box(session, AnnotationDisplayFormatID="LABEL")
    box = h.engine.hierarchy.last_film_box()
    assert box is not None
    sent = _raw_text(dataset(AnnotationPosition=1), 0x20300020, "LO", b"caf\xe9")
    list(sent.iterall())
    annotation = box.annotation_boxes[0].sop_instance_uid
    fails(
        Status.INVALID_ATTRIBUTE_VALUE, h.engine.n_set, ANNOTATION, ANNOTATION, annotation, sent, offending=0x20300020
    )
