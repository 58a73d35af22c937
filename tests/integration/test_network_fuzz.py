"""Mutated print requests over a real association (issue 11 acceptance): every one gets a status of the
standard (never 0110 "internal error"), none hangs, the association is served to the end, and the server
prints a film afterwards.

The requests of tests/unit/test_fuzz.py are mutated (byte changes, truncations, repeats, insertions,
seeded) and sent as the SCU's data set; a mutation that leaves bytes no parser can split into elements
cannot be sent by pynetdicom and is counted as such. `benchmarks/network_fuzz.py` runs the same with
10,000 requests and prints the counts.
"""

from __future__ import annotations

import io
import random
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
from conftest import RunningServer
from mutations import mutate
from printscu import PrintSCU, image_item, reference
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode

from printscp import uids

INTERNAL_ERROR = 0x0110
SUCCESS_OR_WARNING = {0x0000, 0x0001, 0x0107, 0x0116, 0xB600, 0xB602, 0xB603, 0xB604, 0xB605, 0xB609, 0xB60A}


def _encoded(ds: Dataset) -> bytes:
    data = encode(ds, True, True)
    assert data is not None
    return data


def fuzz(address: tuple[str, int], requests: int, seed: int) -> Counter[str]:
    """Send `requests` mutated requests on one association; count the outcomes by status."""
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    with PrintSCU(address, transfer_syntaxes=(ImplicitVRLittleEndian,)) as scu, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about every invalid value it reads
        session = scu.film_session(NumberOfCopies=1)
        box, images, _ = scu.film_box(session, "STANDARD\\2,1")
        film_box = Dataset()
        film_box.ImageDisplayFormat = "STANDARD\\1,1"
        film_box.FilmSizeID = "8INX10IN"
        film_box.MinDensity, film_box.MaxDensity = 10, 300
        film_box.ReferencedFilmSessionSequence = [reference(uids.BASIC_FILM_SESSION, session)]
        image_box = Dataset()
        image_box.ImageBoxPosition = 1
        image_box.Polarity = "REVERSE"
        image_box.BasicGrayscaleImageSequence = [image_item(np.arange(192, dtype=np.uint16).reshape(16, 12))]
        session_set = Dataset()
        session_set.NumberOfCopies, session_set.FilmSessionLabel = 2, "FUZZ"
        box_set = Dataset()
        box_set.MagnificationType, box_set.BorderDensity, box_set.Trim = "CUBIC", "WHITE", "YES"
        lut = Dataset()
        lut.PresentationLUTShape = "IDENTITY"
        templates: list[tuple[Callable[[Dataset], int], bytes]] = [
            (lambda ds: scu.n_set(uids.BASIC_FILM_SESSION, session, ds).status, _encoded(session_set)),
            (lambda ds: scu.n_set(uids.BASIC_FILM_BOX, box, ds).status, _encoded(box_set)),
            (lambda ds: scu.n_set(uids.BASIC_GRAYSCALE_IMAGE_BOX, images[0], ds).status, _encoded(image_box)),
            (lambda ds: scu.n_create(uids.PRESENTATION_LUT, ds).status, _encoded(lut)),
            # last: a Film Box N-CREATE that succeeds makes the other boxes no longer the last created
            (lambda ds: scu.n_create(uids.BASIC_FILM_BOX, ds).status, _encoded(film_box)),
        ]
        for _ in range(requests):
            send, data = templates[min(int(rng.random() * 4.2), 4)]
            mutated = mutate(data, rng)
            try:
                ds = decode(io.BytesIO(mutated), True, True)
                if not encode(ds, True, True):
                    # pynetdicom leaves group lengths out: it would announce a data set and send none
                    raise ValueError("nothing left to send")
            except Exception:
                outcomes["not sendable"] += 1
                continue
            status = send(ds)
            comment = scu.responses[-1].get("ErrorComment", "")
            outcomes[
                "internal error" if status == INTERNAL_ERROR and "internal" in str(comment) else f"{status:04X}"
            ] += 1
        assert scu.assoc.is_established, "the association was served to the end"
    return outcomes


def test_mutated_requests_over_the_network_get_statuses_and_the_server_prints_after(running: RunningServer) -> None:
    outcomes = fuzz(running.address, 600, seed=11)
    assert outcomes["internal error"] == 0, outcomes
    answered = sum(n for key, n in outcomes.items() if key != "not sendable")
    assert answered > 400, outcomes  # most mutations still travel as a data set
    failures = sum(n for key, n in outcomes.items() if len(key) == 4 and int(key, 16) not in SUCCESS_OR_WARNING)
    assert failures > 100, outcomes  # the mutations do reach the checks
    with PrintSCU(running.address) as scu:  # and the server goes on printing
        session = scu.film_session()
        box, images, _ = scu.film_box(session)
        assert scu.set_image(images[0], 1, np.full((32, 32), 2000, dtype=np.uint16)).status == 0
        assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
    assert running.server.queue.wait_idle(60)
    assert len(running.jobs()) == 1
