"""Printer personalities against DCMTK's print client with the stock printer profiles of /etc/dcmtk/printers.cfg.

The AGFA and KODAK sections, as DCMTK ships them, send what real AGFA and Kodak film printers took and the
strict reading of PS3.4 H does not: the Film Session presentation attributes (AGFA,
PresentationLUTinFilmSession), vendor Defined Terms (Kodak Smoothing Type 0-15, CS000-CS015) and an
Annotation Position other than the box's (AGFA position 2, Kodak position 0; dcmprscu sets the annotation
boxes in list order). A `compatible` printer prints their jobs; a `strict` one answers the standard's status.
Each job is judged from dcmprscu's --dump log and from the film record printscp archived.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED_CONFIG, RunningServer
from dcmtk import DcmtkPrintClient, PrintLog, is_success_or_warning, split_pixels, stock_printer, write_image

from printscp.config import load_config

pytestmark = pytest.mark.dcmtk

StartServer = Callable[..., RunningServer]

SESSION, FILM_BOX = "BasicFilmSessionSOPClass", "BasicFilmBoxSOPClass"
ANNOTATION_BOX = "BasicAnnotationBoxSOPClass"
ATTRIBUTE_VALUE_OUT_OF_RANGE, NO_SUCH_ATTRIBUTE, INVALID_ATTRIBUTE_VALUE = 0x0116, 0x0105, 0x0106
KODAK_ALIASES = {"SmoothingType": {"3": "SHARP"}, "ConfigurationInformation": {"CS005": "CS700"}}


def printer(personality: str, term_aliases: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The bundled printer with a `personality`, and the annotation formats the stock profiles name: AGFA's
    ANNOTATION (two positions, as TOP_BOTTOM) and Kodak's LABEL (one)."""
    formats = load_config(BUNDLED_CONFIG).printer.annotation_display_formats
    return {
        "personality": personality,
        "term_aliases": term_aliases or {},
        "annotation_display_formats": {**formats, "ANNOTATION": formats["TOP_BOTTOM"]},
    }


def job(server: RunningServer, tmp_path: Path, section: str, *options: str) -> PrintLog:
    """One image printed by dcmpsprt + dcmprscu with DCMTK's stock printer `section`."""
    client = DcmtkPrintClient(tmp_path, server.host, server.port, printer=stock_printer(section))
    image = write_image(tmp_path / f"{section}-{client.jobs}.dcm", split_pixels())
    return client.print([image], render_options=options)


def assert_printed(log: PrintLog) -> None:
    statuses = "\n".join(f"{kind} {sop} 0x{status:04X}" for kind, sop, status in log.statuses)
    assert log.statuses and all(is_success_or_warning(status) for _, _, status in log.statuses), statuses
    assert log.printed, log.summary()


def film(server: RunningServer) -> dict[str, Any]:
    (stored,) = server.jobs()
    (printed,) = stored.manifest["films"]
    assert stored.pdfs and stored.pngs
    return dict(printed)


def test_agfa_profile(start_server: StartServer, tmp_path: Path) -> None:
    assert stock_printer("AGFA")["PresentationLUTinFilmSession"] == "true"
    options = ("--annotation", "AGFA TEXT", "--illumination", "1500", "--reflection", "20")
    # strict: the Film Session N-CREATE is 0105 (Film Box attributes since CP 173); DCMTK stops there
    strict = start_server(**printer("strict"))
    log = job(strict, tmp_path / "strict", "AGFA", *options)
    assert log.one("N-CREATE RSP", SESSION).status == NO_SUCH_ATTRIBUTE, log.summary()
    assert not log.printed and not log.find("N-CREATE RQ", FILM_BOX)
    assert strict.jobs() == []

    # compatible: the job prints, with the session's presentation values and the text where DCMTK meant it
    server = start_server(**printer("compatible"))
    log = job(server, tmp_path / "compatible", "AGFA", *options)
    assert_printed(log)
    # the pre-CP-173 placement: presentation attributes in the Film Session, none in the Film Box
    session = log.one("N-CREATE RQ", SESSION)
    assert (session.element("2010,015e"), session.element("2010,0160")) == ("1500", "20")
    assert session.elements("0008,1150") == ["=PresentationLUTSOPClass"]  # DCMTK shows a UID by name
    box = log.one("N-CREATE RQ", FILM_BOX)
    assert box.element("2010,015e") is None and box.element("2050,0500") is None
    # DCMTK sets the first annotation box with position 2
    assert log.one("N-SET RQ", ANNOTATION_BOX).element("2030,0010") == "2"
    printed = film(server)
    assert (printed["illumination"], printed["reflected_ambient_light"]) == (1500, 20)  # the session's, used
    plut = printed["image_boxes"][0]["presentation_lut"]
    assert plut is not None and plut["sop_instance_uid"] == session.element("0008,1155")
    texts = {a["annotation_position"]: a["text_string"] for a in printed["annotations"]}
    assert texts[1] == "" and texts[2].endswith("AGFA TEXT"), texts


def test_kodak_vendor_terms_and_position_0(start_server: StartServer, tmp_path: Path) -> None:
    options = ("--smoothing", "3", "--configinfo", "CS005")
    # compatible with the printer's aliases: no 0116, the supported terms stored and printed
    compatible = start_server(**printer("compatible", KODAK_ALIASES))
    log = job(compatible, tmp_path / "compatible", "KODAK", *options, "--annotation", "KODAK TEXT")
    assert_printed(log)
    assert all(status == 0 for _, _, status in log.statuses), log.summary()
    box = log.one("N-CREATE RSP", FILM_BOX)
    assert (box.element("2010,0080"), box.element("2010,0150")) == ("SHARP", "CS700")
    assert log.one("N-SET RQ", ANNOTATION_BOX).element("2030,0010") == "0"
    printed = film(compatible)
    assert (printed["smoothing_type"], printed["configuration_information"]) == ("SHARP", "CS700")
    assert printed["image_boxes"][0]["configuration_information"] == "CS700"
    assert printed["annotations"][0]["text_string"].endswith("KODAK TEXT")

    # strict: the same terms get 0116 and the printer's defaults, the film prints
    strict = start_server(**printer("strict", KODAK_ALIASES))
    log = job(strict, tmp_path / "strict", "KODAK", *options)
    assert_printed(log)
    box = log.one("N-CREATE RSP", FILM_BOX)
    assert box.status == ATTRIBUTE_VALUE_OUT_OF_RANGE, log.summary()
    assert (box.element("2010,0080"), box.element("2010,0150")) == ("MEDIUM", "CS500")
    printed = film(strict)
    assert (printed["smoothing_type"], printed["configuration_information"]) == ("MEDIUM", "CS500")
    # ... and Annotation Position 0 is 0106: DCMTK stops the job there (nothing more is printed)
    log = job(strict, tmp_path / "strict-annotation", "KODAK", *options, "--annotation", "KODAK TEXT")
    assert log.one("N-SET RSP", ANNOTATION_BOX).status == INVALID_ATTRIBUTE_VALUE, log.summary()
    assert not log.printed and len(strict.jobs()) == 1


def test_a_stock_section_reads_as_dcmtk_ships_it() -> None:
    agfa = stock_printer("AGFA")
    assert agfa["Annotation"] == "2\\ANNOTATION" and agfa["SmoothingType"] == "0\\140"
    assert not {"hostname", "port", "type", "aetitle", "description"} & {key.lower() for key in agfa}
    with pytest.raises(AssertionError):
        stock_printer("NO SUCH PRINTER")
