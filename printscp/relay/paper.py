"""Films on paper: each film's PDF laid on a page of the route's media and sent to an IPP printer.

`page_pdf` makes the document: one page exactly the size of the PWG 5101.1 media name, the film's own PDF
page placed on it as vectors (pypdf merges the page's content and resources, so images keep their pixels and
text stays text), scaled to fit inside a 5 mm margin or at the film's true size, centred; the film is turned a
quarter (its top to the page's left edge) when its orientation is not the page's, so a landscape film fills a
portrait sheet. Film PDFs are gray except the image XObjects of colour image boxes (ICCBased sRGB, see
render/pdf.py): those are converted to DeviceGray luma here, so the page is gray whatever the printer does with
print-color-mode.

`print_on_paper` talks IPP through CUPS's `ipptool` (Debian cups-ipp-utils): one Get-Printer-Attributes for
the printer's state and what it supports, then per film a Print-Job followed by Get-Job-Attributes until the
job is completed, aborted or canceled. ipptool is the IPP client of the CUPS project (the same code as the
ippeveprinter the tests print to); each request is a generated .test file, its answer an XML plist read
with plistlib. The Python IPP clients on PyPI are asyncio/aiohttp wrappers built for monitoring (pyipp,
aioipp) or unmaintained (pkipplib), and pycups needs a running cupsd with a queue per printer.

The printer's state maps to the Printer Status of DICOM (PS3.3 C.13.9.1) as `PRINTER_STATUS_INFO_OF_REASON`
says: printer-state stopped, or any printer-state-reasons keyword with the -error suffix (or none, RFC 8011
5.4.12), is FAILURE with the closest defined term; a -warning reason is WARNING; -report reasons are ignored.
A printer in FAILURE gets no job (it would only wait in the printer's queue); the relay queue tries later.
"""

from __future__ import annotations

import logging
import plistlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from pypdf import PageObject, PdfWriter, Transformation
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

from printscp.config import PaperPrinter
from printscp.relay import Delivery

log = logging.getLogger(__name__)

POINTS_PER_MM = 72 / 25.4
FIT_MARGIN_MM = 5.0  # fit: the film stays this far from the sheet's edges, inside most printers' printable area
IO_TIMEOUT = 10  # seconds ipptool waits for one answer (-T)

# PWG 5101.1 section 5: class_name_WIDTHxHEIGHTunit, e.g. iso_a4_210x297mm, na_letter_8.5x11in
_PWG_MEDIA = re.compile(r"[a-z0-9]+_[a-z0-9.-]+_(?P<width>[0-9.]+)x(?P<height>[0-9.]+)(?P<unit>mm|in)")

# RFC 8011 5.3.5 job-state and 5.4.11 printer-state
_JOB_STATES = {3: "pending", 4: "pending-held", 5: "processing", 6: "processing-stopped"}
_JOB_DONE = {7: "canceled", 8: "aborted", 9: "completed"}
_PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}

# printer-state-reasons keyword (RFC 8011 5.4.12, PWG 5100.9), its suffix stripped -> the closest PS3.3
# C.13.9.1 Printer Status Info defined term. PS3.3 has no paper or toner terms: a jam is FILM JAM, an empty
# marker (toner, ink) is NO RIBBON (the dye ribbon is the marking supply of film and paper DICOM printers).
PRINTER_STATUS_INFO_OF_REASON: Mapping[str, str] = {
    "media-empty": "SUPPLY EMPTY",
    "media-needed": "SUPPLY EMPTY",
    "media-low": "SUPPLY LOW",
    "media-jam": "FILM JAM",
    "media-path-failure": "FILM TRANSP ERR",
    "input-tray-missing": "NO SUPPLY MGZ",
    "output-tray-missing": "NO RECEIVE MGZ",
    "output-area-full": "RECEIVER FULL",
    "output-area-almost-full": "RECEIVER FULL",
    "door-open": "COVER OPEN",
    "cover-open": "COVER OPEN",
    "interlock-open": "COVER OPEN",
    "toner-empty": "NO RIBBON",
    "marker-supply-empty": "NO RIBBON",
    "toner-low": "CHECK PRINTER",
    "marker-supply-low": "CHECK PRINTER",
    "marker-waste-full": "CHECK PRINTER",
    "spool-area-full": "PRINT BUFF FULL",
    "paused": "PRINTER OFFLINE",
    "moving-to-paused": "PRINTER OFFLINE",
    "offline": "PRINTER OFFLINE",
    "shutdown": "PRINTER DOWN",
    "timed-out": "PRINTER DOWN",
    "connecting-to-device": "PRINTER INIT",
    "printer-restarted": "PRINTER INIT",
    "printer-ready-to-print": "PRINTER INIT",
}
_OTHER_REASON = "CHECK PRINTER"  # a reason the table does not name
_INFORMATION_ONLY = frozenset({"none", "identify-printer-requested"})  # unsuffixed, yet not errors

# RFC 8011 13.1 and PWG 5100.x status-code keywords, as ipptool names them
IPP_STATUS_CODES: Mapping[str, int] = {
    "successful-ok": 0x0000,
    "successful-ok-ignored-or-substituted-attributes": 0x0001,
    "successful-ok-conflicting-attributes": 0x0002,
    "client-error-bad-request": 0x0400,
    "client-error-forbidden": 0x0401,
    "client-error-not-authenticated": 0x0402,
    "client-error-not-authorized": 0x0403,
    "client-error-not-possible": 0x0404,
    "client-error-timeout": 0x0405,
    "client-error-not-found": 0x0406,
    "client-error-gone": 0x0407,
    "client-error-request-entity-too-large": 0x0408,
    "client-error-request-value-too-long": 0x0409,
    "client-error-document-format-not-supported": 0x040A,
    "client-error-attributes-or-values-not-supported": 0x040B,
    "client-error-uri-scheme-not-supported": 0x040C,
    "client-error-charset-not-supported": 0x040D,
    "client-error-conflicting-attributes": 0x040E,
    "client-error-compression-not-supported": 0x040F,
    "client-error-compression-error": 0x0410,
    "client-error-document-format-error": 0x0411,
    "client-error-document-access-error": 0x0412,
    "server-error-internal-error": 0x0500,
    "server-error-operation-not-supported": 0x0501,
    "server-error-service-unavailable": 0x0502,
    "server-error-version-not-supported": 0x0503,
    "server-error-device-error": 0x0504,
    "server-error-temporary-error": 0x0505,
    "server-error-not-accepting-jobs": 0x0506,
    "server-error-busy": 0x0507,
    "server-error-job-canceled": 0x0508,
    "server-error-multiple-document-jobs-not-supported": 0x0509,
}


def media_size_pt(media: str) -> tuple[float, float]:
    """The width and height in points of a PWG 5101.1 self-describing media name (as the name gives them)."""
    match = _PWG_MEDIA.fullmatch(media)
    if match is None:
        raise ValueError(f"'{media}' is not a PWG 5101.1 media name such as iso_a4_210x297mm")
    unit = 72.0 if match["unit"] == "in" else POINTS_PER_MM
    return float(match["width"]) * unit, float(match["height"]) * unit


def page_pdf(film_pdf: Path, media: str, scaling: str, out: Path) -> Path:
    """Write to `out` the page printed on paper for the film whose PDF is `film_pdf`: one page of `media`'s
    size, the film on it scaled to `fit` (whole, centred, inside a 5 mm margin) or at `actual` size
    (centred, cropped by the sheet), turned a quarter when its orientation is not the sheet's, in gray."""
    if scaling not in ("fit", "actual"):
        raise ValueError(f"scaling '{scaling}' is not fit or actual")
    page_width, page_height = media_size_pt(media)
    writer = PdfWriter(clone_from=film_pdf)
    if not writer.pages:
        raise ValueError(f"{film_pdf} has no page")
    film = writer.pages[0]
    _gray_images(film)
    box = film.mediabox
    film_width, film_height = float(box.width), float(box.height)
    # Turned a quarter when one is landscape and the other portrait (a square on either side: never).
    turned = film_width != film_height and page_width != page_height
    turned = turned and (film_width > film_height) != (page_width > page_height)
    placed_width, placed_height = (film_height, film_width) if turned else (film_width, film_height)
    if scaling == "fit":
        margin = FIT_MARGIN_MM * POINTS_PER_MM
        scale = min((page_width - 2 * margin) / placed_width, (page_height - 2 * margin) / placed_height)
    else:
        scale = 1.0
    transform = Transformation().translate(-float(box.left), -float(box.bottom))
    if turned:  # counter-clockwise: the film's top edge along the sheet's left edge
        transform = transform.rotate(90).translate(film_height, 0)
    transform = transform.scale(scale, scale).translate(
        (page_width - scale * placed_width) / 2, (page_height - scale * placed_height) / 2
    )
    document = PdfWriter()
    document.add_blank_page(page_width, page_height).merge_transformed_page(film, transform, over=True, expand=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as file:
        document.write(file)
    return out


def _gray_images(page: PageObject) -> None:
    """Turn the page's colour image XObjects into DeviceGray ones (BT.709 luma of the sRGB values)."""
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is None:
        return
    for ref in xobjects.get_object().values():
        image = ref.get_object()
        if not isinstance(image, StreamObject) or image.get("/Subtype") != "/Image":
            continue
        components = _components(image.get("/ColorSpace"))
        if components == 1:
            continue
        if components != 3 or image.get("/BitsPerComponent") != 8:
            raise ValueError(f"an image in colour space {image.get('/ColorSpace')} cannot be made gray")
        width, height = cast(int, image["/Width"]), cast(int, image["/Height"])
        rgb = np.frombuffer(image.get_data(), dtype=np.uint8)[: width * height * 3].reshape(height, width, 3)
        luma = np.rint(rgb @ np.array([0.2126, 0.7152, 0.0722])).astype(np.uint8)
        for key in ("/DecodeParms", "/Decode", "/Intent"):
            if key in image:
                del image[key]
        image[NameObject("/ColorSpace")] = NameObject("/DeviceGray")
        image[NameObject("/Filter")] = NameObject("/FlateDecode")
        image.set_data(luma.tobytes())


def _components(space: Any) -> int:
    space = space.get_object() if space is not None else None
    if space in ("/DeviceGray", "/CalGray"):
        return 1
    if space in ("/DeviceRGB", "/CalRGB"):
        return 3
    if isinstance(space, ArrayObject) and space and space[0] == "/ICCBased":
        profile = space[1].get_object()
        return int(profile.get("/N", 0)) if isinstance(profile, DictionaryObject) else 0
    if isinstance(space, ArrayObject) and space and space[0] in ("/CalGray", "/CalRGB"):
        return 1 if space[0] == "/CalGray" else 3
    return 0


# --- IPP through ipptool ---------------------------------------------------------------------------------


class _Unreachable(Exception):
    """ipptool could not connect to the printer (or lost it before it answered)."""


@dataclass(frozen=True)
class _Answer:
    status: str  # the status-code keyword
    attributes: Mapping[str, Any]  # every response attribute, by name (a list when several values)

    @property
    def ok(self) -> bool:
        return self.status.startswith("successful-")

    @property
    def status_code(self) -> int | None:
        if self.status.startswith("0x"):
            return int(self.status, 16)
        return IPP_STATUS_CODES.get(self.status)

    def values(self, name: str) -> list[Any]:
        value = self.attributes.get(name)
        return [] if value is None else value if isinstance(value, list) else [value]


_HEADER = """{
NAME "%s"
OPERATION %s
GROUP operation-attributes-tag
ATTR charset attributes-charset utf-8
ATTR naturalLanguage attributes-natural-language en
ATTR uri printer-uri $uri
ATTR name requesting-user-name printscp
"""

_PRINTER_ATTRIBUTES = (
    "printer-state,printer-state-reasons,printer-state-message,media-supported,print-color-mode-supported,"
    "print-scaling-supported,document-format-supported"
)


def _ipp(
    ipptool: str, uri: str, test: str, folder: Path, variables: Mapping[str, str] = {}, document: Path | None = None
) -> _Answer:
    """Send the one request of `test` (ipptool's test-file syntax) to `uri` and read its answer."""
    test_file = folder / "request.test"
    test_file.write_text(test, encoding="utf-8")
    command = [ipptool, "-X", "-T", str(IO_TIMEOUT)]
    for name, value in variables.items():
        command += ["-d", f"{name}={value}"]
    if document is not None:
        command += ["-f", str(document)]
    command += [uri, str(test_file)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=IO_TIMEOUT + 60, check=False)
    except subprocess.TimeoutExpired:
        raise _Unreachable("no answer") from None
    try:
        report = plistlib.loads(done.stdout)
    except plistlib.InvalidFileException:
        raise _Unreachable(done.stderr.decode(errors="replace").strip() or "no answer") from None
    tests = report.get("Tests") or []
    if not tests or "StatusCode" not in tests[0]:
        raise _Unreachable(str(report.get("ErrorMessage") or (tests[0].get("ErrorMessage") if tests else "")))
    attributes: dict[str, Any] = {}
    for group in tests[0].get("ResponseAttributes", []):
        attributes.update(group)
    return _Answer(str(tests[0]["StatusCode"]), attributes)


def _get_printer(ipptool: str, uri: str, folder: Path) -> _Answer:
    test = _HEADER % ("Get-Printer-Attributes", "Get-Printer-Attributes")
    test += f"ATTR keyword requested-attributes {_PRINTER_ATTRIBUTES}\n}}\n"
    return _ipp(ipptool, uri, test, folder)


def _get_job(ipptool: str, uri: str, job_id: int, folder: Path) -> _Answer:
    test = _HEADER % ("Get-Job-Attributes", "Get-Job-Attributes")
    test += f"ATTR integer job-id {job_id}\n"
    test += "ATTR keyword requested-attributes job-state,job-state-reasons,job-state-message\n}\n"
    return _ipp(ipptool, uri, test, folder)


def _cancel_job(ipptool: str, uri: str, job_id: int, folder: Path) -> None:
    test = _HEADER % ("Cancel-Job", "Cancel-Job") + f"ATTR integer job-id {job_id}\n}}\n"
    try:
        _ipp(ipptool, uri, test, folder)
    except _Unreachable:
        pass


@dataclass(frozen=True)
class PrinterState:
    """A printer's IPP state and what it means as a DICOM Printer Status (PS3.3 C.13.9.1)."""

    state: str  # idle, processing, stopped
    reasons: tuple[str, ...]  # printer-state-reasons, "none" left out
    printer_status: str  # NORMAL, WARNING or FAILURE
    printer_status_info: str  # a C.13.9.1 defined term

    @property
    def words(self) -> str:
        return f"{self.state} ({', '.join(self.reasons)})" if self.reasons else self.state


def printer_state(state: int | str, reasons: Sequence[str]) -> PrinterState:
    """The DICOM Printer Status of an IPP printer-state and printer-state-reasons."""
    name = _PRINTER_STATES.get(int(state), str(state)) if str(state).isdigit() else str(state)
    reasons = tuple(r for r in reasons if r != "none")
    errors: list[str] = []
    warnings: list[str] = []
    for reason in reasons:
        keyword, severity = _split_reason(reason)
        if severity == "report" or (severity == "" and keyword in _INFORMATION_ONLY):
            continue
        term = PRINTER_STATUS_INFO_OF_REASON.get(keyword, _OTHER_REASON)
        (warnings if severity == "warning" else errors).append(term)
    if errors:
        return PrinterState(name, reasons, "FAILURE", errors[0])
    if name == "stopped":
        return PrinterState(name, reasons, "FAILURE", "PRINTER DOWN")
    if warnings:
        return PrinterState(name, reasons, "WARNING", warnings[0])
    return PrinterState(name, reasons, "NORMAL", "NORMAL")


def _split_reason(reason: str) -> tuple[str, str]:
    for severity in ("error", "warning", "report"):
        if reason.endswith(f"-{severity}"):
            return reason[: -len(severity) - 1], severity
    return reason, ""  # RFC 8011 5.4.12: no suffix is an error


def _state_of(answer: _Answer) -> PrinterState:
    state = answer.values("printer-state") or [3]
    return printer_state(state[0], [str(r) for r in answer.values("printer-state-reasons")])


def print_on_paper(
    film_pdfs: Sequence[Path],
    name: str,
    paper: PaperPrinter,
    job_name: str,
    copies: int = 1,
    skip: frozenset[int] = frozenset(),
    timeout: float = 120.0,
) -> Delivery:
    """Print each film of `film_pdfs` not in `skip` (indices) on the paper printer `name` as one IPP job,
    and follow each job until the printer completed it, aborted or canceled it, or `timeout` seconds
    passed since it was sent (the job is then canceled, so that a retry does not print it twice)."""
    ipptool = shutil.which("ipptool")
    if ipptool is None:
        return Delivery(False, error_comment=f"{name}: ipptool is not installed (Debian cups-ipp-utils)")
    printed: list[int] = []
    job_ids: list[int] = []
    with tempfile.TemporaryDirectory(prefix="printscp-paper-") as temporary:
        folder = Path(temporary)

        def delivery(delivered: bool, state: PrinterState | None, **fields: Any) -> Delivery:
            status = (state.printer_status, state.printer_status_info) if state else ("", "")
            return Delivery(
                delivered,
                tuple(printed),
                printer_status=status[0],
                printer_status_info=status[1],
                association_id=f"ipp job {','.join(map(str, job_ids))}" if job_ids else "",
                **fields,
            )

        try:
            printer = _get_printer(ipptool, paper.uri, folder)
        except _Unreachable as exc:
            log.info("paper %s: cannot connect to %s: %s", name, paper.uri, exc)
            return Delivery(False, error_comment=f"{name}: cannot connect to {paper.uri}")
        if not printer.ok:
            log.info("paper %s: %s answered Get-Printer-Attributes with %s", name, paper.uri, printer.status)
            return Delivery(False, status=printer.status_code, error_comment=f"{name}: {paper.uri} {printer.status}")
        state = _state_of(printer)
        if state.printer_status == "FAILURE":
            log.info("paper %s: printer %s, nothing sent", name, state.words)
            return delivery(False, state, error_comment=f"{name}: printer {state.words}")
        mapped = _unsupported(printer, paper)
        films = [i for i in range(len(film_pdfs)) if i not in skip]
        for i in films:
            started = time.monotonic()
            document = page_pdf(film_pdfs[i], paper.media, paper.scaling, folder / f"film-{i + 1}.pdf")
            try:
                answer = _ipp(
                    ipptool,
                    paper.uri,
                    _print_job_test(printer, paper, copies),
                    folder,
                    {"jobname": job_name},
                    document,
                )
            except _Unreachable:
                log.info("paper %s: lost %s sending film %d", name, paper.uri, i + 1)
                return delivery(False, None, error_comment=f"{name}: cannot connect to {paper.uri}", mapped=mapped)
            if not answer.ok or not answer.values("job-id"):
                log.info("paper %s: Print-Job of film %d refused: %s", name, i + 1, answer.status)
                comment = f"{name}: Print-Job refused: {answer.status}"
                return delivery(False, state, status=answer.status_code, error_comment=comment, mapped=mapped)
            job_id = int(answer.values("job-id")[0])
            job_ids.append(job_id)
            log.info("paper %s: film %d of %d sent to %s as job %d", name, i + 1, len(film_pdfs), paper.uri, job_id)
            log.debug("paper %s: job %d is '%s'", name, job_id, job_name)
            try:
                ended, reasons = _follow(ipptool, paper.uri, job_id, started + timeout, folder)
                state = _state_of(_get_printer(ipptool, paper.uri, folder))
            except _Unreachable:
                log.info("paper %s: lost %s following job %d", name, paper.uri, job_id)
                return delivery(False, None, error_comment=f"{name}: cannot connect to {paper.uri}", mapped=mapped)
            seconds = time.monotonic() - started
            if ended != "completed":
                why = f"{name}: job {job_id} {ended}" + (f": {', '.join(reasons)}" if reasons else "")
                if state.reasons or state.printer_status != "NORMAL":
                    why += f"; printer {state.words}"
                log.info("paper %s: job %d %s after %.1f s", name, job_id, ended, seconds)
                return delivery(False, state, error_comment=why, mapped=mapped)
            printed.append(i)
            log.info("paper %s: job %d completed in %.1f s", name, job_id, seconds)
        warning = f"{name}: printer {state.words}" if state.printer_status == "WARNING" else ""
        return delivery(True, state, error_comment=warning, mapped=mapped)


def _unsupported(printer: _Answer, paper: PaperPrinter) -> tuple[str, ...]:
    """What the printer says it does not support of what the route asks (it may substitute)."""
    unsupported: list[str] = []
    media = printer.values("media-supported")
    if media and paper.media not in media:
        unsupported.append(f"media {paper.media} is not in the printer's media-supported (it may substitute)")
    if "monochrome" not in printer.values("print-color-mode-supported"):
        unsupported.append("print-color-mode monochrome not supported: sent without it (the page is gray)")
    return tuple(unsupported)


def _print_job_test(printer: _Answer, paper: PaperPrinter, copies: int) -> str:
    test = _HEADER % ("Print-Job", "Print-Job")
    test += 'ATTR name job-name "$jobname"\nATTR mimeMediaType document-format application/pdf\n'
    test += "GROUP job-attributes-tag\n"
    test += f"ATTR integer copies {int(copies)}\nATTR keyword media {paper.media}\n"
    if "monochrome" in printer.values("print-color-mode-supported"):
        test += "ATTR keyword print-color-mode monochrome\n"
    # PWG 5100.16: fit shrinks our (already fitted) page into the printable area; none keeps actual size
    scaling = "fit" if paper.scaling == "fit" else "none"
    if scaling in printer.values("print-scaling-supported"):
        test += f"ATTR keyword print-scaling {scaling}\n"
    return test + "FILE $filename\n}\n"


def _follow(ipptool: str, uri: str, job_id: int, deadline: float, folder: Path) -> tuple[str, list[str]]:
    """Poll the job until it ends: how it ended (completed, aborted, canceled; or "still STATE after N s,
    canceled" when the deadline passed first and we canceled it) and its job-state-reasons."""
    pause = 0.05
    started = time.monotonic()
    while True:
        answer = _get_job(ipptool, uri, job_id, folder)
        states = answer.values("job-state")
        reasons = [str(r) for r in answer.values("job-state-reasons") if r != "none"]
        if not answer.ok:
            return f"not found ({answer.status})", reasons
        state = int(states[0]) if states else 0
        if state in _JOB_DONE:
            return _JOB_DONE[state], reasons
        if time.monotonic() >= deadline:
            _cancel_job(ipptool, uri, job_id, folder)
            waited = time.monotonic() - started
            return f"still {_JOB_STATES.get(state, state)} after {waited:.0f} s, canceled", reasons
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 1.0)
