"""`printscp print`: a print SCU that prints DICOM images on any print SCP, as a modality does (PS3.4 Annex H).

How it works. Every image file is read and turned into P-values before the association is opened, so that
an unreadable file is an operator error (exit 2) and never a half-printed film. Then one association
proposes the Basic Grayscale Print Management Meta SOP Class (and the Basic Color one with --color), the
Presentation LUT class with --lut, the Basic Annotation Box class with --annotation and the Print Job class
(to follow the job), and runs PS3.4 H's sequence (spec §10.3):

    N-GET Printer -> N-CREATE Film Session -> [N-CREATE Presentation LUT] -> for each film: N-CREATE Film
    Box, N-SET Image Box x n, [N-SET Annotation Box], N-ACTION print Film Box, N-DELETE Film Box -> follow
    the Print Jobs (N-EVENT-REPORT, N-GET) -> N-DELETE Film Session [, Presentation LUT] -> A-RELEASE

More images than the format has boxes make several films in the session, each printed on its own; fewer
leave the last boxes empty. Every response status is shown on one line; the first failure status stops the
job (no N-DELETE follows: the SCP drops the session on release, H.4.1.2.1.3) and makes the exit status 1.

Images (a modality's grayscale pipeline, PS3.4 H.2.1.2 and PS3.3 C.11): Modality LUT (Rescale Slope and
Intercept or the Modality LUT Sequence), then the first VOI window (Window Center/Width with its VOI LUT
Function), else the first VOI LUT, else the image's own minimum to maximum; MONOCHROME1 is inverted and sent
as MONOCHROME2, because P-values are defined for MONOCHROME2 (the P-value is proportional to lightness) and
not every printer honours MONOCHROME1 (DCMTK's dcmprscu does the same by default). The result is quantised
to 12 bits (Bits Allocated 16, Stored 12, High Bit 11) or 8 bits (8/8/7); Pixel Representation 0. One bit
depth for the whole job: 12 when any image has more than 8 bits stored, because a Presentation LUT table must
match the Bits Stored of every image it applies to (PS3.4 H.4.9.2.2.1). A printer that refuses 12-bit pixels
(0106 on the first Image Box) gets 8-bit ones, unless --bits said 12. Multi-frame images print their first
frame. Colour (--color, Basic Color Image Box): RGB 8/8/7 with Planar Configuration 1 (colour-by-plane, the
only value PS3.4 Table H.4-11 allows); grayscale images are printed as grey RGB; a printer that refuses the
colour Meta SOP Class prints everything in grayscale (luminance), with a warning.

pynetdicom's requestor answers N-EVENT-REPORTs in a thread of its own; `_SendGate` keeps such an answer from
landing between the PDUs of a request being sent (PS3.8 9.3.1: a message's fragments are not interleaved
with another message's), using only pynetdicom's public events.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import TextIOWrapper
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from printscp import uids
from printscp.bench import dimse, transcript
from printscp.bench.report import command_fields, status_name
from printscp.bench.transcript import Direction, End, Message, Outcome
from printscp.model.layout import ImageDisplayFormat, LayoutError
from printscp.net import compat
from printscp.net.print_scu import (
    COLOR_META,
    GRAY_META,
    MAX_PDU,
    REFERENCED_PRINT_JOB_SEQUENCE,
    TRANSFER_SYNTAXES,
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
from printscp.status import Status

log = logging.getLogger(__name__)

BITS_TAGS = frozenset({0x00280100, 0x00280101, 0x00280102})  # Bits Allocated, Bits Stored, High Bit

FloatImage = npt.NDArray[np.float32]


class OperatorError(Exception):
    """A mistake of the operator (a missing file, a bad option value): one line, exit status 2."""


class PrintFailed(Exception):
    """The printer refused, failed or did not answer: one line, exit status 1."""


# --- options -------------------------------------------------------------------------------------------------

_CS = re.compile(r"[A-Z0-9_ ]{1,16}")  # PS3.5 Code String


@dataclass(frozen=True)
class LutRequest:
    """--lut: a Presentation LUT Shape (IDENTITY, LIN OD), or a gamma curve sent as a LUT table."""

    shape: str | None = None
    gamma: float | None = None

    @classmethod
    def parse(cls, text: str) -> LutRequest:
        value = text.strip()
        if value.upper() in ("IDENTITY", "LIN OD"):
            return cls(shape=value.upper())
        match = re.fullmatch(r"gamma(?::([0-9]*\.?[0-9]+))?", value, re.IGNORECASE)
        if match:
            gamma = float(match.group(1)) if match.group(1) else 2.2
            if 0.1 <= gamma <= 10:
                return cls(gamma=gamma)
        raise OperatorError(f"--lut '{text}': give IDENTITY, 'LIN OD', gamma or gamma:G with G from 0.1 to 10")


@dataclass(frozen=True)
class PrintOptions:
    """What `printscp print` was asked to do; values are checked by `check` (an OperatorError names the option)."""

    images: tuple[Path, ...]
    host: str = "127.0.0.1"
    port: int = 11112
    called_ae: str = "PRINTSCP"
    calling_ae: str = "PRINTSCU"
    image_display_format: str = "STANDARD\\1,1"
    film_size_id: str | None = None
    film_orientation: str | None = None
    medium_type: str | None = None
    film_destination: str | None = None
    magnification_type: str | None = None
    print_priority: str | None = None
    min_density: int | None = None
    max_density: int | None = None
    border_density: str | None = None
    empty_image_density: str | None = None
    trim: str | None = None
    film_session_label: str | None = None
    patient_name: str | None = None  # sent in the Film Session's Proposed Study Sequence, with patient_id
    patient_id: str | None = None
    number_of_copies: int | None = None
    requested_resolution_id: str | None = None
    lut: LutRequest | None = None
    annotation: str | None = None
    annotation_format: str = "LABEL"
    annotation_position: int = 1
    color: bool = False
    bits: int | None = None  # 8 or 12; None: chosen from the images
    timeout: float = 60.0
    transcript: Path | None = None
    dump: bool = False

    def check(self) -> PrintOptions:
        """Raise OperatorError for a value no printer can take; return self."""

        def fail(option: str, value: object, why: str) -> None:
            raise OperatorError(f"{option} '{value}': {why}")

        if not self.images:
            raise OperatorError("give at least one image file")
        try:
            ImageDisplayFormat.parse(self.image_display_format)
        except LayoutError as exc:
            fail("--format", self.image_display_format, str(exc).split(": ", 1)[-1])
        if not 0 < self.port < 65536:
            fail("--port", self.port, "a TCP port is 1 to 65535")
        for option, title in (("--called-ae", self.called_ae), ("--calling-ae", self.calling_ae)):
            if not re.fullmatch(r"[\x20-\x5b\x5d-\x7e]{1,16}", title) or not title.strip():
                fail(option, title, "an AE title is 1 to 16 printable characters without a backslash")
        enumerated = {
            "--orientation": (self.film_orientation, ("PORTRAIT", "LANDSCAPE")),
            "--priority": (self.print_priority, ("HIGH", "MED", "LOW")),
            "--trim": (self.trim, ("YES", "NO")),
            "--bits": (self.bits, (8, 12)),
        }
        for option, (value, allowed) in enumerated.items():
            if value is not None and value not in allowed:
                fail(option, value, f"one of {', '.join(map(str, allowed))}")
        for option, term in (
            ("--film-size", self.film_size_id),
            ("--medium", self.medium_type),
            ("--destination", self.film_destination),
            ("--magnification", self.magnification_type),
            ("--resolution", self.requested_resolution_id),
            ("--annotation-format", self.annotation_format),
        ):
            if term is not None and not _CS.fullmatch(term):
                fail(option, term, "a DICOM code string: up to 16 upper-case letters, digits, _ or space")
        for option, density in (("--border", self.border_density), ("--empty-image", self.empty_image_density)):
            if density is not None and density not in ("BLACK", "WHITE") and not re.fullmatch(r"\d{1,5}", density):
                fail(option, density, "BLACK, WHITE or a density in hundredths of OD (e.g. 150)")
        for option, number in (("--min-density", self.min_density), ("--max-density", self.max_density)):
            if number is not None and not 0 <= number <= 65535:
                fail(option, number, "a density in hundredths of OD, 0 to 65535")
        if self.min_density is not None and self.max_density is not None and self.min_density >= self.max_density:
            fail("--min-density", self.min_density, f"must be below --max-density {self.max_density}")
        if self.number_of_copies is not None and not 1 <= self.number_of_copies <= 9999:
            fail("--copies", self.number_of_copies, "1 or more")
        for option, text in (
            ("--label", self.film_session_label),
            ("--annotation", self.annotation),
            ("--patient-name", self.patient_name),
            ("--patient-id", self.patient_id),
        ):
            if text is not None and (len(text) > 64 or "\\" in text or any(ord(c) < 32 for c in text)):
                fail(option, text, "at most 64 characters, no backslash or control characters (LO)")
        if self.annotation_position < 1:
            fail("--annotation-position", self.annotation_position, "positions start at 1")
        if self.timeout <= 0:
            fail("--timeout", self.timeout, "seconds, more than 0")
        return self


# --- images --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceImage:
    """An image file after its modality's display pipeline: values 0 (black) to 1 (white)."""

    path: Path
    display: FloatImage  # rows x columns (grayscale) or rows x columns x 3 (RGB)
    bits_stored: int
    aspect: tuple[int, int] | None = None  # Pixel Aspect Ratio (row\column) when not 1\1
    notes: tuple[str, ...] = ()

    @property
    def is_color(self) -> bool:
        return self.display.ndim == 3


def load_image(path: Path) -> SourceImage:
    """Read an image file and apply its Modality LUT, VOI and photometric interpretation (see the module
    docstring); an OperatorError names the file and what is wrong with it."""
    try:
        ds = dcmread(path)
    except FileNotFoundError:
        raise OperatorError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OperatorError(f"{path}: is a folder, not an image file") from None
    except InvalidDicomError:
        raise OperatorError(f"{path}: not a DICOM file") from None
    except OSError as exc:
        raise OperatorError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:  # a truncated or damaged file: pydicom's many errors
        raise OperatorError(f"{path}: not a readable DICOM file ({exc})") from None
    if "PixelData" not in ds:
        raise OperatorError(f"{path}: has no Pixel Data (not an image)")
    notes: list[str] = []
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        if frames > 1:
            ds.pixel_array_options(index=0)
            notes.append(f"{frames} frames: printing the first")
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", "") if "file_meta" in ds else ""
        name = getattr(syntax, "name", str(syntax)) or "unknown transfer syntax"
        raise OperatorError(f"{path}: cannot decode its pixel data ({name}): {exc}") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    bits_stored = int(ds.get("BitsStored", 8) or 8)
    try:
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            display = _grayscale_display(pixels, ds)
            if photometric == "MONOCHROME1":
                display = 1 - display  # MONOCHROME1: 0 is white; P-values are MONOCHROME2 (PS3.4 H.2.1.2)
        elif photometric == "PALETTE COLOR":
            rgb = np.asarray(apply_color_lut(pixels, ds), dtype=np.float32)
            entry_bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            display = rgb / np.float32((1 << entry_bits) - 1)
            bits_stored = 8
        elif pixels.ndim == 3 and pixels.shape[-1] == 3:  # RGB; YBR is converted to RGB by pydicom
            display = pixels.astype(np.float32) / np.float32((1 << bits_stored) - 1)
            bits_stored = 8
        else:
            raise OperatorError(f"{path}: Photometric Interpretation {photometric} cannot be printed")
    except OperatorError:
        raise
    except Exception as exc:
        raise OperatorError(f"{path}: its pixel data cannot be made printable ({exc})") from None
    return SourceImage(path, np.clip(display, 0, 1).astype(np.float32), bits_stored, _aspect(ds), tuple(notes))


def _grayscale_display(pixels: npt.NDArray[Any], ds: Dataset) -> FloatImage:
    """Modality LUT, then the first VOI window or VOI LUT, else the image's minimum to maximum; 0 to 1."""
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is not None and widths is not None and centers != "" and widths != "":
        center = float(_first(centers))
        width = float(_first(widths))
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        return _window(values, center, width, function)
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        item = ds.VOILUTSequence[0]
        entry_bits = int(item.LUTDescriptor[2])
        out = np.asarray(apply_voi(values, ds, index=0), dtype=np.float64)
        return (out / ((1 << entry_bits) - 1)).astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if high <= low:  # a flat image: place it in the range its Bits Stored can hold
        bits = int(ds.get("BitsStored", 8) or 8)
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        stored_low, stored_high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
        low, high = sorted((stored_low * slope + intercept, stored_high * slope + intercept))
    return ((values - low) / (high - low)).astype(np.float32)


def _first(value: Any) -> Any:
    """The first of several values (Window Center and Width may have several), or the one value."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__getitem__"):
        return value
    return value[0]


def _window(values: npt.NDArray[np.float64], center: float, width: float, function: str) -> FloatImage:
    """PS3.3 C.11.2.1.2 and C.11.2.1.3: the window as output 0 to 1."""
    if function == "SIGMOID":
        out = 1 / (1 + np.exp(-4 * (values - center) / max(width, 1e-6)))
    elif function == "LINEAR_EXACT":
        out = (values - center) / max(width, 1e-6) + 0.5
    else:  # LINEAR: width >= 1
        width = max(width, 1.0)
        out = (values - (center - 0.5)) / max(width - 1, 1e-6) + 0.5
    return np.clip(out, 0, 1).astype(np.float32)


def _aspect(ds: Dataset) -> tuple[int, int] | None:
    ratio = ds.get("PixelAspectRatio")
    if ratio is not None and len(ratio) == 2 and int(ratio[0]) != int(ratio[1]):
        return int(ratio[0]), int(ratio[1])
    spacing = ds.get("PixelSpacing")
    if spacing is not None and len(spacing) == 2 and float(spacing[0]) != float(spacing[1]):
        row, column = float(spacing[0]), float(spacing[1])
        scale = 1000 / min(row, column)
        return round(row * scale), round(column * scale)
    return None


def p_values(display: FloatImage, bits: int) -> npt.NDArray[Any]:
    """Display values 0..1 as P-values of `bits` bits (8 or 12), rounded to the nearest."""
    top = (1 << bits) - 1
    values = np.rint(display.astype(np.float64) * top)
    return values.astype(np.uint8 if bits == 8 else np.uint16)


def as_grayscale(display: FloatImage) -> FloatImage:
    """An RGB image's luminance (ITU-R BT.601 weights); a grayscale one unchanged."""
    if display.ndim == 2:
        return display
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(display @ weights, dtype=np.float32)


def grayscale_image_item(image: SourceImage, bits: int) -> Dataset:
    """A Basic Grayscale Image Sequence item (PS3.4 Table H.4-10): MONOCHROME2, 8/8/7 or 16/12/11."""
    pixels = p_values(as_grayscale(image.display), bits)
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows, item.Columns = pixels.shape
    if image.aspect is not None:
        item.PixelAspectRatio = list(image.aspect)
    item.BitsAllocated = 8 if bits == 8 else 16
    item.BitsStored = bits
    item.HighBit = bits - 1
    item.PixelRepresentation = 0
    data = pixels.astype(np.uint8 if bits == 8 else "<u2").tobytes()
    # OW for 8-bit too, as dcmprscu sends it: both are allowed for Bits Allocated 8 (PS3.5 A.2)
    item.add_new(0x7FE00010, "OW", data + b"\x00" * (len(data) & 1))
    return item


def color_image_item(image: SourceImage) -> Dataset:
    """A Basic Color Image Sequence item (PS3.4 Table H.4-11): RGB 8/8/7, Planar Configuration 1."""
    display = image.display if image.is_color else np.repeat(image.display[:, :, None], 3, axis=2)
    pixels = p_values(display, 8)
    item = Dataset()
    item.SamplesPerPixel = 3
    item.PhotometricInterpretation = "RGB"
    item.PlanarConfiguration = 1  # colour-by-plane: all red, then all green, then all blue
    item.Rows, item.Columns = pixels.shape[:2]
    if image.aspect is not None:
        item.PixelAspectRatio = list(image.aspect)
    item.BitsAllocated = 8
    item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    data = np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()
    item.add_new(0x7FE00010, "OB", data + b"\x00" * (len(data) & 1))
    return item


def presentation_lut_dataset(request: LutRequest, bits: int) -> Dataset:
    """The Presentation LUT N-CREATE data set (PS3.4 Table H.4-23): a shape, or a table of 2^bits entries
    (256 or 4096, first input 0, 12 bits per entry; PS3.3 C.11.4.1) whose output is (in/max)^(1/gamma)."""
    ds = Dataset()
    if request.shape is not None:
        ds.PresentationLUTShape = request.shape
        return ds
    assert request.gamma is not None
    entries = 1 << bits
    ramp = np.linspace(0.0, 1.0, entries) ** (1 / request.gamma)
    table = np.rint(ramp * 4095).astype("<u2")
    item = Dataset()
    item.add_new(0x00283002, "US", [entries, 0, 12])  # LUT Descriptor
    item.LUTExplanation = f"gamma {request.gamma:g}"
    item.add_new(0x00283006, "OW", table.tobytes())  # LUT Data
    ds.PresentationLUTSequence = [item]
    return ds


# --- the transcript and the DIMSE dump ------------------------------------------------------------------------


def message_summary(message: Message) -> str:
    """One line for --dump: direction, command, class, ids, status and the top-level data set elements."""
    arrow = ">>" if message.direction is Direction.SENT else "<<"
    parts = [f"{arrow} {message.command} {message.sop_class or message.sop_class_uid}"]
    if message.sop_instance_uid:
        parts.append(f"instance {message.sop_instance_uid}")
    parts += command_fields(message)
    if message.error_comment:
        parts.append(f"'{message.error_comment}'")
    if message.data_set is not None:
        parts.append("{" + ", ".join(_element_text(e) for e in message.data_set) + "}")
    return " ".join(parts)


def _element_text(element: transcript.Element) -> str:
    name = element.keyword or element.tag
    if element.items is not None:
        return f"{name}=[" + "; ".join(", ".join(_element_text(e) for e in item) for item in element.items) + "]"
    if element.length is not None:
        return f"{name}=<{element.length} bytes>"
    value = element.value
    if isinstance(value, str) and len(value) > 64:
        value = value[:61] + "..."
    return f"{name}={value}"


class Recorder:
    """Turns the association's DIMSE messages into transcript records: written to --transcript as they come
    (JSON Lines, bench/transcript.py), shown with --dump. Called from pynetdicom's threads."""

    def __init__(self, path: Path | None, dump: bool, out: Callable[[str], None]) -> None:
        self._guard = threading.Lock()
        self._file: TextIOWrapper | None = path.open("w", encoding="utf-8") if path is not None else None
        self._dump, self._out = dump, out
        self._index = 0
        self._syntaxes: dict[int, UID] = {}
        self._request_times: dict[tuple[Direction, int], float] = {}  # a request's message id -> when it went/came
        self.messages: list[Message] = []

    def association(self, record: transcript.Association, assoc: Association | None) -> None:
        if assoc is not None:
            self._syntaxes = {int(c.context_id or 0): UID(c.transfer_syntax[0]) for c in assoc.accepted_contexts}
        self._write(transcript.line(record))

    def end(self, outcome: Outcome, detail: str = "") -> None:
        self._write(transcript.line(End(outcome, dimse.now_text(), detail)))
        with self._guard:
            if self._file is not None:
                self._file.close()
                self._file = None

    def sent(self, event: Event) -> None:
        self._record(event, Direction.SENT)

    def received(self, event: Event) -> None:
        self._record(event, Direction.RECEIVED)

    def _record(self, event: Event, direction: Direction) -> None:
        message = event.message
        command: Dataset = message.command_set
        now = time.monotonic()
        elapsed: float | None = None
        if "MessageIDBeingRespondedTo" in command:
            other = Direction.RECEIVED if direction is Direction.SENT else Direction.SENT
            started = self._request_times.pop((other, int(command.MessageIDBeingRespondedTo)), None)
            elapsed = round((now - started) * 1000, 3) if started is not None else None
        elif "MessageID" in command:
            self._request_times[(direction, int(command.MessageID))] = now
        with self._guard:
            self._index += 1
            index = self._index
        record = dimse.message_record(
            message,
            direction,
            index,
            self._syntaxes.get(int(message.context_id or 0)),
            elapsed_ms=elapsed,
        )
        with self._guard:
            self.messages.append(record)
            if self._file is not None:
                self._file.write(transcript.line(record) + "\n")
                self._file.flush()
        if self._dump:
            self._out(message_summary(record))

    def _write(self, text: str) -> None:
        with self._guard:
            if self._file is not None:
                self._file.write(text + "\n")
                self._file.flush()


def association_record(
    assoc: Association, options: PrintOptions, started: str, proposed: Sequence[str]
) -> transcript.Association:
    """The association as the SCU saw it. `max_pdu_proposed` is ours (A-ASSOCIATE-RQ), `max_pdu_accepted` the
    SCP's (A-ASSOCIATE-AC); the implementation class and version are the SCP's."""
    contexts: list[transcript.PresentationContext] = []
    results = {int(c.context_id or 0): c for c in [*assoc.accepted_contexts, *assoc.rejected_contexts]}
    for number, syntax in enumerate(proposed):
        context_id = 2 * number + 1
        answer = results.get(context_id)
        accepted = answer is not None and answer in assoc.accepted_contexts
        contexts.append(
            transcript.PresentationContext(
                context_id=context_id,
                abstract_syntax=syntax,
                name=uids.name(syntax),
                transfer_syntaxes=tuple(TRANSFER_SYNTAXES),
                result="accepted" if accepted else (str(answer.status).lower() if answer is not None else "no answer"),
                transfer_syntax=str(answer.transfer_syntax[0]) if accepted and answer is not None else None,
            )
        )
    rejection = None
    acceptor = assoc.acceptor
    primitive = acceptor.primitive
    if assoc.is_rejected and primitive is not None:
        rejection = f"{primitive.result_str}: {primitive.source_str}, {primitive.reason_str}"
    return transcript.Association(
        id=f"scu-{uuid.uuid4().hex[:12]}",
        peer=f"{options.host}:{options.port}",
        calling_ae_title=options.calling_ae,
        called_ae_title=options.called_ae,
        printer=options.called_ae if assoc.is_established else "",
        started=started,
        implementation_class_uid=str(acceptor.implementation_class_uid or ""),
        implementation_version_name=str(acceptor.implementation_version_name or ""),
        max_pdu_proposed=MAX_PDU,
        max_pdu_accepted=int(acceptor.maximum_length or 0) if assoc.is_established else 0,
        contexts=tuple(contexts),
        rejection=rejection,
        role="requestor",
    )


# --- the association -----------------------------------------------------------------------------------------


@dataclass
class Film:
    """One film box of the session: its images and what the printer made of it."""

    number: int
    images: list[SourceImage]
    uid: str = ""
    job_uid: str | None = None


@dataclass
class _Outcome:
    films: int = 0
    warnings: list[str] = field(default_factory=list)


class PrintRun:
    """One `printscp print`: the association and its steps. `run()` returns the exit status."""

    def __init__(
        self, options: PrintOptions, out: Callable[[str], None] = print, err: Callable[[str], None] = print
    ) -> None:
        self.options = options
        self._out_lock = threading.Lock()
        self._out, self._err = out, err
        self.requester = Requester(options.timeout)
        self.recorder: Recorder | None = None
        self.assoc: Association | None = None
        self.bits = 8
        self.bits_chosen = options.bits is not None
        self.outcome = _Outcome()
        self.accepted: set[str] = set()
        self._last = Answer(None, None, None)  # the last response

    @property
    def image_box_class(self) -> str:
        return self.requester.image_box_class

    # output

    def say(self, text: str) -> None:
        with self._out_lock:
            self._out(text)

    def warn(self, text: str) -> None:
        self.outcome.warnings.append(text)
        self.say(f"warning: {text}")

    # the whole run

    def run(self) -> int:
        options = self.options
        try:
            options.check()
            images = [load_image(path) for path in options.images]
            self.recorder = Recorder(options.transcript, options.dump, self.say)
        except OperatorError as exc:
            self._err(f"printscp print: {exc}")
            return 2
        except OSError as exc:  # the transcript file
            self._err(f"printscp print: --transcript {options.transcript}: {exc.strerror or exc}")
            return 2
        for image in images:
            for note in image.notes:
                self.say(f"{image.path}: {note}")
        outcome, detail = Outcome.RELEASED, ""
        try:
            self._associate()
            self._print(images)
            self.say(f"printed {self.outcome.films} film(s)" + (" with warnings" if self.outcome.warnings else ""))
            return 0
        except PrintFailed as exc:
            outcome, detail = Outcome.ABORTED, str(exc)
            self._err(f"printscp print: {exc}")
            return 1
        finally:
            outcome = self._release(outcome)
            self.recorder.end(outcome, detail)

    def _release(self, outcome: Outcome) -> Outcome:
        assoc = self.assoc
        if assoc is None:
            return Outcome.CLOSED
        if assoc.is_rejected:
            return Outcome.REJECTED
        if assoc.is_established:
            assoc.release()
            self.say("released")
            return Outcome.RELEASED
        if assoc.is_aborted:
            return Outcome.ABORTED
        return outcome

    def _associate(self) -> None:
        options = self.options
        assert self.recorder is not None
        ae = AE(options.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = options.timeout
        ae.connection_timeout = options.timeout
        ae.maximum_pdu_size = MAX_PDU
        proposed = [GRAY_META]
        if options.color:
            proposed.append(COLOR_META)
        if options.lut is not None:
            proposed.append(uids.PRESENTATION_LUT)
        if options.annotation is not None:
            proposed.append(uids.BASIC_ANNOTATION_BOX)
        proposed.append(uids.PRINT_JOB)
        propose(ae, proposed)
        handlers: list[Any] = [
            *self.requester.handlers(),
            (evt.EVT_DIMSE_SENT, self.recorder.sent),
            (evt.EVT_DIMSE_RECV, self.recorder.received),
        ]
        started = dimse.now_text()
        where = f"{options.host}:{options.port} ({options.called_ae})"
        assoc = ae.associate(options.host, options.port, ae_title=options.called_ae, evt_handlers=handlers)
        self.assoc = assoc
        self.requester.attach(assoc)
        self.recorder.association(association_record(assoc, options, started, proposed), assoc)
        if assoc.is_rejected:
            primitive = assoc.acceptor.primitive
            why = f"{primitive.result_str}: {primitive.source_str}, {primitive.reason_str}" if primitive else ""
            raise PrintFailed(f"association with {where} rejected ({why})")
        if not assoc.is_established:
            raise PrintFailed(
                f"association with {where} failed: connection refused, or no answer within {options.timeout:g} s"
            )
        compat.set_tcp_nodelay(assoc)
        accepted = {str(c.abstract_syntax): c for c in assoc.accepted_contexts}
        names = ", ".join(f"{uids.name(s)} ({UID(accepted[s].transfer_syntax[0]).name})" for s in accepted)
        self.say(f"associated with {where}: {names or 'nothing accepted'}")
        if options.color and COLOR_META in accepted:
            self.requester.use_color()
        elif GRAY_META in accepted:
            if options.color:
                self.warn("the printer refused Basic Color Print Management: printing in grayscale")
        else:
            raise PrintFailed(f"{where} does not accept Basic Grayscale Print Management (it is not a print SCP)")
        self.accepted = set(accepted)

    # DIMSE requests

    def _request(self, step: str, send: Callable[[Requester], Answer], stop_on_failure: bool = True) -> Answer:
        """Send one request (`send(requester)`), show its status on one line and return its answer; a failure
        status raises PrintFailed unless `stop_on_failure` is off."""
        answer = self._last = send(self.requester)
        self._show_events()
        if answer.status is None:
            raise PrintFailed(f"{step}: no response within {self.options.timeout:g} s (or the association ended)")
        code, comment = answer.status, answer.error_comment
        line = f"{step}: {status_name(code)}"
        if comment:
            line += f" ({comment})"
        if answer.offending:
            line += " offending " + " ".join(transcript.tag_text(t) for t in answer.offending)
        self.say(line)
        if is_warning(code):
            self.outcome.warnings.append(line)
        if is_failure(code) and stop_on_failure:
            raise PrintFailed(f"{step} failed: {status_name(code)}" + (f" ({comment})" if comment else ""))
        return answer

    def n_create(self, step: str, sop_class: str, data: Dataset | None) -> tuple[str, Dataset | None]:
        answer = self._request(step, lambda r: r.n_create(sop_class, data))
        if not answer.affected_uid:
            raise PrintFailed("the printer did not return the new instance's Affected SOP Instance UID")
        return answer.affected_uid, answer.data

    def n_set(self, step: str, sop_class: str, uid: str, data: Dataset, stop: bool = True) -> int:
        code = self._request(step, lambda r: r.n_set(sop_class, uid, data), stop).status
        assert code is not None
        return code

    def n_get(self, step: str, sop_class: str, uid: str, stop: bool = True) -> tuple[int, Dataset | None]:
        answer = self._request(step, lambda r: r.n_get(sop_class, uid), stop)
        assert answer.status is not None
        return answer.status, answer.data

    def n_action(self, step: str, sop_class: str, uid: str) -> Dataset | None:
        return self._request(step, lambda r: r.n_action(sop_class, uid)).data

    def n_delete(self, step: str, sop_class: str, uid: str) -> None:
        self._request(step, lambda r: r.n_delete(sop_class, uid))

    # N-EVENT-REPORTs (received in pynetdicom's event thread, shown here)

    def _show_events(self) -> None:
        """Show the event reports received so far, a line each (the requester keeps the print jobs' states)."""
        while (report := self.requester.take_event()) is not None:
            self._show_event(report)

    def _show_event(self, report: EventReport) -> None:
        if report.sop_class == uids.PRINTER:
            self.say(f"printer event: {report.state}" + (f" ({report.detail})" if report.detail else ""))
        elif report.sop_class == uids.PRINT_JOB:
            self.say(f"print job {report.instance}: {report.state}" + (f" ({report.detail})" if report.detail else ""))
        else:
            self.say(f"event report {uids.name(report.sop_class)} {report.instance}: event {report.event_type}")

    # the print

    def _print(self, images: list[SourceImage]) -> None:
        options = self.options
        self._printer_status()
        session_uid, _ = self.n_create("N-CREATE Film Session", uids.BASIC_FILM_SESSION, self._film_session())
        self.say(f"film session {session_uid}")
        gray = self.image_box_class == uids.BASIC_GRAYSCALE_IMAGE_BOX
        if options.bits is not None:
            self.bits = options.bits if gray else 8
        else:
            self.bits = 12 if gray and any(i.bits_stored > 8 and not i.is_color for i in images) else 8
        lut_uid = self._presentation_lut() if gray else None
        if options.lut is not None and not gray:
            self.warn("--lut applies to grayscale image boxes only: not sent")
        remaining = list(images)
        films: list[Film] = []
        while remaining:
            film = Film(len(films) + 1, [])
            films.append(film)
            remaining = self._print_film(film, session_uid, lut_uid, remaining)
        self._follow_jobs(films)
        self.n_delete("N-DELETE Film Session", uids.BASIC_FILM_SESSION, session_uid)
        if lut_uid is not None:
            self.n_delete("N-DELETE Presentation LUT", uids.PRESENTATION_LUT, lut_uid)

    def _printer_status(self) -> None:
        code, data = self.n_get("N-GET Printer", uids.PRINTER, uids.PRINTER_INSTANCE, stop=False)
        if is_failure(code) or data is None:
            self.warn("the printer's status is unknown (N-GET Printer failed); printing anyway")
            return
        state = str(data.get("PrinterStatus", "") or "")
        info = str(data.get("PrinterStatusInfo", "") or "")
        name = str(data.get("PrinterName", "") or "")
        self.say(f"printer{f' {name}' if name else ''}: {state or 'status not given'}" + (f" ({info})" if info else ""))
        if state == "FAILURE":
            raise PrintFailed(f"the printer is in FAILURE ({info or 'no reason given'}): nothing printed")
        if state == "WARNING":
            self.warn(f"the printer reports WARNING ({info or 'no reason given'})")

    def _film_session(self) -> Dataset:
        options, ds = self.options, Dataset()
        if options.number_of_copies is not None:
            ds.NumberOfCopies = options.number_of_copies
        if options.print_priority is not None:
            ds.PrintPriority = options.print_priority
        if options.medium_type is not None:
            ds.MediumType = options.medium_type
        if options.film_destination is not None:
            ds.FilmDestination = options.film_destination
        if options.film_session_label is not None:
            ds.FilmSessionLabel = options.film_session_label
        if options.patient_name is not None or options.patient_id is not None:
            # PS3.3 C.13.1 (retired, and still what print SCUs that name the patient send)
            study = Dataset()
            study.PatientName = options.patient_name or ""
            study.PatientID = options.patient_id or ""
            ds.ProposedStudySequence = [study]
        return ds

    def _presentation_lut(self) -> str | None:
        request = self.options.lut
        if request is None:
            return None
        if uids.PRESENTATION_LUT not in self.accepted:
            self.warn("the printer refused the Presentation LUT SOP Class: printing without --lut")
            return None
        uid, _ = self.n_create(
            "N-CREATE Presentation LUT", uids.PRESENTATION_LUT, presentation_lut_dataset(request, self.bits)
        )
        return uid

    def _film_box(self, session_uid: str, lut_uid: str | None) -> Dataset:
        options, ds = self.options, Dataset()
        ds.ImageDisplayFormat = options.image_display_format
        for keyword, value in (
            ("FilmOrientation", options.film_orientation),
            ("FilmSizeID", options.film_size_id),
            ("MagnificationType", options.magnification_type),
            ("MaxDensity", options.max_density),
            ("MinDensity", options.min_density),
            ("BorderDensity", options.border_density),
            ("EmptyImageDensity", options.empty_image_density),
            ("Trim", options.trim),
            ("RequestedResolutionID", options.requested_resolution_id),
        ):
            if value is not None:
                setattr(ds, keyword, value)
        if options.annotation is not None and uids.BASIC_ANNOTATION_BOX in self.accepted:
            ds.AnnotationDisplayFormatID = options.annotation_format
        ds.ReferencedFilmSessionSequence = [reference(uids.BASIC_FILM_SESSION, session_uid)]
        if lut_uid is not None:
            ds.ReferencedPresentationLUTSequence = [reference(uids.PRESENTATION_LUT, lut_uid)]
        return ds

    def _print_film(
        self, film: Film, session_uid: str, lut_uid: str | None, images: list[SourceImage]
    ) -> list[SourceImage]:
        """Create, fill and print one film box; return the images that did not fit on it."""
        step = f"film {film.number}"
        film.uid, response = self.n_create(
            f"N-CREATE Film Box ({step})", uids.BASIC_FILM_BOX, self._film_box(session_uid, lut_uid)
        )
        boxes = references(response, "ReferencedImageBoxSequence")
        if not boxes:
            raise PrintFailed(f"{step}: the printer returned no Referenced Image Box Sequence for the film box")
        wrong = [c for c, _ in boxes if c != self.image_box_class]
        if wrong:
            raise PrintFailed(
                f"{step}: the printer's image boxes are {uids.name(wrong[0])}, not {uids.name(self.image_box_class)}"
            )
        film.images = images[: len(boxes)]
        self.say(f"{step}: film box {film.uid}, {len(boxes)} image box(es), {len(film.images)} image(s)")
        for position, (image, (_, box_uid)) in enumerate(zip(film.images, boxes, strict=False), start=1):
            self._set_image(f"N-SET Image Box {position} ({step}, {image.path.name})", box_uid, position, image)
        if self.options.annotation is not None and uids.BASIC_ANNOTATION_BOX in self.accepted:
            self._set_annotation(step, response)
        elif self.options.annotation is not None and film.number == 1:
            self.warn("the printer refused the Basic Annotation Box SOP Class: no annotation")
        reply = self.n_action(f"N-ACTION print Film Box ({step})", uids.BASIC_FILM_BOX, film.uid)
        jobs = references(reply, REFERENCED_PRINT_JOB_SEQUENCE)
        if jobs:
            film.job_uid = jobs[0][1]
            self.say(f"{step}: print job {film.job_uid}")
        self.outcome.films += 1
        self.n_delete(f"N-DELETE Film Box ({step})", uids.BASIC_FILM_BOX, film.uid)
        return images[len(boxes) :]

    def _set_image(self, step: str, box_uid: str, position: int, image: SourceImage) -> None:
        code = self.n_set(step, self.image_box_class, box_uid, self._image_box(position, image), stop=False)
        refused_12_bit = (
            code == Status.INVALID_ATTRIBUTE_VALUE
            and self.bits == 12
            and not self.bits_chosen
            and (self.options.lut is None or self.options.lut.gamma is None)
            and self._offending_is_bits()
        )
        if refused_12_bit:
            self.bits = 8
            self.warn("the printer refused 12-bit pixels: sending 8-bit ones")
            code = self.n_set(step, self.image_box_class, box_uid, self._image_box(position, image), stop=False)
        self.bits_chosen = True
        if is_failure(code):
            raise PrintFailed(f"{step} failed: {status_name(code)}")

    def _offending_is_bits(self) -> bool:
        tags = set(self._last.offending)
        return bool(tags & BITS_TAGS) or not tags

    def _image_box(self, position: int, image: SourceImage) -> Dataset:
        ds = Dataset()
        ds.ImageBoxPosition = position
        if self.image_box_class == uids.BASIC_COLOR_IMAGE_BOX:
            ds.BasicColorImageSequence = [color_image_item(image)]
        else:
            ds.BasicGrayscaleImageSequence = [grayscale_image_item(image, self.bits)]
        return ds

    def _set_annotation(self, step: str, response: Dataset | None) -> None:
        options = self.options
        boxes = references(response, "ReferencedBasicAnnotationBoxSequence")
        if len(boxes) < options.annotation_position:
            self.warn(
                f"{step}: the printer made {len(boxes)} annotation box(es) for format "
                f"{options.annotation_format}: no annotation at position {options.annotation_position}"
            )
            return
        ds = Dataset()
        ds.AnnotationPosition = options.annotation_position
        ds.TextString = options.annotation
        uid = boxes[options.annotation_position - 1][1]
        self.n_set(f"N-SET Annotation Box {options.annotation_position} ({step})", uids.BASIC_ANNOTATION_BOX, uid, ds)

    def _follow_jobs(self, films: list[Film]) -> None:
        """Wait for every print job to be DONE or FAILURE: its events, else N-GET Print Job each POLL_INTERVAL."""
        jobs = [f.job_uid for f in films if f.job_uid is not None]
        if uids.PRINT_JOB not in self.accepted or not jobs:
            if uids.PRINT_JOB in self.accepted:
                self.say("the printer gave no print job: not following it")
            return
        pending = follow_print_jobs(self.requester, jobs, self.options.timeout, self._show_event, self._get_job)
        if pending:
            raise PrintFailed(f"print job(s) {', '.join(sorted(pending))} not DONE within {self.options.timeout:g} s")
        failed = [j for j in jobs if self.requester.job_states[j][0] == "FAILURE"]
        if failed:
            state = self.requester.job_states[failed[0]]
            raise PrintFailed(f"print job {failed[0]} FAILURE ({state[1] or 'no reason given'})")

    def _get_job(self, job: str) -> None:
        before = self.requester.job_states.get(job)
        code = self._request(f"N-GET Print Job {job}", lambda r: r.get_print_job(job), False).status
        assert code is not None
        if is_failure(code) or self._last.data is None:
            raise PrintFailed(f"cannot follow print job {job}: N-GET Print Job answered {status_name(code)}")
        state, info = self.requester.job_states[job]
        if (state, info) != before:
            self.say(f"print job {job}: {state or '?'}" + (f" ({info})" if info else ""))


def print_images(options: PrintOptions, out: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Print `options.images`; the exit status: 0 printed (warnings included), 1 failed, 2 operator error."""
    return PrintRun(options, out, err).run()
