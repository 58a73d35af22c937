"""Films printed on paper: print_on_paper against a real IPP printer (CUPS's ippeveprinter, tests/ippeve.py).

The films are printscp's own: the golden films (tests/golden/films.py: two 8x10in portrait, one A4
landscape) rendered by render_job, as the print queue renders them.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from ippeve import available, ippeveprinter
from PIL import Image

from printscp.config import PaperPrinter
from printscp.model.enums import PrintPriority
from printscp.model.record import PrintRequest
from printscp.relay.paper import print_on_paper
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import films  # noqa: E402

pytestmark = pytest.mark.skipif(not available(), reason="ippeveprinter, ipptool or dbus-daemon not installed")

A4 = "iso_a4_210x297mm"


@pytest.fixture(scope="module")
def film_pdfs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    snapshots = films.films()
    names = sorted(snapshots)
    request = PrintRequest(
        tuple(snapshots[name] for name in names),
        1,
        PrintPriority.MED,
        "",
        "CT_AE",
        "PRINTSCP",
        datetime.now().astimezone(),
        None,
    )
    folder = tmp_path_factory.mktemp("films")
    job = render_job(request, films.PROFILE, DocumentInfo("LABEL", "CT_AE", "PRINTSCP"))
    paths = []
    for name, film in zip(names, job.films, strict=True):
        path = folder / f"{name}.pdf"
        path.write_bytes(film.pdf)
        paths.append(path)
    return paths


def page_size(pdf: Path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in info.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split()[2:5]
    return float(width), float(height)


def rendered(pdf: Path) -> np.ndarray:
    """The page in gray at 72 dpi (1 pixel a point)."""
    png = subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(pdf)], capture_output=True, check=True)
    return np.asarray(Image.open(io.BytesIO(png.stdout)).convert("L"))


def test_each_film_is_one_a4_pdf_on_the_printer(tmp_path: Path, film_pdfs: list[Path]) -> None:
    with ippeveprinter(tmp_path / "printer") as printer:
        started = time.monotonic()
        delivery = print_on_paper(film_pdfs, "office", PaperPrinter(printer.uri, A4, "fit"), "printscp job 1")
        seconds = time.monotonic() - started
        print(f"\npaper relay: {len(film_pdfs)} films in {seconds:.2f} s ({seconds / len(film_pdfs):.2f} s per film)")
        assert delivery.delivered, delivery
        assert delivery.films_printed == (0, 1, 2)
        assert (delivery.printer_status, delivery.printer_status_info) == ("NORMAL", "NORMAL")
        assert delivery.association_id.startswith("ipp job ")
        documents = printer.documents()
        assert len(documents) == len(film_pdfs)
        for document in documents:
            assert page_size(document) == pytest.approx((595.28, 841.89), abs=1)
            # the whole film is on the sheet: its edges (5 mm margin, 14 px at 72 dpi) are blank paper
            pixels = rendered(document)
            assert pixels.shape == (842, 596)
            edges = np.concatenate(
                [pixels[:12].ravel(), pixels[-12:].ravel(), pixels[:, :12].ravel(), pixels[:, -12:].ravel()]
            )
            assert edges.min() == 255, document.name
            assert (pixels[14:-14, 14:-14] < 255).mean() > 0.5, document.name  # and it fills the sheet


def test_skipped_films_are_not_sent(tmp_path: Path, film_pdfs: list[Path]) -> None:
    with ippeveprinter(tmp_path / "printer") as printer:
        paper = PaperPrinter(printer.uri, A4, "actual")
        delivery = print_on_paper(film_pdfs, "office", paper, "printscp job 2", skip=frozenset({0, 2}))
        assert delivery.delivered and delivery.films_printed == (1,)
        assert len(printer.documents()) == 1


def test_a_printer_that_is_not_there(tmp_path: Path, film_pdfs: list[Path]) -> None:
    with ippeveprinter(tmp_path / "printer") as printer:
        uri = printer.uri
    delivery = print_on_paper(film_pdfs, "office", PaperPrinter(uri, A4, "fit"), "printscp job 3")
    assert not delivery.delivered and delivery.films_printed == () and delivery.status is None
    assert delivery.error_comment == f"office: cannot connect to {uri}"
    assert delivery.printer_status == ""


def test_a_job_the_printer_aborts(tmp_path: Path, film_pdfs: list[Path]) -> None:
    """The printer jams on the second film: the attempt fails naming the job, its reasons and the printer's,
    with the first film printed and the third not sent. (ippeveprinter is idle again once its command
    exited, and says its reasons with the -report suffix then, so its Printer Status stays NORMAL: the
    mapping of -error and -warning reasons is tested in tests/unit/test_relay_paper.py.)"""
    jam = tmp_path / "jam.sh"
    count = tmp_path / "count"
    jam.write_text(
        f'#!/bin/sh\necho x >> "{count}"\n'
        f'if [ "$(wc -l < "{count}")" -ge 2 ]; then echo "STATE: +media-jam" >&2; exit 1; fi\n'
    )
    jam.chmod(0o755)
    with ippeveprinter(tmp_path / "printer", command=str(jam)) as printer:
        paper = PaperPrinter(printer.uri, A4, "fit")
        delivery = print_on_paper(film_pdfs, "office", paper, "printscp job 4")
        assert not delivery.delivered and delivery.films_printed == (0,)
        assert delivery.error_comment == "office: job 2 aborted: aborted-by-system; printer idle (media-jam-report)"
        assert delivery.association_id == "ipp job 1,2"
        assert len(printer.documents()) == 2


def test_a_job_not_done_in_time_is_canceled(tmp_path: Path, film_pdfs: list[Path]) -> None:
    """A printer that never finishes: the attempt gives up after `timeout` and cancels the job, so that the
    retry does not print the film twice."""
    release = tmp_path / "release"
    stuck = tmp_path / "stuck.sh"
    stuck.write_text(f'#!/bin/sh\nwhile [ ! -e "{release}" ]; do sleep 0.05; done\n')
    stuck.chmod(0o755)
    try:
        with ippeveprinter(tmp_path / "printer", command=str(stuck)) as printer:
            paper = PaperPrinter(printer.uri, A4, "fit")
            delivery = print_on_paper(film_pdfs[:1], "office", paper, "printscp job 5", timeout=1.0)
            assert not delivery.delivered and delivery.films_printed == ()
            assert delivery.error_comment.startswith("office: job 1 still processing after ")
            assert ", canceled" in delivery.error_comment
    finally:
        release.touch()
