"""spool.py writes an image's pixels as np.save would: the same bytes, whatever the array."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from printscp import spool

_WORDS = np.bitwise_and(np.arange(512 * 512, dtype="<u2").reshape(512, 512), 0x0FFF, dtype=np.uint16)
_RGB = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)

ARRAYS = {
    "12-bit words, 512 x 512": _WORDS,
    "8-bit grayscale": (np.arange(7 * 5) % 256).astype(np.uint8).reshape(7, 5),
    "RGB by pixel": _RGB,
    "RGB by plane, made contiguous": np.ascontiguousarray(_RGB.reshape(3, 64, 48).transpose(1, 2, 0)),
    "one pixel": np.array([[4095]], dtype=np.uint16),
    "big-endian words": _WORDS[:16, :16].astype(">u2"),
    "floats": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
    "one dimension": np.arange(10, dtype=np.int32),
    # written by np.save itself: Fortran order, a view with strides, nothing at all
    "Fortran order": np.asfortranarray(_RGB[:, :, 0]),
    "strided view": _WORDS[::2, ::3],
    "empty": np.zeros((0, 4), dtype=np.uint16),
}


def _np_save(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, pixels, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(ARRAYS))
def test_the_spool_file_is_byte_for_byte_what_np_save_writes(name: str, tmp_path: Path) -> None:
    pixels = ARRAYS[name]
    path = spool._save(tmp_path / "pixels.npy", pixels)
    assert path.read_bytes() == _np_save(pixels)
    again = spool._save(tmp_path / "again.npy", pixels.copy(order="K"))  # with the header kept
    assert again.read_bytes() == path.read_bytes()
    loaded = spool._load_pixels(path)
    assert loaded.dtype == pixels.dtype and np.array_equal(loaded, pixels)


def test_only_plain_c_order_arrays_take_the_kept_header() -> None:
    assert spool._plain_c_order(_WORDS) and spool._plain_c_order(_RGB)
    assert not spool._plain_c_order(ARRAYS["Fortran order"]) and not spool._plain_c_order(ARRAYS["strided view"])
    assert not spool._plain_c_order(ARRAYS["empty"])
