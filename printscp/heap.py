"""Give freed memory back to the system (glibc's malloc; elsewhere these do nothing).

glibc serves a block of at least M_MMAP_THRESHOLD bytes with its own mmap and unmaps it on free. The
threshold starts at 128 KiB but rises to the size of each such block freed (up to 32 MiB), so after the
first image of a few MiB is freed, later images come from the heaps (one arena per thread: every
association has its own), and space freed there stays with the process: issue 12 measured the server
growing 344 -> 664 MiB over 8 jobs.

Two remedies, each where it is cheaper:
- the server trims the heaps when an association ends (`trim`, malloc_trim(3)): during an association
  the freed blocks are reused, which matters (a fixed 1 MiB threshold made every 8 MiB copy of a
  2048x2048 N-SET a fresh mapping to fault in: 0.24 s more per 20-image film);
- a render worker fixes the threshold (`return_large_blocks`, mallopt(3)): its large blocks are freed
  box by box and it has no end of association to trim at.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # malloc.h
THRESHOLD = 1 << 20  # 1 MiB or more: mapped, and unmapped when freed


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS)
        return None


_LIBC = _libc()


def return_large_blocks() -> None:
    """Have this process's malloc map blocks of THRESHOLD bytes or more on their own."""
    if _LIBC is not None and not _LIBC.mallopt(M_MMAP_THRESHOLD, THRESHOLD):
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")


def trim() -> None:
    """Give the free memory of every malloc arena back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
