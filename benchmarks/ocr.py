#!/usr/bin/env python3
"""How long OCR of burnt-in patient text takes per image, and how many fields it reads right, per setting.

The images: 4 identities (caret names, labelled IDs with letters and '-', DOB in ISO and DD.MM.YYYY forms,
accession numbers) x 6 renderings: 512x512 12-bit at 10, 12 and 14 px text (light on dark and dark on
light), 512x512 16-bit at 11 px, 256x256 8-bit at 8 and 9 px (tests/burnt_in.py). A field is right when
`match(DEFAULT_TEMPLATES, read_text(...))` gives exactly the value that was drawn (4 fields per image).

For the settings printscp uses (printscp/identity/ocr.py), and then each one changed alone: crop size,
the height the text is scaled to, page segmentation mode, our own binarisation instead of grey, one
Tesseract run per corner instead of one for the stacked corners, and Tesseract's OpenMP threads left at
their default (no limit: one per CPU). Wall time per image, the median over --repeat runs.

    .venv/bin/python benchmarks/ocr.py [--repeat N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from burnt_in import burnt_in_image  # noqa: E402

from printscp.identity import ocr  # noqa: E402
from printscp.identity.patterns import match  # noqa: E402

PEOPLE = [
    ("DOE^JANE", "12345678", "1970-01-31", "19700131", "A1234"),
    ("SMITH^JOHN", "PID0042917", "02.12.1948", "19481202", "ACC77120"),
    ("NGUYEN^VAN AN", "H-20381", "2001-07-15", "20010715", "24X00917"),
    ("OBRIEN^MARY", "99887766", "09.03.1985", "19850309", "R551203"),
]
RENDERINGS = [  # size, bits stored, font px, dark text
    (512, 12, 12, False),
    (512, 12, 10, True),
    (512, 12, 14, False),
    (256, 8, 8, False),
    (256, 8, 9, True),
    (512, 16, 11, False),
]


def cases() -> list[tuple[np.ndarray, int, dict[str, str], str]]:
    made = []
    for number, (name, patient_id, dob, expected_dob, accession) in enumerate(PEOPLE):
        corners = {
            "top_left": [name, f"ID: {patient_id}", f"DOB: {dob}"],
            "top_right": [f"ACC: {accession}", "CT ABDOMEN"],
            "bottom_left": ["kV 120  mAs 250"],
            "bottom_right": ["2024-05-17 10:42", "Se 3 Im 45"],
        }
        want = {
            "patient_name": name,
            "patient_id": patient_id,
            "patient_birth_date": expected_dob,
            "accession_number": accession,
        }
        for variant, (size, bits, font_px, dark) in enumerate(RENDERINGS):
            pixels = burnt_in_image(corners, size, bits, font_px, dark, seed=number * 10 + variant)
            made.append((pixels, bits, want, f"{size}/{bits}-bit/{font_px}px"))
    return made


@contextmanager
def setting(**changes: Any) -> Iterator[None]:
    """Module settings of printscp.identity.ocr (and OMP_THREAD_LIMIT, else 1) changed for a while."""
    saved = {name: getattr(ocr, name) for name in changes if name != "OMP_THREAD_LIMIT"}
    saved_env = os.environ.get("OMP_THREAD_LIMIT")
    try:
        for name, value in changes.items():
            if name == "OMP_THREAD_LIMIT":  # no limit; ocr keeps a value that is set, so set a high one
                os.environ["OMP_THREAD_LIMIT"] = str(value)
            else:
                setattr(ocr, name, value)
        if "OMP_THREAD_LIMIT" not in changes:
            os.environ["OMP_THREAD_LIMIT"] = "1"
        yield
    finally:
        for name, value in saved.items():
            setattr(ocr, name, value)
        if saved_env is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = saved_env


def per_corner(pixels: np.ndarray, bits: int) -> str:
    """One Tesseract run per corner with text (what the stacked image replaces)."""
    image = np.asarray(pixels).astype(np.float32) * (255.0 / ((1 << bits) - 1))
    scale = min(ocr.MAX_SCALE, max(1.0, ocr.TEXT_HEIGHT * 40 / image.shape[0]))
    texts = [ocr._tesseract(p) for crop in ocr.corners(image) if (p := ocr.prepare(crop, scale)) is not None]
    return "\n".join(t for t in texts if t)


def measure(read: Callable[[np.ndarray, int], str], images: list[Any], repeat: int) -> tuple[float, int, int]:
    times: list[float] = []
    right = total = 0
    for run in range(repeat):
        started = time.perf_counter()
        texts = [read(pixels, bits) for pixels, bits, _, _ in images]
        times.append((time.perf_counter() - started) / len(images))
        if run == 0:
            for text, (_, _, want, _) in zip(texts, images, strict=True):
                found = match(ocr.DEFAULT_TEMPLATES, text)
                right += sum(getattr(found, field) == value for field, value in want.items())
                total += len(want)
    return statistics.median(times), right, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assert ocr.available(), "install Tesseract: apt-get install tesseract-ocr"
    images = cases()
    print(f"Tesseract {ocr.version()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{len(images)} images ({len(PEOPLE)} identities x {len(RENDERINGS)} renderings), median of {args.repeat}")
    chosen = (
        f"crop {ocr.CROP_ROWS:.0%} rows x {ocr.CROP_COLUMNS:.0%} columns, text scaled to {ocr.TEXT_HEIGHT} px, "
        f"psm {ocr.PSM}, {'binarised' if ocr.BINARISE else 'grey'}, corners stacked, OMP_THREAD_LIMIT=1"
    )
    variants: list[tuple[str, dict[str, Any], Callable[[np.ndarray, int], str]]] = [
        (f"printscp: {chosen}", {}, ocr.read_text),
        ("crop 15% rows", {"CROP_ROWS": 0.15}, ocr.read_text),
        ("crop 25% rows", {"CROP_ROWS": 0.25}, ocr.read_text),
        ("crop 45% columns", {"CROP_COLUMNS": 0.45}, ocr.read_text),
        ("text scaled to 20 px", {"TEXT_HEIGHT": 20}, ocr.read_text),
        ("text scaled to 36 px", {"TEXT_HEIGHT": 36}, ocr.read_text),
        ("text scaled to 44 px", {"TEXT_HEIGHT": 44}, ocr.read_text),
        ("psm 4 (one column)", {"PSM": 4}, ocr.read_text),
        ("psm 11 (sparse text)", {"PSM": 11}, ocr.read_text),
        ("binarised at 0.5", {"BINARISE": True, "THRESHOLD": 0.5}, ocr.read_text),
        ("binarised at 0.4", {"BINARISE": True, "THRESHOLD": 0.4}, ocr.read_text),
        ("one Tesseract run per corner", {}, per_corner),
        ("OMP_THREAD_LIMIT=1024 (Tesseract's threads unlimited)", {"OMP_THREAD_LIMIT": 1024}, ocr.read_text),
    ]
    print(f"{'setting':<100} {'ms/image':>9} {'fields right':>13}")
    for label, changes, read in variants:
        with setting(**changes):
            if "OMP_THREAD_LIMIT" in changes:  # OpenMP reads it when libtesseract loads: a fresh process
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
                    seconds, right, total = fresh.submit(measure, read, images, args.repeat).result()
            else:
                seconds, right, total = measure(read, images, args.repeat)
        print(f"{label:<100} {seconds * 1000:9.0f} {right:>6}/{total} {right / total:>5.0%}", flush=True)


if __name__ == "__main__":
    main()
