"""Mutated request data sets: every one ends in a status of the standard, never in an internal error.

An exception other than PrintError reaching the handler becomes 0110 Processing Failure with
"internal error": the wrong answer to bad input. The mutations (byte changes, truncation, repeats,
insertions) are seeded, so a failure reproduces; `FUZZ_ROUNDS` can raise their number locally.
"""

from __future__ import annotations

import io
import os
import random
import warnings
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from mutations import mutate
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode
from test_engine import FILM_BOX, IMAGE_BOX, META, PLUT, SESSION, Harness, dataset, image_item, reference

from printscp.engine import Outcome
from printscp.errors import PrintError

ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "150"))


Request = tuple[str, Callable[[Dataset], Outcome], Dataset]


def requests(h: Harness) -> Iterator[Request]:
    session = h.session()
    box, images, _ = h.film_box(session, "STANDARD\\2,1")
    yield (
        "Film Session N-CREATE",
        lambda ds: Harness().engine.n_create(META, SESSION, None, ds),
        dataset(
            NumberOfCopies=2,
            PrintPriority="HIGH",
            MediumType="PAPER",
            FilmSessionLabel="X",
            SpecificCharacterSet="ISO_IR 100",
        ),
    )
    yield (
        "Film Session N-SET",
        lambda ds: h.engine.n_set(META, SESSION, session, ds),
        dataset(NumberOfCopies=3, FilmSessionLabel="abc"),
    )
    film_box = dataset(
        ImageDisplayFormat="STANDARD\\1,1",
        FilmOrientation="PORTRAIT",
        FilmSizeID="8INX10IN",
        MagnificationType="REPLICATE",
        BorderDensity="BLACK",
        MinDensity=10,
        MaxDensity=300,
        Trim="NO",
        Illumination=2000,
    )
    film_box.ReferencedFilmSessionSequence = [reference(SESSION, session)]
    yield "Film Box N-CREATE", lambda ds: h.engine.n_create(META, FILM_BOX, None, ds), film_box
    yield (
        "Film Box N-SET",
        lambda ds: h.engine.n_set(META, FILM_BOX, box, ds),
        dataset(MagnificationType="CUBIC", SmoothingType="SHARP", BorderDensity="WHITE", MinDensity=20),
    )
    image_box = dataset(
        ImageBoxPosition=1, Polarity="REVERSE", RequestedImageSize=100.5, RequestedDecimateCropBehavior="DECIMATE"
    )
    image_box.BasicGrayscaleImageSequence = [image_item(np.arange(192, dtype=np.uint16).reshape(16, 12))]
    yield "Image Box N-SET", lambda ds: h.engine.n_set(META, IMAGE_BOX, images[0], ds), image_box
    yield (
        "Presentation LUT N-CREATE (shape)",
        lambda ds: h.engine.n_create(PLUT, PLUT, None, ds),
        dataset(PresentationLUTShape="IDENTITY"),
    )
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 12])  # LUT Descriptor
    item.add_new(0x00283006, "US", list(range(0, 4096, 16)))  # LUT Data
    table = Dataset()
    table.PresentationLUTSequence = [item]
    yield "Presentation LUT N-CREATE (table)", lambda ds: h.engine.n_create(PLUT, PLUT, None, ds), table


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit VR", "explicit VR"])
def test_mutated_requests_get_a_status_of_the_standard(implicit: bool) -> None:
    rng = random.Random(20261130)
    outcomes: Counter[str] = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every invalid value it reads
        for name, call, ds in requests(Harness()):
            data = encode(ds, implicit, True)
            assert data is not None, name
            for _ in range(ROUNDS):
                mutated = mutate(data, rng)
                try:
                    received = decode(io.BytesIO(mutated), implicit, True)
                except Exception:  # the handler answers 0106 "data set cannot be decoded"
                    outcomes["undecodable"] += 1
                    continue
                try:
                    outcomes[call(received).status.name] += 1
                except PrintError as error:
                    outcomes[error.status.name] += 1
                # any other exception fails the test, with the mutated bytes in the traceback's locals
    # the mutations reach the engine's checks and some still make valid requests
    assert outcomes["INVALID_ATTRIBUTE_VALUE"] > 0 and outcomes["SUCCESS"] > 0, outcomes
