"""PrintEngine: the DIMSE-N operations of print management on one association's hierarchy.

One engine per association. Each public method takes what a request carries (the presentation
context's abstract syntax, SOP class and instance UIDs, the decoded dataset) and returns an
`Outcome` (status, dataset, warnings) or raises a `PrintError`. Nothing here knows about sockets:
the network handlers only decode events, call these methods and encode the result.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from printscp import uids
from printscp.errors import (
    InvalidAttributeValue,
    InvalidSOPInstance,
    NoSuchAction,
    NoSuchSOPClass,
    NoSuchSOPInstance,
    PrintError,
    PrintWarning,
    QueueFull,
    UnrecognizedOperation,
)
from printscp.model import encode, sop_classes
from printscp.model.decode import decode
from printscp.model.enums import (
    ExecutionStatus,
    FilmOrientation,
    MagnificationType,
    Polarity,
    PrintPriority,
    RequestedResolutionID,
    Trim,
)
from printscp.model.images import decode_presentation_lut
from printscp.model.layout import LayoutError
from printscp.model.printer import Printer
from printscp.model.profile import PrinterProfile
from printscp.model.record import GrayscaleImage, ImageBoxSnapshot, PrintRequest, geometry_of, layout_film, place
from printscp.model.session import (
    AnnotationBox,
    FilmBox,
    FilmSession,
    Hierarchy,
    ImageBox,
    PresentationLUT,
    snapshot_film,
    snapshot_image_box,
)
from printscp.model.sop_classes import Service
from printscp.model.values import Context, describe
from printscp.status import Status

log = logging.getLogger(__name__)

N_CREATE, N_SET, N_GET, N_ACTION, N_DELETE = "N-CREATE", "N-SET", "N-GET", "N-ACTION", "N-DELETE"

# Which SOP classes may travel on a presentation context (PS3.4 H.3.2.2: a Meta SOP Class context
# carries its member classes; every optional class has a context of its own).
CLASSES_ON_CONTEXT: dict[str, frozenset[str]] = {
    uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META: uids.GRAYSCALE_META_MEMBERS,
    uids.PRINTER: frozenset({uids.PRINTER}),
    uids.PRESENTATION_LUT: frozenset({uids.PRESENTATION_LUT}),
    uids.BASIC_ANNOTATION_BOX: frozenset({uids.BASIC_ANNOTATION_BOX}),
    uids.PRINT_JOB: frozenset({uids.PRINT_JOB}),
    uids.PRINTER_CONFIGURATION_RETRIEVAL: frozenset({uids.PRINTER_CONFIGURATION_RETRIEVAL}),
}

# The DIMSE-N services of each class (PS3.4 H.4 tables), plus N-GET of every instance an SCU created,
# a printscp extension that lets an SCU read back what the printer holds.
OPERATIONS: dict[str, frozenset[str]] = {
    uids.BASIC_FILM_SESSION: frozenset({N_CREATE, N_SET, N_GET, N_ACTION, N_DELETE}),
    uids.BASIC_FILM_BOX: frozenset({N_CREATE, N_SET, N_GET, N_ACTION, N_DELETE}),
    uids.BASIC_GRAYSCALE_IMAGE_BOX: frozenset({N_SET, N_GET}),
    uids.BASIC_ANNOTATION_BOX: frozenset({N_SET, N_GET}),
    uids.PRESENTATION_LUT: frozenset({N_CREATE, N_GET, N_DELETE}),
    uids.PRINTER: frozenset({N_GET}),
    uids.PRINT_JOB: frozenset({N_GET}),
    uids.PRINTER_CONFIGURATION_RETRIEVAL: frozenset({N_GET}),
}

PRINT_ACTION = 1  # Action Type ID of Print (PS3.4 Tables H.4-3 and H.4-8)


@dataclass(frozen=True)
class AssociationInfo:
    calling_ae_title: str
    called_ae_title: str
    annotation_negotiated: bool = False
    print_job_negotiated: bool = False


@dataclass
class Outcome:
    """A response: the status to send (the first warning's, if any), its dataset and its reasons."""

    dataset: Dataset | None = None
    warnings: list[PrintWarning] = field(default_factory=list)
    affected_sop_instance_uid: str | None = None

    @property
    def status(self) -> Status:
        return self.warnings[0].status if self.warnings else Status.SUCCESS

    @property
    def error_comment(self) -> str:
        return "; ".join(w.message for w in self.warnings)

    @property
    def offending(self) -> tuple[int, ...]:
        return tuple(tag for w in self.warnings for tag in w.offending)


class PrintJobState(Protocol):
    """What a Print Job N-GET reports (PS3.4 Table H.4-15)."""

    sop_instance_uid: str
    execution_status: ExecutionStatus
    execution_status_info: str
    print_priority: PrintPriority
    creation: datetime
    originator: str


class Printing(Protocol):
    """The print queue as one association sees it (jobs.PrintQueue behind a per-association adapter)."""

    def prepare(self, image: GrayscaleImage) -> None:
        """An image box holds a new image: a queue may start making it durable now."""

    def submit(self, request: PrintRequest) -> str:
        """Queue a print (raises QueueFull); returns its Print Job SOP Instance UID."""

    def print_job(self, sop_instance_uid: str) -> PrintJobState | None:
        """A print job of this printer, for N-GET."""


class PrintEngine:
    """Print management for one association: a Film Session hierarchy, its P-LUTs, and printing."""

    def __init__(
        self, profile: PrinterProfile, printer: Printer, association: AssociationInfo, printing: Printing
    ) -> None:
        self.profile = profile
        self.printer = printer
        self.association = association
        self.hierarchy = Hierarchy(profile.supports_film_session_print)
        self.printing = printing

    # --- dispatch helpers ------------------------------------------------------------------------

    def _check_request(self, operation: str, context: str, sop_class_uid: str, sop_instance_uid: str | None) -> None:
        allowed = CLASSES_ON_CONTEXT.get(context, frozenset())
        if sop_class_uid not in allowed:
            if sop_class_uid in uids.RETIRED_PRINT_CLASSES:
                raise NoSuchSOPClass(f"{uids.name(sop_class_uid)} {sop_class_uid} is retired and not supported")
            raise NoSuchSOPClass(
                f"SOP class {uids.name(sop_class_uid)} is not part of the {uids.name(context)} presentation context"
            )
        if operation not in OPERATIONS.get(sop_class_uid, frozenset()):
            raise UnrecognizedOperation(f"{operation} is not a service of {uids.name(sop_class_uid)}")
        if sop_instance_uid is not None and not UID(sop_instance_uid).is_valid:
            raise InvalidSOPInstance(f"'{sop_instance_uid}' is not a valid UID")

    def _context(self) -> Context:
        return Context(self.profile, self.hierarchy)

    # --- N-CREATE ----------------------------------------------------------------------------------

    def n_create(
        self, context: str, sop_class_uid: str, sop_instance_uid: str | None, dataset: Dataset | None
    ) -> Outcome:
        self._check_request(N_CREATE, context, sop_class_uid, sop_instance_uid)
        uid = sop_instance_uid or generate_uid()
        self.hierarchy.check_new_uid(uid)
        ctx = self._context()
        if sop_class_uid == uids.BASIC_FILM_SESSION:
            result = self._create_film_session(uid, dataset, ctx)
        elif sop_class_uid == uids.BASIC_FILM_BOX:
            result = self._create_film_box(uid, dataset, ctx)
        else:
            plut = decode_presentation_lut(dataset, uid)
            self.hierarchy.add_presentation_lut(plut)
            result = encode.encode_presentation_lut(plut)
        return Outcome(result, ctx.warnings, affected_sop_instance_uid=uid)

    def _create_film_session(self, uid: str, dataset: Dataset | None, ctx: Context) -> Dataset:
        defaults = self.profile.defaults
        values: dict[str, Any] = {
            "specific_character_set": (),
            "number_of_copies": defaults.number_of_copies,
            "print_priority": PrintPriority(defaults.print_priority),
            "medium_type": defaults.medium_type,
            "film_destination": defaults.film_destination,
            "film_session_label": "",
            "owner_id": "",
        }
        # The one-session rule goes first, so that a second session gets 0111 whatever it carries.
        self.hierarchy.check_can_add_film_session()
        values.update(decode(dataset, sop_classes.BASIC_FILM_SESSION, Service.N_CREATE, ctx))
        session = FilmSession(uid, **values)
        self.hierarchy.add_film_session(session)
        return encode.encode_film_session(session, self.profile)

    def _create_film_box(self, uid: str, dataset: Dataset | None, ctx: Context) -> Dataset:
        self.hierarchy.check_can_add_film_box()
        session = self.hierarchy.require_film_session()
        if dataset is not None:
            _apply_character_set(dataset, session)
        decoded = decode(dataset, sop_classes.BASIC_FILM_BOX, Service.N_CREATE, ctx)
        decoded.pop("referenced_film_session")
        defaults = self.profile.defaults
        values: dict[str, Any] = {
            "film_orientation": FilmOrientation(defaults.film_orientation),
            "film_size_id": defaults.film_size_id,
            "magnification_type": MagnificationType(defaults.magnification_type),
            "smoothing_type": defaults.smoothing_type,
            "max_density": defaults.max_density,
            "min_density": defaults.min_density,
            "configuration_information": defaults.configuration_information,
            "border_density": defaults.border_density,
            "empty_image_density": defaults.empty_image_density,
            "trim": Trim(defaults.trim),
            "illumination": None,
            "reflected_ambient_light": None,
            "requested_resolution_id": RequestedResolutionID(defaults.requested_resolution_id),
            "annotation_display_format_id": defaults.annotation_display_format_id,
            "referenced_presentation_lut": None,
            **decoded,
        }
        _check_density_range(values["min_density"], values["max_density"])
        # PS3.4 H.4.2.2.1.3: the Meta SOP Class of the context decides the Image Box class; printscp
        # accepts only the Grayscale Meta SOP Class.
        image_box_class = uids.BASIC_GRAYSCALE_IMAGE_BOX
        try:
            geometry = geometry_of(
                values["film_size_id"],
                values["film_orientation"],
                values["image_display_format"],
                values["annotation_display_format_id"],
                self.profile,
            )
        except LayoutError as exc:
            raise InvalidAttributeValue(f"Image Display Format (2010,0010): {exc}", [0x20100010]) from None
        box = FilmBox(uid, image_box_sop_class_uid=image_box_class, geometry=geometry, **values)
        # One Image Box per cell, created and listed in Image Box Position order (digest 4.3).
        polarity = Polarity(self.profile.defaults.polarity)  # Image Box Polarity is U for the SCU
        box.image_boxes = [
            ImageBox(generate_uid(), image_box_class, position, weakref.ref(box), polarity=polarity)
            for position in range(1, len(geometry.cells) + 1)
        ]
        if self.association.annotation_negotiated and box.annotation_display_format_id:
            layout = self.profile.annotation_display_formats[box.annotation_display_format_id]
            box.annotation_boxes = [
                AnnotationBox(generate_uid(), position, weakref.ref(box))
                for position in range(1, len(layout.boxes) + 1)
            ]
        self.hierarchy.add_film_box(box)
        return encode.encode_film_box(box, session, self.profile, self.association.annotation_negotiated)

    # --- N-SET ---------------------------------------------------------------------------------------

    def n_set(self, context: str, sop_class_uid: str, sop_instance_uid: str, dataset: Dataset | None) -> Outcome:
        self._check_request(N_SET, context, sop_class_uid, sop_instance_uid)
        ctx = self._context()
        if sop_class_uid == uids.BASIC_FILM_SESSION:
            session = self.hierarchy.find(sop_class_uid, sop_instance_uid)
            assert isinstance(session, FilmSession)
            values = decode(dataset, sop_classes.BASIC_FILM_SESSION, Service.N_SET, ctx)
            character_set = values.get("specific_character_set", session.specific_character_set)
            if session.film_boxes and not _same_character_set(character_set, session.specific_character_set):
                # its Film Boxes' text was decoded in the old set and must stay in the session's (H.4.2.2.1.3)
                raise InvalidAttributeValue(
                    f"Specific Character Set (0008,0005) cannot change to {'/'.join(character_set) or 'default'} "
                    f"while the Film Session has Film Boxes in {'/'.join(session.specific_character_set) or 'default'} "
                    "(PS3.4 H.4.2.2.1.3)",
                    [0x00080005],
                )
            _assign(session, values)
            result = encode.encode_film_session(session, self.profile)
        elif sop_class_uid == uids.BASIC_FILM_BOX:
            box = self.hierarchy.film_box_for_update(sop_instance_uid)
            session = self.hierarchy.require_film_session()
            if dataset is not None:
                _apply_character_set(dataset, session)
            values = decode(dataset, sop_classes.BASIC_FILM_BOX, Service.N_SET, ctx)
            _check_density_range(values.get("min_density", box.min_density), values.get("max_density", box.max_density))
            film_lut = values.get("referenced_presentation_lut", box.referenced_presentation_lut)
            for image_box in box.image_boxes:  # the film box's P-LUT applies to images without their own
                if image_box.referenced_presentation_lut is None:
                    _check_lut_matches(film_lut, image_box.image)
            _assign(box, values)
            result = encode.encode_film_box(box, session, self.profile, self.association.annotation_negotiated)
        elif sop_class_uid == uids.BASIC_ANNOTATION_BOX:
            annotation = self.hierarchy.annotation_box_for_update(sop_instance_uid)
            session = self.hierarchy.require_film_session()
            if dataset is not None:
                _apply_character_set(dataset, session)
            values = decode(dataset, sop_classes.BASIC_ANNOTATION_BOX, Service.N_SET, ctx)
            _check_position(values.pop("annotation_position"), annotation.annotation_position, "AnnotationPosition")
            _assign(annotation, values)
            result = encode.encode_annotation_box(annotation, session.specific_character_set, self.profile)
        else:
            image_box = self.hierarchy.image_box_for_update(sop_class_uid, sop_instance_uid)
            values = decode(dataset, sop_classes.BASIC_GRAYSCALE_IMAGE_BOX, Service.N_SET, ctx)
            _check_position(values.pop("image_box_position"), image_box.image_box_position, "ImageBoxPosition")
            film_box = image_box.film_box
            current_min = film_box.min_density if image_box.min_density is None else image_box.min_density
            current_max = film_box.max_density if image_box.max_density is None else image_box.max_density
            _check_density_range(values.get("min_density", current_min), values.get("max_density", current_max))
            image = values.get("image", image_box.image)
            plut = values.get("referenced_presentation_lut", image_box.referenced_presentation_lut)
            _check_lut_matches(plut or film_box.referenced_presentation_lut, image)
            if image is not None:
                # PS3.4 H.4.3.1.2.1.2: an image larger than its box is decimated, cropped or refused now
                candidate = snapshot_image_box(dataclasses.replace(image_box, **values), film_box)
                self._check_fit(film_box, candidate, ctx.warnings)
            _assign(image_box, values)
            if "image" in values and image_box.image is not None:
                self.printing.prepare(image_box.image)
            result = None  # the N-SET-RSP attribute list is optional (PS3.7 10.1.3); N-GET reads it back
        return Outcome(result, ctx.warnings)

    # --- N-GET ---------------------------------------------------------------------------------------

    def n_get(self, context: str, sop_class_uid: str, sop_instance_uid: str, identifiers: Sequence[int]) -> Outcome:
        self._check_request(N_GET, context, sop_class_uid, sop_instance_uid)
        if sop_class_uid == uids.PRINTER:
            if sop_instance_uid != uids.PRINTER_INSTANCE:
                raise NoSuchSOPInstance(
                    f"the Printer is the well-known instance {uids.PRINTER_INSTANCE}, not {sop_instance_uid}"
                )
            full = self.printer_attributes()
        elif sop_class_uid == uids.PRINTER_CONFIGURATION_RETRIEVAL:
            if sop_instance_uid != uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE:
                raise NoSuchSOPInstance(
                    f"the Printer Configuration is the well-known instance "
                    f"{uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE}"
                )
            full = encode.encode_printer_configuration(self.profile)
        elif sop_class_uid == uids.PRINT_JOB:
            job = self.printing.print_job(sop_instance_uid)
            if job is None:
                raise NoSuchSOPInstance(f"no such Print Job (or finished too long ago): {sop_instance_uid}")
            full = encode.encode_print_job(job, self.profile.name)
        else:
            full = self._instance_attributes(sop_class_uid, sop_instance_uid)
        warnings: list[PrintWarning] = []
        return Outcome(encode.select(full, identifiers, warnings), warnings)

    def printer_attributes(self) -> Dataset:
        """Printer N-GET attributes (PS3.4 Table H.4-17)."""
        state = self.printer.state
        profile = self.profile
        ds = Dataset()
        ds.PrinterStatus = state.printer_status.value
        ds.PrinterStatusInfo = state.printer_status_info
        ds.PrinterName = profile.name
        ds.Manufacturer = profile.manufacturer
        ds.ManufacturerModelName = profile.manufacturer_model_name
        ds.DeviceSerialNumber = profile.device_serial_number
        ds.SoftwareVersions = list(profile.all_software_versions)
        ds.DateOfLastCalibration = profile.date_of_last_calibration
        ds.TimeOfLastCalibration = profile.time_of_last_calibration
        return ds

    def _instance_attributes(self, sop_class_uid: str, sop_instance_uid: str) -> Dataset:
        instance = self.hierarchy.find(sop_class_uid, sop_instance_uid)
        session = self.hierarchy.film_session
        if isinstance(instance, FilmSession):
            return encode.encode_film_session(instance, self.profile)
        if isinstance(instance, FilmBox):
            assert session is not None
            return encode.encode_film_box(instance, session, self.profile, self.association.annotation_negotiated)
        if isinstance(instance, ImageBox):
            return encode.encode_image_box(instance, self.profile)
        if isinstance(instance, AnnotationBox):
            assert session is not None
            return encode.encode_annotation_box(instance, session.specific_character_set, self.profile)
        assert isinstance(instance, PresentationLUT)
        return encode.encode_presentation_lut(instance)

    # --- N-ACTION ----------------------------------------------------------------------------------

    def n_action(
        self,
        context: str,
        sop_class_uid: str,
        sop_instance_uid: str,
        action_type_id: int | None,
        dataset: Dataset | None,
    ) -> Outcome:
        self._check_request(N_ACTION, context, sop_class_uid, sop_instance_uid)
        if action_type_id != PRINT_ACTION:
            raise NoSuchAction(f"Action Type ID {action_type_id}: the only action is 1 (Print)")
        if dataset is not None and len(dataset):
            raise PrintError("Print takes no Action Information", dataset.keys(), status=Status.NO_SUCH_ARGUMENT)
        is_session = sop_class_uid == uids.BASIC_FILM_SESSION
        if is_session and not self.profile.supports_film_session_print:
            raise UnrecognizedOperation("this printer does not print at Film Session level; print each Film Box")
        session, boxes = self.hierarchy.film_boxes_to_print(sop_class_uid, sop_instance_uid)
        warnings: list[PrintWarning] = []
        printable = [box for box in boxes if box.has_image]
        if len(printable) < len(boxes):
            # PS3.4 H.4.1.2.4.2 / H.4.2.2.4.2: empty pages are reported and not printed
            empty = len(boxes) - len(printable)
            if is_session:
                warnings.append(
                    PrintWarning(
                        Status.EMPTY_PAGE_FILM_SESSION, f"{empty} of {len(boxes)} Film Boxes hold no image; not printed"
                    )
                )
            else:
                warnings.append(PrintWarning(Status.EMPTY_PAGE_FILM_BOX, "the Film Box holds no image; not printed"))
        if not printable:
            return Outcome(None, warnings)
        films = tuple(snapshot_film(session, box) for box in printable)
        for film in films:  # a film box N-SET may have changed how its images fit (C603, B604, B609, B60A)
            for status in layout_film(film, self.profile).statuses:
                warnings.append(PrintWarning(status, _FIT_MESSAGES[status]))
        request = PrintRequest(
            films=films,
            number_of_copies=session.number_of_copies,
            print_priority=session.print_priority,
            film_session_label=session.film_session_label,
            calling_ae_title=self.association.calling_ae_title,
            called_ae_title=self.association.called_ae_title,
            requested_at=datetime.now().astimezone(),
            proposed_study=session.proposed_study,
        )
        try:
            job_uid = self.printing.submit(request)
        except QueueFull:
            status = Status.QUEUE_FULL_FILM_SESSION if is_session else Status.QUEUE_FULL_FILM_BOX
            raise PrintError("the print queue is full; try again later", status=status) from None
        for box in printable:
            box.printed = True
        reply = None
        if self.association.print_job_negotiated:
            # PS3.4 Table H.4-3: Referenced Print Job Sequence, tag (2100,0500), one item
            reply = Dataset()
            item = Dataset()
            item.ReferencedSOPClassUID = uids.PRINT_JOB
            item.ReferencedSOPInstanceUID = job_uid
            reply.add_new(encode.REFERENCED_PRINT_JOB_SEQUENCE, "SQ", [item])
        return Outcome(reply, warnings)

    def _check_fit(self, film_box: FilmBox, box: ImageBoxSnapshot, warnings: list[PrintWarning]) -> None:
        dpi = self.profile.dpi(film_box.requested_resolution_id.value)
        placement = place(film_box.geometry.cells[box.image_box_position - 1], box, dpi, self.profile)
        if placement.status is not None:
            warnings.append(PrintWarning(placement.status, _FIT_MESSAGES[placement.status]))

    # --- N-DELETE ----------------------------------------------------------------------------------

    def n_delete(self, context: str, sop_class_uid: str, sop_instance_uid: str) -> Outcome:
        self._check_request(N_DELETE, context, sop_class_uid, sop_instance_uid)
        if sop_class_uid == uids.BASIC_FILM_SESSION:
            self.hierarchy.delete_film_session(sop_instance_uid)
        elif sop_class_uid == uids.BASIC_FILM_BOX:
            self.hierarchy.delete_film_box(sop_instance_uid)
        else:
            self.hierarchy.delete_presentation_lut(sop_instance_uid)
        return Outcome()

    def close(self) -> None:
        """Association released or aborted (PS3.4 H.5): drop every instance; queued jobs are unaffected."""
        self.hierarchy.clear()


_FIT_MESSAGES = {
    Status.IMAGE_DEMAGNIFIED: "image larger than its box; demagnified to fit",
    Status.IMAGE_DECIMATED: "image larger than its box; decimated to fit",
    Status.IMAGE_CROPPED: "image larger than its box; cropped to fit",
}


def _assign(target: object, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(target, name, value)


def _same_character_set(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return tuple(t for t in a if t) == tuple(t for t in b if t)


def _apply_character_set(dataset: Dataset, session: FilmSession) -> None:
    """PS3.4 H.4.2.2.1.3: film and annotation boxes use the Film Session's character set."""
    if 0x00080005 in dataset:
        sent = dataset[0x00080005].value
        terms = tuple(t.strip() for t in ([sent] if isinstance(sent, str) else list(sent or [])))
        if not _same_character_set(terms, session.specific_character_set):
            raise InvalidAttributeValue(
                f"Specific Character Set (0008,0005) {'/'.join(terms) or 'default'} differs from the Film "
                f"Session's {'/'.join(session.specific_character_set) or 'default'} (PS3.4 H.4.2.2.1.3)",
                [0x00080005],
            )
    elif session.specific_character_set:
        dataset.SpecificCharacterSet = list(session.specific_character_set)


def _check_position(sent: int, bound: int, keyword: str) -> None:
    if sent != bound:
        tag = 0x20200010 if keyword == "ImageBoxPosition" else 0x20300010
        raise InvalidAttributeValue(f"{describe(tag)} {sent} does not match this box's position {bound}", [tag])


def _check_density_range(min_density: int, max_density: int) -> None:
    if min_density >= max_density:
        raise InvalidAttributeValue(
            f"Min Density {min_density} must be below Max Density {max_density}", [0x20100120, 0x20100130]
        )


def _check_lut_matches(plut: PresentationLUT | None, image: Any) -> None:
    """PS3.3 C.11.4.1: a LUT table has 256 entries for 8-bit images and 4096 for 12-bit ones."""
    if plut is None or plut.lut_descriptor is None or image is None:
        return
    entries = plut.lut_descriptor[0]
    if entries != 1 << image.bits_stored:
        raise InvalidAttributeValue(
            f"Presentation LUT has {entries} entries; a {image.bits_stored}-bit image needs "
            f"{1 << image.bits_stored} ({plut.sop_instance_uid})",
            [0x20500500],
        )
