"""The reports of a transcript (bench/report.py): text, HTML, JSON against its schema, JUnit XML; hostile
strings stay text in each."""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import fields, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from PIL import Image

from printscp.archive.store import FilmArchive
from printscp.bench import report
from printscp.bench.store import TranscriptStore
from printscp.bench.transcript import (
    Association,
    Direction,
    Element,
    End,
    FaultApplied,
    Film,
    Finding,
    Message,
    Outcome,
    PresentationContext,
    Severity,
    Transcript,
    line,
    parse,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "transcript.schema.json"
STARTED = "2026-12-04T12:00:00.000+01:00"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
IMAGE_BOX = "1.2.840.10008.5.1.1.4"
META = "1.2.840.10008.5.1.1.9"
EVIL = '<script>alert("x")</script>'


def at(seconds: float) -> str:
    return f"2026-12-04T12:00:{seconds:06.3f}+01:00"


def request(index: int, command: str, sop: str, name: str, message_id: int, **more: Any) -> Message:
    return Message(
        index,
        Direction.RECEIVED,
        at(index / 10),
        command,
        message_id=message_id,
        sop_class_uid=sop,
        sop_class=name,
        **more,
    )


def response(index: int, command: str, sop: str, name: str, to: int, status: int, **more: Any) -> Message:
    return Message(
        index,
        Direction.SENT,
        at(index / 10),
        command,
        responding_to=to,
        sop_class_uid=sop,
        sop_class=name,
        status=status,
        elapsed_ms=12.5,
        **more,
    )


def sample(calling: str = "TESTSCU", label: str = "CHEST", comment: str = "queue full") -> Transcript:
    """A print that fails at N-ACTION: 5 requests, their responses, a fault, and a finding of each severity."""
    pixels = Element("(7FE0,0010)", "PixelData", "OW", length=8192, sha256="ab" * 32)
    image = Element(
        "(2020,0111)",
        "BasicGrayscaleImageSequence",
        "SQ",
        items=((Element("(0028,0010)", "Rows", "US", 64), pixels),),
    )
    association = Association(
        id="a1b2c3d4",
        peer="127.0.0.1:50000",
        calling_ae_title=calling,
        called_ae_title="PRINTSCP",
        printer="PRINTSCP",
        started=STARTED,
        implementation_class_uid="1.2.826.0.1.3680043.9.3811.3.0.4",
        implementation_version_name="PYNETDICOM_304",
        max_pdu_proposed=16384,
        max_pdu_accepted=65536,
        contexts=(
            PresentationContext(
                1,
                META,
                "Basic Grayscale Print Management Meta",
                ("1.2.840.10008.1.2",),
                "accepted",
                "1.2.840.10008.1.2",
            ),
            PresentationContext(3, "1.2.3.4", "", ("1.2.840.10008.1.2.1",), "abstract-syntax-not-supported"),
        ),
    )
    messages = (
        request(
            1,
            "N-CREATE-RQ",
            FILM_SESSION,
            "Basic Film Session",
            1,
            data_set=(Element("(2000,0050)", "FilmSessionLabel", "LO", label),),
        ),
        response(2, "N-CREATE-RSP", FILM_SESSION, "Basic Film Session", 1, 0x0000, data_set=None),
        request(
            3,
            "N-CREATE-RQ",
            FILM_BOX,
            "Basic Film Box",
            2,
            data_set=(Element("(2010,0010)", "ImageDisplayFormat", "ST", "STANDARD\\1,1"),),
        ),
        response(4, "N-CREATE-RSP", FILM_BOX, "Basic Film Box", 2, 0x0000),
        request(5, "N-SET-RQ", IMAGE_BOX, "Basic Grayscale Image Box", 3, data_set=(image,)),
        response(6, "N-SET-RSP", IMAGE_BOX, "Basic Grayscale Image Box", 3, 0xB605),
        request(7, "N-ACTION-RQ", FILM_BOX, "Basic Film Box", 4, action_type_id=1),
        response(8, "N-ACTION-RSP", FILM_BOX, "Basic Film Box", 4, 0xC602, error_comment=comment),
        request(9, "N-DELETE-RQ", FILM_SESSION, "Basic Film Session", 5),
        response(10, "N-DELETE-RSP", FILM_SESSION, "Basic Film Session", 5, 0x0000),
    )
    findings = (
        Finding(
            Severity.ERROR,
            7,
            "The film box was printed while the queue was full and not retried.",
            "PS3.4 H.4.1.2.4.1",
            sent="N-ACTION",
            expected="retry later",
        ),
        Finding(
            Severity.WARNING,
            5,
            "Pixel values above the maximum density.",
            "PS3.4 H.4.3.1.2.1",
            tag="(2020,0010)",
            keyword="ImageBoxPosition",
            sent="1",
            expected="1",
        ),
        Finding(Severity.NOTE, 0, "No A-RELEASE timeout was tested.", "PS3.8 7.2"),
    )
    return Transcript(
        association,
        messages,
        faults=(FaultApplied(7, "n-action film-box -> 0xC602", "answered 0xC602", at(0.7)),),
        end=End(Outcome.RELEASED, at(1.1)),
        findings=findings,
    )


HOSTILE = "\x1b[31mÄrztin 医院 ✓ \u202e\x00\ud800 " + EVIL + " & </details>]]>"


def hostile() -> Transcript:
    """Every string the SCU controls, hostile; data sets with an unreadable element too."""
    transcript = sample(calling=HOSTILE[:40], label=HOSTILE, comment=HOSTILE)
    unreadable = Element("(2010,0150)", "ConfigurationInformation", "ST", error=f"cannot decode {EVIL}", raw="ff00")
    private = Element("(0009,1001)", "", "UN", length=3, sha256="00" * 32)
    messages = list(transcript.messages)
    messages[2] = replace(messages[2], data_set=(*(messages[2].data_set or ()), unreadable, private), sop_class=HOSTILE)
    findings = (*transcript.findings, Finding(Severity.ERROR, 3, HOSTILE, HOSTILE, tag=HOSTILE, sent=HOSTILE))
    association = replace(
        transcript.association,
        called_ae_title=HOSTILE,
        printer=HOSTILE,
        peer=HOSTILE,
        implementation_version_name=HOSTILE,
    )
    return replace(
        transcript,
        association=association,
        messages=tuple(messages),
        findings=findings,
        films=(Film(HOSTILE, 1, HOSTILE, "../" + EVIL + ".png"),),
    )


def round_trip(transcript: Transcript) -> Transcript:
    """As the recorder writes it and the store reads it back."""
    records: list[Any] = [transcript.association, *transcript.messages, *transcript.faults]
    if transcript.end is not None:
        records.append(transcript.end)
    records.append(transcript.findings)
    return replace(parse(line(record) for record in records), films=transcript.films)


def png(path: Path, size: tuple[int, int] = (1000, 800)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("L", size, 255)
    image.paste(0, (0, 0, size[0] // 2, size[1]))  # left half black
    image.save(path)
    return path


# --- text ------------------------------------------------------------------------------------------------


def test_text_has_a_line_per_message_with_its_status_by_name() -> None:
    out = report.text(sample())
    lines = out.splitlines()
    message_lines = [text for text in lines if re.match(r"  \d{4} ", text)]
    assert [text.split()[0] for text in message_lines] == [f"{i:04d}" for i in range(1, 11)]
    by_index = {text.split()[0]: text for text in message_lines}
    assert "0xB605 DENSITY_OUT_OF_RANGE" in by_index["0006"]
    assert "0xC602 QUEUE_FULL_FILM_BOX" in by_index["0008"]
    assert "0x0000 SUCCESS" in by_index["0002"]
    assert "+0.500 s" in by_index["0005"] and "→" in by_index["0005"] and "←" in by_index["0006"]
    assert "12.5 ms" in by_index["0008"]
    assert 'Error Comment: "queue full"' in out
    assert "verdict         FAIL" in out
    assert "outcome         released" in out
    assert "max PDU         proposed 16384, accepted 65536" in out
    assert "abstract-syntax-not-supported" in out
    assert "message 0007: answered 0xC602  [n-action film-box -> 0xC602]" in out  # the fault
    errors = out.index("  errors (1)")
    assert out.index("  warnings (1)") > errors and out.index("  notes (1)") > errors
    assert "attribute (2020,0010) ImageBoxPosition; sent 1; expected 1; reference PS3.4 H.4.3.1.2.1" in out
    assert "PixelData" not in out  # data sets only with verbose


def test_verbose_text_shows_data_sets_with_binary_values_by_length_and_hash() -> None:
    out = report.text(sample(), verbose=True)
    assert '(2000,0050) FilmSessionLabel LO  "CHEST"' in out
    assert "(7FE0,0010) PixelData OW  8192 bytes sha256 abababababab" in out
    assert re.search(r"\n {12}item 1\n {14}\(0028,0010\) Rows US  64\n", out)


def test_unknown_status_codes_are_named_by_their_class() -> None:
    assert report.status_name(0xA700) == "0xA700 FAILURE"
    assert report.status_name(0xB000) == "0xB000 WARNING"
    assert report.status_name(0xFF00) == "0xFF00 PENDING"
    assert report.status_name(0x0106) == "0x0106 INVALID_ATTRIBUTE_VALUE"


def test_text_shows_hostile_strings_without_control_characters() -> None:
    out = report.text(round_trip(hostile()), verbose=True)
    assert "\x1b" not in out and "\x00" not in out and "\u202e" not in out
    assert "\\x1b[31mÄrztin 医院 ✓ \\u202e\\x00\\ud800" in out
    out.encode("utf-8")  # no lone surrogate left
    assert "unreadable: cannot decode" in out


# --- HTML ------------------------------------------------------------------------------------------------


def parsed_html(page: str) -> ET.Element:
    """The page as XML: every tag closed, every string escaped (the page is written to be well-formed XML)."""
    assert page.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def test_html_is_one_page_with_a_message_per_details_and_findings_linked() -> None:
    page = report.html(sample())
    root = parsed_html(page)
    messages = root.findall(".//details")
    assert [m.get("id") for m in messages] == [f"m{i}" for i in range(1, 11)]
    failing = root.find(".//details[@id='m7']")
    assert failing is not None and "has-error" in (failing.get("class") or "") and failing.get("open") == ""
    assert "has-error" not in (root.find(".//details[@id='m1']").get("class") or "")  # type: ignore[union-attr]
    assert "has-warning" in (root.find(".//details[@id='m5']").get("class") or "")  # type: ignore[union-attr]
    links = [a.get("href") for a in root.iter("a")]
    assert "#m7" in links and "#m5" in links
    badge = root.find(".//span[@class='badge verdict-fail']")
    assert badge is not None and badge.text == "fail"
    summary = "".join(failing.find("summary").itertext())  # type: ignore[union-attr]
    assert "N-ACTION-RQ" in summary and "Basic Film Box" in summary
    assert "0xC602 QUEUE_FULL_FILM_BOX" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # nothing to fetch


def test_html_escapes_every_hostile_string() -> None:
    page = report.html(round_trip(hostile()), Path("/nonexistent"))
    page.encode("utf-8")
    root = parsed_html(page)  # an unescaped < or & would not parse
    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags  # the films' PNG is missing: a placeholder
    assert not [name for name, _ in parser.attributes if name.startswith("on")]
    text = "".join(root.itertext())
    assert EVIL in text  # shown as text
    assert "Ärztin 医院 ✓" in text
    assert "\x1b" not in page and "\x00" not in page and "\u202e" not in page  # no bidi override either
    assert "\\x1b[31mÄrztin 医院 ✓ \\u202e\\x00\\ud800" in text
    assert "no image: ../" in text


def test_html_embeds_the_films_as_scaled_down_png_thumbnails(tmp_path: Path) -> None:
    png(tmp_path / "2026/12/04/job/film-1.png")
    films = (
        Film("1.2.3", 1, "2026/12/04/job/film-1.pdf", "2026/12/04/job/film-1.png"),
        Film("1.2.3", 2, "2026/12/04/job/film-2.pdf", "2026/12/04/job/film-2.png"),
    )
    page = report.html(replace(sample(), films=films), tmp_path)
    root = parsed_html(page)
    sources = [img.get("src") or "" for img in root.iter("img")]
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    thumbnail = Image.open(io.BytesIO(base64.b64decode(sources[0].split(",", 1)[1])))
    assert thumbnail.size == (320, 256)
    assert thumbnail.getpixel((10, 128)) == 0 and thumbnail.getpixel((310, 128)) == 255
    assert "no image: 2026/12/04/job/film-2.png" in "".join(root.itertext())


def test_a_film_png_that_is_not_an_image_is_a_placeholder(tmp_path: Path) -> None:
    (tmp_path / "film.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert report.thumbnail(tmp_path / "film.png") is None
    assert report.thumbnail(tmp_path) is None  # a folder


# --- JUnit -----------------------------------------------------------------------------------------------


def test_junit_has_a_testcase_per_request_and_fails_the_one_with_an_error() -> None:
    root = ET.fromstring(report.junit(sample()))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "a1b2c3d4: TESTSCU → PRINTSCP"
    cases = suite.findall("testcase")
    names = [case.get("name") for case in cases]
    assert names == [
        "association",
        "0001 N-CREATE-RQ Basic Film Session → 0x0000 SUCCESS",
        "0003 N-CREATE-RQ Basic Film Box → 0x0000 SUCCESS",
        "0005 N-SET-RQ Basic Grayscale Image Box → 0xB605 DENSITY_OUT_OF_RANGE",
        "0007 N-ACTION-RQ Basic Film Box → 0xC602 QUEUE_FULL_FILM_BOX",
        "0009 N-DELETE-RQ Basic Film Session → 0x0000 SUCCESS",
    ]
    assert {case.get("classname") for case in cases} == {"printscp.TESTSCU"}
    failed = [case.get("name") for case in cases if case.find("failure") is not None]
    assert failed == [names[4]]
    failure = cases[4].find("failure")
    assert failure is not None and failure.get("type") == "PS3.4 H.4.1.2.4.1"
    assert "expected: retry later" in (failure.text or "")
    assert (suite.get("tests"), suite.get("failures"), root.get("failures")) == ("6", "1", "1")
    assert cases[4].get("time") == "0.013"
    assert "Error Comment: queue full" in (cases[4].findtext("system-out") or "")
    assert "warning: Pixel values" in (cases[3].findtext("system-out") or "")
    assert "note: No A-RELEASE" in (cases[0].findtext("system-out") or "")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["verdict"] == "fail" and properties["outcome"] == "released"


def test_junit_attaches_a_finding_on_a_response_to_its_request_and_passes_without_errors() -> None:
    transcript = sample()
    findings = (Finding(Severity.ERROR, 6, "Answered a warning the SCU ignored.", "PS3.7 C"),)
    root = ET.fromstring(report.junit(replace(transcript, findings=findings)))
    failed = [case.get("name", "") for case in root.iter("testcase") if case.find("failure") is not None]
    assert [name[:4] for name in failed] == ["0005"]
    passing = ET.fromstring(report.junit(replace(transcript, findings=())))
    assert len(list(passing.iter("testcase"))) == 5  # no association testcase without its findings
    assert not list(passing.iter("failure")) and passing.get("failures") == "0"


def test_junit_carries_hostile_strings_as_text() -> None:
    out = report.junit(round_trip(hostile()))
    out.encode("utf-8")
    assert "\x1b" not in out and "\u202e" not in out
    root = ET.fromstring(out)
    assert "<script" not in out
    names = [case.get("name", "") for case in root.iter("testcase")]
    assert any(EVIL in name for name in names)
    messages = [failure.get("message", "") for failure in root.iter("failure")]
    assert any("Ärztin 医院 ✓" in message and "\\x1b" in message for message in messages)


# --- JSON and its schema ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


@pytest.mark.parametrize("make", [sample, hostile, lambda: round_trip(hostile())], ids=["plain", "hostile", "read"])
def test_json_validates_against_the_schema(schema: dict[str, Any], make: Any) -> None:
    transcript: Transcript = make()
    data = json.loads(report.json_report(transcript))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["verdict"] == "fail"


def test_the_schema_rejects_what_to_json_never_writes(schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    good = json.loads(report.json_report(sample()))
    assert validator.is_valid(good)
    for broken in (
        {**good, "verdict": "maybe"},
        {**good, "end": {"outcome": "exploded", "time": STARTED, "detail": ""}},
        {**good, "messages": [{**good["messages"][0], "direction": "sideways"}]},
        {**good, "findings": [{**good["findings"][0], "severity": "fatal"}]},
        {**good, "association": {k: v for k, v in good["association"].items() if k != "calling_ae_title"}},
        {
            **good,
            "messages": [{**good["messages"][0], "data_set": [{"tag": "(0010,0010)", "keyword": "", "vr": "PN"}]}],
        },
    ):
        assert not validator.is_valid(broken)


def test_the_schema_names_every_field_of_the_records(schema: dict[str, Any]) -> None:
    """A field added to a record and not to the schema (or the other way round) fails here."""
    definitions = schema["$defs"]
    for record, definition in (
        (Association, "association"),
        (PresentationContext, "presentationContext"),
        (Message, "message"),
        (FaultApplied, "fault"),
        (End, "end"),
        (Finding, "finding"),
        (Film, "film"),
        (Element, "element"),
    ):
        assert set(definitions[definition]["properties"]) == {f.name for f in fields(record)}, record
    assert set(schema["properties"]) == set(sample().to_json())


def test_json_round_trips_non_ascii_and_hostile_strings() -> None:
    transcript = round_trip(hostile())
    out = report.json_report(transcript)
    out.encode("utf-8")
    assert "Ärztin 医院 ✓" in out  # not \u-escaped
    data = json.loads(out)
    assert data["association"]["called_ae_title"] == HOSTILE
    assert data["messages"][0]["data_set"][0]["value"] == HOSTILE
    assert data == json.loads(json.dumps(transcript.to_json()))


def test_json_writes_no_nan() -> None:
    messages = (replace(sample().messages[1], elapsed_ms=float("nan")),)
    data = json.loads(report.json_report(replace(sample(), messages=messages)))
    assert data["messages"][0]["elapsed_ms"] is None


# --- from the store --------------------------------------------------------------------------------------


def test_a_stored_transcript_reports_the_films_its_association_printed(tmp_path: Path) -> None:
    archive = FilmArchive(tmp_path)
    store = TranscriptStore(tmp_path, archive.index)
    transcript = sample()
    path = store.path_for(transcript.association.id, archive_started())
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(line(r) for r in [transcript.association, *transcript.messages]) + "\n")
    png(tmp_path / "2026/12/04/job/film-1.png", (400, 500))
    archive.index.add_films(
        [
            {
                "job_uid": "1.2.3",
                "film_number": 1,
                "association_id": "a1b2c3d4",
                "folder": "2026/12/04/job",
                "pdf": "film-1.pdf",
                "png": "film-1.png",
                "requested_at": STARTED,
            },
        ]
    )
    store.add(path)
    loaded = store.load("a1b2")
    assert loaded.films == (Film("1.2.3", 1, "2026/12/04/job/film-1.pdf", "2026/12/04/job/film-1.png"),)
    assert loaded.outcome is Outcome.OPEN and loaded.verdict.value == "pass"  # no end, no findings yet
    assert store.list()[0].films == 1
    root = parsed_html(report.html(loaded, tmp_path))
    sources = [img.get("src") or "" for img in root.iter("img")]
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert report.exit_status(loaded) == 0 and report.exit_status(sample()) == 1


def archive_started() -> Any:
    from datetime import datetime

    return datetime.fromisoformat(STARTED)


def test_a_film_path_outside_the_archive_is_not_read(tmp_path: Path) -> None:
    png(tmp_path / "outside.png")
    film = Film("1.2.3", 1, "../outside.pdf", "../outside.png")
    page = report.html(replace(sample(), films=(film,)), tmp_path / "archive")
    assert "data:image/png" not in page and "no image: ../outside.png" in page


def test_an_association_not_ended_says_it_has_no_findings_yet() -> None:
    transcript = replace(sample(), end=None, findings=())
    assert "  note            the association had not ended" in report.text(transcript)
    assert "had not ended" in "".join(parsed_html(report.html(transcript)).itertext())
    assert "had not ended" not in report.text(sample())


def test_a_transcript_file_with_values_of_the_wrong_type_still_reports() -> None:
    """A hand-edited or damaged file: numbers where text belongs, text where numbers do."""
    association = {
        "record": "association",
        "id": "x1",
        "peer": 1,
        "calling_ae_title": 2,
        "called_ae_title": None,
        "printer": [3],
        "started": 4,
    }
    message = {
        "record": "message",
        "index": 1,
        "direction": "received",
        "time": None,
        "command": "N-SET-RQ",
        "status": "bad",
        "elapsed_ms": "slow",
        "sop_class": 5,
        "data_set": [{"tag": "(0010,0010)", "keyword": 6, "vr": 7, "value": {"nested": "<b>"}}],
    }
    transcript = parse([json.dumps(association), json.dumps(message)])
    assert "<b>" not in report.html(transcript) and "&lt;b&gt;" in report.html(transcript)
    assert "N-SET-RQ" in report.text(transcript, verbose=True)
    assert ET.fromstring(report.junit(transcript)).get("tests") == "1"
    assert json.loads(report.json_report(transcript))["association"]["peer"] == 1
