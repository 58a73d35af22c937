"""PrintEngine: the DIMSE-N operations of print management on one association's hierarchy.

One engine per association. Each public method takes what a request carries (the presentation
context's abstract syntax, SOP class and instance UIDs, the decoded dataset) and returns an
`Outcome` (status, dataset, warnings) or raises a `PrintError`. Nothing here knows about sockets:
the network handlers only decode events, call these methods and encode the result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid

from printscp import uids
from printscp.errors import (
    InvalidSOPInstance,
    NoSuchAction,
    NoSuchSOPInstance,
    PrintError,
    PrintWarning,
    QueueFull,
    UnrecognizedOperation,
)
from printscp.model import encode, sop_classes
from printscp.model.decode import apply_session_character_set, decode
from printscp.model.enums import ExecutionStatus, PrintPriority
from printscp.model.images import decode_presentation_lut
from printscp.model.printer import Printer
from printscp.model.profile import PrinterProfile
from printscp.model.record import FilmBoxAttributes, Image, PrintRequest, layout_film
from printscp.model.session import (
    FIT_MESSAGES,
    AnnotationBox,
    FilmBox,
    FilmSession,
    Hierarchy,
    ImageBox,
    PresentationLUT,
    snapshot_film,
)
from printscp.model.sop_classes import Service
from printscp.model.values import Context
from printscp.status import Status

log = logging.getLogger(__name__)

N_CREATE, N_SET, N_GET, N_ACTION, N_DELETE = tuple(Service)

PRINT_ACTION = 1  # Action Type ID of Print (PS3.4 Tables H.4-3 and H.4-8)


@dataclass(frozen=True)
class AssociationInfo:
    calling_ae_title: str
    called_ae_title: str
    association_id: str = ""  # unique per association (net/server.py); recorded with each film it prints
    printer: str = ""  # AE title of the printer the Called AE Title selected ("" = called_ae_title)
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

    def prepare(self, image: Image) -> None:
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

    def _check_request(
        self, service: Service, context: str, sop_class_uid: str, sop_instance_uid: str | None
    ) -> sop_classes.SOPClass:
        sop_class = sop_classes.sop_class_for(service, context, sop_class_uid)
        if sop_instance_uid is not None and not UID(sop_instance_uid).is_valid:
            raise InvalidSOPInstance(f"'{sop_instance_uid}' is not a valid UID")
        return sop_class

    def _context(self) -> Context:
        return Context(self.profile, self.hierarchy)

    # --- N-CREATE ----------------------------------------------------------------------------------

    def n_create(
        self, context: str, sop_class_uid: str, sop_instance_uid: str | None, dataset: Dataset | None
    ) -> Outcome:
        sop_class = self._check_request(Service.N_CREATE, context, sop_class_uid, sop_instance_uid)
        uid = sop_instance_uid or generate_uid()
        self.hierarchy.check_new_uid(uid)
        ctx = self._context()
        if sop_class is sop_classes.BASIC_FILM_SESSION:
            # The one-session rule goes first, so that a second session gets 0111 whatever it carries.
            self.hierarchy.check_can_add_film_session()
            values = sop_class.defaults(self.profile) | decode(dataset, sop_class, Service.N_CREATE, ctx)
            session = FilmSession(uid, **values)
            self.hierarchy.add_film_session(session)
            result = encode.encode_film_session(session, self.profile)
        elif sop_class is sop_classes.BASIC_FILM_BOX:
            result = self._create_film_box(uid, context, dataset, ctx)
        else:
            plut = decode_presentation_lut(dataset, uid)
            self.hierarchy.add_presentation_lut(plut)
            result = encode.encode_presentation_lut(plut)
        return Outcome(result, ctx.warnings, affected_sop_instance_uid=uid)

    def _create_film_box(self, uid: str, context: str, dataset: Dataset | None, ctx: Context) -> Dataset:
        self.hierarchy.check_can_add_film_box()
        session = self.hierarchy.require_film_session()
        if dataset is not None:
            apply_session_character_set(dataset, session.specific_character_set)
        decoded = decode(dataset, sop_classes.BASIC_FILM_BOX, Service.N_CREATE, ctx)
        decoded.pop("referenced_film_session")  # checked while decoding; the box belongs to the session
        attributes = FilmBoxAttributes(**(sop_classes.BASIC_FILM_BOX.defaults(self.profile) | decoded))
        image_box_class = sop_classes.SOP_CLASSES[sop_classes.IMAGE_BOX_CLASS[context]]
        box = session.create_film_box(
            uid,
            attributes,
            self.profile,
            image_box_class.uid,
            image_box_class.defaults(self.profile),
            self.association.annotation_negotiated,
        )
        self.hierarchy.add_film_box(box)
        return encode.encode_film_box(box, session, self.profile, self.association.annotation_negotiated)

    # --- N-SET ---------------------------------------------------------------------------------------

    def n_set(self, context: str, sop_class_uid: str, sop_instance_uid: str, dataset: Dataset | None) -> Outcome:
        sop_class = self._check_request(Service.N_SET, context, sop_class_uid, sop_instance_uid)
        ctx = self._context()
        luts = self.hierarchy.presentation_luts
        result: Dataset | None
        if sop_class is sop_classes.BASIC_FILM_SESSION:
            session = self.hierarchy.find(sop_class_uid, sop_instance_uid)
            assert isinstance(session, FilmSession)
            session.update(decode(dataset, sop_class, Service.N_SET, ctx), luts)
            result = encode.encode_film_session(session, self.profile)
        elif sop_class is sop_classes.BASIC_FILM_BOX:
            box = self.hierarchy.film_box_for_update(sop_instance_uid)
            session = self.hierarchy.require_film_session()
            if dataset is not None:
                apply_session_character_set(dataset, session.specific_character_set)
            box.update(decode(dataset, sop_class, Service.N_SET, ctx), luts)
            result = encode.encode_film_box(box, session, self.profile, self.association.annotation_negotiated)
        elif sop_class is sop_classes.BASIC_ANNOTATION_BOX:
            annotation = self.hierarchy.annotation_box_for_update(sop_instance_uid)
            session = self.hierarchy.require_film_session()
            if dataset is not None:
                apply_session_character_set(dataset, session.specific_character_set)
            placed = annotation.update(decode(dataset, sop_class, Service.N_SET, ctx), self.profile)
            if placed is not None and placed is not annotation:
                # Leniency.ANNOTATION_POSITION. Answered 0000: H.2.4 has no warning for an M/M attribute
                # (0116 is for U/M and U/U values replaced by a default), and Annex H does not use 0001
                # (digest 9.3); the personality, not a status, tells the SCU (conformance statement).
                log.info(
                    "Annotation Box %s names another position: its text went to Annotation Position %d",
                    sop_instance_uid,
                    placed.annotation_position,
                )
            result = encode.encode_annotation_box(annotation, session.specific_character_set, self.profile)
        else:
            image_box = self.hierarchy.image_box_for_update(sop_class_uid, sop_instance_uid)
            values = decode(dataset, sop_class, Service.N_SET, ctx)
            ctx.warnings.extend(image_box.update(values, luts, self.profile))
            if "image" in values and image_box.image is not None:
                self.printing.prepare(image_box.image)
            result = None  # the N-SET-RSP attribute list is optional (PS3.7 10.1.3); N-GET reads it back
        return Outcome(result, ctx.warnings)

    # --- N-GET ---------------------------------------------------------------------------------------

    def n_get(self, context: str, sop_class_uid: str, sop_instance_uid: str, identifiers: Sequence[int]) -> Outcome:
        sop_class = self._check_request(Service.N_GET, context, sop_class_uid, sop_instance_uid)
        if sop_class is sop_classes.PRINTER:
            if sop_instance_uid != uids.PRINTER_INSTANCE:
                raise NoSuchSOPInstance(
                    f"the Printer is the well-known instance {uids.PRINTER_INSTANCE}, not {sop_instance_uid}"
                )
            full = self.printer_attributes()
        elif sop_class is sop_classes.PRINTER_CONFIGURATION_RETRIEVAL:
            if sop_instance_uid != uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE:
                raise NoSuchSOPInstance(
                    f"the Printer Configuration is the well-known instance "
                    f"{uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE}"
                )
            full = encode.encode_printer_configuration(self.profile)
        elif sop_class is sop_classes.PRINT_JOB:
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
        self._check_request(Service.N_ACTION, context, sop_class_uid, sop_instance_uid)
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
        films = tuple(snapshot_film(session, box, self.hierarchy.presentation_luts) for box in printable)
        for film in films:  # a film box N-SET may have changed how its images fit (C603, B604, B609, B60A)
            for status in layout_film(film, self.profile).statuses:
                warnings.append(PrintWarning(status, FIT_MESSAGES[status]))
        request = PrintRequest(
            films=films,
            number_of_copies=session.number_of_copies,
            print_priority=session.print_priority,
            film_session_label=session.film_session_label,
            calling_ae_title=self.association.calling_ae_title,
            called_ae_title=self.association.called_ae_title,
            requested_at=datetime.now().astimezone(),
            proposed_study=session.proposed_study,
            association_id=self.association.association_id,
            printer=self.association.printer,
        )
        try:
            job_uid = self.printing.submit(request)
        except QueueFull as exc:
            status = Status.QUEUE_FULL_FILM_SESSION if is_session else Status.QUEUE_FULL_FILM_BOX
            raise PrintError(str(exc) or "the print queue is full; try again later", status=status) from None
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

    # --- N-DELETE ----------------------------------------------------------------------------------

    def n_delete(self, context: str, sop_class_uid: str, sop_instance_uid: str) -> Outcome:
        sop_class = self._check_request(Service.N_DELETE, context, sop_class_uid, sop_instance_uid)
        if sop_class is sop_classes.BASIC_FILM_SESSION:
            self.hierarchy.delete_film_session(sop_instance_uid)
        elif sop_class is sop_classes.BASIC_FILM_BOX:
            self.hierarchy.delete_film_box(sop_instance_uid)
        else:
            self.hierarchy.delete_presentation_lut(sop_instance_uid)
        return Outcome()

    def close(self) -> None:
        """Association released or aborted (PS3.4 H.5): drop every instance; queued jobs are unaffected."""
        self.hierarchy.clear()
