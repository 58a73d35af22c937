"""`printscp print`, the print SCU, run as a process against DCMTK's dcmprscp, against printscp itself and
against a small pynetdicom colour print SCP: what each printer received is what the SCU meant to send."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RunningServer
from dcmprscp import DCMPRSCP_AE, Dcmprscp, start_dcmprscp
from dcmtk import write_image
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.events import Event

from printscp import uids
from printscp.archive.film_index import FilmFilter
from printscp.bench import transcript
from printscp.bench.transcript import Direction, Outcome
from printscp.model.enums import PrinterStatus

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def print_scu(address: tuple[str, int], images: list[Path], *options: str, called: str = "PRINTSCP") -> Run:
    """`printscp print` as a process."""
    command = [sys.executable, "-m", "printscp", "print", "--host", address[0], "--port", str(address[1])]
    command += ["--called-ae", called, "--timeout", "30", *options, *map(str, images)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO, check=False)
    return Run(result.returncode, result.stdout, result.stderr)


def windowed_image(path: Path, pixels: np.ndarray, center: float = 2048, width: float = 4096) -> Path:
    """A 12-bit image whose VOI window is the identity (center 2048, width 4096 maps x to P-value x)."""
    write_image(path, pixels, 12)
    dataset = dcmread(path)
    dataset.WindowCenter, dataset.WindowWidth = center, width
    dataset.save_as(path)
    return path


def four_images(folder: Path) -> tuple[list[Path], list[np.ndarray]]:
    """Four different 12-bit images: a flat level with a distinct pattern each."""
    rng = np.random.default_rng(14)
    pixels = []
    for number, level in enumerate((400, 1400, 2400, 3400)):
        image = np.full((48, 64), level, dtype=np.uint16)
        image += rng.integers(0, 200, size=image.shape, dtype=np.uint16)
        image[number * 8 : number * 8 + 8, :] = 4095 - level  # a band that says which image it is
        pixels.append(image)
    return [windowed_image(folder / f"image{n}.dcm", p) for n, p in enumerate(pixels)], pixels


# --- DCMTK's dcmprscp ---------------------------------------------------------------------------------------


@pytest.fixture
def dcmprscp(tmp_path: Path) -> Iterator[Dcmprscp]:
    """dcmprscp with its own config and database on a free port (it binds 0.0.0.0), the IHEFULL profile."""
    with start_dcmprscp(tmp_path / "dcmprscp") as server:
        yield server


def test_a_2x2_film_on_dcmprscp_stores_what_was_sent(dcmprscp: Dcmprscp, tmp_path: Path) -> None:
    images, pixels = four_images(tmp_path)
    run = print_scu(
        ("127.0.0.1", dcmprscp.port),
        images,
        "--format",
        "STANDARD\\2,2",
        "--film-size",
        "14INX17IN",
        "--transcript",
        str(tmp_path / "scu.jsonl"),
        called=DCMPRSCP_AE,
    )
    assert run.returncode == 0, run.stdout + run.stderr + dcmprscp.text()
    assert "printed 1 film(s)" in run.stdout
    stored = [dcmread(path) for path in sorted(dcmprscp.database.glob("*.dcm"))]
    prints = [ds for ds in stored if ds.SOPClassUID == "1.2.840.10008.5.1.1.27"]  # Stored Print (retired)
    hardcopies = [ds for ds in stored if ds.SOPClassUID == "1.2.840.10008.5.1.1.29"]  # Hardcopy Grayscale
    assert len(prints) == 1 and len(hardcopies) == 4, [ds.SOPClassUID for ds in stored]
    film_box = prints[0].FilmBoxContentSequence[0]
    assert film_box.ImageDisplayFormat == "STANDARD\\2,2"
    assert film_box.FilmSizeID == "14INX17IN"
    # each image box of the Stored Print references the hardcopy image stored at its N-SET, by position
    by_uid = {str(ds.SOPInstanceUID): ds for ds in hardcopies}
    boxes = sorted(prints[0].ImageBoxContentSequence, key=lambda box: int(box.ImageBoxPosition))
    assert [int(box.ImageBoxPosition) for box in boxes] == [1, 2, 3, 4]
    for box, expected in zip(boxes, pixels, strict=True):
        image = by_uid[str(box.ReferencedImageSequence[0].ReferencedSOPInstanceUID)]
        assert (image.Rows, image.Columns) == expected.shape
        assert (image.BitsAllocated, image.BitsStored, image.HighBit) == (16, 12, 11)
        assert image.PhotometricInterpretation == "MONOCHROME2"
        np.testing.assert_array_equal(image.pixel_array, expected)  # the identity window: P-values = pixels
    record = transcript.load(tmp_path / "scu.jsonl")
    assert record.association.role == "requestor"
    assert record.association.called_ae_title == DCMPRSCP_AE
    assert record.outcome is Outcome.RELEASED


# --- printscp -----------------------------------------------------------------------------------------------


def flat_images(folder: Path, levels: tuple[int, ...], bits: int = 12) -> list[Path]:
    return [
        windowed_image(folder / f"flat{n}.dcm", np.full((32, 32), level, dtype=np.uint16))
        for n, level in enumerate(levels)
    ]


def png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def test_a_2x2_film_on_printscp_puts_each_image_in_its_quadrant(running: RunningServer, tmp_path: Path) -> None:
    levels = (300, 1500, 2700, 3900)  # image box 1 darkest ... 4 lightest
    run = print_scu(running.address, flat_images(tmp_path, levels), "--format", "STANDARD\\2,2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line for line in run.lines if line.startswith("N-SET Image Box")] == [
        f"N-SET Image Box {n} (film 1, flat{n - 1}.dcm): 0x0000 SUCCESS" for n in (1, 2, 3, 4)
    ]
    jobs = running.jobs()
    assert len(jobs) == 1 and len(jobs[0].pngs) == 1 and jobs[0].pdfs[0].is_file()
    pixels = png(jobs[0].pngs[0])
    height, width = pixels.shape
    # PS3.3 C.13.5.1: positions 1, 2 in the top row, 3, 4 below, left to right
    centres = [(height // 4, width // 4), (height // 4, 3 * width // 4)]
    centres += [(3 * height // 4, width // 4), (3 * height // 4, 3 * width // 4)]
    greys = [pixels[y - 3 : y + 3, x - 3 : x + 3].mean() for y, x in centres]
    assert greys == sorted(greys) and len({round(g) for g in greys}) == 4, greys


def test_lut_and_annotation_are_accepted(running: RunningServer, tmp_path: Path) -> None:
    images = flat_images(tmp_path, (1000, 3000))
    run = print_scu(
        running.address, images, "--format", "STANDARD\\1,2", "--lut", "gamma:1.8", "--annotation", "SCU TEST 14"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "N-CREATE Presentation LUT: 0x0000 SUCCESS" in run.lines
    assert "N-SET Annotation Box 1 (film 1): 0x0000 SUCCESS" in run.lines
    assert not [line for line in run.lines if line.startswith("warning:")], run.stdout
    manifest = json.dumps(running.jobs()[0].manifest)
    assert "SCU TEST 14" in manifest
    run = print_scu(running.address, images[:1], "--lut", "LIN OD")
    assert run.returncode == 0 and "N-CREATE Presentation LUT: 0x0000 SUCCESS" in run.lines, run.stdout


def test_a_patient_goes_in_the_proposed_study_and_reaches_the_index(running: RunningServer, tmp_path: Path) -> None:
    run = print_scu(running.address, flat_images(tmp_path, (2000,)), "--patient-name", "DOE^JANE", "--patient-id", "P7")
    assert run.returncode == 0, run.stdout + run.stderr
    (film,) = running.server.archive.index.find_films(FilmFilter(patient="Doe, Jane"))
    assert film["patient_name"] == "DOE^JANE" and film["patient_id"] == "P7"
    bad = print_scu(running.address, flat_images(tmp_path, (2000,)), "--patient-id", "A\\B")
    assert bad.returncode == 2 and "--patient-id" in bad.stderr


def image_box_formats(path: Path) -> list[tuple[int, int, int]]:
    """(Bits Allocated, Bits Stored, High Bit) of every Image Box N-SET in a transcript."""
    formats = []
    for message in transcript.load(path).messages:
        if message.command == "N-SET-RQ" and message.sop_class_uid == uids.BASIC_GRAYSCALE_IMAGE_BOX:
            assert message.data_set is not None
            sequence = transcript.find(message.data_set, "BasicGrayscaleImageSequence")
            assert sequence is not None and sequence.items is not None
            item = sequence.items[0]
            values = [transcript.find(item, k) for k in ("BitsAllocated", "BitsStored", "HighBit")]
            formats.append(tuple(int(v.value) for v in values if v is not None))
    return formats  # type: ignore[return-value]


def test_12_bit_images_go_as_12_bit_and_8_bit_ones_as_8_bit(running: RunningServer, tmp_path: Path) -> None:
    twelve = flat_images(tmp_path, (2000,))
    eight = write_image(tmp_path / "eight.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8) * 4, 8)
    run = print_scu(running.address, twelve, "--transcript", str(tmp_path / "12.jsonl"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert image_box_formats(tmp_path / "12.jsonl") == [(16, 12, 11)]
    run = print_scu(running.address, [eight], "--transcript", str(tmp_path / "8.jsonl"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert image_box_formats(tmp_path / "8.jsonl") == [(8, 8, 7)]
    run = print_scu(running.address, twelve, "--bits", "8", "--transcript", str(tmp_path / "forced.jsonl"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert image_box_formats(tmp_path / "forced.jsonl") == [(8, 8, 7)]
    assert len(running.jobs()) == 3


def test_five_images_on_a_2x2_format_print_two_films(running: RunningServer, tmp_path: Path) -> None:
    run = print_scu(running.address, flat_images(tmp_path, (100, 900, 1700, 2500, 3300)), "--format", "STANDARD\\2,2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "film 1: film box" in run.stdout and "4 image box(es), 4 image(s)" in run.stdout
    assert "4 image box(es), 1 image(s)" in run.stdout
    assert "printed 2 film(s)" in run.lines
    jobs = running.jobs()
    assert sum(len(job.pngs) for job in jobs) == 2
    assert all(path.is_file() for job in jobs for path in job.pngs)


def test_a_printer_in_failure_stops_the_print_with_exit_1(running: RunningServer, tmp_path: Path) -> None:
    running.server.printer.set_status(PrinterStatus.FAILURE, "FILM JAM")
    run = print_scu(running.address, flat_images(tmp_path, (2000,)))
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == ["printscp print: the printer is in FAILURE (FILM JAM): nothing printed"]
    assert not any(line.startswith("N-CREATE") for line in run.lines)
    assert len(running.jobs()) == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: folder / "missing.dcm", "missing.dcm: no such file"),
        (lambda folder: _text_file(folder / "notes.dcm"), "notes.dcm: not a DICOM file"),
    ],
)
def test_a_bad_file_is_an_operator_error(
    running: RunningServer, tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    good = flat_images(tmp_path, (2000,))
    run = print_scu(running.address, [*good, make(tmp_path)])
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("printscp print: ") and lines[0].endswith(message), run.stderr
    assert run.stdout == ""  # nothing was sent: files are read before the association
    assert len(running.jobs()) == 0


def test_a_bad_option_value_is_an_operator_error(running: RunningServer, tmp_path: Path) -> None:
    run = print_scu(running.address, flat_images(tmp_path, (2000,)), "--orientation", "SIDEWAYS")
    assert run.returncode == 2
    assert run.stderr.strip() == "printscp print: --orientation 'SIDEWAYS': one of PORTRAIT, LANDSCAPE"


def _text_file(path: Path) -> Path:
    path.write_text("not an image\n")
    return path


def test_the_transcript_has_every_message_in_order(running: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "scu.jsonl"
    run = print_scu(
        running.address, flat_images(tmp_path, (1000, 3000)), "--format", "STANDARD\\2,1", "--transcript", str(path)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    record = transcript.load(path)
    association = record.association
    assert (association.role, association.calling_ae_title, association.called_ae_title) == (
        "requestor",
        "PRINTSCU",
        "PRINTSCP",
    )
    contexts = {c.abstract_syntax: c for c in association.contexts}
    assert contexts[uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META].result == "accepted"
    assert contexts[uids.PRINT_JOB].result == "accepted"
    assert [m.index for m in record.messages] == list(range(1, len(record.messages) + 1))
    ours = [m for m in record.messages if m.sop_class_uid != uids.PRINT_JOB or m.command == "N-GET-RQ"]
    requests = [(m.command, m.sop_class) for m in ours if m.direction is Direction.SENT and m.is_request]
    assert requests[:7] == [
        ("N-GET-RQ", "Printer"),
        ("N-CREATE-RQ", "Basic Film Session"),
        ("N-CREATE-RQ", "Basic Film Box"),
        ("N-SET-RQ", "Basic Grayscale Image Box"),
        ("N-SET-RQ", "Basic Grayscale Image Box"),
        ("N-ACTION-RQ", "Basic Film Box"),
        ("N-DELETE-RQ", "Basic Film Box"),
    ]
    assert requests[-1] == ("N-DELETE-RQ", "Basic Film Session")
    responses = {m.responding_to: m for m in record.messages if m.direction is Direction.RECEIVED and not m.is_request}
    for request in (m for m in record.messages if m.direction is Direction.SENT and m.is_request):
        response = responses[request.message_id]
        assert response.index > request.index
        assert response.command == request.command.replace("-RQ", "-RSP")
        assert response.status == 0
        assert response.elapsed_ms is not None and response.elapsed_ms >= 0
    # the Print Job's events, received and answered
    events = [m for m in record.messages if m.command == "N-EVENT-REPORT-RQ"]
    assert events and events[-1].event_type_id == 3  # DONE
    answers = [m for m in record.messages if m.command == "N-EVENT-REPORT-RSP"]
    assert [a.responding_to for a in answers] == [e.message_id for e in events]
    assert all(a.direction is Direction.SENT and a.status == 0 for a in answers)
    assert record.outcome is Outcome.RELEASED


# --- colour, against a pynetdicom print SCP that keeps what it receives ---------------------------------------


@dataclass
class ColorPrinter:
    """A minimal Basic Color Print Management SCP: answers every request with success, keeps the data sets."""

    port: int = 0
    received: list[tuple[str, str, Dataset | None]] = field(default_factory=list)  # (operation, class, data set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, operation: str, sop_class: str, data: Dataset | None) -> None:
        with self.lock:
            self.received.append((operation, sop_class, data))

    def n_get(self, event: Event) -> tuple[int, Dataset]:
        self.keep("N-GET", str(event.request.RequestedSOPClassUID), None)
        ds = Dataset()
        ds.PrinterStatus, ds.PrinterStatusInfo = "NORMAL", "NORMAL"
        return 0, ds

    def n_create(self, event: Event) -> tuple[int, Dataset]:
        sop_class = str(event.request.AffectedSOPClassUID)
        self.keep("N-CREATE", sop_class, event.attribute_list)
        ds = Dataset()
        ds.AffectedSOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.14.{len(self.received)}"
        if sop_class == uids.BASIC_FILM_BOX:
            items = []
            for n in range(4):
                item = Dataset()
                item.ReferencedSOPClassUID = uids.BASIC_COLOR_IMAGE_BOX
                item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.14.99.{n + 1}"
                items.append(item)
            ds.ReferencedImageBoxSequence = items
        return 0, ds

    def n_set(self, event: Event) -> tuple[int, Dataset]:
        self.keep("N-SET", str(event.request.RequestedSOPClassUID), event.modification_list)
        return 0, Dataset()

    def n_action(self, event: Event) -> tuple[int, None]:
        self.keep("N-ACTION", str(event.request.RequestedSOPClassUID), None)
        return 0, None

    def n_delete(self, event: Event) -> int:
        self.keep("N-DELETE", str(event.request.RequestedSOPClassUID), None)
        return 0


@pytest.fixture
def color_printer() -> Iterator[ColorPrinter]:
    printer = ColorPrinter()
    ae = AE("COLORSCP")
    for syntax in (uids.BASIC_COLOR_PRINT_MANAGEMENT_META, uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META):
        ae.add_supported_context(syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    handlers: list[Any] = [
        (evt.EVT_N_GET, printer.n_get),
        (evt.EVT_N_CREATE, printer.n_create),
        (evt.EVT_N_SET, printer.n_set),
        (evt.EVT_N_ACTION, printer.n_action),
        (evt.EVT_N_DELETE, printer.n_delete),
    ]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    printer.port = server.server_address[1]
    try:
        yield printer
    finally:
        server.shutdown()


def rgb_image(path: Path, pixels: np.ndarray) -> Path:
    """An 8-bit RGB Secondary Capture image (Planar Configuration 0 in the file)."""
    write_image(path, pixels[:, :, 0], 8)
    dataset = dcmread(path)
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "RGB"
    dataset.PlanarConfiguration = 0
    dataset.PixelData = pixels.astype(np.uint8).tobytes()
    dataset.save_as(path)
    return path


def test_color_prints_rgb_by_plane_and_grey_images_as_grey_rgb(color_printer: ColorPrinter, tmp_path: Path) -> None:
    rgb = np.zeros((16, 24, 3), dtype=np.uint8)
    rgb[:, :8, 0], rgb[:, 8:16, 1], rgb[:, 16:, 2] = 255, 200, 100  # red, green, blue bands
    grey = np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) % 256
    images = [rgb_image(tmp_path / "rgb.dcm", rgb), write_image(tmp_path / "grey.dcm", grey, 8)]
    run = print_scu(
        ("127.0.0.1", color_printer.port), images, "--color", "--format", "STANDARD\\2,2", called="COLORSCP"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Basic Color Print Management Meta" in run.lines[0]
    sets = [data for operation, sop_class, data in color_printer.received if operation == "N-SET"]
    classes = {sop_class for operation, sop_class, _ in color_printer.received if operation == "N-SET"}
    assert classes == {uids.BASIC_COLOR_IMAGE_BOX} and len(sets) == 2
    received = []
    for data in sets:
        assert data is not None and "BasicGrayscaleImageSequence" not in data
        item = data.BasicColorImageSequence[0]
        assert (item.SamplesPerPixel, item.PhotometricInterpretation, item.PlanarConfiguration) == (3, "RGB", 1)
        assert (item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation) == (8, 8, 7, 0)
        planes = np.frombuffer(item.PixelData, dtype=np.uint8)[: 3 * item.Rows * item.Columns]
        received.append((int(data.ImageBoxPosition), planes.reshape(3, item.Rows, item.Columns)))
    received.sort(key=lambda pair: pair[0])
    assert [position for position, _ in received] == [1, 2]
    np.testing.assert_array_equal(received[0][1], rgb.transpose(2, 0, 1))  # colour-by-plane
    # an 8-bit grey image without a window: its minimum to maximum, the same in the three planes
    expected = np.rint((grey - grey.min()) / (grey.max() - grey.min()) * 255).astype(np.uint8)
    for plane in received[1][1]:
        np.testing.assert_array_equal(plane, expected)
