"""Relaying to real printers through printscp's routes (issue 20's acceptance): a modality prints to printscp,
whose printer relays to CUPS's ippeveprinter (a paper printer) or to DCMTK's dcmprscp (a film printer)."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer
from ippeve import ippeveprinter
from PIL import Image
from printscu import PrintSCU
from test_relay import print_film
from waiting import wait_until

from printscp.config import PaperPrinter, RelayConfig
from printscp.relay.queue import DONE, read_relays

A4_POINTS = (595.28, 841.89)


def page_size(pdf: Path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in info.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split()[2:5]
    return float(width), float(height)


def gray_page(pdf: Path) -> np.ndarray:
    """The page at 72 dpi, 1 pixel a point."""
    png = subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(pdf)], capture_output=True, check=True)
    return np.asarray(Image.open(io.BytesIO(png.stdout)).convert("L"))


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
            page = gray_page(document)
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
