"""Enumerated values and defined terms of PS3.3 C.13 (the print modules), value -> meaning.

Enumerated Values are closed sets (StrEnum). Defined Terms that a printer profile may extend
(Medium Type, Film Destination, Film Size ID, Smoothing Type) stay plain strings, checked against
the profile; the standard's terms for them are listed here.
"""

from __future__ import annotations

import re
from enum import StrEnum


class FilmOrientation(StrEnum):
    PORTRAIT = "PORTRAIT"  # vertical film position
    LANDSCAPE = "LANDSCAPE"  # horizontal film position


class PrintPriority(StrEnum):
    HIGH = "HIGH"
    MED = "MED"
    LOW = "LOW"


class MagnificationType(StrEnum):
    REPLICATE = "REPLICATE"
    BILINEAR = "BILINEAR"
    CUBIC = "CUBIC"
    NONE = "NONE"


class Polarity(StrEnum):
    NORMAL = "NORMAL"  # pixels printed as the Photometric Interpretation says
    REVERSE = "REVERSE"  # pixels printed with the opposite polarity


class Trim(StrEnum):
    YES = "YES"
    NO = "NO"


class RequestedResolutionID(StrEnum):
    STANDARD = "STANDARD"
    HIGH = "HIGH"


class RequestedDecimateCropBehavior(StrEnum):
    DECIMATE = "DECIMATE"  # magnify by a factor < 1 to fit
    CROP = "CROP"  # remove rows and columns around the centre to fit
    FAIL = "FAIL"  # neither: the image box N-SET fails (C603)


class PhotometricInterpretation(StrEnum):
    MONOCHROME1 = "MONOCHROME1"  # minimum pixel value is white
    MONOCHROME2 = "MONOCHROME2"  # minimum pixel value is black


class PresentationLUTShape(StrEnum):
    IDENTITY = "IDENTITY"  # input values are P-Values
    LIN_OD = "LIN OD"  # input values are linear optical density between Min and Max Density


class PrinterStatus(StrEnum):
    NORMAL = "NORMAL"
    WARNING = "WARNING"
    FAILURE = "FAILURE"


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    PRINTING = "PRINTING"
    DONE = "DONE"
    FAILURE = "FAILURE"


# Defined Terms (PS3.3 C.13.1, C.13.3); a profile may support a subset and add its own.
MEDIUM_TYPES = ("PAPER", "CLEAR FILM", "BLUE FILM", "MAMMO CLEAR FILM", "MAMMO BLUE FILM")
REFLECTIVE_MEDIUM_TYPES = frozenset({"PAPER"})
FILM_DESTINATION_PATTERN = re.compile(r"MAGAZINE|PROCESSOR|BIN_[1-9][0-9]*")

# Film Size ID -> (width, height) in millimetres, portrait. PS3.3 C.13.3: 10INX14IN "corresponds with
# 25.7CMX36.4CM"; A4 and A3 are the ISO sizes. Inch sizes are exact (1 in = 25.4 mm).
FILM_SIZES_MM: dict[str, tuple[float, float]] = {
    "8INX10IN": (203.2, 254.0),
    "8_5INX11IN": (215.9, 279.4),
    "10INX12IN": (254.0, 304.8),
    "10INX14IN": (257.0, 364.0),
    "11INX14IN": (279.4, 355.6),
    "11INX17IN": (279.4, 431.8),
    "14INX14IN": (355.6, 355.6),
    "14INX17IN": (355.6, 431.8),
    "24CMX24CM": (240.0, 240.0),
    "24CMX30CM": (240.0, 300.0),
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    # Not PS3.3 IDs: the prints of the Sony UP-D897 paper printer (presets/SONY_UP.toml), 1280 dots across
    # its 100 mm head by 960 or 1920 dots at 325 dpi (Gutenprint print-dyesub.c, sony_d89x_page). No Sony
    # statement names them: the IDs are printscp's, the sizes the printer's dots.
    "75MMX100MM": (75.03, 100.04),
    "100MMX150MM": (100.04, 150.06),
}
VENDOR_FILM_SIZES = frozenset({"75MMX100MM", "100MMX150MM"})  # above: printscp's, not the standard's

# PS3.3 C.13.9.1 Printer Status Info / Execution Status Info defined terms (non-size-specific part; the
# size-specific EMPTY/LOW terms are generated below).
PRINTER_STATUS_INFO_TERMS: frozenset[str] = frozenset(
    {
        "NORMAL",
        "BAD RECEIVE MGZ",
        "BAD SUPPLY MGZ",
        "CALIBRATING",
        "CALIBRATION ERR",
        "CHECK CHEMISTRY",
        "CHECK SORTER",
        "CHEMICALS EMPTY",
        "CHEMICALS LOW",
        "COVER OPEN",
        "ELEC CONFIG ERR",
        "ELEC DOWN",
        "ELEC SW ERROR",
        "EXPOSURE FAILURE",
        "FILM JAM",
        "FILM TRANSP ERR",
        "FINISHER EMPTY",
        "FINISHER ERROR",
        "FINISHER LOW",
        "NO RECEIVE MGZ",
        "NO RIBBON",
        "NO SUPPLY MGZ",
        "CHECK PRINTER",
        "CHECK PROC",
        "PRINTER DOWN",
        "PRINTER BUSY",
        "PRINT BUFF FULL",
        "PRINTER INIT",
        "PRINTER OFFLINE",
        "PROC DOWN",
        "PROC INIT",
        "PROC OVERFLOW FL",
        "PROC OVERFLOW HI",
        "QUEUED",
        "RECEIVER FULL",
        "REQ MED NOT INST",
        "REQ MED NOT AVAI",
        "RIBBON ERROR",
        "SUPPLY EMPTY",
        "SUPPLY LOW",
        "UNKNOWN",
        "INVALID PAGE DES",
        "INSUFFIC MEMORY",
    }
    | {
        f"{kind} {size}{medium}"
        for kind in ("EMPTY", "LOW")
        for size in ("8X10", "10X12", "10X14", "11X14", "14X14", "14X17", "24X24", "24X30")
        for medium in ("", " BLUE", " CLR", " PAPR")
    }
    | {"EMPTY A4 PAPR", "EMPTY A4 TRANS", "LOW A4 PAPR", "LOW A4 TRANS"}
)
