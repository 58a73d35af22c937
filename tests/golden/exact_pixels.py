"""Exact pixel references: the films of the previous version, to which a refactor must stay byte-identical.

Two sets of films are rendered and each decoded PNG raster is reduced to its shape, dtype and the SHA-256 of
its pixel bytes (tests/golden/exact_pixels.json):

- "golden/<name>": the films of tests/golden/films.py, rendered by the renderer directly;
- "sample/<name>": the sample jobs of sample_films/make_gallery.py, printed over a real association to a
  real printscp (bundled config.toml), the PNG read back from the archive.

tests/unit/test_golden.py and tests/integration/test_rendering.py compare with np.array_equal semantics (same
shape, dtype and bytes). Regenerate only when a change of the rendered pixels is intended and reviewed:

    .venv/bin/python tests/golden/exact_pixels.py        # rewrite tests/golden/exact_pixels.json from the current code
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REFERENCE = HERE / "exact_pixels.json"


def _importable() -> None:
    """The test helpers (conftest, printscu) and the sample films' script, for import."""
    for folder in (HERE, REPO / "tests", REPO / "sample_films"):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))


def reference() -> dict[str, dict[str, Any]]:
    """The stored digests, by film name ("golden/<name>", "sample/<name>")."""
    stored: dict[str, dict[str, Any]] = json.loads(REFERENCE.read_text())
    return stored


def digest(pixels: np.ndarray) -> dict[str, Any]:
    """What identifies a raster exactly: two rasters are np.array_equal (same dtype) iff their digests match."""
    return {
        "shape": list(pixels.shape),
        "dtype": str(pixels.dtype),
        "sha256": hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(),
    }


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as png:
        return np.asarray(png)


def golden_rasters() -> dict[str, np.ndarray]:
    """The films of tests/golden/films.py as the renderer draws them (the raster of their PNG)."""
    _importable()
    import films

    return {f"golden/{name}": films.render(film) for name, film in films.films().items()}


def sample_rasters(address: tuple[str, int], server: Any) -> dict[str, np.ndarray]:
    """Print every sample job of sample_films/make_gallery.py to the running `server` at `address`; the
    decoded PNG of each, once the print queue has printed them all."""
    _importable()
    import make_gallery  # it puts benchmarks/ (ct_phantom) on sys.path itself
    from printscu import PrintSCU

    printed: dict[str, str] = {}
    with PrintSCU(address, contexts=make_gallery.CONTEXTS, calling="GOLDEN") as scu:
        for name, (_, make) in make_gallery.SAMPLES.items():
            printed[name] = make(scu)
    assert server.queue.wait_idle(120), "the print queue did not finish"
    pngs = {
        film["film_box_uid"]: job.pngs[i]
        for job in server.archive.jobs()
        for i, film in enumerate(job.manifest["films"])
    }
    return {f"sample/{name}": png_pixels(pngs[box]) for name, box in printed.items()}


def main() -> int:
    _importable()
    from conftest import bundled_config

    from printscp.net.server import PrintServer

    with tempfile.TemporaryDirectory() as folder:
        server = PrintServer(bundled_config(Path(folder) / "films"))
        address = server.start("127.0.0.1", 0)
        try:
            rasters = {**golden_rasters(), **sample_rasters(address, server)}
        finally:
            server.stop()
    entries = [f" {json.dumps(name)}: {json.dumps(digest(pixels))}" for name, pixels in sorted(rasters.items())]
    REFERENCE.write_text("{\n" + ",\n".join(entries) + "\n}\n")  # one film a line: a diff shows which changed
    print(f"wrote {REFERENCE.relative_to(REPO)}: {len(rasters)} films")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
