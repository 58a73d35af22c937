"""Image Box pixels -> P-Values -> optical density -> display value (PS3.4 H.2.1.2, PS3.14 chapter 7).

Every step is a function of the stored pixel value alone, so the whole pipeline of one image box is
a lookup table of 2^Bits Stored entries, applied to the image by indexing it with the pixels:

1. Polarity and Photometric Interpretation (PS3.3 C.13.5): MONOCHROME1 or REVERSE (not both)
   inverts, so that from here on a higher value means a lighter print.
2. Presentation LUT (PS3.4 H.4.9): IDENTITY takes the values as N-bit P-Values; a LUT table maps
   them to P-Values of its own bit depth; LIN OD takes them as optical density, linear between Max
   Density (lowest value) and Min Density (highest). H.4.9.1: the P-LUT does not alter the
   appearance given by Photometric Interpretation and Polarity, so the lowest value stays darkest.
   (DCMTK's LIN OD maps the lowest value to Min Density, inverting MONOCHROME2 images.)
   Without a P-LUT, Configuration Information picks a contrast curve (`contrast_curve`) applied to
   the P-Values; a P-LUT takes precedence over it (H.4.9.1).
3. P-Value -> density through the GSDF (PS3.14 7.2 film on a light box, 7.3 paper): the P-Values
   span the JND indices between the luminance of Max Density and of Min Density.
4. density -> display value: `display_values`, the one mapping used for images, borders and
   empty boxes alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from printscp.model.enums import PhotometricInterpretation, Polarity, PresentationLUTShape
from printscp.model.record import PresentationLUTSnapshot
from printscp.render import gsdf

Uint8Array = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Viewing:
    """How the film is looked at, and the printer's density range that bounds the display scale."""

    illumination: float  # L0, cd/m2
    reflected_ambient_light: float  # La, cd/m2 (no part in the reflective model)
    reflective: bool  # paper rather than film on a light box
    printer_min_density: float  # OD, the lightest the printer makes: display value 255
    printer_max_density: float  # OD, the darkest: display value 0

    def luminance(self, density: FloatArray | float) -> FloatArray:
        return gsdf.luminance_of_density(density, self.illumination, self.reflected_ambient_light, self.reflective)

    def density(self, luminance: FloatArray | float) -> FloatArray:
        return gsdf.density_of_luminance(luminance, self.illumination, self.reflected_ambient_light, self.reflective)


def density_of_p_values(
    p: FloatArray, p_max: int, min_density: float, max_density: float, viewing: Viewing
) -> FloatArray:
    """PS3.14 7.2/7.3: P-Value p of 0..p_max -> density, p = 0 at Max Density, p_max at Min Density.

    j(p) = jmin + p (jmax - jmin) / p_max with jmin = j(L(Dmax)), jmax = j(L(Dmin)); D = D(L(j(p))).
    """
    j_min, j_max = gsdf.jnd_index(viewing.luminance(np.array([max_density, min_density])))
    j = j_min + np.asarray(p, dtype=np.float64) * (j_max - j_min) / p_max
    return viewing.density(gsdf.luminance(j))


def display_values(density: FloatArray | float, viewing: Viewing) -> Uint8Array:
    """Optical density -> 8-bit display value, the one mapping used for images, borders and empty boxes.

    The density becomes the luminance a viewer sees (light box or paper, PS3.14 7.2/7.3); that
    luminance is placed on the GSDF's perceptually uniform JND scale between the darkest and the
    lightest luminance this printer can produce, and that position becomes 0..255. A display is
    roughly perceptually uniform in its code values, so equal steps in JNDs on the film stay
    equal-looking steps on screen, and a film printed at 3.00 OD on a 3.30 OD printer does not look
    black as ink.
    """
    j_dark, j_light = gsdf.jnd_index(
        viewing.luminance(np.array([viewing.printer_max_density, viewing.printer_min_density]))
    )
    position = (gsdf.jnd_index(viewing.luminance(density)) - j_dark) / (j_light - j_dark)
    return np.asarray(np.clip(np.rint(position * 255), 0, 255).astype(np.uint8))


def density_of_term(term: str, min_density: int, max_density: int) -> float:
    """Border / Empty Image Density (PS3.3 C.13.3): BLACK, WHITE or hundredths of OD -> OD."""
    if term == "BLACK":
        return max_density / 100
    if term == "WHITE":
        return min_density / 100
    return int(term) / 100


def contrast_curve(x: FloatArray, contrast: float) -> FloatArray:
    """Configuration Information curves: an S-curve on P-Values normalised to 0..1.

    Symmetric about mid-grey with slope `contrast` there; the ends stay fixed, so black and white
    are unchanged and the curve is monotonic. contrast 1 is the identity; above 1 more contrast in
    the mid-tones, below 1 less.
    """
    x = np.asarray(x, dtype=np.float64)
    low = 0.5 * (2 * x) ** contrast
    high = 1 - 0.5 * (2 * (1 - x)) ** contrast
    return np.asarray(np.where(x < 0.5, low, high))


def image_densities(
    bits_stored: int,
    photometric: PhotometricInterpretation,
    polarity: Polarity,
    plut: PresentationLUTSnapshot | None,
    contrast: float,
    min_density: int,
    max_density: int,
    viewing: Viewing,
) -> FloatArray:
    """Stored pixel value -> printed optical density, for every value of an image box (steps 1-3)."""
    top = (1 << bits_stored) - 1
    values = np.arange(top + 1, dtype=np.float64)
    invert = (photometric is PhotometricInterpretation.MONOCHROME1) != (polarity is Polarity.REVERSE)
    v = top - values if invert else values
    d_min, d_max = min_density / 100, max_density / 100
    if plut is not None and plut.presentation_lut_shape is PresentationLUTShape.LIN_OD:
        return np.asarray(d_max - (d_max - d_min) * v / top)
    if plut is not None and plut.lut_data is not None and plut.lut_descriptor is not None:
        p = plut.lut_data[v.astype(np.intp)].astype(np.float64)
        p_max = (1 << plut.lut_descriptor[2]) - 1
    elif plut is None and contrast != 1.0:
        p, p_max = contrast_curve(v / top, contrast) * top, top
    else:  # IDENTITY (PS3.4 H.2.1.2.3: the values already are P-Values)
        p, p_max = v, top
    return density_of_p_values(p, p_max, d_min, d_max, viewing)


def image_lut(
    bits_stored: int,
    photometric: PhotometricInterpretation,
    polarity: Polarity,
    plut: PresentationLUTSnapshot | None,
    contrast: float,
    min_density: int,
    max_density: int,
    viewing: Viewing,
) -> Uint8Array:
    """Stored pixel value -> display value for one image box."""
    return display_values(
        image_densities(bits_stored, photometric, polarity, plut, contrast, min_density, max_density, viewing), viewing
    )


def render_image(pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], lut: Uint8Array) -> Uint8Array:
    """The lookup table applied to every pixel. Indexing, not np.take: np.take first copies 16-bit
    pixels into a temporary of 64-bit indices (32 MiB for a 2048x2048 image); indexing does not, and is
    twice as fast."""
    return np.asarray(lut[pixels])
