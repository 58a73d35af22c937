"""The print hierarchy of one association, its state rules, and the snapshot taken to print it.

PS3.4 H.2.1.1 / H.5: an association holds at most one Basic Film Session; the session holds Film
Boxes, each created with its Image Boxes (one per cell of its Image Display Format) and Annotation
Boxes; Presentation LUTs live beside them until deleted or the association ends. Only the last
created Film Box may be changed, printed or deleted (H.4.2.2), and so only its Image and Annotation
Boxes may be set. Every rule of that kind lives in `Hierarchy` below and raises the status the
standard (or, where it is silent, the digest's recommendation) gives.

N-ACTION copies what it prints into the frozen film record (model/record.py; H.4.1.2.4.1), sharing
the read-only pixel arrays: a later N-SET replaces an Image Box's array instead of writing into it,
so a queued print never changes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from printscp import uids
from printscp.errors import (
    ClassInstanceConflict,
    DuplicateSOPInstance,
    InvalidAttributeValue,
    InvalidSOPInstance,
    NoSuchSOPInstance,
    PrintError,
    ProcessingFailure,
)
from printscp.model.enums import (
    FilmOrientation,
    MagnificationType,
    Polarity,
    PresentationLUTShape,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import FilmGeometry, ImageDisplayFormat
from printscp.model.record import (
    AnnotationSnapshot,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
    ProposedStudy,
)
from printscp.status import Status


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
    """Basic Film Session attributes (PS3.3 C.13.1); values already validated and defaulted."""

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
    film_boxes: list[FilmBox] = field(default_factory=list)

    sop_class_uid = uids.BASIC_FILM_SESSION


@dataclass
class FilmBox:
    """Basic Film Box attributes (PS3.3 C.13.3) and the boxes created with it."""

    sop_instance_uid: str
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
    illumination: int | None  # None: the profile's value for the medium
    reflected_ambient_light: int | None
    requested_resolution_id: RequestedResolutionID
    annotation_display_format_id: str
    referenced_presentation_lut: PresentationLUT | None
    image_box_sop_class_uid: str
    geometry: FilmGeometry  # from the create-only attributes, so fixed for the film box's life
    image_boxes: list[ImageBox] = field(default_factory=list)
    annotation_boxes: list[AnnotationBox] = field(default_factory=list)
    printed: bool = False

    sop_class_uid = uids.BASIC_FILM_BOX

    @property
    def has_image(self) -> bool:
        return any(box.image is not None for box in self.image_boxes)


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
    """Basic Grayscale Image Box (PS3.3 C.13.5); bound to its position at creation (digest 4.3)."""

    sop_instance_uid: str
    sop_class_uid: str
    image_box_position: int
    _parent: weakref.ref[FilmBox] = field(repr=False)
    image: GrayscaleImage | None = None
    polarity: Polarity = Polarity.NORMAL
    magnification_type: MagnificationType | None = None  # None: the film box's
    smoothing_type: str | None = None
    min_density: int | None = None
    max_density: int | None = None
    configuration_information: str | None = None
    requested_image_size: float | None = None  # printed width in mm
    requested_decimate_crop_behavior: RequestedDecimateCropBehavior | None = None
    referenced_presentation_lut: PresentationLUT | None = None
    original_image: tuple[Mapping[str, str], ...] = ()  # Original Image Sequence items, UIDs only


@dataclass
class AnnotationBox(_Child):
    """Basic Annotation Box (PS3.3 C.13.7)."""

    sop_instance_uid: str
    annotation_position: int
    _parent: weakref.ref[FilmBox] = field(repr=False)
    text_string: str = ""

    sop_class_uid = uids.BASIC_ANNOTATION_BOX


Instance = FilmSession | FilmBox | ImageBox | AnnotationBox | PresentationLUT


# --- snapshots ------------------------------------------------------------------------------------


def snapshot_image_box(ib: ImageBox, box: FilmBox) -> ImageBoxSnapshot:
    """Freeze one image box; its values override the film box's (PS3.4 H.4.3.1.2.1)."""
    plut = ib.referenced_presentation_lut or box.referenced_presentation_lut
    return ImageBoxSnapshot(
        image_box_position=ib.image_box_position,
        image=ib.image,
        polarity=ib.polarity,
        magnification_type=ib.magnification_type or box.magnification_type,
        smoothing_type=ib.smoothing_type or box.smoothing_type,
        min_density=box.min_density if ib.min_density is None else ib.min_density,
        max_density=box.max_density if ib.max_density is None else ib.max_density,
        configuration_information=ib.configuration_information or box.configuration_information,
        requested_image_size=ib.requested_image_size,
        requested_decimate_crop_behavior=ib.requested_decimate_crop_behavior,
        presentation_lut=plut.snapshot if plut else None,
        original_image=ib.original_image,
    )


def snapshot_film(session: FilmSession, box: FilmBox) -> FilmSnapshot:
    """Freeze one film box and everything it prints, for a print job."""
    return FilmSnapshot(
        film_session_uid=session.sop_instance_uid,
        film_box_uid=box.sop_instance_uid,
        medium_type=session.medium_type,
        film_destination=session.film_destination,
        film_session_label=session.film_session_label,
        owner_id=session.owner_id,
        specific_character_set=session.specific_character_set,
        image_display_format=box.image_display_format,
        film_orientation=box.film_orientation,
        film_size_id=box.film_size_id,
        magnification_type=box.magnification_type,
        smoothing_type=box.smoothing_type,
        max_density=box.max_density,
        min_density=box.min_density,
        configuration_information=box.configuration_information,
        border_density=box.border_density,
        empty_image_density=box.empty_image_density,
        trim=box.trim,
        illumination=box.illumination,
        reflected_ambient_light=box.reflected_ambient_light,
        requested_resolution_id=box.requested_resolution_id,
        annotation_display_format_id=box.annotation_display_format_id,
        image_boxes=tuple(snapshot_image_box(ib, box) for ib in box.image_boxes),
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
        session = self.require_film_session()
        self.check_new_uid(box.sop_instance_uid)
        session.film_boxes.append(box)
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
            if isinstance(instance, (FilmBox, ImageBox)) and instance.referenced_presentation_lut is plut:
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
