"""Records every association as a transcript (bench/transcript.py). Being written: for now the hook that
the fault plan calls."""

from __future__ import annotations

from pynetdicom.association import Association


def fault_applied(assoc: Association, fault: str, effect: str) -> None:
    """A fault of the fault plan changed how the request being served on `assoc` is answered: record it in
    the association's transcript (`fault` as `printscp fault list` shows the rule, `effect` what it did)."""
