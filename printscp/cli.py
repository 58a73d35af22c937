"""Command line: `printscp serve`, `echo`, `print`, `printer`, `films`, `db`. The only place logging is configured."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import getpass
import logging
import re
import shutil
import signal
import sys
import threading
import time
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

from printscp import __version__
from printscp.archive.lock import ArchiveError, folder_error
from printscp.config import Config, ConfigError, load_config, node_folder, validate
from printscp.web.users import Users, UsersError

log = logging.getLogger("printscp")

AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # PS3.5 AE: 16 characters, no backslash or controls


def configure_logging(level: str, log_format: str = "text") -> None:
    """Logging as `printscp serve` has it (benchmarks use this too, to measure what runs): each line carries
    the id of the association it concerns; `log_format` "json" writes one JSON object per line."""
    from printscp.net import association_log

    handler = logging.StreamHandler()
    handler.addFilter(association_log.AssociationFilter())
    handler.setFormatter(
        association_log.JsonFormatter() if log_format == "json" else logging.Formatter(association_log.TEXT_FORMAT)
    )
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
    # a peer closing TCP right after the release, and connection errors the forwarder reports itself
    association_log.filter_network_noise()
    # psycopg_pool logs every failed attempt to connect (several a second while PostgreSQL restarts);
    # printscp says once when the database becomes unreachable and once when it is back
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    # pynetdicom's INFO lines repeat ours; its own dump of every PDU and DIMSE message and of every
    # C-FIND identifier (which it formats for every message, logged or not: about 7% of a C-FIND's
    # time) is only switched on with --log-level DEBUG.
    if level != "DEBUG":
        from printscp.net import compat

        compat.quiet_logging()


def _load(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    network = config.network
    overrides = {
        name: getattr(args, name) for name in ("host", "port", "ae_title") if getattr(args, name, None) is not None
    }
    if overrides:
        network = dataclasses.replace(network, **overrides)
    archive = config.archive
    if getattr(args, "archive", None) is not None:  # the folder only: forwarding and retention stay
        archive = dataclasses.replace(archive, folder=args.archive)
    web = config.web
    if getattr(args, "web_port", None) is not None:
        web = dataclasses.replace(web, port=args.web_port)
    if getattr(args, "no_web", False):
        web = dataclasses.replace(web, enabled=False)
    # re-validate so that a bad --ae-title or --port is reported like a bad config value
    config = validate(dataclasses.replace(config, network=network, archive=archive, web=web))
    _check_identity_templates(config)
    return config


def _check_identity_templates(config: Config) -> None:
    """[identity]'s patterns, in the template language of identity/patterns.py (config.py is a leaf)."""
    from printscp.identity.patterns import check_template

    identity = config.identity
    groups = [("identity.label_patterns", identity.label_patterns)]
    groups += [(f"identity.ocr_patterns.{ae}", templates) for ae, templates in identity.ocr_patterns.items()]
    for key, templates in groups:
        for i, template in enumerate(templates):
            try:
                check_template(template)
            except ValueError as exc:
                raise ConfigError(f"{key}[{i}]: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    from printscp.db import SchemaError
    from printscp.net.server import PrintServer

    config = _load(args)
    if config.paper and shutil.which("ipptool") is None:
        return _operator_error(
            f"paper.{next(iter(config.paper))}: paper printers are sent films with CUPS's ipptool, which is not "
            "installed (Debian: apt-get install cups-ipp-utils)"
        )
    try:
        server = PrintServer(config)
    except (ArchiveError, SchemaError) as exc:  # SchemaError: [index] url unreachable or not upgraded
        return _operator_error(str(exc))
    except OSError as exc:  # something inside the folder (its index, spool) cannot be made or written
        return _operator_error(str(folder_error(config.archive.folder, exc)))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info("archive folder: %s", config.archive.folder.resolve())
    try:
        server.start()
    except OSError as exc:
        server.stop()
        network = config.network
        return _operator_error(
            f"cannot listen on {network.host}:{network.port}: {exc.strerror or exc}; "
            "stop what uses that port or choose another with --port / network.port"
        )
    console = None
    if config.web.enabled:
        from printscp.web.console import WebConsole

        try:
            console = WebConsole(server, config)
            console.start()
        except (OSError, UsersError) as exc:
            server.stop()
            web = config.web
            if isinstance(exc, UsersError):
                return _operator_error(f"web console: {exc}")
            return _operator_error(
                f"cannot listen on {web.host}:{web.port} for the web console: {exc.strerror or exc}; "
                "stop what uses that port or choose another with --web-port / web.port (or --no-web)"
            )
    # pynetdicom's accept loop runs a full garbage collection every 60 turns (a connection, or 0.5 s
    # idle), holding the GIL ~35 ms while every association waits. What exists now (modules, pydicom's
    # dictionaries, the server) lives as long as the process: kept out of collections, a full one takes
    # about 1 ms.
    gc.collect()
    gc.freeze()

    def when_drained() -> None:  # `printscp node drain`: the node finished what it had
        server.drained.wait()
        stop.set()

    threading.Thread(target=when_drained, name="drained", daemon=True).start()
    stop.wait()
    if console is not None:
        console.stop()
    server.stop()
    return 0


def _users(args: argparse.Namespace) -> Users:
    return Users(load_config(args.config).web.users_file)


def _user_add(args: argparse.Namespace) -> int:
    users = _users(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            return _operator_error("user add: the two passwords differ")
    else:
        return _operator_error("user add: no terminal to ask the password on; use --password-stdin")
    try:
        new = users.add(args.name, args.role, password)
    except UsersError as exc:
        return _operator_error(f"user add: {exc}")
    except OSError as exc:
        return _operator_error(f"user add: cannot write {users.path}: {exc.strerror or exc}")
    print(f"{'added' if new else 'changed'} user {args.name} ({args.role}) in {users.path}")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    try:
        names = _users(args).names()
    except UsersError as exc:
        return _operator_error(str(exc))
    for name, role in sorted(names.items()):
        print(f"{name}\t{role}")
    return 0


def _user_remove(args: argparse.Namespace) -> int:
    users = _users(args)
    try:
        users.remove(args.name)
    except UsersError as exc:
        return _operator_error(f"user remove: {exc}")
    print(f"removed user {args.name} from {users.path}")
    return 0


def _operator_error(message: str) -> int:
    """An operator's mistake: one line naming the thing and what to do, exit code 2, no traceback."""
    print(f"printscp: {message}", file=sys.stderr)
    return 2


def _ae_title_error(option: str, title: str) -> str | None:
    if not AE_TITLE.fullmatch(title) or not title.strip():
        return f"{option} '{title}' is not an AE title: 1 to 16 printable characters without a backslash"
    return None


def _echo(args: argparse.Namespace) -> int:
    from pynetdicom import AE

    from printscp import uids
    from printscp.net import compat  # noqa: F401

    for option, title in (("--calling", args.calling), ("--ae-title", args.ae_title)):
        if (problem := _ae_title_error(option, title)) is not None:
            return _operator_error(f"echo: {problem}")
    ae = AE(ae_title=args.calling)
    ae.add_requested_context(uids.VERIFICATION)
    ae.acse_timeout = ae.network_timeout = args.timeout
    tls_args = None
    if args.tls:  # DICOM TLS (PS3.15 B.1): the peer verified against --ca (else the system's CAs)
        from printscp.net import tls

        context = tls.client_context(args.ca, args.cert, args.key, names=("--cert", "--key", "--ca"))
        tls_args = (context, args.host)
        # pynetdicom logs a refused handshake with its traceback; its ERROR lines already say why
        logging.getLogger("pynetdicom.transport").addFilter(_without_traceback)
    assoc = ae.associate(args.host, args.port, ae_title=args.ae_title, tls_args=tls_args)
    if not assoc.is_established:
        print(f"echo {args.host}:{args.port} ({args.ae_title}): association failed", file=sys.stderr)
        return 1
    status = assoc.send_c_echo()
    assoc.release()
    if status is None or "Status" not in status:
        print(f"echo {args.host}:{args.port}: no response", file=sys.stderr)
        return 1
    if status.Status != 0:
        print(f"echo {args.host}:{args.port}: status 0x{status.Status:04X}", file=sys.stderr)
        return 1
    print(f"echo {args.host}:{args.port} ({args.ae_title}): success")
    return 0


def _print(args: argparse.Namespace) -> int:
    """`printscp print`: print image files on a print SCP (printscp/bench/scu.py)."""
    from printscp.bench import scu

    if args.log_level != "DEBUG":  # our step lines say what went wrong; pynetdicom's would repeat it
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    try:
        lut = scu.LutRequest.parse(args.lut) if args.lut is not None else None
    except scu.OperatorError as exc:
        print(f"printscp print: {exc}", file=sys.stderr)
        return 2
    options = scu.PrintOptions(
        images=tuple(args.images),
        host=args.host,
        port=args.port,
        called_ae=args.called_ae,
        calling_ae=args.calling_ae,
        image_display_format=args.format,
        film_size_id=args.film_size,
        film_orientation=args.orientation,
        medium_type=args.medium,
        film_destination=args.destination,
        magnification_type=args.magnification,
        print_priority=args.priority,
        min_density=args.min_density,
        max_density=args.max_density,
        border_density=args.border,
        empty_image_density=args.empty_image,
        trim=args.trim,
        film_session_label=args.label,
        patient_name=args.patient_name,
        patient_id=args.patient_id,
        number_of_copies=args.copies,
        requested_resolution_id=args.resolution,
        lut=lut,
        annotation=args.annotation,
        annotation_format=args.annotation_format,
        annotation_position=args.annotation_position,
        color=args.color,
        bits=args.bits,
        timeout=args.timeout,
        transcript=args.transcript,
        dump=args.dump,
    )
    return scu.print_images(
        options, out=lambda line: print(line, flush=True), err=lambda line: print(line, file=sys.stderr, flush=True)
    )


def _upper(text: str) -> str:
    return text.upper()


def _print_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "print",
        help="print DICOM images on a print SCP (PS3.4 Annex H); exits 0 printed, 1 failed, 2 operator error",
        description="Print DICOM image files on any print SCP as a modality does: one film box per "
        "--format's worth of images. Each step's status is shown on one line.",
    )
    command.add_argument("images", nargs="+", type=Path, metavar="IMAGE.dcm")
    command.add_argument("--host", default="127.0.0.1", help="the printer's address (default 127.0.0.1)")
    command.add_argument("--port", type=int, default=11112, help="the printer's port (default 11112)")
    command.add_argument("--called-ae", default="PRINTSCP", help="the printer's AE title (default PRINTSCP)")
    command.add_argument("--calling-ae", default="PRINTSCU", help="our AE title (default PRINTSCU)")
    command.add_argument("--format", default="STANDARD\\1,1", help="Image Display Format, e.g. 'STANDARD\\2,2'")
    film = command.add_argument_group("film box")
    film.add_argument("--film-size", type=_upper, metavar="ID", help="Film Size ID, e.g. 14INX17IN, A4")
    film.add_argument("--orientation", type=_upper, help="Film Orientation: PORTRAIT or LANDSCAPE")
    film.add_argument("--magnification", type=_upper, help="Magnification Type: REPLICATE, BILINEAR, CUBIC, NONE")
    film.add_argument("--min-density", type=int, metavar="N", help="Min Density, hundredths of OD")
    film.add_argument("--max-density", type=int, metavar="N", help="Max Density, hundredths of OD")
    film.add_argument("--border", type=_upper, metavar="DENSITY", help="Border Density: BLACK, WHITE or N")
    film.add_argument("--empty-image", type=_upper, metavar="DENSITY", help="Empty Image Density: BLACK, WHITE or N")
    film.add_argument("--trim", type=_upper, help="Trim: YES or NO")
    film.add_argument("--resolution", type=_upper, metavar="ID", help="Requested Resolution ID: STANDARD, HIGH")
    session = command.add_argument_group("film session")
    session.add_argument("--copies", type=int, metavar="N", help="Number of Copies")
    session.add_argument("--priority", type=_upper, help="Print Priority: HIGH, MED or LOW")
    session.add_argument("--medium", type=_upper, metavar="TYPE", help="Medium Type, e.g. 'BLUE FILM', PAPER")
    session.add_argument("--destination", type=_upper, help="Film Destination: MAGAZINE, PROCESSOR, BIN_i")
    session.add_argument("--label", help="Film Session Label")
    session.add_argument(
        "--patient-name",
        metavar="PN",
        help="Patient Name, in the Film Session's Proposed Study Sequence (e.g. DOE^JANE)",
    )
    session.add_argument("--patient-id", metavar="LO", help="Patient ID, sent the same way")
    images = command.add_argument_group("images")
    images.add_argument(
        "--lut", metavar="LUT", help="Presentation LUT: IDENTITY, 'LIN OD' (a shape) or gamma[:G] (a table)"
    )
    images.add_argument("--annotation", metavar="TEXT", help="text for an annotation box (Basic Annotation Box)")
    images.add_argument(
        "--annotation-format",
        type=_upper,
        default="LABEL",
        metavar="ID",
        help="Annotation Display Format ID with --annotation (printer specific; default LABEL, printscp's)",
    )
    images.add_argument("--annotation-position", type=int, default=1, metavar="N", help="annotation box (default 1)")
    images.add_argument("--color", action="store_true", help="print in colour (Basic Color Print Management)")
    images.add_argument(
        "--bits", type=int, metavar="8|12", help="P-value bits (default: 12 if an image has more than 8 bits stored)"
    )
    command.add_argument(
        "--timeout", type=float, default=60.0, help="seconds for each network step and for the print job (default 60)"
    )
    command.add_argument("--transcript", type=Path, metavar="FILE", help="write our transcript (JSON Lines) to FILE")
    command.add_argument("--dump", action="store_true", help="show every DIMSE message sent and received")
    command.set_defaults(run=_print)


def _without_traceback(record: logging.LogRecord) -> bool:
    record.exc_info, record.exc_text = None, None
    return True


def _unknown_printer(config: Config, ae_title: str) -> str | None:
    """What is wrong with --printer AE, or None when the configuration has that printer."""
    if ae_title in config.all_printers:
        return None
    return f"no printer {ae_title!r} in the configuration (printers: {', '.join(config.all_printers)})"


def _printer(args: argparse.Namespace) -> int:
    from printscp import admin

    config = _load(args)
    command: dict[str, object] = {"command": args.action}
    if args.printer is not None:
        if (unknown := _unknown_printer(config, args.printer)) is not None:
            return _operator_error(f"printer {args.action}: {unknown}")
        command["printer"] = args.printer
    if args.action == "set":
        command.update(status=args.status, info=args.info)
    try:
        reply = admin.send(node_folder(config), config.network.port, command)
    except admin.AdminError as exc:
        print(f"printscp printer {args.action}: {exc}", file=sys.stderr)
        return 1
    for printer in reply["printers"]:
        print(
            f"printer {printer['ae_title']}: {printer['printer_status']} ({printer['printer_status_info']}), "
            f"{printer['queue_depth']} job(s) waiting"
        )
    print(f"queue: {reply['queue_depth']} job(s) waiting")
    return 0


def _fault(args: argparse.Namespace) -> int:
    """`printscp fault add|list|clear`: the fault plan of a running server, through its admin channel."""
    from printscp import admin
    from printscp.bench.faults import parse_status
    from printscp.config import FAULT_SOP_CLASSES, fault_rule

    config = _load(args)
    command: dict[str, object] = {"command": f"fault_{args.action}"}
    if args.printer is not None:
        if (unknown := _unknown_printer(config, args.printer)) is not None:
            return _operator_error(f"fault {args.action}: {unknown}")
        command["printer"] = args.printer
    if args.action == "add":
        rule: dict[str, object] = {"on": args.on.upper(), "after": args.after, "count": args.count}
        try:
            if args.status is not None:
                rule["status"] = parse_status(args.status)
        except ValueError as exc:
            return _operator_error(f"fault add: --status {exc}")
        names = {name.lower(): name for name in FAULT_SOP_CLASSES}  # --sop-class filmbox is FilmBox
        optional = {
            "sop_class": names.get(args.sop_class.lower(), args.sop_class) if args.sop_class else None,
            "calling_ae": args.calling_ae,
            "error_comment": args.error_comment,
            "delay": args.delay,
            "abort": args.abort or None,
            "printer_status": args.printer_status.upper() if args.printer_status else None,
            "printer_status_info": args.printer_status_info.upper() if args.printer_status_info else None,
        }
        rule.update({key: value for key, value in optional.items() if value is not None})
        try:
            fault_rule(rule)  # checked here, so that a mistake is one line and exit code 2
        except ConfigError as exc:
            option = re.sub(r"^(\w+):", lambda m: _option_of(m.group(1)) + ":", str(exc))
            return _operator_error(f"fault add: {option}")
        command.update(rule)
    try:
        reply = admin.send(node_folder(config), config.network.port, command)
    except admin.AdminError as exc:
        print(f"printscp fault {args.action}: {exc}", file=sys.stderr)
        return 1
    if "added" in reply:
        print(f"added {reply['added']['text']}")
    elif "cleared" in reply:
        print(f"cleared {reply['cleared']} rule(s)")
    else:
        for rule_state in reply["rules"]:
            print(rule_state["text"])
        print(f"{len(reply['rules'])} fault plan rule(s)")
    return 0


def _option_of(key: str) -> str:
    """The `fault add` option of a fault rule key: sop_class -> --sop-class; "rule" (the whole) stays."""
    from printscp.config import FaultRuleConfig

    names = {f.name for f in dataclasses.fields(FaultRuleConfig)}
    return "--" + key.replace("_", "-") if key in names else key


def _fault_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from printscp.config import FAULT_COMMANDS, FAULT_SOP_CLASSES

    fault = commands.add_parser(
        "fault",
        help="add, list or clear the fault plan of a running server (scripted faults per DIMSE request)",
        description="The fault plan: rules that make the Nth matching request of a print SCU fail with a "
        "chosen status, wait, abort the association, or change the printer's status (N-EVENT-REPORT). Rules "
        "added here live until the server stops or `fault clear`: they are not persisted; put lasting ones "
        "in config.toml ([[faults.plan]], [[printers.AE.faults.plan]]). Each fault applied is logged and "
        "recorded in the association's transcript.",
    )
    actions = fault.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="add a rule: --on COMMAND and one of --status, --abort, --printer-status (and/or --delay)",
        description="Add a rule to a running server's fault plan (not persisted). It matches requests by "
        "--on, --sop-class, --printer and --calling-ae, lets --after of them through, then fires on the next "
        "--count (0: every one): it answers --status (with --error-comment) without serving the request, "
        "or aborts the association (--abort), or sets the printer's status (--printer-status, "
        "--printer-status-info) and then serves it; --delay waits first. "
        "Example: printscp fault add --on N-ACTION --sop-class FilmBox --status 0xC602 --count 1",
    )
    add.add_argument("--on", required=True, metavar="COMMAND", help=f"DIMSE command: {', '.join(FAULT_COMMANDS)}")
    add.add_argument("--sop-class", metavar="CLASS", help=f"{', '.join(FAULT_SOP_CLASSES)} or a UID (default: any)")
    add.add_argument("--printer", metavar="AE", help="only requests to the printer called AE (default: any printer)")
    add.add_argument("--calling-ae", metavar="AE", help="only requests from associations of this calling AE title")
    add.add_argument("--after", type=int, default=0, metavar="N", help="let N matching requests through first")
    add.add_argument("--count", type=int, default=1, metavar="N", help="fire N times (default 1; 0: every time)")
    add.add_argument("--status", metavar="STATUS", help="answer this status instead, e.g. 0xC602 (hex) or 50690")
    add.add_argument("--error-comment", metavar="TEXT", help="the Error Comment of --status (default: the rule)")
    add.add_argument("--abort", action="store_true", help="abort the association (A-ABORT) instead of answering")
    add.add_argument("--printer-status", metavar="STATUS", help="set the printer's status: NORMAL, WARNING, FAILURE")
    add.add_argument(
        "--printer-status-info", metavar="TERM", help="with --printer-status: a PS3.3 C.13.9.1 term, e.g. 'FILM JAM'"
    )
    add.add_argument("--delay", type=float, metavar="SECONDS", help="wait this long before answering")
    listing = actions.add_parser("list", help="the rules, each with how often it has fired")
    listing.add_argument("--printer", metavar="AE", help="only rules for the printer called AE (and for any)")
    clear = actions.add_parser("clear", help="remove every rule (those of config.toml too, until the next start)")
    clear.add_argument("--printer", metavar="AE", help="only the rules of the printer called AE")
    for action in (add, listing, clear):
        _server_options(action)
        action.set_defaults(run=_fault)


def _films(args: argparse.Namespace) -> int:
    from printscp.archive import films
    from printscp.archive.film_index import FilmFilter
    from printscp.archive.store import FilmArchive, open_index
    from printscp.db import SchemaError

    config = _load(args)
    folder = config.archive.folder
    if not folder.is_dir():
        print(f"printscp films: no archive at {folder}", file=sys.stderr)
        return 1
    try:
        archive = FilmArchive(folder, config.printer, open_index(folder, config.index.url, config.index.pool_size))
    except SchemaError as exc:
        return _operator_error(str(exc))
    archive.reconcile()  # films written while no index was kept, or with the index lost
    where = FilmFilter(
        printed_from=args.printed_from,
        printed_to=args.printed_to,
        calling_ae_title=args.calling,
        printer=args.printer,
        label=args.label,
        patient=args.patient,
        job_uid=getattr(args, "job", None),
        review=True if getattr(args, "review", False) else None,
    )
    if args.action == "assign":
        return _assign(args, config, archive)
    selected = films.select(archive, where)
    if args.action == "list":
        print(films.table(selected))
        print(f"{len(selected)} film(s)")
    elif args.action == "show":
        if not selected:
            print(f"printscp films show: no print job {args.job}", file=sys.stderr)
            return 1
        print(films.show(archive, selected))
        from printscp.relay.queue import read_relays, relay_lines

        relays = {relay.job_uid: relay for relay in read_relays(folder)}
        for job_uid in dict.fromkeys(film["job_uid"] for film in selected):
            if job_uid in relays:
                print(f"relays of print job {job_uid}")
                print("\n".join(f"  {line}" for line in relay_lines(relays[job_uid])))
    else:
        try:
            copied = films.export(archive, selected, args.destination, args.dicom)
        except OSError as exc:
            return _operator_error(
                f"films export: cannot write to {args.destination}: {exc.strerror or exc}; "
                "give a folder you can write (it is made if missing)"
            )
        print(f"{len(copied)} film(s) exported to {args.destination}")
    return 0


def _assign(args: argparse.Namespace, config: Config, archive: Any) -> int:
    """`films assign FILM`: through the running server (it forwards the films at once), else on the files."""
    from printscp import admin
    from printscp.archive.film_index import FilmFilter
    from printscp.identity.model import patient
    from printscp.net.forward import link_into_outbox, outbox_of

    rows = archive.index.find_films(FilmFilter(sop_instance_uid=args.film)) or archive.index.find_films(
        FilmFilter(job_uid=args.film)
    )
    jobs = sorted({row["job_uid"] for row in rows})
    if len(jobs) != 1:
        found = f"{len(jobs)} print jobs begin with it" if jobs else "no film or print job has it"
        return _operator_error(f"films assign: '{args.film}': {found}; give a film's or a print job's UID")
    identity = patient(
        {
            "patient_name": args.patient_name,
            "patient_id": args.patient_id,
            "patient_birth_date": args.birth_date,
            "patient_sex": args.sex,
            "accession_number": args.accession,
            "study_instance_uid": args.study_uid,
        }
    )
    if (problem := _identity_problem(identity)) is not None:
        return _operator_error(f"films assign: {problem}")
    by = getpass.getuser()
    command = {"command": "assign", "job_uid": jobs[0], "identity": dataclasses.asdict(identity), "by": by}
    try:
        admin.send(node_folder(config), config.network.port, command)
        where = "by the running server"
    except admin.AdminError as exc:
        if admin.admin_file(node_folder(config), config.network.port).exists() and "does not answer" not in str(exc):
            print(f"printscp films assign: {exc}", file=sys.stderr)
            return 1
        stored = archive.assign(jobs[0], identity, by)  # no server: on the files, and the outbox for the next
        link_into_outbox(config.archive.folder, config.archive.forward_to, stored.dicoms, outbox_of(config))
        where = "in the archive"
    print(f"print job {jobs[0]}: {identity.patient_name or '-'} ({identity.patient_id}) assigned {where}")
    return 0


def _identity_problem(identity: Any) -> str | None:
    """What is wrong with an identity typed by a person (DICOM's VRs), or None."""
    if not identity.patient_id:
        return "--patient-id is required"
    for option, value, longest in (  # PN: 64 per component group; LO 64; SH 16 (PS3.5 6.2)
        ("--patient-name", identity.patient_name, 64),
        ("--patient-id", identity.patient_id, 64),
        ("--accession", identity.accession_number, 16),
    ):
        if "\\" in value or any(ord(c) < 32 for c in value) or max(map(len, value.split("=")), default=0) > longest:
            return f"{option} '{value}': at most {longest} characters, no backslash or control characters"
    if identity.patient_birth_date and not _is_date(identity.patient_birth_date):
        return f"--birth-date '{identity.patient_birth_date}': a date as YYYYMMDD"
    if identity.patient_sex not in ("", "M", "F", "O"):
        return f"--sex '{identity.patient_sex}': M, F or O"
    if identity.study_instance_uid and not re.fullmatch(r"[0-9]+(\.[0-9]+)*", identity.study_instance_uid):
        return f"--study-uid '{identity.study_instance_uid}': not a UID"
    return None


def _is_date(text: str) -> bool:
    try:
        return len(text) == 8 and date(int(text[:4]), int(text[4:6]), int(text[6:])) is not None
    except ValueError:
        return False


def _conformance(args: argparse.Namespace) -> int:
    from printscp import conformance

    config = _load(args)
    printers = config.all_printers
    if args.printer is not None and (unknown := _unknown_printer(config, args.printer)) is not None:
        return _operator_error(f"conformance: {unknown}")
    if args.write is None:
        print(conformance.conformance_statement(config, args.printer or config.network.ae_title), end="")
        return 0
    chosen = [args.printer] if args.printer is not None else list(printers)
    if len({conformance.file_name(ae_title) for ae_title in chosen}) < len(chosen):
        return _operator_error(f"conformance: printers {', '.join(chosen)} would share a file name; use --printer")
    try:
        args.write.mkdir(parents=True, exist_ok=True)
        for ae_title in chosen:
            path = args.write / conformance.file_name(ae_title)
            path.write_text(conformance.conformance_statement(config, ae_title), encoding="utf-8")
            print(path)
    except OSError as exc:
        return _operator_error(
            f"conformance: cannot write to {args.write}: {exc.strerror or exc}; "
            "give a folder you can write (it is made if missing)"
        )
    return 0


def _open_transcripts(args: argparse.Namespace) -> tuple[Path, Any] | str:
    """(archive folder, TranscriptStore) of the configured archive, reconciled with its files; or what is wrong."""
    from printscp.archive.store import FilmArchive, open_index
    from printscp.bench.store import TranscriptStore
    from printscp.db import SchemaError

    config = _load(args)
    folder = config.archive.folder
    if not folder.is_dir():
        return f"no archive at {folder}; give the folder `printscp serve` archives to, with --archive or --config"
    try:
        archive = FilmArchive(folder, config.printer, open_index(folder, config.index.url, config.index.pool_size))
    except SchemaError as exc:
        return str(exc)
    archive.reconcile()  # films first: a transcript indexed now counts its films from the index
    store = TranscriptStore(folder, archive.index)
    store.reconcile()  # the transcripts of a server killed mid-association have a file and no row yet
    return folder, store


def _since(text: str | None) -> str | None:
    """--since as the index compares it: a date, or a date and time in this machine's offset."""
    from datetime import datetime

    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).astimezone().isoformat(timespec="milliseconds")
    except ValueError:
        raise ValueError(f"--since '{text}' is not a date or time like 2026-11-30 or 2026-11-30T14:05") from None


def _report(args: argparse.Namespace) -> int:
    import io

    from printscp.bench import report
    from printscp.bench.store import TranscriptNotFound

    if args.id is not None and (args.last or args.calling_ae is not None or args.since is not None):
        return _operator_error("report: give an association ID, or --last / --calling-ae / --since, not both")
    try:
        since = _since(args.since)
    except ValueError as exc:
        return _operator_error(f"report: {exc}")
    opened = _open_transcripts(args)
    if isinstance(opened, str):
        return _operator_error(f"report: {opened}")
    folder, store = opened
    try:
        if args.id is not None:
            transcript = store.load(args.id)
        else:
            transcript = store.last(args.calling_ae, since)
            if transcript is None:
                wanted = " ".join(
                    part
                    for part in (
                        args.calling_ae is not None and f"from calling AE {args.calling_ae!r}",
                        since is not None and f"started since {since}",
                    )
                    if part
                )
                return _operator_error(f"report: no transcript {wanted or 'yet'} in {folder}")
        # The SCU's process may exit a moment before the server has written the association's end and
        # findings (a CI job reports right after its SCU): wait for them, up to --wait seconds.
        deadline = time.monotonic() + args.wait
        while not transcript.judged and time.monotonic() < deadline:
            time.sleep(0.1)
            transcript = store.load(transcript.association.id)
    except TranscriptNotFound as exc:
        return _operator_error(f"report: {exc}")
    if args.format == "html":
        output = report.html(transcript, folder)
    elif args.format == "json":
        output = report.json_report(transcript)
    elif args.format == "junit":
        output = report.junit(transcript)
    else:
        output = report.text(transcript, verbose=args.verbose)
    if args.output is None:
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(errors="backslashreplace")  # a terminal that cannot show some SCU's text
        sys.stdout.write(output)
    else:
        try:
            args.output.write_text(output, encoding="utf-8")
        except OSError as exc:
            return _operator_error(f"report: cannot write {args.output}: {exc.strerror or exc}")
        print(f"{transcript.association.id}: {transcript.verdict.value}; {args.format} report in {args.output}")
    return report.exit_status(transcript)


def _transcripts(args: argparse.Namespace) -> int:
    from printscp.archive.film_index import TranscriptFilter
    from printscp.bench import report

    try:
        since = _since(args.since)
    except ValueError as exc:
        return _operator_error(f"transcripts: {exc}")
    if args.limit < 1:
        return _operator_error(f"transcripts: --limit {args.limit} must be 1 or more")
    opened = _open_transcripts(args)
    if isinstance(opened, str):
        return _operator_error(f"transcripts: {opened}")
    _, store = opened
    rows = store.list(TranscriptFilter(calling_ae_title=args.calling_ae, since=since, limit=args.limit))
    print(report.transcripts_table(rows))
    print(f"{len(rows)} transcript(s), newest first")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2026-11-30") from None


def _archive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    parser.add_argument("--archive", type=Path, help="folder for printed films")


def _film_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="printed_from", type=_day, metavar="DATE", help="printed on or after (YYYY-MM-DD)"
    )
    parser.add_argument("--to", dest="printed_to", type=_day, metavar="DATE", help="printed on or before (YYYY-MM-DD)")
    parser.add_argument("--calling", metavar="AE", help="calling AE title of the print SCU")
    parser.add_argument("--printer", metavar="AE", help="AE title of the printer that printed it")
    parser.add_argument("--label", help="Film Session Label: contains, or a pattern with * and ?")
    parser.add_argument("--patient", help="patient name or ID: contains, or a pattern with * and ?")


def _server_options(parser: argparse.ArgumentParser) -> None:
    _archive_options(parser)
    parser.add_argument("--port", type=int, help="TCP port (0 picks a free one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="printscp", description="A virtual DICOM film printer.")
    parser.add_argument("--version", action="version", version=f"printscp {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the print SCP")
    _server_options(serve)
    serve.add_argument("--host", help="address to listen on")
    serve.add_argument("--ae-title", help="our AE title")
    serve.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="log lines as text or one JSON object each"
    )
    serve.add_argument("--web-port", type=int, metavar="PORT", help="HTTP port of the web console (0: a free one)")
    serve.add_argument("--no-web", action="store_true", help="no web console and REST API")
    serve.set_defaults(run=_serve)

    user = commands.add_parser("user", help="the web console's users (users file of [web])")
    user_actions = user.add_subparsers(dest="action", required=True)
    add = user_actions.add_parser("add", help="add a user, or change one's role and password")
    add.add_argument("name")
    add.add_argument("--role", choices=["viewer", "admin"], required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    add.set_defaults(run=_user_add)
    listing = user_actions.add_parser("list", help="list the users and their roles")
    listing.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    listing.set_defaults(run=_user_list)
    remove = user_actions.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    remove.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    remove.set_defaults(run=_user_remove)

    printer = commands.add_parser("printer", help="read or change the printer status of a running server")
    actions = printer.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="show the printers' status and the print queue")
    _server_options(status)
    status.add_argument("--printer", metavar="AE", help="only the printer called AE (default: every printer)")
    change = actions.add_parser("set", help="set the printer status: NORMAL, WARNING or FAILURE [INFO]")
    change.add_argument("status", choices=["NORMAL", "WARNING", "FAILURE", "normal", "warning", "failure"])
    change.add_argument("info", nargs="?", help="Printer Status Info term of PS3.3 C.13.9.1, e.g. 'SUPPLY LOW'")
    _server_options(change)
    change.add_argument("--printer", metavar="AE", help="the printer called AE (default: network.ae_title's)")
    for action in (status, change):
        action.set_defaults(run=_printer)

    _fault_parser(commands)

    films = commands.add_parser("films", help="list, show and export printed films (with or without a server)")
    film_actions = films.add_subparsers(dest="action", required=True)
    listing = film_actions.add_parser("list", help="printed films as a table, oldest first")
    _film_filters(listing)
    show = film_actions.add_parser("show", help="one print job in full, its files checked")
    show.add_argument("job", help="Print Job SOP Instance UID, or its beginning")
    export = film_actions.add_parser("export", help="copy the films' PDFs (or DICOM objects) to a folder")
    export.add_argument("destination", type=Path)
    export.add_argument("--dicom", action="store_true", help="export the Encapsulated PDF DICOM files instead")
    export.add_argument("--job", help="only this print job (UID or its beginning)")
    _film_filters(export)
    listing.add_argument("--review", action="store_true", help="only films whose identity is unconfirmed or unknown")
    assign = film_actions.add_parser(
        "assign", help="say whose films a print job's are (index, manifest, Encapsulated PDFs; audited)"
    )
    assign.add_argument("film", help="a film's SOP Instance UID, or a print job's UID (or its beginning)")
    assign.add_argument("--patient-id", required=True)
    assign.add_argument("--patient-name", default="", metavar="PN", help="as DICOM writes it: DOE^JANE")
    assign.add_argument("--birth-date", default="", metavar="YYYYMMDD")
    assign.add_argument("--sex", default="", choices=["", "M", "F", "O"])
    assign.add_argument("--accession", default="", help="Accession Number")
    assign.add_argument("--study-uid", default="", help="Study Instance UID (default: the films' own)")
    assign.add_argument("--port", type=int, help="the DICOM port of the running server, if one runs")
    for action in (listing, show, export, assign):
        _archive_options(action)
        action.set_defaults(run=_films)
    show.set_defaults(printed_from=None, printed_to=None, calling=None, printer=None, label=None, patient=None)
    assign.set_defaults(printed_from=None, printed_to=None, calling=None, printer=None, label=None, patient=None)

    conformance = commands.add_parser("conformance", help="a printer's DICOM conformance statement, as Markdown")
    conformance.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    conformance.add_argument("--printer", metavar="AE", help="the printer called AE (default: network.ae_title's)")
    conformance.add_argument(
        "--write", type=Path, metavar="DIR", help="write DIR/<AE>.md for every printer (or --printer) instead"
    )
    conformance.set_defaults(run=_conformance)

    _report_parser(commands)
    _transcripts_parser(commands)
    _relay_parser(commands)
    _db_parser(commands)
    _node_parser(commands)

    echo = commands.add_parser("echo", help="C-ECHO a DICOM peer; exits non-zero on failure")
    echo.add_argument("host")
    echo.add_argument("port", type=int)
    echo.add_argument("--ae-title", default="PRINTSCP", help="called AE title")
    echo.add_argument("--calling", default="PRINTSCP_ECHO", help="calling AE title")
    echo.add_argument("--timeout", type=float, default=10.0)
    echo.add_argument("--tls", action="store_true", help="associate over DICOM TLS (TLS 1.2 or later)")
    echo.add_argument("--ca", type=Path, help="with --tls: PEM CA certificates that sign the peer's certificate")
    echo.add_argument("--cert", type=Path, help="with --tls: our PEM certificate, for peers that require one")
    echo.add_argument("--key", type=Path, help="with --tls: the private key of --cert (unencrypted PEM)")
    echo.set_defaults(run=_echo)
    _print_parser(commands)
    return parser


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="an association's transcript and findings as text, HTML, JSON or JUnit XML; exit 1 when it fails",
        description="Report on one recorded association (the newest, unless an ID or filters say which). "
        "Exit status: 0 when the verdict is pass or pass with warnings, 1 when it is fail, 2 for a mistake.",
    )
    report.add_argument("id", nargs="?", help="association id, or a beginning only it has")
    report.add_argument("--last", action="store_true", help="the newest association (the default)")
    report.add_argument("--calling-ae", metavar="AE", help="the newest association from this calling AE title")
    report.add_argument("--since", metavar="TIME", help="the newest started at or after TIME (ISO date or datetime)")
    report.add_argument("--format", choices=["text", "html", "json", "junit"], default="text")
    report.add_argument("--output", type=Path, metavar="FILE", help="write the report to FILE (default: stdout)")
    report.add_argument("--verbose", action="store_true", help="text: every message's data set too")
    report.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="an association that has not ended (or not been checked) yet: wait this long for it (default 10)",
    )
    _archive_options(report)
    report.set_defaults(run=_report)


def _relay(args: argparse.Namespace) -> int:
    """`relay list`: relays waiting or failed (--all: every one kept); `relay retry JOB`: a failed one again.
    In a cluster each relay is kept by one node (.nodes/<node id>/relay): the list names it, and a retry goes
    to this node's server, or is written for the next start when the node holding it is not running."""
    from printscp import admin
    from printscp.archive.lock import LOCK_FILE, NODE_LOCK_FILE, held
    from printscp.relay.queue import kept_relays, relay_lines, retry_on_disk

    config = _load(args)
    folder = config.archive.folder
    relays = kept_relays(folder)
    if args.action == "list":
        shown = [(r, f) for r, f in relays if args.all or not all(t.state == "DONE" for t in r.targets.values())]
        for relay, kept in shown:
            node = f", kept by node {kept.parent.parent.name}" if kept.parent.name != ".relay" else ""
            print(f"print job {relay.job_uid}: printer {relay.printer}, from {relay.calling_ae_title}{node}")
            print("\n".join(f"  {line}" for line in relay_lines(relay)))
        print(f"{len(shown)} relay(s)" + ("" if args.all else " waiting or failed"))
        return 0
    matches = [(r.job_uid, f) for r, f in relays if r.job_uid.startswith(args.job)]
    if len(matches) != 1:
        found = f"{len(matches)} relays begin with it" if matches else "no relay of a print job has it"
        return _operator_error(f"relay retry: '{args.job}': {found}; give a print job's UID (printscp relay list)")
    job_uid, kept = matches[0]
    holder = kept.parent.parent  # the archive folder, or a cluster node's .nodes/<node id>
    if holder != node_folder(config):
        with held(holder, LOCK_FILE if holder == folder else NODE_LOCK_FILE) as stopped:
            if not stopped:
                return _operator_error(
                    f"relay retry: the relay of print job {job_uid} is kept by node {holder.name}, which is "
                    f"running; give the retry to that node (printscp relay retry with its config)"
                )
            try:
                retry_on_disk(folder, job_uid)
            except ValueError as problem:
                return _operator_error(f"relay retry: {problem}")
        print(f"print job {job_uid}: its failed relays are sent again by the node that next takes them")
        return 0
    try:
        reply = admin.send(node_folder(config), config.network.port, {"command": "relay_retry", "job_uid": job_uid})
        where = "by the running server"
    except admin.AdminError as exc:
        if admin.admin_file(node_folder(config), config.network.port).exists() and "does not answer" not in str(exc):
            return _operator_error(f"relay retry: {exc}")
        try:
            retry_on_disk(folder, job_uid)
        except ValueError as problem:
            return _operator_error(f"relay retry: {problem}")
        where = "at the next start of the server"
    else:
        if "error" in reply:
            return _operator_error(f"relay retry: {reply['error']}")
    print(f"print job {job_uid}: its failed relays are sent again {where}")
    return 0


def _db(args: argparse.Namespace) -> int:
    """`printscp db upgrade`: bring the [index] url database to this printscp's schema version."""
    from printscp.db import MISSING_DRIVER, SchemaError

    config = _load(args)
    if not config.index.url:
        return _operator_error(
            "db upgrade: the config names no database ([index] url); the SQLite index in the archive folder "
            "needs no upgrade"
        )
    try:
        from printscp.db import schema
    except ImportError:
        return _operator_error(MISSING_DRIVER)
    try:
        applied = schema.upgrade(config.index.url)
    except SchemaError as exc:
        return _operator_error(str(exc))
    where = schema.describe(config.index.url)
    if applied:
        names = ", ".join(f"{m.version} {m.name}" for m in applied)
        print(f"{where}: upgraded to schema version {schema.CODE_VERSION} (applied {names})")
    else:
        print(f"{where}: already at schema version {schema.CODE_VERSION}; nothing to do")
    return 0


def _db_parser(commands: Any) -> None:
    db = commands.add_parser("db", help="the PostgreSQL database of [index] url")
    actions = db.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="apply the schema migrations the database lacks, in one transaction (safe to repeat)"
    )
    upgrade.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
    upgrade.set_defaults(run=_db)


def _node(args: argparse.Namespace) -> int:
    """`printscp node list` / `node drain NODE`: the nodes of a cluster, from their heartbeats in PostgreSQL."""
    from printscp.cluster import open_job_queue
    from printscp.db import SchemaError

    config = _load(args)
    if not config.index.url:
        return _operator_error(f"node {args.action}: the config names no database ([index] url): no cluster")
    try:
        store = open_job_queue(config.index.url)
    except SchemaError as exc:
        return _operator_error(str(exc))
    try:
        if args.action == "drain":
            if not store.drain(args.node):
                known = ", ".join(n.node_id for n in store.nodes()) or "none"
                return _operator_error(f"node drain: no node {args.node!r} (nodes: {known})")
            print(f"node {args.node} is draining: it takes no new associations or jobs, finishes them, and exits")
            return 0
        lease = config.cluster.lease_seconds
        print(
            f"{'NODE':24} {'STATE':9} {'ADDRESS':24} {'VERSION':9} {'HEARTBEAT':>10} {'JOBS':>5} {'ASSOC':>5}  STARTED"
        )
        for node in store.nodes():
            if node.stopped_at is not None:
                state = "stopped"
            elif node.heartbeat_age > lease:  # no heartbeat for a lease: its jobs go to other nodes
                state = "dead"
            else:
                state = "draining" if node.draining else "alive"
            print(
                f"{node.node_id:24} {state:9} {f'{node.host}:{node.port}':24} {node.version:9} "
                f"{f'{node.heartbeat_age:.1f}s ago':>10} {node.jobs_running:5d} {node.associations:5d}  "
                f"{node.started_at.isoformat(timespec='seconds')}"
            )
        return 0
    finally:
        store.close()


def _node_parser(commands: Any) -> None:
    node = commands.add_parser("node", help="the nodes of a cluster ([cluster], PostgreSQL)")
    actions = node.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every node: alive, dead (no heartbeat for a lease), draining")
    drain = actions.add_parser("drain", help="a node takes no new associations or jobs, finishes them and exits")
    drain.add_argument("node", help="its node id, as `node list` shows it")
    for action in (listing, drain):
        action.add_argument("--config", type=Path, help="config.toml (default: built-in defaults)")
        action.set_defaults(run=_node)


def _relay_parser(commands: Any) -> None:
    relay = commands.add_parser("relay", help="films relayed to real printers ([printer] relay_to)")
    actions = relay.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="relays waiting or failed, oldest first")
    listing.add_argument("--all", action="store_true", help="also the relays every target printed")
    retry = actions.add_parser("retry", help="send a failed relay again")
    retry.add_argument("job", help="Print Job SOP Instance UID, or its beginning")
    for action in (listing, retry):
        _server_options(action)
        action.set_defaults(run=_relay)


def _transcripts_parser(commands: Any) -> None:
    listing = commands.add_parser("transcripts", help="recent associations recorded, newest first")
    listing.add_argument("--calling-ae", metavar="AE", help="only from this calling AE title")
    listing.add_argument("--since", metavar="TIME", help="only started at or after TIME (ISO date or datetime)")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="the newest N (default 20)")
    _archive_options(listing)
    listing.set_defaults(run=_transcripts)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "echo" and (args.cert is None) != (args.key is None):
        parser.error("echo: --cert and --key go together")
    configure_logging(args.log_level, getattr(args, "log_format", "text"))
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"printscp: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
