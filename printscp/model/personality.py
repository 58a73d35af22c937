"""Personalities: what a printer accepts beyond the strict reading of PS3.4 H, and how it maps it.

A printer (config.toml `[printer]` or `[printers.AE]`) names its personality. `strict` answers every request
with the exact status the standard gives (the right choice for testing a print SCU). `compatible` prints what
a real film printer would: each of its leniencies below is a rule the standard does not allow, accepted
because a modality or print client in the field sends it, and mapped to what the standard means. The
conformance statement of each printer (`printscp conformance --printer AE`) lists them from this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Leniency(StrEnum):
    """One rule of PS3.4 H that a personality relaxes; the value is its name in the conformance statement."""

    # PS3.4 H.4.1 before CP 173: Illumination, Reflected Ambient Light and Referenced Presentation LUT
    # Sequence were Film Session attributes; they are Film Box attributes since.
    FILM_SESSION_PRESENTATION = "film session presentation attributes"
    # Vendor Defined Terms (Smoothing Type "0".."15", Configuration Information strings...) that the
    # printer's `term_aliases` map to a term it supports.
    VENDOR_TERMS = "vendor defined terms"
    # An Annotation Position other than the box's own, or beyond the format's positions.
    ANNOTATION_POSITION = "annotation positions"
    # Annotation text too long for LO or with characters outside its repertoire.
    ANNOTATION_TEXT = "annotation text"


@dataclass(frozen=True)
class LeniencyRule:
    """How one leniency is applied, who needs it, and what the strict reading answers instead."""

    accepted: str  # what is accepted, and how it is mapped
    needed_by: str  # the print clients and printers that need it
    strict: str  # the strict answer, with its reference in the standard


LENIENCIES: Mapping[Leniency, LeniencyRule] = {
    Leniency.FILM_SESSION_PRESENTATION: LeniencyRule(
        "Illumination, Reflected Ambient Light and Referenced Presentation LUT Sequence in the Basic Film "
        "Session N-CREATE / N-SET are kept and used by each Film Box of the session that does not send its own",
        "AGFA Drystar (pre-CP-173 placement); DCMTK's stock AGFA profile (PresentationLUTinFilmSession = true)",
        "0105 No such attribute: they are Basic Film Box attributes (PS3.4 Table H.4-5, CP 173)",
    ),
    Leniency.VENDOR_TERMS: LeniencyRule(
        "a Defined Term listed in the printer's term_aliases is accepted without a warning and stored as the "
        "supported term it maps to (N-GET returns the mapped term)",
        "Kodak DryView (Smoothing Type 0-15, CS000-CS015), AGFA Drystar (Smoothing Type 0-140, "
        "PERCEPTION_LUT=...), Fuji and Konica vendor terms",
        "0116 Attribute value out of range, and the printer's default used (PS3.4 H.4.2.2.1.2)",
    ),
    Leniency.ANNOTATION_POSITION: LeniencyRule(
        "an Annotation Box N-SET whose Annotation Position is not the box's own is applied to the box it names "
        "when that box is free, else to the nearest free position, else appended to the last one; the text is "
        "never lost",
        "DCMTK dcmprscu (sets annotation boxes in list order whatever their position), AGFA Drystar profiles "
        "(position 2 on single-position formats), Kodak profiles (position 0)",
        "0106 Invalid attribute value: Annotation Position differs from the box's (PS3.4 H.4.5.1.2.1)",
    ),
    Leniency.ANNOTATION_TEXT: LeniencyRule(
        "Text String longer than 64 characters is cut to 64, control characters become spaces, and bytes "
        "outside the repertoire are read as ISO_IR 100 (no Specific Character Set) or print as U+FFFD",
        "modalities that print a whole demographic line as one annotation",
        "0106 Invalid attribute value: Text String is LO, 64 characters of its repertoire (PS3.5 6.1, 6.2)",
    ),
}


@dataclass(frozen=True)
class Personality:
    name: str
    description: str
    leniencies: frozenset[Leniency]

    def allows(self, leniency: Leniency) -> bool:
        return leniency in self.leniencies


STRICT = Personality(
    "strict",
    "exact PS3.4 H statuses for every deviation: for testing print SCUs",
    frozenset(),
)
COMPATIBLE = Personality(
    "compatible",
    "prints what a real film printer prints: the leniencies below, each mapped to what the standard means",
    frozenset(Leniency),
)

PERSONALITIES: Mapping[str, Personality] = {p.name: p for p in (STRICT, COMPATIBLE)}
