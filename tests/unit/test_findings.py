"""bench/findings.py: transcripts built from pydicom data sets, checked against PS3.4 Annex H and the printer."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydicom.dataset import Dataset

from printscp import uids
from printscp.bench.findings import check
from printscp.bench.transcript import (
    Association,
    Direction,
    End,
    FaultApplied,
    Finding,
    Message,
    Outcome,
    PresentationContext,
    Severity,
    Transcript,
    Verdict,
    summarise,
    verdict_of,
)
from printscp.model.profile import PrinterProfile

SESSION, FILM_BOX, IMAGE_BOX = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX, uids.BASIC_GRAYSCALE_IMAGE_BOX
PLUT, PRINT_JOB = uids.PRESENTATION_LUT, uids.PRINT_JOB
SESSION_UID, JOB_UID = "1.2.826.0.1.3680043.2.1", "1.2.826.0.1.3680043.2.9"
TIME = "2025-01-01T12:00:00.000+00:00"

STRICT = PrinterProfile()
COMPATIBLE = dataclasses.replace(
    STRICT, personality="compatible", term_aliases={"MediumType": {"CURRENT": "BLUE FILM"}}
)


def film_box_uid(n: int) -> str:
    return f"1.2.826.0.1.3680043.2.2.{n}"


def image_box_uid(film_box: int, position: int) -> str:
    return f"1.2.826.0.1.3680043.2.3.{film_box}.{position}"


class Script:
    """An association as printscp records it: each request followed by our response."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.message_id = 0
        self.faults: list[FaultApplied] = []

    def _add(self, **fields: Any) -> Message:
        message = Message(index=len(self.messages) + 1, time=TIME, **fields)
        self.messages.append(message)
        return message

    def request(
        self,
        command: str,
        sop_class: str,
        uid: str = "",
        ds: Dataset | None = None,
        *,
        status: int = 0x0000,
        reply: Dataset | None = None,
        comment: str = "",
        offending: tuple[str, ...] = (),
    ) -> int:
        """The request's index."""
        self.message_id += 1
        request = self._add(
            direction=Direction.RECEIVED,
            command=f"{command}-RQ",
            message_id=self.message_id,
            sop_class_uid=sop_class,
            sop_class=uids.name(sop_class),
            sop_instance_uid=uid,
            action_type_id=1 if command == "N-ACTION" else None,
            data_set=summarise(ds) if ds is not None else None,
        )
        self._add(
            direction=Direction.SENT,
            command=f"{command}-RSP",
            responding_to=self.message_id,
            sop_class_uid=sop_class,
            sop_class=uids.name(sop_class),
            sop_instance_uid=uid,
            status=status,
            error_comment=comment,
            offending_elements=offending,
            data_set=summarise(reply) if reply is not None else None,
        )
        return request.index

    def event(self, sop_class: str, uid: str, event_type: int, status: int = 0x0000) -> int:
        """Our N-EVENT-REPORT and the SCU's answer; the answer's index."""
        self.message_id += 1
        self._add(
            direction=Direction.SENT,
            command="N-EVENT-REPORT-RQ",
            message_id=self.message_id,
            sop_class_uid=sop_class,
            sop_instance_uid=uid,
            event_type_id=event_type,
        )
        return self._add(
            direction=Direction.RECEIVED,
            command="N-EVENT-REPORT-RSP",
            responding_to=self.message_id,
            sop_class_uid=sop_class,
            sop_instance_uid=uid,
            status=status,
        ).index

    # --- the usual steps ---

    def film_session(self, status: int = 0x0000, **attributes: Any) -> int:
        ds = Dataset()
        ds.NumberOfCopies = 1
        ds.PrintPriority = "MED"
        ds.MediumType = "BLUE FILM"
        ds.FilmDestination = "MAGAZINE"
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        return self.request("N-CREATE", SESSION, SESSION_UID, ds, status=status)

    def film_box(self, n: int = 1, boxes: int = 2, status: int = 0x0000, **attributes: Any) -> int:
        ds = Dataset()
        ds.ImageDisplayFormat = f"STANDARD\\1,{boxes}"
        ds.FilmOrientation = "PORTRAIT"
        ds.FilmSizeID = "14INX17IN"
        item = Dataset()
        item.ReferencedSOPClassUID = SESSION
        item.ReferencedSOPInstanceUID = SESSION_UID
        ds.ReferencedFilmSessionSequence = [item]
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        reply = None
        if status == 0x0000:
            reply = Dataset()
            reply.ReferencedImageBoxSequence = [reference(IMAGE_BOX, image_box_uid(n, p)) for p in range(1, boxes + 1)]
        return self.request("N-CREATE", FILM_BOX, film_box_uid(n), ds, status=status, reply=reply)

    def image_box(
        self, n: int, position: int, sent_position: int | None = None, bits: int = 8, empty: bool = False, **kw: Any
    ) -> int:
        ds = Dataset()
        ds.ImageBoxPosition = position if sent_position is None else sent_position
        ds.BasicGrayscaleImageSequence = [] if empty else [image(bits)]
        return self.request("N-SET", IMAGE_BOX, image_box_uid(n, position), ds, **kw)

    def print_film_box(self, n: int = 1, status: int = 0x0000, job: bool = True) -> int:
        reply = None
        if job and status in (0x0000,):
            reply = Dataset()
            reply.add_new(0x21000500, "SQ", [reference(PRINT_JOB, JOB_UID)])
        return self.request("N-ACTION", FILM_BOX, film_box_uid(n), status=status, reply=reply)

    def transcript(self, outcome: Outcome = Outcome.RELEASED) -> Transcript:
        contexts = tuple(
            PresentationContext(i, uid, uids.name(uid), ("1.2.840.10008.1.2",), "accepted", "1.2.840.10008.1.2")
            for i, uid in enumerate((uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, PRINT_JOB, PLUT), start=1)
        )
        association = Association("a1", "127.0.0.1:11112", "MODALITY", "PRINTSCP", "PRINTSCP", TIME, contexts=contexts)
        return Transcript(association, tuple(self.messages), tuple(self.faults), End(outcome, TIME))


def reference(sop_class: str, uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid
    return item


def image(bits: int = 8) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows = 4
    item.Columns = 4
    item.BitsAllocated = 8 if bits == 8 else 16
    item.BitsStored = bits
    item.HighBit = bits - 1
    item.PixelRepresentation = 0
    item.PixelData = bytes(16 * item.BitsAllocated // 8)
    return item


def clean_session(script: Script | None = None) -> Script:
    """A well-formed association: printer status, a two-box film printed, its job followed, all deleted."""
    script = script or Script()
    script.request("N-GET", uids.PRINTER, uids.PRINTER_INSTANCE)
    script.film_session()
    script.film_box()
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.print_film_box()
    for event in (1, 2, 3):
        script.event(PRINT_JOB, JOB_UID, event)
    script.request("N-DELETE", FILM_BOX, film_box_uid(1))
    script.request("N-DELETE", SESSION, SESSION_UID)
    return script


def only(findings: tuple[Finding, ...]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_a_well_formed_session_has_no_findings() -> None:
    transcript = clean_session().transcript()
    assert check(transcript, STRICT) == ()
    assert check(transcript, COMPATIBLE) == ()


# --- 1. statuses --------------------------------------------------------------------------------------


def test_a_failure_status_is_an_error_about_the_request_with_its_offending_element() -> None:
    script = Script()
    script.film_session()
    index = script.film_box(status=0x0106)
    script.messages[-1] = dataclasses.replace(
        script.messages[-1], offending_elements=("(2010,0130)",), error_comment="(2010,0130) MaxDensity: too high"
    )
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.tag, found.keyword) == (
        Severity.ERROR,
        index,
        "(2010,0130)",
        "MaxDensity",
    )
    assert found.reference == "PS3.4 Table H.4.2.2.1.2-1"
    assert "too high" in found.sent and "too high" in found.text


@pytest.mark.parametrize(
    ("command", "sop_class", "status", "severity", "reference"),
    [
        ("N-ACTION", FILM_BOX, 0xC602, Severity.ERROR, "PS3.4 Table H.4-9"),
        ("N-ACTION", SESSION, 0xB601, Severity.WARNING, "PS3.4 Table H.4-4"),
        ("N-SET", FILM_BOX, 0xB605, Severity.WARNING, "PS3.4 Table H.4.2.2.1.2-1"),
        ("N-SET", IMAGE_BOX, 0x0116, Severity.WARNING, "PS3.4 Table H.4.3.1.2.1.2-1"),
        ("N-DELETE", PLUT, 0x0110, Severity.ERROR, "PS3.7 Annex C"),
    ],
)
def test_status_severity_and_table(
    command: str, sop_class: str, status: int, severity: Severity, reference: str
) -> None:
    script = Script()
    index = script.request(command, sop_class, "1.2.3", status=status)
    found = [f for f in check(script.transcript(), STRICT) if f.message_index == index]
    assert [(f.severity, f.reference, f.sent[:6]) for f in found] == [(severity, reference, f"0x{status:04X}")]


def test_a_status_the_fault_plan_forced_is_not_the_scus_finding() -> None:
    script = clean_session()
    action = next(m for m in script.messages if m.command == "N-ACTION-RQ")
    script.messages[action.index] = dataclasses.replace(script.messages[action.index], status=0xC602, data_set=None)
    assert [f.reference for f in check(script.transcript(), STRICT)] == ["PS3.4 Table H.4-9"]
    script.faults.append(FaultApplied(action.index, "film-box-action -> 0xC602", "answered 0xC602"))
    assert check(script.transcript(), STRICT) == ()


def test_an_scu_refusing_our_event_report_is_an_error_about_its_answer() -> None:
    script = Script()
    answer = script.event(uids.PRINTER, uids.PRINTER_INSTANCE, 2, status=0x0211)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.reference) == (Severity.ERROR, answer, "PS3.4 Table H.4-16")


def test_a_specific_finding_replaces_the_status_for_the_same_attribute() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    index = script.image_box(1, 2, sent_position=1, status=0x0106, offending=("(2020,0010)",))
    found = only(check(script.transcript(), STRICT))
    assert (found.message_index, found.tag, found.reference) == (index, "(2020,0010)", "PS3.4 Table H.4-10")
    assert found.sent == "1" and found.expected == "2"


def test_a_status_naming_no_attribute_is_explained_by_an_error_about_the_request() -> None:
    script = Script()
    script.film_session()
    index = script.film_box(FilmOrientation="SIDEWAYS", status=0x0106)
    found = only(check(script.transcript(), STRICT))
    assert (found.message_index, found.tag, found.reference) == (index, "(2010,0040)", "PS3.3 C.13.3")
    note_only = Script()
    note_only.film_session()
    note_only.film_box(FilmSizeID="75MMX100MM", status=0x0106)
    sony = dataclasses.replace(STRICT, film_size_ids=("75MMX100MM",))
    assert [f.severity for f in check(note_only.transcript(), sony)] == [Severity.NOTE, Severity.ERROR]


# --- 2. usage ----------------------------------------------------------------------------------------


def test_a_film_box_attribute_in_the_film_session_is_an_error() -> None:
    script = Script()
    index = script.film_session(ImageDisplayFormat="STANDARD\\2,2")
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.tag, found.keyword, found.reference) == (
        Severity.ERROR,
        index,
        "(2010,0010)",
        "ImageDisplayFormat",
        "PS3.4 Table H.4-2",
    )
    assert "Basic Film Box attribute" in found.text


def test_a_session_attribute_in_the_film_box_is_an_error() -> None:
    script = Script()
    script.film_session()
    index = script.film_box(NumberOfCopies=2)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.tag, found.reference) == (
        Severity.ERROR,
        index,
        "(2000,0010)",
        "PS3.4 Table H.4-6",
    )


def test_a_creation_only_attribute_in_a_film_box_n_set_is_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    ds = Dataset()
    ds.FilmOrientation = "LANDSCAPE"
    index = script.request("N-SET", FILM_BOX, film_box_uid(1), ds)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.tag, found.reference) == (
        Severity.ERROR,
        index,
        "(2010,0040)",
        "PS3.4 Table H.4-7",
    )
    assert "only in the Basic Film Box N-CREATE" in found.text


def test_pre_cp_173_session_attributes_fail_on_strict_and_warn_on_compatible() -> None:
    script = Script()
    index = script.film_session(Illumination=2000)
    strict = only(check(script.transcript(), STRICT))
    compatible = only(check(script.transcript(), COMPATIBLE))
    assert (strict.severity, compatible.severity) == (Severity.ERROR, Severity.WARNING)
    assert {strict.tag, compatible.tag} == {"(2010,015E)"}
    assert {strict.message_index, compatible.message_index} == {index}
    assert {strict.reference, compatible.reference} == {"PS3.4 Table H.4-2"}


def test_a_u_u_attribute_the_printer_does_not_support_is_a_warning() -> None:
    script = Script()
    script.film_session()
    script.film_box(Trim="YES")
    found = only(check(script.transcript(), dataclasses.replace(STRICT, supports_trim=False)))
    assert (found.severity, found.tag, found.reference) == (Severity.WARNING, "(2010,0140)", "PS3.4 Table H.4-6")
    assert check(script.transcript(), STRICT) == ()


# --- 3. values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "keyword", "value", "tag", "reference"),
    [
        ("session", "PrintPriority", "URGENT", "(2000,0020)", "PS3.3 C.13.1"),
        ("film_box", "FilmOrientation", "SIDEWAYS", "(2010,0040)", "PS3.3 C.13.3"),
        ("film_box", "ImageDisplayFormat", "GRID\\2,2", "(2010,0010)", "PS3.3 C.13.3"),
        ("film_box", "Trim", "MAYBE", "(2010,0140)", "PS3.3 C.13.3"),
        ("image_box", "Polarity", "INVERSE", "(2020,0020)", "PS3.3 C.13.5"),
        ("image_box", "RequestedDecimateCropBehavior", "SHRINK", "(2020,0040)", "PS3.3 C.13.5"),
        ("session", "MediumType", "CURRENT", "(2000,0030)", "PS3.3 C.13.1"),
    ],
)
def test_a_value_outside_the_standards_terms_is_an_error(
    step: str, keyword: str, value: str, tag: str, reference: str
) -> None:
    script = Script()
    attribute: dict[str, Any] = {keyword: value}
    if step == "session":
        index = script.film_session(**attribute)
    else:
        script.film_session()
        index = script.film_box(**(attribute if step == "film_box" else {}))
        if step == "image_box":
            script.image_box(1, 1)
            ds = Dataset()
            ds.ImageBoxPosition = 2
            ds.BasicGrayscaleImageSequence = [image()]
            setattr(ds, keyword, value)
            index = script.request("N-SET", IMAGE_BOX, image_box_uid(1, 2), ds)
            script.print_film_box()
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.tag, found.reference, found.sent) == (
        Severity.ERROR,
        index,
        tag,
        reference,
        value,
    )


def test_a_vendor_alias_is_a_warning_on_a_compatible_printer() -> None:
    script = Script()
    index = script.film_session(MediumType="CURRENT")
    found = only(check(script.transcript(), COMPATIBLE))
    assert (found.severity, found.message_index, found.tag) == (Severity.WARNING, index, "(2000,0030)")
    assert "BLUE FILM" in found.text


def test_a_standard_term_the_printer_lacks_is_a_warning_and_a_printer_only_term_a_note() -> None:
    script = Script()
    script.film_session()
    script.film_box(FilmSizeID="A3")
    narrow = dataclasses.replace(STRICT, film_size_ids=("14INX17IN",))
    found = only(check(script.transcript(), narrow))
    assert (found.severity, found.tag, found.reference) == (Severity.WARNING, "(2010,0050)", "PS3.3 C.13.3")
    sony = Script()
    sony.film_session()
    sony.film_box(FilmSizeID="75MMX100MM")
    vendor = only(check(sony.transcript(), dataclasses.replace(STRICT, film_size_ids=("75MMX100MM",))))
    assert (vendor.severity, vendor.tag) == (Severity.NOTE, "(2010,0050)")
    assert only(check(sony.transcript(), STRICT)).severity is Severity.ERROR


def test_an_image_display_format_the_printer_lacks_is_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box(ImageDisplayFormat="SLIDE")
    found = only(check(script.transcript(), dataclasses.replace(STRICT, image_display_formats=("STANDARD",))))
    assert (found.severity, found.tag) == (Severity.ERROR, "(2010,0010)")


# --- 4. Image Box Position -----------------------------------------------------------------------------


def test_image_box_positions_duplicated_mismatched_and_out_of_order() -> None:
    script = Script()
    script.film_session()
    script.film_box(boxes=3)
    later = script.image_box(1, 2)
    earlier = script.image_box(1, 1)
    duplicate = script.image_box(1, 3, sent_position=2)
    found = check(script.transcript(), STRICT)
    assert [(f.severity, f.message_index, f.tag, f.reference) for f in found] == [
        (Severity.NOTE, earlier, "(2020,0010)", "PS3.4 Table H.4-10"),
        (Severity.ERROR, duplicate, "(2020,0010)", "PS3.4 Table H.4-10"),
    ]
    assert later < earlier
    assert "already sent" in found[1].text


def test_setting_the_same_image_box_again_is_not_a_duplicate() -> None:
    script = clean_session()
    script.image_box(1, 2)  # after the deletes: a request on a deleted box, not a duplicate position
    kinds = [f.text for f in check(script.transcript(), STRICT)]
    assert len(kinds) == 1 and "deleted" in kinds[0]
    again = Script()
    again.film_session()
    again.film_box()
    again.image_box(1, 1)
    again.image_box(1, 2)
    again.image_box(1, 1)
    assert check(again.transcript(), STRICT) == ()


# --- 5. printing before every box holds an image ------------------------------------------------------


def test_printing_a_partly_filled_film_box_is_a_warning() -> None:
    script = Script()
    script.film_session()
    script.film_box(boxes=3)
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.image_box(1, 2, empty=True)  # erased again
    index = script.print_film_box()
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.reference) == (Severity.WARNING, index, "PS3.4 H.4.2.2.4")
    assert "Position 2, 3" in found.text and found.sent == "1 of 3 Image Boxes set"


def test_printing_an_empty_film_box_is_left_to_its_b603() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    index = script.print_film_box(status=0xB603)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.sent) == (Severity.WARNING, index, "0xB603")


def test_a_session_print_checks_every_film_box() -> None:
    script = Script()
    script.film_session()
    script.film_box(1)
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.film_box(2)
    script.image_box(2, 1)
    index = script.request("N-ACTION", SESSION, SESSION_UID)
    found = only(check(script.transcript(), STRICT))
    assert (found.message_index, found.reference) == (index, "PS3.4 H.4.1.2.4")
    assert film_box_uid(2) in found.text


# --- 6. deleting while the job is pending -----------------------------------------------------------------


@pytest.mark.parametrize(("events", "expected"), [((1,), 1), ((1, 2), 1), ((1, 2, 3), 0), ((1, 4), 0), ((), 1)])
def test_deleting_the_film_box_before_its_job_ended_is_a_note(events: tuple[int, ...], expected: int) -> None:
    script = Script()
    script.film_session()
    script.film_box()
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.print_film_box()
    for event in events:
        script.event(PRINT_JOB, JOB_UID, event)
    index = script.request("N-DELETE", FILM_BOX, film_box_uid(1))
    found = check(script.transcript(), STRICT)
    assert [(f.severity, f.message_index, f.reference) for f in found] == [
        (Severity.NOTE, index, "PS3.4 H.4.2.2.3")
    ] * expected
    assert verdict_of(found) is Verdict.PASS


def test_deleting_the_session_before_its_job_ended_is_a_note() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.print_film_box()
    script.event(PRINT_JOB, JOB_UID, 1)
    index = script.request("N-DELETE", SESSION, SESSION_UID)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.reference) == (Severity.NOTE, index, "PS3.4 H.4.1.2.3")


def test_without_a_print_job_nothing_is_pending() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    script.image_box(1, 1)
    script.image_box(1, 2)
    script.print_film_box(job=False)
    script.request("N-DELETE", FILM_BOX, film_box_uid(1))
    assert check(script.transcript(), STRICT) == ()


# --- 7. 12-bit ------------------------------------------------------------------------------------------


def test_twelve_bit_pixels_to_an_eight_bit_printer_are_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    index = script.image_box(1, 1, bits=12)
    eight_bit = dataclasses.replace(STRICT, supports_12_bit=False)
    found = only(check(script.transcript(), eight_bit))
    assert (found.severity, found.message_index, found.tag, found.keyword, found.reference) == (
        Severity.ERROR,
        index,
        "(0028,0101)",
        "BitsStored",
        "PS3.4 Table H.4-10",
    )
    assert check(script.transcript(), STRICT) == ()


def test_the_printers_refusal_of_twelve_bits_is_not_reported_twice() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    index = script.image_box(1, 1, bits=12, status=0x0106, offending=("(0028,0101)",))
    found = only(check(script.transcript(), dataclasses.replace(STRICT, supports_12_bit=False)))
    assert (found.message_index, found.tag, found.reference) == (index, "(0028,0101)", "PS3.4 Table H.4-10")


# --- 8. Presentation LUT ----------------------------------------------------------------------------------


def test_a_presentation_lut_referenced_before_it_is_created_is_an_error() -> None:
    lut = "1.2.826.0.1.3680043.2.7"
    script = Script()
    script.film_session()
    early = script.film_box(ReferencedPresentationLUTSequence=[reference(PLUT, lut)])
    plut = Dataset()
    plut.PresentationLUTShape = "IDENTITY"
    script.request("N-CREATE", PLUT, lut, plut)
    script.film_box(2, ReferencedPresentationLUTSequence=[reference(PLUT, lut)])
    script.request("N-DELETE", PLUT, lut)
    late = script.film_box(3, ReferencedPresentationLUTSequence=[reference(PLUT, lut)])
    found = check(script.transcript(), STRICT)
    assert [(f.severity, f.message_index, f.tag, f.reference) for f in found] == [
        (Severity.ERROR, early, "(2050,0500)", "PS3.4 Table H.4-6"),
        (Severity.ERROR, late, "(2050,0500)", "PS3.4 Table H.4-6"),
    ]


# --- 9. release -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "reference"),
    [(Outcome.ABORTED, "PS3.8 7.3"), (Outcome.CLOSED, "PS3.8 7.2"), (Outcome.TIMEOUT, "PS3.8 7.2")],
)
def test_an_association_not_released_is_a_warning(outcome: Outcome, reference: str) -> None:
    found = only(check(clean_session().transcript(outcome), STRICT))
    assert (found.severity, found.message_index, found.reference) == (Severity.WARNING, 0, reference)
    nothing_printed = Script()
    nothing_printed.request("N-GET", uids.PRINTER, uids.PRINTER_INSTANCE)
    assert only(check(nothing_printed.transcript(outcome), STRICT)).severity is Severity.WARNING


def test_our_own_abort_is_not_the_scus_finding() -> None:
    assert check(clean_session().transcript(Outcome.ABORTED_BY_PRINTSCP), STRICT) == ()


def test_a_requestors_transcript_is_refused() -> None:
    transcript = clean_session().transcript()
    association = dataclasses.replace(transcript.association, role="requestor")
    requestor = dataclasses.replace(transcript, association=association)
    with pytest.raises(ValueError, match="requestor"):
        check(requestor, STRICT)


# --- 10. the hierarchy -----------------------------------------------------------------------------------


def test_setting_an_image_box_of_an_earlier_film_box_is_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box(1)
    script.film_box(2)
    index = script.image_box(1, 1, status=0x0112)
    found = only(check(script.transcript(), STRICT))
    assert (found.severity, found.message_index, found.reference, found.tag) == (
        Severity.ERROR,
        index,
        "PS3.4 H.4.3.1.2.1",
        "",
    )
    assert "not the last created" in found.text


def test_printing_a_film_box_whose_creation_failed_is_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box(status=0x0106)
    index = script.print_film_box(status=0x0112)
    found = [f for f in check(script.transcript(), STRICT) if f.message_index == index]
    assert [(f.severity, f.reference) for f in found] == [(Severity.ERROR, "PS3.4 H.4.2.2.4")]
    assert "failed" in found[0].text


def test_a_request_after_the_film_session_was_deleted_is_an_error() -> None:
    script = Script()
    script.film_session()
    script.film_box()
    delete = script.request("N-DELETE", SESSION, SESSION_UID)
    index = script.print_film_box(status=0x0112)
    again = script.request("N-SET", SESSION, SESSION_UID, status=0x0112)
    found = check(script.transcript(), STRICT)
    assert [(f.severity, f.message_index, f.reference) for f in found] == [
        (Severity.ERROR, index, "PS3.4 H.4.1.2.3"),
        (Severity.ERROR, again, "PS3.4 H.4.1.2.3"),
    ]
    assert f"message {delete}" in found[0].text
