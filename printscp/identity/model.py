"""An identity: the patient (and study) a film belongs to, where that came from, and whether it is confirmed.

Confirmed means the SCU said so itself (Proposed Study Sequence, or its label in a configured pattern), one
worklist or PACS entry matched, OCR agreed with a worklist or PACS entry, or a person assigned it. OCR alone,
or sources that disagree, leave it unconfirmed, with `review` saying why a person should look.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from printscp.model.record import PrintRequest

Source = Literal["scu", "label", "worklist", "pacs", "ocr", "manual"]
SOURCES: tuple[Source, ...] = ("scu", "label", "worklist", "pacs", "ocr", "manual")

# Identity field -> DICOM keyword (PS3.3 C.7.1.1 Patient, C.7.2.1 General Study)
KEYWORDS = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "accession_number": "AccessionNumber",
    "study_instance_uid": "StudyInstanceUID",
}


@dataclass(frozen=True)
class Identity:
    patient_name: str = ""  # PN, as DICOM writes it: DOE^JANE
    patient_id: str = ""
    patient_birth_date: str = ""  # DA: YYYYMMDD
    patient_sex: str = ""  # M, F, O
    accession_number: str = ""
    study_instance_uid: str = ""  # the study's own when a worklist or PACS knows it
    source: Source | None = None  # None: nobody knows whose film it is
    confirmed: bool = False
    review: str = ""  # why a person should look (several matches, sources disagree); empty: nothing to review

    @property
    def known(self) -> bool:
        """Whether it names a patient at all."""
        return bool(self.patient_name or self.patient_id)

    def with_source(self, source: Source, confirmed: bool) -> Identity:
        return replace(self, source=source, confirmed=confirmed)

    def as_dicom(self) -> dict[str, str]:
        """The non-empty values by DICOM keyword."""
        return {keyword: value for field, keyword in KEYWORDS.items() if (value := getattr(self, field))}


UNKNOWN = Identity()


def patient(values: Mapping[str, object]) -> Identity:
    """An identity of the patient and study fields in `values` (by field name; others ignored), no source."""
    text = {field: str(values.get(field) or "") for field in KEYWORDS}
    return Identity(
        patient_name=text["patient_name"],
        patient_id=text["patient_id"],
        patient_birth_date=text["patient_birth_date"],
        patient_sex=text["patient_sex"],
        accession_number=text["accession_number"],
        study_instance_uid=text["study_instance_uid"],
    )


def from_proposed_study(request: PrintRequest) -> Identity:
    """What the SCU said itself: the Film Session's Proposed Study Sequence (PS3.3 C.13.1), confirmed."""
    study = dict(request.proposed_study.attributes) if request.proposed_study else {}
    identity = patient({field: study.get(keyword, "") for field, keyword in KEYWORDS.items()})
    return identity.with_source("scu", confirmed=True) if identity.known else UNKNOWN


_SEPARATORS = re.compile(r"[\s^,=]+")


def fold(value: str | None) -> str:
    """Text as a search compares it: no case, no accents, and PN's ^ and = (and commas, runs of spaces) one
    space, so that "Doe, Jane", "doe jane" and "DOE^JANE" are the same, and so are MÜLLER and müller."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", plain).strip()
