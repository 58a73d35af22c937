"""The vendor printer presets (printscp/presets/*.toml): each loads through config.toml as `[printers.AE]
preset = "NAME"`, is the printer its file says, and takes what DCMTK's stock print profiles send."""

from __future__ import annotations

import io
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from printscp import uids
from printscp.config import ConfigError, load_config
from printscp.engine import AssociationInfo, PrintEngine
from printscp.model.personality import Leniency
from printscp.model.printer import Printer
from printscp.model.profile import PrinterProfile
from printscp.model.record import GrayscaleImage, PrintRequest
from printscp.presets import preset_names

PRESETS = ("AGFA_DRYSTAR", "CODONICS_HORIZON", "FUJI_DRYPIX", "KODAK_DRYVIEW", "KONICA_DRYPRO", "SONY_UP")

# The keys of config.toml's [printer] that describe a printer model (the site's serial number, software
# versions, calibration date and copy limit stay printscp's), plus the preset's own two.
PRESET_KEYS = {
    "name",
    "manufacturer",
    "manufacturer_model_name",
    "film_size_ids",
    "image_display_formats",
    "max_columns",
    "max_rows",
    "medium_types",
    "film_destinations",
    "magnification_types",
    "smoothing_types",
    "min_density",
    "max_density",
    "supports_12_bit",
    "supports_trim",
    "supports_requested_image_size",
    "supports_decimate_crop",
    "supports_presentation_lut",
    "supports_film_session_print",
    "supports_color",
    "slide_formats",
    "custom_display_formats",
    "resolutions",
    "contrast_curves",
    "annotation_display_formats",
    "defaults",
    "personality",
}
DEFAULTS_KEYS = {
    "number_of_copies",
    "print_priority",
    "medium_type",
    "film_destination",
    "film_orientation",
    "film_size_id",
    "magnification_type",
    "smoothing_type",
    "max_density",
    "min_density",
    "configuration_information",
    "border_density",
    "empty_image_density",
    "trim",
    "illumination",
    "reflective_illumination",
    "reflected_ambient_light",
    "requested_resolution_id",
    "requested_decimate_crop_behavior",
    "polarity",
    "annotation_display_format_id",
}


def printers(tmp_path: Path, text: str) -> dict[str, PrinterProfile]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {ae: printer.profile for ae, printer in load_config(path).printers.items()}


def preset(tmp_path: Path, name: str) -> PrinterProfile:
    return printers(tmp_path, f'[printers.{name}]\npreset = "{name}"\n')[name]


def preset_text(name: str) -> str:
    return resources.files("printscp.presets").joinpath(f"{name}.toml").read_text(encoding="utf-8")


# --- every preset ---------------------------------------------------------------------------------------


def test_the_six_presets_are_offered() -> None:
    assert preset_names() == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_loads_validated_names_itself_and_is_compatible(tmp_path: Path, name: str) -> None:
    profile = preset(tmp_path, name)
    assert profile.preset == name
    assert profile.personality == "compatible"
    assert profile.allows(Leniency.VENDOR_TERMS)
    d = profile.defaults
    assert d.film_size_id in profile.film_size_ids and d.medium_type in profile.medium_types
    assert d.configuration_information in profile.contrast_curves
    assert profile.dpi(d.requested_resolution_id) == profile.resolutions["STANDARD"]


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_sets_every_printer_key_and_cites_its_conformance_statement(name: str) -> None:
    text = preset_text(name)
    table = tomllib.loads(text)
    assert set(table) - {"term_aliases"} == PRESET_KEYS, "a key left out would silently be printscp's generic one"
    assert set(table["defaults"]) == DEFAULTS_KEYS
    header = text.split("\npersonality")[0]
    assert all(line.startswith("#") for line in header.splitlines() if line)
    assert "conformance statement" in header.lower()


@pytest.mark.parametrize(
    ("name", "model", "sizes", "dpi"),
    [
        ("AGFA_DRYSTAR", "DRYSTAR 5300", {"8INX10IN", "10INX12IN", "11INX14IN", "14INX14IN", "14INX17IN"}, 320),
        ("KODAK_DRYVIEW", "5700", {"8INX10IN", "10INX12IN", "11INX14IN", "14INX14IN", "14INX17IN"}, 508),
        (
            "FUJI_DRYPIX",
            "DRYPIX 7000",
            {"8INX10IN", "10INX12IN", "10INX14IN", "11INX14IN", "14INX14IN", "14INX17IN"},
            508,
        ),
        ("KONICA_DRYPRO", "DRYPRO 832", {"8INX10IN", "10INX12IN", "11INX14IN", "14INX14IN", "14INX17IN"}, 581),
        ("SONY_UP", "UP-D897", {"75MMX100MM", "100MMX150MM"}, 325),
        ("CODONICS_HORIZON", "Horizon Ci", {"8INX10IN", "8_5INX11IN", "A4"}, 320),
    ],
)
def test_a_preset_is_its_model(tmp_path: Path, name: str, model: str, sizes: set[str], dpi: int) -> None:
    profile = preset(tmp_path, name)
    assert profile.manufacturer_model_name == model
    assert set(profile.film_size_ids) == sizes
    assert profile.resolutions == {"STANDARD": dpi}
    assert "STANDARD" in profile.image_display_formats


def test_agfa_drystar(tmp_path: Path) -> None:
    p = preset(tmp_path, "AGFA_DRYSTAR")
    assert (p.name, p.manufacturer) == ("DRYSTAR5300", "Agfa HealthCare")
    assert p.smoothing_types == tuple(str(i) for i in range(141))  # the Drystar takes 0..140
    assert (p.max_columns, p.max_rows) == (6, 6)
    assert len(p.annotation_display_formats["ANNOTATION"].boxes) == 6
    assert p.term_aliases["ConfigurationInformation"]["PERCEPTION_LUT=KANAMORI"] == "CS001"


def test_kodak_dryview(tmp_path: Path) -> None:
    p = preset(tmp_path, "KODAK_DRYVIEW")
    assert (p.name, p.manufacturer) == ("5700", "Carestream Health")
    assert list(p.contrast_curves) == [f"CS{i:03d}" for i in range(16)]
    assert p.contrast_curves["CS000"] == 1.0 and sorted(p.contrast_curves.values()) == list(p.contrast_curves.values())
    assert p.smoothing_types == tuple(str(i) for i in range(16))
    assert p.film_destinations == ("BIN_1", "PROCESSOR") and p.min_density == 0
    assert len(p.annotation_display_formats["LABEL"].boxes) == 1
    assert p.term_aliases["FilmSizeID"]["CURRENT"] == p.defaults.film_size_id
    assert p.term_aliases["MediumType"]["CURRENT"] == p.defaults.medium_type


def test_fuji_drypix_and_konica_drypro(tmp_path: Path) -> None:
    fuji, konica = preset(tmp_path, "FUJI_DRYPIX"), preset(tmp_path, "KONICA_DRYPRO")
    assert (fuji.name, fuji.manufacturer) == ("DRYPIX7000", "FUJIFILM Corporation")
    assert (konica.name, konica.manufacturer) == ("DRYPRO832", "Konica Minolta Medical & Graphic, Inc.")
    assert konica.smoothing_types == ("1", "2", "3", "4", "5", "6", "7")
    assert konica.magnification_types == ("REPLICATE", "BILINEAR", "CUBIC")


def test_sony_up_is_an_8_bit_paper_printer(tmp_path: Path) -> None:
    p = preset(tmp_path, "SONY_UP")
    assert (p.name, p.manufacturer) == ("UP-D897", "Sony Corporation")
    assert not p.supports_12_bit
    assert p.medium_types == ("PAPER",)
    assert (p.defaults.film_size_id, p.defaults.film_orientation) == ("75MMX100MM", "LANDSCAPE")
    assert p.illumination_for(p.defaults.medium_type) == p.defaults.reflective_illumination


def test_codonics_horizon_is_the_colour_preset(tmp_path: Path) -> None:
    p = preset(tmp_path, "CODONICS_HORIZON")
    assert (p.name, p.manufacturer) == ("HORIZON", "Codonics, Inc.")
    assert p.supports_color
    assert [name for name in PRESETS if preset(tmp_path, name).supports_color] == ["CODONICS_HORIZON"]
    assert set(p.medium_types) == {"PAPER", "BLUE FILM", "CLEAR FILM"}
    assert p.film_destinations == ("MAGAZINE", "BIN_1", "BIN_2", "BIN_3")  # its three receive trays
    assert (p.defaults.medium_type, p.defaults.film_size_id) == ("PAPER", "8_5INX11IN")  # "a-cvp"
    assert p.illumination_for(p.defaults.medium_type) == p.defaults.reflective_illumination


# --- config.toml's view of them -------------------------------------------------------------------------


def test_an_unknown_preset_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^printers\.X\.preset: 'NO_SUCH' is not a printer preset"):
        printers(tmp_path, '[printers.X]\npreset = "NO_SUCH"\n')


def test_a_printer_key_overrides_the_presets_and_sub_tables_merge(tmp_path: Path) -> None:
    text = """
[printers.X]
preset = "AGFA_DRYSTAR"
name = "WARD3"
max_rows = 5
[printers.X.defaults]
film_size_id = "8INX10IN"
[printers.X.resolutions]
HIGH = 600
"""
    plain = preset(tmp_path, "AGFA_DRYSTAR")
    p = printers(tmp_path, text)["X"]
    assert (p.name, p.max_rows, p.preset) == ("WARD3", 5, "AGFA_DRYSTAR")
    assert p.defaults.film_size_id == "8INX10IN"
    # the rest of [defaults] and [resolutions] is still the preset's
    assert (p.defaults.medium_type, p.defaults.smoothing_type) == (plain.defaults.medium_type, "0")
    assert p.resolutions == {"STANDARD": 320, "HIGH": 600}
    assert (p.film_size_ids, p.term_aliases) == (plain.film_size_ids, plain.term_aliases)


def test_an_override_is_validated_against_the_preset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^printers\.X\.defaults\.medium_type: 'PAPER' is not one of"):
        printers(tmp_path, '[printers.X]\npreset = "KODAK_DRYVIEW"\n[printers.X.defaults]\nmedium_type = "PAPER"\n')


# --- DCMTK's stock print profiles (/etc/dcmtk/printers.cfg) ---------------------------------------------

# What dcmprscu sends to the printers of its sections [AGFA] ("AGFA Drystar 3000") and [KODAK]
# ("Kodak 8700/9410"), as the file writes them (DisplayFormat: columns,rows).
DCMTK: dict[str, dict[str, Any]] = {
    "AGFA_DRYSTAR": {
        "DisplayFormat": (
            "1,1\\2,1\\1,2\\2,2\\3,2\\2,3\\3,3\\4,3\\5,3\\3,4\\4,4\\5,4\\6,4\\3,5\\4,5\\5,5\\6,5\\4,6\\5,6"
        ),
        "FilmSizeID": ["8INX10IN", "11INX14IN", "14INX14IN", "14INX17IN"],
        "MediumType": ["PAPER", "CLEAR FILM", "BLUE FILM"],
        "MagnificationType": ["REPLICATE", "BILINEAR", "CUBIC"],
        "SmoothingType": ["0", "140"],
        "BorderDensity": ["BLACK", "WHITE", "150"],
        "EmptyImageDensity": ["BLACK", "WHITE", "150"],
        "MaxDensity": [320, 310, 300, 290, 280, 270],
        "MinDensity": [20, 25, 30, 35, 40, 45, 50],
        "ConfigurationInformation": [
            "PERCEPTION_LUT=LINEAR",
            "PERCEPTION_LUT=KANAMORI",
            "ANNOTATION1=FILE1",
            "ANNOTATION1=PATID",
            "WINDOW_WIDTH=256\\WINDOW_CENTER=128",
        ],
        "Annotation": (2, "ANNOTATION"),
        "PresentationLUTinFilmSession": True,
    },
    "KODAK_DRYVIEW": {
        "DisplayFormat": "1,1\\1,2\\2,2\\2,3\\3,3\\3,4\\3,5\\4,4\\4,5",
        "FilmSizeID": ["8INX10IN", "11INX14IN", "14INX17IN", "CURRENT"],
        "MediumType": ["CLEAR FILM", "BLUE FILM", "CURRENT"],
        "MagnificationType": ["REPLICATE", "BILINEAR", "CUBIC", "NONE"],
        "SmoothingType": [str(i) for i in range(16)],
        "BorderDensity": ["BLACK", "WHITE"],
        "EmptyImageDensity": [],
        "MaxDensity": [320, 310, 300, 290, 280, 270],
        "MinDensity": [20, 25, 30, 35, 40, 45, 50],
        "ConfigurationInformation": [f"CS{i:03d}" for i in range(16)],
        "Annotation": (0, "LABEL"),
        "PresentationLUTinFilmSession": False,
    },
}


def display_formats(sent: dict[str, Any]) -> list[tuple[int, int]]:
    return [(int(c), int(r)) for c, r in (f.split(",") for f in sent["DisplayFormat"].split("\\"))]


SUPPORTED = {  # keyword -> the profile's list of supported terms
    "FilmSizeID": "film_size_ids",
    "MediumType": "medium_types",
    "MagnificationType": "magnification_types",
    "SmoothingType": "smoothing_types",
    "ConfigurationInformation": "contrast_curves",
}


@pytest.mark.parametrize("name", list(DCMTK))
def test_every_term_dcmtks_profile_sends_is_supported_or_aliased(tmp_path: Path, name: str) -> None:
    p, sent = preset(tmp_path, name), DCMTK[name]
    for keyword, attribute in SUPPORTED.items():
        supported, aliases = list(getattr(p, attribute)), p.term_aliases.get(keyword, {})
        for term in sent[keyword]:
            assert term in supported or aliases.get(term) in supported, f"{keyword} {term}"
    for columns, rows in display_formats(sent):
        assert columns <= p.max_columns and rows <= p.max_rows, f"STANDARD\\{columns},{rows}"
    for density in [*sent["MaxDensity"], *sent["MinDensity"]]:
        assert p.min_density <= density <= p.max_density
    for density in [*sent["BorderDensity"], *sent["EmptyImageDensity"]]:
        assert density in ("BLACK", "WHITE") or p.min_density <= int(density) <= p.max_density
    position, format_id = sent["Annotation"]
    assert position <= len(p.annotation_display_formats[format_id].boxes) or p.allows(Leniency.ANNOTATION_POSITION)
    assert p.supports_12_bit and p.supports_trim and p.supports_requested_image_size and p.supports_presentation_lut
    assert not sent["PresentationLUTinFilmSession"] or p.allows(Leniency.FILM_SESSION_PRESENTATION)


class NoPrinting:
    def prepare(self, image: GrayscaleImage) -> None:
        pass

    def submit(self, request: PrintRequest) -> str:
        return "1.2.3"

    def print_job(self, sop_instance_uid: str) -> Any:
        return None


def wire(ds: Dataset) -> Dataset:
    data = encode(ds, True, True)
    assert data is not None
    return decode(io.BytesIO(data), True, True)


@pytest.mark.parametrize("name", list(DCMTK))
def test_dcmtks_own_terms_print_without_a_warning(tmp_path: Path, name: str) -> None:
    """The values of DCMTK's profile that are the printer's own terms pass printscp's attribute rules with
    status 0000 (the vendor aliases are Leniency.VENDOR_TERMS's, checked as data above)."""
    p, sent = preset(tmp_path, name), DCMTK[name]
    engine = PrintEngine(p, Printer(), AssociationInfo("DCMTK_PRINTSCU", name), NoPrinting())
    meta = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META

    def own(keyword: str) -> list[Any]:
        return [v for v in sent[keyword] if v not in p.term_aliases.get(keyword, {})]

    session_uid = engine.n_create(meta, uids.BASIC_FILM_SESSION, None, None).affected_sop_instance_uid
    assert session_uid
    for medium in own("MediumType"):
        session = Dataset()
        session.MediumType = medium
        outcome = engine.n_set(meta, uids.BASIC_FILM_SESSION, session_uid, wire(session))
        assert not outcome.warnings, outcome.error_comment
    changes: list[tuple[str, Any]] = [
        *((k, v) for k in ("FilmSizeID", "MagnificationType", "SmoothingType") for v in own(k)),
        *(("ConfigurationInformation", v) for v in own("ConfigurationInformation")),
        *(("BorderDensity", v) for v in sent["BorderDensity"]),
        *(("EmptyImageDensity", v) for v in sent["EmptyImageDensity"]),
        *(("MaxDensity", v) for v in sent["MaxDensity"]),
        *(("MinDensity", v) for v in sent["MinDensity"]),
        ("Trim", "YES"),
    ]
    for columns, rows in display_formats(sent):
        changes.append(("ImageDisplayFormat", f"STANDARD\\{columns},{rows}"))
    for keyword, value in changes:
        box = Dataset()
        box.ImageDisplayFormat = "STANDARD\\1,1"
        box.MagnificationType = "CUBIC"  # Smoothing Type is only for CUBIC
        setattr(box, keyword, value)
        reference = Dataset()
        reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = uids.BASIC_FILM_SESSION, session_uid
        box.ReferencedFilmSessionSequence = [reference]
        outcome = engine.n_create(meta, uids.BASIC_FILM_BOX, None, wire(box))
        assert not outcome.warnings, f"{keyword} {value}: {outcome.error_comment}"
