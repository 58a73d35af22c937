"""The REST API and the console's pages (FastAPI); docs/web.md describes them, /api/openapi.json lists them.

Every route reads the server's own objects (the archive index, the printers, the print queue, the transcript
store) through `WebContext`; nothing here keeps state of its own but sessions. Blocking work (SQLite, files,
Pillow) runs in FastAPI's thread pool: the routes that do it are plain `def`. No anonymous access to patient
data: only /healthz, the login page and the console's static files need no user (auth.py says how users
are told apart; a viewer may read, an admin may also change a printer's status and delete films).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from PIL import Image
from pydantic import BaseModel, Field

from printscp.archive.film_index import FilmFilter, TranscriptFilter
from printscp.archive.store import FilmArchive
from printscp.bench import report
from printscp.bench.store import TranscriptNotFound, TranscriptStore
from printscp.config import PrinterConfig
from printscp.identity.model import Identity, patient
from printscp.jobs import PrintJob, PrintQueue
from printscp.metrics import CONTENT_TYPE, Metrics
from printscp.model.enums import ExecutionStatus, PrinterStatus
from printscp.model.printer import Printer
from printscp.web.auth import CSRF_HEADER, SESSION_COOKIE, Authenticator, Session, csrf_ok
from printscp.web.hub import CLOSED, EventHub
from printscp.web.users import User

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGE = 500
THUMBNAIL_WIDTH = 320
PING_SECONDS = 15.0
STATIC = resources.files("printscp.web") / "static"
# The console's pages load only their own files; the JSON and files of the API are never cached by the browser.
CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@dataclass(frozen=True)
class WebContext:
    """What the web console reads and changes: the running server's own objects."""

    archive: FilmArchive
    printers: Mapping[str, Printer]  # by AE title, the default first
    printer_configs: Mapping[str, PrinterConfig]
    queue: PrintQueue
    transcripts: TranscriptStore
    hub: EventHub
    metrics: Metrics
    auth: Authenticator
    secure_cookies: bool  # HTTPS: the session cookie is Secure
    assign: Callable[[str, Identity, str], Any]  # PrintServer.assign_identity


# --- what the API answers (the OpenAPI document's schemas) ----------------------------------------------


class FilmView(BaseModel):
    id: str  # SOP Instance UID of the film's Encapsulated PDF
    job_uid: str
    film_number: int
    requested_at: str | None
    rendered_at: str | None
    calling_ae_title: str | None
    called_ae_title: str | None
    printer: str | None
    patient_name: str | None
    patient_id: str | None
    patient_birth_date: str | None
    patient_sex: str | None
    accession_number: str | None
    identity_source: str | None  # scu, label, worklist, pacs, ocr, manual; None: unknown
    identity_confirmed: bool
    identity_review: str | None  # why a person should look
    needs_review: bool  # unconfirmed or unknown: held from forwarding until assigned
    study_instance_uid: str | None
    film_session_label: str | None
    owner_id: str | None
    film_size_id: str | None
    image_display_format: str | None
    number_of_copies: int | None
    color: bool  # a film of colour images (Basic Color Print Management)
    association_id: str | None
    size: int | None
    pdf_url: str
    png_url: str
    thumbnail_url: str
    page_url: str
    transcript_url: str | None


class FilmList(BaseModel):
    total: int
    limit: int
    offset: int
    films: list[FilmView]


class IdentityAssignment(BaseModel):
    """Whose films a print job's are, as a person says (all its films take it)."""

    patient_id: str = Field(min_length=1, max_length=64)
    patient_name: str = Field(default="", max_length=194)  # PN: up to three groups of 64
    patient_birth_date: str = Field(default="", pattern=r"^(\d{8})?$")
    patient_sex: Literal["", "M", "F", "O"] = ""
    accession_number: str = Field(default="", max_length=16)
    study_instance_uid: str = Field(default="", pattern=r"^([0-9]+(\.[0-9]+)*)?$", max_length=64)


class DeletedJob(BaseModel):
    deleted_job: str
    films: list[str]


class PrinterView(BaseModel):
    ae_title: str
    name: str
    default: bool
    printer_status: str
    printer_status_info: str
    queue_depth: int


class PrinterList(BaseModel):
    printers: list[PrinterView]


class PrinterStatusChange(BaseModel):
    printer_status: Literal["NORMAL", "WARNING", "FAILURE"]
    printer_status_info: str | None = None  # a PS3.3 C.13.9.1 defined term; NORMAL with NORMAL


class PrintJobView(BaseModel):
    sop_instance_uid: str
    execution_status: str
    execution_status_info: str
    printer: str
    originator: str
    film_session_label: str
    films: int
    print_priority: str
    creation: str


class PrintJobList(BaseModel):
    print_jobs: list[PrintJobView]


class TranscriptView(BaseModel):
    association_id: str
    started: str
    calling_ae_title: str
    called_ae_title: str
    printer: str
    peer: str
    messages: int
    films: int
    outcome: str
    verdict: str
    report_url: str
    json_url: str


class TranscriptList(BaseModel):
    transcripts: list[TranscriptView]


class SessionView(BaseModel):
    user: str
    role: str
    csrf_token: str | None  # None for HTTP Basic: no CSRF token needed


def film_view(row: Mapping[str, Any]) -> FilmView:
    film = str(row["sop_instance_uid"])
    association = row.get("association_id")
    return FilmView(
        id=film,
        job_uid=row["job_uid"],
        film_number=int(row["film_number"]),
        requested_at=row.get("requested_at"),
        rendered_at=row.get("rendered_at"),
        calling_ae_title=row.get("calling_ae_title"),
        called_ae_title=row.get("called_ae_title"),
        printer=row.get("printer"),
        patient_name=row.get("patient_name"),
        patient_id=row.get("patient_id"),
        patient_birth_date=row.get("patient_birth_date"),
        patient_sex=row.get("patient_sex"),
        accession_number=row.get("accession_number"),
        identity_source=row.get("identity_source") or None,
        identity_confirmed=row.get("identity_confirmed") == "1",
        identity_review=row.get("identity_review") or None,
        needs_review=row.get("identity_confirmed") != "1",
        study_instance_uid=row.get("study_instance_uid"),
        film_session_label=row.get("film_session_label"),
        owner_id=row.get("owner_id"),
        film_size_id=row.get("film_size_id"),
        image_display_format=row.get("image_display_format"),
        number_of_copies=_int(row.get("number_of_copies")),
        color=row.get("color") == "1",
        association_id=association,
        size=_int(row.get("size")),
        pdf_url=f"/api/films/{film}/pdf",
        png_url=f"/api/films/{film}/png",
        thumbnail_url=f"/api/films/{film}/thumbnail",
        page_url=f"/films/{film}",
        transcript_url=f"/api/transcripts/{association}/report.html" if association else None,
    )


def printer_view(context: WebContext, ae_title: str) -> PrinterView:
    state = context.printers[ae_title].state
    return PrinterView(
        ae_title=ae_title,
        name=context.printer_configs[ae_title].profile.name,
        default=ae_title == next(iter(context.printers)),
        printer_status=state.printer_status.value,
        printer_status_info=state.printer_status_info,
        queue_depth=context.queue.depth_of(ae_title),
    )


def print_job_view(job: PrintJob) -> PrintJobView:
    return PrintJobView(
        sop_instance_uid=job.sop_instance_uid,
        execution_status=job.execution_status.value,
        execution_status_info=job.execution_status_info,
        printer=job.printer,
        originator=job.originator,
        film_session_label=job.film_session_label,
        films=job.films,
        print_priority=job.print_priority.value,
        creation=job.creation.isoformat(),
    )


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


# --- who is asking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    user: User
    session: Session | None  # None: HTTP Basic
    address: str


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _challenge(request: Request) -> dict[str, str]:
    # A page's own fetch or EventSource (Sec-Fetch-Site same-origin) is sent to the login page by the console,
    # so it gets no Basic challenge (the browser would put up its own password dialog); curl and friends do.
    if request.headers.get("sec-fetch-site") in ("same-origin", "same-site", "cross-site"):
        return {}
    return {"WWW-Authenticate": 'Basic realm="printscp", charset="UTF-8"'}


def caller(request: Request) -> Caller | None:
    context: WebContext = request.app.state.context
    session = context.auth.session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        return Caller(session.user, session, _address(request))
    user = context.auth.basic(request.headers.get("authorization"))
    return Caller(user, None, _address(request)) if user is not None else None


def viewer(request: Request) -> Caller:
    """Any user (a dependency of every API route but /healthz)."""
    found = caller(request)
    if found is None:
        raise HTTPException(401, "sign in first: a session cookie (POST /login) or HTTP Basic", _challenge(request))
    return found


def admin(request: Request) -> Caller:
    """An admin, and a state change that can only have come from the console or a script (CSRF, auth.py)."""
    found = viewer(request)
    origin = request.headers.get("origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, f"a request from another site ({origin}) may not change anything")
    if found.session is not None and not csrf_ok(found.session, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"the {CSRF_HEADER} header is missing or wrong (GET /api/session gives it)")
    if request.method in ("POST", "PUT") and request.headers.get("content-type", "").split(";")[0] != (
        "application/json"
    ):
        raise HTTPException(415, "the body must be application/json")
    if not found.user.is_admin:
        raise HTTPException(403, f"user {found.user.name} is a {found.user.role}: only an admin may do this")
    return found


Viewer = Annotated[Caller, Depends(viewer)]
Admin = Annotated[Caller, Depends(admin)]


# --- the application ---------------------------------------------------------------------------------------


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title="printscp",
        summary="A virtual DICOM film printer: its films, printers, print jobs and associations",
        version="1",
        openapi_url=None,  # served below, behind a user like the rest of the API
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")  # patient data stays off shared disks
        return response

    _pages(app, context)
    _films(app, context)
    _printers(app, context)
    _transcripts(app, context)

    @app.get("/healthz", tags=["server"])
    def healthz() -> dict[str, str]:
        """Whether the server answers; no user needed, and no patient data."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["server"], response_class=Response)
    def metrics(caller: Viewer) -> Response:
        """Prometheus text format: associations, films printed, refused requests, queue depth, render seconds,
        errors logged."""
        return Response(context.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/api/session", tags=["session"])
    def session(caller: Viewer) -> SessionView:
        """Who is signed in, and the CSRF token the console sends with each change."""
        token = caller.session.csrf_token if caller.session is not None else None
        return SessionView(user=caller.user.name, role=caller.user.role, csrf_token=token)

    @app.get("/api/events", tags=["session"], response_class=StreamingResponse)
    async def events(request: Request, caller: Viewer) -> StreamingResponse:
        """Server-Sent Events: `film` (a new film, as /api/films), `film-deleted`, `printer`, `print-job`."""
        queue = context.hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), PING_SECONDS)
                    except TimeoutError:
                        message = ": ping\n\n"  # keeps proxies from closing a quiet stream
                    if message == CLOSED:
                        return
                    yield message
            finally:
                context.hub.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    openapi: dict[str, Any] = {}

    @app.get("/api/openapi.json", tags=["server"], include_in_schema=False)
    def openapi_document(caller: Viewer) -> JSONResponse:
        if not openapi:
            openapi.update(get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes))
        return JSONResponse(openapi)

    return app


def _static(name: str) -> Path:
    return Path(str(STATIC / name))


def _pages(app: FastAPI, context: WebContext) -> None:
    def page(request: Request, name: str) -> Response:
        if caller(request) is None:
            target = urllib.parse.quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            return RedirectResponse(f"/login?next={target}", 303)
        return FileResponse(_static(name), media_type="text/html")

    @app.get("/", include_in_schema=False)
    def console(request: Request) -> Response:
        return page(request, "console.html")

    @app.get("/films/{film_id}", include_in_schema=False)
    def film_page(request: Request, film_id: str) -> Response:
        return page(request, "film.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return FileResponse(_static("login.html"), media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        path = _static(name)
        if "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        name, password = form.get("username", [""])[0], form.get("password", [""])[0]
        target = form.get("next", ["/"])[0]
        if not target.startswith("/") or target.startswith("//"):  # only a page of ours: no open redirect
            target = "/"
        session = await asyncio.to_thread(context.auth.login, name, password)
        if session is None:
            log.warning("web: failed login as %r from %s", name[:64], _address(request))
            return RedirectResponse(f"/login?failed=1&next={urllib.parse.quote(target)}", 303)
        log.info("web: %s (%s) signed in from %s", session.user.name, session.user.role, _address(request))
        response = RedirectResponse(target, 303)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=int(context.auth.session_seconds),
            httponly=True,
            samesite="strict",
            secure=context.secure_cookies,
        )
        return response

    @app.post("/logout", include_in_schema=False, status_code=204)
    def logout(request: Request, caller: Viewer) -> Response:
        if caller.session is not None:
            if not csrf_ok(caller.session, request.headers.get(CSRF_HEADER)):
                raise HTTPException(403, f"the {CSRF_HEADER} header is missing or wrong")
            context.auth.logout(caller.session.token)
            log.info("web: %s signed out from %s", caller.user.name, caller.address)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _films(app: FastAPI, context: WebContext) -> None:
    index, folder = context.archive.index, context.archive.folder

    def one(film_id: str) -> dict[str, Any]:
        rows = index.find_films(FilmFilter(sop_instance_uid=film_id))
        if not rows:
            raise HTTPException(404, f"no film {film_id}")
        return rows[0]

    def file_of(row: Mapping[str, Any], kind: str) -> Path:
        path = folder / str(row["folder"]) / str(row[kind])
        if not path.is_file():  # deleted by retention since the row was read
            raise HTTPException(404, f"the {kind.upper()} of film {row['sop_instance_uid']} is gone")
        return path

    @app.get("/api/films", tags=["films"])
    def films(
        caller: Viewer,
        q: Annotated[str | None, Query(description="patient, label, calling AE, printer or job UID contains")] = None,
        patient: Annotated[str | None, Query(description="patient name or ID; contains, or * ? pattern")] = None,
        calling_ae_title: str | None = None,
        printer: str | None = None,
        from_: Annotated[date | None, Query(alias="from", description="printed on or after (YYYY-MM-DD)")] = None,
        to: Annotated[date | None, Query(description="printed on or before (YYYY-MM-DD)")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE_SIZE,
        offset: Annotated[int, Query(ge=0)] = 0,
        review: Annotated[bool | None, Query(description="true: only films whose identity needs review")] = None,
    ) -> FilmList:
        """Printed films, newest first, a page at a time."""
        where = FilmFilter(
            printed_from=from_,
            printed_to=to,
            calling_ae_title=calling_ae_title or None,
            printer=printer or None,
            patient=patient or None,
            text=q.strip() if q and q.strip() else None,
            review=review,
            newest_first=True,
            limit=limit,
            offset=offset,
        )
        rows = index.find_films(where)
        return FilmList(total=index.count_films(where), limit=limit, offset=offset, films=[film_view(r) for r in rows])

    @app.get("/api/films/{film_id}", tags=["films"])
    def film(film_id: str, caller: Viewer) -> FilmView:
        """One film (its id: the SOP Instance UID of its Encapsulated PDF)."""
        return film_view(one(film_id))

    @app.get("/api/films/{film_id}/pdf", tags=["films"], response_class=FileResponse)
    def pdf(film_id: str, caller: Viewer) -> FileResponse:
        """The film as a PDF at true film size (streamed)."""
        return FileResponse(file_of(one(film_id), "pdf"), media_type="application/pdf")

    @app.get("/api/films/{film_id}/png", tags=["films"], response_class=FileResponse)
    def png(film_id: str, caller: Viewer) -> FileResponse:
        """The film as a PNG (streamed)."""
        return FileResponse(file_of(one(film_id), "png"), media_type="image/png")

    @app.get("/api/films/{film_id}/thumbnail", tags=["films"], response_class=FileResponse)
    def thumbnail(film_id: str, caller: Viewer) -> FileResponse:
        """The film's PNG at most 320 pixels wide, made once and kept in <archive>/.thumbnails."""
        row = one(film_id)
        return FileResponse(_thumbnail(folder, film_id, file_of(row, "png")), media_type="image/png")

    @app.put("/api/films/{film_id}/identity", tags=["films"])
    def assign(film_id: str, assignment: IdentityAssignment, caller: Admin) -> list[FilmView]:
        """Say whose films the film's print job holds: its films' Encapsulated PDFs, the manifest and the index
        take it (source manual, confirmed), the change is audited, and held films are forwarded. Admin."""
        values = assignment.model_dump()
        if any("\\" in str(v) or any(ord(c) < 32 for c in str(v)) for v in values.values()):
            raise HTTPException(422, "no backslash or control characters in a patient's data (PS3.5 6.2)")
        job_uid = one(film_id)["job_uid"]
        context.assign(job_uid, patient(values), caller.user.name)
        log.info("web: %s assigned print job %s from %s", caller.user.name, job_uid, caller.address)
        rows = index.find_films(FilmFilter(job_uid=job_uid))
        for row in rows:
            context.hub.publish("film-changed", film_view(row).model_dump())
        return [film_view(row) for row in rows]

    @app.delete("/api/films/{film_id}", tags=["films"])
    def delete(film_id: str, caller: Admin) -> DeletedJob:
        """Delete the print job the film belongs to, all its films (the archive keeps a job whole). Admin."""
        job_uid = one(film_id)["job_uid"]
        films = [row["sop_instance_uid"] for row in index.find_films(FilmFilter(job_uid=job_uid))]
        context.archive.remove_job(job_uid)
        for film_uid in films:
            _unlink(folder / ".thumbnails" / f"{film_uid}.png")
            context.hub.publish("film-deleted", {"id": film_uid, "job_uid": job_uid})
        log.info(
            "web: %s deleted print job %s (%d film(s)) from %s", caller.user.name, job_uid, len(films), caller.address
        )
        return DeletedJob(deleted_job=job_uid, films=films)


def _thumbnail(archive: Path, film_id: str, png: Path) -> Path:
    thumbnails = archive / ".thumbnails"
    path = thumbnails / f"{film_id}.png"
    if path.exists():
        return path
    thumbnails.mkdir(exist_ok=True)
    with Image.open(png) as image:
        factor = max(1, image.width // THUMBNAIL_WIDTH)
        small = image.reduce(factor) if factor > 1 else image.copy()
        if small.width > THUMBNAIL_WIDTH:
            small = small.resize((THUMBNAIL_WIDTH, round(small.height * THUMBNAIL_WIDTH / small.width)))
    temporary = thumbnails / f".{film_id}.{threading.get_ident()}.tmp"  # two requests may make it at once
    small.save(temporary, format="PNG", optimize=False)
    os.replace(temporary, path)
    return path


def prune_thumbnails(archive: FilmArchive) -> int:
    """Delete the thumbnails of films no longer in the archive (retention, `printscp films`); how many."""
    folder = archive.folder / ".thumbnails"
    if not folder.is_dir():
        return 0
    films = {row["sop_instance_uid"] for row in archive.index.find_films(FilmFilter())}
    gone = [path for path in folder.iterdir() if path.suffix == ".png" and path.stem not in films]
    for path in gone:
        _unlink(path)
    return len(gone)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _printers(app: FastAPI, context: WebContext) -> None:
    def known(ae_title: str) -> str:
        if ae_title not in context.printers:
            raise HTTPException(404, f"no printer {ae_title} (printers: {', '.join(context.printers)})")
        return ae_title

    @app.get("/api/printers", tags=["printers"])
    def printers(caller: Viewer) -> PrinterList:
        """Every printer of the server (the default first), with its status and queue depth."""
        return PrinterList(printers=[printer_view(context, ae) for ae in context.printers])

    @app.get("/api/printers/{ae_title}", tags=["printers"])
    def printer(ae_title: str, caller: Viewer) -> PrinterView:
        return printer_view(context, known(ae_title))

    @app.put("/api/printers/{ae_title}/status", tags=["printers"])
    def set_status(ae_title: str, change: PrinterStatusChange, caller: Admin) -> PrinterView:
        """Set a printer's Printer Status and Printer Status Info (PS3.3 C.13.9.1); every association using
        it gets an N-EVENT-REPORT. Admin."""
        status = PrinterStatus(change.printer_status)
        info = change.printer_status_info.strip().upper() if change.printer_status_info else None
        try:
            context.printers[known(ae_title)].set_status(status, info or None)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        log.info(
            "web: %s set printer %s status to %s (%s) from %s",
            caller.user.name,
            ae_title,
            status.value,
            context.printers[ae_title].state.printer_status_info,
            caller.address,
        )
        return printer_view(context, ae_title)

    @app.get("/api/printers/{ae_title}/queue", tags=["printers"])
    def queue(ae_title: str, caller: Viewer) -> PrintJobList:
        """The printer's jobs waiting and printing, in the order they came."""
        known(ae_title)
        unfinished = (ExecutionStatus.PENDING, ExecutionStatus.PRINTING)
        jobs = [j for j in context.queue.jobs() if j.printer == ae_title and j.execution_status in unfinished]
        return PrintJobList(print_jobs=[print_job_view(j) for j in sorted(jobs, key=lambda j: j.sequence)])

    @app.get("/api/print-jobs", tags=["print jobs"])
    def print_jobs(
        caller: Viewer, printer: str | None = None, execution_status: ExecutionStatus | None = None
    ) -> PrintJobList:
        """Print jobs queued, printing, or finished less than queue.keep_finished_jobs ago."""
        jobs = [
            j
            for j in context.queue.jobs()
            if (printer is None or j.printer == printer)
            and (execution_status is None or j.execution_status is execution_status)
        ]
        return PrintJobList(print_jobs=[print_job_view(j) for j in sorted(jobs, key=lambda j: j.sequence)])

    @app.get("/api/print-jobs/{uid}", tags=["print jobs"])
    def print_job(uid: str, caller: Viewer) -> PrintJobView:
        job = context.queue.job(uid)
        if job is None:
            raise HTTPException(404, f"no print job {uid} (finished ones are kept queue.keep_finished_jobs)")
        return print_job_view(job)


def _transcripts(app: FastAPI, context: WebContext) -> None:
    def load(association_id: str) -> Any:
        try:
            return context.transcripts.load(association_id)
        except TranscriptNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/api/transcripts", tags=["transcripts"])
    def transcripts(
        caller: Viewer,
        calling_ae_title: str | None = None,
        since: Annotated[str | None, Query(description="started at or after (ISO 8601)")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE_SIZE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> TranscriptList:
        """Recorded associations (the test bench), newest first."""
        where = TranscriptFilter(calling_ae_title=calling_ae_title or None, since=since, limit=limit, offset=offset)
        return TranscriptList(
            transcripts=[
                TranscriptView(
                    **{k: v for k, v in dataclasses.asdict(t).items() if k != "path"},  # the file stays private
                    report_url=f"/api/transcripts/{t.association_id}/report.html",
                    json_url=f"/api/transcripts/{t.association_id}",
                )
                for t in context.transcripts.list(where)
            ]
        )

    @app.get("/api/transcripts/{association_id}", tags=["transcripts"])
    def transcript(association_id: str, caller: Viewer) -> Response:
        """The association's report as JSON (schema printscp-transcript/1, docs/transcript.schema.json)."""
        return Response(report.json_report(load(association_id)), media_type="application/json")

    @app.get("/api/transcripts/{association_id}/report.html", tags=["transcripts"], response_class=HTMLResponse)
    def transcript_html(association_id: str, caller: Viewer) -> HTMLResponse:
        """The association's report as one self-contained HTML page (no script)."""
        page = report.html(load(association_id), context.archive.folder)
        return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})

    @app.get("/api/transcripts/{association_id}/junit.xml", tags=["transcripts"])
    def transcript_junit(association_id: str, caller: Viewer) -> Response:
        """The association's findings as JUnit XML, a testcase per request."""
        return Response(report.junit(load(association_id)), media_type="application/xml")
