"""Golden films: the renderer's raster compared with reviewed PNGs (tests/golden; regenerate with
`.venv/bin/python tests/golden/films.py` after checking that a change is intended), with a tolerance; and
exactly with the previous version's pixels (tests/golden/exact_pixels.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
sys.path.insert(0, str(GOLDEN))

import exact_pixels  # noqa: E402
import films  # noqa: E402


@pytest.mark.parametrize("name", sorted(films.films()))
def test_film_matches_its_golden_image(name: str) -> None:
    rendered = films.render(films.films()[name]).astype(int)
    with Image.open(GOLDEN / f"{name}.png") as golden_png:
        golden = np.asarray(golden_png).astype(int)
    assert rendered.shape == golden.shape
    difference = np.abs(rendered - golden)
    # resampling may round differently across library versions; the picture may not change
    assert difference.max() <= 4, f"{name}: max difference {difference.max()}"
    assert (difference > 1).mean() < 0.002, f"{name}: {(difference > 1).mean():.2%} of pixels differ by more than 1"


def test_goldens_are_not_trivial() -> None:
    for name in films.films():
        with Image.open(GOLDEN / f"{name}.png") as golden_png:
            golden = np.asarray(golden_png)
        assert len(np.unique(golden)) > 20, name  # real content, not a blank page


# --- exact: the previous version's pixels -------------------------------------------------------------------

REFERENCE = exact_pixels.reference()


def test_every_golden_film_has_an_exact_reference() -> None:
    assert {f"golden/{name}" for name in films.films()} == {name for name in REFERENCE if name.startswith("golden/")}


@pytest.mark.parametrize("name", sorted(films.films()))
def test_film_is_pixel_identical_to_the_previous_version(name: str) -> None:
    """A refactor of the renderer must not move a pixel: shape, dtype and every byte as before (hashed in
    tests/golden/exact_pixels.json; regenerate with `.venv/bin/python tests/golden/exact_pixels.py` only
    for an intended, reviewed change of the rendering)."""
    assert exact_pixels.digest(films.render(films.films()[name])) == REFERENCE[f"golden/{name}"]
