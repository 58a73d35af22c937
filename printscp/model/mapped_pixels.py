"""Pixels memory-mapped from the spool, and giving their resident pages back.

A render worker reads a job's pixels from the spool's .npy files through `np.load(mmap_mode="r")`
(spool.py). A page of a file mapping that has been read counts in the process's resident set (VmRSS,
as RssFile) for as long as the mapping lives, so drawing a film of 20 x 2048x2048 12-bit images would
hold 160 MiB by its last image, though each image is needed only while its box is drawn.
`release_pages` gives an image's pages back once it has been read: madvise(MADV_DONTNEED) on a shared
file mapping only unmaps the pages from this process; they stay in the kernel's page cache (or on
disk), and reading the array again maps them in again, with the same contents.
"""

from __future__ import annotations

import mmap

import numpy as np


def release_pages(pixels: np.ndarray) -> None:
    """Give back the resident pages of the file mapping behind `pixels`; nothing when there is none.

    Follows `.base` from the array (a view, or the np.memmap itself) to the np.memmap and its
    mmap.mmap, and releases the whole mapping: the spool keeps one image per file. Only mappings numpy
    opened shared ("r", "r+", "w+") are released: in a copy-on-write one ("c") dropping a page would
    drop the changes made to it, and a bare mmap.mmap may be private anonymous memory, which
    MADV_DONTNEED would zero.
    """
    base: object = pixels
    mapped: np.memmap | None = None
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            mapped = base
        base = base.base
    if mapped is None or mapped.mode == "c" or not isinstance(base, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        base.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # a hint only: the pages then stay resident until the mapping is closed
        return
