"""OCR of the patient text a modality burnt into an image's corners, with Tesseract (its C API, in process).

Tesseract reads a whole 512x512 slice slowly and badly (the anatomy is noise to it), so only the corners are
read, where consoles write: the top and bottom CROP_ROWS of the rows, the left and right CROP_COLUMNS of the
columns. Each corner is made 8-bit, turned so that the text is the bright part (Tesseract wants dark text on
light, which is the last step), cut down to the box around its bright pixels (burnt-in text is at or near the
maximum value, above anything in air), scaled up with Lanczos so that small console text is some 28 px high,
and stretched so that its background is white and its brightest text black. Binarising it ourselves (Otsu-like
thresholds at 0.35-0.5 of the way from background to text) read fewer fields than leaving that to Tesseract.
A corner with nothing bright in it is not read at all. The corners that are left go to Tesseract stacked in
one image (one Tesseract run per image, not four), in page segmentation mode 6 (one block of text), with
OMP_THREAD_LIMIT=1. The numbers behind each choice: benchmarks/ocr.py.

Tesseract runs in the calling process (a render worker) through the C API of Debian's libtesseract, the
library the `tesseract` command is built on, with its model loaded once per process. The command, started
and loading its model for every image, took a median of 117 ms per image of benchmarks/ocr.py; in process
it takes 46 ms and reads the same text (tests/unit/test_ocr.py compares the two).

The pixels are P-values as a print SCU sends them (larger = brighter); light text on dark and dark text on
light are both read (the polarity of each corner is decided by its median). Odd input (tiny, empty, one pixel
wide, not 2-D) reads as "" and is logged at DEBUG, never raised. What was read is logged only at DEBUG: it is
patient data.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from functools import cache

import numpy as np
from PIL import Image

from printscp.identity.model import Identity
from printscp.identity.patterns import match

log = logging.getLogger(__name__)

CROP_ROWS = 0.18  # of the height, at the top and at the bottom
CROP_COLUMNS = 0.5  # of the width, at the left and at the right: the halves, so that long lines are whole
TEXT_HEIGHT = 28  # px: what the corners are scaled to, for text of about a 40th of the image height
MAX_SCALE = 4
BINARISE = False  # measured: Tesseract reads the contrast-stretched grey better than our thresholds
PSM = 6  # one uniform block of text per stacked corner
TIMEOUT = 15.0  # seconds for one Tesseract run
THRESHOLD = 0.5  # with BINARISE: text is brighter than this fraction of the way from background to brightest
BOX_THRESHOLD = 0.6  # what the box around the text is found with: a little stricter, to keep noise out
MIN_CONTRAST = 0.25  # of the full range: text must stand out this much from its corner's background
MIN_SIDE = 16  # px: smaller images carry no readable text
GAP = 24  # px of white between stacked corners

# Where consoles write what, as templates (printscp/identity/patterns.py), in order of trust: the labelled
# forms first, then a name alone on its line, which must be in DICOM (^) or comma form to be taken for one.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "Patient ID: {PatientID}",
    "Pat ID: {PatientID}",
    "PID: {PatientID}",
    "ID: {PatientID}",
    "ID# {PatientID}",
    "MRN: {PatientID}",
    "Name: {PatientName}",
    "Patient: {PatientName}",
    "{PatientName:^}",
    "{PatientName:,}",
    "DOB: {PatientBirthDate}",
    "D.O.B.: {PatientBirthDate}",
    "Birth: {PatientBirthDate}",
    "Birth date: {PatientBirthDate}",
    "Date of birth: {PatientBirthDate}",
    "born {PatientBirthDate}",
    "Sex: {PatientSex}",
    "Accession: {AccessionNumber}",
    "Accession number: {AccessionNumber}",
    "Acc: {AccessionNumber}",
    "Acc# {AccessionNumber}",
    "Acc no: {AccessionNumber}",
)


@cache
def available() -> bool:
    """Whether OCR can run: Tesseract is installed with its English model (checked once per process)."""
    return version() is not None


@cache
def version() -> str | None:
    """The Tesseract version ("5.3.0"), or None when OCR is not available.

    Asked of the `tesseract` command, which comes with libtesseract and the model (Debian's tesseract-ocr):
    `--list-langs` says whether the English model is where the library looks. The server asks once at
    start and does not read images; loading the library and its model would keep 25 MiB in it.
    """
    try:
        languages = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=TIMEOUT)
        said = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as error:  # not installed, or broken
        log.debug("no OCR: %s", error)
        return None
    words = said.stdout.split()  # "tesseract 5.3.0\n leptonica-1.82.0 ..."
    if "eng" not in languages.stdout.split() or len(words) < 2:
        log.debug("no OCR: tesseract lists %r", languages.stdout)
        return None
    return words[1]


def read_text(pixels: np.ndarray, bits_stored: int) -> str:
    """The text burnt into the corners of `pixels` (P-values of `bits_stored` bits), lines joined with "\\n".

    "" when there is none, when OCR is not available, or when the input is not an image (logged at DEBUG).
    """
    if not available():
        return ""
    try:
        stacked = corners_image(pixels, bits_stored)
        if stacked is None:
            return ""
        return _tesseract(stacked)
    except Exception as error:  # odd input or a failed Tesseract run: no text, never an error to the print job
        log.debug("OCR of a %s image failed: %r", getattr(pixels, "shape", "?"), error)
        return ""


def corners_image(pixels: np.ndarray, bits_stored: int) -> Image.Image | None:
    """The corners of `pixels` that have text, prepared for Tesseract and stacked; None when none has."""
    image = np.asarray(pixels)
    if image.ndim != 2 or min(image.shape) < MIN_SIDE or not np.issubdtype(image.dtype, np.number):
        log.debug("no OCR of an image of shape %s and type %s", image.shape, image.dtype)
        return None
    top = float((1 << min(max(int(bits_stored), 1), 16)) - 1)
    eight_bit = np.clip(np.nan_to_num(image.astype(np.float32)) * (255.0 / top), 0, 255)
    scale = min(MAX_SCALE, max(1.0, TEXT_HEIGHT * 40 / image.shape[0]))
    prepared = [p for crop in corners(eight_bit) if (p := prepare(crop, scale)) is not None]
    if not prepared:
        return None
    width = max(p.width for p in prepared) + 2 * GAP
    height = sum(p.height for p in prepared) + GAP * (len(prepared) + 1)
    stacked = Image.new("L", (width, height), 255)
    row = GAP
    for part in prepared:
        stacked.paste(part, (GAP, row))
        row += part.height + GAP
    return stacked


def corners(image: np.ndarray) -> list[np.ndarray]:
    """The four corner regions: top left, top right, bottom left, bottom right."""
    rows, columns = image.shape
    band = max(1, round(rows * CROP_ROWS))
    side = max(1, round(columns * CROP_COLUMNS))
    return [image[:band, :side], image[:band, -side:], image[-band:, :side], image[-band:, -side:]]


def prepare(crop: np.ndarray, scale: float) -> Image.Image | None:
    """One corner as black text on white, cut to its text and scaled by `scale`; None if it has no text."""
    if crop.size == 0:
        return None
    if float(np.median(crop)) > 127.5:  # a light background: dark text, made bright like the usual case
        crop = 255.0 - crop
    background = float(np.median(crop))
    brightest = float(np.percentile(crop, 99.9)) if crop.size > 1000 else float(crop.max())
    if brightest - background < MIN_CONTRAST * 255:
        return None
    threshold = background + THRESHOLD * (brightest - background)
    bright = crop > background + BOX_THRESHOLD * (brightest - background)
    text = bright & (_neighbour(bright, 0) | _neighbour(bright, 1))  # a lone bright pixel is noise, not a stroke
    rows = np.flatnonzero(text.any(axis=1))
    columns = np.flatnonzero(text.any(axis=0))
    if rows.size == 0:
        return None
    pad = 4
    box = crop[
        max(0, rows[0] - pad) : rows[-1] + 1 + pad,
        max(0, columns[0] - pad) : columns[-1] + 1 + pad,
    ]
    image = Image.fromarray(np.round(box).astype(np.uint8))
    if scale > 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    scaled = np.asarray(image, dtype=np.float32)
    if BINARISE:
        return Image.fromarray(np.where(scaled > threshold, 0, 255).astype(np.uint8))
    text_level = np.clip((scaled - background) / (brightest - background), 0, 1)  # 0 background .. 1 text
    return Image.fromarray(np.round(255 - text_level * 255).astype(np.uint8))


def _neighbour(mask: np.ndarray, axis: int) -> np.ndarray:
    """Whether the pixel before or after each pixel along `axis` is set."""
    before = np.zeros_like(mask)
    after = np.zeros_like(mask)
    if axis == 0:
        before[1:], after[:-1] = mask[:-1], mask[1:]
    else:
        before[:, 1:], after[:, :-1] = mask[:, :-1], mask[:, 1:]
    return np.asarray(before | after)


# Tesseract's English model has no caret: DOE^JANE comes back as DOE*JANE or DOE “JANE. Between two words of
# letters these marks are read as the caret they almost certainly were (never the apostrophe: O'BRIEN).
_CARET = re.compile(r"(?<=[^\W\d_]{2})\s?[*“”\"°~^]{1,2}\s?(?=[^\W\d_]{2})")


def repair(line: str) -> str:
    """`line` with what OCR makes of a caret between names turned back into one."""
    return _CARET.sub("^", line)


def warm() -> None:
    """Load this process's Tesseract now, when it is installed, instead of at the first image."""
    if available():
        _engine()


def _tesseract(image: Image.Image) -> str:
    engine = _engine()
    if engine is None:
        return ""
    started = time.perf_counter()
    text = engine.read(np.asarray(image.convert("L"), dtype=np.uint8))
    lines = [repair(line.strip()) for line in text.splitlines() if line.strip()]
    log.debug("OCR read %d lines in %.0f ms: %r", len(lines), (time.perf_counter() - started) * 1000, lines)
    return "\n".join(lines)


class _Tesseract:
    """One TessBaseAPI of libtesseract's C API (tesseract/capi.h), English.

    Not thread-safe: `read` holds a lock. Its model stays loaded for the life of the process.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._lock = threading.Lock()
        self._api = lib.TessBaseAPICreate()
        if not self._api or lib.TessBaseAPIInit3(self._api, None, b"eng") != 0:
            raise OSError("no English model (tesseract-ocr-eng) where Tesseract looks (TESSDATA_PREFIX)")
        lib.TessBaseAPISetVariable(self._api, b"debug_file", os.devnull.encode())  # its notes, not our stderr

    def read(self, gray: np.ndarray) -> str:
        """The text of an 8-bit image, as Tesseract's `tesseract - - --psm PSM` would print it; "" after
        TIMEOUT seconds."""
        lib = self._lib
        gray = np.ascontiguousarray(gray)
        with self._lock:
            lib.TessBaseAPISetPageSegMode(self._api, PSM)
            lib.TessBaseAPISetImage(self._api, gray.ctypes.data, gray.shape[1], gray.shape[0], 1, gray.strides[0])
            monitor = lib.TessMonitorCreate()
            try:
                lib.TessMonitorSetDeadlineMSecs(monitor, int(TIMEOUT * 1000))
                if lib.TessBaseAPIRecognize(self._api, monitor) != 0:
                    log.debug("Tesseract gave up on a %dx%d image", gray.shape[1], gray.shape[0])
                    return ""
                text = lib.TessBaseAPIGetUTF8Text(self._api)
                try:
                    return ctypes.string_at(text).decode("utf-8", "replace") if text else ""
                finally:
                    lib.TessDeleteText(text)
            finally:
                lib.TessMonitorDelete(monitor)
                lib.TessBaseAPIClear(self._api)

    def close(self) -> None:
        self._lib.TessBaseAPIEnd(self._api)
        self._lib.TessBaseAPIDelete(self._api)


_PROTOTYPES: dict[str, tuple[type | None, list[type]]] = {  # capi.h
    "TessBaseAPICreate": (ctypes.c_void_p, []),
    "TessBaseAPIInit3": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    "TessBaseAPISetVariable": (ctypes.c_bool, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
    "TessBaseAPISetPageSegMode": (None, [ctypes.c_void_p, ctypes.c_int]),
    "TessBaseAPISetImage": (
        None,
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int],
    ),
    "TessMonitorCreate": (ctypes.c_void_p, []),
    "TessMonitorSetDeadlineMSecs": (None, [ctypes.c_void_p, ctypes.c_int]),
    "TessMonitorDelete": (None, [ctypes.c_void_p]),
    "TessBaseAPIRecognize": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
    "TessBaseAPIGetUTF8Text": (ctypes.c_void_p, [ctypes.c_void_p]),
    "TessDeleteText": (None, [ctypes.c_void_p]),
    "TessBaseAPIClear": (None, [ctypes.c_void_p]),
    "TessBaseAPIEnd": (None, [ctypes.c_void_p]),
    "TessBaseAPIDelete": (None, [ctypes.c_void_p]),
}
_engines: dict[int, _Tesseract | None] = {}  # process id -> its engine: a forked child makes its own
_engines_lock = threading.Lock()


def _engine() -> _Tesseract | None:
    """This process's Tesseract, made on first use; None when libtesseract or its model is missing."""
    with _engines_lock:
        pid = os.getpid()
        if pid not in _engines:
            _engines[pid] = _load()
        return _engines[pid]


def _load() -> _Tesseract | None:
    # Tesseract's OpenMP threads spin on each other on a small image: 4x slower on two cores
    # (benchmarks/ocr.py). OpenMP reads the variable when the library loads; a value the user set is kept.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    name = ctypes.util.find_library("tesseract")
    try:
        if name is None:
            raise OSError("libtesseract not found")
        lib = ctypes.CDLL(name)
        for function, (restype, argtypes) in _PROTOTYPES.items():
            getattr(lib, function).restype = restype
            getattr(lib, function).argtypes = argtypes
        engine = _Tesseract(lib)
    except (OSError, AttributeError) as error:  # AttributeError: a libtesseract without this C API
        log.debug("no OCR: %s", error)
        return None
    atexit.register(engine.close)
    return engine


def identify(images: Sequence[tuple[np.ndarray, int]], templates: Sequence[str] = DEFAULT_TEMPLATES) -> Identity:
    """The identity burnt into `images` ((pixels, bits stored) pairs), read in order until a name and an ID are
    found: source "ocr", unconfirmed. Identity() when nothing is found or OCR is not available. Empty
    `templates`: DEFAULT_TEMPLATES. ValueError only for an invalid template (checked before any OCR)."""
    templates = tuple(templates) or DEFAULT_TEMPLATES
    match(templates, "")  # an invalid template fails here, whether or not there is any text
    texts: list[str] = []
    found = Identity()
    for pixels, bits_stored in images:
        text = read_text(pixels, bits_stored)
        if not text:
            continue
        texts.append(text)
        found = match(templates, "\n".join(texts))
        if found.patient_name and found.patient_id:
            break
    if not found.as_dicom():
        return Identity()
    return found.with_source("ocr", confirmed=False)
