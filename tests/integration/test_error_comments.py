"""Error Comments on the wire: the offending attribute's tag and keyword first, then why, within LO's 64."""

from __future__ import annotations

import re

from conftest import RunningServer
from printscu import PrintSCU, reference
from pydicom.dataset import Dataset

from printscp import uids

SESSION, FILM_BOX = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX
LO = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,64}")  # LO: at most 64 characters, no backslash or control character


def _ds(**attributes: object) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_error_comments_start_with_the_tag_and_fit_lo(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        box = _ds(ImageDisplayFormat="STANDARD\\1,1", ConfigurationInformation="NO SUCH CURVE " * 4)
        box.ReferencedFilmSessionSequence = [reference(SESSION, session)]
        responses = {
            "(2000,0020) PrintPriority: ": scu.n_set(SESSION, session, _ds(PrintPriority="URGENT")),
            "(2000,0010) NumberOfCopies: ": scu.n_set(SESSION, session, _ds(NumberOfCopies="0")),
            "(2000,0050) FilmSessionLabel: ": scu.n_set(SESSION, session, _ds(FilmSessionLabel="x" * 80)),
            # a warning: the reason (an unknown configuration, then the printer's list) is long
            "(2010,0150) ConfigurationInformation: ": scu.n_create(FILM_BOX, box),
        }
        for prefix, response in responses.items():
            comment = response.comment
            assert comment.startswith(prefix), comment
            assert LO.fullmatch(comment), comment
            assert len(comment) > len(prefix) + 5, f"the reason follows the tag: {comment!r}"
            assert response.command.ErrorComment == comment
        long_one = responses["(2010,0150) ConfigurationInformation: "].comment
        assert long_one.startswith("(2010,0150) ConfigurationInformation: 'NO SUCH CURVE"), long_one
        assert len(long_one) <= 64 and long_one.endswith("...")  # cut at the end, not the start
        assert "Configuration Information" not in long_one  # the name is not repeated

        # no offending attribute: the message itself, readable
        second = scu.n_create(SESSION)
        assert second.status == 0x0111
        assert LO.fullmatch(second.comment) and "only one Film Session per association" in second.comment
