"""The films of the golden image test, and how to regenerate their PNGs.

    .venv/bin/python tests/golden/films.py        # rewrite tests/golden/*.png from the current renderer

Regenerate only after checking that a rendering change is intended; the test compares with a small
tolerance (library resampling may round differently), not exactly.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

from printscp.config import load_config  # noqa: E402
from printscp.model.enums import (  # noqa: E402
    FilmOrientation,
    MagnificationType,
    PhotometricInterpretation,
    Polarity,
    PresentationLUTShape,
    RequestedResolutionID,
    Trim,
)
from printscp.model.layout import ImageDisplayFormat  # noqa: E402
from printscp.model.profile import PrinterProfile  # noqa: E402
from printscp.model.record import (  # noqa: E402
    AnnotationSnapshot,
    FilmSnapshot,
    GrayscaleImage,
    ImageBoxSnapshot,
    PresentationLUTSnapshot,
)
from printscp.render.plan import plan_film  # noqa: E402
from printscp.render.png import raster  # noqa: E402

PROFILE: PrinterProfile = load_config(REPO / "config.toml").printer


def _image(pixels: np.ndarray, bits: int = 12, photometric: str = "MONOCHROME2") -> GrayscaleImage:
    return GrayscaleImage(
        pixels.shape[0], pixels.shape[1], bits, PhotometricInterpretation(photometric), (1, 1), pixels
    )


def _box(
    position: int,
    image: GrayscaleImage | None,
    magnification: str = "BILINEAR",
    smoothing: str = "MEDIUM",
    polarity: str = "NORMAL",
    plut: PresentationLUTSnapshot | None = None,
) -> ImageBoxSnapshot:
    return ImageBoxSnapshot(
        position,
        image,
        Polarity(polarity),
        MagnificationType(magnification),
        smoothing,
        20,
        300,
        "CS500",
        None,
        None,
        plut,
    )


def _film(fmt: str, boxes: tuple[ImageBoxSnapshot, ...], **changes: object) -> FilmSnapshot:
    film = FilmSnapshot(
        film_session_uid="1.2.3",
        film_box_uid="1.2.3.4",
        medium_type="CLEAR FILM",
        film_destination="MAGAZINE",
        film_session_label="",
        owner_id="",
        specific_character_set=(),
        image_display_format=ImageDisplayFormat.parse(fmt),
        film_orientation=FilmOrientation.PORTRAIT,
        film_size_id="8INX10IN",
        magnification_type=MagnificationType.BILINEAR,
        smoothing_type="MEDIUM",
        max_density=300,
        min_density=20,
        configuration_information="CS500",
        border_density="BLACK",
        empty_image_density="BLACK",
        trim=Trim.NO,
        illumination=None,
        reflected_ambient_light=None,
        requested_resolution_id=RequestedResolutionID.STANDARD,
        annotation_display_format_id="",
        image_boxes=boxes,
        annotations=(),
    )
    return dataclasses.replace(film, **changes)  # type: ignore[arg-type]


def films() -> dict[str, FilmSnapshot]:
    ramp = np.tile(np.linspace(0, 4095, 256).round().astype(np.uint16), (64, 1))
    gamma = PresentationLUTSnapshot(
        "1.2.3.5", None, (4096, 0, 12), np.round(4095 * (np.arange(4096) / 4095) ** 2).astype(np.uint16)
    )
    lin_od = PresentationLUTSnapshot("1.2.3.6", PresentationLUTShape.LIN_OD, None, None)
    y, x = np.mgrid[0:96, 0:128]
    rings = (2048 + 2000 * np.sin(np.hypot(x - 64, y - 48) / 4)).astype(np.uint16)
    checker = (np.indices((12, 12)).sum(axis=0) % 2 * 4095).astype(np.uint16)
    eight_bit = np.tile(np.arange(256, dtype=np.uint8), (32, 1))
    return {
        "densities-and-luts": _film(
            "STANDARD\\2,2",
            (
                _box(1, _image(ramp)),
                _box(2, _image(ramp), plut=gamma),
                _box(3, _image(ramp), plut=lin_od),
                _box(4, None),
            ),
            border_density="150",
            empty_image_density="WHITE",
        ),
        "row-annotated-trim": _film(
            "ROW\\2,3",
            (
                _box(1, _image(rings)),
                _box(2, _image(rings), polarity="REVERSE"),
                _box(3, None),
                _box(4, _image(eight_bit, 8, "MONOCHROME1")),
                _box(5, _image(rings)),
            ),
            film_size_id="A4",
            film_orientation=FilmOrientation.LANDSCAPE,
            trim=Trim.YES,
            annotation_display_format_id="TOP_BOTTOM",
            annotations=(AnnotationSnapshot(1, "GOLDEN FILM — Ωmega Ärztin"), AnnotationSnapshot(2, "bottom 2")),
        ),
        "magnification": _film(
            "COL\\2,2",
            (
                _box(1, _image(checker), "REPLICATE"),
                _box(2, _image(checker), "BILINEAR"),
                _box(3, _image(checker), "CUBIC", "SHARP"),
                _box(4, _image(checker), "CUBIC", "SMOOTH"),
            ),
            border_density="WHITE",
        ),
    }


def render(film: FilmSnapshot) -> np.ndarray:
    return np.asarray(raster(plan_film(film, PROFILE)))


if __name__ == "__main__":
    from PIL import Image

    for name, film in films().items():
        path = HERE / f"{name}.png"
        Image.fromarray(render(film), mode="L").save(path, optimize=True)
        print(f"wrote {path.relative_to(REPO)}")
    sys.exit(0)
