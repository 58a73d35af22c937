"""Basic Color Print Management without sockets: negotiation per printer, colour image boxes, their
validation statuses, the film record and the rendered colour film."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pypdf import PdfReader
from test_engine import Harness, dataset, fails, film_box_request, image_item, lut_request, wire

from printscp import uids
from printscp.model import sop_classes
from printscp.model.profile import PrinterProfile
from printscp.model.record import ColorImage
from printscp.model.record_json import dump_request, load_request
from printscp.render.film import render_job
from printscp.render.pdf import DocumentInfo
from printscp.render.png import srgb_profile
from printscp.status import Status

COLOR_META = uids.BASIC_COLOR_PRINT_MANAGEMENT_META
FILM_BOX, COLOR_BOX = uids.BASIC_FILM_BOX, uids.BASIC_COLOR_IMAGE_BOX


def rgb(rows: int = 16, columns: int = 24) -> np.ndarray:
    r = np.add.outer(np.arange(rows) * 8, np.zeros(columns, dtype=int)) % 256
    g = np.add.outer(np.zeros(rows, dtype=int), np.arange(columns) * 5) % 256
    b = np.full((rows, columns), 200)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def color_item(pixels: np.ndarray, planar: int = 1, **overrides: Any) -> Dataset:
    item = dataset(
        SamplesPerPixel=3,
        PhotometricInterpretation="RGB",
        PlanarConfiguration=planar,
        Rows=pixels.shape[0],
        Columns=pixels.shape[1],
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
    )
    data = (pixels.transpose(2, 0, 1) if planar == 1 else pixels).tobytes()
    item.add_new(0x7FE00010, "OB", data + b"\x00" * (len(data) & 1))
    for keyword, value in overrides.items():
        if value is None:
            del item[keyword]
        else:
            setattr(item, keyword, value)
    return item


def color_film(h: Harness, fmt: str = "STANDARD\\1,1") -> tuple[str, list[str]]:
    session = h.session()
    outcome = h.engine.n_create(COLOR_META, FILM_BOX, None, film_box_request(session, fmt))
    assert outcome.dataset is not None and outcome.affected_sop_instance_uid
    refs = outcome.dataset.ReferencedImageBoxSequence
    assert {str(r.ReferencedSOPClassUID) for r in refs} == {COLOR_BOX}
    return outcome.affected_sop_instance_uid, [str(r.ReferencedSOPInstanceUID) for r in refs]


def set_color(h: Harness, uid: str, position: int, item: Dataset, **attributes: Any) -> Any:
    ds = dataset(ImageBoxPosition=position, **attributes)
    ds.BasicColorImageSequence = [item]
    return h.engine.n_set(COLOR_META, COLOR_BOX, uid, wire(ds))


def test_the_colour_meta_sop_class_is_offered_only_by_printers_that_support_colour() -> None:
    assert sop_classes.offered(COLOR_META, PrinterProfile(supports_color=True))
    assert not sop_classes.offered(COLOR_META, PrinterProfile(supports_color=False))
    assert COLOR_META not in sop_classes.print_contexts(PrinterProfile())
    assert sop_classes.offered(uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, PrinterProfile(supports_color=False))


@pytest.mark.parametrize("planar", [0, 1])
def test_a_colour_film_box_takes_rgb_images_in_either_planar_configuration(planar: int) -> None:
    h = Harness()
    box, images = color_film(h)
    pixels = rgb()
    assert set_color(h, images[0], 1, color_item(pixels, planar)).status is Status.SUCCESS
    image = h.prepared[-1]
    assert isinstance(image, ColorImage)
    assert np.array_equal(image.pixels, pixels) and not image.pixels.flags.writeable
    got = h.engine.n_get(COLOR_META, COLOR_BOX, images[0], [])
    assert got.dataset is not None
    (item,) = got.dataset.BasicColorImageSequence  # returned colour-by-plane, as PS3.3 C.13.5 enumerates
    assert item.PlanarConfiguration == 1 and item.SamplesPerPixel == 3 and item.PhotometricInterpretation == "RGB"
    assert item.PixelData == pixels.transpose(2, 0, 1).tobytes()
    assert h.engine.n_action(COLOR_META, FILM_BOX, box, 1, None).status is Status.SUCCESS
    assert h.submitted[-1].films[0].color


@pytest.mark.parametrize(
    ("item", "status", "offending"),
    [
        (lambda: image_item(np.zeros((4, 4), np.uint8), bits=(8, 8, 7)), Status.INVALID_ATTRIBUTE_VALUE, 0x00280002),
        (lambda: color_item(rgb(), SamplesPerPixel=1), Status.INVALID_ATTRIBUTE_VALUE, 0x00280002),
        (lambda: color_item(rgb(), PhotometricInterpretation="YBR_FULL"), Status.INVALID_ATTRIBUTE_VALUE, 0x00280004),
        (
            lambda: color_item(rgb(), BitsAllocated=16, BitsStored=16, HighBit=15),
            Status.INVALID_ATTRIBUTE_VALUE,
            0x00280101,
        ),
        (lambda: color_item(rgb(), planar=1, PlanarConfiguration=2), Status.INVALID_ATTRIBUTE_VALUE, 0x00280006),
        (lambda: color_item(rgb(), PlanarConfiguration=None), Status.MISSING_ATTRIBUTE, 0x00280006),
        (lambda: color_item(rgb(), Rows=15), Status.INVALID_ATTRIBUTE_VALUE, 0x7FE00010),
    ],
    ids=["monochrome2", "samples-1", "ybr", "16-bit", "planar-2", "no-planar", "short-pixel-data"],
)
def test_wrong_colour_input_gets_its_status_and_offending_element(item: Any, status: Status, offending: int) -> None:
    h = Harness()
    _, images = color_film(h)
    error = fails(status, set_color, h, images[0], 1, item(), offending=offending)
    assert error.message


def test_colour_and_grayscale_image_boxes_take_only_their_own_sequence() -> None:
    h = Harness()
    _, images = color_film(h)
    ds = dataset(ImageBoxPosition=1)
    ds.BasicGrayscaleImageSequence = [image_item()]
    fails(Status.NO_SUCH_ATTRIBUTE, h.engine.n_set, COLOR_META, COLOR_BOX, images[0], wire(ds))
    # the colour box has no densities or P-LUT of its own (PS3.4 Table H.4-11)
    fails(Status.NO_SUCH_ATTRIBUTE, set_color, h, images[0], 1, color_item(rgb()), MinDensity=20)
    # a colour box is not reached on the grayscale context
    fails(Status.NO_SUCH_SOP_CLASS, set_color_on_grayscale, h, images[0])


def set_color_on_grayscale(h: Harness, uid: str) -> Any:
    ds = dataset(ImageBoxPosition=1)
    ds.BasicColorImageSequence = [color_item(rgb())]
    return h.engine.n_set(uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META, COLOR_BOX, uid, wire(ds))


def test_a_colour_film_record_round_trips_through_its_json() -> None:
    h = Harness()
    box, images = color_film(h, "STANDARD\\2,1")
    set_color(h, images[0], 1, color_item(rgb(), 0))
    h.engine.n_action(COLOR_META, FILM_BOX, box, 1, None)
    request = h.submitted[-1]
    pixels = {"a.npy": request.films[0].image_boxes[0].image.pixels}  # type: ignore[union-attr]
    data = dump_request(request, lambda image: "a.npy")
    assert json.loads(data)["version"] == 2
    loaded = load_request(data, pixels.__getitem__)
    image = loaded.films[0].image_boxes[0].image
    assert isinstance(image, ColorImage) and np.array_equal(image.pixels, rgb())
    assert loaded.films[0].image_boxes[1].image is None and loaded.films[0].color


def test_a_colour_film_renders_its_rgb_values_in_png_and_pdf() -> None:
    h = Harness()
    box, images = color_film(h, "STANDARD\\2,1")
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 220
    red[..., 2] = 30
    set_color(h, images[0], 1, color_item(red, 1), MagnificationType="REPLICATE")
    h.engine.n_action(COLOR_META, FILM_BOX, box, 1, None)
    request = h.submitted[-1]
    rendered = render_job(request, h.engine.profile, DocumentInfo("t", "s"), png_dpi=50).films[0]
    png = Image.open(io.BytesIO(rendered.png))
    assert png.mode == "RGB" and png.info.get("icc_profile") == srgb_profile()
    x, y, width, height = rendered.images[0].rect_pt
    scale = rendered.dpi / 72
    centre = png.getpixel((int((x + width / 2) * scale), int((y + height / 2) * scale)))
    assert centre == (220, 0, 30)
    corner = png.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[0] == corner[1] == corner[2]  # the border is grey
    page = PdfReader(io.BytesIO(rendered.pdf)).pages[0]
    (xobject,) = [o.get_object() for o in page["/Resources"]["/XObject"].values()]
    space = xobject["/ColorSpace"]
    assert space[0] == "/ICCBased" and space[1].get_object()["/N"] == 3
    assert space[1].get_object().get_data() == srgb_profile()
    assert (xobject["/Width"], xobject["/Height"]) == (8, 8)
    assert set(xobject.get_data()[:24]) == {220, 0, 30} and len(xobject.get_data()) == 8 * 8 * 3


def test_a_presentation_lut_of_the_film_box_does_not_refuse_a_colour_image() -> None:
    h = Harness()
    created = h.engine.n_create(uids.PRESENTATION_LUT, uids.PRESENTATION_LUT, None, lut_request())  # 4096 entries
    plut = created.affected_sop_instance_uid
    assert plut
    box, images = color_film_of(h, h.session())
    assert set_color(h, images[0], 1, color_item(rgb())).status is Status.SUCCESS
    # the P-LUT applies to grayscale images (PS3.4 H.4.9): a colour box prints without it, whatever its size
    update = dataset()
    update.ReferencedPresentationLUTSequence = [
        dataset(ReferencedSOPClassUID=uids.PRESENTATION_LUT, ReferencedSOPInstanceUID=plut)
    ]
    assert h.engine.n_set(COLOR_META, FILM_BOX, box, wire(update)).status is Status.SUCCESS
    assert h.engine.n_action(COLOR_META, FILM_BOX, box, 1, None).status is Status.SUCCESS


def color_film_of(h: Harness, session: str) -> tuple[str, list[str]]:
    outcome = h.engine.n_create(COLOR_META, FILM_BOX, None, film_box_request(session))
    assert outcome.dataset is not None and outcome.affected_sop_instance_uid
    return outcome.affected_sop_instance_uid, [
        str(r.ReferencedSOPInstanceUID) for r in outcome.dataset.ReferencedImageBoxSequence
    ]
