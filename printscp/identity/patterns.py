"""Text patterns for patient identity: one small template language for labels and for OCR'd text.

A template is literal text with placeholders in braces, e.g. ``"{PatientName} {PatientID}"``, ``"ID: {PatientID}"``
or ``"DOB: {PatientBirthDate:DD.MM.YYYY}"``. It compiles to one regular expression:

* literal text matches itself, case-insensitively; a run of spaces matches one or more whitespace characters
  (zero or more next to punctuation, so ``"ID: {PatientID}"`` also reads ``ID:123`` and ``ID : 123``); a colon
  also matches a semicolon (OCR confuses them); ``{{`` and ``}}`` are literal braces;
* ``{PatientName}``: letters (accented ones too), spaces and ``^ , - ' .``, within one line. Lazy when something
  follows it in the template; at the end of a template it runs to the end of the line, and at the start of one
  it begins at the start of a line, so ``"{PatientName}"`` alone means "a line that is only a name".
  ``{PatientName:^}`` and ``{PatientName:,}`` only accept a name written with a caret or a comma: a line of
  words (a study description, the hospital) is then not taken for a name;
* ``{PatientID}``, ``{AccessionNumber}``: one token of letters, digits and ``-`` with at least one digit (an
  all-letter token is far more often a word than an identifier);
* ``{PatientBirthDate}``: YYYYMMDD, YYYY-MM-DD (or . /), DD.MM.YYYY (or -), and DD/MM/YYYY or MM/DD/YYYY when
  the numbers say which (a part > 12 is the day; 05/06/1970 is dropped as ambiguous). An explicit form fixes
  the order: ``{PatientBirthDate:MM/DD/YYYY}``, any arrangement of DD, MM and YYYY with separators;
* ``{PatientSex}``: M, F, O (or MALE, FEMALE, OTHER);
* ``{*}``: any text within the line, skipped (``"{PatientName} {PatientID} {*}"`` reads a label with more after).

A token at the end of a template stops at whitespace or at ``, ; : . ) ] |``: a value glued to other characters
(``12\\34``) is no match.

`match(templates, text)` tries every template, in order, on every line, then on the whole text (a space in a
template may then span lines); the first valid value of each field wins. Values are normalised: PN as DICOM
writes it, uppercase (``"Doe, Jane"`` and ``"DOE^JANE"`` give ``DOE^JANE``; with neither comma nor caret the
first word is the family name, as consoles write it: ``"DOE JANE"`` gives ``DOE^JANE``), the birth date as DA
(a real date, 1850 to today), sex as M/F/O. A value too long for its VR (PN 64 per component group, LO 64,
SH 16) or with a backslash (the value separator of PS3.5 6.4) is dropped, never truncated, and nothing in
the text makes `match` raise. A template that cannot work (unknown placeholder, unbalanced brace, a field
twice, no field at all) raises ValueError naming it: `check_template` is for validating a config.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from printscp.identity.model import Identity

FIELDS = {  # placeholder -> Identity field
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
    "AccessionNumber": "accession_number",
}
SKIP = "*"
NAME_FORMS = ("^", ",")  # {PatientName:^}: a name with a caret (DOE^JANE); {PatientName:,}: with a comma

MAX_LINE = 1024  # characters; a longer line is not console or label text and is not searched
MAX_TEXT = 64 * 1024  # characters of text searched at all

_NAME_CHARS = r"[^\W\d_]"  # a letter, accented ones included
_NAME = rf"{_NAME_CHARS}(?:{_NAME_CHARS}|[ \t^,'.-])*"
_ALNUM = r"[^\W_]"  # a letter or digit (\w without '_')
_TOKEN = rf"(?=(?:{_ALNUM}|-)*\d){_ALNUM}(?:{_ALNUM}|-)*"  # letters, digits and -, from a letter or digit, one digit
_TOKEN_START = r"(?<![\w\\/-])"
_TOKEN_END = r"(?=$|[\s,;:.)\]|])"
_SEX = r"(?:MALE|FEMALE|OTHER|M|F|O)"
_LINE_EDGE = r"[ \t|'\"`.,:;_~*]*"  # what OCR leaves at the ends of a line
_COLON = "[:;]"

_DATE_FORMS = ("YYYYMMDD", "YYYY-MM-DD", "YYYY.MM.DD", "YYYY/MM/DD", "DD.MM.YYYY", "DD-MM-YYYY", "DD/MM/YYYY")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class Template:
    """A compiled template: its text, its regular expression and the explicit forms of its placeholders."""

    text: str
    regex: re.Pattern[str]
    forms: dict[str, str]  # placeholder -> its explicit form (a date form, or the separator a name must have)


def check_template(template: str) -> None:
    """Raise ValueError naming `template` if it cannot be used (for validating a config)."""
    compile_template(template)


@lru_cache(maxsize=256)
def compile_template(template: str) -> Template:
    """The compiled `template`; ValueError naming it when it is not a valid template."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"identity pattern {template!r}: empty")
    parts: list[tuple[str, str]] = []  # ("literal", text) | ("field", name) | ("skip", "")
    forms: dict[str, str] = {}
    position = 0
    literal = ""
    for found in _PLACEHOLDER.finditer(template):
        literal += template[position : found.start()]
        position = found.end()
        token = found.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
            continue
        if found.group(1) is None:
            raise ValueError(f"identity pattern {template!r}: unbalanced {token!r} (write {token * 2} for a brace)")
        name, _, form = found.group(1).strip().partition(":")
        name = name.strip()
        if literal:
            parts.append(("literal", literal))
            literal = ""
        if name == SKIP and not form:
            parts.append(("skip", ""))
            continue
        if name not in FIELDS:
            known = ", ".join([*FIELDS, SKIP])
            raise ValueError(f"identity pattern {template!r}: unknown placeholder {{{name}}} (known: {known})")
        if any(kind == "field" and value == name for kind, value in parts):
            raise ValueError(f"identity pattern {template!r}: {{{name}}} appears twice")
        form = form.strip()
        if form:
            if name == "PatientBirthDate":
                _date_regex(form, template)
            elif name != "PatientName" or form not in NAME_FORMS:
                raise ValueError(
                    f"identity pattern {template!r}: {{{name}:{form}}} is not a form; PatientName takes "
                    f"{' or '.join(NAME_FORMS)}, PatientBirthDate a date form such as DD.MM.YYYY"
                )
            forms[name] = form
        parts.append(("field", name))
    literal += template[position:]
    if literal:
        parts.append(("literal", literal))
    if not any(kind == "field" for kind, _ in parts):
        raise ValueError(f"identity pattern {template!r}: no placeholder ({', '.join(FIELDS)})")
    regex = "".join(_piece(parts, index, forms, template) for index in range(len(parts)))
    return Template(template, re.compile(regex, re.IGNORECASE | re.MULTILINE), forms)


def _piece(parts: list[tuple[str, str]], index: int, forms: dict[str, str], template: str) -> str:
    kind, value = parts[index]
    first, last = index == 0, index == len(parts) - 1
    if kind == "literal":
        return _literal(value, previous=None if first else parts[index - 1][0], following=not last)
    if kind == "skip":
        return ("^" if first else "") + r"[^\n]*?" + ("$" if last else "")
    if value == "PatientName":
        start = "^" + _LINE_EDGE if first else ""
        if last:
            return rf"{start}(?P<PatientName>{_NAME}?){_LINE_EDGE}$"
        return rf"{start}(?P<PatientName>{_NAME}?)"
    if value == "PatientBirthDate":
        form = forms.get(value)
        body = _date_regex(form, template) if form else "|".join(_date_regex(f, template) for f in _DATE_FORMS)
    else:
        body = _SEX if value == "PatientSex" else _TOKEN
    # at the end of the template a token must end where the text does (a following literal bounds it otherwise)
    return rf"{_TOKEN_START}(?P<{value}>{body})" + (_TOKEN_END if last else "")


def _literal(text: str, previous: str | None, following: bool) -> str:
    """A literal part as a regex: case from the flags, whitespace flexible, a word boundary at a free edge."""
    out: list[str] = []
    if previous is None and text[:1].isalnum():
        out.append(r"(?<!\w)")
    words = text.split()
    leading_space, trailing_space = text[:1].isspace(), text[-1:].isspace()
    if leading_space and previous is not None:
        out.append(r"\s+" if words and words[0][:1].isalnum() else r"\s*")
    elif previous is not None:
        out.append(r"\s*" if not text[:1].isalnum() else "")
    for number, word in enumerate(words):
        if number:
            out.append(r"\s+" if word[:1].isalnum() and words[number - 1][-1:].isalnum() else r"\s*")
        pieces: list[str] = []
        for position, char in enumerate(word):
            if position and (char.isalnum() != word[position - 1].isalnum()):
                pieces.append(r"\s*")
            pieces.append(_COLON if char in ":;" else re.escape(char))
        out.append("".join(pieces))
    if following:
        if trailing_space:
            out.append(r"\s+" if words and words[-1][-1:].isalnum() else r"\s*")
        elif words and not words[-1][-1:].isalnum():
            out.append(r"\s*")
    elif words and words[-1][-1:].isalnum():
        out.append(r"(?!\w)")
    return "".join(out)


def _date_tag(form: str) -> str:
    """A date form as a regex group name suffix: DD/MM/YYYY -> DD2fMM2fYYYY."""
    return "".join(c if c.isalnum() else f"{ord(c):x}" for c in form)


_DATE_PART = re.compile(r"YYYY|MM|DD|[^A-Za-z0-9]")


def _date_regex(form: str, template: str) -> str:
    """The regex of one date form (DD, MM, YYYY and separators), with groups named by part and form."""
    form = form.strip()
    parts = _DATE_PART.findall(form)
    if "".join(parts) != form or sorted(p for p in parts if p.isalpha()) != ["DD", "MM", "YYYY"]:
        raise ValueError(
            f"identity pattern {template!r}: date form {form!r} must be DD, MM and YYYY, each once, "
            "with separators (e.g. DD.MM.YYYY)"
        )
    tag = _date_tag(form)
    width = r"\d{1,2}" if len(parts) > 3 else r"\d{2}"  # without separators (YYYYMMDD) the widths are fixed
    digits = {"YYYY": r"\d{4}", "MM": width, "DD": width}
    return "".join(f"(?P<{p}_{tag}>{digits[p]})" if p.isalpha() else re.escape(p) for p in parts)


def match(templates: Iterable[str], text: str) -> Identity:
    """The identity fields that `templates` find in `text` (line by line, then across lines), normalised.

    The result has no source (the caller knows whether the text was a label or OCR). Nothing found: Identity().
    ValueError only for an invalid template, never for the text.
    """
    compiled = [compile_template(t) for t in templates]
    if not isinstance(text, str):
        return Identity()
    text = text[:MAX_TEXT].replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.split("\n") if line.strip() and len(line) <= MAX_LINE]
    found: dict[str, str] = {}
    for template in compiled:
        for line in lines:
            _collect(template, line, found)
    searchable = "\n".join(lines)
    for template in compiled:
        _collect(template, searchable, found)
    return Identity(
        patient_name=found.get("patient_name", ""),
        patient_id=found.get("patient_id", ""),
        patient_birth_date=found.get("patient_birth_date", ""),
        patient_sex=found.get("patient_sex", ""),
        accession_number=found.get("accession_number", ""),
    )


def _collect(template: Template, text: str, found: dict[str, str]) -> None:
    """Add the valid fields of the first match of `template` in `text` that are not found yet."""
    if all(FIELDS[name] in found for name in template.regex.groupindex if name in FIELDS):
        return
    for hit in template.regex.finditer(text):
        values = _values(hit, template)
        if not values:
            continue
        for field, value in values.items():
            found.setdefault(field, value)
        return


def _values(hit: re.Match[str], template: Template) -> dict[str, str]:
    groups = {name: value for name, value in hit.groupdict().items() if value is not None}
    values: dict[str, str] = {}
    for name, field in FIELDS.items():
        if name == "PatientBirthDate":
            value = _birth_date(groups, template.forms.get(name))
        elif name in groups:
            form = template.forms.get(name)
            value = NORMALISE[name](groups[name]) if form is None or form in groups[name] else ""
        else:
            continue
        if value:
            values[field] = value
    return values


def person_name(text: str) -> str:
    """`text` as a DICOM PN (single-byte group): DOE^JANE from "Doe, Jane", "DOE^JANE" or "DOE JANE"; "" if invalid.

    With neither caret nor comma the first word is the family name. Uppercase; at most 5 components of 64
    characters together (PS3.5 6.2, PN); a backslash or control character makes it invalid.
    """
    text = text.strip(" \t'.,-^")
    if not text or "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return ""
    if "^" in text:
        components = text.split("^")
    elif "," in text:
        family, _, given = text.partition(",")
        components = [family, given]
    else:
        family, _, given = text.partition(" ")
        components = [family, given]
    components = [" ".join(c.replace(",", " ").split()) for c in components]
    while components and not components[-1]:
        components.pop()
    if not components or not components[0] and not any(components) or len(components) > 5:
        return ""
    name = "^".join(components)
    name = "".join(c if c == "ß" else c.upper() for c in name)  # upper("ß") is "SS": keep the letter
    if len(name) > 64 or not any(c.isalpha() for c in name):
        return ""
    return name


def _token(limit: int) -> Callable[[str], str]:
    def normalise(text: str) -> str:
        text = text.strip()
        if not text or len(text) > limit or "\\" in text or not text.isprintable():
            return ""
        return text.upper()

    return normalise


def patient_sex(text: str) -> str:
    """M, F or O (CS, PS3.3 C.7.1.1), from M/F/O or MALE/FEMALE/OTHER in any case; "" otherwise."""
    value = text.strip().upper()
    return value[0] if value in ("M", "F", "O", "MALE", "FEMALE", "OTHER") else ""


# Placeholder -> normaliser of its matched text. LO (Patient ID) and SH (Accession Number) lengths: PS3.5 6.2.
NORMALISE: dict[str, Callable[[str], str]] = {
    "PatientName": person_name,
    "PatientID": _token(64),
    "PatientSex": patient_sex,
    "AccessionNumber": _token(16),
}


def birth_date(year: int, month: int, day: int) -> str:
    """YYYYMMDD (DA) if it is a real date from 1850 to today, else ""."""
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return ""
    if not datetime.date(1850, 1, 1) <= date <= datetime.date.today():
        return ""
    return date.strftime("%Y%m%d")


def _birth_date(groups: dict[str, str], form: str | None) -> str:
    parts: dict[str, int] = {}
    slashed = False  # DD/MM/YYYY matched without an explicit form: the order is not known
    for name, value in groups.items():
        part, _, tag = name.partition("_")
        if part in ("YYYY", "MM", "DD"):
            parts[part] = int(value)
            slashed = form is None and tag == _date_tag("DD/MM/YYYY")
    if len(parts) != 3:
        return ""
    year, month, day = parts["YYYY"], parts["MM"], parts["DD"]
    if slashed and day != month:
        # 05/06/1970 is 5 June in Europe and 6 May in the US: read it only when one number cannot be a month
        if day <= 12 and month <= 12:
            return ""
        if month > 12:
            day, month = month, day  # MM/DD/YYYY
    return birth_date(year, month, day)
