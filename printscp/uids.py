"""SOP class and well-known instance UIDs of Print Management (PS3.4 Annex H, PS3.6 Annex A)."""

VERIFICATION = "1.2.840.10008.1.1"

BASIC_FILM_SESSION = "1.2.840.10008.5.1.1.1"
BASIC_FILM_BOX = "1.2.840.10008.5.1.1.2"
BASIC_GRAYSCALE_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
BASIC_COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"
BASIC_GRAYSCALE_PRINT_MANAGEMENT_META = "1.2.840.10008.5.1.1.9"
BASIC_COLOR_PRINT_MANAGEMENT_META = "1.2.840.10008.5.1.1.18"
PRINT_JOB = "1.2.840.10008.5.1.1.14"
BASIC_ANNOTATION_BOX = "1.2.840.10008.5.1.1.15"
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_CONFIGURATION_RETRIEVAL = "1.2.840.10008.5.1.1.16.376"
PRESENTATION_LUT = "1.2.840.10008.5.1.1.23"

PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
PRINTER_CONFIGURATION_RETRIEVAL_INSTANCE = "1.2.840.10008.5.1.1.17.376"

# PS3.4 H.3.2.2: the classes each Meta SOP Class is made of.
GRAYSCALE_META_MEMBERS = frozenset({BASIC_FILM_SESSION, BASIC_FILM_BOX, BASIC_GRAYSCALE_IMAGE_BOX, PRINTER})

# Retired print classes (PS3.6 Annex A, retired 1998/2004): recognised so that a request for one is
# refused with a status instead of aborting the association; never created.
RETIRED_PRINT_CLASSES = {
    "1.2.840.10008.5.1.1.4.2": "Referenced Image Box",
    "1.2.840.10008.5.1.1.9.1": "Referenced Grayscale Print Management Meta",
    "1.2.840.10008.5.1.1.18.1": "Referenced Color Print Management Meta",
    "1.2.840.10008.5.1.1.22": "VOI LUT Box",
    "1.2.840.10008.5.1.1.24": "Image Overlay Box",
    "1.2.840.10008.5.1.1.24.1": "Basic Print Image Overlay Box",
    "1.2.840.10008.5.1.1.26": "Print Queue Management",
    "1.2.840.10008.5.1.1.27": "Stored Print Storage",
    "1.2.840.10008.5.1.1.29": "Hardcopy Grayscale Image Storage",
    "1.2.840.10008.5.1.1.30": "Hardcopy Color Image Storage",
    "1.2.840.10008.5.1.1.31": "Pull Print Request",
    "1.2.840.10008.5.1.1.32": "Pull Stored Print Management Meta",
}

NAMES = {
    VERIFICATION: "Verification",
    BASIC_FILM_SESSION: "Basic Film Session",
    BASIC_FILM_BOX: "Basic Film Box",
    BASIC_GRAYSCALE_IMAGE_BOX: "Basic Grayscale Image Box",
    BASIC_COLOR_IMAGE_BOX: "Basic Color Image Box",
    BASIC_GRAYSCALE_PRINT_MANAGEMENT_META: "Basic Grayscale Print Management Meta",
    BASIC_COLOR_PRINT_MANAGEMENT_META: "Basic Color Print Management Meta",
    PRINT_JOB: "Print Job",
    BASIC_ANNOTATION_BOX: "Basic Annotation Box",
    PRINTER: "Printer",
    PRINTER_CONFIGURATION_RETRIEVAL: "Printer Configuration Retrieval",
    PRESENTATION_LUT: "Presentation LUT",
    **RETIRED_PRINT_CLASSES,
}


def name(uid: str) -> str:
    return NAMES.get(uid, uid)
