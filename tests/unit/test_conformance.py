"""The conformance statement of each printer (printscp/conformance.py, `printscp conformance`): it shows what the
printer's configuration holds and nothing else, and docs/printers/ is exactly what it generates for the bundled
config.toml, so that neither can drift from what printscp does."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from printscp import presets, uids
from printscp.config import Config, FaultConfig, PrinterConfig, load_config, validate
from printscp.conformance import conformance_statement, file_name
from printscp.model.encode import encode_printer_configuration
from printscp.model.personality import LENIENCIES, Leniency

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "config.toml"
PRINTERS_DOCS = REPO / "docs" / "printers"
REGENERATE = "printscp conformance --config config.toml --write docs/printers"


# --- reading the Markdown back ------------------------------------------------------------------------------


def section(text: str, title: str) -> str:
    """From the heading that contains `title` to the next heading of its level or above."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and title in line)
    level = len(lines[start].split(" ")[0])
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("#") and len(lines[i].split(" ")[0]) <= level),
        len(lines),
    )
    return "\n".join(lines[start:end])


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of `text`, each as its rows: column heading -> cell."""
    found: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        elif block:
            header, _separator, *rows = block
            found.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return found


def attribute_rows(text: str, sop_class: str, service: str) -> dict[str, dict[str, str]]:
    """The attribute table of a SOP class for one service, by attribute name."""
    part = section(text, f" {sop_class} (")
    table = tables(part[part.index(f"\n{service}:\n") :])[0]
    return {row["Attribute"]: row for row in table}


# --- docs/printers/ -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ae_title", list(load_config(BUNDLED).all_printers))
def test_docs_printers_hold_what_the_bundled_config_generates(ae_title: str) -> None:
    path = PRINTERS_DOCS / file_name(ae_title)
    assert path.is_file(), f"{path} is missing: regenerate docs/printers/ with `{REGENERATE}`"
    generated = conformance_statement(load_config(BUNDLED), ae_title)
    assert path.read_text(encoding="utf-8") == generated, (
        f"{path} differs from what the configuration generates: regenerate docs/printers/ with `{REGENERATE}`"
    )


def test_docs_printers_hold_no_statement_of_a_printer_gone() -> None:
    expected = {file_name(ae_title) for ae_title in load_config(BUNDLED).all_printers}
    found = {path.name for path in PRINTERS_DOCS.glob("*.md")}
    assert found == expected, f"delete {sorted(found - expected)} from docs/printers/, then run `{REGENERATE}`"


# --- what a statement shows ---------------------------------------------------------------------------------


def distinctive() -> Config:
    """The bundled config with a second printer whose values appear nowhere else."""
    config = load_config(BUNDLED)
    profile = dataclasses.replace(
        config.printer,
        name="DryView 8900",
        film_size_ids=("8INX10IN",),
        supports_presentation_lut=False,
        personality="compatible",
        term_aliases={"SmoothingType": {"3": "MEDIUM"}},
        film_stamp="{sheet}/{sheets} {calling}",
        defaults=dataclasses.replace(config.printer.defaults, film_size_id="8INX10IN"),
    )
    printer = PrinterConfig("DRYVIEW", profile, FaultConfig(fail_every=7))
    return validate(dataclasses.replace(config, printers={"DRYVIEW": printer}))


def test_a_printer_statement_shows_exactly_its_own_values() -> None:
    config = distinctive()
    text = conformance_statement(config, "DRYVIEW")
    identity = {row["Item"]: row["Value"] for row in tables(section(text, "1. Identity"))[0]}
    assert identity["AE title (Called AE Title)"] == "`DRYVIEW`"
    assert identity["Printer Name (2110,0030)"] == "DryView 8900"
    assert identity["Personality"].startswith("`compatible`: ")

    film_box = attribute_rows(text, "Basic Film Box", "N-CREATE")
    assert film_box["Film Size ID"]["Supported values"] == "8INX10IN"
    assert film_box["Film Size ID"]["Default"] == "8INX10IN"
    assert "14INX17IN" not in text  # the bundled printer's sizes are not this one's
    for sop_class, service in (("Basic Film Box", "N-CREATE"), ("Basic Grayscale Image Box", "N-SET")):
        smoothing = attribute_rows(text, sop_class, service)["Smoothing Type"]
        assert smoothing["Vendor aliases"] == "`3` → MEDIUM"
    assert LENIENCIES[Leniency.VENDOR_TERMS].accepted in section(text, "3. SOP classes")

    # no Presentation LUT: neither its context, nor its class, nor the Film Box attributes it switches on
    contexts = [row["Abstract syntax"] for row in tables(section(text, "2. Presentation contexts"))[0]]
    assert contexts == [
        uids.name(uid)
        for uid in (
            uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META,
            uids.BASIC_COLOR_PRINT_MANAGEMENT_META,
            uids.PRINTER,
            uids.PRINT_JOB,
            uids.PRINTER_CONFIGURATION_RETRIEVAL,
            uids.BASIC_ANNOTATION_BOX,
        )
    ]
    assert "Not offered, as this printer does not support them: Presentation LUT." in text
    assert " Presentation LUT (" not in text  # no section of its own
    assert "Referenced Presentation LUT Sequence" not in film_box and "Illumination" not in film_box
    assert "answered 0105 No such Attribute: Referenced Presentation LUT Sequence (2050,0500)" in text

    # the compatible personality: every leniency, as model/personality.py has it
    leniencies = tables(section(text, "4. Personality"))[0]
    assert leniencies == [
        {"Leniency": name.value, "Accepted": rule.accepted, "Needed by": rule.needed_by, "Strict answer": rule.strict}
        for name, rule in LENIENCIES.items()
    ]

    # printable pixels: what Printer Configuration Retrieval reports, for the one film size
    capabilities = tables(section(text, "5. Capabilities"))
    assert {
        "Capability (config key, docs/conformance.md §4.4.2)": "`supports_presentation_lut`",
        "This printer": "no",
    } in (capabilities[0])
    assert {
        "Capability (config key, docs/conformance.md §4.4.2)": "`film_stamp`",
        "This printer": "`{sheet}/{sheets} {calling}`",
    } in capabilities[0]
    (item,) = encode_printer_configuration(config.printers["DRYVIEW"].profile).PrinterConfigurationSequence
    reported = {
        f"{entry.PrinterResolutionID} ({config.printer.resolutions[entry.PrinterResolutionID]} dpi)": (
            f"{entry.Columns} x {entry.Rows}"
        )
        for entry in item.SupportedImageDisplayFormatsSequence
        if entry.ImageDisplayFormat == "STANDARD\\1,1"
    }
    assert capabilities[1] == [{"Film Size ID": "8INX10IN", **reported}]

    faults = tables(section(text, "6. Scripted faults"))[0]
    assert {"Key": "`fail_every`", "Value": "7"} in faults
    assert "`[printers.DRYVIEW.faults]`" in text


def test_a_strict_printer_lists_no_leniency() -> None:
    config = load_config(BUNDLED)
    aliased = dataclasses.replace(config.printer, term_aliases={"SmoothingType": {"3": "MEDIUM"}})
    text = conformance_statement(dataclasses.replace(config, printer=aliased), config.network.ae_title)
    assert "`strict`: " in section(text, "4. Personality")
    assert tables(section(text, "4. Personality")) == []
    assert not [leniency for leniency in Leniency if leniency.value in text]
    # its vendor aliases are listed, with the strict answer instead of the leniency
    assert attribute_rows(text, "Basic Film Box", "N-SET")["Smoothing Type"]["Vendor aliases"] == "`3` → MEDIUM"
    assert LENIENCIES[Leniency.VENDOR_TERMS].strict in text
    assert LENIENCIES[Leniency.VENDOR_TERMS].accepted not in text


def test_the_preset_and_the_statement_it_cites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(BUNDLED)  # its printers use the real presets; then the folder is swapped for a demo one
    (tmp_path / "DEMO.toml").write_text(
        "# Demo Imaging DV 5000\n# DICOM Conformance Statement DOC-123, rev. 4\n#\n\nname = 'DV 5000'\n# not header\n"
    )
    monkeypatch.setattr(presets, "_folder", lambda: tmp_path)
    assert presets.preset_header("DEMO") == ("Demo Imaging DV 5000", "DICOM Conformance Statement DOC-123, rev. 4", "")
    assert presets.preset_header("NONE") == ()

    config = dataclasses.replace(config, printer=dataclasses.replace(config.printer, preset="DEMO"))
    text = conformance_statement(config, config.network.ae_title, presets.preset_header)
    identity = section(text, "1. Identity")
    assert "| Vendor preset | `DEMO` (printscp/presets/DEMO.toml) |" in identity
    assert "> Demo Imaging DV 5000\n> DICOM Conformance Statement DOC-123, rev. 4\n" in identity
    assert "not header" not in text
    assert "names no source" in conformance_statement(config, config.network.ae_title, lambda name: ())


# --- the command --------------------------------------------------------------------------------------------


def printscp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printscp", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_an_unknown_printer_is_one_line_and_exit_2() -> None:
    result = printscp("conformance", "--config", str(BUNDLED), "--printer", "NOPE")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("printscp: conformance: no printer 'NOPE'") and "PRINTSCP" in result.stderr


def test_the_command_prints_and_writes_what_the_generator_makes(tmp_path: Path) -> None:
    config = load_config(BUNDLED)
    printed = printscp("conformance", "--config", str(BUNDLED))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == conformance_statement(config, config.network.ae_title)

    written = printscp("conformance", "--config", str(BUNDLED), "--write", str(tmp_path / "printers"))
    assert written.returncode == 0, written.stderr
    files = sorted((tmp_path / "printers").iterdir())
    assert [path.name for path in files] == sorted(file_name(ae_title) for ae_title in config.all_printers)
    for path in files:
        ae_title = next(ae for ae in config.all_printers if file_name(ae) == path.name)
        assert path.read_text(encoding="utf-8") == conformance_statement(config, ae_title)


def test_file_names_stay_in_their_folder() -> None:
    assert file_name("PRINTSCP") == "PRINTSCP.md"
    assert file_name("../x y") == "_x_y.md"
    assert file_name("..") == "printer.md"
