"""Printed films as DICOM Encapsulated PDF instances (PS3.3 A.45.1), and index rows of any instance.

Identity (docs/conformance.md, "Printed films as DICOM objects"): a film carries the patient of its print
job's identity (printscp/identity: the SCU's Proposed Study Sequence, a worklist or PACS entry, OCR, or a
person's assignment), and the study too when the identity knows it. Otherwise Patient Name and Patient ID
stay empty (Type 2): printscp never invents a patient. Study and series come from the Film Session: every
film of one session is in one study and one series, with UIDs derived from the Film Session UID (a known
Study Instance UID is used as is), so rebuilding the archive gives the same UIDs again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from printscp import __version__
from printscp.identity.model import Identity
from printscp.model.profile import PrinterProfile
from printscp.model.record import FilmSnapshot, PrintRequest

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def derived_uid(*parts: str) -> str:
    """A UID made from other UIDs: the same inputs always give the same UID."""
    return str(generate_uid(entropy_srcs=["printscp", *parts]))


def encapsulated_pdf(
    pdf: bytes,
    request: PrintRequest,
    film: FilmSnapshot,
    job_uid: str,
    number: int,
    profile: PrinterProfile,
    rendered_at: datetime,
    identity: Identity | None = None,
) -> Dataset:
    """The Encapsulated PDF instance of one printed film; its document is the film's PDF, byte for byte.
    `identity`: whose film it is (None: the Proposed Study's patient, if the SCU sent one)."""
    study = dict(request.proposed_study.attributes) if request.proposed_study else {}
    if identity is not None:  # its values decide; what else the SCU proposed (dates, study ID...) stays
        study.update(identity.as_dicom())
    ds = Dataset()
    # SOP Common
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = derived_uid("film", job_uid, str(number))
    character_set = [term for term in film.specific_character_set if term]
    if character_set:
        ds.SpecificCharacterSet = character_set if len(character_set) > 1 else character_set[0]
    ds.InstanceCreationDate = rendered_at.strftime("%Y%m%d")
    ds.InstanceCreationTime = rendered_at.strftime("%H%M%S")
    # Patient: the identity's (never invented)
    ds.PatientName = study.get("PatientName", "")
    ds.PatientID = study.get("PatientID", "")
    ds.PatientBirthDate = study.get("PatientBirthDate", "")
    ds.PatientSex = study.get("PatientSex", "")
    for keyword in ("IssuerOfPatientID", "PatientAge", "OtherPatientIDs", "PatientComments"):
        if keyword in study:
            setattr(ds, keyword, study[keyword])
    # General Study: one study per Film Session unless the SCU proposed one
    printed = request.requested_at
    ds.StudyInstanceUID = study.get("StudyInstanceUID") or derived_uid("study", film.film_session_uid)
    ds.StudyDate = study.get("StudyDate", printed.strftime("%Y%m%d"))
    ds.StudyTime = study.get("StudyTime", printed.strftime("%H%M%S"))
    ds.ReferringPhysicianName = study.get("ReferringPhysicianName", "")
    ds.StudyID = study.get("StudyID", "")[:16]
    ds.AccessionNumber = study.get("AccessionNumber", "")[:16]
    if "StudyDescription" in study:
        ds.StudyDescription = study["StudyDescription"]
    # Encapsulated Document Series: one series per Film Session
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = derived_uid("series", film.film_session_uid)
    ds.SeriesNumber = 1
    ds.SeriesDescription = "Printed films"
    # General Equipment and SC Equipment
    ds.Manufacturer = profile.manufacturer
    ds.ManufacturerModelName = profile.manufacturer_model_name
    ds.DeviceSerialNumber = profile.device_serial_number
    ds.SoftwareVersions = list(profile.all_software_versions)
    ds.StationName = profile.name[:16]
    ds.ConversionType = "WSD"  # made by a workstation from what a modality printed (PS3.3 C.8.6.1)
    # Encapsulated Document
    ds.InstanceNumber = film.film_box_number
    ds.ContentDate = rendered_at.strftime("%Y%m%d")
    ds.ContentTime = rendered_at.strftime("%H%M%S")
    ds.AcquisitionDateTime = printed.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # modality prints carry identity and dates in their pixels
    ds.DocumentTitle = film.film_session_label or f"Film printed by {request.calling_ae_title}"
    ds.ConceptNameCodeSequence = []
    # Source Instance Sequence (PS3.3 C.24.2, 1C): the images printed, where the SCU named them in an
    # Original Image Sequence; a film whose SCU did not say is not known to derive from DICOM instances
    sources = {
        (ref["ReferencedSOPClassUID"], ref["ReferencedSOPInstanceUID"]): None
        for box in film.image_boxes
        for ref in box.original_image
        if "ReferencedSOPClassUID" in ref and "ReferencedSOPInstanceUID" in ref
    }
    if sources:
        items = []
        for sop_class_uid, sop_instance_uid in sources:
            item = Dataset()
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class_uid, sop_instance_uid
            items.append(item)
        ds.SourceInstanceSequence = items
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.add_new(0x00420011, "OB", pdf + b"\x00" * (len(pdf) & 1))  # OB values have even length
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ExplicitVRLittleEndian)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PRINTSCP_{__version__}"[:16]
    ds.file_meta = meta
    return ds


# Attributes the index keeps for every instance, by query level (PS3.4 C.6.1.1 / C.6.2.1 keys).
INDEXED = {
    "patient_id": "PatientID",
    "patient_name": "PatientName",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "study_instance_uid": "StudyInstanceUID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "accession_number": "AccessionNumber",
    "study_id": "StudyID",
    "study_description": "StudyDescription",
    "referring_physician_name": "ReferringPhysicianName",
    "series_instance_uid": "SeriesInstanceUID",
    "modality": "Modality",
    "series_number": "SeriesNumber",
    "series_description": "SeriesDescription",
    "sop_instance_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "instance_number": "InstanceNumber",
}


def index_row(ds: Dataset) -> dict[str, Any]:
    """The index columns of an instance; text decoded with the instance's character set."""
    row: dict[str, Any] = {}
    for column, keyword in INDEXED.items():
        value = ds.get(keyword, "")
        if value is None:
            value = ""
        elif isinstance(value, (list, MultiValue)):
            value = "\\".join(str(v) for v in value)
        row[column] = str(value)
    return row
