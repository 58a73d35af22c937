"""Pixels memory-mapped from .npy files give their resident pages back, and keep their values."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from printscp.model.mapped_pixels import release_pages

MIB = 1024 * 1024


def resident_file_pages() -> int:
    """RssFile of this process (/proc/self/status), bytes: the file-mapped pages it has resident."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    raise LookupError("RssFile")


def mapped(tmp_path: Path, pixels: np.ndarray, mode: Literal["r", "c"] = "r") -> np.ndarray:
    path = tmp_path / "pixels.npy"
    np.save(path, pixels)
    return np.asarray(np.load(path, mmap_mode=mode))


def test_read_pages_are_released_and_read_again_the_same(tmp_path: Path) -> None:
    pixels = (np.arange(2048 * 2048, dtype=np.uint32) % 4096).astype(np.uint16).reshape(2048, 2048)  # 8 MiB
    image = mapped(tmp_path, pixels)
    assert not isinstance(image, np.memmap) and isinstance(image.base, np.memmap)  # as np.asarray leaves it
    before = resident_file_pages()
    assert int(image.sum(dtype=np.uint64)) == int(pixels.sum(dtype=np.uint64))  # every page read
    read = resident_file_pages()
    assert read - before > 6 * MIB
    release_pages(image[100:200, 5:10])  # a view of it: the whole file's mapping
    assert read - resident_file_pages() > 6 * MIB
    assert np.array_equal(image, pixels)


def test_arrays_in_memory_and_copy_on_write_mappings_are_left_alone(tmp_path: Path) -> None:
    pixels = np.arange(4096 * 300, dtype=np.uint16).reshape(300, 4096) % 4096
    in_memory = pixels.copy()
    release_pages(in_memory)
    assert np.array_equal(in_memory, pixels)
    changed = mapped(tmp_path, pixels, mode="c")
    changed[:] = 7  # private copies of every page
    release_pages(changed)
    assert np.all(changed == 7)
