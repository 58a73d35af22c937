"""An independent scalar implementation of PS3.14 chapter 7, to check the renderer's grey levels.

Written from the digest's formulas (section 7.4), not from printscp's code: the tests compare what
the renderer wrote into the PNG with what these formulas say it should be.
"""

from __future__ import annotations

import math

_NUMERATOR = (-1.3011877, 8.0242636e-2, 1.3646699e-1, -2.5468404e-2, 1.3635334e-3)  # a, c, e, g, m
_DENOMINATOR = (1.0, -2.5840191e-2, -1.0320229e-1, 2.8745620e-2, -3.1978977e-3, 1.2992634e-4)  # 1, b, d, f, h, k
_INVERSE = (71.498068, 94.593053, 41.912053, 9.8247004, 0.28175407, -1.1878455, -0.18014349, 0.14710899, -0.017046845)


def luminance_of_jnd(j: float) -> float:
    x = math.log(j)
    numerator = sum(c * x**n for n, c in enumerate(_NUMERATOR))
    denominator = sum(c * x**n for n, c in enumerate(_DENOMINATOR))
    return 10 ** (numerator / denominator)


def jnd_of_luminance(luminance: float) -> float:
    x = math.log10(luminance)
    return sum(c * x**n for n, c in enumerate(_INVERSE))


def luminance_of_density(density: float, l0: float, la: float, reflective: bool) -> float:
    return l0 * 10**-density + (0.0 if reflective else la)


def density_of_p_value(
    p: float, p_max: int, d_min: float, d_max: float, l0: float = 2000, la: float = 10, reflective: bool = False
) -> float:
    j_min = jnd_of_luminance(luminance_of_density(d_max, l0, la, reflective))
    j_max = jnd_of_luminance(luminance_of_density(d_min, l0, la, reflective))
    luminance = luminance_of_jnd(j_min + p * (j_max - j_min) / p_max)
    return -math.log10((luminance - (0.0 if reflective else la)) / l0)


def display_value(
    density: float,
    printer_d_min: float = 0.10,
    printer_d_max: float = 3.30,
    l0: float = 2000,
    la: float = 10,
    reflective: bool = False,
) -> int:
    """printscp's documented display mapping: position on the JND scale between the printer's extremes."""

    def j(d: float) -> float:
        return jnd_of_luminance(luminance_of_density(d, l0, la, reflective))

    position = (j(density) - j(printer_d_max)) / (j(printer_d_min) - j(printer_d_max))
    return max(0, min(255, round(position * 255)))
