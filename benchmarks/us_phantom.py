"""Synthetic colour ultrasound frames and a colour surface rendering, 8-bit RGB (rows x columns x 3), for the
sample colour film (sample_films/make_gallery.py). Deterministic; numpy only."""

from __future__ import annotations

import numpy as np


def _blur(image: np.ndarray, passes: int = 2) -> np.ndarray:
    """A cheap separable 3-tap box blur, `passes` times (no scipy here)."""
    for _ in range(passes):
        image = (image + np.roll(image, 1, 0) + np.roll(image, -1, 0)) / 3
        image = (image + np.roll(image, 1, 1) + np.roll(image, -1, 1)) / 3
    return image


def _sector(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (0..1), beam angle (radians) and the inside of a 80-degree sector from an apex at the top."""
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    apex_y, apex_x = -0.06 * rows, columns / 2
    radius = np.hypot(y - apex_y, x - apex_x)
    angle = np.arctan2(x - apex_x, y - apex_y)
    near, far = 0.12 * rows, 1.02 * rows
    depth = (radius - near) / (far - near)
    inside = (np.abs(angle) <= np.radians(40)) & (depth >= 0) & (depth <= 1)
    return depth, angle, inside


def _vessel(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """A vessel crossing the image obliquely: where it is, and the parabolic flow profile across it (0..1)."""
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    centre = 0.48 * rows + 0.18 * (x - columns / 2) + 0.05 * rows * np.sin(x / columns * 2 * np.pi)
    half_width = 0.06 * rows
    across = np.abs(y - centre) / half_width
    return across <= 1, np.clip(1 - across**2, 0, 1)


def b_mode(rows: int = 480, columns: int = 640, seed: int = 0) -> np.ndarray:
    """A grayscale B-mode sector: speckled tissue in layers, a bright reflector, an anechoic vessel."""
    rng = np.random.default_rng(seed)
    depth, angle, inside = _sector(rows, columns)
    echo = 0.55 + 0.15 * np.sin(depth * 9) + 0.1 * np.cos(angle * 7 + depth * 3)
    echo[(depth > 0.02) & (depth < 0.06)] = 1.0  # the skin line
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    echo[((x - 0.68 * columns) / 40) ** 2 + ((y - 0.75 * rows) / 25) ** 2 <= 1] = 1.2  # a bright reflector
    vessel, _ = _vessel(rows, columns)
    echo[vessel] = 0.05
    speckle = _blur(rng.rayleigh(1.0, (rows, columns)), 1)
    grey = np.clip(echo * speckle * 0.6 * (1 - 0.45 * depth), 0, 1) * 235
    grey[~inside] = 0
    grey = grey.astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def colour_doppler(rows: int = 480, columns: int = 640, seed: int = 0, power: bool = False) -> np.ndarray:
    """The B-mode frame with colour flow inside a colour box: red towards the probe, blue away (velocity), or
    orange-yellow by amplitude (`power`)."""
    image = b_mode(rows, columns, seed).astype(float)
    depth, angle, inside = _sector(rows, columns)
    box = inside & (np.abs(angle) <= np.radians(22)) & (depth > 0.25) & (depth < 0.7)
    vessel, profile = _vessel(rows, columns)
    flow = box & vessel
    y, x = np.mgrid[0:rows, 0:columns].astype(float)
    if power:
        amplitude = 0.35 + 0.65 * profile
        colour = np.stack([255 * np.ones_like(amplitude), 60 + 190 * amplitude**2, 30 * amplitude], axis=-1)
    else:
        # the beam meets the vessel at an angle that changes sign across the image: flow towards the probe on
        # one side (red, yellow at the peak), away on the other (blue, cyan at the peak)
        velocity = profile * np.tanh((x - columns / 2) / (0.08 * columns))
        towards, away = np.clip(velocity, 0, 1), np.clip(-velocity, 0, 1)
        colour = np.stack([255 * towards**0.5, 230 * towards**3 + 210 * away**3, 255 * away**0.5], axis=-1)
        colour[(towards == 0) & (away == 0)] = image[(towards == 0) & (away == 0)]
    image[flow] = colour[flow]
    edge = box & ~(np.roll(box, 2, 0) & np.roll(box, -2, 0) & np.roll(box, 2, 1) & np.roll(box, -2, 1))
    image[edge] = (200, 200, 200)  # the colour box outline
    return np.clip(image, 0, 255).astype(np.uint8)


def surface_rendering(rows: int = 480, columns: int = 640) -> np.ndarray:
    """A shaded surface rendering, as a 3D workstation prints it: a bone-coloured ellipsoid with a red vessel
    looping in front, lit from the upper left, on black."""
    y, x = (np.mgrid[0:rows, 0:columns].astype(float) - [[[rows / 2]], [[columns / 2]]]) / (rows / 2)
    image = np.zeros((rows, columns, 3))
    depth = np.full((rows, columns), -np.inf)
    light = np.array([-0.5, -0.6, 0.62])
    light /= np.linalg.norm(light)

    def blob(
        cx: float, cy: float, rx: float, ry: float, rz: float, colour: tuple[float, float, float], cz: float = 0
    ) -> None:
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        z = cz + rz * np.sqrt(np.clip(1 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2, 0, 1))
        nearer = inside & (z > depth)
        normal = np.stack([(x - cx) / rx**2, (y - cy) / ry**2, (z - cz) / rz**2], axis=-1)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-9
        diffuse = np.clip(normal @ light, 0, 1)
        specular = np.clip(normal @ (light + [0, 0, 1]) / np.linalg.norm(light + [0, 0, 1]), 0, 1) ** 30
        shade = (0.18 + 0.75 * diffuse)[..., None] * np.array(colour) + 255 * 0.35 * specular[..., None]
        image[nearer] = shade[nearer]
        depth[nearer] = z[nearer]  # the surface in front hides what is behind it

    blob(0.0, 0.05, 0.95, 0.72, 0.6, (225, 205, 165))  # the organ
    blob(-0.45, -0.25, 0.35, 0.3, 0.75, (235, 215, 175))
    for t in np.linspace(0, 1, 150):  # the vessel: small spheres along a loop in front of the organ
        cx, cy = -0.9 + 1.8 * t, 0.45 * np.sin(2 * np.pi * t) + 0.1
        blob(cx, cy, 0.085, 0.085, 0.085, (200, 40, 35), cz=0.55 + 0.2 * np.cos(2 * np.pi * t))
    return np.clip(image, 0, 255).astype(np.uint8)
