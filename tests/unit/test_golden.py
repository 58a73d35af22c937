"""Golden films: the renderer's raster compared with reviewed PNGs (tests/golden; regenerate with
`.venv/bin/python tests/golden/films.py` after checking that a change is intended)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
sys.path.insert(0, str(GOLDEN))

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
