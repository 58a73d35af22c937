"""The bundled config.toml's printers, each called by its AE title, against DCMTK's stock print client profiles.

Issue 13's acceptance: with the bundled config, every job of `dcmprscu` with each stock profile of
/etc/dcmtk/printers.cfg (IHE full, IHE restricted, AGFA, KODAK, and an 8-bit basic client) succeeds on the
printer whose personality matches and produces a correct film; the same jobs against PRINTSCP (strict) get
the standard's statuses. DCMTK ships no 8-bit profile: "8-bit basic" is its IHERESTRICTED section with
Supports12Bit and SupportsPresentationLUT off, what an old modality sends to a paper printer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RunningServer
from dcmtk import DcmtkPrintClient, PrintLog, is_success_or_warning, split_pixels, stock_printer, write_image
from pypdf import PdfReader

from printscp.archive.film_index import FilmFilter
from printscp.archive.store import FilmArchive
from printscp.model.enums import FILM_SIZES_MM
from printscp.model.layout import MM_PER_POINT

pytestmark = pytest.mark.dcmtk

StartServer = Callable[..., RunningServer]
SESSION, FILM_BOX, ANNOTATION_BOX = "BasicFilmSessionSOPClass", "BasicFilmBoxSOPClass", "BasicAnnotationBoxSOPClass"


def eight_bit_basic() -> dict[str, str]:
    return {**stock_printer("IHERESTRICTED"), "Supports12Bit": "false", "SupportsPresentationLUT": "false"}


@dataclass(frozen=True)
class Job:
    """One stock profile, the bundled printer made for it, and what its client asks for."""

    profile: str
    printer: str  # the AE title it calls
    film_size: str  # what the film must come out as
    options: tuple[str, ...] = ()
    layout: tuple[int, int] = (2, 1)

    def settings(self) -> Mapping[str, str]:
        return eight_bit_basic() if self.profile == "8-bit basic" else stock_printer(self.profile)


JOBS = (
    Job("IHEFULL", "PRINTSCP", "14INX17IN", ("--filmsize", "14INX17IN", "--smoothing", "MEDIUM")),
    Job("IHERESTRICTED", "PRINTSCP", "8INX10IN", ("--filmsize", "8INX10IN")),
    # what a Drystar takes: smoothing 140 (sharp), AGFA's configuration strings, the P-LUT and light in the
    # Film Session (the profile's PresentationLUTinFilmSession), an annotation at position 2
    Job(
        "AGFA",
        "AGFA_DRYSTAR",
        "14INX17IN",
        (
            "--filmsize",
            "14INX17IN",
            "--smoothing",
            "140",
            "--configinfo",
            "PERCEPTION_LUT=KANAMORI",
            "--annotation",
            "DRYSTAR LABEL",
            "--illumination",
            "2000",
        ),
        (3, 2),
    ),
    # what a DryView takes: CURRENT film, smoothing 0-15, curve CS005, the label at position 0
    Job(
        "KODAK",
        "KODAK_DRYVIEW",
        "14INX17IN",
        ("--filmsize", "CURRENT", "--smoothing", "3", "--configinfo", "CS005", "--annotation", "DRYVIEW LABEL"),
    ),
    Job("8-bit basic", "SONY_UP", "100MMX150MM", ("--filmsize", "100MMX150MM"), (1, 1)),
)


def send(server: RunningServer, folder: Path, job: Job) -> PrintLog:
    client = DcmtkPrintClient(folder, server.host, server.port, called_ae_title=job.printer, printer=job.settings())
    images = [write_image(folder / f"image-{i}.dcm", split_pixels()) for i in range(job.layout[0] * job.layout[1])]
    return client.print(images, layout=job.layout, render_options=job.options)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The bundled config.toml as it is (its seven printers), on a free port, one archive for the module."""
    from conftest import bundled_config

    from printscp.net.server import PrintServer

    server = PrintServer(bundled_config(tmp_path_factory.mktemp("bundled") / "films"))
    host, port = server.start("127.0.0.1", 0)
    yield RunningServer(server, host, port)
    server.stop()


@pytest.mark.parametrize("job", JOBS, ids=[job.profile for job in JOBS])
def test_each_stock_profile_prints_on_its_printer(bundled: RunningServer, tmp_path: Path, job: Job) -> None:
    log = send(bundled, tmp_path, job)
    statuses = "\n".join(f"{kind} {sop} 0x{status:04X}" for kind, sop, status in log.statuses)
    assert log.printed and all(is_success_or_warning(status) for _, _, status in log.statuses), statuses
    if job.printer != "PRINTSCP":  # a vendor printer takes its vendor's values as they are: no warning at all
        assert all(status == 0 for _, _, status in log.statuses), statuses
    assert bundled.server.queue.wait_idle(60)
    index = FilmArchive(bundled.archive).index
    (film,) = [f for f in index.find_films(FilmFilter(printer=job.printer)) if f["folder"] and _ours(f, log)]
    assert film["film_size_id"] == job.film_size
    assert film["image_display_format"] == f"STANDARD\\{job.layout[0]},{job.layout[1]}"
    page = PdfReader(bundled.archive / film["folder"] / film["pdf"]).pages[0].mediabox
    width, height = FILM_SIZES_MM[job.film_size]
    # the film size, in the orientation the printer defaults to (the Sony's prints are landscape)
    assert sorted((float(page.width), float(page.height))) == pytest.approx(
        sorted((width / MM_PER_POINT, height / MM_PER_POINT))
    )


def _ours(film: dict[str, object], log: PrintLog) -> bool:
    """The film of this dcmprscu run: its Film Box UID is in the run's log."""
    return any(str(film["film_box_uid"]) in message.sop_instance for message in log.find("N-ACTION RQ"))


@pytest.mark.parametrize("job", JOBS[2:], ids=[job.profile for job in JOBS[2:]])
def test_the_same_jobs_get_the_standards_statuses_from_the_strict_printer(
    bundled: RunningServer, tmp_path: Path, job: Job
) -> None:
    log = send(bundled, tmp_path, Job(job.profile, "PRINTSCP", job.film_size, job.options, job.layout))
    if job.profile == "AGFA":  # pre-CP-173: presentation attributes in the Film Session
        assert log.one("N-CREATE RSP", SESSION).status == 0x0105, log.summary()
        assert not log.printed
    elif job.profile == "KODAK":  # vendor terms: 0116 and the defaults; position 0: 0106, DCMTK stops
        assert log.one("N-CREATE RSP", FILM_BOX).status == 0x0116, log.summary()
        assert log.one("N-SET RSP", ANNOTATION_BOX).status == 0x0106, log.summary()
        assert not log.printed
    else:  # a paper size the film printer does not have: 0116, printed on its default film
        assert log.one("N-CREATE RSP", FILM_BOX).status == 0x0116, log.summary()
        assert log.printed


def test_two_modalities_at_once_on_two_printers(bundled: RunningServer, tmp_path: Path) -> None:
    """A CT on the strict printer and an AGFA-configured modality on the Drystar, printing at the same time."""
    logs: dict[str, PrintLog] = {}
    start = threading.Barrier(2, timeout=60)

    def modality(job: Job) -> None:
        start.wait()
        logs[job.printer] = send(bundled, tmp_path / job.printer, job)

    threads = [threading.Thread(target=modality, args=(job,)) for job in (JOBS[0], JOBS[2])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(logs) == {"PRINTSCP", "AGFA_DRYSTAR"} and all(log.printed for log in logs.values())
    assert bundled.server.queue.wait_idle(60)
    films = FilmArchive(bundled.archive).index.find_films(FilmFilter())
    for printer, log in logs.items():
        (film,) = [f for f in films if _ours(f, log)]
        assert film["printer"] == printer
    assert all(f["printer"] for f in films)  # every film names its printer
