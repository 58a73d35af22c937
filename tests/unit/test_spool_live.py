"""spool.Spool's live/ files: the pixels of each Image Box, written at N-SET time and deleted when the image goes.
Two Spools on one folder (a queue started after another in one process, as tests do; a node restarted on the
folder) must not delete each other's files."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_until

from printscp.model.enums import PhotometricInterpretation
from printscp.model.record import GrayscaleImage
from printscp.spool import Spool


def image(value: int) -> GrayscaleImage:
    return GrayscaleImage(4, 4, 12, PhotometricInterpretation.MONOCHROME2, (1, 1), np.full((4, 4), value, np.uint16))


def test_an_image_dropped_from_an_earlier_spool_does_not_delete_a_later_spools_file(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    old = image(1)
    first.prepare(old)
    first.close()  # its file written: the writer has finished

    second = Spool(tmp_path)  # clears live/, as at a start
    new = image(2)
    second.prepare(new)
    second.close()
    (kept,) = list(second.live.iterdir())

    del old  # its finalizer deletes the file the first Spool wrote for it: gone already, not the second's
    gc.collect()
    assert kept.exists()
    assert np.array_equal(np.load(kept), new.pixels)

    del new
    gc.collect()
    wait_until(lambda: not kept.exists(), 10, "the second Spool's file deleted with its image")


def test_a_file_its_owner_deletes_while_a_new_spool_clears_live_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Spool(tmp_path).close()
    live = tmp_path / ".spool" / "live"
    listing = Path.iterdir

    def listed_then_deleted(folder: Path) -> Iterator[Path]:
        if folder == live:
            yield live / "gone-0.npy"  # listed, then deleted by an earlier Spool's image before we get to it
        yield from listing(folder)

    monkeypatch.setattr(Path, "iterdir", listed_then_deleted)
    Spool(tmp_path).close()
