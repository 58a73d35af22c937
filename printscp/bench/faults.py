"""The fault plan: scripted faults per DIMSE step, for testing how a print SCU copes.

A rule (`FaultRule`) matches requests by printer, DIMSE command, SOP class and calling AE title, lets the
first `after` matching requests through, then fires on the next `count` of them (0: on every one). When it
fires it does what it says to that one request: answer a chosen status (and Error Comment) without serving
it, delay the answer, abort the association instead of answering, or set the printer's status (whose
listeners send the N-EVENT-REPORT) before serving it normally; delay may go with any of the other three.

Rules come from the configuration (`[[faults.plan]]`, `[[printers.AE.faults.plan]]`, loaded at start) and
from the admin channel at run time (`printscp fault add|list|clear`; not persisted). Each is numbered in
the order it was added (#1, #2, ...), numbers never reused. A rule that has fired `count` times is spent:
kept and listed, matching nothing.

`FaultPlan.decide` is the one place that matches and decides; net/handlers.py only applies the `Decision`
(sleeps, sets the printer status, aborts or answers) and records each fault applied in the transcript.
Several rules may fire on one request: all their delays add up, every printer status change is made in
rule order, and the lowest-numbered rule that answers (status or abort) answers; the others that fired are
counted and recorded as overridden.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from printscp import uids
from printscp.config import FAULT_SOP_CLASSES, Config, FaultRuleConfig, fault_rule
from printscp.model.enums import PrinterStatus

SOP_CLASS_UIDS: Mapping[str, str] = {
    "FilmSession": uids.BASIC_FILM_SESSION,
    "FilmBox": uids.BASIC_FILM_BOX,
    "ImageBox": uids.BASIC_GRAYSCALE_IMAGE_BOX,
    "ColorImageBox": uids.BASIC_COLOR_IMAGE_BOX,
    "AnnotationBox": uids.BASIC_ANNOTATION_BOX,
    "PresentationLUT": uids.PRESENTATION_LUT,
    "Printer": uids.PRINTER,
    "PrintJob": uids.PRINT_JOB,
    "PrinterConfiguration": uids.PRINTER_CONFIGURATION_RETRIEVAL,
    "Verification": uids.VERIFICATION,
}
assert tuple(SOP_CLASS_UIDS) == FAULT_SOP_CLASSES  # config.py validates the names this maps
_SOP_CLASS_NAMES = {uid: name for name, uid in SOP_CLASS_UIDS.items()}


def parse_status(text: str) -> int:
    """A status as the command line gives it: 0xC602 (hex) or 50690 (decimal). ValueError says why not;
    a decimal with a leading zero (0110) is refused as ambiguous, statuses being written in hex."""
    text = text.strip()
    try:
        if text[:2].lower() == "0x":
            value = int(text[2:], 16)
        elif text.isdigit() and not (len(text) > 1 and text.startswith("0")):
            value = int(text)
        else:
            raise ValueError
    except ValueError:
        ambiguous = text.isdigit()
        raise ValueError(
            f"'{text}' is ambiguous: write 0x{text} (hex) or {int(text)} (decimal)"
            if ambiguous
            else f"'{text}' is not a status: write it as 0xC602 (hex) or 50690 (decimal)"
        ) from None
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"'{text}' is not a status: must be 0x0000 to 0xFFFF")
    return value


@dataclass(frozen=True)
class FaultRule:
    """One rule of the plan, as added; how many requests it has seen and fired on is the plan's."""

    number: int
    config: FaultRuleConfig

    @property
    def printer(self) -> str | None:
        return self.config.printer or None

    @property
    def sop_class_uid(self) -> str | None:
        sop_class = self.config.sop_class
        return SOP_CLASS_UIDS.get(sop_class, sop_class) or None

    @property
    def printer_status(self) -> PrinterStatus | None:
        return PrinterStatus(self.config.printer_status) if self.config.printer_status else None

    @property
    def error_comment(self) -> str:
        return self.config.error_comment or f"fault plan rule #{self.number}"

    @property
    def answers(self) -> bool:
        """Whether it answers the request itself (status, abort) instead of letting it be served."""
        return self.config.status is not None or self.config.abort

    def matches(self, printer: str, command: str, sop_class_uid: str, calling_ae: str) -> bool:
        c = self.config
        return (
            c.on == command
            and (self.printer is None or self.printer == printer)
            and (self.sop_class_uid is None or self.sop_class_uid == sop_class_uid)
            and (not c.calling_ae or c.calling_ae == calling_ae)
        )

    def actions(self) -> str:
        """What it does, e.g. "delay 5 s, then status 0xC602"."""
        c = self.config
        done = []
        if c.delay:
            done.append(f"delay {c.delay:g} s")
        if c.status is not None:
            done.append(f"status 0x{c.status:04X}" + (f' "{c.error_comment}"' if c.error_comment else ""))
        if c.abort:
            done.append("abort")
        if c.printer_status:
            info = f" {c.printer_status_info}" if c.printer_status_info else ""
            done.append(f"printer {c.printer_status}{info}")
        return ", then ".join(done)

    def __str__(self) -> str:
        """`#1 N-ACTION FilmBox on PRINTSCP: status 0xC602 (count 1, after 0)`."""
        c = self.config
        sop_class = f" {_SOP_CLASS_NAMES.get(c.sop_class, c.sop_class)}" if c.sop_class else ""
        where = f" on {c.printer}" if c.printer else " on any printer"
        calling = f" from {c.calling_ae}" if c.calling_ae else ""
        return f"#{self.number} {c.on}{sop_class}{where}{calling}: {self.actions()} (count {c.count}, after {c.after})"


@dataclass(frozen=True)
class RuleState:
    """A rule and its counters at one moment: what `fault list` shows and the transcript records."""

    rule: FaultRule
    seen: int  # matching requests so far
    fired: int

    @property
    def spent(self) -> bool:
        return self.rule.config.count != 0 and self.fired >= self.rule.config.count

    def __str__(self) -> str:
        """`#1 N-ACTION FilmBox on PRINTSCP: status 0xC602 (count 1, after 0) fired 1/1`."""
        count = self.rule.config.count
        fired = f"fired {self.fired}/{count}" if count else f"fired {self.fired}"
        return f"{self.rule} {fired}" + (" (spent)" if self.spent else "")

    def as_json(self) -> dict[str, Any]:
        """For the admin channel's replies."""
        return {
            "number": self.rule.number,
            "printer": self.rule.printer,
            "text": str(self),
            "seen": self.seen,
            "fired": self.fired,
            "spent": self.spent,
        }


@dataclass(frozen=True)
class Applied:
    """A rule that fired on a request, and what it did to it (for the transcript and the log)."""

    fired: RuleState
    effect: str


@dataclass(frozen=True)
class Decision:
    """What the fault plan does to one request; the handler applies it in this order."""

    delay: float = 0.0  # seconds to wait first
    printer_status: tuple[tuple[PrinterStatus, str | None], ...] = ()  # then set the printer's status
    abort: bool = False  # then A-ABORT instead of answering
    status: int | None = None  # or answer this, without serving the request
    error_comment: str = ""
    applied: tuple[Applied, ...] = field(default=())

    @property
    def serves(self) -> bool:
        """Whether the request is then served as usual."""
        return not self.abort and self.status is None


@dataclass
class PlanEntry:
    rule: FaultRule
    seen: int = 0
    fired: int = 0

    def state(self) -> RuleState:
        return RuleState(self.rule, self.seen, self.fired)


class FaultPlan:
    """The rules of a server, with their counters; thread-safe (every association's thread asks it)."""

    def __init__(self, rules: Iterable[FaultRuleConfig] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[PlanEntry] = []
        self._next = 1
        for rule in rules:
            self.add(rule)

    @classmethod
    def from_config(cls, config: Config) -> FaultPlan:
        """`[[faults.plan]]` (any printer, or the one a rule names), then each `[[printers.AE.faults.plan]]`."""
        rules = list(config.fault_plan)
        for ae_title, printer in config.printers.items():
            rules += [_with_printer(rule, ae_title) for rule in printer.fault_plan]
        return cls(rules)

    def add(self, rule: FaultRuleConfig, number: int | None = None) -> RuleState:
        """Add a rule, numbered next (or `number`, as a cluster's shared rules are, if no rule has it)."""
        with self._lock:
            if number is not None:
                for entry in self._entries:
                    if entry.rule.number == number:
                        return entry.state()
            entry = PlanEntry(FaultRule(self._next if number is None else number, rule))
            self._next = max(self._next, entry.rule.number + 1)
            self._entries.append(entry)
            return entry.state()

    def forget(self, numbers: Iterable[int]) -> int:
        """Remove the rules of these numbers; how many were removed."""
        removed = set(numbers)
        with self._lock:
            kept = [e for e in self._entries if e.rule.number not in removed]
            count = len(self._entries) - len(kept)
            self._entries = kept
            return count

    def add_table(self, table: Mapping[str, Any]) -> RuleState:
        """Add a rule from its keys (as in [[faults.plan]]); raises ConfigError naming a bad key."""
        return self.add(fault_rule(table))

    def rules(self, printer: str | None = None) -> list[RuleState]:
        """Every rule, or those that apply to `printer` (its own and those for any printer)."""
        with self._lock:
            return [e.state() for e in self._entries if printer is None or e.rule.printer in (None, printer)]

    def clear(self, printer: str | None = None) -> int:
        """Remove every rule, or `printer`'s own; how many were removed."""
        with self._lock:
            kept = [e for e in self._entries if printer is not None and e.rule.printer != printer]
            removed = len(self._entries) - len(kept)
            self._entries = kept
            return removed

    def match(self, printer: str, command: str, sop_class_uid: str, calling_ae: str) -> list[RuleState]:
        """Count this request against every matching rule; the rules that fire on it, as they are now."""
        fired = []
        with self._lock:
            for entry in self._entries:
                if not entry.rule.matches(printer, command, sop_class_uid, calling_ae):
                    continue
                if self._count(entry):
                    fired.append(entry.state())
        return fired

    def _count(self, entry: PlanEntry) -> bool:
        """Count one matching request against the rule (with the plan's lock held); whether it fires on it."""
        entry.seen += 1
        count = entry.rule.config.count
        if entry.seen > entry.rule.config.after and (count == 0 or entry.fired < count):
            entry.fired += 1
            return True
        return False

    def decide(self, printer: str, command: str, sop_class_uid: str, calling_ae: str) -> Decision | None:
        """What to do to this request; None when no rule fires (the usual case, at the cost of one lock)."""
        fired = self.match(printer, command, sop_class_uid, calling_ae)
        if not fired:
            return None
        return decide(fired, printer)


def decide(fired: list[RuleState], printer: str) -> Decision:
    """The Decision for the rules that fired on one request (see the module's docstring)."""
    delay = 0.0
    changes: list[tuple[PrinterStatus, str | None]] = []
    answering: FaultRule | None = None
    applied = []
    for state in fired:
        rule, c = state.rule, state.rule.config
        effects = []
        if c.delay:
            delay += c.delay
            effects.append(f"delayed the response {c.delay:g} s")
        status = rule.printer_status
        if status is not None:
            changes.append((status, c.printer_status_info or None))
            info = f" ({c.printer_status_info})" if c.printer_status_info else ""
            effects.append(f"set printer {printer} to {status.value}{info}; the request was then served")
        if rule.answers:
            if answering is not None:
                effects.append(f"overridden: rule #{answering.number} answered the request")
            else:
                answering = rule
                effects.append(
                    "aborted the association (A-ABORT) instead of answering"
                    if c.abort
                    else f"answered 0x{c.status:04X} ({rule.error_comment}) without serving the request"
                )
        applied.append(Applied(state, "; ".join(effects)))
    return Decision(
        delay=delay,
        printer_status=tuple(changes),
        abort=answering is not None and answering.config.abort,
        status=answering.config.status if answering is not None else None,
        error_comment=answering.error_comment if answering is not None else "",
        applied=tuple(applied),
    )


def _with_printer(rule: FaultRuleConfig, ae_title: str) -> FaultRuleConfig:
    return dataclasses.replace(rule, printer=ae_title)
