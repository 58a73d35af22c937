"""The one readiness wait for tests: poll a real condition until it holds or a deadline passes.

Tests never sleep a fixed time to let something happen; they wait for the thing itself (a file, a socket,
a thread, a queue gone idle) with a generous deadline that only matters when the test is failing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Return as soon as `condition()` is true; fail naming `what` if it is still false after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.01)
