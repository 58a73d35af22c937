"""Findings: placeholder until the checks land (replaced whole by bench/findings.py's real module)."""

from __future__ import annotations

from printscp.bench.transcript import Finding, Transcript
from printscp.model.profile import PrinterProfile


def check(transcript: Transcript, profile: PrinterProfile) -> tuple[Finding, ...]:
    return ()
