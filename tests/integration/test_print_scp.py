"""The print SCP over real loopback associations with a pynetdicom SCU."""

from __future__ import annotations

import gc
import json
import socket
import sys
import threading
import weakref
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import RunningServer
from PIL import Image
from printscu import META, PrintSCU, image_item, ramp, reference
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pypdf import PdfReader
from waiting import wait_until

from printscp import heap, uids
from printscp.archive.store import StoredJob

SESSION, FILM_BOX, IMAGE_BOX = uids.BASIC_FILM_SESSION, uids.BASIC_FILM_BOX, uids.BASIC_GRAYSCALE_IMAGE_BOX


def only_job(running: RunningServer) -> StoredJob:
    jobs = running.jobs()
    assert len(jobs) == 1, jobs
    return jobs[0]


def png(path: object) -> np.ndarray:
    with Image.open(path) as image:  # type: ignore[arg-type]
        assert image.mode == "L"
        return np.asarray(image)


def test_full_print_produces_pdf_and_png_at_film_size(running: RunningServer) -> None:
    with PrintSCU(running.address, calling="CT_SCANNER") as scu:
        printer = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE)
        assert printer.status == 0 and printer.dataset is not None
        assert (printer.dataset.PrinterStatus, printer.dataset.PrinterStatusInfo) == ("NORMAL", "NORMAL")
        session = scu.film_session(FilmSessionLabel="CT CHEST", NumberOfCopies="1")
        box, images, _ = scu.film_box(session, "STANDARD\\2,1", FilmSizeID="14INX17IN")
        # left half of the image dark, right half light
        pixels = np.zeros((100, 100), dtype=np.uint16)
        pixels[:, 50:] = 4095
        assert scu.set_image(images[1], 2, pixels).status == 0
        action = scu.n_action(FILM_BOX, box)
        assert action.status == 0
        assert scu.n_delete(FILM_BOX, box).status == 0
        assert scu.n_delete(SESSION, session).status == 0
    job = only_job(running)
    manifest = job.manifest
    assert (manifest["calling_ae_title"], manifest["called_ae_title"]) == ("CT_SCANNER", "PRINTSCP")
    assert manifest["film_session"]["film_session_label"] == "CT CHEST"
    film = manifest["films"][0]
    assert film["film_box_uid"] == box and film["image_display_format"] == "STANDARD\\2,1"
    assert film["image_boxes"][0] == {"image_box_position": 1, "empty": True}
    reader = PdfReader(job.pdfs[0])
    assert len(reader.pages) == 1
    assert (float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)) == (1008, 1224)
    assert reader.metadata is not None and reader.metadata.title == "CT CHEST"
    raster = png(job.pngs[0])
    dpi = film["png_dpi"]
    assert raster.shape == (round(17 * dpi), round(14 * dpi))
    # the image lands centred in the right cell: a square of 7 in x 7 in
    x, y, w, h = (v * dpi / 72 for v in film["image_boxes"][1]["rect_pt"])
    assert (w, h) == pytest.approx((7 * dpi, 7 * dpi), abs=1)
    assert x == pytest.approx(7 * dpi, abs=1) and y == pytest.approx(5 * dpi, abs=1)
    row = raster[int(y + h / 2)]
    assert row[int(x + w * 0.25)] < 40 and row[int(x + w * 0.75)] > 215  # dark left, light right
    assert raster[int(y / 2), int(x + w / 2)] < 40  # black border above the image
    assert raster[int(y + h / 2), int(x / 2)] < 40  # empty box at BLACK Empty Image Density


def test_landscape_film_and_densities_reach_the_outputs(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        box, images, _ = scu.film_box(
            session,
            "STANDARD\\1,1",
            FilmSizeID="8INX10IN",
            FilmOrientation="LANDSCAPE",
            BorderDensity="WHITE",
            MinDensity=20,
            MaxDensity=300,
        )
        scu.set_image(images[0], 1, np.full((10, 10), 2048, dtype=np.uint16))
        assert scu.n_action(FILM_BOX, box).status == 0
    job = only_job(running)
    page = PdfReader(job.pdfs[0]).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (720, 576)
    raster = png(job.pngs[0])
    assert raster.shape[1] > raster.shape[0]
    assert raster[2, 2] > 240  # WHITE border: Min Density 0.20 on a printer whose lightest is 0.10


def test_n_create_warning_still_names_the_new_instance(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.n_create(SESSION, _ds(MediumType="GOLD FILM"))
        assert session.status == 0x0116
        assert session.comment.startswith("(2000,0030) MediumType: 'GOLD FILM' is not supported")
        assert session.command.AffectedSOPInstanceUID  # in the command, not the data set
        assert session.dataset is not None and "AffectedSOPInstanceUID" not in session.dataset
        assert session.dataset.MediumType == "CLEAR FILM"
        request = _ds(ImageDisplayFormat="STANDARD\\2,2", MaxDensity=900)
        request.ReferencedFilmSessionSequence = [reference(SESSION, session.affected_uid)]
        box = scu.n_create(FILM_BOX, request)
        assert box.status == 0xB605 and box.dataset is not None
        assert box.dataset.MaxDensity == 330 and len(box.dataset.ReferencedImageBoxSequence) == 4
        assert box.command.AffectedSOPClassUID == FILM_BOX


@pytest.mark.parametrize(
    ("step", "status", "tag", "comment"),
    [
        (
            lambda scu, s: scu.n_set(SESSION, s, _ds(PrintPriority="URGENT")),
            0x0106,
            0x20000020,
            "(2000,0020) PrintPriority: 'URGENT' is not one of HIGH, MED, LOW",
        ),
        (
            lambda scu, s: scu.n_set(SESSION, s, _ds(NumberOfCopies="0")),
            0x0106,
            0x20000010,
            "(2000,0010) NumberOfCopies: ",
        ),
        (lambda scu, s: scu.n_set(SESSION, s, _ds(PatientID="X")), 0x0105, 0x00100020, "(0010,0020) PatientID: "),
        (
            lambda scu, s: scu.n_create(FILM_BOX, _ds(FilmSizeID="A4")),
            0x0120,
            0x20100010,
            "(2010,0010) ImageDisplayFormat: ",
        ),
        (lambda scu, s: scu.n_create(SESSION), 0x0111, None, "only one Film Session per association"),
        (
            lambda scu, s: scu.n_set(SESSION, "1.2.3.4", _ds(NumberOfCopies="1")),
            0x0112,
            None,
            "no such Basic Film Session",
        ),
        (
            lambda scu, s: scu.n_set(FILM_BOX, s, _ds(MaxDensity=200)),
            0x0119,
            None,
            "instance is a Basic Film Session, not a Basic Film Box",
        ),
        (lambda scu, s: scu.n_action(SESSION, s, 7), 0x0123, None, "Action Type ID 7"),
        (lambda scu, s: scu.n_action(SESSION, s), 0xC600, None, "no Film Box"),
        (lambda scu, s: scu.n_delete(IMAGE_BOX, s), 0x0211, None, "N-DELETE is not a service"),
        (
            lambda scu, s: scu.n_create(FILM_BOX, _ds(ImageDisplayFormat="STANDARD\\1,1"), "1.2.x"),
            0x0117,
            None,
            "not a valid UID",
        ),
    ],
)
def test_failures_carry_status_comment_and_offending_element(
    running: RunningServer, step: Callable[[PrintSCU, str], object], status: int, tag: int | None, comment: str
) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        response = step(scu, session)
        assert response.status == status, response.comment  # type: ignore[attr-defined]
        assert comment in response.comment  # type: ignore[attr-defined]
        if tag is not None:
            # Offending Element (0000,0901) is in the response command set on the wire
            assert response.offending == [tag]  # type: ignore[attr-defined]
        # the association survives every failure
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0


def test_empty_film_box_print_is_b603_and_prints_nothing(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session()
        box, _, _ = scu.film_box(session, "STANDARD\\2,2")
        response = scu.n_action(FILM_BOX, box)
        assert response.status == 0xB603
    assert running.jobs() == []


def test_image_box_failures_over_the_network(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        _, images, _ = scu.film_box(scu.film_session(), "STANDARD\\1,1")
        item = image_item(ramp(8, 8))
        item.Rows = 9  # no longer matches the Pixel Data length
        request = _ds(ImageBoxPosition=1)
        request.BasicGrayscaleImageSequence = [item]
        response = scu.n_set(IMAGE_BOX, images[0], request)
        assert response.status == 0x0106 and response.offending == [0x7FE00010]
        assert response.comment.startswith("(7FE0,0010) PixelData: holds 128 bytes")
        wrong_position = scu.set_image(images[0], 3, ramp(8, 8))
        assert wrong_position.status == 0x0106 and wrong_position.offending == [0x20200010]


def test_unknown_and_retired_sop_classes_get_0118_without_abort(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        for uid in ("1.2.840.10008.5.1.1.24.1", "1.2.840.10008.5.1.1.26", "1.2.826.0.1.3680043.9.9999.1"):
            status, _ = scu.assoc.send_n_create(None, uid, None, meta_uid=META)
            assert status is not None and status.Status == 0x0118, uid
            assert scu.responses[-1].ErrorComment
        assert scu.assoc.is_established
        assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0


def test_presentation_contexts(running: RunningServer) -> None:
    ae = AE("CONTEXTS")
    for uid in (
        META,
        uids.PRINT_JOB,
        uids.PRINTER_CONFIGURATION_RETRIEVAL,
        uids.VERIFICATION,
        uids.BASIC_COLOR_PRINT_MANAGEMENT_META,
        "1.2.840.10008.5.1.1.27",
    ):  # color (the bundled printer supports it), retired Stored Print
        ae.add_requested_context(uid)
    ae.add_requested_context(uids.PRESENTATION_LUT, [ExplicitVRBigEndian])
    ae.add_requested_context(uids.PRINTER, [ImplicitVRLittleEndian])
    assoc = ae.associate(*running.address, ae_title="PRINTSCP")
    try:
        assert assoc.is_established
        accepted = {str(cx.abstract_syntax): str(cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        rejected = {str(cx.abstract_syntax) for cx in assoc.rejected_contexts}
        assert set(accepted) == {
            META,
            uids.BASIC_COLOR_PRINT_MANAGEMENT_META,
            uids.VERIFICATION,
            uids.PRINTER,
            uids.PRINT_JOB,
            uids.PRINTER_CONFIGURATION_RETRIEVAL,
        }
        assert rejected == {uids.PRESENTATION_LUT, "1.2.840.10008.5.1.1.27"}
        assert accepted[META] == "1.2.840.10008.1.2.1"  # Explicit VR Little Endian, never Big Endian
        # a status-only association on the Printer SOP class alone (PS3.4 H.3.1)
        status, printer = assoc.send_n_get([], uids.PRINTER, uids.PRINTER_INSTANCE)
        assert status.Status == 0 and printer is not None and printer.PrinterName == "printscp"
    finally:
        assoc.release()


def test_printer_n_get_honours_the_attribute_identifier_list(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        response = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE, [0x21100010, 0x00181020])
        assert response.status == 0 and response.dataset is not None
        assert sorted(response.dataset.keys()) == [0x00181020, 0x21100010]
        full = scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).dataset
        assert full is not None
        assert (full.Manufacturer, full.ManufacturerModelName, full.DeviceSerialNumber, full.DateOfLastCalibration) == (
            "printscp",
            "Virtual Film Printer",
            "PSCP-0001",
            "20261101",
        )


def test_n_get_reads_back_what_the_printer_holds(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session(FilmSessionLabel="READBACK", NumberOfCopies="3")
        box, images, _ = scu.film_box(session, "COL\\1,3", Trim="YES")
        scu.set_image(images[2], 3, ramp(4, 6), Polarity="REVERSE")
        assert scu.n_get(SESSION, session).dataset.NumberOfCopies == 3  # type: ignore[union-attr]
        film_box = scu.n_get(FILM_BOX, box, [0x20100010, 0x20100140]).dataset
        assert film_box is not None and (film_box.ImageDisplayFormat, film_box.Trim) == ("COL\\1,3", "YES")
        image_box = scu.n_get(IMAGE_BOX, images[2]).dataset
        assert image_box is not None and image_box.Polarity == "REVERSE"
        item = image_box.BasicGrayscaleImageSequence[0]
        assert (item.Rows, item.Columns) == (4, 6)
        assert np.frombuffer(item.PixelData, "<u2").reshape(4, 6).tolist() == ramp(4, 6).tolist()


def test_abort_mid_session_leaves_nothing_behind(running: RunningServer) -> None:
    scu = PrintSCU(running.address)
    session = scu.film_session()
    _, images, _ = scu.film_box(session, "STANDARD\\2,2")
    scu.set_image(images[0], 1, ramp(256, 256))
    assert running.server.active_engines == 1
    (engine,) = running.server._engines.values()  # noqa: SLF001
    session_object = engine.hierarchy.film_session
    assert session_object is not None
    pixels = session_object.film_boxes[0].image_boxes[0].image.pixels  # type: ignore[union-attr]
    held: list[weakref.ref[Any]] = [weakref.ref(session_object), weakref.ref(session_object.film_boxes[0])]
    base = pixels.base if pixels.base is not None else pixels
    pixel_refs = sys.getrefcount(base)
    del engine, session_object, pixels
    gc.disable()  # freed by reference counting alone: no cycle may keep a hierarchy or its pixels alive
    try:
        scu.assoc.abort()
        wait_until(lambda: running.server.active_engines == 0, 10, "the engines closed")
        wait_until(lambda: all(ref() is None for ref in held), 10, "the held objects collected")
        assert sys.getrefcount(base) < pixel_refs  # the hierarchy no longer holds the image
    finally:
        gc.enable()
    # and the server keeps serving
    with PrintSCU(running.address) as again:
        assert again.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
    assert running.jobs() == []  # nothing printed on abort (PS3.4 H.5)


def test_the_heap_is_trimmed_once_per_connection_at_its_close(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """malloc_trim walks every arena (~1 ms): once when the connection closes, not at each of the
    association's end events too (released or aborted, then closed)."""
    trimmed: list[str] = []
    monkeypatch.setattr(heap, "trim", lambda: trimmed.append("trim"))
    fake = SimpleNamespace(assoc=object())  # an association the server does not know
    for event in (evt.EVT_RELEASED, evt.EVT_ABORTED, evt.EVT_CONN_CLOSE):
        for bound, handler, *_ in running.server.event_handlers():
            if bound is event and getattr(handler, "__self__", None) is running.server:
                handler(fake)
        assert len(trimmed) == (1 if event is evt.EVT_CONN_CLOSE else 0), event
    # and over a real association: the engine goes with the release, the heap is trimmed once
    with PrintSCU(running.address) as scu:
        scu.film_session()
        assert running.server.active_engines == 1
    wait_until(lambda: len(trimmed) == 2, 10, "the connection's close")
    assert running.server.active_engines == 0


def test_release_without_deletes_drops_the_session(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        scu.film_box(scu.film_session())
        assert running.server.active_engines == 1
    wait_until(lambda: running.server.active_engines == 0, 10, "the engines closed")


def test_two_concurrent_associations_keep_their_own_sessions(running: RunningServer) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def print_one(calling: str, label: str, value: int) -> None:
        try:
            with PrintSCU(running.address, calling=calling) as scu:
                session = scu.film_session(FilmSessionLabel=label)
                barrier.wait(timeout=10)  # both sessions exist at the same time
                box, images, _ = scu.film_box(session)
                scu.set_image(images[0], 1, np.full((32, 32), value, dtype=np.uint16))
                barrier.wait(timeout=10)
                assert scu.n_action(FILM_BOX, box).status == 0
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [
        threading.Thread(target=print_one, args=("MODALITY_A", "LABEL A", 0)),
        threading.Thread(target=print_one, args=("MODALITY_B", "LABEL B", 4095)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    jobs = {job.manifest["calling_ae_title"]: job for job in running.jobs()}
    assert set(jobs) == {"MODALITY_A", "MODALITY_B"}
    assert jobs["MODALITY_A"].manifest["film_session"]["film_session_label"] == "LABEL A"
    assert jobs["MODALITY_B"].manifest["film_session"]["film_session_label"] == "LABEL B"
    centre = {ae: png(job.pngs[0])[600, 500] for ae, job in jobs.items()}
    assert centre["MODALITY_A"] < 40 < 215 < centre["MODALITY_B"]


def test_session_print_with_copies_is_collated(running: RunningServer) -> None:
    with PrintSCU(running.address) as scu:
        session = scu.film_session(NumberOfCopies="2")
        for value in (0, 4095):
            _, images, _ = scu.film_box(session)
            scu.set_image(images[0], 1, np.full((16, 16), value, dtype=np.uint16))
        assert scu.n_action(SESSION, session).status == 0
    job = only_job(running)
    assert job.manifest["print_order"] == [1, 2, 1, 2]
    assert [png(path)[600, 500] < 128 for path in job.pngs] == [True, False]


def test_tcp_nodelay_on_accepted_sockets(running: RunningServer) -> None:
    with PrintSCU(running.address):
        server = running.server._server  # noqa: SLF001
        assert server is not None
        wait_until(lambda: len(server.active_associations) == 1, 10, "one association active")
        assoc_socket = server.active_associations[0].dul.socket
        assert assoc_socket is not None and assoc_socket.socket is not None
        sock = assoc_socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_calling_ae_title_restriction(start_server: Callable[..., RunningServer], tmp_path: object) -> None:
    import dataclasses

    from printscp.net.server import PrintServer

    running = start_server()
    config = running.server.config
    network = dataclasses.replace(config.network, allowed_calling_ae_titles=("GOOD_AE",))
    folder = dataclasses.replace(config.archive, folder=config.archive.folder.with_name("restricted"))
    # its own archive: one server per archive folder (issue 11)
    restricted = PrintServer(dataclasses.replace(config, network=network, archive=folder))
    host, port = restricted.start("127.0.0.1", 0)
    try:
        with pytest.raises(ConnectionError):
            PrintSCU((host, port), calling="BAD_AE")
        with PrintSCU((host, port), calling="GOOD_AE") as scu:
            assert scu.n_get(uids.PRINTER, uids.PRINTER_INSTANCE).status == 0
    finally:
        restricted.stop()


def test_manifest_is_json_and_files_match_their_checksums(running: RunningServer) -> None:
    import hashlib

    with PrintSCU(running.address) as scu:
        session = scu.film_session(FilmSessionLabel="../../etc/passwd")
        box, images, _ = scu.film_box(session)
        scu.set_image(images[0], 1, ramp(32, 32))
        scu.n_action(FILM_BOX, box)
    job = only_job(running)
    assert job.folder.parent.parent.parent.parent == running.archive
    manifest = json.loads((job.folder / "manifest.json").read_text())
    assert manifest["film_session"]["film_session_label"] == "../../etc/passwd"
    film = manifest["films"][0]
    assert hashlib.sha256((job.folder / film["pdf"]).read_bytes()).hexdigest() == film["pdf_sha256"]
    assert hashlib.sha256((job.folder / film["png"]).read_bytes()).hexdigest() == film["png_sha256"]
    assert not list(running.archive.glob(".incoming/*"))


def _ds(**attributes: object) -> Dataset:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_debug_log_records_every_message_and_info_keeps_patient_data_out(
    running: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="printscp.net.handlers")
    with PrintSCU(running.address, calling="LOGGED") as scu:
        study = _ds(PatientName="SECRET^PATIENT", PatientID="ID-42")
        request = _ds(FilmSessionLabel="LOG TEST")
        request.ProposedStudySequence = [study]
        session = scu.n_create(SESSION, request).affected_uid
        _, images, _ = scu.film_box(session)
        scu.set_image(images[0], 1, ramp(64, 64))
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    info = [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"]
    assert any("LOG TEST" in m and "SECRET^PATIENT" in m for m in debug)
    assert any("Pixel Data" in m and "<8192 bytes>" in m for m in debug)
    assert any(m.startswith("N-SET Basic Grayscale Image Box") and "LOGGED -> 0x0000 SUCCESS" in m for m in info)
    assert not any("SECRET" in m or "ID-42" in m for m in info)
