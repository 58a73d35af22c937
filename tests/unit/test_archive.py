"""The archive without sockets: index matching (PS3.4 C.2.2.2), rebuilds, retention, Encapsulated PDF.

The tests that take `new_index` run once on each FilmIndex backend: SQLite and PostgreSQL (tests/postgres.py).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import test_jobs
from pydicom import dcmread
from pydicom.dataset import Dataset
from test_jobs import Association

from printscp.archive import films
from printscp.archive.dicom import ENCAPSULATED_PDF
from printscp.archive.film_index import FilmFilter
from printscp.archive.film_index import FilmIndex as Index
from printscp.archive.index import SqliteFilmIndex
from printscp.archive.pg_index import PostgresFilmIndex
from printscp.archive.query import PATIENT_ROOT, STUDY_ROOT, QueryError, find, retrieve
from printscp.archive.store import FilmArchive

make_queue = test_jobs.make_queue  # the print queue fixture of the queue's tests


def row(uid: str, **columns: str) -> dict[str, str]:
    values = {
        "sop_instance_uid": uid,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
        "patient_id": "P1",
        "patient_name": "DOE^JOHN",
        "study_instance_uid": "1.2.1",
        "study_date": "20260315",
        "study_time": "101500",
        "series_instance_uid": "1.2.1.1",
        "modality": "CT",
        "instance_number": "1",
        "path": f"instances/x/{uid}.dcm",
        "source": "store",
    }
    return {**values, **columns}


@pytest.fixture
def index(new_index: Any) -> Index:
    index: Index = new_index()
    index.add_instances(
        [
            row("1.9.1"),
            row("1.9.2", instance_number="2"),
            row("1.9.3", series_instance_uid="1.2.1.2", modality="DOC"),
            row(
                "1.9.4",
                patient_id="P2",
                patient_name="Doe^Jane",
                study_instance_uid="1.2.2",
                study_date="20251231",
                series_instance_uid="1.2.2.1",
                modality="MR",
            ),
            row(
                "1.9.5",
                patient_id="P3",
                patient_name="ROE^RICHARD",
                study_instance_uid="1.2.3",
                study_date="20260701",
                study_time="235959",
                series_instance_uid="1.2.3.1",
            ),
        ]
    )
    return index


def query(index: Index, model: str = STUDY_ROOT, **keys: Any) -> list[Dataset]:
    identifier = Dataset()
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return list(find(index, model, identifier))


def studies(index: Index, **keys: Any) -> list[str]:
    keys = {"StudyInstanceUID": "", **keys}
    return sorted(str(a.StudyInstanceUID) for a in query(index, QueryRetrieveLevel="STUDY", **keys))


def test_universal_single_value_and_person_name_matching(index: Index) -> None:
    assert studies(index) == ["1.2.1", "1.2.2", "1.2.3"]
    assert studies(index, PatientName="") == ["1.2.1", "1.2.2", "1.2.3"]
    assert studies(index, PatientID="*") == ["1.2.1", "1.2.2", "1.2.3"]  # a lone * is universal
    assert studies(index, PatientID="P2") == ["1.2.2"]
    assert studies(index, PatientID="p2") == []  # LO is case-sensitive
    assert studies(index, PatientName="DOE^JANE") == ["1.2.2"]  # PN is not


def test_wildcards(index: Index) -> None:
    assert studies(index, PatientName="DOE*") == ["1.2.1", "1.2.2"]
    assert studies(index, PatientName="?OE^*") == ["1.2.1", "1.2.2", "1.2.3"]
    assert studies(index, PatientID="P[12]") == []  # [ is not a wildcard in DICOM
    assert studies(index, StudyDate="2026*") == []  # no wildcards in dates: a literal that matches nothing


def test_date_and_time_ranges(index: Index) -> None:
    assert studies(index, StudyDate="20260101-20261231") == ["1.2.1", "1.2.3"]
    assert studies(index, StudyDate="-20260315") == ["1.2.1", "1.2.2"]
    assert studies(index, StudyDate="20260316-") == ["1.2.3"]
    assert studies(index, StudyDate="20260315") == ["1.2.1"]
    assert studies(index, StudyTime="2300-") == ["1.2.3"]
    assert studies(index, StudyTime="-1015") == ["1.2.1", "1.2.2"]  # up to 10:15 includes 10:15:00


def test_modalities_in_study_matching(index: Index) -> None:
    """found-from-outside 6: a PACS's "only DOC" filter finds the studies with a DOC series, and only those."""
    assert studies(index, ModalitiesInStudy="DOC") == ["1.2.1"]
    assert studies(index, ModalitiesInStudy=["MR", "DOC"]) == ["1.2.1", "1.2.2"]
    assert studies(index, ModalitiesInStudy="US") == []
    assert studies(index, ModalitiesInStudy="") == ["1.2.1", "1.2.2", "1.2.3"]  # universal
    # the match answers for the whole study: all its modalities and series, not only the DOC one
    (study,) = query(
        index, QueryRetrieveLevel="STUDY", StudyInstanceUID="", ModalitiesInStudy="DOC", NumberOfStudyRelatedSeries=""
    )
    assert (sorted(study.ModalitiesInStudy), study.NumberOfStudyRelatedSeries) == (["CT", "DOC"], 2)


def test_uid_lists_and_levels(index: Index) -> None:
    assert studies(index, StudyInstanceUID="1.2.1\\1.2.3") == ["1.2.1", "1.2.3"]
    series = query(
        index,
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID="1.2.1",
        SeriesInstanceUID="",
        Modality="",
        NumberOfSeriesRelatedInstances="",
    )
    assert sorted((str(s.Modality), s.NumberOfSeriesRelatedInstances) for s in series) == [("CT", 2), ("DOC", 1)]
    patients = query(index, PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientID="", NumberOfPatientRelatedStudies="")
    assert sorted((str(p.PatientID), p.NumberOfPatientRelatedStudies) for p in patients) == [
        ("P1", 1),
        ("P2", 1),
        ("P3", 1),
    ]
    (study,) = query(index, QueryRetrieveLevel="STUDY", StudyInstanceUID="1.2.1", ModalitiesInStudy="")
    assert sorted(study.ModalitiesInStudy) == ["CT", "DOC"]
    with pytest.raises(QueryError):
        query(index, STUDY_ROOT, QueryRetrieveLevel="PATIENT", PatientID="")
    with pytest.raises(QueryError):
        query(index, PATIENT_ROOT, QueryRetrieveLevel="FRAME")


def test_retrieve_needs_the_unique_key_of_its_level(index: Index) -> None:
    def uids(model: str = STUDY_ROOT, **keys: Any) -> list[str]:
        identifier = Dataset()
        for keyword, value in keys.items():
            setattr(identifier, keyword, value)
        return [m.sop_instance_uid for m in retrieve(index, model, identifier)]

    assert uids(QueryRetrieveLevel="STUDY", StudyInstanceUID="1.2.1") == ["1.9.1", "1.9.2", "1.9.3"]
    assert uids(QueryRetrieveLevel="SERIES", StudyInstanceUID="1.2.1", SeriesInstanceUID="1.2.1.1") == [
        "1.9.1",
        "1.9.2",
    ]
    assert uids(QueryRetrieveLevel="IMAGE", SOPInstanceUID="1.9.4\\1.9.5") == ["1.9.4", "1.9.5"]
    assert uids(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientID="P3") == ["1.9.5"]
    # other keys play no part in a hierarchical retrieve
    assert uids(QueryRetrieveLevel="STUDY", StudyInstanceUID="1.2.2", PatientName="NOBODY") == ["1.9.4"]
    for keys in (
        {"QueryRetrieveLevel": "STUDY", "StudyDate": "2026*"},
        {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": ""},
        {"QueryRetrieveLevel": "SERIES", "SeriesInstanceUID": "1.2.*"},
    ):
        with pytest.raises(QueryError):
            uids(**keys)


# --- printed films -------------------------------------------------------------------------------------


def printed(
    make_queue: Any, count: int = 1, index: Index | None = None, **print_args: Any
) -> tuple[FilmArchive, list[str]]:
    queue, printer = make_queue(index=index)
    scu = Association(queue, printer)
    jobs = [scu.print(**print_args) for _ in range(count)]
    assert queue.wait_idle()
    return queue.archive, jobs


def rows(archive: FilmArchive) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.items()) for r in archive.index.instances()) + sorted(
        tuple(r.items()) for r in archive.index.find_films(FilmFilter())
    )


@pytest.mark.sqlite
def test_index_is_rebuilt_from_the_files_when_deleted_or_corrupt(make_queue: Any) -> None:
    archive, jobs = printed(make_queue, 2)
    before = rows(archive)
    assert len(before) == 4
    index_path = archive.index.path
    archive.index.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path}{suffix}").unlink(missing_ok=True)
    rebuilt = FilmArchive(archive.folder)
    assert rebuilt.reconcile() == (2, 0)
    assert rows(rebuilt) == before
    rebuilt.index.close()
    index_path.write_bytes(b"this is not a database" * 100)
    again = FilmArchive(archive.folder)
    again.reconcile()
    assert rows(again) == before
    assert list(archive.folder.glob("index.sqlite.corrupt-*"))  # set aside, not deleted


def test_an_empty_index_is_rebuilt_from_the_files(make_queue: Any, new_index: Any) -> None:
    """A lost index (a new SQLite file, a new PostgreSQL database) is rebuilt by reconcile, row for row."""
    archive, _ = printed(make_queue, 2, index=new_index())
    before = rows(archive)
    assert len(before) == 4
    rebuilt = FilmArchive(archive.folder, index=new_index())
    assert rebuilt.reconcile() == (2, 0)
    assert rows(rebuilt) == before
    assert rebuilt.reconcile() == (0, 0)  # idempotent


def test_a_damaged_manifest_does_not_stop_the_rebuild(make_queue: Any, new_index: Any) -> None:
    archive, (first, second) = printed(make_queue, 2, index=new_index())
    (job,) = [j for j in archive.jobs() if j.manifest["print_job_uid"] == first]
    (job.folder / "manifest.json").write_text("{ not json")
    rebuilt = FilmArchive(archive.folder, index=new_index())
    assert rebuilt.reconcile() == (1, 0)
    assert rebuilt.index.job_uids() == {second}
    assert (job.folder / "film-1.pdf").exists()  # its files are left alone
    assert not (archive.folder / "index.sqlite").exists()  # the index given is the only one


def test_a_job_deleted_while_listing_is_left_out(make_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`printscp films` lists beside a running server whose retention may delete a job meanwhile."""
    archive, (first, second) = printed(make_queue, 2)
    (gone,) = [j for j in archive.jobs() if j.manifest["print_job_uid"] == first]
    glob = Path.glob

    def glob_then_delete(self: Path, pattern: str) -> Any:
        found = list(glob(self, pattern))
        shutil.rmtree(gone.folder)  # retention's delete lands between the glob and the reads
        return iter(found)

    monkeypatch.setattr(Path, "glob", glob_then_delete)
    assert [j.manifest["print_job_uid"] for j in archive.jobs()] == [second]


def test_the_encapsulated_pdf_is_the_film_and_invents_no_patient(make_queue: Any, new_index: Any) -> None:
    archive, (job_uid,) = printed(make_queue, index=new_index())
    (job,) = archive.jobs()
    document = dcmread(job.dicoms[0])
    pdf = job.pdfs[0].read_bytes()
    assert document.SOPClassUID == ENCAPSULATED_PDF and document.Modality == "DOC"
    assert document.EncapsulatedDocument[: document.EncapsulatedDocumentLength] == pdf
    assert (document.PatientName, document.PatientID) == ("", "")
    assert document.file_meta.MediaStorageSOPInstanceUID == document.SOPInstanceUID
    (indexed,) = archive.index.instances()
    assert (indexed["sop_instance_uid"], indexed["job_uid"], indexed["source"]) == (
        document.SOPInstanceUID,
        job_uid,
        "print",
    )


def test_a_stored_copy_of_a_printed_film_does_not_replace_it(make_queue: Any, new_index: Any) -> None:
    archive, _ = printed(make_queue, index=new_index())
    (job,) = archive.jobs()
    document = dcmread(job.dicoms[0])
    before = rows(archive)
    kept = archive.store_instance(job.dicoms[0].read_bytes(), document, "PACS")
    assert kept == job.dicoms[0]
    assert rows(archive) == before
    assert not (archive.folder / "instances").exists()


def test_retention_counts_every_file_of_a_job_and_deletes_oldest_first(make_queue: Any, new_index: Any) -> None:
    archive, jobs = printed(make_queue, 3, index=new_index())
    sizes = {item.uid: item.size for item in archive.index.retention_items() if item.kind == "job"}
    for job in archive.jobs():
        on_disk = sum(p.stat().st_size for p in job.folder.iterdir())
        assert sizes[job.manifest["print_job_uid"]] == on_disk
    total = sum(sizes.values())
    # the oldest print, by its manifest (render workers may finish jobs in another order than asked)
    by_age = [j.manifest["print_job_uid"] for j in sorted(archive.jobs(), key=lambda j: j.manifest["rendered_at"])]
    assert sorted(by_age) == sorted(jobs)
    # just under the total: only the oldest job goes
    assert archive.enforce_retention(0, (total - 1) / 1e9) == 1
    assert {j.manifest["print_job_uid"] for j in archive.jobs()} == set(by_age[1:])
    assert archive.index.job_uids() == set(by_age[1:])
    assert not (archive.folder / ".trash").exists()


def age(index: Index, job_uid: str, rendered_at: str) -> None:
    """Change when a job was rendered, in the index only (the SQL of its backend)."""
    if isinstance(index, SqliteFilmIndex):
        with index._db:  # noqa: SLF001
            index._db.execute("UPDATE films SET rendered_at = ? WHERE job_uid = ?", (rendered_at, job_uid))  # noqa: SLF001
    else:
        assert isinstance(index, PostgresFilmIndex)
        with psycopg.connect(index.url) as connection:
            connection.execute("UPDATE films SET rendered_at = %s WHERE job_uid = %s", (rendered_at, job_uid))


def test_retention_by_age(make_queue: Any, new_index: Any) -> None:
    archive, jobs = printed(make_queue, 2, index=new_index())
    old = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3 * 86400))
    age(archive.index, jobs[0], old)  # the first job, in the index only
    assert archive.enforce_retention(2, 0) == 1
    assert archive.index.job_uids() == {jobs[1]}
    assert [j.manifest["print_job_uid"] for j in archive.jobs()] == [jobs[1]]


def test_hostile_labels_stay_text(make_queue: Any, tmp_path: Path) -> None:
    archive, (job_uid,) = printed(make_queue, label="../../etc/passwd")
    (job,) = archive.jobs()
    assert job.folder.name == job_uid and job.folder.is_relative_to(archive.folder)
    assert json.loads((job.folder / "manifest.json").read_text())["film_session"]["film_session_label"] == (
        "../../etc/passwd"
    )
    assert {p.name for p in tmp_path.iterdir()} == {"films"}  # nothing written beside the archive


def test_the_images_a_modality_named_become_the_source_instances(make_queue: Any) -> None:
    source = Dataset()
    source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5"
    source.StudyInstanceUID, source.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    archive, _ = printed(make_queue, OriginalImageSequence=[source])
    (job,) = archive.jobs()
    (item,) = dcmread(job.dicoms[0]).SourceInstanceSequence
    assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) == ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5")
    assert job.manifest["films"][0]["image_boxes"][0]["original_image"][0]["StudyInstanceUID"] == "1.2.3"
    archive_without, _ = printed(make_queue)
    assert "SourceInstanceSequence" not in dcmread(archive_without.jobs()[-1].dicoms[0])


def test_an_archive_written_by_the_previous_version_is_indexed_listed_and_shown(tmp_path: Path) -> None:
    """tests/data/record-v0: manifest.json as the previous version wrote it, before the film record's version 1."""
    shutil.copytree(Path(__file__).parent.parent / "data" / "record-v0" / "archive-v0", tmp_path / "archive")
    archive = FilmArchive(tmp_path / "archive")
    assert archive.reconcile() == (1, 0)
    selected = films.select(archive, FilmFilter(patient="doe"))
    assert [(f["film_number"], f["film_size_id"], f["image_display_format"]) for f in selected] == [
        ("1", "8INX10IN", "STANDARD\\1,2"),
        ("2", "8INX10IN", "STANDARD\\1,1"),
    ]
    first = selected[0]
    assert (first["calling_ae_title"], first["called_ae_title"], first["film_session_label"]) == (
        "MODALITY",
        "PRINTSCP",
        "Ünïcode label",
    )
    assert (first["patient_name"], first["patient_id"], first["number_of_copies"]) == ("DOE^JOHN", "P1", "2")
    assert first["requested_at"] == "2026-03-15T10:15:30.123456+01:00"
    shown = films.show(archive, selected)
    assert shown.count("sha256 ok") == 6 and "MISSING" not in shown
    (job,) = archive.jobs()
    assert job.request.films[0].annotations[0].text_string == "TOP TEXT"
    study = Dataset()
    study.QueryRetrieveLevel = "STUDY"
    study.StudyInstanceUID = "1.2.826.0.1.3680043.2.1125.3"
    assert len(retrieve(archive.index, STUDY_ROOT, study)) == 2
    archive.index.close()


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("Doe, Jane", ["1"]),
        ("doe jane", ["1"]),
        ("DOE^JANE", ["1"]),
        ("doe", ["1", "4"]),  # a part of the name
        ("DOE*", ["1", "4"]),  # a pattern: the whole name
        ("*jane", ["1"]),
        ("müller", ["2", "3"]),  # no case, no accents
        ("MULLER", ["2", "3"]),
        ("Müller, Hans", ["2"]),
        ("jürgen", ["3"]),
        ("P-00?", ["1", "2", "3"]),  # Patient ID too
        ("山田", ["5"]),
        ("smith", []),
    ],
)
def test_patient_search_takes_names_as_people_type_them(new_index: Any, search: str, found: list[str]) -> None:
    index = new_index()
    patients = [
        ("1", "DOE^JANE", "P-001"),
        ("2", "MÜLLER^HANS", "P-002"),
        ("3", "Muller^Jürgen", "P-003"),
        ("4", "DOE^JOHN", "Q-1"),
        ("5", "Yamada^Tarou=山田^太郎", "Q-2"),
    ]
    index.add_films(
        {"job_uid": job, "film_number": "1", "sop_instance_uid": f"1.2.{job}", "patient_name": name, "patient_id": pid}
        for job, name, pid in patients
    )
    assert sorted(row["job_uid"] for row in index.find_films(FilmFilter(patient=search))) == found
    if "*" not in search and "?" not in search:  # the console's search box finds them the same way
        assert sorted(row["job_uid"] for row in index.find_films(FilmFilter(text=search))) == found
