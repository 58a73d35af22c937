"""The film stamp's template (model/stamp.py): placeholders filled in from a film of a print job, empty ones
dropped with their spacing, hostile values made one line, unknown placeholders refused at config load."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from printscp.config import ConfigError, load_config
from printscp.identity.model import Identity
from printscp.model.enums import PrintPriority
from printscp.model.record import PrintRequest
from printscp.model.stamp import check_template, format_stamp, readable_date, readable_name
from printscp.printing import film_stamps

AT = datetime(2026, 3, 4, 9, 5, 30).astimezone()
JANE = {"PatientName": "DOE^JANE", "PatientID": "P-1", "PatientBirthDate": "19800229", "AccessionNumber": "A77"}


def request(label: str = "CHEST", calling: str = "CT_ROOM1", printer: str = "PRINTSCP") -> PrintRequest:
    return PrintRequest((), 1, PrintPriority.MED, label, calling, printer, AT, None)


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        ("{PatientName}  {PatientID}  {date} {time}  {sheet}/{sheets}", JANE, "DOE, JANE  P-1  2026-03-04 09:05  2/3"),
        ("DOB {PatientBirthDate} Acc {AccessionNumber}", JANE, "DOB 1980-02-29 Acc A77"),
        ("{printer} <- {calling}: {label}", JANE, "PRINTSCP <- CT_ROOM1: CHEST"),
        ("{{sheet}} {sheet}", JANE, "{sheet} 2"),  # doubled braces are literal braces
        ("no placeholder", JANE, "no placeholder"),
        ("", JANE, ""),
        # unknown patient: its placeholders are empty and take their spacing with them
        ("{PatientName}  {PatientID}  {date} {time}  {sheet}/{sheets}", {}, "2026-03-04 09:05  2/3"),
        ("{date}  {PatientName}  {PatientID}", {}, "2026-03-04"),
        ("{date}  {PatientName}  {sheet}", {}, "2026-03-04  2"),
        ("{date} {PatientID}-{sheet}", {}, "2026-03-04 -2"),  # only spaces go, the template's other text stays
        # hostile values: one line, no control, bidi or zero-width character, inner runs of spaces as one
        (
            "{PatientName}|{PatientID}",
            {"PatientName": "EVIL\u202e^X\r\nY", "PatientID": "A\x00\tB\u200b"},
            "EVIL, X Y|A B",
        ),
        ("{PatientName}", {"PatientName": "Yamada^Tarou=山田^太郎"}, "Yamada, Tarou"),
        ("{PatientName}", {"PatientName": "=山田^太郎"}, "山田, 太郎"),  # no alphabetic group: the ideographic
        ("{PatientName}", {"PatientName": "שלום^עולם"}, "שלום, עולם"),  # right-to-left text kept as it is
    ],
)
def test_format_stamp(template: str, fields: dict[str, str], expected: str) -> None:
    assert format_stamp(template, fields, request(), 2, 3) == expected


def test_hostile_label_and_template_spacing_stay_one_line() -> None:
    text = format_stamp("{label}\t{sheet}\n", {}, request(label="A\x1bB\u2028C" + "W" * 5000), 1, 1)
    assert text.startswith("A B CWWW") and text.endswith(" 1") and len(text) == 5 + 5000 + 2
    assert not any(unicodedata.category(c).startswith(("C", "Z")) and c != " " for c in text)


@pytest.mark.parametrize(
    ("pn", "readable"),
    [
        ("DOE^JANE", "DOE, JANE"),
        ("DOE^JANE^A^DR^JR", "DOE, DR JANE A JR"),
        ("DOE", "DOE"),
        ("^JANE", "JANE"),
        ("", ""),
        ("^^^", ""),
    ],
)
def test_readable_name(pn: str, readable: str) -> None:
    assert readable_name(pn) == readable


def test_readable_date() -> None:
    assert (readable_date("19800229"), readable_date("1980"), readable_date("")) == ("1980-02-29", "1980", "")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{PatientNmae}", "unknown placeholder {PatientNmae}"),
        ("{}", "unknown placeholder {}"),
        ("{0}", "unknown placeholder {0}"),
        ("{PatientName.upper}", "unknown placeholder {PatientName.upper}"),
        ("{date:%d.%m.%Y}", "{date} takes no format"),
        ("{PatientName!r}", "{PatientName} takes no format"),
        ("{sheet", "expected '}'"),
        ("sheet}", "Single '}'"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_template(template)


@pytest.mark.parametrize("table", ["printer", "printers.CT_PRINTER"])
def test_a_bad_film_stamp_stops_the_config_naming_its_key(tmp_path: Path, table: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[{table}]\nfilm_stamp = "{{PatientName}} {{Sheet}}"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{table}.film_stamp: unknown placeholder {{Sheet}}")
    assert "\n" not in str(error.value)
    path.write_text(f'[{table}]\nfilm_stamp = "{{PatientName}}  {{sheet}}/{{sheets}}"\n')
    config = load_config(path)
    profile = config.printer if table == "printer" else config.printers["CT_PRINTER"].profile
    assert profile.film_stamp == "{PatientName}  {sheet}/{sheets}"


def test_only_a_confirmed_identity_names_the_patient() -> None:
    films = dataclasses.replace(request(), films=(None, None), number_of_copies=2)  # only counted
    template = "{PatientName} {PatientID} {sheet}/{sheets}"
    confirmed = Identity("DOE^JANE", "P-1", source="scu", confirmed=True)
    assert film_stamps(films, template, confirmed) == ["DOE, JANE P-1 1/2", "DOE, JANE P-1 2/2"]  # copies: the same
    guessed = Identity("DOE^JANE", "P-1", source="ocr", confirmed=False)
    assert film_stamps(films, template, guessed) == ["1/2", "2/2"]
    assert film_stamps(films, "", confirmed) == []
