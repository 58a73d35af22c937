"""Printing a film record on a real DICOM print SCP: printscp as a print SCU (PS3.4 H), one attempt at a time.

How it works. `print_on_node` opens one association to the node (proposing Basic Grayscale Print
Management Meta, Basic Color Meta when the request holds a colour film, Presentation LUT, Basic Annotation
Box, Print Job and Printer Configuration Retrieval; Explicit and Implicit VR Little Endian only) and runs:

    N-GET Printer -> [N-GET Printer Configuration Retrieval] -> N-CREATE Film Session -> for each film not in
    `skip`: [N-CREATE Presentation LUT] -> N-CREATE Film Box -> N-SET Image Box x n -> [N-SET Annotation Box]
    -> N-ACTION Film Box -> [follow its Print Job to DONE or FAILURE] -> N-DELETE Film Box -> N-DELETE Film
    Session [, Presentation LUTs] -> A-RELEASE

Each film goes with the record's original pixels and attributes, mapped (relay/mapping.py) to what the node
supports: what its Printer Configuration Retrieval says, else its `preset`, else nothing is mapped. Image
box attributes are sent where they differ from the film box's (the record fills in the film box's).
The first failure status ends the attempt (no N-DELETE follows; the SCP drops the session on release,
PS3.4 H.4.1.2.1.3) with a Delivery naming the node, the step and the status; a warning is recorded in its
error_comment and the film counts as printed. A refusal 0106 whose Offending Element the mapping tables know
(a Film Size ID, Medium Type, Bits Stored ...) is mapped to the next entry and the step (for a film box or
image box: the film) is tried once more. A film counts as printed when its N-ACTION succeeded and, when the
node gives a Print Job (and accepted its SOP class), that job reached DONE; a job still unfinished after
`timeout` counts as printed, with a note (the node has the film: sending it again could print it twice).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association

from printscp import uids
from printscp.config import Node, preset_profile
from printscp.model.encode import image_item, presentation_lut_dataset
from printscp.model.record import FilmSnapshot, ImageBoxSnapshot, PresentationLUTSnapshot, PrintRequest
from printscp.net import association_log, compat, tls
from printscp.net.print_scu import (
    COLOR_META,
    GRAY_META,
    MAX_PDU,
    REFERENCED_PRINT_JOB_SEQUENCE,
    Answer,
    EventReport,
    Requester,
    follow_print_jobs,
    is_failure,
    is_warning,
    propose,
    reference,
    references,
)
from printscp.relay import Delivery, mapping
from printscp.relay.mapping import MappedFilm, TargetCapabilities
from printscp.status import Status

log = logging.getLogger(__name__)

# 0105 (no such attribute: left out) and 0106 (invalid value: the next of its table), with an Offending Element
REFUSED = frozenset({Status.NO_SUCH_ATTRIBUTE, Status.INVALID_ATTRIBUTE_VALUE})
# Film Box values not sent: what a print SCP takes when the attribute is absent (PS3.3 C.13.3), which a film
# record always holds (the SCP filled them in) and strict SCPs without the feature refuse (dcmprscp: 0105).
NOT_SENT = {"RequestedResolutionID": "STANDARD", "Trim": "NO"}
MAX_RETRIES = 4  # refusals mapped in one film (each a different attribute, each once)
UNNAMED = "*"  # a refusal (0105 / 0106) with no Offending Element: the target does not say which value
# Film Session values that a target refusing the session without naming the attribute is sent no more: they
# are U in PS3.4 H.4.1.1 and the target takes its own default (dcmprscp refuses an unlisted Medium Type so)
SESSION_LEFT_OUT_WHEN_UNNAMED = ("MediumType", "FilmDestination")  # one at a time, in this order
# ... and the Film Box values (U in PS3.4 H.4.2.1, the target's defaults) a film box refused so is sent without;
# what the film is (format, orientation, size) and its densities' meaning stay (dcmprscp refuses an unlisted
# smoothing type with 0105 and no attribute named)
FILM_BOX_LEFT_OUT_WHEN_UNNAMED = (  # one at a time, the likeliest to be refused first
    "SmoothingType",
    "ConfigurationInformation",
    "MagnificationType",
    "BorderDensity",
    "EmptyImageDensity",
    "Trim",
    "RequestedResolutionID",
)


def node_capabilities(node_ae_title: str, node: Node) -> TargetCapabilities:
    """What the node's `preset` says it supports (built as config.py builds a printer from a preset), or
    UNKNOWN without one."""
    if not node.preset:
        return mapping.UNKNOWN
    profile = preset_profile(node.preset, f"nodes.{node_ae_title}.preset")
    return mapping.from_profile(profile)


class _Failed(Exception):
    """Ends the attempt: the node's status (None: no status) and why, naming the node."""

    def __init__(self, status: int | None, comment: str) -> None:
        super().__init__(comment)
        self.status = status
        self.comment = comment


class _Refused(Exception):
    """A step refused a value we know how to map (0106 with its Offending Element's keyword)."""

    def __init__(self, keyword: str, failure: _Failed) -> None:
        super().__init__(keyword)
        self.keyword = keyword
        self.failure = failure


@dataclass
class _Attempt:
    request: PrintRequest
    calling_ae_title: str
    node_ae_title: str
    node: Node
    skip: frozenset[int]
    client_tls: ssl.SSLContext | None
    timeout: float
    requester: Requester = field(init=False)
    capabilities: TargetCapabilities = mapping.UNKNOWN
    accepted: frozenset[str] = frozenset()
    color_session: bool = False
    force_8_bit: bool = False
    overrides: dict[str, str | None] = field(default_factory=dict)  # keyword -> value sent instead (None: left out)
    tried: dict[str, list[str]] = field(default_factory=dict)  # keyword -> values the node refused
    mapped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    printed: list[int] = field(default_factory=list)
    printer_status: str = ""
    printer_status_info: str = ""
    association_id: str = ""
    luts: dict[tuple[str, int], str] = field(default_factory=dict)  # (record P-LUT UID, entries) -> node's UID
    film_box_uid: str = ""  # the film box being filled, until it is deleted

    def __post_init__(self) -> None:
        self.requester = Requester(self.timeout)

    # the attempt

    def run(self) -> Delivery:
        films = [i for i in range(len(self.request.films)) if i not in self.skip]
        ae = AE(self.calling_ae_title)
        association_log.expect_failures(ae)  # our Delivery says why; pynetdicom's transport errors -> DEBUG
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.connection_timeout = self.timeout
        ae.maximum_pdu_size = MAX_PDU
        colour = any(self.request.films[i].color for i in films)
        propose(
            ae,
            [
                GRAY_META,
                *([COLOR_META] if colour else []),
                uids.PRESENTATION_LUT,
                uids.BASIC_ANNOTATION_BOX,
                uids.PRINT_JOB,
                uids.PRINTER_CONFIGURATION_RETRIEVAL,
            ],
        )
        connected: list[bool] = []
        handlers: list[Any] = [*self.requester.handlers(), (evt.EVT_CONN_OPEN, lambda _: connected.append(True))]
        assoc = ae.associate(
            self.node.host,
            self.node.port,
            ae_title=self.node_ae_title,
            evt_handlers=handlers,
            tls_args=tls.tls_args(self.node, self.client_tls),
        )
        if not assoc.is_established:
            why = association_log.why_not_associated(assoc) if connected else "cannot connect"
            log.info("relay to %s (%s:%d): %s", self.node_ae_title, self.node.host, self.node.port, why)
            return self._delivery(_Failed(None, f"{self.node_ae_title}: {why}"))
        self.association_id = association_log.association_id(assoc)
        compat.set_tcp_nodelay(assoc)
        self.requester.attach(assoc)
        with association_log.bound(self.association_id):
            log.info(
                "relay to %s (%s:%d) on association %s: %d film(s) of a print from %s",
                self.node_ae_title,
                self.node.host,
                self.node.port,
                self.association_id,
                len(films),
                self.request.calling_ae_title,
            )
            failure: _Failed | None = None
            try:
                self._print(assoc, films)
            except _Failed as exc:
                failure = exc
            finally:
                if assoc.is_established:
                    assoc.release()
            delivery = self._delivery(failure)
            log.info(
                "relay to %s on association %s: %s, %d film(s) printed%s",
                self.node_ae_title,
                self.association_id,
                "delivered" if delivery.delivered else "not delivered",
                len(delivery.films_printed),
                f" ({delivery.error_comment})" if delivery.error_comment else "",
            )
            return delivery

    def _delivery(self, failure: _Failed | None) -> Delivery:
        wanted = [i for i in range(len(self.request.films)) if i not in self.skip]
        comments = [failure.comment] if failure is not None else []
        return Delivery(
            delivered=failure is None and all(i in self.printed for i in wanted),
            films_printed=tuple(self.printed),
            status=failure.status if failure is not None else None,
            error_comment="; ".join([*comments, *self.warnings]),
            mapped=tuple(dict.fromkeys(self.mapped)),
            printer_status=self.printer_status,
            printer_status_info=self.printer_status_info,
            association_id=self.association_id,
        )

    def _print(self, assoc: Association, films: list[int]) -> None:
        self.accepted = frozenset(str(c.abstract_syntax) for c in assoc.accepted_contexts)
        if GRAY_META not in self.accepted:
            raise _Failed(None, f"{self.node_ae_title}: does not accept Basic Grayscale Print Management")
        if COLOR_META in self.accepted:
            self.requester.use_color()
            self.color_session = True
        self._printer()
        self.capabilities = self._capabilities().negotiated(self.accepted)
        log.debug("relay to %s: capabilities %s", self.node_ae_title, self.capabilities)
        session_uid = self._film_session()
        for index in films:
            self._film(index, session_uid)
        self._check("N-DELETE Basic Film Session", self.requester.n_delete(uids.BASIC_FILM_SESSION, session_uid))
        for uid in self.luts.values():
            self._check("N-DELETE Presentation LUT", self.requester.n_delete(uids.PRESENTATION_LUT, uid))

    # one request

    def _check(self, step: str, answer: Answer, refusable: bool = False) -> Answer:
        """The answer to a request: a failure raises _Failed (or _Refused when `refusable` and the node refused a
        value the tables map), a warning is noted. Event reports that came meanwhile are taken in."""
        self._take_events()
        if answer.status is None:
            raise _Failed(None, f"{self.node_ae_title}: {step}: no response within {self.timeout:g} s")
        code = answer.status
        text = f"{self.node_ae_title}: {step} answered 0x{code:04X}"
        if answer.error_comment:
            text += f" ({answer.error_comment})"
        if is_warning(code):
            self.warnings.append(text)
        if is_failure(code):
            failure = _Failed(code, text)
            if refusable and code in REFUSED:
                keyword = self._mappable(answer) if answer.offending else UNNAMED
                if keyword:
                    raise _Refused(keyword, failure)
            raise failure
        log.debug("relay to %s: %s: 0x%04X offending %s", self.node_ae_title, step, code, answer.offending)
        return answer

    def _mappable(self, answer: Answer) -> str:
        """The keyword of the refused attribute when the tables know what to send instead, else ""."""
        for tag in answer.offending:
            keyword = keyword_for_tag(tag)
            if keyword in mapping.BITS_KEYWORDS:
                return "BitsStored" if not self.force_8_bit else ""
            if keyword in mapping.MAY_BE_LEFT_OUT:
                return keyword
            if answer.status == Status.INVALID_ATTRIBUTE_VALUE and keyword == "FilmSizeID":
                return keyword
        return ""

    def _retry_with(self, refused: _Refused, value_sent: str) -> None:
        """Map the refused value to the next entry of its table, or raise the refusal when there is none."""
        keyword = refused.keyword
        if keyword == "BitsStored":
            self.force_8_bit = True
            self.mapped.append("12-bit pixels sent as 8-bit")
            return
        if keyword in self.tried:  # each attribute is mapped once; refused again, the attempt fails
            raise refused.failure
        tried = self.tried.setdefault(keyword, [value_sent])
        if refused.failure.status == Status.NO_SUCH_ATTRIBUTE:
            new: str | None = None
        else:
            new = mapping.next_value(keyword, value_sent, tried, self.capabilities)
        if new == "":
            raise refused.failure
        self.overrides[keyword] = new
        label = keyword_label(keyword)
        self.mapped.append(f"{label} {value_sent} -> {new}" if new is not None else f"{label} {value_sent} left out")
        log.info("relay to %s: %s; trying again", self.node_ae_title, refused.failure.comment)

    def _take_events(self) -> None:
        while (report := self.requester.take_event()) is not None:
            self._event(report)

    def _event(self, report: EventReport) -> None:
        if report.sop_class == uids.PRINTER:
            self.printer_status, self.printer_status_info = report.state, report.detail

    # the steps

    def _printer(self) -> None:
        answer = self.requester.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
        self._take_events()
        if answer.status is None or is_failure(answer.status) or answer.data is None:
            return  # a printer that does not say its status may still print (dcmprscu ignores it too)
        self.printer_status = str(answer.data.get("PrinterStatus", "") or "")
        self.printer_status_info = str(answer.data.get("PrinterStatusInfo", "") or "")
        if self.printer_status == "FAILURE":
            info = self.printer_status_info or "no reason given"
            raise _Failed(None, f"{self.node_ae_title}: printer FAILURE ({info})")

    def _capabilities(self) -> TargetCapabilities:
        if uids.PRINTER_CONFIGURATION_RETRIEVAL in self.accepted:
            answer = self.requester.n_get(
                uids.PRINTER_CONFIGURATION_RETRIEVAL, uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE
            )
            self._take_events()
            if answer.status is not None and not is_failure(answer.status) and answer.data is not None:
                return mapping.from_printer_configuration(answer.data)
        return node_capabilities(self.node_ae_title, self.node)

    def _film_session(self) -> str:
        first = self.request.films[0]
        session = mapping.map_session(first, self.capabilities)
        self.mapped.extend(session.changes)
        for _ in range(MAX_RETRIES + len(SESSION_LEFT_OUT_WHEN_UNNAMED) + 1):
            values = {"MediumType": session.medium_type, "FilmDestination": session.film_destination}
            ds = self._with_overrides(
                {
                    "NumberOfCopies": self.request.number_of_copies,
                    "PrintPriority": str(self.request.print_priority),
                    **values,
                    "FilmSessionLabel": self.request.film_session_label,
                    "OwnerID": first.owner_id,
                },
                frozenset(),
            )
            if first.specific_character_set:
                ds.SpecificCharacterSet = list(first.specific_character_set)
            try:
                answer = self._check(
                    "N-CREATE Basic Film Session", self.requester.n_create(uids.BASIC_FILM_SESSION, ds), refusable=True
                )
                return self._created(answer, "Basic Film Session")
            except _Refused as refused:
                if refused.keyword == UNNAMED:
                    self._leave_out_unnamed(refused, values, SESSION_LEFT_OUT_WHEN_UNNAMED)
                    continue
                sent = str(ds.get(refused.keyword, "") or "")
                if refused.keyword not in values or not sent:
                    raise refused.failure from None
                self._retry_with(refused, sent)
        raise AssertionError("unreachable")  # pragma: no cover

    def _leave_out_unnamed(self, refused: _Refused, values: Mapping[str, object], keywords: tuple[str, ...]) -> None:
        """A step was refused naming no attribute: it is sent again without the next of `keywords` (in the order
        a target most likely lacks them) that it still holds; each left out is recorded. Refused with none
        left, the attempt fails."""
        left = [k for k in keywords if k in values and self.overrides.get(k, values[k]) not in (None, "")]
        if not left:
            raise refused.failure
        keyword = left[0]
        self.overrides[keyword] = None
        self.mapped.append(f"{keyword_label(keyword)} {values[keyword]} left out (refused, no attribute named)")
        log.info("relay to %s: %s; trying again without %s", self.node_ae_title, refused.failure.comment, keyword)

    def _created(self, answer: Answer, what: str) -> str:
        if not answer.affected_uid:
            raise _Failed(None, f"{self.node_ae_title}: N-CREATE {what} returned no Affected SOP Instance UID")
        return answer.affected_uid

    def _film(self, index: int, session_uid: str) -> None:
        """Print film `index`: mapped, its film box created, filled and printed; after a refusal the tables map
        (each attribute once), the film again."""
        for attempt in range(MAX_RETRIES + len(FILM_BOX_LEFT_OUT_WHEN_UNNAMED) + 1):
            film = mapping.map_film(self.request.films[index], self.capabilities, self.force_8_bit, self.color_session)
            try:
                self._print_film(index, film, session_uid)
                self.mapped.extend(film.changes)
                return
            except _Refused as refused:
                # an unnamed refusal is mapped only at the Film Box's N-CREATE (no film box made yet)
                if attempt == MAX_RETRIES + len(FILM_BOX_LEFT_OUT_WHEN_UNNAMED) or (
                    refused.keyword == UNNAMED and bool(self.film_box_uid)
                ):
                    raise refused.failure from None
                if refused.keyword == UNNAMED:
                    sent = {k: self._value_sent(k, film) for k in FILM_BOX_LEFT_OUT_WHEN_UNNAMED}
                    self._leave_out_unnamed(refused, sent, FILM_BOX_LEFT_OUT_WHEN_UNNAMED)
                else:
                    self._retry_with(refused, self._value_sent(refused.keyword, film))
                if self.film_box_uid:  # the film box made before the refusal goes; the film starts again
                    uid = self.film_box_uid
                    self._check("N-DELETE Basic Film Box", self.requester.n_delete(uids.BASIC_FILM_BOX, uid))

    def _value_sent(self, keyword: str, film: MappedFilm) -> str:
        if keyword in self.overrides and self.overrides[keyword] is not None:
            return str(self.overrides[keyword])
        values = {
            "FilmSizeID": film.film.film_size_id,
            "MagnificationType": str(film.film.magnification_type),
            "SmoothingType": film.film.smoothing_type,
            "MaxDensity": str(film.film.max_density),
            "MinDensity": str(film.film.min_density),
            "ConfigurationInformation": film.film.configuration_information,
            "BorderDensity": film.film.border_density,
            "EmptyImageDensity": film.film.empty_image_density,
            "Trim": str(film.film.trim),
            "RequestedResolutionID": str(film.film.requested_resolution_id),
            "AnnotationDisplayFormatID": film.film.annotation_display_format_id,
        }
        return values.get(keyword, "")

    def _print_film(self, index: int, mapped: MappedFilm, session_uid: str) -> None:
        film = mapped.film
        self.film_box_uid = ""
        step = f"(film {index + 1})"
        lut_uid = self._presentation_lut(mapped.presentation_lut)
        answer = self._check(
            f"N-CREATE Basic Film Box {step}",
            self.requester.n_create(uids.BASIC_FILM_BOX, self._film_box(mapped, session_uid, lut_uid)),
            refusable=True,
        )
        film_box_uid = self.film_box_uid = self._created(answer, "Basic Film Box")
        boxes = references(answer.data, "ReferencedImageBoxSequence")
        image_box_class = self.requester.image_box_class
        if any(c != image_box_class for c, _ in boxes):
            why = f"the film box's image boxes are not {uids.name(image_box_class)}"
            raise _Failed(None, f"{self.node_ae_title}: {why}")
        for box in film.image_boxes:
            if box.image is None:
                continue
            if box.image_box_position > len(boxes):
                why = f"the film box has {len(boxes)} image boxes, not {box.image_box_position}"
                raise _Failed(None, f"{self.node_ae_title}: {why}")
            data = self._image_box(mapped, box)
            uid = boxes[box.image_box_position - 1][1]
            self._check(
                f"N-SET {uids.name(image_box_class)} {box.image_box_position} {step}",
                self.requester.n_set(image_box_class, uid, data),
                refusable=True,
            )
        self._annotations(film, answer.data, step)
        reply = self._check(
            f"N-ACTION Basic Film Box {step}", self.requester.n_action(uids.BASIC_FILM_BOX, film_box_uid)
        )
        self._follow(references(reply.data, REFERENCED_PRINT_JOB_SEQUENCE), step)
        self.printed.append(index)
        self._check(f"N-DELETE Basic Film Box {step}", self.requester.n_delete(uids.BASIC_FILM_BOX, film_box_uid))
        self.film_box_uid = ""

    def _presentation_lut(self, plut: PresentationLUTSnapshot | None) -> str | None:
        if plut is None or uids.PRESENTATION_LUT not in self.accepted:
            return None
        key = _lut_key(plut)
        if key not in self.luts:
            ds = presentation_lut_dataset(plut.presentation_lut_shape, plut.lut_descriptor, plut.lut_data)
            answer = self._check("N-CREATE Presentation LUT", self.requester.n_create(uids.PRESENTATION_LUT, ds))
            self.luts[key] = self._created(answer, "Presentation LUT")
        return self.luts[key]

    def _film_box(self, mapped: MappedFilm, session_uid: str, lut_uid: str | None) -> Dataset:
        film = mapped.film
        values: dict[str, Any] = {
            "ImageDisplayFormat": str(film.image_display_format),
            "FilmOrientation": str(film.film_orientation),
            "FilmSizeID": film.film_size_id,
            "MagnificationType": str(film.magnification_type),
            "SmoothingType": film.smoothing_type,
            "MaxDensity": film.max_density,
            "MinDensity": film.min_density,
            "ConfigurationInformation": film.configuration_information,
            "BorderDensity": film.border_density,
            "EmptyImageDensity": film.empty_image_density,
            "Trim": str(film.trim),
            "RequestedResolutionID": str(film.requested_resolution_id),
        }
        if film.annotation_display_format_id and uids.BASIC_ANNOTATION_BOX in self.accepted:
            values["AnnotationDisplayFormatID"] = film.annotation_display_format_id
        if lut_uid is not None:  # PS3.4 H.4.2.2.1.1: L0 and La go with the Presentation LUT SOP Class
            values["Illumination"] = film.illumination
            values["ReflectedAmbientLight"] = film.reflected_ambient_light
        values = {k: v for k, v in values.items() if NOT_SENT.get(k) != v}
        ds = self._with_overrides(values, mapped.left_out)
        ds.ReferencedFilmSessionSequence = [reference(uids.BASIC_FILM_SESSION, session_uid)]
        if lut_uid is not None:
            ds.ReferencedPresentationLUTSequence = [reference(uids.PRESENTATION_LUT, lut_uid)]
        return ds

    def _with_overrides(self, values: dict[str, Any], left_out: frozenset[str]) -> Dataset:
        """A data set of `values` less empty ones and those left out; a value a retry mapped replaces its own."""
        ds = Dataset()
        for keyword, value in values.items():
            if keyword in self.overrides:
                value = self.overrides[keyword]
            if value is None or value == "" or keyword in left_out:
                continue
            setattr(ds, keyword, value)
        return ds

    def _image_box(self, mapped: MappedFilm, box: ImageBoxSnapshot) -> Dataset:
        """The Image Box N-SET: the original pixels (mapped), and the box's values where they differ from the
        film box's."""
        film = mapped.film
        assert box.image is not None
        values: dict[str, Any] = {"ImageBoxPosition": box.image_box_position, "Polarity": str(box.polarity)}
        own = {
            "MagnificationType": (str(box.magnification_type), str(film.magnification_type)),
            "SmoothingType": (box.smoothing_type, film.smoothing_type),
            "MinDensity": (box.min_density, film.min_density),
            "MaxDensity": (box.max_density, film.max_density),
            "ConfigurationInformation": (box.configuration_information, film.configuration_information),
        }
        values.update({k: mine for k, (mine, films) in own.items() if mine != films})
        if box.requested_image_size is not None:
            values["RequestedImageSize"] = f"{box.requested_image_size:g}"
        if box.requested_decimate_crop_behavior is not None:
            values["RequestedDecimateCropBehavior"] = str(box.requested_decimate_crop_behavior)
        ds = self._with_overrides(values, mapped.left_out)
        sequence = "BasicColorImageSequence" if self.color_session else "BasicGrayscaleImageSequence"
        setattr(ds, sequence, [image_item(box.image)])
        film_lut = mapped.presentation_lut
        own_lut = box.presentation_lut
        if own_lut is not None and film_lut is not None and _lut_key(own_lut) != _lut_key(film_lut):
            uid = self._presentation_lut(box.presentation_lut)
            if uid is not None:
                ds.ReferencedPresentationLUTSequence = [reference(uids.PRESENTATION_LUT, uid)]
        return ds

    def _annotations(self, film: FilmSnapshot, film_box: Dataset | None, step: str) -> None:
        if not film.annotations or uids.BASIC_ANNOTATION_BOX not in self.accepted:
            return
        boxes = references(film_box, "ReferencedBasicAnnotationBoxSequence")
        for annotation in film.annotations:
            position = annotation.annotation_position
            if position > len(boxes):
                self.mapped.append(f"annotation {position} left out: the target made {len(boxes)} annotation boxes")
                continue
            ds = Dataset()
            if film.specific_character_set:
                ds.SpecificCharacterSet = list(film.specific_character_set)
            ds.AnnotationPosition = position
            ds.TextString = annotation.text_string
            uid = boxes[position - 1][1]
            self._check(
                f"N-SET Basic Annotation Box {position} {step}",
                self.requester.n_set(uids.BASIC_ANNOTATION_BOX, uid, ds),
            )

    def _follow(self, jobs: list[tuple[str, str]], step: str) -> None:
        """Follow the film's Print Job to DONE or FAILURE (PS3.4 H.4.5), when the node gave one."""
        if not jobs or uids.PRINT_JOB not in self.accepted:
            return
        job = jobs[0][1]
        started = time.monotonic()

        def get_job(uid: str) -> None:
            self._check(f"N-GET Print Job {step}", self.requester.get_print_job(uid))

        pending = follow_print_jobs(self.requester, [job], self.timeout, self._event, get_job)
        if pending:
            state = self.requester.job_states.get(job, ("PENDING", ""))[0] or "PENDING"
            waited = time.monotonic() - started
            self.warnings.append(f"{self.node_ae_title}: Print Job {step} still {state} after {waited:.0f} s")
            return
        state, info = self.requester.job_states[job]
        if state == "FAILURE":
            raise _Failed(None, f"{self.node_ae_title}: Print Job {step} FAILURE ({info or 'no reason given'})")


def _lut_key(plut: PresentationLUTSnapshot) -> tuple[str, int]:
    """A Presentation LUT of the record, as its UID and its number of entries (a table mapped to 8 bits differs)."""
    return plut.sop_instance_uid, plut.lut_descriptor[0] if plut.lut_descriptor else 0


def keyword_label(keyword: str) -> str:
    """A keyword as the standard names the attribute: FilmSizeID -> Film Size ID."""
    if keyword.endswith("ID"):
        return keyword_label(keyword[:-2]) + " ID"
    return "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(keyword))


def print_on_node(
    request: PrintRequest,
    calling_ae_title: str,
    node_ae_title: str,
    node: Node,
    skip: frozenset[int] = frozenset(),
    client_tls: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> Delivery:
    """Print the films of `request` (less the indices in `skip`) on the print SCP `node` (its AE title
    `node_ae_title`), calling as `calling_ae_title`: one association, one attempt (see the module docstring).
    Never raises for what the node does: a node that cannot be reached is `status=None`, "NODE: cannot connect"."""
    attempt = _Attempt(request, calling_ae_title, node_ae_title, node, frozenset(skip), client_tls, timeout)
    return attempt.run()
