"""The fault plan without sockets: matching, counting, deciding, and the rules' keys checked."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from printscp import uids
from printscp.bench.faults import SOP_CLASS_UIDS, FaultPlan, parse_status
from printscp.config import FAULT_SOP_CLASSES, ConfigError, FaultRuleConfig, fault_rule, load_config
from printscp.model.enums import PrinterStatus

FILM_BOX = uids.BASIC_FILM_BOX


def rule(**keys: Any) -> FaultRuleConfig:
    return fault_rule({"on": "N-ACTION", "status": 0xC602, **keys})


def fires(plan: FaultPlan, command: str = "N-ACTION", sop_class: str = FILM_BOX, **where: str) -> list[int]:
    """The numbers of the rules that fire on one request."""
    printer, calling = where.get("printer", "PRINTSCP"), where.get("calling", "SCU")
    return [state.rule.number for state in plan.match(printer, command, sop_class, calling)]


def test_a_rule_matches_its_command_sop_class_printer_and_calling_ae() -> None:
    plan = FaultPlan(
        [
            rule(count=0),  # #1 any N-ACTION
            rule(sop_class="FilmBox", count=0),  # #2
            rule(sop_class=uids.BASIC_FILM_SESSION, count=0),  # #3, by UID
            rule(printer="SECOND", count=0),  # #4
            rule(calling_ae="MODALITY", count=0),  # #5
            fault_rule({"on": "C-ECHO", "abort": True, "count": 0}),  # #6
        ]
    )
    assert fires(plan) == [1, 2]
    assert fires(plan, sop_class=uids.BASIC_FILM_SESSION) == [1, 3]
    assert fires(plan, printer="SECOND") == [1, 2, 4]
    assert fires(plan, calling="MODALITY") == [1, 2, 5]
    assert fires(plan, command="N-SET") == []
    assert fires(plan, command="C-ECHO", sop_class=uids.VERIFICATION) == [6]


def test_after_lets_matching_requests_through_and_count_spends_the_rule() -> None:
    plan = FaultPlan([rule(after=2, count=2)])
    assert [fires(plan) for _ in range(6)] == [[], [], [1], [1], [], []]
    (state,) = plan.rules()
    assert (state.seen, state.fired, state.spent) == (6, 2, True)
    assert str(state).endswith("fired 2/2 (spent)")


def test_only_matching_requests_count_towards_after() -> None:
    plan = FaultPlan([rule(sop_class="FilmBox", after=1)])
    assert fires(plan, sop_class=uids.BASIC_FILM_SESSION) == []  # not a Film Box: not counted
    assert fires(plan) == []  # the first Film Box N-ACTION passes
    assert fires(plan) == [1]


def test_count_zero_fires_every_time() -> None:
    plan = FaultPlan([rule(count=0, after=1)])
    assert [fires(plan) for _ in range(4)] == [[], [1], [1], [1]]
    (state,) = plan.rules()
    assert not state.spent and str(state).endswith("fired 3")


def test_str_is_what_fault_list_and_the_transcript_show() -> None:
    plan = FaultPlan([rule(sop_class="FilmBox", printer="PRINTSCP")])
    (state,) = plan.rules()
    assert str(state) == "#1 N-ACTION FilmBox on PRINTSCP: status 0xC602 (count 1, after 0) fired 0/1"
    fires(plan)
    (state,) = plan.rules()
    assert str(state) == "#1 N-ACTION FilmBox on PRINTSCP: status 0xC602 (count 1, after 0) fired 1/1 (spent)"
    other = plan.add(
        fault_rule(
            {
                "on": "N-SET",
                "sop_class": uids.BASIC_GRAYSCALE_IMAGE_BOX,  # a UID is shown by its name
                "calling_ae": "CT1",
                "delay": 2.5,
                "printer_status": "FAILURE",
                "printer_status_info": "FILM JAM",
                "count": 0,
                "after": 3,
            }
        )
    )
    assert str(other) == (
        "#2 N-SET ImageBox on any printer from CT1: delay 2.5 s, then printer FAILURE FILM JAM (count 0, after 3) "
        "fired 0"
    )


def test_numbers_are_not_reused_and_clear_can_keep_other_printers_rules() -> None:
    plan = FaultPlan([rule(), rule(printer="SECOND"), rule(printer="THIRD")])
    assert [s.rule.number for s in plan.rules("SECOND")] == [1, 2]  # its own and those for any printer
    assert plan.clear("SECOND") == 1
    assert [s.rule.number for s in plan.rules()] == [1, 3]
    assert plan.add(rule()).rule.number == 4
    assert plan.clear() == 3 and plan.rules() == []


def test_decide_adds_delays_keeps_printer_changes_and_lets_the_first_answer() -> None:
    plan = FaultPlan(
        [
            fault_rule({"on": "N-ACTION", "delay": 1.5}),
            fault_rule({"on": "N-ACTION", "printer_status": "WARNING", "printer_status_info": "SUPPLY LOW"}),
            fault_rule({"on": "N-ACTION", "status": 0xC602, "error_comment": "queue full", "delay": 0.5}),
            fault_rule({"on": "N-ACTION", "abort": True}),
        ]
    )
    decision = plan.decide("PRINTSCP", "N-ACTION", FILM_BOX, "SCU")
    assert decision is not None
    assert decision.delay == 2.0
    assert decision.printer_status == ((PrinterStatus.WARNING, "SUPPLY LOW"),)
    assert (decision.status, decision.error_comment, decision.abort, decision.serves) == (
        0xC602,
        "queue full",
        False,
        False,
    )
    effects = [applied.effect for applied in decision.applied]
    assert effects[0] == "delayed the response 1.5 s"
    assert effects[1] == "set printer PRINTSCP to WARNING (SUPPLY LOW); the request was then served"
    assert effects[2] == "delayed the response 0.5 s; answered 0xC602 (queue full) without serving the request"
    assert effects[3] == "overridden: rule #3 answered the request"
    assert [str(a.fired).split(":")[0] for a in decision.applied] == [
        f"#{n} N-ACTION on any printer" for n in (1, 2, 3, 4)
    ]
    assert plan.decide("PRINTSCP", "N-ACTION", FILM_BOX, "SCU") is None  # all four spent


def test_the_default_error_comment_names_the_rule() -> None:
    plan = FaultPlan([fault_rule({"on": "N-CREATE", "status": 0x0213})])
    decision = plan.decide("PRINTSCP", "N-CREATE", uids.BASIC_FILM_SESSION, "SCU")
    assert decision is not None and decision.error_comment == "fault plan rule #1"


def test_abort_decides_no_status_and_no_service() -> None:
    plan = FaultPlan([fault_rule({"on": "N-SET", "abort": True})])
    decision = plan.decide("PRINTSCP", "N-SET", uids.BASIC_GRAYSCALE_IMAGE_BOX, "SCU")
    assert decision is not None and decision.abort and decision.status is None and not decision.serves
    assert decision.applied[0].effect == "aborted the association (A-ABORT) instead of answering"


def test_the_plan_counts_exactly_under_concurrent_requests() -> None:
    plan = FaultPlan([rule(after=10, count=50)])
    fired: list[int] = []
    lock = threading.Lock()

    def requests() -> None:
        for _ in range(100):
            got = fires(plan)
            with lock:
                fired.extend(got)

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (state,) = plan.rules()
    assert (state.seen, state.fired, len(fired)) == (800, 50, 50)


@pytest.mark.parametrize(
    ("text", "value"), [("0xC602", 0xC602), ("0XB603", 0xB603), ("50690", 50690), ("0", 0), ("0x0000", 0)]
)
def test_parse_status(text: str, value: int) -> None:
    assert parse_status(text) == value


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("C602", "is not a status"),
        ("0x10000", "must be 0x0000 to 0xFFFF"),
        ("70000", "must be 0x0000 to 0xFFFF"),
        ("-1", "is not a status"),
        ("0110", "ambiguous: write 0x0110 (hex) or 110 (decimal)"),
        ("0xZZ", "is not a status"),
        ("", "is not a status"),
    ],
)
def test_parse_status_refuses(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_status(text)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"on": "N-FOO", "abort": True}, "on: 'N-FOO' is not one of N-CREATE"),
        ({"abort": True}, "on: required"),
        ({"on": "N-SET", "sop_class": "FilmRoll", "abort": True}, "sop_class: 'FilmRoll' is not a SOP Class UID"),
        ({"on": "C-ECHO", "sop_class": "FilmBox", "abort": True}, "sop_class: C-ECHO is a Verification request"),
        ({"on": "N-SET", "calling_ae": "A\\B", "abort": True}, "calling_ae: 'A\\B' is not an AE title"),
        ({"on": "N-SET", "after": -1, "abort": True}, "after: must be 0 or more"),
        ({"on": "N-SET", "count": -2, "abort": True}, "count: must be 0 (every time) or more"),
        ({"on": "N-SET", "delay": -1}, "delay: must be 0 to 3600 seconds"),
        ({"on": "N-SET", "status": 0x10000}, "status: must be 0x0000 to 0xFFFF"),
        ({"on": "N-SET", "status": "0xC602"}, "status: expected an integer"),
        ({"on": "N-SET", "abort": True, "error_comment": "x"}, "error_comment: goes with status"),
        ({"on": "N-SET", "status": 0xC602, "error_comment": "x" * 65}, "error_comment: an Error Comment is LO"),
        ({"on": "N-SET", "printer_status": "BROKEN"}, "printer_status: 'BROKEN' is not one of NORMAL, WARNING"),
        (
            {"on": "N-SET", "printer_status": "FAILURE", "printer_status_info": "FILM JAMMED"},
            "printer_status_info: 'FILM JAMMED' is not a Printer Status Info defined term of PS3.3 C.13.9.1",
        ),
        (
            {"on": "N-SET", "printer_status": "WARNING", "printer_status_info": "NORMAL"},
            "printer_status_info: 'NORMAL' does not go with printer_status WARNING",
        ),
        (
            {"on": "N-SET", "printer_status_info": "FILM JAM", "delay": 1},
            "printer_status_info: goes with printer_status",
        ),
        ({"on": "N-SET"}, "rule: does nothing"),
        ({"on": "N-SET", "status": 0xC602, "abort": True}, "abort: one of status, abort and printer_status per rule"),
        ({"on": "N-SET", "abort": True, "colour": "red"}, "colour: unknown key"),
    ],
)
def test_bad_rules_are_refused_naming_the_key(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        fault_rule(keys)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_sop_class_name_has_its_uid() -> None:
    assert tuple(SOP_CLASS_UIDS) == FAULT_SOP_CLASSES
    assert SOP_CLASS_UIDS["ImageBox"] == uids.BASIC_GRAYSCALE_IMAGE_BOX


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_plan_from_config_toml(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            """
[[faults.plan]]
on = "N-ACTION"
sop_class = "FilmBox"
status = 0xC602
error_comment = "print queue full (fault plan)"

[[faults.plan]]
on = "N-CREATE"
printer = "SECOND"
delay = 2

[printers.SECOND]
[[printers.SECOND.faults.plan]]
on = "N-SET"
abort = true
after = 2
""",
        )
    )
    texts = [str(state) for state in FaultPlan.from_config(config).rules()]
    assert texts == [
        '#1 N-ACTION FilmBox on any printer: status 0xC602 "print queue full (fault plan)" (count 1, after 0) '
        "fired 0/1",
        "#2 N-CREATE on SECOND: delay 2 s (count 1, after 0) fired 0/1",
        "#3 N-SET on SECOND: abort (count 1, after 2) fired 0/1",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[faults.plan]]\non = "N-ACTION"\nstatus = 70000\n', "faults.plan[0].status: must be 0x0000 to 0xFFFF"),
        (
            '[[faults.plan]]\non = "N-ACTION"\nabort = true\n[[faults.plan]]\non = "N-GOT"\nabort = true\n',
            "faults.plan[1].on: 'N-GOT' is not one of",
        ),
        (
            '[[faults.plan]]\non = "N-ACTION"\nabort = true\nprinter = "NOPE"\n',
            "faults.plan[0].printer: no printer 'NOPE'",
        ),
        (
            '[printers.SECOND]\n[[printers.SECOND.faults.plan]]\non = "N-SET"\nabort = true\nprinter = "SECOND"\n',
            "printers.SECOND.faults.plan[0].printer: the table's name is the printer already",
        ),
        ('[faults]\nplan = "abort"\n', "faults.plan: expected a list"),
    ],
)
def test_bad_plans_in_config_toml_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write_config(tmp_path, text))
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_commented_example_in_config_toml_loads(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "config.toml").read_text()
    start = text.index("# [[faults.plan]]")
    example = text[start : text.index("\n\n", start)].splitlines()
    assert example and all(line.startswith("#") for line in example)  # commented: the bundled server has no plan
    uncommented = "\n".join(line[2:] if line.startswith("# ") else "" for line in example)
    rules = FaultPlan.from_config(load_config(write_config(tmp_path, uncommented))).rules()
    assert [str(state.rule) for state in rules] == [
        '#1 N-ACTION FilmBox on any printer: status 0xC602 "print queue full" (count 1, after 2)',
        "#2 N-SET ImageBox on any printer: delay 2 s, then printer FAILURE FILM JAM (count 1, after 0)",
    ]
