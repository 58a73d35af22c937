"""Relaying to real printers through printscp's routes (issue 20's acceptance): a modality prints to printscp,
whose printer relays to CUPS's ippeveprinter (a paper printer) or to DCMTK's dcmprscp (a film printer)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer
from dcmprscp import start_dcmprscp
from dcmtk import DcmtkPrintClient, write_image
from ippeve import ippeveprinter
from printscu import PrintSCU
from pydicom import dcmread
from test_relay import print_film
from test_relay_paper_ipp import page_size, rendered
from waiting import wait_until

from printscp import uids
from printscp.bench import transcript
from printscp.config import Node, PaperPrinter, RelayConfig, TranscriptConfig
from printscp.relay.queue import DONE, read_relays

A4_POINTS = (595.28, 841.89)


def test_each_film_reaches_the_paper_printer_as_one_whole_a4_page(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    with ippeveprinter(tmp_path / "printer") as printer:
        paper = {"OFFICE": PaperPrinter(printer.uri, "iso_a4_210x297mm", "fit")}
        server = start_server(sections={"paper": paper, "relay": RelayConfig(retry_seconds=0.2)}, relay_to=("OFFICE",))
        printed_at = []
        with PrintSCU(server.address) as scu:
            for n in range(3):
                status, comment, _ = print_film(scu, f"PAPER {n}")
                assert status == 0, comment
                printed_at.append(time.monotonic())
        wait_until(lambda: len(printer.documents()) >= 3, 30, "three documents at the printer")
        arrived = time.monotonic()
        documents = printer.documents()
        assert len(documents) == 3  # one per film
        done = lambda: [r.targets["OFFICE"].state for r in read_relays(server.archive)] == [DONE] * 3  # noqa: E731
        wait_until(done, 30, "the three IPP jobs completed")
        print(
            f"\nrelay to paper: the last film reached ippeveprinter {arrived - printed_at[-1]:.2f} s after its N-ACTION"
        )
        for document, stored in zip(documents, server.jobs(), strict=True):
            assert page_size(document) == pytest.approx(A4_POINTS, abs=1)
            page = rendered(document)
            # the whole film is on the sheet: a white margin on every side, the film (black border) inside it
            margins = np.concatenate(
                [page[:10].ravel(), page[-10:].ravel(), page[:, :10].ravel(), page[:, -10:].ravel()]
            )
            assert margins.min() == 255, document.name
            film = page[14:-14, 14:-14]
            rows, columns = np.nonzero(film < 128)
            film_box = (rows.max() - rows.min() + 1, columns.max() - columns.min() + 1)
            # the film keeps its aspect (the bundled default 14INX17IN portrait: 17/14 tall) and fills the width
            assert film_box[0] / film_box[1] == pytest.approx(17 / 14, rel=0.02)
            assert film_box[1] >= film.shape[1] - 2
            assert stored.pdfs[0].exists()


def sent_pixels(archive: Path, calling_ae_title: str) -> list[np.ndarray]:
    """The pixels of each Image Box N-SET that `calling_ae_title` sent printscp, in the order they came: the
    data sets its transcripts kept whole (transcripts.keep_pixels)."""
    found = []
    for path in sorted(archive.glob("transcripts/*/*/*/*.jsonl")):
        record = transcript.load(path)
        if record.association.calling_ae_title != calling_ae_title:
            continue
        for message in record.messages:
            if message.command == "N-SET-RQ" and message.sop_class_uid == uids.BASIC_GRAYSCALE_IMAGE_BOX:
                assert message.data_set_file is not None
                kept = dcmread(path.with_suffix(".data") / message.data_set_file)
                item = kept.BasicGrayscaleImageSequence[0]
                dtype = np.uint16 if item.BitsAllocated == 16 else np.uint8
                found.append(np.frombuffer(item.PixelData, dtype="<u2" if dtype is np.uint16 else dtype)
                             .reshape(item.Rows, item.Columns))  # fmt: skip
    return found


def assert_same_images(stored: list[np.ndarray], sent: list[np.ndarray]) -> None:
    """The same images, in any order (dcmprscp names its files at random)."""
    key = lambda pixels: hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()).hexdigest()  # noqa: E731
    assert sorted(map(key, stored)) == sorted(map(key, sent))


def twelve_bit_images(folder: Path) -> list[Path]:
    """Four 64x64 12-bit images, each a ramp of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint16)
    return [write_image(folder / f"image{n}.dcm", (ramp * (n + 3) * 9) % 4096) for n in range(4)]


@pytest.mark.parametrize("twelve_bit", [True, False], ids=["12-bit target", "8-bit target"])
def test_dcmprscu_prints_through_printscp_onto_dcmprscp(
    tmp_path: Path, start_server: Callable[..., RunningServer], twelve_bit: bool
) -> None:
    # the 8-bit target is dcmprscp set up as the SONY_UP preset says: 8 bits, its paper sizes and medium
    paper = {"film_sizes": ("75MMX100MM", "100MMX150MM"), "medium_types": ("PAPER",)}
    with start_dcmprscp(tmp_path / "dcmprscp", supports_12_bit=twelve_bit, **({} if twelve_bit else paper)) as target:
        # the node's preset says what dcmprscp supports (it does not answer Printer Configuration Retrieval)
        node = Node(*target.address, preset="" if twelve_bit else "SONY_UP")
        sections = {"relay": RelayConfig(retry_seconds=0.2), "transcripts": TranscriptConfig(keep_pixels=True)}
        server = start_server(nodes={target.ae_title: node}, sections=sections, relay_to=(target.ae_title,))
        modality = DcmtkPrintClient(tmp_path / "modality", *server.address)
        log = modality.print(twelve_bit_images(tmp_path / "images"), layout=(2, 2), film_size="14INX17IN")
        assert log.printed, log.summary()
        wait_until(lambda: any(r.finished for r in read_relays(server.archive)), 60, "the relay to dcmprscp done")
        (relay,) = read_relays(server.archive)
        state = relay.targets[target.ae_title]
        assert state.state == DONE, state
        sent = sent_pixels(server.archive, modality.calling_ae_title)
        assert len(sent) == 4 and all(pixels.max() > 255 for pixels in sent)  # the modality sent 12 bits
        stored = target.hardcopies()
        assert len(stored) == 4
        (stored_print,) = target.stored_prints()
        film_box = stored_print.FilmBoxContentSequence[0]
        assert film_box.ImageDisplayFormat == "STANDARD\\2,2"
        if twelve_bit:  # the same pixels, 12 bits, and film size
            assert_same_images([ds.pixel_array for ds in stored], sent)
            assert {int(ds.BitsStored) for ds in stored} == {12}
            assert film_box.FilmSizeID == "14INX17IN"
            assert not [m for m in state.mapped if "bit" in m]
            # dcmprscp refuses what it does not list naming no attribute: only those values were left out
            assert "Smoothing Type MEDIUM left out (refused, no attribute named)" in state.mapped, state.mapped
            assert not [m for m in state.mapped if m.startswith(("Magnification", "Border", "Trim"))], state.mapped
        else:  # SONY_UP takes 8 bits and its own paper sizes: mapped, and recorded
            assert {int(ds.BitsStored) for ds in stored} == {8}
            assert_same_images([ds.pixel_array for ds in stored], [pixels >> 4 for pixels in sent])
            assert any("8-bit" in m or "8 bits" in m for m in state.mapped), state.mapped
            assert any("Film Size ID 14INX17IN" in m for m in state.mapped), state.mapped
