"""Identity patterns (printscp/identity/patterns.py): tables of (templates, text, the fields expected)."""

from __future__ import annotations

import datetime
import time

import pytest

from printscp.identity.model import Identity
from printscp.identity.ocr import DEFAULT_TEMPLATES
from printscp.identity.patterns import check_template, match, person_name

NAME = "{PatientName}"

CASES: list[tuple[str | tuple[str, ...], str, dict[str, str]]] = [
    # names: caret, comma, space forms; case and accents
    (NAME, "DOE^JANE", {"patient_name": "DOE^JANE"}),
    (NAME, "Doe, Jane", {"patient_name": "DOE^JANE"}),
    (NAME, "DOE JANE", {"patient_name": "DOE^JANE"}),
    (NAME, "doe^jane^^^", {"patient_name": "DOE^JANE"}),
    (NAME, "Müller, Hans-Jürgen", {"patient_name": "MÜLLER^HANS-JÜRGEN"}),
    (NAME, "Weiß^Zoë", {"patient_name": "WEIß^ZOË"}),
    (NAME, "O'Brien, Mary", {"patient_name": "O'BRIEN^MARY"}),
    (NAME, "Çelik^Ayşe", {"patient_name": "ÇELIK^AYŞE"}),
    (NAME, "|DOE^JANE.", {"patient_name": "DOE^JANE"}),  # what OCR leaves at the ends of a line
    (NAME, "ID: 12345", {}),  # digits: not a name
    ("{PatientName:^}", "CT ABDOMEN", {}),  # a line of words is no name in caret form
    ("{PatientName:^}", "DOE^JANE", {"patient_name": "DOE^JANE"}),
    ("{PatientName:,}", "Doe, Jane", {"patient_name": "DOE^JANE"}),
    ("{PatientName:,}", "DOE^JANE", {}),
    # name and ID together, as a label
    ("{PatientName} {PatientID}", "DOE^JANE 12345678", {"patient_name": "DOE^JANE", "patient_id": "12345678"}),
    ("{PatientName} {PatientID}", "Doe Jane 12345 CT", {"patient_name": "DOE^JANE", "patient_id": "12345"}),
    ("{PatientName} {PatientID}", "DOE^JANE\n12345678", {"patient_name": "DOE^JANE", "patient_id": "12345678"}),
    ("{PatientID} {PatientName}", "H-20381 NGUYEN^VAN AN", {"patient_name": "NGUYEN^VAN AN", "patient_id": "H-20381"}),
    (
        "Name: {PatientName} ID: {PatientID}",
        "name: Doe, Jane  id:A-77",
        {"patient_name": "DOE^JANE", "patient_id": "A-77"},
    ),
    ("{*} {PatientName} / {PatientID}", "Film 3: DOE^JANE / 42", {"patient_name": "DOE^JANE", "patient_id": "42"}),
    # IDs: labelled, flexible spacing and colon, boundaries
    ("ID: {PatientID}", "ID: 12345678", {"patient_id": "12345678"}),
    ("ID: {PatientID}", "Patient ID : 12345678  M", {"patient_id": "12345678"}),
    ("ID: {PatientID}", "ID;12345678", {"patient_id": "12345678"}),
    ("ID: {PatientID}", "PID: 12345678", {}),  # "ID" inside a word is not the label
    ("ID: {PatientID}", "ID: JANE", {}),  # no digit: a word, not an ID
    ("ID: {PatientID}", "ID: 12\\34", {}),  # a backslash: no value (PS3.5 6.4)
    ("ID: {PatientID}", "ID: " + "1" * 65, {}),  # LO holds 64
    ("ID: {PatientID}", "ID: " + "1" * 64, {"patient_id": "1" * 64}),
    ("ACC# {AccessionNumber}", "ACC#A1234", {"accession_number": "A1234"}),
    ("Acc: {AccessionNumber}", "acc: a1234", {"accession_number": "A1234"}),
    ("Acc: {AccessionNumber}", "Acc: 12345678901234567", {}),  # SH holds 16
    ("Sex: {PatientSex}", "Sex: f", {"patient_sex": "F"}),
    ("Sex: {PatientSex}", "Sex: Male", {"patient_sex": "M"}),
    ("Sex: {PatientSex}", "Sex: X", {}),
    # birth dates in every accepted form
    ("DOB: {PatientBirthDate}", "DOB: 19700131", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 1970-01-31", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 1970.01.31", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 1970/01/31", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 31.01.1970", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 31-01-1970", {"patient_birth_date": "19700131"}),
    ("DOB: {PatientBirthDate}", "DOB: 1.2.1970", {"patient_birth_date": "19700201"}),
    ("DOB: {PatientBirthDate}", "DOB: 31/01/1970", {"patient_birth_date": "19700131"}),  # 31 cannot be a month
    ("DOB: {PatientBirthDate}", "DOB: 01/31/1970", {"patient_birth_date": "19700131"}),  # MM/DD/YYYY
    ("DOB: {PatientBirthDate}", "DOB: 05/06/1970", {}),  # 5 June or May 6: ambiguous, dropped
    ("DOB: {PatientBirthDate}", "DOB: 06/06/1970", {"patient_birth_date": "19700606"}),  # the same either way
    ("DOB: {PatientBirthDate:MM/DD/YYYY}", "DOB: 05/06/1970", {"patient_birth_date": "19700506"}),
    ("DOB: {PatientBirthDate:DD/MM/YYYY}", "DOB: 05/06/1970", {"patient_birth_date": "19700605"}),
    ("DOB: {PatientBirthDate:DD.MM.YYYY}", "DOB: 1970-01-31", {}),  # an explicit form is the only one
    ("born {PatientBirthDate}", "Born 29.02.2000", {"patient_birth_date": "20000229"}),
    # invalid dates are dropped
    ("DOB: {PatientBirthDate}", "DOB: 29.02.1971", {}),
    ("DOB: {PatientBirthDate}", "DOB: 1970-13-01", {}),
    ("DOB: {PatientBirthDate}", "DOB: 19700132", {}),
    ("DOB: {PatientBirthDate}", "DOB: 1700-01-01", {}),
    ("DOB: {PatientBirthDate}", f"DOB: {datetime.date.today().year + 1}-01-01", {}),  # not born yet
    ("DOB: {PatientBirthDate}", "DOB: 1970-01-311", {}),
    # hostile text
    (NAME, "DOE\\JANE", {}),
    (NAME, "DOE^JANE\x00", {}),
    (NAME, "DO\x07E^JANE", {}),
    (NAME, "A" * 65, {}),  # PN: 64 per component group
    (NAME, "A" * 30 + "^" + "B" * 33, {"patient_name": "A" * 30 + "^" + "B" * 33}),
    (NAME, "A^B^C^D^E^F", {}),  # PN has five components
    (NAME, "^^^", {}),
    ("ID: {PatientID}", "ID: 123\x1b[2J", {}),
    ("ID: {PatientID}", "", {}),
    ("ID: {PatientID}", "ID: " + "9" * 2000, {}),  # a line longer than any label: not searched
    # several templates: each field from the first that finds it, line by line
    (
        DEFAULT_TEMPLATES,
        "DOE^JANE\nID: 12345678\nDOB: 31.01.1970\nSex: F\nACC: A1234\nCT CHEST",
        {
            "patient_name": "DOE^JANE",
            "patient_id": "12345678",
            "patient_birth_date": "19700131",
            "patient_sex": "F",
            "accession_number": "A1234",
        },
    ),
    (DEFAULT_TEMPLATES, "Patient ID: 0042\nPID: 0043", {"patient_id": "0042"}),
    (DEFAULT_TEMPLATES, "SIEMENS\nCT ABDOMEN\nW 400 L 40\n2024-05-17 10:42", {}),
    (
        DEFAULT_TEMPLATES,
        "Doe, Jane\nMRN: 7781\nD.O.B.: 1970-01-31",
        {"patient_name": "DOE^JANE", "patient_id": "7781", "patient_birth_date": "19700131"},
    ),
]


@pytest.mark.parametrize(("templates", "text", "expected"), CASES)
def test_match(templates: str | tuple[str, ...], text: str, expected: dict[str, str]) -> None:
    found = match([templates] if isinstance(templates, str) else templates, text)
    assert found == Identity(**expected)  # type: ignore[arg-type]
    assert found.source is None and not found.confirmed  # the caller says where the text came from


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{PatientNam}", "unknown placeholder {PatientNam}"),
        ("{StudyDate}", "unknown placeholder {StudyDate}"),
        ("ID: {PatientID", "unbalanced '{'"),
        ("ID: PatientID}", "unbalanced '}'"),
        ("ID: 12345", "no placeholder"),
        ("", "empty"),
        ("   ", "empty"),
        ("{PatientID} {PatientID}", "{PatientID} appears twice"),
        ("{PatientBirthDate:DD.MM.YY}", "date form 'DD.MM.YY'"),
        ("{PatientBirthDate:DD.DD.YYYY}", "date form"),
        ("{PatientID:digits}", "{PatientID:digits} is not a form"),
        ("{PatientName:;}", "{PatientName:;} is not a form"),
    ],
)
def test_a_bad_template_is_a_value_error_naming_it(template: str, complaint: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_template(template)
    assert repr(template) in str(raised.value)
    assert complaint in str(raised.value)
    with pytest.raises(ValueError):
        match(["ID: {PatientID}", template], "ID: 123")


@pytest.mark.parametrize(
    "template",
    [
        "{PatientName} {PatientID}",
        "ID: {PatientID}",
        "DOB: {PatientBirthDate:MM/DD/YYYY}",
        "{{{PatientID}}}",
        "{*} {PatientName:^}",
        *DEFAULT_TEMPLATES,
    ],
)
def test_good_templates_pass_the_check(template: str) -> None:
    check_template(template)


def test_literal_braces() -> None:
    assert match(["{{{PatientID}}}"], "{A-1}") == Identity(patient_id="A-1")


@pytest.mark.parametrize(
    "text",
    [
        "A" * 1000 + " " + "1 " * 300,
        ("DOE " * 250)[:1000],
        "ID: " + "1-" * 498,
        "\n".join(["DOE^JANE ID: 1"] * 20000),
        "\x00\x01\x02" * 30000,
    ],
)
def test_hostile_text_is_matched_quickly_and_never_raises(text: str) -> None:
    started = time.perf_counter()
    match(DEFAULT_TEMPLATES + ("{PatientName} {PatientID} {AccessionNumber}",), text)
    assert time.perf_counter() - started < 5  # a generous bound on backtracking, not a benchmark


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("DOE^JANE", "DOE^JANE"),
        ("Doe, Jane Mary", "DOE^JANE MARY"),
        ("DOE  JANE", "DOE^JANE"),
        ("DOE", "DOE"),
        ("", ""),
    ],
)
def test_person_name(text: str, name: str) -> None:
    assert person_name(text) == name
