"""Make the README's screenshots of the web console: docs/console.png and docs/film.png.

    python docs/screenshot.py            # from the repository root, with the test extras installed

Starts a real `printscp serve` on a temporary archive (its own config, web port and an admin whose random
password never leaves this process) and prints eight films on five printers as CT, MR and ultrasound
rooms would: with printscp's own print SCU, plus a Proposed Study Sequence so that the films carry
patient names (all of them invented). Sets one printer to WARNING, then photographs the console at
1440x900 and one film's page (as tall as its film needs) in Debian's Chromium through Playwright.
Everything it started is stopped and deleted at the end; a PNG over 400 kB is reduced to 256 colours.
"""

from __future__ import annotations

import copy
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright
from pydicom import examples
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from printscp.bench import scu

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
MAX_BYTES = 400_000
ADMIN = "admin"


@dataclass(frozen=True)
class Film:
    printer: str  # the Called AE Title: which of config.toml's printers prints it
    modality: str  # the Calling AE Title
    image_display_format: str
    patient: str
    patient_id: str
    label: str
    images: tuple[str, ...]  # names in images(): pydicom.examples and a few made here


FILMS = (
    Film(
        "KODAK_DRYVIEW",
        "CT_ROOM2",
        "STANDARD\\3,3",
        "OKAFOR^CHINEDU",
        "PID-30981",
        "CT SPINE WINDOWS",
        tuple(f"ct-window-{n}" for n in range(9)),
    ),
    Film("PRINTSCP", "MR_SUITE1", "STANDARD\\1,1", "MILLER^SARAH", "PID-20417", "MR ABDOMEN", ("overlay",)),
    Film(
        "PRINTSCP",
        "US_ROOM3",
        "STANDARD\\1,2",
        "GARCIA^LUCIA",
        "PID-40533",
        "US OB",
        ("palette_color", "ybr_color"),
    ),
    Film(
        "AGFA_DRYSTAR",
        "MR_SUITE1",
        "STANDARD\\2,2",
        "NAKAMURA^KENJI",
        "PID-11872",
        "MR ABDOMEN + HEAD",
        ("overlay", "mr", "mr-flipped", "overlay-flipped"),
    ),
    Film(
        "AGFA_DRYSTAR",
        "CT_ROOM2",
        "STANDARD\\2,1",
        "LINDQVIST^ERIK",
        "PID-27764",
        "CT SPINE",
        ("ct-window-2", "ct-window-6"),
    ),
    Film("SONY_UP", "US_ROOM3", "STANDARD\\1,1", "BERGER^ANNA", "PID-51190", "ECHO", ("ybr_color",)),
    Film(
        "FUJI_DRYPIX",
        "CT_ROOM2",
        "STANDARD\\3,2",
        "OKAFOR^CHINEDU",
        "PID-30981",
        "CT SPINE BONE",
        tuple(f"ct-window-{n}" for n in range(6)),
    ),
    Film("KODAK_DRYVIEW", "QA_PHANTOM", "STANDARD\\1,1", "QA^PHANTOM", "QA-0001", "WEEKLY QA", ("phantom",)),
)


def phantom(path: Path, size: int = 256) -> Path:
    """A QA-style phantom: a disc with inserts of five densities, on a step wedge."""
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    pixels = np.zeros((size, size))
    pixels[:, :] = np.floor((x + 0.5) * 8) / 8 * 600  # the wedge
    disc = x**2 + y**2 < 0.38**2
    pixels[disc] = 2000
    for n, density in enumerate((3800, 3000, 1200, 400, 0)):
        angle = 2 * np.pi * n / 5
        insert = (x - 0.22 * np.cos(angle)) ** 2 + (y - 0.22 * np.sin(angle)) ** 2 < 0.07**2
        pixels[insert] = density
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.Modality, dataset.SamplesPerPixel, dataset.PhotometricInterpretation = "OT", 1, "MONOCHROME2"
    dataset.Rows = dataset.Columns = size
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
    dataset.PixelData = pixels.astype("<u2").tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


# (Window Center, Window Width) in HU for CT_small: from bone to lung, a window series as CT prints it.
CT_WINDOWS = (
    (400, 1800),
    (300, 1500),
    (200, 1000),
    (100, 700),
    (60, 500),
    (40, 400),
    (40, 250),
    (30, 150),
    (-600, 1500),
)


def images(folder: Path) -> dict[str, Path]:
    """The source images by name: pydicom.examples' own, windowed and mirrored copies of them, a phantom."""
    found = {name: Path(examples.get_path(name)) for name in ("ct", "mr", "overlay", "palette_color", "ybr_color")}
    for n, (center, width) in enumerate(CT_WINDOWS):
        found[f"ct-window-{n}"] = derived(
            examples.ct, folder / f"ct-window-{n}.dcm", WindowCenter=center, WindowWidth=width
        )
    for name in ("mr", "overlay"):
        source = getattr(examples, name)
        mirrored = np.ascontiguousarray(np.fliplr(source.pixel_array)).astype(source.pixel_array.dtype)
        found[f"{name}-flipped"] = derived(source, folder / f"{name}-flipped.dcm", PixelData=mirrored.tobytes())
    found["phantom"] = phantom(folder / "phantom.dcm")
    return found


def derived(source: Dataset, path: Path, **changes: object) -> Path:
    """A copy of `source` (uncompressed) as a new instance, with `changes` to its attributes."""
    dataset = copy.deepcopy(source)
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], int, str, str]:
    """`printscp serve` on a fresh config, archive and admin; returns it, its DICOM port, URL and password."""
    config = folder / "config.toml"
    config.write_text((REPO / "config.toml").read_text())
    password = secrets.token_urlsafe(18)
    subprocess.run(
        [sys.executable, "-m", "printscp", "user", "add", ADMIN, "--role", "admin", "--password-stdin"]
        + ["--config", str(config)],
        input=f"{password}\n",
        text=True,
        capture_output=True,
        check=True,
        cwd=REPO,
    )
    log = folder / "serve.log"
    command = [sys.executable, "-m", "printscp", "serve", "--config", str(config), "--host", "127.0.0.1"]
    command += ["--port", "0", "--web-port", "0", "--archive", str(folder / "films")]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, cwd=REPO)
    deadline = time.monotonic() + 60
    while True:
        text = log.read_text()
        dicom = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        web = re.search(r"web console on (http://127\.0\.0\.1:\d+)", text)
        if dicom and web:
            return process, int(dicom.group(1)), web.group(1), password
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"printscp serve did not start:\n{text}")
        time.sleep(0.05)


def print_films(folder: Path, port: int) -> None:
    sources = images(folder)
    for film in FILMS:
        options = scu.PrintOptions(
            images=tuple(sources[name] for name in film.images),
            port=port,
            called_ae=film.printer,
            calling_ae=film.modality,
            image_display_format=film.image_display_format,
            film_session_label=film.label,
            patient_name=film.patient,
            patient_id=film.patient_id,
        )
        if scu.PrintRun(options, out=lambda line: None).run() != 0:
            raise SystemExit(f"printing {film.label} on {film.printer} failed")


def wait_for_films(url: str, auth: tuple[str, str]) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/api/films", auth=auth).json()["total"] < len(FILMS):
        if time.monotonic() > deadline:
            raise SystemExit("the films were not all printed within a minute")
        time.sleep(0.1)


def images_loaded(page: Page) -> None:
    page.wait_for_function("() => [...document.images].every(image => image.complete && image.naturalWidth > 0)")


def save(page: Page, path: Path, full_page: bool = False) -> None:
    """A PNG screenshot; reduced to a 256-colour palette if it would be over MAX_BYTES."""
    page.screenshot(path=path, full_page=full_page)
    if path.stat().st_size > MAX_BYTES:
        with Image.open(path) as image:
            image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.relative_to(REPO)}: {path.stat().st_size // 1000} kB")


def photograph(url: str, password: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT, base_url=url)
            page.goto("/")
            page.fill("#username", ADMIN)
            page.fill("#password", password)
            page.click("#login")
            expect(page.locator("#live")).to_have_class(re.compile(r"\bconnected\b"))
            expect(page.locator("#films a.film")).to_have_count(len(FILMS))
            expect(page.locator("#transcripts tbody tr")).to_have_count(len(FILMS))
            images_loaded(page)
            page.mouse.move(0, 0)
            save(page, DOCS / "console.png")

            page.locator("#films a.film", has_text="NAKAMURA").click()
            expect(page.locator("#metadata tr")).not_to_have_count(0)
            images_loaded(page)
            # The film is fitted to the page's width: make the window tall enough to show all of it.
            height = page.evaluate("document.querySelector('.lightbox').scrollHeight") + 80
            page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
            save(page, DOCS / "film.png")
        finally:
            browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="printscp-screenshot-") as temporary:
        folder = Path(temporary)
        process, port, url, password = start_server(folder)
        try:
            print_films(folder, port)
            wait_for_films(url, (ADMIN, password))
            warning = {"printer_status": "WARNING", "printer_status_info": "SUPPLY LOW"}
            httpx.put(
                f"{url}/api/printers/AGFA_DRYSTAR/status", json=warning, auth=(ADMIN, password)
            ).raise_for_status()
            photograph(url, password)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


if __name__ == "__main__":
    main()
