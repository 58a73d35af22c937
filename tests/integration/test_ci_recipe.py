"""The README's five-line CI recipe, run as written (a real `printscp serve`, a real SCU, `printscp report`)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from dcmtk import free_port, write_image
from printscu import ramp

REPO = Path(__file__).resolve().parents[2]


def recipe() -> str:
    """The sh block of the README's 'Testing a print SCU' section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing a print SCU", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one sh block: the recipe"
    return str(blocks[0])


def run_recipe(tmp_path: Path, scu: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The recipe with the SCU under test replaced by `scu`, on a free port, the archive in tmp_path."""
    text = recipe()
    lines = text.strip().splitlines()
    assert len(lines) == 5, text
    assert "your-print-scu" in lines[2]
    port = str(free_port())
    archive = tmp_path / "bench"
    script = "\n".join([lines[0], lines[1], scu, lines[3], lines[4]])
    script = script.replace("11112", port).replace("--archive bench", f"--archive {archive}")
    script = script.replace("--output report.xml", f"--output {tmp_path / 'report.xml'}")
    # its own process group: the server it starts in the background is stopped with it whatever happens
    process = subprocess.Popen(
        ["bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), tmp_path / "report.xml"


def test_the_ci_recipe_reports_a_print_as_junit(tmp_path: Path) -> None:
    image = write_image(tmp_path / "image.dcm", ramp(64, 64))
    scu = f".venv/bin/printscp print --host 127.0.0.1 --port 11112 --calling-ae MYSCU --called-ae PRINTSCP {image}"
    result, report = run_recipe(tmp_path, scu)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = list(ET.parse(report).getroot().iter("testcase"))
    names = [case.get("name", "") for case in cases]
    assert any("N-ACTION-RQ Basic Film Box" in name for name in names), names
    assert not [case for case in cases if case.find("failure") is not None]


def test_the_ci_recipe_fails_when_the_scu_never_prints(tmp_path: Path) -> None:
    result, report = run_recipe(tmp_path, "true")  # an SCU that does nothing: only the C-ECHO was recorded
    assert result.returncode == 2 and "no transcript" in result.stderr, result.stdout + result.stderr
    assert not report.exists()
