"""Reports of a transcript: `printscp report` as text, HTML, JSON or JUnit XML.

Pure renderers, each `Transcript -> str` (HTML also reads the film PNGs it embeds as thumbnails). Every string
of a transcript came from the SCU under test or from its data sets, so every string is treated as hostile:
text, HTML and XML show control and format characters as escapes (a terminal escape sequence or a bidi
override in an AE title stays visible and harmless, and XML 1.0 can carry every report), HTML and XML escape
markup, and JSON writes a lone surrogate (which a JSON Lines file can hold) as its `\\udxxx` escape rather than
failing to encode.

The verdict (pass, pass with warnings, fail) comes from the findings alone (bench/transcript.py); `exit_status`
is what `printscp report` exits with, so that CI can gate on it.
"""

from __future__ import annotations

import base64
import html as html_module
import io
import json
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from printscp.bench.store import TranscriptSummary
from printscp.bench.transcript import (
    Direction,
    Element,
    Film,
    Finding,
    Message,
    Severity,
    Transcript,
    Verdict,
)
from printscp.status import Status

FORMATS = ("text", "html", "json", "junit")
THUMBNAIL_SIZE = (320, 320)  # pixels, at most; the film's aspect ratio is kept
_SEVERITIES = (Severity.ERROR, Severity.WARNING, Severity.NOTE)
NOT_ENDED = (
    "the association had not ended when this report was made (or the server stopped without a word): no findings yet"
)
_ARROWS = {Direction.RECEIVED: "→", Direction.SENT: "←"}  # → to printscp, ← from printscp


def exit_status(transcript: Transcript) -> int:
    """0 when the verdict is pass or pass with warnings, 1 when it is fail."""
    return 1 if transcript.verdict is Verdict.FAIL else 0


# --- hostile strings -------------------------------------------------------------------------------------


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object, keep: str = "") -> str:
    """`value` as text fit for a terminal: control, format (bidi overrides), surrogate, private-use and
    unassigned characters (Unicode's category C) as visible escapes, but those in `keep`."""
    text = value if isinstance(value, str) else str(value)
    return "".join(_escape_char(c) if unicodedata.category(c)[0] == "C" and c not in keep else c for c in text)


def xml_text(value: object) -> str:
    """`value` as text that XML 1.0 (and so HTML) can carry and that shows as it is (no bidi override
    reversing what follows): `printable`, keeping tabs and line breaks."""
    return printable(value, keep="\t\n\r")


def _h(value: object) -> str:
    """`value` escaped for HTML text and attribute values."""
    return html_module.escape(xml_text(value), quote=True)


def _utf8_safe(text: str) -> str:
    """`text` with lone surrogates (a JSON file can hold them) as their backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- shared pieces ---------------------------------------------------------------------------------------


def status_name(status: int) -> str:
    """'0xC602 QUEUE_FULL_FILM_BOX'; a code printscp has no name for by its PS3.7 Annex C class."""
    if not isinstance(status, int):
        return printable(status)
    try:
        return str(Status(status))
    except ValueError:
        pass
    if status in (0xFF00, 0xFF01):
        kind = "PENDING"
    elif status == 0xFE00:
        kind = "CANCEL"
    elif status == 0x0001 or 0xB000 <= status <= 0xBFFF:
        kind = "WARNING"
    else:
        kind = "FAILURE"
    return f"0x{status:04X} {kind}" if 0 <= status <= 0xFFFF else f"{status} {kind}"


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _offset(transcript: Transcript, time: str) -> str:
    """'+1.234 s' from the association's start; '' when either time cannot be read."""
    start, moment = _when(transcript.association.started), _when(time)
    if start is None or moment is None:
        return ""
    return f"{(moment - start).total_seconds():+.3f} s"


def _elapsed(message: Message) -> str:
    value = message.elapsed_ms
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{value:.1f} ms"


def _label(index: int) -> str:
    return f"{index:04d}"


def _findings_by_message(transcript: Transcript) -> dict[int, list[Finding]]:
    by_message: dict[int, list[Finding]] = {}
    for finding in transcript.findings:
        by_message.setdefault(finding.message_index, []).append(finding)
    return by_message


def _finding_details(finding: Finding) -> list[tuple[str, str]]:
    """(name, value) of the finding's attribute, what was sent and expected, and where the standard says so."""
    attribute = " ".join(part for part in (finding.tag, finding.keyword) if part)
    details = [("attribute", attribute), ("sent", finding.sent), ("expected", finding.expected)]
    details.append(("reference", finding.reference))
    return [(name, value) for name, value in details if value]


def _value_text(element: Element) -> str:
    """An element's value in one line: text as it was, numbers as numbers, binary as length and hash."""
    if element.error is not None:
        raw = f" raw {element.raw}" if element.raw else ""
        return f"unreadable: {element.error}{raw}"
    if element.items is not None:
        return f"{len(element.items)} item(s)"
    if element.length is not None:
        digest = f" sha256 {str(element.sha256)[:12]}" if element.sha256 else ""
        return f"{element.length} bytes{digest}"
    value = element.value
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value)


def _elements(elements: Iterable[Element], depth: int = 0) -> Iterator[tuple[int, Element | int]]:
    """(depth, element) of every element, with (depth, item number) before each sequence item's elements."""
    for element in elements:
        yield depth, element
        for number, item in enumerate(element.items or (), 1):
            yield depth + 1, number
            yield from _elements(item, depth + 2)


def _transfer_syntax_name(uid: str) -> str:
    from pydicom.uid import UID

    try:
        name = UID(uid).name
    except Exception:  # a UID pydicom cannot even look up: shown as it came
        return uid
    return name if name and name != uid else uid


def _request_of(transcript: Transcript, response: Message) -> Message | None:
    """The request `response` answers: the last one before it with its Message ID, in the other direction."""
    for message in reversed([m for m in transcript.messages if m.index < response.index]):
        if (
            message.is_request
            and message.direction is not response.direction
            and message.message_id == response.responding_to
        ):
            return message
    return None


def _responses(transcript: Transcript) -> dict[int, Message]:
    """Index of each request -> its response (the first after it answering its Message ID)."""
    answered: dict[int, Message] = {}
    open_requests: dict[tuple[Direction, int | None], Message] = {}
    for message in transcript.messages:
        if message.is_request:
            open_requests[(message.direction, message.message_id)] = message
        else:
            other = Direction.SENT if message.direction is Direction.RECEIVED else Direction.RECEIVED
            request = open_requests.pop((other, message.responding_to), None)
            if request is not None:
                answered[request.index] = message
    return answered


# --- text ------------------------------------------------------------------------------------------------


def text(transcript: Transcript, verbose: bool = False) -> str:
    """The transcript for a terminal: header, negotiation, one line per message, faults and findings;
    with `verbose` each message's data set too."""
    p = printable
    a = transcript.association
    end = transcript.end
    outcome = transcript.outcome.value + (f" ({end.detail})" if end is not None and end.detail else "")
    lines = [
        f"Association {p(a.id)}",
        f"  peer            {p(a.peer)}",
        f"  calling AE      {p(a.calling_ae_title)}",
        f"  called AE       {p(a.called_ae_title)}",
        f"  printer         {p(a.printer) or '-'}",
        f"  role            printscp as {p(a.role)}",
        f"  started         {p(a.started)}",
        f"  ended           {p(end.time) if end is not None else '-'}",
        f"  outcome         {p(outcome)}",
        f"  verdict         {transcript.verdict.value.upper()}",
    ]
    if end is None:
        lines.append(f"  note            {NOT_ENDED}")
    lines += [
        "",
        "Negotiation",
        f"  implementation  {p(a.implementation_class_uid) or '-'} {p(a.implementation_version_name)}".rstrip(),
        f"  max PDU         proposed {a.max_pdu_proposed}, accepted {a.max_pdu_accepted} (0: unlimited)",
    ]
    if a.rejection:
        lines.append(f"  rejected        {p(a.rejection)}")
    for context in a.contexts:
        name = f"{p(context.name)} ({p(context.abstract_syntax)})" if context.name else p(context.abstract_syntax)
        lines.append(f"  [{context.context_id}] {name}")
        if context.result == "accepted" and context.transfer_syntax:
            lines.append(f"        accepted: {p(_transfer_syntax_name(context.transfer_syntax))}")
        else:
            proposed = ", ".join(p(_transfer_syntax_name(ts)) for ts in context.transfer_syntaxes)
            lines.append(f"        {p(context.result)}; proposed: {proposed or '-'}")

    by_message = _findings_by_message(transcript)
    lines += ["", f"Messages ({len(transcript.messages)}; → received by printscp, ← sent by printscp)"]
    for message in transcript.messages:
        lines.append("  " + _message_line(transcript, message))
        if message.error_comment:
            lines.append(f"        Error Comment: {p(json.dumps(message.error_comment, ensure_ascii=False))}")
        if message.offending_elements:
            lines.append(f"        offending: {p(' '.join(message.offending_elements))}")
        if message.attribute_identifiers:
            lines.append(f"        attributes asked: {p(' '.join(message.attribute_identifiers))}")
        for finding in by_message.get(message.index, ()):
            lines.append(f"        {finding.severity.value}: {p(finding.text)}")
        if verbose:
            lines += _data_set_lines(message)

    if transcript.faults:
        lines += ["", "Faults applied"]
        for fault in transcript.faults:
            where = "no message" if fault.message_index == 0 else f"message {_label(fault.message_index)}"
            lines.append(f"  {where}: {p(fault.effect)}  [{p(fault.fault)}]")

    lines += ["", f"Findings ({len(transcript.findings)})"]
    if not transcript.findings:
        lines.append("  none")
    for severity in _SEVERITIES:
        findings = [f for f in transcript.findings if f.severity is severity]
        if not findings:
            continue
        lines.append(f"  {severity.value}s ({len(findings)})")
        for finding in findings:
            where = "association" if finding.message_index == 0 else _label(finding.message_index)
            lines.append(f"    {where}  {p(finding.text)}")
            lines.append("          " + "; ".join(f"{name} {p(value)}" for name, value in _finding_details(finding)))

    if transcript.films:
        lines += ["", f"Films ({len(transcript.films)})"]
        for film in transcript.films:
            lines.append(f"  {p(film.job_uid)} film {film.film_number}: {p(film.pdf)}")
    return "\n".join(lines) + "\n"


def command_fields(message: Message) -> list[str]:
    """What a message's command set says, briefly: 'id 3', 're 3', 'action 1', 'event 2', '0x0000 SUCCESS'."""
    fields = [
        f"{label} {value}"
        for label, value in (
            ("id", message.message_id),
            ("re", message.responding_to),
            ("action", message.action_type_id),
            ("event", message.event_type_id),
        )
        if value is not None
    ]
    if message.status is not None:
        fields.append(status_name(message.status))
    return fields


def _message_line(transcript: Transcript, message: Message) -> str:
    p = printable
    parts = [
        _label(message.index),
        f"{_offset(transcript, message.time):>10}",
        _ARROWS.get(message.direction, "?"),
        f"{p(message.command):<18}",
        p(message.sop_class or message.sop_class_uid),
    ]
    parts += command_fields(message)
    elapsed = _elapsed(message)
    if elapsed:
        parts.append(elapsed)
    return "  ".join(part for part in parts if part)


def _data_set_lines(message: Message) -> list[str]:
    p = printable
    if message.data_set is None:
        return ["          (no data set)"]
    lines = []
    for depth, entry in _elements(message.data_set):
        indent = "          " + "  " * depth
        if isinstance(entry, int):
            lines.append(f"{indent}item {entry}")
        else:
            name = p(entry.keyword) or "(unknown)"
            lines.append(f"{indent}{p(entry.tag)} {name} {p(entry.vr)}  {p(_value_text(entry))}")
    if message.data_set_file:
        lines.append(f"          whole data set kept as {p(message.data_set_file)}")
    return lines


# --- JSON ------------------------------------------------------------------------------------------------


def json_report(transcript: Transcript) -> str:
    """`Transcript.to_json()` as an indented JSON document (docs/transcript.schema.json)."""
    data = _finite(transcript.to_json())
    return _utf8_safe(json.dumps(data, ensure_ascii=False, indent=2)) + "\n"


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities (which a JSON Lines file may hold, and JSON may not) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- JUnit XML -------------------------------------------------------------------------------------------


def junit(transcript: Transcript) -> str:
    """JUnit XML: a testsuite for the association, a testcase per DIMSE request of the peer (failed by its
    error findings; warnings and notes in its system-out) and one named "association" for the findings
    about the association as a whole."""
    a = transcript.association
    x = xml_text
    # the peer's requests: those printscp received, or sent when it was the requestor (`printscp print`)
    theirs = Direction.SENT if a.role == "requestor" else Direction.RECEIVED
    requests = [m for m in transcript.messages if m.is_request and m.direction is theirs]
    responses = _responses(transcript)
    cases = {m.index: m for m in requests}
    attached: dict[int, list[Finding]] = {}  # testcase (request index, 0: association) -> its findings
    by_index = {m.index: m for m in transcript.messages}
    for finding in transcript.findings:
        attached.setdefault(_case_of(transcript, finding, cases, by_index), []).append(finding)

    calling, called = str(a.calling_ae_title).strip(), str(a.called_ae_title).strip()
    classname = "printscp." + (re.sub(r"[\s.]+", "_", calling) or "unknown")
    suite_name = f"{a.id}: {calling} → {a.printer or called}"
    suites = ET.Element("testsuites", name="printscp report")
    suite = ET.SubElement(suites, "testsuite", name=x(suite_name), timestamp=x(a.started), hostname=x(a.peer))
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("association", a.id),
        ("peer", a.peer),
        ("calling_ae_title", a.calling_ae_title),
        ("called_ae_title", a.called_ae_title),
        ("printer", a.printer),
        ("outcome", transcript.outcome.value),
        ("verdict", transcript.verdict.value),
    ):
        ET.SubElement(properties, "property", name=name, value=x(value))

    tests = failures = 0
    total = 0.0
    if attached.get(0):
        failures += _testcase(suite, classname, "association", 0.0, attached[0], [])
        tests += 1
    for request in requests:
        response = responses.get(request.index)
        name = f"{_label(request.index)} {request.command} {request.sop_class or request.sop_class_uid}".rstrip()
        out = [f"{request.command} at {request.time}"]
        seconds = 0.0
        if response is None:
            name += " (no response)"
        else:
            if response.status is not None:
                name += f" → {status_name(response.status)}"
            if response.error_comment:
                out.append(f"Error Comment: {response.error_comment}")
            if _elapsed(response):  # a finite number
                seconds = max(0.0, float(response.elapsed_ms or 0) / 1000)
        total += seconds
        failures += _testcase(suite, classname, name, seconds, attached.get(request.index, []), out)
        tests += 1
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{total:.3f}")
    for key, count in (("tests", tests), ("failures", failures), ("errors", 0)):
        suites.set(key, str(count))
    suites.set("time", f"{total:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _case_of(transcript: Transcript, finding: Finding, cases: dict[int, Message], by_index: dict[int, Message]) -> int:
    """The testcase a finding belongs to: its request's, the request a response answers, else the association."""
    if finding.message_index in cases:
        return finding.message_index
    message = by_index.get(finding.message_index)
    if message is not None and not message.is_request:
        request = _request_of(transcript, message)
        if request is not None and request.index in cases:
            return request.index
    return 0


def _testcase(
    suite: ET.Element, classname: str, name: str, seconds: float, findings: list[Finding], out: list[str]
) -> int:
    """Add a testcase with a failure per error finding; returns 1 when it failed."""
    x = xml_text
    case = ET.SubElement(suite, "testcase", classname=x(classname), name=x(name), time=f"{seconds:.3f}")
    errors = [f for f in findings if f.severity is Severity.ERROR]
    for finding in errors:
        failure = ET.SubElement(case, "failure", message=x(finding.text), type=x(finding.reference or "error"))
        failure.text = x(_finding_block(finding))
    for finding in findings:
        if finding.severity is not Severity.ERROR:
            out.append(f"{finding.severity.value}: {_finding_block(finding)}")
    if out:
        ET.SubElement(case, "system-out").text = x("\n".join(out))
    return 1 if errors else 0


def _finding_block(finding: Finding) -> str:
    where = "association" if finding.message_index == 0 else f"message {_label(finding.message_index)}"
    details = "".join(f"\n  {name}: {value}" for name, value in _finding_details(finding))
    return f"{finding.text} ({where}){details}"


# --- HTML ------------------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; max-width: 80em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
code, .mono { font-family: ui-monospace, monospace; font-size: 0.92em; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; font-weight: 600; }
.verdict-pass { background: #2e7d32; } .verdict-pass-with-warnings { background: #b26a00; }
.verdict-fail { background: #c62828; }
.error { color: #c62828; } .warning { color: #b26a00; } .note { color: #1565c0; }
li.finding { margin: 0.3em 0; } li.finding.error { border-left: 4px solid #c62828; padding-left: 6px; }
li.finding.warning { border-left: 4px solid #b26a00; padding-left: 6px; }
li.finding.note { border-left: 4px solid #1565c0; padding-left: 6px; }
details.message { border-left: 4px solid #ddd; margin: 2px 0; padding: 1px 8px; }
details.message.sent { background: #f7f7fa; }
details.message.has-error { border-left-color: #c62828; background: #fdecea; }
details.message.has-warning { border-left-color: #b26a00; background: #fff4e0; }
details.message summary { cursor: pointer; font-family: ui-monospace, monospace; white-space: pre-wrap; }
ul.dataset { list-style: none; padding-left: 1.2em; margin: 0.3em 0; font-family: ui-monospace, monospace; }
.films { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figure img { border: 1px solid #ccc; background: #fff; }
.placeholder { width: 160px; height: 200px; border: 1px dashed #999; display: flex; align-items: center;
  justify-content: center; text-align: center; color: #666; padding: 4px; }
"""


def html(transcript: Transcript, archive_folder: Path | None = None) -> str:
    """One self-contained page: header and verdict, negotiation, findings linked to their messages, the
    timeline of messages (each a <details>, expandable without script) and the thumbnails of the films the
    association printed (read from `archive_folder`, embedded as data: URIs)."""
    a = transcript.association
    verdict = transcript.verdict
    by_message = _findings_by_message(transcript)
    end = transcript.end
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8" />',
        f"<title>printscp report {_h(a.id)}: {_h(a.calling_ae_title)} → {_h(a.printer or a.called_ae_title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>Association <code>{_h(a.id)}</code> "
        f'<span class="badge verdict-{verdict.value.replace(" ", "-")}">{_h(verdict.value)}</span></h1>',
        "<table>",
    ]
    rows = [
        ("peer", a.peer),
        ("calling AE", a.calling_ae_title),
        ("called AE", a.called_ae_title),
        ("printer", a.printer or "-"),
        ("started", a.started),
        ("ended", end.time if end is not None else "-"),
        ("outcome", transcript.outcome.value + (f" ({end.detail})" if end is not None and end.detail else "")),
        ("messages", str(len(transcript.messages))),
        ("films", str(len(transcript.films))),
    ]
    out += [f"<tr><th>{_h(name)}</th><td>{_h(value)}</td></tr>" for name, value in rows]
    out.append("</table>")
    if end is None:
        out.append(f'<p class="warning">{_h(NOT_ENDED)}</p>')

    out += _html_negotiation(transcript)
    out += _html_findings(transcript)
    if transcript.faults:
        out += ["<h2>Faults applied</h2>", "<ul>"]
        for fault in transcript.faults:
            link = f'<a href="#m{fault.message_index}">{_label(fault.message_index)}</a>'
            out.append(f"<li>{link} {_h(fault.effect)} <code>{_h(fault.fault)}</code></li>")
        out.append("</ul>")

    out += [
        f"<h2>Messages ({len(transcript.messages)})</h2>",
        "<p>→ received by printscp, ← sent by printscp; click a message for its details and data set.</p>",
    ]
    for message in transcript.messages:
        out += _html_message(transcript, message, by_message.get(message.index, []))

    out.append(f"<h2>Films ({len(transcript.films)})</h2>")
    if transcript.films:
        out.append('<div class="films">')
        out += [_html_film(film, archive_folder) for film in transcript.films]
        out.append("</div>")
    else:
        out.append("<p>This association printed no film.</p>")
    out += ["</body>", "</html>"]
    return _utf8_safe("\n".join(out)) + "\n"


def _html_negotiation(transcript: Transcript) -> list[str]:
    a = transcript.association
    out = [
        "<h2>Negotiation</h2>",
        "<table>",
        f"<tr><th>implementation</th><td>{_h(a.implementation_class_uid)} "
        f"{_h(a.implementation_version_name)}</td></tr>",
        f"<tr><th>max PDU</th><td>proposed {_h(a.max_pdu_proposed)}, accepted {_h(a.max_pdu_accepted)} "
        "(0: unlimited)</td></tr>",
    ]
    if a.rejection:
        out.append(f'<tr><th>rejected</th><td class="error">{_h(a.rejection)}</td></tr>')
    out.append("</table>")
    if a.contexts:
        out += ["<table>", "<tr><th>id</th><th>abstract syntax</th><th>result</th><th>transfer syntax</th></tr>"]
        for context in a.contexts:
            if context.result == "accepted" and context.transfer_syntax:
                syntaxes = _transfer_syntax_name(context.transfer_syntax)
            else:
                syntaxes = "proposed: " + ", ".join(_transfer_syntax_name(ts) for ts in context.transfer_syntaxes)
            css = "" if context.result == "accepted" else ' class="warning"'
            out.append(
                f"<tr><td>{context.context_id}</td>"
                f'<td>{_h(context.name)} <code title="{_h(context.abstract_syntax)}">'
                f"{_h(context.abstract_syntax)}</code></td>"
                f"<td{css}>{_h(context.result)}</td><td>{_h(syntaxes)}</td></tr>"
            )
        out.append("</table>")
    return out


def _html_findings(transcript: Transcript) -> list[str]:
    out = [f"<h2>Findings ({len(transcript.findings)})</h2>"]
    if not transcript.findings:
        return [*out, "<p>None.</p>"]
    out.append('<ul class="findings">')
    for severity in _SEVERITIES:
        for finding in (f for f in transcript.findings if f.severity is severity):
            out.append(f'<li class="finding {severity.value}">{_html_finding(finding, link=True)}</li>')
    out.append("</ul>")
    return out


def _html_finding(finding: Finding, link: bool) -> str:
    severity = finding.severity.value
    where = ""
    if link:
        where = (
            "association "
            if finding.message_index == 0
            else f'<a href="#m{finding.message_index}">message {_label(finding.message_index)}</a> '
        )
    details = "; ".join(f"{_h(name)} <code>{_h(value)}</code>" for name, value in _finding_details(finding))
    return f'<strong class="{severity}">{_h(severity)}</strong> {where}{_h(finding.text)}<br />{details}'


def _html_message(transcript: Transcript, message: Message, findings: list[Finding]) -> list[str]:
    classes = ["message", message.direction.value]
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        classes.append("has-error")
    elif Severity.WARNING in severities:
        classes.append("has-warning")
    opened = ' open=""' if Severity.ERROR in severities else ""
    summary = [
        _label(message.index),
        _offset(transcript, message.time),
        _ARROWS.get(message.direction, "?"),
        message.command,
        message.sop_class or message.sop_class_uid,
    ]
    if message.status is not None:
        summary.append(status_name(message.status))
    summary.append(_elapsed(message))
    marks = "".join(f' <span class="{s.value}">[{s.value}]</span>' for s in _SEVERITIES if s in severities)
    out = [
        f'<details id="m{message.index}" class="{" ".join(classes)}"{opened}>',
        f"<summary>{_h('  '.join(str(part) for part in summary if part))}{marks}</summary>",
    ]
    if message.error_comment:
        out.append(f"<p>Error Comment: <strong>{_h(message.error_comment)}</strong></p>")
    fields = [
        ("time", message.time),
        ("Message ID", "" if message.message_id is None else str(message.message_id)),
        ("responding to", "" if message.responding_to is None else str(message.responding_to)),
        ("SOP class", f"{message.sop_class} {message.sop_class_uid}".strip()),
        ("SOP instance", message.sop_instance_uid),
        ("action type", "" if message.action_type_id is None else str(message.action_type_id)),
        ("event type", "" if message.event_type_id is None else str(message.event_type_id)),
        ("offending elements", " ".join(message.offending_elements)),
        ("attributes asked", " ".join(message.attribute_identifiers)),
        ("data set kept as", message.data_set_file or ""),
    ]
    out.append("<table>")
    out += [f"<tr><th>{_h(name)}</th><td><code>{_h(value)}</code></td></tr>" for name, value in fields if value]
    out.append("</table>")
    if findings:
        out.append('<ul class="findings">')
        out += [f'<li class="finding {f.severity.value}">{_html_finding(f, link=False)}</li>' for f in findings]
        out.append("</ul>")
    if message.data_set is None:
        out.append("<p>No data set.</p>")
    else:
        out += _html_data_set(message.data_set)
    out.append("</details>")
    return out


def _html_data_set(elements: tuple[Element, ...]) -> list[str]:
    out = ['<ul class="dataset">']
    for element in elements:
        name = element.keyword or "(unknown)"
        css = ' class="error"' if element.error is not None else ""
        head = f"<code>{_h(element.tag)}</code> {_h(name)} <em>{_h(element.vr)}</em> "
        out.append(f"<li{css}>{head}{_h(_value_text(element))}")
        for number, item in enumerate(element.items or (), 1):
            out.append(f'<ul class="dataset"><li>item {number}')
            out += _html_data_set(item)
            out.append("</li></ul>")
        out.append("</li>")
    out.append("</ul>")
    return out


def _html_film(film: Film, archive_folder: Path | None) -> str:
    caption = f"film {film.film_number} of print job {film.job_uid}"
    uri = None
    if archive_folder is not None and film.png:
        path = (archive_folder / film.png).resolve()
        if path.is_relative_to(archive_folder.resolve()):  # only the archive's own files
            uri = thumbnail(path)
    if uri is None:
        image = f'<div class="placeholder">no image: {_h(film.png or "none")}</div>'
    else:
        image = f'<img src="{uri}" alt="{_h(caption)}" />'
    return f"<figure>{image}<figcaption>{_h(caption)}</figcaption></figure>"


def thumbnail(path: Path) -> str | None:
    """The PNG at `path` scaled down to THUMBNAIL_SIZE, as a data: URI; None when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.thumbnail(THUMBNAIL_SIZE)
            converted = image.convert("L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB")
            buffer = io.BytesIO()
            converted.save(buffer, format="PNG", optimize=True)
    except Exception:  # missing, truncated, not an image, a decompression bomb: the page shows a placeholder
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- `printscp transcripts` ------------------------------------------------------------------------------

_TABLE_COLUMNS = (
    ("ID", "association_id"),
    ("STARTED", "started"),
    ("CALLING AE", "calling_ae_title"),
    ("PRINTER", "printer"),
    ("MESSAGES", "messages"),
    ("FILMS", "films"),
    ("OUTCOME", "outcome"),
    ("VERDICT", "verdict"),
)


def transcripts_table(summaries: Iterable[TranscriptSummary]) -> str:
    """Transcripts as a plain text table, one line each, in the order given."""
    lines = [[title for title, _ in _TABLE_COLUMNS]]
    for summary in summaries:
        values = {**vars(summary), "started": summary.started[:19].replace("T", " ")}
        lines.append([printable(values[key]) for _, key in _TABLE_COLUMNS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(_TABLE_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )
