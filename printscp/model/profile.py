"""The printer profile: what one virtual printer is, supports and defaults to.

Domain data, built from `[printer]` in config.toml by config.py (which validates it) and read by the
model, the renderer and the archive. It lives in the model so that the model imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from printscp import __version__
from printscp.model.enums import FILM_SIZES_MM, REFLECTIVE_MEDIUM_TYPES, VENDOR_FILM_SIZES
from printscp.model.layout import LayoutTables
from printscp.model.personality import PERSONALITIES, Leniency


@dataclass(frozen=True)
class AnnotationDisplayFormat:
    """Where the text boxes of one Annotation Display Format ID lie on the film.

    Rectangles are [left, top, width, height] in fractions of the film as oriented; box n is
    Annotation Position n. `image_area` is the part of the film the image boxes share.
    """

    boxes: tuple[tuple[float, float, float, float], ...] = ()
    image_area: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class PrinterDefaults:
    """The value every U/M (and used U/U) attribute takes when the SCU sends none."""

    number_of_copies: int = 1
    print_priority: str = "MED"
    medium_type: str = "CLEAR FILM"
    film_destination: str = "MAGAZINE"
    film_orientation: str = "PORTRAIT"
    film_size_id: str = "14INX17IN"
    magnification_type: str = "BILINEAR"
    smoothing_type: str = "MEDIUM"
    max_density: int = 300
    min_density: int = 20
    configuration_information: str = "CS500"
    border_density: str = "BLACK"
    empty_image_density: str = "BLACK"
    trim: str = "NO"
    illumination: int = 2000  # L0 of a light box, cd/m2 (PS3.4 H.4.2.2.1.1)
    reflective_illumination: int = 150  # L0 for reflective media (PAPER)
    reflected_ambient_light: int = 10  # La, cd/m2
    requested_resolution_id: str = "STANDARD"
    requested_decimate_crop_behavior: str = "DECIMATE"
    polarity: str = "NORMAL"
    annotation_display_format_id: str = ""  # "" = none unless the SCU asks for one


@dataclass(frozen=True)
class PrinterProfile:
    """What the virtual printer is and what it supports; first-class part of the Conformance Statement."""

    name: str = "printscp"
    personality: str = "strict"  # model/personality.py: what is accepted beyond the strict standard
    preset: str = ""  # the vendor preset it was built from (printscp/presets/<preset>.toml), if any
    manufacturer: str = "printscp"
    manufacturer_model_name: str = "Virtual Film Printer"
    device_serial_number: str = "PSCP-0001"
    software_versions: tuple[str, ...] = ()  # empty: "printscp <version>"
    date_of_last_calibration: str = ""
    time_of_last_calibration: str = ""
    film_size_ids: tuple[str, ...] = tuple(size for size in FILM_SIZES_MM if size not in VENDOR_FILM_SIZES)
    image_display_formats: tuple[str, ...] = ("STANDARD", "ROW", "COL", "SLIDE", "SUPERSLIDE", "CUSTOM")
    max_columns: int = 10
    max_rows: int = 10
    # SLIDE / SUPERSLIDE: [box width, box height, pitch] in mm; as many as fit the film (PS3.3 C.13.3)
    slide_formats: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: {"SLIDE": (36.0, 24.0, 50.0), "SUPERSLIDE": (40.0, 40.0, 50.0)}
    )
    # CUSTOM\i: image boxes as [left, top, width, height] fractions of the image area, in position order
    custom_display_formats: Mapping[str, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)
    medium_types: tuple[str, ...] = ("CLEAR FILM", "BLUE FILM", "PAPER")
    film_destinations: tuple[str, ...] = ("MAGAZINE", "PROCESSOR")
    magnification_types: tuple[str, ...] = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")
    smoothing_types: tuple[str, ...] = ("MEDIUM", "SHARP", "SMOOTH")
    # Requested Resolution ID -> the printer's dots per inch: the printable pixels of a box (model/layout.py)
    resolutions: Mapping[str, int] = field(default_factory=lambda: {"STANDARD": 300, "HIGH": 600})
    contrast_curves: Mapping[str, float] = field(default_factory=lambda: {"CS500": 1.0})
    min_density: int = 10  # the printer's operating range, hundredths of OD
    max_density: int = 330
    max_number_of_copies: int = 99
    supports_12_bit: bool = True
    supports_trim: bool = True
    supports_requested_image_size: bool = True
    supports_decimate_crop: bool = True
    supports_presentation_lut: bool = True
    supports_color: bool = False  # Basic Color Print Management (PS3.4 H.3.2.2); False: its context is rejected
    supports_film_session_print: bool = True  # Film Session N-ACTION (PS3.4 H.4.1.2.4); False -> C616 rule
    annotation_display_formats: Mapping[str, AnnotationDisplayFormat] = field(default_factory=dict)
    # Attribute keyword -> vendor Defined Term -> the supported term it means (Leniency.VENDOR_TERMS)
    term_aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # A line of text on each film's bottom edge: a template of model/stamp.py's placeholders; "": none
    film_stamp: str = ""
    # [nodes] AE titles (DICOM print SCPs) and [paper] names that every film printed here is relayed to
    relay_to: tuple[str, ...] = ()
    defaults: PrinterDefaults = field(default_factory=PrinterDefaults)

    def allows(self, leniency: Leniency) -> bool:
        """Whether this printer's personality accepts what `leniency` describes."""
        return PERSONALITIES[self.personality].allows(leniency)

    @property
    def all_software_versions(self) -> tuple[str, ...]:
        return self.software_versions or (f"printscp {__version__}",)

    @property
    def layout_tables(self) -> LayoutTables:
        return LayoutTables(self.slide_formats, self.custom_display_formats)

    def dpi(self, requested_resolution_id: str) -> int:
        """The printer's resolution for a Requested Resolution ID: what decides how many pixels an image box
        prints (model/layout.py). The PNG is drawn at it or at [render] png_dpi, whichever is lower."""
        return self.resolutions.get(requested_resolution_id, self.resolutions["STANDARD"])

    def illumination_for(self, medium_type: str) -> int:
        """L0 when the SCU gives none: a light box for film, diffuse reflection for paper (H.4.2.2.1.1)."""
        if medium_type in REFLECTIVE_MEDIUM_TYPES:
            return self.defaults.reflective_illumination
        return self.defaults.illumination

    @property
    def supports_annotation(self) -> bool:
        return bool(self.annotation_display_formats)
