"""The web console beside a running print server: its users, its HTTP port (uvicorn, in a thread of the
serve process) and the live events it sends to the browsers.

`printscp serve` starts it after the DICOM port listens. The socket is bound here, before uvicorn runs, so a
port in use is one clear operator error, as the DICOM port's is. With no users file yet, the first start
makes user `admin` with a random password and logs it once: nobody reaches patient data anonymously, and a
fresh machine has a way in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import socket
import threading

import uvicorn

from printscp.archive.film_index import FilmFilter
from printscp.archive.store import StoredJob
from printscp.config import Config
from printscp.jobs import PrintJob
from printscp.model.printer import PrinterState
from printscp.net.server import PrintServer
from printscp.web.api import WebContext, create_app, film_view, print_job_view, printer_view, prune_thumbnails
from printscp.web.auth import Authenticator
from printscp.web.hub import EventHub
from printscp.web.users import Users

log = logging.getLogger(__name__)


class WebConsole:
    def __init__(self, server: PrintServer, config: Config) -> None:
        self.server, self.config = server, config
        web = config.web
        self.users = Users(web.users_file)
        self.hub = EventHub()
        secure = web.tls and config.tls is not None
        self.context = WebContext(
            archive=server.archive,
            printers=server.printers,
            printer_configs=config.all_printers,
            queue=server.queue,
            transcripts=server.transcripts,
            hub=self.hub,
            metrics=server.metrics,
            auth=Authenticator(self.users, web.session_hours * 3600),
            secure_cookies=secure,
            assign=server.assign_identity,
        )
        self.app = create_app(self.context)
        self._listeners = {ae: functools.partial(self._printer_changed, ae) for ae in server.printers}
        self._thread: threading.Thread | None = None
        self._uvicorn: uvicorn.Server | None = None
        self.address: tuple[str, int] | None = None
        self.listener: socket.socket | None = None

    def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Listen (raises OSError if the port cannot be had) and serve in a thread; returns the bound address."""
        web = self.config.web
        self._first_user()
        prune_thumbnails(self.server.archive)
        address = (host if host is not None else web.host, port if port is not None else web.port)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
        # response waits ~40 ms for the browser's delayed ACK (uvicorn writes headers and body apart)
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        tls = self.config.tls if web.tls else None
        uvicorn_config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls.certificate) if tls is not None else None,
            ssl_keyfile=str(tls.private_key) if tls is not None else None,
        )
        self._uvicorn = uvicorn.Server(uvicorn_config)
        self._thread = threading.Thread(
            target=self._serve, args=(self._uvicorn, listener), name="printscp-web", daemon=True
        )
        self.server.queue.observe(self._job_changed)
        self.server.observe_stored(self._stored)
        for ae_title, printer in self.server.printers.items():
            printer.add_listener(self._listeners[ae_title])
        self._thread.start()
        self.listener = listener
        bound = listener.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        scheme = "https" if tls is not None else "http"
        log.info("web console on %s://%s:%d", scheme, self.address[0], self.address[1])
        return self.address

    @staticmethod
    def _serve(server: uvicorn.Server, listener: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[listener]))
        except Exception:  # the DICOM side goes on printing without its console
            log.exception("the web console stopped")
        finally:
            listener.close()

    def stop(self) -> None:
        for ae_title, printer in self.server.printers.items():
            printer.remove_listener(self._listeners[ae_title])
        self.hub.close()  # event streams end, so that uvicorn need not wait for them
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _first_user(self) -> None:
        if self.users.names():
            return
        password = secrets.token_urlsafe(12)
        self.users.add("admin", "admin", password)
        log.warning(
            "web console: %s had no users; made user 'admin' with password %s (shown once; change it with "
            "`printscp user add admin --role admin`)",
            self.users.path.resolve(),
            password,
        )

    # --- live events (from the server's threads) --------------------------------------------------------

    def _stored(self, job: StoredJob) -> None:
        job_uid = job.manifest["print_job_uid"]
        rows = self.server.archive.index.find_films(FilmFilter(job_uid=job_uid))
        for row in rows:
            self.hub.publish("film", film_view(row).model_dump())

    def _printer_changed(self, ae_title: str, old: PrinterState, new: PrinterState) -> None:
        self.hub.publish("printer", printer_view(self.context, ae_title).model_dump())

    def _job_changed(self, job: PrintJob) -> None:
        self.hub.publish("print-job", print_job_view(job).model_dump())
