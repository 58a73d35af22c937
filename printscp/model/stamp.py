"""The film stamp: the line of text a laser imager prints on the film's edge (patient, date, sheet n/m).

`film_stamp` in a printer profile is a template of placeholders in braces (`PLACEHOLDERS`), `{{` and `}}` for
literal braces; `check_template` refuses any other, so a bad template stops the server at load. `format_stamp`
fills it in for one film of a print job. The render worker (printing.py) calls it once the job's identity is
decided, and gives the renderer only the resulting text: the renderer knows nothing of identities.

A placeholder with no value (no patient known, no label) is dropped together with the spaces that would have
separated it, so that "{PatientName}  {PatientID}  {date}" of an unknown patient is just the date. Values are
made one line of plain text: control characters, bidirectional and other format characters, line and
paragraph separators become spaces, and runs of spaces one space (the template's own spacing is kept).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping

from printscp.model.record import PrintRequest

PLACEHOLDERS = (
    "PatientName",  # as a person reads it: DOE, JANE from DOE^JANE
    "PatientID",
    "PatientBirthDate",  # YYYY-MM-DD
    "AccessionNumber",
    "date",  # of the print (the N-ACTION that asked for it), YYYY-MM-DD
    "time",  # HH:MM
    "sheet",  # the film's number in the job, from 1
    "sheets",  # the job's number of films
    "printer",  # AE title of the printer
    "calling",  # calling AE title
    "label",  # Film Session Label
)

_UNPRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # controls, format (bidi), surrogates, unassigned


def check_template(template: str) -> None:
    """ValueError saying what is wrong with `template`: a placeholder not in PLACEHOLDERS, a format spec or
    conversion (none is supported), an unmatched brace."""
    for _literal, name, spec, conversion in string.Formatter().parse(template):  # ValueError: "Single '}' ..."
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)}; {{{{ }}}} for braces)")
        if spec or conversion:
            raise ValueError(f"{{{name}}} takes no format or conversion")


def format_stamp(
    template: str, identity_fields: Mapping[str, str], request: PrintRequest, film_number: int, films: int
) -> str:
    """The stamp of film `film_number` (from 1) of `films` of `request`.

    `identity_fields`: the patient's values by DICOM keyword (PatientName as PN, PatientBirthDate as DA), as
    Identity.as_dicom gives them; empty for a patient nobody knows. The date and time are the print request's.
    """
    check_template(template)
    patient = {keyword: one_line(value) for keyword, value in identity_fields.items()}
    at = request.requested_at
    values = {
        "PatientName": readable_name(patient.get("PatientName", "")),
        "PatientID": patient.get("PatientID", ""),
        "PatientBirthDate": readable_date(patient.get("PatientBirthDate", "")),
        "AccessionNumber": patient.get("AccessionNumber", ""),
        "date": at.strftime("%Y-%m-%d"),
        "time": at.strftime("%H:%M"),
        "sheet": str(film_number),
        "sheets": str(films),
        "printer": request.printer_ae_title.strip(),
        "calling": request.calling_ae_title.strip(),
        "label": request.film_session_label,
    }
    text = ""
    gap = False  # a placeholder was empty: the spaces between it and the text before it go too
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        if gap and literal:
            if not text.strip():
                literal = literal.lstrip()
            elif text[-1:].isspace() and literal[0].isspace():
                text = text.rstrip()
            gap = False
        text += literal
        if name is not None:
            value = one_line(values[name])
            text += value
            gap = not value
    return one_line(text, collapse=False).strip()


def one_line(text: str, collapse: bool = True) -> str:
    """`text` with every control, format or separator character a space; `collapse`: runs of spaces one."""
    text = "".join(" " if unicodedata.category(c) in _UNPRINTABLE or c.isspace() else c for c in text)
    return " ".join(text.split()) if collapse else text


def readable_name(pn: str) -> str:
    """A Person Name as a person reads it: DOE^JANE^A^DR^JR -> "DOE, DR JANE A JR" (PS3.5 6.2: family^given^
    middle^prefix^suffix). The first non-empty component group (alphabetic, else ideographic, else phonetic)."""
    group = next((g for g in pn.split("=") if g.strip("^ ")), "")
    family, given, middle, prefix, suffix = [*(c.strip() for c in group.split("^")), "", "", "", ""][:5]
    rest = " ".join(c for c in (prefix, given, middle, suffix) if c)
    return f"{family}, {rest}" if family and rest else family or rest


def readable_date(da: str) -> str:
    """A DA value YYYYMMDD as YYYY-MM-DD; anything else as it is."""
    da = da.strip()
    return f"{da[:4]}-{da[4:6]}-{da[6:]}" if len(da) == 8 and da.isdigit() else da
