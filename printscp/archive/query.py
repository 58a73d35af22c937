"""Query/Retrieve over the archive index: C-FIND matching (PS3.4 C.2.2.2) as index conditions, per level.

Patient Root (PATIENT, STUDY, SERIES, IMAGE) and Study Root (STUDY, SERIES, IMAGE) information models,
hierarchical keys of the queried level and the levels above it. Matching, per PS3.4 C.2.2.2:

* universal: a key sent empty matches everything and is returned;
* single value: exact, except Person Name which ignores case;
* wildcard: `*` and `?` in a value (not for UIDs, dates or times; a lone `*` is universal);
* range: `A-B`, `A-` or `-B` for DA, TM and DT keys;
* list of UIDs: UI values separated by backslashes;
* Modalities in Study (STUDY level): a study matches when one of its series has one of the values sent
  (PS3.4 C.6.2.1.2), its counts and Modalities in Study still cover all its series.

A key this index does not keep is returned empty (PS3.4 C.4.1.1.3.1 lets an SCP leave out or return
empty the keys it does not support).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from printscp.archive.film_index import Aggregate, Condition, FilmIndex, InstanceQuery

PATIENT_ROOT, STUDY_ROOT = "PATIENT", "STUDY"

# keyword -> index column, per level
LEVEL_KEYS: dict[str, dict[str, str]] = {
    "PATIENT": {
        "PatientID": "patient_id",
        "PatientName": "patient_name",
        "PatientBirthDate": "patient_birth_date",
        "PatientSex": "patient_sex",
    },
    "STUDY": {
        "StudyInstanceUID": "study_instance_uid",
        "StudyDate": "study_date",
        "StudyTime": "study_time",
        "AccessionNumber": "accession_number",
        "StudyID": "study_id",
        "StudyDescription": "study_description",
        "ReferringPhysicianName": "referring_physician_name",
    },
    "SERIES": {
        "SeriesInstanceUID": "series_instance_uid",
        "Modality": "modality",
        "SeriesNumber": "series_number",
        "SeriesDescription": "series_description",
    },
    "IMAGE": {
        "SOPInstanceUID": "sop_instance_uid",
        "SOPClassUID": "sop_class_uid",
        "InstanceNumber": "instance_number",
    },
}
UNIQUE = {
    "PATIENT": "patient_id",
    "STUDY": "study_instance_uid",
    "SERIES": "series_instance_uid",
    "IMAGE": "sop_instance_uid",
}
ORDER = ("PATIENT", "STUDY", "SERIES", "IMAGE")
# return keys computed from the instances below the matched entity (PS3.4 C.3.2 to C.3.4)
COUNTS: dict[str, Aggregate] = {
    "NumberOfPatientRelatedStudies": "studies",
    "NumberOfPatientRelatedSeries": "series",
    "NumberOfPatientRelatedInstances": "instances",
    "NumberOfStudyRelatedSeries": "series",
    "NumberOfStudyRelatedInstances": "instances",
    "NumberOfSeriesRelatedInstances": "instances",
    "ModalitiesInStudy": "modalities",
}


class QueryError(ValueError):
    """The identifier cannot be answered: C-FIND 0xA900, C-GET/C-MOVE 0xA900."""


@dataclass(frozen=True)
class Match:
    sop_instance_uid: str
    sop_class_uid: str
    path: str


def levels(model: str, level: str) -> list[str]:
    """The levels whose keys may be used at `level` of an information model."""
    if level not in ORDER or (model == STUDY_ROOT and level == "PATIENT"):
        raise QueryError(f"Query/Retrieve Level '{level}' is not one of the {model} root model")
    return list(ORDER[: ORDER.index(level) + 1])


def _conditions(identifier: Dataset, allowed: list[str]) -> list[Condition]:
    where: list[Condition] = []
    columns = {keyword: column for level in allowed for keyword, column in LEVEL_KEYS[level].items()}
    for element in identifier:
        column = columns.get(element.keyword)
        if column is None or element.VR == "SQ":
            continue
        value = element.value
        if value in (None, "", "*") or (isinstance(value, (list, tuple)) and not value):
            continue  # universal matching (C.2.2.2.3), a lone * included (C.2.2.2.4)
        vr = dictionary_VR(element.tag)
        if vr == "UI":  # list of UID matching
            uids = [str(v) for v in value] if isinstance(value, (list, MultiValue)) else [str(value)]
            where.append(Condition(column, "equal", tuple(uids)))
            continue
        text = str(value)
        if vr in ("DA", "TM", "DT") and "-" in text:  # range matching
            low, _, high = text.partition("-")
            if low:
                where.append(Condition(column, "at_least", (low,)))
            if high:  # a range up to a date or time includes all of that day (or minute, ...)
                where.append(Condition(column, "at_most", (high + "\uffff",)))
            continue
        ignore_case = vr == "PN"
        if ignore_case:
            text = text.upper()
        if ("*" in text or "?" in text) and vr not in ("DA", "TM", "DT"):  # wildcards
            where.append(Condition(column, "pattern", (text,), ignore_case))
        else:
            where.append(Condition(column, "equal", (text,), ignore_case))
    return where


def find(index: FilmIndex, model: str, identifier: Dataset) -> Iterator[Dataset]:
    """C-FIND: one response identifier per matching entity at the query's level."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip()
    allowed = levels(model, level)
    columns = {keyword: column for lvl in allowed for keyword, column in LEVEL_KEYS[lvl].items()}
    requested = [
        element.keyword
        for element in identifier
        if element.keyword not in ("QueryRetrieveLevel", "SpecificCharacterSet")
    ]
    query = InstanceQuery(
        group_by=UNIQUE[level],
        columns=tuple(dict.fromkeys(columns.values())),
        conditions=tuple(_conditions(identifier, allowed)),
        aggregates=tuple(dict.fromkeys(COUNTS[keyword] for keyword in COUNTS if keyword in requested)),
        with_modalities=_modalities_in_study(identifier) if level == "STUDY" else (),
    )
    for row in index.match_instances(query):
        answer = Dataset()
        answer.SpecificCharacterSet = "ISO_IR 192"  # the index holds decoded text
        answer.QueryRetrieveLevel = level
        for keyword in requested:
            tag = tag_for_keyword(keyword)
            if tag is None:
                continue
            value = (
                row[columns[keyword]] if keyword in columns else (row[COUNTS[keyword]] if keyword in COUNTS else None)
            )
            vr = dictionary_VR(tag)
            if keyword == "ModalitiesInStudy" and value:
                answer.add_new(tag, vr, value)
            elif value not in (None, "") and vr in ("IS", "US", "UL"):
                answer.add_new(tag, vr, int(value))
            else:
                answer.add_new(tag, vr, value if value is not None else "")
        yield answer


def _modalities_in_study(identifier: Dataset) -> tuple[str, ...]:
    """The values of a Modalities in Study key (CS, VM 1-n); empty or absent: universal matching."""
    value = identifier.get("ModalitiesInStudy")
    values = list(value) if isinstance(value, (list, MultiValue)) else [value]
    return tuple(str(v).strip() for v in values if v not in (None, "") and str(v).strip() not in ("", "*"))


def retrieve(index: FilmIndex, model: str, identifier: Dataset) -> list[Match]:
    """C-GET / C-MOVE: every instance under the entities the identifier names.

    Hierarchical retrieve (PS3.4 C.4.2.2.1): the unique key of the retrieve level is required (one value or
    a UID list); unique keys of the levels above are matched when sent; other keys play no part.
    """
    level = str(identifier.get("QueryRetrieveLevel", "")).strip()
    allowed = levels(model, level)
    unique = Dataset()
    for lvl in allowed:
        keyword = next(k for k, column in LEVEL_KEYS[lvl].items() if column == UNIQUE[lvl])
        value = identifier.get(keyword)
        if value in (None, "") and lvl == level:
            raise QueryError(f"a {level} level retrieve needs the unique key {keyword} (PS3.4 C.4.2.2.1)")
        if value in (None, ""):
            continue
        if any(c in str(value) for c in "*?"):
            raise QueryError(f"{keyword} is a unique key: a retrieve takes no wildcards in it (PS3.4 C.4.2.2.1)")
        setattr(unique, keyword, value)
    rows = index.retrieve_instances(_conditions(unique, allowed))
    return [Match(uid, sop_class_uid, path) for uid, sop_class_uid, path in rows]
