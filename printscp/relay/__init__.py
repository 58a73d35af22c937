"""Relaying films to real printers: each printer's `relay_to` targets get every film it prints.

A target is a DICOM print SCP (`[nodes.AE]`, relay/dicom.py: printscp prints the film record on it as a print
SCU, with the original pixels, mapped to what it supports) or a paper printer (`[paper.NAME]`, relay/paper.py:
the film's PDF as an IPP Print-Job). relay/queue.py keeps the relays durable and tries them until they are
delivered or given up. Each attempt at one target comes to a `Delivery`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """What one attempt to print a job (or the rest of it) on one target came to."""

    delivered: bool  # every film asked for was printed (DICOM: N-ACTION accepted; IPP: the job completed)
    films_printed: tuple[int, ...] = ()  # indices into request.films printed by this attempt, delivered or not
    status: int | None = None  # the target's status that failed the attempt (DIMSE status, or IPP status-code)
    error_comment: str = ""  # why it failed (or what the target warned), in words, naming the target
    mapped: tuple[str, ...] = ()  # what was changed or left out to suit the target, one phrase each
    printer_status: str = ""  # the target's Printer Status (NORMAL, WARNING, FAILURE) when it said; "" unknown
    printer_status_info: str = ""  # and its Printer Status Info (PS3.3 C.13.9.1 defined term, or IPP reasons)
    association_id: str = ""  # the association (or IPP job id) of the attempt, for the log
