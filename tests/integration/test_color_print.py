"""Basic Color Print Management over real loopback associations (issue 17): colour films printed by a
pynetdicom SCU, colour and grayscale on one association, wrong input answered, and negotiation per printer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import RunningServer
from PIL import Image
from printscu import COLOR_META, META, PrintSCU, color_image_item, ramp
from pydicom.dataset import Dataset
from test_print_scu import print_scu, rgb_image

from printscp import uids
from printscp.archive.film_index import FilmFilter

COLOURS = [(200, 30, 40), (20, 180, 60), (30, 60, 210), (240, 220, 20)]  # one per box of a 2x2 film


def ultrasound_like(colour: tuple[int, int, int], rows: int = 48, columns: int = 64) -> np.ndarray:
    """A flat colour field with a noisy border, so that the box centre holds exactly `colour`."""
    rng = np.random.default_rng(sum(colour))
    pixels = rng.integers(0, 256, (rows, columns, 3), dtype=np.uint8)
    pixels[rows // 4 : rows - rows // 4, columns // 4 : columns - columns // 4] = colour
    return pixels


def centre_colours(running: RunningServer) -> tuple[list[np.ndarray], dict[str, object]]:
    (job,) = running.jobs()
    film = job.manifest["films"][0]
    with Image.open(job.pngs[0]) as png:
        assert png.mode == "RGB" and png.info.get("icc_profile")
        raster = np.asarray(png)
    scale = film["png_dpi"] / 72
    centres = []
    for box in sorted(film["image_boxes"], key=lambda b: b["image_box_position"]):
        x, y, width, height = box["rect_pt"]
        row, column = round((y + height / 2) * scale), round((x + width / 2) * scale)
        centres.append(raster[row - 2 : row + 3, column - 2 : column + 3].reshape(-1, 3).mean(axis=0))
    return centres, film


@pytest.mark.parametrize("planar", [0, 1])
def test_a_2x2_colour_film_prints_the_sent_colours(running: RunningServer, planar: int) -> None:
    with PrintSCU(running.address, contexts=(COLOR_META,)) as scu:
        session = scu.film_session(meta=COLOR_META)
        box, images, _ = scu.film_box(session, "STANDARD\\2,2", meta=COLOR_META)
        for position, (uid, colour) in enumerate(zip(images, COLOURS, strict=True), start=1):
            response = scu.set_color_image(uid, position, ultrasound_like(colour), planar)
            assert response.status == 0, (hex(response.status), response.comment)
        assert scu.n_action(uids.BASIC_FILM_BOX, box, meta=COLOR_META).status == 0
    centres, film = centre_colours(running)
    for centre, colour in zip(centres, COLOURS, strict=True):
        assert np.abs(centre - np.array(colour)).max() <= 2, (centre, colour)
    (job,) = running.jobs()
    assert job.manifest["version"] == 2
    pdf = job.pdfs[0].read_bytes()
    assert pdf.count(b"/ICCBased") == 4 and pdf.count(b"/N 3") == 1  # one sRGB profile for the four images
    assert film["page_size_pt"] == pytest.approx([14 * 72, 17 * 72], abs=0.01)  # 14INX17IN, the default


def test_colour_and_grayscale_film_boxes_print_on_one_association(running: RunningServer) -> None:
    with PrintSCU(running.address, contexts=(META, COLOR_META)) as scu:
        session = scu.film_session()
        grey_box, grey_images, _ = scu.film_box(session)
        assert scu.set_image(grey_images[0], 1, ramp()).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, grey_box).status == 0
        colour_box, colour_images, _ = scu.film_box(session, meta=COLOR_META)
        assert scu.set_color_image(colour_images[0], 1, ultrasound_like(COLOURS[0])).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, colour_box, meta=COLOR_META).status == 0
    modes = []
    for job in running.jobs():
        with Image.open(job.pngs[0]) as png:
            modes.append(png.mode)
    assert sorted(modes) == ["L", "RGB"]
    # the archive index says which film is colour (the web API's FilmView.color)
    films = running.server.archive.index.find_films(FilmFilter())
    assert sorted(film["color"] for film in films) == ["0", "1"]


def grey_item() -> Dataset:
    item = color_image_item(ultrasound_like(COLOURS[0], 8, 8))
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    del item.PlanarConfiguration
    item.PixelData = bytes(64)
    return item


def sixteen_bit_item() -> Dataset:
    item = color_image_item(ultrasound_like(COLOURS[0], 8, 8))
    item.BitsAllocated, item.BitsStored, item.HighBit = 16, 16, 15
    item.PixelData = bytes(8 * 8 * 3 * 2)
    return item


@pytest.mark.parametrize(
    ("item", "offending"),
    [(grey_item, 0x00280002), (sixteen_bit_item, 0x00280101)],
    ids=["monochrome2-8-bit", "rgb-16-bit"],
)
def test_wrong_colour_input_is_refused_and_the_server_keeps_serving(
    running: RunningServer, item: Callable[[], Dataset], offending: int
) -> None:
    with PrintSCU(running.address, contexts=(COLOR_META,)) as scu:
        session = scu.film_session(meta=COLOR_META)
        _, images, _ = scu.film_box(session, meta=COLOR_META)
        dataset = Dataset()
        dataset.ImageBoxPosition = 1
        dataset.BasicColorImageSequence = [item()]
        response = scu.n_set(uids.BASIC_COLOR_IMAGE_BOX, images[0], dataset)
        assert response.status == 0x0106 and response.comment and offending in response.offending
        assert scu.set_color_image(images[0], 1, ultrasound_like(COLOURS[1])).status == 0
    with PrintSCU(running.address, contexts=(COLOR_META,)) as again:
        assert again.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, meta=COLOR_META).status == 0


def test_a_printer_without_colour_rejects_the_colour_context(
    start_server: Callable[..., RunningServer],
) -> None:
    running = start_server(supports_color=False)
    with PrintSCU(running.address, contexts=(META, COLOR_META, uids.PRINTER_CONFIGURATION_RETRIEVAL)) as scu:
        accepted = {str(cx.abstract_syntax) for cx in scu.assoc.accepted_contexts}
        rejected = {str(cx.abstract_syntax) for cx in scu.assoc.rejected_contexts}
        assert META in accepted and COLOR_META in rejected
        response = scu.n_get(uids.PRINTER_CONFIGURATION_RETRIEVAL, uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE)
        assert response.status == 0 and response.dataset is not None
        (item,) = response.dataset.PrinterConfigurationSequence
        assert COLOR_META not in item.SOPClassesSupported


def test_a_colour_film_prints_on_the_colour_preset(running: RunningServer) -> None:
    """The bundled CODONICS_HORIZON (presets/CODONICS_HORIZON.toml, supports_color) takes a colour film on its
    default A-size paper, as the Horizon's "a-cvp" Job Setting prints ChromaVista colour paper."""
    with PrintSCU(running.address, contexts=(META, COLOR_META), called="CODONICS_HORIZON") as scu:
        accepted = {str(cx.abstract_syntax) for cx in scu.assoc.accepted_contexts}
        assert {META, COLOR_META} <= accepted
        session = scu.film_session(meta=COLOR_META)
        box, images, _ = scu.film_box(session, "STANDARD\\2,2", meta=COLOR_META)
        for position, (uid, colour) in enumerate(zip(images, COLOURS, strict=True), start=1):
            response = scu.set_color_image(uid, position, ultrasound_like(colour), position % 2)
            assert response.status == 0, (hex(response.status), response.comment)
        assert scu.n_action(uids.BASIC_FILM_BOX, box, meta=COLOR_META).status == 0
    centres, film = centre_colours(running)
    for centre, colour in zip(centres, COLOURS, strict=True):
        assert np.abs(centre - np.array(colour)).max() <= 2, (centre, colour)
    assert film["page_size_pt"] == pytest.approx([8.5 * 72, 11 * 72], abs=0.01)  # 8_5INX11IN, its default
    (indexed,) = running.server.archive.index.find_films(FilmFilter(printer="CODONICS_HORIZON"))
    assert (indexed["color"], indexed["film_size_id"]) == ("1", "8_5INX11IN")


@pytest.mark.parametrize("printer", ["AGFA_DRYSTAR", "FUJI_DRYPIX", "KODAK_DRYVIEW", "KONICA_DRYPRO", "SONY_UP"])
def test_a_grayscale_preset_rejects_the_colour_context(running: RunningServer, printer: str) -> None:
    with PrintSCU(running.address, contexts=(META, COLOR_META), called=printer) as scu:
        accepted = {str(cx.abstract_syntax) for cx in scu.assoc.accepted_contexts}
        rejected = {str(cx.abstract_syntax) for cx in scu.assoc.rejected_contexts}
        assert META in accepted and COLOR_META in rejected


def test_the_bundled_printer_lists_the_colour_meta_sop_class(running: RunningServer) -> None:
    with PrintSCU(running.address, contexts=(uids.PRINTER_CONFIGURATION_RETRIEVAL,)) as scu:
        response = scu.n_get(uids.PRINTER_CONFIGURATION_RETRIEVAL, uids.PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE)
        assert response.status == 0 and response.dataset is not None
        (item,) = response.dataset.PrinterConfigurationSequence
        assert COLOR_META in item.SOPClassesSupported


def test_printscp_print_color_prints_a_colour_film_on_printscp(running: RunningServer, tmp_path: Path) -> None:
    colours = [ultrasound_like(colour) for colour in COLOURS[:2]]
    images = [rgb_image(tmp_path / f"rgb{n}.dcm", pixels) for n, pixels in enumerate(colours)]
    run = print_scu(running.address, images, "--color", "--format", "STANDARD\\2,1")
    assert run.returncode == 0, run.stdout + run.stderr
    centres, _ = centre_colours(running)
    for centre, colour in zip(centres, COLOURS[:2], strict=True):
        assert np.abs(centre - np.array(colour)).max() <= 2, (centre, colour)
