"""The Grayscale Standard Display Function of PS3.14 chapter 7 and the hardcopy luminance model.

L(j) maps a JND index j (1..1023) to luminance in cd/m2; j(L) is its inverse. Film on a light box
shows L = La + L0 * 10^-D (transmissive, PS3.14 7.2); paper shows L = L0 * 10^-D (reflective, 7.3).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# PS3.14 Table 7-1 (coefficients identical in DCMTK digsdfn.cc)
_A, _B, _C, _D, _E = -1.3011877, -2.5840191e-2, 8.0242636e-2, -1.0320229e-1, 1.3646699e-1
_F, _G, _H, _K, _M = 2.8745620e-2, -2.5468404e-2, -3.1978977e-3, 1.2992634e-4, 1.3635334e-3
_INVERSE = (71.498068, 94.593053, 41.912053, 9.8247004, 0.28175407, -1.1878455, -0.18014349, 0.14710899, -0.017046845)


def luminance(j: FloatArray | float) -> FloatArray:
    """L(j), cd/m2, for JND index j."""
    x = np.log(np.asarray(j, dtype=np.float64))
    numerator = _A + _C * x + _E * x**2 + _G * x**3 + _M * x**4
    denominator = 1 + _B * x + _D * x**2 + _F * x**3 + _H * x**4 + _K * x**5
    return np.asarray(10.0 ** (numerator / denominator))


def jnd_index(lum: FloatArray | float) -> FloatArray:
    """j(L) for luminance L in cd/m2."""
    x = np.log10(np.asarray(lum, dtype=np.float64))
    return np.asarray(sum(c * x**n for n, c in enumerate(_INVERSE)))


def luminance_of_density(density: FloatArray | float, l0: float, la: float, reflective: bool) -> FloatArray:
    """What a viewer sees: L = La + L0 10^-D on a light box, L = L0 10^-D on paper (PS3.14 7.2, 7.3)."""
    lum = l0 * 10.0 ** (-np.asarray(density, dtype=np.float64))
    return np.asarray(lum if reflective else lum + la)


def density_of_luminance(lum: FloatArray | float, l0: float, la: float, reflective: bool) -> FloatArray:
    lum = np.asarray(lum, dtype=np.float64)
    return np.asarray(-np.log10((lum if reflective else lum - la) / l0))
