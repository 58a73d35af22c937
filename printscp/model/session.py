"""The print hierarchy of one association: its objects, how each is created, changed and deleted.

PS3.4 H.2.1.1 / H.5: an association holds at most one Basic Film Session; the session creates its Film
Boxes, each created with its Image Boxes (one per cell of its Image Display Format, of the class its Meta
SOP Class gives) and Annotation Boxes; Presentation LUTs live beside them until deleted or the association
ends. Only the last created Film Box may be changed, printed or deleted (H.4.2.2), and so only its Image
and Annotation Boxes may be set. Each object checks the rules that span its attributes when it is created
or changed (a value on its own is checked when it is decoded, model/values.py) and raises the status the
standard gives; `Hierarchy` below holds the rules between objects.

N-ACTION copies what it prints into the frozen film record (model/record.py; H.4.1.2.4.1), sharing
the read-only pixel arrays: a later N-SET replaces an Image Box's array instead of writing into it,
so a queued print never changes.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.uid import generate_uid

from printscp import uids
from printscp.errors import (
    ClassInstanceConflict,
    DuplicateSOPInstance,
    InvalidAttributeValue,
    InvalidSOPInstance,
    NoSuchSOPInstance,
    PrintError,
    PrintWarning,
    ProcessingFailure,
)
from printscp.model.enums import (
    MagnificationType,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedDecimateCropBehavior,
)
from printscp.model.layout import FilmGeometry, LayoutError
from printscp.model.personality import Leniency
from printscp.model.profile import PrinterProfile
from printscp.model.record import (
    AnnotationSnapshot,
    FilmBoxAttributes,
    FilmSnapshot,
    GrayscaleImage,
    Image,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
    ProposedStudy,
    geometry_of,
    place,
)
from printscp.status import Status

IMAGE_BOX_POSITION, ANNOTATION_POSITION = 0x20200010, 0x20300010
SPECIFIC_CHARACTER_SET = 0x00080005
REFERENCED_PRESENTATION_LUT_SEQUENCE = 0x20500500

FIT_MESSAGES = {
    Status.IMAGE_DEMAGNIFIED: "image larger than its box; demagnified to fit",
    Status.IMAGE_DECIMATED: "image larger than its box; decimated to fit",
    Status.IMAGE_CROPPED: "image larger than its box; cropped to fit",
}

PresentationLUTs = Mapping[str, "PresentationLUT"]  # SOP Instance UID -> the association's P-LUT

# Leniency.FILM_SESSION_PRESENTATION: the Film Box attributes a Film Session may hold (pre-CP-173 placement)
SESSION_PRESENTATION = ("illumination", "reflected_ambient_light", "referenced_presentation_lut")


@dataclass
class PresentationLUT:
    """A Presentation LUT SOP Instance (PS3.4 H.4.9): a shape, or an explicit table of P-Values."""

    sop_instance_uid: str
    presentation_lut_shape: PresentationLUTShape | None = None
    lut_descriptor: tuple[int, int, int] | None = None  # entries, first input value, bits per entry
    lut_explanation: str = ""
    lut_data: npt.NDArray[np.uint16] | None = None

    sop_class_uid = uids.PRESENTATION_LUT

    @property
    def snapshot(self) -> PresentationLUTSnapshot:
        return PresentationLUTSnapshot(
            self.sop_instance_uid, self.presentation_lut_shape, self.lut_descriptor, self.lut_data
        )


@dataclass
class FilmSession:
    """Basic Film Session (PS3.3 C.13.1); values already validated and defaulted."""

    sop_instance_uid: str
    specific_character_set: tuple[str, ...]
    number_of_copies: int
    print_priority: PrintPriority
    medium_type: str
    film_destination: str
    film_session_label: str
    owner_id: str
    memory_allocation: int | None = None
    proposed_study: ProposedStudy | None = None
    # Leniency.FILM_SESSION_PRESENTATION (pre-CP-173 placement); None: not sent
    illumination: int | None = None
    reflected_ambient_light: int | None = None
    referenced_presentation_lut: str | None = None  # SOP Instance UID
    film_boxes: list[FilmBox] = field(default_factory=list)

    sop_class_uid = uids.BASIC_FILM_SESSION

    def update(self, values: Mapping[str, Any], luts: PresentationLUTs) -> None:
        """N-SET (PS3.4 H.4.1.2.2)."""
        if values.get("referenced_presentation_lut") is not None:
            # a session P-LUT prints the images of every Film Box and Image Box without their own
            candidate = dataclasses.replace(self, **values)
            for box in self.film_boxes:
                attributes = candidate.presentation_for(box.attributes)
                for image_box in box.image_boxes:
                    if image_box.referenced_presentation_lut is None:
                        check_lut_matches(_lut(luts, attributes.referenced_presentation_lut), image_box.image)
        character_set = values.get("specific_character_set", self.specific_character_set)
        if self.film_boxes and not same_character_set(character_set, self.specific_character_set):
            # its Film Boxes' text was decoded in the old set and must stay in the session's (H.4.2.2.1.3)
            raise InvalidAttributeValue(
                f"Specific Character Set (0008,0005) cannot change to {'/'.join(character_set) or 'default'} "
                f"while the Film Session has Film Boxes in {'/'.join(self.specific_character_set) or 'default'} "
                "(PS3.4 H.4.2.2.1.3)",
                [SPECIFIC_CHARACTER_SET],
            )
        _assign(self, values)

    def presentation_for(self, attributes: FilmBoxAttributes) -> FilmBoxAttributes:
        """A Film Box's `attributes` with this session's Illumination, Reflected Ambient Light and P-LUT where
        the box has none of its own (Leniency.FILM_SESSION_PRESENTATION: only that personality sets them)."""
        inherited = {
            name: getattr(self, name)
            for name in SESSION_PRESENTATION
            if getattr(attributes, name) is None and getattr(self, name) is not None
        }
        return dataclasses.replace(attributes, **inherited) if inherited else attributes

    def create_film_box(
        self,
        sop_instance_uid: str,
        attributes: FilmBoxAttributes,
        profile: PrinterProfile,
        image_box_sop_class_uid: str,
        image_box_values: Mapping[str, Any],
        with_annotation_boxes: bool,
    ) -> FilmBox:
        """N-CREATE of a Film Box (PS3.4 H.4.2.2.1): the box, one Image Box per cell in Image Box Position
        order (digest 4.3), of the class its Meta SOP Class gives, and one Annotation Box per position of its
        Annotation Display Format when the SCU negotiated annotations."""
        try:
            geometry = geometry_of(
                attributes.film_size_id,
                attributes.film_orientation,
                attributes.image_display_format,
                attributes.annotation_display_format_id,
                profile,
            )
        except LayoutError as exc:
            raise InvalidAttributeValue(f"Image Display Format (2010,0010): {exc}", [0x20100010]) from None
        box = FilmBox(sop_instance_uid, attributes, image_box_sop_class_uid, geometry, weakref.ref(self))
        parent = weakref.ref(box)
        box.image_boxes = [
            ImageBox(generate_uid(), image_box_sop_class_uid, position, parent, **image_box_values)
            for position in range(1, len(geometry.cells) + 1)
        ]
        if with_annotation_boxes and attributes.annotation_display_format_id:
            box.annotation_boxes = [
                AnnotationBox(generate_uid(), position, parent)
                for position in range(1, len(geometry.annotation_boxes) + 1)
            ]
        self.film_boxes.append(box)
        return box


@dataclass
class FilmBox:
    """Basic Film Box (PS3.3 C.13.3): its attributes and the boxes created with it."""

    sop_instance_uid: str
    attributes: FilmBoxAttributes  # replaced as a whole by N-SET, so it is always valid
    image_box_sop_class_uid: str
    geometry: FilmGeometry  # from the create-only attributes, so fixed for the film box's life
    _session: weakref.ref[FilmSession] = field(repr=False)  # weak, as its boxes refer to it (_Child)
    image_boxes: list[ImageBox] = field(default_factory=list)
    annotation_boxes: list[AnnotationBox] = field(default_factory=list)
    printed: bool = False

    sop_class_uid = uids.BASIC_FILM_BOX

    @property
    def has_image(self) -> bool:
        return any(box.image is not None for box in self.image_boxes)

    @property
    def printed_attributes(self) -> FilmBoxAttributes:
        """The attributes it prints with: its own, and its session's presentation values where it has none."""
        return self._printed(self.attributes)

    def _printed(self, attributes: FilmBoxAttributes) -> FilmBoxAttributes:
        session = self._session()
        return attributes if session is None else session.presentation_for(attributes)

    def place_annotation(self, sender: AnnotationBox, position: int, text: str | None) -> AnnotationBox | None:
        """Leniency.ANNOTATION_POSITION: the Text String of an Annotation Box N-SET naming `position`, not the
        sender's own. Like any N-SET it replaces what the sender's earlier N-SETs wrote (an empty text only
        erases that); the text goes where `put_text` finds room. Returns the box that took the text."""
        if text is None:
            return None
        for box in self.annotation_boxes:
            if box.set_by == sender.sop_instance_uid:
                box.text_string, box.set_by = "", ""
        return self.put_text(text, sender.sop_instance_uid, position) if text else None

    def put_text(self, text: str, set_by: str, position: int) -> AnnotationBox:
        """The free box (no text) nearest to `position` takes `text`: the box at `position` itself when it exists
        and is free, the lower position on a tie; with none free it is appended to the last box's: never lost."""
        free = [box for box in self.annotation_boxes if not box.text_string]
        target = min(
            free, key=lambda box: (abs(box.annotation_position - position), box.annotation_position), default=None
        )
        if target is None:
            last = self.annotation_boxes[-1]
            last.text_string = f"{last.text_string} {text}"
            return last
        target.text_string, target.set_by = text, set_by
        return target

    def update(self, values: Mapping[str, Any], luts: PresentationLUTs) -> None:
        """N-SET (PS3.4 H.4.2.2.2); the film box's P-LUT applies to the images without their own."""
        attributes = dataclasses.replace(self.attributes, **values)
        film_lut = _lut(luts, self._printed(attributes).referenced_presentation_lut)
        for image_box in self.image_boxes:
            if image_box.referenced_presentation_lut is None:
                check_lut_matches(film_lut, image_box.image)
        self.attributes = attributes


class _Child:
    """A box created with a film box. It refers back weakly, so that a dropped hierarchy (and its
    pixels) is freed by reference counting at once instead of waiting for the cycle collector."""

    _parent: weakref.ref[FilmBox]

    @property
    def film_box(self) -> FilmBox:
        box = self._parent()
        assert box is not None, "a film box outlives its image and annotation boxes"
        return box


@dataclass
class ImageBox(_Child):
    """Basic Grayscale or Basic Color Image Box (PS3.3 C.13.5), as `sop_class_uid` says; bound to its position
    at creation (digest 4.3). A colour box has no densities, Configuration Information or P-LUT of its own."""

    sop_instance_uid: str
    sop_class_uid: str
    image_box_position: int
    _parent: weakref.ref[FilmBox] = field(repr=False)
    image: Image | None = None
    polarity: Polarity = Polarity.NORMAL
    magnification_type: MagnificationType | None = None  # None: the film box's
    smoothing_type: str | None = None
    min_density: int | None = None
    max_density: int | None = None
    configuration_information: str | None = None
    requested_image_size: float | None = None  # printed width in mm
    requested_decimate_crop_behavior: RequestedDecimateCropBehavior | None = None
    referenced_presentation_lut: str | None = None  # SOP Instance UID; None: the film box's
    original_image: tuple[Mapping[str, str], ...] = ()  # Original Image Sequence items, UIDs only

    def update(self, values: Mapping[str, Any], luts: PresentationLUTs, profile: PrinterProfile) -> list[PrintWarning]:
        """N-SET (PS3.4 H.4.3.1.2.1); returns the fit warnings of its image (B604, B609, B60A)."""
        values = dict(values)
        check_position(values.pop("image_box_position"), self.image_box_position, IMAGE_BOX_POSITION)
        candidate = dataclasses.replace(self, **values)
        film_box = self.film_box
        snapshot = snapshot_image_box(candidate, film_box, luts)
        check_density_range(snapshot.min_density, snapshot.max_density)
        film_lut = film_box.printed_attributes.referenced_presentation_lut
        lut = _lut(luts, candidate.referenced_presentation_lut or film_lut)
        check_lut_matches(lut, candidate.image)
        warnings = []
        if candidate.image is not None:
            # PS3.4 H.4.3.1.2.1.2: an image larger than its box is decimated, cropped or refused now
            dpi = profile.dpi(film_box.attributes.requested_resolution_id.value)
            placement = place(film_box.geometry.cells[self.image_box_position - 1], snapshot, dpi, profile)
            if placement.status is not None:
                warnings.append(PrintWarning(placement.status, FIT_MESSAGES[placement.status]))
        _assign(self, values)
        return warnings


@dataclass
class AnnotationBox(_Child):
    """Basic Annotation Box (PS3.3 C.13.7)."""

    sop_instance_uid: str
    annotation_position: int
    _parent: weakref.ref[FilmBox] = field(repr=False)
    text_string: str = ""
    set_by: str = ""  # the Annotation Box whose N-SET wrote text_string (another one's: a placed text)

    sop_class_uid = uids.BASIC_ANNOTATION_BOX

    def update(self, values: Mapping[str, Any], profile: PrinterProfile) -> AnnotationBox | None:
        """N-SET (PS3.4 H.4.5.1.2.1); returns the box whose text it changed, if any."""
        values = dict(values)
        position = values.pop("annotation_position")
        if position != self.annotation_position and profile.allows(Leniency.ANNOTATION_POSITION):
            return self.film_box.place_annotation(self, position, values.get("text_string"))
        check_position(position, self.annotation_position, ANNOTATION_POSITION)
        if "text_string" not in values:
            return None
        # a text another box's N-SET placed here gives way to the box's own, and moves on (never lost)
        displaced = self.text_string if self.set_by not in ("", self.sop_instance_uid) else ""
        displaced_by = self.set_by
        self.text_string = values["text_string"]
        self.set_by = self.sop_instance_uid if self.text_string else ""
        if displaced:
            self.film_box.put_text(displaced, displaced_by, self.annotation_position)
        return self


Instance = FilmSession | FilmBox | ImageBox | AnnotationBox | PresentationLUT


def _assign(target: object, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        setattr(target, name, value)


def _lut(luts: PresentationLUTs, sop_instance_uid: str | None) -> PresentationLUT | None:
    return None if sop_instance_uid is None else luts[sop_instance_uid]


def same_character_set(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return tuple(t for t in a if t) == tuple(t for t in b if t)


def check_position(sent: int, bound: int, tag: int) -> None:
    """Image and Annotation Boxes are bound to their position at creation (digest 4.3)."""
    if sent != bound:
        name = "Image Box Position (2020,0010)" if tag == IMAGE_BOX_POSITION else "Annotation Position (2030,0010)"
        raise InvalidAttributeValue(f"{name} {sent} does not match this box's position {bound}", [tag])


def check_density_range(min_density: int, max_density: int) -> None:
    if min_density >= max_density:
        raise InvalidAttributeValue(
            f"Min Density {min_density} must be below Max Density {max_density}", [0x20100120, 0x20100130]
        )


def check_lut_matches(plut: PresentationLUT | None, image: Image | None) -> None:
    """PS3.3 C.11.4.1: a LUT table has 256 entries for 8-bit images and 4096 for 12-bit ones. A colour image
    prints without a Presentation LUT (PS3.4 H.4.9 applies to grayscale), so any fits it."""
    if plut is None or plut.lut_descriptor is None or not isinstance(image, GrayscaleImage):
        return
    entries = plut.lut_descriptor[0]
    if entries != 1 << image.bits_stored:
        raise InvalidAttributeValue(
            f"Presentation LUT has {entries} entries; a {image.bits_stored}-bit image needs "
            f"{1 << image.bits_stored} ({plut.sop_instance_uid})",
            [REFERENCED_PRESENTATION_LUT_SEQUENCE],
        )


# --- snapshots ------------------------------------------------------------------------------------


def snapshot_image_box(ib: ImageBox, box: FilmBox, luts: PresentationLUTs) -> ImageBoxSnapshot:
    """Freeze one image box; its values override the film box's (PS3.4 H.4.3.1.2.1)."""
    film = box.printed_attributes
    plut = _lut(luts, ib.referenced_presentation_lut or film.referenced_presentation_lut)
    return ImageBoxSnapshot(
        image_box_position=ib.image_box_position,
        image=ib.image,
        polarity=ib.polarity,
        magnification_type=ib.magnification_type or film.magnification_type,
        smoothing_type=ib.smoothing_type or film.smoothing_type,
        min_density=film.min_density if ib.min_density is None else ib.min_density,
        max_density=film.max_density if ib.max_density is None else ib.max_density,
        configuration_information=ib.configuration_information or film.configuration_information,
        requested_image_size=ib.requested_image_size,
        requested_decimate_crop_behavior=ib.requested_decimate_crop_behavior,
        presentation_lut=plut.snapshot if plut else None,
        original_image=ib.original_image,
    )


def snapshot_film(session: FilmSession, box: FilmBox, luts: PresentationLUTs) -> FilmSnapshot:
    """Freeze one film box and everything it prints, for a print job."""
    printed = box.printed_attributes
    attributes = {f.name: getattr(printed, f.name) for f in dataclasses.fields(FilmBoxAttributes)}
    return FilmSnapshot(
        **attributes,
        film_session_uid=session.sop_instance_uid,
        film_box_uid=box.sop_instance_uid,
        medium_type=session.medium_type,
        film_destination=session.film_destination,
        film_session_label=session.film_session_label,
        owner_id=session.owner_id,
        specific_character_set=session.specific_character_set,
        image_boxes=tuple(snapshot_image_box(ib, box, luts) for ib in box.image_boxes),
        annotations=tuple(AnnotationSnapshot(a.annotation_position, a.text_string) for a in box.annotation_boxes),
        film_box_number=session.film_boxes.index(box) + 1,
    )


# --- the hierarchy of one association and its state rules -----------------------------------------


class Hierarchy:
    """The SOP instances one association has created, and the rules for touching them."""

    def __init__(self, supports_film_session_print: bool = True) -> None:
        self.film_session: FilmSession | None = None
        self.presentation_luts: dict[str, PresentationLUT] = {}
        self._instances: dict[str, Instance] = {}
        self._supports_film_session_print = supports_film_session_print

    def __iter__(self) -> Iterator[Instance]:
        return iter(self._instances.values())

    def __len__(self) -> int:
        return len(self._instances)

    # lookups

    def find(self, sop_class_uid: str, sop_instance_uid: str) -> Instance:
        """The instance, or 0112 if it does not exist and 0119 if it is of another class."""
        instance = self._instances.get(sop_instance_uid)
        if instance is None:
            raise NoSuchSOPInstance(f"no such {uids.name(sop_class_uid)} on this association: {sop_instance_uid}")
        if instance.sop_class_uid != sop_class_uid:
            raise ClassInstanceConflict(
                f"instance is a {uids.name(instance.sop_class_uid)}, not a {uids.name(sop_class_uid)}: "
                f"{sop_instance_uid}"
            )
        return instance

    def last_film_box(self) -> FilmBox | None:
        if self.film_session is None or not self.film_session.film_boxes:
            return None
        return self.film_session.film_boxes[-1]

    def film_box_for_update(self, sop_instance_uid: str) -> FilmBox:
        """PS3.4 H.4.2.2: N-SET, N-ACTION and N-DELETE apply only to the last created Film Box."""
        box = self.find(uids.BASIC_FILM_BOX, sop_instance_uid)
        assert isinstance(box, FilmBox)
        if box is not self.last_film_box():
            raise NoSuchSOPInstance(
                "not the last created Film Box; only that one can be changed, printed or deleted (PS3.4 H.4.2.2)"
            )
        return box

    def image_box_for_update(self, sop_class_uid: str, sop_instance_uid: str) -> ImageBox:
        box = self.find(sop_class_uid, sop_instance_uid)
        assert isinstance(box, ImageBox)
        if box.film_box is not self.last_film_box():
            raise NoSuchSOPInstance("Image Box of a Film Box that is not the last created (PS3.4 H.4.3.1.2)")
        return box

    def annotation_box_for_update(self, sop_instance_uid: str) -> AnnotationBox:
        box = self.find(uids.BASIC_ANNOTATION_BOX, sop_instance_uid)
        assert isinstance(box, AnnotationBox)
        if box.film_box is not self.last_film_box():
            raise NoSuchSOPInstance("Annotation Box of a Film Box that is not the last created (PS3.4 H.4.5)")
        return box

    def presentation_lut(self, sop_instance_uid: str, tag: int) -> PresentationLUT:
        """A P-LUT referenced from a film or image box; an unknown one is an invalid value (digest 3.2)."""
        plut = self.presentation_luts.get(sop_instance_uid)
        if plut is None:
            raise InvalidAttributeValue(
                f"Referenced Presentation LUT not created on this association: {sop_instance_uid}", [tag]
            )
        return plut

    # creation

    def check_new_uid(self, sop_instance_uid: str) -> None:
        if sop_instance_uid in self._instances:
            raise DuplicateSOPInstance(f"SOP Instance UID already in use: {sop_instance_uid}")

    def check_can_add_film_session(self) -> None:
        # PS3.4 H.4.1.2.1: one Film Session at a time per association (digest 10.2: 0111 when a second comes)
        if self.film_session is not None:
            raise DuplicateSOPInstance(
                "only one Film Session per association (PS3.4 H.2.1.1); it exists: "
                f"{self.film_session.sop_instance_uid}"
            )

    def add_film_session(self, session: FilmSession) -> None:
        self.check_can_add_film_session()
        self.check_new_uid(session.sop_instance_uid)
        self.film_session = session
        self._instances[session.sop_instance_uid] = session

    def require_film_session(self) -> FilmSession:
        if self.film_session is None:
            raise InvalidSOPInstance("no Film Session on this association; create one first")
        return self.film_session

    def check_can_add_film_box(self) -> None:
        self.require_film_session()
        last = self.last_film_box()
        # PS3.4 H.4.2.2.1.3: without Film Session N-ACTION an unprinted film box blocks a new one
        if not self._supports_film_session_print and last is not None and not last.printed:
            raise PrintError(
                "the last Film Box is not printed yet and this printer does not print Film Sessions",
                status=Status.UNPRINTED_FILM_BOX_EXISTS,
            )

    def add_film_box(self, box: FilmBox) -> None:
        """Registers a film box its session created, with its image and annotation boxes."""
        self._instances[box.sop_instance_uid] = box
        children: list[Instance] = [*box.image_boxes, *box.annotation_boxes]
        for child in children:
            self._instances[child.sop_instance_uid] = child

    def add_presentation_lut(self, plut: PresentationLUT) -> None:
        self.check_new_uid(plut.sop_instance_uid)
        self.presentation_luts[plut.sop_instance_uid] = plut
        self._instances[plut.sop_instance_uid] = plut

    # deletion

    def delete_film_session(self, sop_instance_uid: str) -> None:
        """PS3.4 H.4.1.2.3: deletes the session and every film, image and annotation box under it."""
        session = self.find(uids.BASIC_FILM_SESSION, sop_instance_uid)
        assert isinstance(session, FilmSession)
        for box in list(session.film_boxes):
            self._forget_film_box(box)
        session.film_boxes.clear()
        del self._instances[session.sop_instance_uid]
        self.film_session = None

    def delete_film_box(self, sop_instance_uid: str) -> None:
        """PS3.4 H.4.2.2.3: deletes the last film box with its image and annotation boxes."""
        box = self.film_box_for_update(sop_instance_uid)
        self._forget_film_box(box)
        session = self.require_film_session()
        session.film_boxes.remove(box)

    def _forget_film_box(self, box: FilmBox) -> None:
        children: list[Instance] = [*box.image_boxes, *box.annotation_boxes]
        for child in children:
            self._instances.pop(child.sop_instance_uid, None)
        self._instances.pop(box.sop_instance_uid, None)

    def delete_presentation_lut(self, sop_instance_uid: str) -> None:
        """PS3.4 H.4.9.2.2: a P-LUT still referenced must not be deleted (DCMTK answers 0110)."""
        plut = self.find(uids.PRESENTATION_LUT, sop_instance_uid)
        assert isinstance(plut, PresentationLUT)
        for instance in self._instances.values():
            reference = instance.attributes if isinstance(instance, FilmBox) else instance
            if (
                isinstance(reference, (FilmBoxAttributes, ImageBox, FilmSession))
                and reference.referenced_presentation_lut == plut.sop_instance_uid
            ):
                raise ProcessingFailure(
                    f"Presentation LUT still referenced by {uids.name(instance.sop_class_uid)} "
                    f"{instance.sop_instance_uid}"
                )
        del self.presentation_luts[sop_instance_uid]
        del self._instances[sop_instance_uid]

    def clear(self) -> None:
        """Association end (PS3.4 H.5): every instance goes, except Print Jobs that hold their own copy."""
        self.film_session = None
        self.presentation_luts.clear()
        self._instances.clear()

    # printing

    def film_boxes_to_print(self, sop_class_uid: str, sop_instance_uid: str) -> tuple[FilmSession, list[FilmBox]]:
        """The film boxes an N-ACTION prints, in order; C600 for a session without film boxes."""
        if sop_class_uid == uids.BASIC_FILM_SESSION:
            session = self.find(uids.BASIC_FILM_SESSION, sop_instance_uid)
            assert isinstance(session, FilmSession)
            if not session.film_boxes:
                raise PrintError(
                    "the Film Session has no Film Box to print (PS3.4 H.4.1.2.4.2)", status=Status.NO_FILM_BOX
                )
            return session, list(session.film_boxes)
        box = self.film_box_for_update(sop_instance_uid)
        return self.require_film_session(), [box]
