"""Synthetic CT slices, windowed to 12-bit P-Values the way a modality sends them to a printer.

A chest-like phantom: air around an elliptical body with a fat layer, two lungs, a heart, a spine and
ribs, with noise; the lungs and heart change along z so every slice differs. Deterministic.
"""

from __future__ import annotations

import numpy as np


def ct_slice(size: int = 512, z: float = 0.5, seed: int = 0) -> np.ndarray:
    """One slice in Hounsfield units, `z` from 0 (top of the chest) to 1 (bottom)."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1  # -1..1, y down

    def ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return np.asarray(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1)

    hu = np.full((size, size), -1000.0)  # air
    hu[ellipse(0, 0.05, 0.86, 0.66)] = -100  # fat
    hu[ellipse(0, 0.05, 0.80, 0.60)] = 40  # soft tissue
    lung = 0.22 + 0.06 * np.sin(np.pi * z)
    hu[ellipse(-0.38, -0.02, lung, 0.36)] = -850
    hu[ellipse(0.38, -0.02, lung, 0.36)] = -850
    hu[ellipse(0.05, 0.10, 0.18 + 0.06 * z, 0.16 + 0.05 * z)] = 60  # heart
    hu[ellipse(0.0, 0.50, 0.10, 0.09)] = 700  # vertebra
    hu[ellipse(0.0, 0.50, 0.05, 0.045)] = 250  # spinal canal
    for angle in np.linspace(0.5, 2.7, 6):  # ribs along the body wall, both sides
        for side in (-1, 1):
            hu[ellipse(side * 0.73 * np.sin(angle), 0.05 - 0.53 * np.cos(angle), 0.035, 0.03)] = 500
    rng = np.random.default_rng(seed)
    inside = hu > -950
    hu[inside] += rng.normal(0, 12, int(inside.sum()))
    return hu


def windowed(hu: np.ndarray, center: float = 40, width: float = 400, bits: int = 12) -> np.ndarray:
    """Window center/width to P-Values of `bits` bits (the modality's VOI, burnt in before printing)."""
    top = (1 << bits) - 1
    values = np.clip((hu - (center - width / 2)) / width, 0, 1) * top
    return np.asarray(np.round(values).astype(np.uint16 if bits > 8 else np.uint8))


def ct_series(
    count: int = 20, size: int = 512, center: float = 40, width: float = 400, bits: int = 12
) -> list[np.ndarray]:
    """`count` consecutive slices, windowed."""
    return [windowed(ct_slice(size, (n + 0.5) / count, seed=n), center, width, bits) for n in range(count)]


def chest_radiograph(rows: int = 1024, columns: int = 860, bits: int = 12) -> np.ndarray:
    """A PA chest radiograph as a CR sends it: MONOCHROME1, so low values print white (bone, heart)."""
    y, x = (np.mgrid[0:rows, 0:columns] + 0.5) / np.array([rows, columns])[:, None, None] * 2 - 1
    attenuation = np.zeros((rows, columns))
    body = (x / 0.92) ** 2 + ((y - 0.05) / 1.1) ** 2 <= 1
    attenuation[body] = 0.55
    for side in (-1, 1):  # lungs: little attenuation
        lung = ((x - side * 0.42) / 0.33) ** 2 + ((y + 0.05) / 0.62) ** 2 <= 1
        attenuation[lung] = 0.18
    heart = ((x - 0.08) / 0.30) ** 2 + ((y - 0.30) / 0.30) ** 2 <= 1
    attenuation[heart] = 0.62
    spine = np.abs(x) < 0.07
    attenuation[spine & body] += 0.25
    for level in np.linspace(-0.55, 0.45, 8):  # ribs: arcs across each lung
        for side in (-1, 1):
            arc = np.abs(y - level - 0.12 * (x * side - 0.4) ** 2) < 0.025
            attenuation[arc & body & (x * side > 0.05)] += 0.15
    attenuation += np.random.default_rng(7).normal(0, 0.01, attenuation.shape)
    top = (1 << bits) - 1
    # MONOCHROME1: the minimum value prints white, so the more the body attenuates, the lower the value:
    # bone and heart low (white), lungs and the unattenuated field outside the body high (black)
    values = (1 - np.clip(attenuation / 0.9, 0, 1)) * top
    return np.asarray(np.round(values).astype(np.uint16))
