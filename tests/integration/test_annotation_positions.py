"""Annotation positions under each personality over a real association with a pynetdicom SCU (DCMTK's stock profiles:
test_dcmtk_personalities.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from conftest import RunningServer
from printscu import PrintSCU
from pydicom.dataset import Dataset
from pypdf import PdfReader

from printscp import uids

StartServer = Callable[..., RunningServer]
FILM_BOX, ANNOTATION = uids.BASIC_FILM_BOX, uids.BASIC_ANNOTATION_BOX
INVALID_ATTRIBUTE_VALUE, ANNOTATION_POSITION = 0x0106, 0x20300010


def _annotation(position: int, text: str) -> Dataset:
    ds = Dataset()
    ds.AnnotationPosition = position
    ds.TextString = text
    return ds


def test_a_film_prints_after_an_annotation_n_set_with_another_position(start_server: StartServer) -> None:
    """Annotation Box 1 set with position 2 (as dcmprscu does), then box 2 with its own: a strict printer
    answers the first 0106 and the film still prints, without that text; a compatible one places it in box 2,
    and box 2's own text moves it on to box 1."""
    for personality, status, expected in (
        ("strict", INVALID_ATTRIBUTE_VALUE, ["", "own text"]),
        ("compatible", 0x0000, ["meant for 2", "own text"]),
    ):
        server = start_server(personality=personality)
        with PrintSCU(server.address) as scu:
            session = scu.film_session()
            box, images, created = scu.film_box(session, AnnotationDisplayFormatID="TOP_BOTTOM")
            assert created.dataset is not None
            first, second = (
                str(i.ReferencedSOPInstanceUID) for i in created.dataset.ReferencedBasicAnnotationBoxSequence
            )
            response = scu.n_set(ANNOTATION, first, _annotation(2, "meant for 2"))
            assert response.status == status, response.comment
            assert response.offending == ([ANNOTATION_POSITION] if status else [])
            assert scu.n_set(ANNOTATION, second, _annotation(2, "own text")).status == 0
            assert scu.set_image(images[0], 1, np.full((16, 16), 2000, dtype=np.uint16)).status == 0
            assert scu.n_action(FILM_BOX, box).status == 0
        (job,) = server.jobs()
        (film,) = job.manifest["films"]
        assert [a["text_string"] for a in film["annotations"]] == expected, personality
        text = PdfReader(job.pdfs[0]).pages[0].extract_text()
        assert "own text" in text and ("meant for 2" in text) == (personality == "compatible")
