"""Image Box pixels -> P-Values -> optical density -> display value (PS3.4 H.2.1.2).

Every step is a function of the stored pixel value alone, so the whole pipeline for one image box
is a lookup table of 2^Bits Stored entries, applied to the image with one `np.take`:

1. Polarity and Photometric Interpretation: MONOCHROME1 or REVERSE (not both) inverts, so that
   higher values print lighter (PS3.4 H.2.1.2; C.13.5 Polarity).
2. P-Value -> density: linear between Max Density (P-Value 0, darkest) and Min Density (highest
   P-Value, lightest).
3. density -> display value: see `display_values`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from printscp.model.enums import PhotometricInterpretation, Polarity
from printscp.render import gsdf

Uint8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Viewing:
    """How the film is looked at, and the printer's density range that bounds the display scale."""

    illumination: float  # L0, cd/m2
    reflected_ambient_light: float  # La, cd/m2 (ignored for reflective media)
    reflective: bool  # paper rather than film on a light box
    printer_min_density: float  # OD, the lightest the printer makes: display value 255
    printer_max_density: float  # OD, the darkest: display value 0


def display_values(density: npt.NDArray[np.float64] | float, viewing: Viewing) -> Uint8Array:
    """Optical density -> 8-bit display value, the one mapping used for images, borders and empty boxes.

    The density becomes the luminance a viewer sees (light box or paper, PS3.14 7.2/7.3); that
    luminance is placed on the GSDF's perceptually uniform JND scale between the darkest and the
    lightest luminance this printer can produce, and that position becomes 0..255. A display is
    roughly perceptually uniform in its code values, so equal steps in JNDs on the film stay
    equal-looking steps on screen, and a film printed at 3.00 OD on a 3.30 OD printer does not look
    black as ink.
    """
    lum = gsdf.luminance_of_density(density, viewing.illumination, viewing.reflected_ambient_light,
                                    viewing.reflective)
    j_dark, j_light = gsdf.jnd_index(gsdf.luminance_of_density(
        np.array([viewing.printer_max_density, viewing.printer_min_density]), viewing.illumination,
        viewing.reflected_ambient_light, viewing.reflective))
    position = (gsdf.jnd_index(lum) - j_dark) / (j_light - j_dark)
    return np.asarray(np.clip(np.rint(position * 255), 0, 255).astype(np.uint8))


def density_of_term(term: str, min_density: int, max_density: int) -> float:
    """Border / Empty Image Density (PS3.3 C.13.3): BLACK, WHITE or hundredths of OD -> OD."""
    if term == "BLACK":
        return max_density / 100
    if term == "WHITE":
        return min_density / 100
    return int(term) / 100


def image_lut(bits_stored: int, photometric: PhotometricInterpretation, polarity: Polarity,
              min_density: int, max_density: int, viewing: Viewing) -> Uint8Array:
    """Stored pixel value -> display value for one image box."""
    top = (1 << bits_stored) - 1
    values = np.arange(top + 1, dtype=np.float64)
    invert = (photometric is PhotometricInterpretation.MONOCHROME1) != (polarity is Polarity.REVERSE)
    p = top - values if invert else values
    d_min, d_max = min_density / 100, max_density / 100
    density = d_max - (d_max - d_min) * p / top
    return display_values(density, viewing)


def render_image(pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], lut: Uint8Array) -> Uint8Array:
    return np.asarray(np.take(lut, pixels))
