#!/usr/bin/env python3
"""C-FIND latency over a large archive, and the archive's disk use per printed film (issue 5).

1. C-FIND: an archive of --instances small CT instances (25 per study: 5 series of 5 slices of 64x64,
   2 studies per patient, patient names from 20 surnames, so 1 patient in 20 is a DOE) is filled through
   FilmArchive.store_instance before the server starts. A pynetdicom SCU in its own process then sends a
   Study Root C-FIND at STUDY level with 14 return keys (the counts and Modalities in Study included) and
   Patient Name `DOE*`, then `*`, over loopback, and times each from sending the C-FIND-RQ to the final
   response. The same is done against a reference archive of --reference instances filled by C-STORE
   through the running server, so the ratio carries to other machines; also the query's SQL alone and a
   C-ECHO round trip on the same association.
2. Disk use: --films print jobs of one STANDARD\\4,5 14INX17IN film with 20 CT-like 512x512 12-bit slices
   (benchmarks/ct_phantom.py) are printed through a real association into a fresh archive; once each is
   archived, the bytes of every file of the job, the index's growth, and all of it against the raw pixel
   data sent. A job of the same film with Number of Copies 2 shows print.pdf (written only for jobs of
   more than one sheet).

    .venv/bin/python benchmarks/archive.py [--instances N] [--reference N] [--repeat N] [--films N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.filewriter import dcmwrite  # noqa: E402
from pydicom.uid import (  # noqa: E402
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from printscp.cli import configure_logging  # noqa: E402

PER_SERIES, SERIES_PER_STUDY, STUDIES_PER_PATIENT = 5, 5, 2
PER_STUDY = PER_SERIES * SERIES_PER_STUDY
SURNAMES = (
    "DOE",
    "SMITH",
    "MARTIN",
    "MULLER",
    "GARCIA",
    "ROSSI",
    "NOVAK",
    "JANSEN",
    "DUBOIS",
    "SILVA",
    "KOWALSKI",
    "NIELSEN",
    "HORVAT",
    "MURPHY",
    "PETERS",
    "LAMBERT",
    "MORENO",
    "FISCHER",
    "BERG",
    "WEBER",
)
GIVEN = ("JOHN", "JANE", "ANNA", "PETER", "MARIA", "LUKAS", "EMMA", "PAUL", "SOFIA", "MARC", "ELENA")
BODY_PARTS = ("CHEST", "ABDOMEN", "HEAD", "PELVIS", "NECK")
PATTERNS = ("DOE*", "*")
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
VERIFICATION = "1.2.840.10008.1.1"
PENDING = (0xFF00, 0xFF01)


# --- test data: a few hundred patients' CT studies ------------------------------------------------------------


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=["printscp benchmark", *map(str, parts)]))


def instances(count: int) -> Iterator[tuple[bytes, Dataset]]:
    """`count` CT instances as a modality sends them: (the encoded file, the data set)."""
    import numpy as np
    from ct_phantom import ct_slice

    slices = [
        (np.round(ct_slice(64, (n + 0.5) / PER_SERIES, seed=n)) + 1024).clip(0, 4095).astype("<u2")
        for n in range(PER_SERIES)
    ]
    for number in range(count):
        study, rest = divmod(number, PER_STUDY)
        series, image = divmod(rest, PER_SERIES)
        patient = study // STUDIES_PER_PATIENT
        studied = date(2023, 1, 1) + timedelta(days=(study * 7919) % 730)
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = _uid("image", study, series, image)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.PatientName = f"{SURNAMES[patient % len(SURNAMES)]}^{GIVEN[patient // len(SURNAMES) % len(GIVEN)]}"
        ds.PatientID = f"P{patient:06d}"
        ds.PatientBirthDate = f"{1940 + patient % 60}{1 + patient % 12:02d}{1 + patient % 28:02d}"
        ds.PatientSex = "MF"[patient % 2]
        ds.StudyInstanceUID = _uid("study", study)
        ds.StudyDate = studied.strftime("%Y%m%d")
        ds.StudyTime = f"{8 + study % 10:02d}{study * 7 % 60:02d}00"
        ds.AccessionNumber = f"A{study:08d}"
        ds.StudyID = str(study)
        ds.StudyDescription = f"CT {BODY_PARTS[study % len(BODY_PARTS)]}"
        ds.ReferringPhysicianName = f"{SURNAMES[(study + 7) % len(SURNAMES)]}^DR"
        ds.SeriesInstanceUID = _uid("series", study, series)
        ds.Modality = "CT"
        ds.SeriesNumber = series + 1
        ds.SeriesDescription = f"Axial {2 + series} mm"
        ds.InstanceNumber = image + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = slices[image].shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = slices[image].tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(CTImageStorage)
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        yield buffer.getvalue(), ds


def study_query(patient_name: str) -> Dataset:
    """A STUDY level identifier as a PACS workstation's study list sends it."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientName = patient_name
    for keyword in (
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ):
        setattr(ds, keyword, "")
    return ds


# --- the SCU, run as `archive.py --client PORT MODE N` in its own process ----------------------------------


def client(port: int, mode: str, n: int) -> None:
    """MODE store: C-STORE the first N instances; MODE find: N timed runs of each query and of C-ECHO."""
    import socket

    from pynetdicom import AE

    ae = AE("BENCH")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    for context in (VERIFICATION, STUDY_ROOT_FIND, CTImageStorage):
        ae.add_requested_context(context, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="PRINTSCP")
    assert assoc.is_established
    # without TCP_NODELAY a request's second P-DATA waits ~40 ms for the server's delayed ACK
    assert assoc.dul.socket is not None and assoc.dul.socket.socket is not None
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if mode == "store":
            start = time.perf_counter()
            for _, ds in instances(n):
                status = assoc.send_c_store(ds)
                assert status is not None and status.Status == 0, status
            print(json.dumps({"stored": n, "seconds": time.perf_counter() - start}), flush=True)
            return
        for pattern in PATTERNS:
            times, matches = [], set()
            for run in range(n + 1):  # the first run warms up
                found = 0
                start = time.perf_counter()
                for status, _ in assoc.send_c_find(study_query(pattern), STUDY_ROOT_FIND):
                    assert status is not None and "Status" in status, "no C-FIND response"
                    if status.Status in PENDING:
                        found += 1
                    else:
                        assert status.Status == 0, hex(status.Status)
                if run:
                    times.append(time.perf_counter() - start)
                    matches.add(found)
            print(json.dumps({"pattern": pattern, "times": times, "matches": sorted(matches)}), flush=True)
        times = []
        for _ in range(n + 1):
            start = time.perf_counter()
            status = assoc.send_c_echo()
            times.append(time.perf_counter() - start)
            assert status is not None and status.Status == 0
        print(json.dumps({"pattern": "C-ECHO", "times": times[1:], "matches": []}), flush=True)
    finally:
        assoc.release()


def run_client(port: int, mode: str, n: int) -> list[dict[str, Any]]:
    process = subprocess.run(
        [sys.executable, __file__, "--client", str(port), mode, str(n)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        check=True,
    )
    return [json.loads(line) for line in process.stdout.splitlines()]


# --- the server side ----------------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def populate(folder: Path, count: int) -> float:
    """Fill an archive with FilmArchive.store_instance, as the C-STORE handler does; seconds taken."""
    from printscp.archive.store import FilmArchive

    archive = FilmArchive(folder)
    start = time.perf_counter()
    for encoded, ds in instances(count):
        archive.store_instance(encoded, ds, "BENCH")
    took = time.perf_counter() - start
    archive.index.close()
    return took


def measure_find(folder: Path, count: int, repeat: int, by_store_instance: bool) -> dict[str, Any]:
    from conftest import bundled_config

    from printscp.archive.query import STUDY_ROOT, find
    from printscp.net.server import PrintServer

    result: dict[str, Any] = {"instances": count}
    if by_store_instance:
        took = populate(folder, count)
        result["filled"] = f"FilmArchive.store_instance, {took:.1f} s ({count / took:.0f}/s)"
    start = time.perf_counter()
    server = PrintServer(bundled_config(folder))  # reconciles the index with the files on disk
    result["startup"] = time.perf_counter() - start
    _, port = server.start("127.0.0.1", 0)
    try:
        if not by_store_instance:
            stored = run_client(port, "store", count)[0]
            result["filled"] = f"C-STORE, {stored['seconds']:.1f} s ({count / stored['seconds']:.0f}/s)"
        assert len(server.archive.index.instances()) == count
        result["runs"] = {line["pattern"]: line for line in run_client(port, "find", repeat)}
        for pattern in PATTERNS:  # the same query on the index, in this process, with no network
            sql = []
            for _ in range(repeat):
                start = time.perf_counter()
                list(find(server.archive.index, STUDY_ROOT, study_query(pattern)))
                sql.append(time.perf_counter() - start)
            result["runs"][pattern]["sql"] = sql
    finally:
        server.stop()
    return result


def report_find(big: dict[str, Any], small: dict[str, Any], repeat: int) -> None:
    print(
        f"1. C-FIND, Study Root, STUDY level, PatientName wildcard, 14 return keys; median / p95 of {repeat} runs "
        "from C-FIND-RQ to the final response (SQL alone: the same query in the server's process)\n"
    )
    print(
        f"{'archive':<30} {'PatientName':<12} {'matches':>7} {'median':>10} {'p95':>10} {'per match':>10} "
        f"{'SQL alone':>10}"
    )
    for result in (big, small):
        label = f"{result['instances']:,} instances ({-(-result['instances'] // PER_STUDY)} studies)"
        for pattern in PATTERNS:
            run = result["runs"][pattern]
            median = statistics.median(run["times"])
            matches = run["matches"][0] if len(run["matches"]) == 1 else run["matches"]
            per_match = ms(median / matches) if isinstance(matches, int) and matches else "-"
            print(
                f"{label:<30} {pattern:<12} {matches!s:>7} {ms(median):>10} {ms(p95(run['times'])):>10} "
                f"{per_match:>10} {ms(statistics.median(run['sql'])):>10}"
            )
            label = ""
    print()
    for pattern in PATTERNS:
        ratio = statistics.median(big["runs"][pattern]["times"]) / statistics.median(small["runs"][pattern]["times"])
        print(
            f"PatientName {pattern!r}: {big['instances']:,} instances take {ratio:.1f}x as long as "
            f"{small['instances']:,}"
        )
    echo = big["runs"]["C-ECHO"]["times"]
    print(f"C-ECHO round trip on the same association: median {ms(statistics.median(echo))}, p95 {ms(p95(echo))}")
    print(
        f"{big['instances']:,} instances put in by {big['filled']}; server start with them (index reconciled "
        f"with the disk): {big['startup']:.2f} s"
    )
    print(f"{small['instances']:,} instances put in by {small['filled']}")
    print()


# --- disk use of printed films ------------------------------------------------------------------------------


def print_films(folder: Path, jobs: int) -> tuple[list[Path], Path]:
    """Print `jobs` one-film jobs and one 2-copy job; their job folders once archived."""
    from conftest import bundled_config
    from ct_phantom import ct_series
    from printscu import PrintSCU

    from printscp import uids
    from printscp.archive.store import FilmArchive
    from printscp.net.server import PrintServer

    server = PrintServer(bundled_config(folder))
    host, port = server.start("127.0.0.1", 0)
    images = ct_series(20, 512)
    try:
        with PrintSCU((host, port), calling="BENCH") as scu:
            for job in range(jobs + 1):
                copies = 2 if job == jobs else 1
                session = scu.film_session(NumberOfCopies=copies, FilmSessionLabel=f"CT CHEST {job + 1}")
                box, boxes, _ = scu.film_box(session, "STANDARD\\4,5", FilmSizeID="14INX17IN")
                for position, pixels in enumerate(images, start=1):
                    assert scu.set_image(boxes[position - 1], position, pixels).status == 0
                assert scu.n_action(uids.BASIC_FILM_BOX, box).status == 0
                assert server.queue.wait_idle(120), "the film was not archived"  # each job on its own
                scu.n_delete(uids.BASIC_FILM_SESSION, session)
    finally:
        server.stop()
    archive = FilmArchive(folder)
    stored = archive.jobs()
    archive.index.close()
    assert len(stored) == jobs + 1
    folders = [job.folder for job in stored]
    copied = next(job.folder for job in stored if job.manifest["print_pdf"])
    return [f for f in folders if f != copied], copied


def index_figures(path: Path) -> tuple[int, int]:
    """The index file's size (after the server closed it, so with its WAL checkpointed) and the bytes of
    payload in its rows and index entries."""
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    db = sqlite3.connect(path)
    try:
        payload = db.execute("SELECT SUM(payload) FROM dbstat").fetchone()[0]
    finally:
        db.close()
    return path.stat().st_size, int(payload)


def index_growth(path: Path, job_uid: str, films: int = 1000) -> float:
    """Bytes the index grows by per film once it holds many: `films` more copies of one printed film's rows
    (its films row and its Encapsulated PDF's instances row, under new random UIDs) added one film at a time
    to a copy of the index, as the print queue adds them."""
    import shutil

    from printscp.archive.film_index import FilmFilter
    from printscp.archive.index import SqliteFilmIndex

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        before = copy.stat().st_size
        index = SqliteFilmIndex(copy)
        film = index.find_films(FilmFilter(job_uid=job_uid))[0]
        instance = index.instances(job_uid)[0]
        for _ in range(films):
            uids = {
                key: str(generate_uid())
                for key in (
                    "job_uid",
                    "sop_instance_uid",
                    "film_session_uid",
                    "film_box_uid",
                    "study_instance_uid",
                    "series_instance_uid",
                )
            }
            index.add_instances([{**instance, **{k: v for k, v in uids.items() if k in instance}}])
            index.add_films([{**film, **{k: v for k, v in uids.items() if k in film}}])
        index.close()
        return (copy.stat().st_size - before) / films


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def measure_disk(jobs: int) -> None:
    from printscp.archive.store import INDEX, MANIFEST, PRINT_PDF, FilmArchive

    raw = 20 * 512 * 512 * 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        FilmArchive(folder).index.close()  # the empty index, as the server creates it
        empty = index_figures(folder / INDEX)
        singles, copied = print_films(folder, jobs)
        full = index_figures(folder / INDEX)
        rows: list[tuple[str, float, float]] = []
        for label, name in (
            ("film PDF (film-1.pdf)", "film-1.pdf"),
            ("film PNG (film-1.png)", "film-1.png"),
            ("Encapsulated PDF (film-1.dcm)", "film-1.dcm"),
            (MANIFEST, MANIFEST),
        ):
            rows.append(
                (
                    label,
                    statistics.mean((f / name).stat().st_size for f in singles),
                    statistics.mean(allocated(f / name) for f in singles),
                )
            )
        rows.append((f"{PRINT_PDF} (more than one sheet only)", 0, 0))
        films = jobs + 1  # the 2-copy job is one film too
        growth = index_growth(folder / INDEX, singles[0].name)
        rows.append((f"{INDEX} growth (of 1,000 more films)", growth, growth))
        others = [
            p
            for f in singles
            for p in f.iterdir()
            if p.name not in ("film-1.pdf", "film-1.png", "film-1.dcm", MANIFEST)
        ]
        assert not others, others
        total = sum(r[1] for r in rows), sum(r[2] for r in rows)
        copied_pdf = (copied / PRINT_PDF).stat().st_size
        copied_total = sum(p.stat().st_size for p in copied.iterdir())
        png_dpi = json.loads((singles[0] / MANIFEST).read_text())["films"][0]["png_dpi"]

    print(
        f"2. Disk use per film: STANDARD\\4,5 on 14INX17IN, 20 x 512x512 12-bit CT slices; raw pixel data "
        f"sent {raw:,} bytes;\n   mean over {jobs} one-film jobs printed by a pynetdicom SCU (PNG at {png_dpi} "
        "dpi)\n"
    )
    print(f"{'file':<40} {'bytes':>12} {'allocated':>12} {'of raw':>8}")
    for label, size, blocks in rows:
        print(f"{label:<40} {size:>12,.0f} {blocks:>12,.0f} {size / raw:>8.1%}")
    print(f"{'total':<40} {total[0]:>12,.0f} {total[1]:>12,.0f} {total[0] / raw:>8.1%}")
    print(
        f"\nindex: the file grows by 4096-byte pages: {full[0] - empty[0]:,} bytes more after the {films} jobs "
        f"printed here,\n       holding {(full[1] - empty[1]) / films:,.0f} bytes of rows and index entries per "
        "film; the growth above is per film over 1,000 more"
    )
    print(
        f"the same film printed with Number of Copies 2: print.pdf {copied_pdf:,} bytes (both sheets), "
        f"the job {copied_total:,} bytes in all ({copied_total / raw:.1%} of raw)"
    )


def main() -> int:
    import pynetdicom

    configure_logging("WARNING")  # as `printscp serve` runs, pynetdicom's per-message logging off
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000, help="instances in the measured archive")
    parser.add_argument("--reference", type=int, default=100, help="instances in the reference archive")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each C-FIND")
    parser.add_argument("--films", type=int, default=5, help="one-film print jobs for the disk use")
    args = parser.parse_args()
    print(
        f"archive benchmark: Python {platform.python_version()}, pynetdicom {pynetdicom.__version__}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; the SCU in its own process, printscp in "
        "this one, over loopback\n"
    )
    with tempfile.TemporaryDirectory() as big, tempfile.TemporaryDirectory() as small:
        measured = measure_find(Path(big), args.instances, args.repeat, by_store_instance=True)
        reference = measure_find(Path(small), args.reference, args.repeat, by_store_instance=False)
    report_find(measured, reference, args.repeat)
    measure_disk(args.films)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(main())
