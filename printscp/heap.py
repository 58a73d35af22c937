"""Give memory back to the system when large blocks are freed.

glibc's malloc serves a block of at least M_MMAP_THRESHOLD bytes with its own mmap and unmaps it on
free. The threshold starts at 128 KiB but rises to the size of each such block freed (up to 32 MiB),
so after the first image of a few MiB is freed, later images come from the heaps (one arena per
thread: every association has its own) and freed space there is kept by the process: the server's
resident memory grows with the images it has seen, not with the images it holds (issue 12 measured
344 -> 664 MiB over 8 jobs). Setting the threshold fixes it and stops the rise (mallopt(3)).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # malloc.h
THRESHOLD = 1 << 20  # an image box's pixels, a PDU buffer of 1 MiB or more: mapped, and unmapped when freed


def return_large_blocks() -> None:
    """Have this process's malloc map blocks of THRESHOLD bytes or more on their own (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): their malloc does not keep the threshold rising
        return
    if not libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD):
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
