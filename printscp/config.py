"""config.toml -> frozen dataclasses, validated once; every error names its key.

Each section is a dataclass whose field names are the keys of the file. Unknown keys are errors,
missing keys take the dataclass default, and values are checked for type here and for meaning in
`_validate_*` below, so that the rest of the program can trust a Config.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from printscp.model.enums import (
    FILM_DESTINATION_PATTERN,
    FILM_SIZES_MM,
    PRINTER_STATUS_INFO_TERMS,
    FilmOrientation,
    MagnificationType,
    Polarity,
    PrinterStatus,
    PrintPriority,
    RequestedDecimateCropBehavior,
    RequestedResolutionID,
    Trim,
)
from printscp.model.personality import PERSONALITIES
from printscp.model.profile import PrinterProfile
from printscp.model.stamp import check_template
from printscp.presets import PresetError, load_preset, preset_names

DEFAULT_PNG_DPI = 150  # [render] png_dpi: the most dots per inch a film's PNG is drawn at


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the key."""


@dataclass(frozen=True)
class NetworkConfig:
    ae_title: str = "PRINTSCP"
    host: str = "0.0.0.0"
    port: int = 11112
    max_pdu: int = 1048576  # largest PDU we accept, bytes; 0 = unlimited
    acse_timeout: float = 30.0
    dimse_timeout: float = 30.0
    network_timeout: float = 60.0  # idle timeout of the associations printscp requests (C-MOVE, forwarding)
    max_associations: int = 10
    allowed_calling_ae_titles: tuple[str, ...] = ()  # empty: any calling AE title
    require_called_ae_title: bool = False  # true: a Called AE Title other than ae_title is rejected
    # Limits and timeouts of the connections printscp accepts (issue 11); see config.toml for each.
    artim_timeout: float = 10.0  # seconds from connect to a complete A-ASSOCIATE-RQ (PS3.8 9.1.5)
    pdu_timeout: float = 30.0  # seconds from a PDU's first byte to its last
    idle_timeout: float = 60.0  # seconds an association may go without a complete PDU or a request served
    max_pending_connections: int = 32  # connections not yet associated; the oldest is dropped beyond
    max_connections_per_ip: int = 8  # connections not yet associated from one IP address; the oldest dropped
    max_buffered_bytes: int = 67108864  # incoming PDU bytes held at once across all connections
    reuse_port: bool = False  # SO_REUSEPORT: several servers of this user listen on one port, each gets connections


@dataclass(frozen=True)
class ArchiveConfig:
    folder: Path = Path("films")
    max_age_days: float = 0  # films and instances older than this are deleted; 0 keeps them for ever
    max_size_gb: float = 0  # the oldest are deleted while the archive is bigger; 0 = no limit
    forward_to: tuple[str, ...] = ()  # nodes that get every printed film as an Encapsulated PDF


@dataclass(frozen=True)
class IndexConfig:
    """`[index]`: where the archive's index lives. No url: an SQLite file in the archive folder (the embedded
    default); `url = "postgresql://user@host:5432/printscp"`: a PostgreSQL database (archive/pg_index.py),
    whose schema `printscp db upgrade` makes and upgrades."""

    url: str = ""
    pool_size: int = 10  # connections held open to PostgreSQL at most (associations, workers, web console)


@dataclass(frozen=True)
class ClusterConfig:
    """`[cluster]`: several `printscp serve` nodes on one PostgreSQL database ([index] url) and one shared
    archive folder (docs/deployment.md). Off: one node, everything as without this section."""

    enabled: bool = False
    node_id: str = ""  # unique per node; "": <host name>:<network.port>
    lease_seconds: float = 30.0  # a job whose node stopped renewing its lease this long is taken by another
    heartbeat_seconds: float = 5.0  # how often a node says it is alive and renews its leases


@dataclass(frozen=True)
class Node:
    """A DICOM peer, named by its AE title: a C-MOVE destination or a forwarding target."""

    host: str
    port: int
    tls: bool = False  # associate over DICOM TLS (PS3.15 B.1), verifying the node against tls.ca_certificates
    # A print SCP that printers relay to ([printer] relay_to), when it does not answer Printer Configuration
    # Retrieval: the preset (printscp/presets) that says what it supports, so films are mapped to suit it.
    preset: str = ""


@dataclass(frozen=True)
class PaperPrinter:
    """`[paper.NAME]`: a paper printer that films are relayed to as PDF documents over IPP (relay/paper.py)."""

    uri: str  # ipp:// or ipps:// printer URI
    media: str = "iso_a4_210x297mm"  # PWG 5101.1 media name: the page each film is printed on
    scaling: str = "fit"  # fit: the whole film on the page; actual: at the film's true size, centred


@dataclass(frozen=True)
class RelayRule:
    """`[[relay.rules]]`: a target of relay_to gets only the films of these calling AE titles."""

    target: str  # a [nodes] AE title or a [paper] name
    calling_ae_titles: tuple[str, ...]


@dataclass(frozen=True)
class RelayConfig:
    """`[relay]`: how films are relayed to the targets of each printer's relay_to (printscp/relay)."""

    acknowledge: str = "on_spool"  # on_spool: N-ACTION succeeds once spooled; after_relay: once every target has it
    after_relay_timeout: float = 25.0  # after_relay: seconds the N-ACTION waits for the targets before failing
    retry_seconds: float = 5.0  # first wait before a failed relay is tried again; doubles up to 60 s
    give_up_after: float = 86400.0  # seconds after its first attempt that an undelivered relay fails for good
    rules: tuple[RelayRule, ...] = ()


@dataclass(frozen=True)
class TlsConfig:
    """`[tls]`: the listener speaks DICOM TLS only (PS3.15 B.1, TLS 1.2 or later). Paths are PEM files."""

    certificate: Path  # our certificate (chain), shown to clients and, as client, to TLS nodes
    private_key: Path  # its private key, unencrypted
    ca_certificates: Path | None = None  # CAs that sign peers' certificates (clients, TLS nodes)
    require_client_certificate: bool = False  # clients must present a certificate signed by those CAs


@dataclass(frozen=True)
class QueueConfig:
    size: int = 1000  # print jobs accepted and not yet printing; N-ACTION beyond gets C601 / C602
    keep_finished_jobs: float = 3600.0  # seconds a finished Print Job can still be read with N-GET
    on_printer_failure: str = "WAIT"  # WAIT: jobs stay PENDING until the printer recovers; FAIL: they fail


@dataclass(frozen=True)
class RenderConfig:
    workers: int = 0  # render worker processes; 0: one per CPU core this process may use
    png_dpi: int = DEFAULT_PNG_DPI  # a film's PNG is drawn at min(the printer's dpi, this); its PDF is not affected


# The fault plan's vocabulary (printscp/bench/faults.py maps the SOP class names to their UIDs).
FAULT_COMMANDS = ("N-CREATE", "N-SET", "N-GET", "N-ACTION", "N-DELETE", "C-ECHO")
FAULT_SOP_CLASSES = (
    "FilmSession",
    "FilmBox",
    "ImageBox",  # Basic Grayscale Image Box
    "ColorImageBox",
    "AnnotationBox",
    "PresentationLUT",
    "Printer",
    "PrintJob",
    "PrinterConfiguration",
    "Verification",
)
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")  # PS3.5 9.1


@dataclass(frozen=True)
class FaultRuleConfig:
    """One rule of the fault plan (`[[faults.plan]]`, `[[printers.AE.faults.plan]]`, `printscp fault add`):
    which requests it matches, and what it does to the Nth of them (bench/faults.py)."""

    on: str  # the DIMSE command: N-CREATE, N-SET, N-GET, N-ACTION, N-DELETE or C-ECHO
    printer: str = ""  # AE title of the printer; "": any printer (only in [[faults.plan]])
    sop_class: str = ""  # one of FAULT_SOP_CLASSES or a SOP Class UID; "": any
    calling_ae: str = ""  # only requests of associations from this calling AE title; "": any
    after: int = 0  # matching requests let through before the rule fires
    count: int = 1  # times it fires; 0: every matching request after `after`
    status: int | None = None  # answer this status (0x0000 to 0xFFFF) without serving the request
    error_comment: str = ""  # the Error Comment of that answer; "": "fault plan rule #N"
    delay: float = 0.0  # seconds to wait before answering (or before the other action)
    abort: bool = False  # A-ABORT the association instead of answering
    printer_status: str = ""  # set the printer's status: NORMAL, WARNING or FAILURE (N-EVENT-REPORT)
    printer_status_info: str = ""  # with printer_status: a PS3.3 C.13.9.1 defined term, e.g. FILM JAM


@dataclass(frozen=True)
class TranscriptConfig:
    """Every association recorded (bench/recorder.py), kept beside the archive and pruned like films."""

    enabled: bool = True
    keep_pixels: bool = False  # also keep each received data set whole (pixel data included), as a file
    max_age_days: float = 30.0  # older transcripts are deleted; 0 keeps them
    max_size_gb: float = 0.0  # the oldest are deleted while all transcripts take more; 0 = no limit


@dataclass(frozen=True)
class IdentityConfig:
    """`[identity]`: whose film it is (printscp/identity), when the SCU's own data does not say."""

    label_patterns: tuple[str, ...] = ()  # e.g. "{PatientName} {PatientID}": read from labels and annotations
    worklist: str = ""  # a [nodes] AE title: the Modality Worklist SCP asked for the calling AE's scheduled step
    pacs: str = ""  # a [nodes] AE title: asked (Study Root C-FIND) for the study the modality sent last
    window_minutes: float = 120.0  # how far from the print a scheduled step or a sent series may be
    stations: Mapping[str, str] = field(default_factory=dict)  # calling AE -> Station Name the PACS knows
    ocr: bool = True  # read burnt-in text with Tesseract, when it is installed
    ocr_patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # calling AE (or "*") -> templates
    unconfirmed: str = "hold"  # forwarding of a film whose identity is unconfirmed or unknown: hold | forward


@dataclass(frozen=True)
class WebConfig:
    """`[web]`: the web console and REST API (printscp/web), on its own HTTP port of the serve process."""

    enabled: bool = True
    host: str = "127.0.0.1"  # loopback by default: patient data is served only where it is asked for
    port: int = 8080
    users_file: Path = Path("users.json")  # `printscp user add`; relative to the config file
    tls: bool = False  # true: HTTPS with [tls] certificate and private_key
    session_hours: float = 12.0  # a console login lasts this long


@dataclass(frozen=True)
class FaultConfig:
    """Scripted faults, for testing how a print SCU copes; all off by default."""

    fail_every: int = 0  # every Nth job fails with FILM JAM (0 = never)
    print_delay: float = 0.0  # seconds each job spends PRINTING before it renders
    films_in_supply: int = 0  # films until SUPPLY EMPTY (printer FAILURE until set NORMAL); 0 = endless


@dataclass(frozen=True)
class PrinterConfig:
    """One printer of the server: the Called AE Title that selects it, what it is, its scripted faults."""

    ae_title: str
    profile: PrinterProfile = field(default_factory=PrinterProfile)
    faults: FaultConfig = field(default_factory=FaultConfig)
    fault_plan: tuple[FaultRuleConfig, ...] = ()  # [[printers.AE.faults.plan]]: rules for this printer


@dataclass(frozen=True)
class Config:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    printer: PrinterProfile = field(default_factory=PrinterProfile)  # the printer called network.ae_title
    queue: QueueConfig = field(default_factory=QueueConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    transcripts: TranscriptConfig = field(default_factory=TranscriptConfig)
    web: WebConfig = field(default_factory=WebConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)  # of the printer called network.ae_title
    nodes: Mapping[str, Node] = field(default_factory=dict)
    paper: Mapping[str, PaperPrinter] = field(default_factory=dict)  # [paper.NAME]: relay targets over IPP
    relay: RelayConfig = field(default_factory=RelayConfig)
    tls: TlsConfig | None = None  # no [tls]: plain TCP
    # [printers.AE]: more printers on the same port, each selected by the Called AE Title AE
    printers: Mapping[str, PrinterConfig] = field(default_factory=dict)
    # [[faults.plan]]: fault plan rules for any printer (or the one a rule names); bench/faults.py
    fault_plan: tuple[FaultRuleConfig, ...] = ()

    @property
    def default_printer(self) -> PrinterConfig:
        """`[printer]` and `[faults]`: the printer called network.ae_title (and, unless
        network.require_called_ae_title, any Called AE Title that names no printer)."""
        return PrinterConfig(self.network.ae_title, self.printer, self.faults)

    @property
    def all_printers(self) -> dict[str, PrinterConfig]:
        """Every printer by its AE title, the default first."""
        return {self.network.ae_title: self.default_printer, **self.printers}

    def printer_for(self, called_ae_title: str) -> PrinterConfig | None:
        """The printer a Called AE Title selects; None when it names none and one is required."""
        printer = self.all_printers.get(called_ae_title.strip())
        if printer is None and not self.network.require_called_ae_title:
            return self.default_printer
        return printer


def load_config(path: Path | None) -> Config:
    """Read and validate a config file; None gives the built-in defaults."""
    if path is None:
        return validate(Config())
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    printers = raw.pop("printers", {})
    plan = _pop_plan(raw, "faults")
    config = _build(Config, raw, "")
    config = dataclasses.replace(config, printers=_build_printers(printers), fault_plan=plan)
    # A relative archive folder is relative to the file that names it.
    if "folder" in raw.get("archive", {}) and not config.archive.folder.is_absolute():
        archive = dataclasses.replace(config.archive, folder=path.parent / config.archive.folder)
        config = dataclasses.replace(config, archive=archive)
    if not config.web.users_file.is_absolute():  # and the web console's users
        web = dataclasses.replace(config.web, users_file=path.parent / config.web.users_file)
        config = dataclasses.replace(config, web=web)
    if config.tls is not None:  # so are the TLS files
        config = dataclasses.replace(config, tls=_tls_relative_to(config.tls, path.parent))
    return validate(config)


def _tls_relative_to(tls: TlsConfig, folder: Path) -> TlsConfig:
    ca = tls.ca_certificates
    return dataclasses.replace(
        tls,
        certificate=folder / tls.certificate,  # an absolute path stays itself
        private_key=folder / tls.private_key,
        ca_certificates=folder / ca if ca is not None else None,
    )


# --- [printers.AE]: a vendor preset, and the keys that override it ---------------------------------


def _build_printers(raw: Any) -> Mapping[str, PrinterConfig]:
    if not isinstance(raw, dict):
        raise ConfigError("printers: expected a table of printers by AE title")
    printers = {}
    for ae_title, table in raw.items():
        key = f"printers.{ae_title}"
        if not isinstance(table, dict):
            raise ConfigError(f"{key}: expected a table")
        table = dict(table)
        plan = _pop_plan(table, f"{key}.faults")
        faults = _build(FaultConfig, table.pop("faults", {}), f"{key}.faults")
        preset = table.get("preset", "")
        if not isinstance(preset, str):
            raise ConfigError(f"{key}.preset: expected a string, got {preset!r}")
        base: dict[str, Any] = {}
        if preset:
            try:
                base = load_preset(preset)
            except PresetError as exc:
                raise ConfigError(f"{key}.preset: {exc} (presets: {', '.join(preset_names())})") from None
        profile = _build(PrinterProfile, _merged(base, table), key)
        printers[ae_title] = PrinterConfig(ae_title, profile, faults, plan)
    return types.MappingProxyType(printers)


def preset_profile(name: str, key: str) -> PrinterProfile:
    """The PrinterProfile a vendor preset describes (a relay target's [nodes.AE] preset); errors name `key`."""
    try:
        table = load_preset(name)
    except PresetError as exc:
        raise ConfigError(f"{key}: {exc} (presets: {', '.join(preset_names())})") from None
    profile: PrinterProfile = _build(PrinterProfile, table, key)
    return profile


def _pop_plan(table: dict[str, Any], key: str) -> tuple[FaultRuleConfig, ...]:
    """The `plan` array of tables of a [faults] table (`key`), taken out of it: the fault plan is not one of
    FaultConfig's knobs. Its meaning is checked by `validate`."""
    faults = table.get("faults")
    if not isinstance(faults, dict) or "plan" not in faults:
        return ()
    faults = dict(faults)
    plan = faults.pop("plan")
    table["faults"] = faults
    rules: tuple[FaultRuleConfig, ...] = _convert(tuple[FaultRuleConfig, ...], plan, f"{key}.plan")
    return rules


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A preset's table with a printer's keys over it; sub-tables ([defaults], ...) are merged key by key."""
    merged = dict(base)
    for name, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merged(merged[name], value)
        else:
            merged[name] = value
    return merged


# --- generic TOML table -> dataclass conversion -------------------------------------------------


def _build(cls: type[Any], raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'the file'}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(f"{_join(key, unknown[0])}: unknown key (known: {', '.join(sorted(fields))})")
    values = {name: _convert(hints[name], value, _join(key, name)) for name, value in raw.items()}
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(f"{_join(key, missing[0])}: required")
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType:  # `X | None`: an optional section or key; TOML has no null, so it is X
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(hint, value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)  # type: ignore[arg-type]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path, got {value!r}")
        return Path(value)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {len(value)}")
        return tuple(_convert(arg, item, f"{key}[{i}]") for i, (arg, item) in enumerate(zip(args, value, strict=True)))
    if origin in (Mapping, dict):
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return types.MappingProxyType({str(k): _convert(value_type, v, _join(key, str(k))) for k, v in value.items()})
    raise TypeError(f"no conversion for {hint}")  # a bug in the dataclasses above


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


# --- meaning ------------------------------------------------------------------------------------

_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # PS3.5 AE: 16 chars, no backslash or controls


def validate(config: Config) -> Config:
    _validate_network(config.network)
    _validate_printer(config.printer, "printer")
    _validate_faults(config.faults, "faults")
    _validate_fault_plan(config.fault_plan, "faults.plan", config.all_printers)
    for ae_title, printer in config.printers.items():
        key = f"printers.{ae_title}"
        _check(
            bool(_AE_TITLE.fullmatch(ae_title)) and bool(ae_title.strip()) and ae_title == ae_title.strip(),
            key,
            "the name must be the printer's AE title: 1 to 16 printable characters without a backslash",
        )
        _check(ae_title != config.network.ae_title, key, "network.ae_title is the [printer] already")
        _validate_printer(printer.profile, key)
        _validate_faults(printer.faults, f"{key}.faults")
        _validate_fault_plan(printer.fault_plan, f"{key}.faults.plan", None)
    queue = config.queue
    _check(1 <= queue.size <= 100000, "queue.size", "must be 1 to 100000")
    _check(0 <= config.render.workers <= 256, "render.workers", "must be 0 (one per core) to 256")
    _check(36 <= config.render.png_dpi <= 1200, "render.png_dpi", "dots per inch must be 36 to 1200")
    _check(queue.keep_finished_jobs >= 0, "queue.keep_finished_jobs", "must be 0 or more seconds")
    _check(queue.on_printer_failure in ("WAIT", "FAIL"), "queue.on_printer_failure", "must be WAIT or FAIL")
    archive = config.archive
    _check(archive.max_age_days >= 0, "archive.max_age_days", "must be 0 (keep) or more days")
    _check(archive.max_size_gb >= 0, "archive.max_size_gb", "must be 0 (no limit) or more")
    index = config.index
    _check(
        not index.url or index.url.startswith(("postgresql://", "postgres://")),
        "index.url",
        "must be a PostgreSQL URL (postgresql://user@host:port/database), or absent for SQLite in the archive folder",
    )
    _check(1 <= index.pool_size <= 1000, "index.pool_size", "must be 1 to 1000 connections")
    _validate_cluster(config)
    transcripts = config.transcripts
    _check(transcripts.max_age_days >= 0, "transcripts.max_age_days", "must be 0 (keep) or more days")
    _check(transcripts.max_size_gb >= 0, "transcripts.max_size_gb", "must be 0 (no limit) or more")
    identity = config.identity
    for key, name in (("identity.worklist", identity.worklist), ("identity.pacs", identity.pacs)):
        _check(not name or name in config.nodes, key, f"'{name}' is not one of [nodes]")
    _check(identity.window_minutes > 0, "identity.window_minutes", "must be more than 0 minutes")
    _check(identity.unconfirmed in ("hold", "forward"), "identity.unconfirmed", "must be hold or forward")
    web = config.web
    _check(0 <= web.port <= 65535, "web.port", "must be between 0 (any free port) and 65535")
    _check(bool(web.host), "web.host", "must not be empty")
    _check(not web.tls or config.tls is not None, "web.tls", "needs a [tls] section with the certificate and key")
    _check(web.session_hours > 0, "web.session_hours", "must be more than 0 hours")
    for ae_title, node in config.nodes.items():
        _check(bool(_AE_TITLE.fullmatch(ae_title)), f"nodes.{ae_title}", "the name must be the node's AE title")
        _check(bool(node.host), f"nodes.{ae_title}.host", "must not be empty")
        _check(1 <= node.port <= 65535, f"nodes.{ae_title}.port", "must be between 1 and 65535")
    for i, name in enumerate(archive.forward_to):
        _check(name in config.nodes, f"archive.forward_to[{i}]", f"'{name}' is not one of [nodes]")
    _validate_relay(config)
    if config.tls is not None:
        _check(
            config.tls.ca_certificates is not None or not config.tls.require_client_certificate,
            "tls.require_client_certificate",
            "needs tls.ca_certificates: the CAs that sign the clients' certificates",
        )
    return config


_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,62}")  # a folder name too: <archive>/.nodes/<node_id>


def _validate_cluster(config: Config) -> None:
    cluster = config.cluster
    _check(
        not cluster.enabled or bool(config.index.url),
        "cluster.enabled",
        "needs [index] url: the nodes share their print queue in a PostgreSQL database",
    )
    _check(
        not (cluster.enabled and config.network.reuse_port and not cluster.node_id),
        "cluster.node_id",
        "must be set when network.reuse_port is true: nodes that share one port need ids of their own (the "
        "default is <host>:<port>)",
    )
    _check(
        not cluster.node_id or bool(_NODE_ID.fullmatch(cluster.node_id)),
        "cluster.node_id",
        "must be 1 to 63 letters, digits and . _ : - (it names the node's folder), or empty for <host>:<port>",
    )
    _check(cluster.lease_seconds > 0, "cluster.lease_seconds", "must be more than 0 seconds")
    _check(
        0 < cluster.heartbeat_seconds < cluster.lease_seconds,
        "cluster.heartbeat_seconds",
        "must be more than 0 and less than cluster.lease_seconds (a lease is renewed at each heartbeat)",
    )


def node_id(config: Config) -> str:
    """This node's id in a cluster: [cluster] node_id, else <host name>:<network.port>."""
    return config.cluster.node_id or f"{socket.gethostname()}:{config.network.port}"


def node_folder(config: Config) -> Path:
    """What the server owns in its archive folder (its lock, its admin file): the folder, or in cluster mode
    its part of the shared folder, `.nodes/<node id>`."""
    if config.cluster.enabled:
        return config.archive.folder / ".nodes" / node_id(config)
    return config.archive.folder


_PWG_MEDIA = re.compile(r"[a-z0-9]+_[a-z0-9.-]+_[0-9.]+x[0-9.]+(mm|in)")  # PWG 5101.1: class_name_WxHunit


def _validate_relay(config: Config) -> None:
    for name, node in config.nodes.items():
        if node.preset:
            preset_profile(node.preset, f"nodes.{name}.preset")
    for name, paper in config.paper.items():
        key = f"paper.{name}"
        _check(name not in config.nodes, key, "a [nodes] entry has the same name")
        _check(
            re.fullmatch(r"ipps?://[^/\s]+(/\S*)?", paper.uri) is not None,
            f"{key}.uri",
            "must be an ipp:// or ipps:// URI",
        )
        _check(
            _PWG_MEDIA.fullmatch(paper.media) is not None,
            f"{key}.media",
            "must be a PWG media name such as iso_a4_210x297mm",
        )
        _check(paper.scaling in ("fit", "actual"), f"{key}.scaling", "must be fit or actual")
    targets = set(config.nodes) | set(config.paper)
    for ae_title, printer in config.all_printers.items():
        key = "printer" if ae_title == config.network.ae_title else f"printers.{ae_title}"
        for i, name in enumerate(printer.profile.relay_to):
            _check(name in targets, f"{key}.relay_to[{i}]", f"'{name}' is not one of [nodes] or [paper]")
            _check(name != ae_title, f"{key}.relay_to[{i}]", "a printer cannot relay to itself")
    relay = config.relay
    _check(relay.acknowledge in ("on_spool", "after_relay"), "relay.acknowledge", "must be on_spool or after_relay")
    _check(relay.after_relay_timeout > 0, "relay.after_relay_timeout", "must be more than 0 seconds")
    _check(relay.retry_seconds > 0, "relay.retry_seconds", "must be more than 0 seconds")
    _check(relay.give_up_after > 0, "relay.give_up_after", "must be more than 0 seconds")
    for i, rule in enumerate(relay.rules):
        _check(rule.target in targets, f"relay.rules[{i}].target", f"'{rule.target}' is not one of [nodes] or [paper]")
        _check(bool(rule.calling_ae_titles), f"relay.rules[{i}].calling_ae_titles", "must name at least one AE title")


def relay_targets(config: Config, printer: str, calling_ae_title: str) -> tuple[str, ...]:
    """The targets a film printed on `printer` (its AE title) by `calling_ae_title` is relayed to: its
    relay_to, less the targets whose [[relay.rules]] do not name that calling AE title."""
    settings = config.all_printers.get(printer) or config.default_printer
    allowed: dict[str, set[str]] = {}
    for rule in config.relay.rules:
        allowed.setdefault(rule.target, set()).update(rule.calling_ae_titles)
    calling = calling_ae_title.strip()
    return tuple(t for t in settings.profile.relay_to if t not in allowed or calling in allowed[t])


def _validate_faults(faults: FaultConfig, key: str) -> None:
    _check(faults.fail_every >= 0, f"{key}.fail_every", "must be 0 (never) or more")
    _check(0 <= faults.print_delay <= 3600, f"{key}.print_delay", "must be 0 to 3600 seconds")
    _check(faults.films_in_supply >= 0, f"{key}.films_in_supply", "must be 0 (endless) or more")


def _validate_fault_plan(
    plan: tuple[FaultRuleConfig, ...], key: str, printers: Mapping[str, PrinterConfig] | None
) -> None:
    """`printers`: every printer, for [[faults.plan]]; None for [[printers.AE.faults.plan]], whose rules are AE's."""
    for i, rule in enumerate(plan):
        rule_key = f"{key}[{i}]"
        validate_fault_rule(rule, rule_key)
        if printers is None:
            _check(not rule.printer, f"{rule_key}.printer", "the table's name is the printer already")
        else:
            _check(
                not rule.printer or rule.printer in printers,
                f"{rule_key}.printer",
                f"no printer {rule.printer!r} (printers: {', '.join(printers)})",
            )


def fault_rule(table: Mapping[str, Any], key: str = "") -> FaultRuleConfig:
    """A fault plan rule from a table of its keys (an admin command, the command line); a ConfigError
    names the key (`key.status`, or `status` when `key` is empty). Its printer is not checked here."""
    rule: FaultRuleConfig = _build(FaultRuleConfig, dict(table), key)
    validate_fault_rule(rule, key)
    return rule


def validate_fault_rule(rule: FaultRuleConfig, key: str) -> None:
    """What a rule's keys mean; the first problem raises ConfigError naming its key."""
    _check(rule.on in FAULT_COMMANDS, _join(key, "on"), f"'{rule.on}' is not one of {', '.join(FAULT_COMMANDS)}")
    _check(
        not rule.sop_class or rule.sop_class in FAULT_SOP_CLASSES or bool(_UID.fullmatch(rule.sop_class)),
        _join(key, "sop_class"),
        f"'{rule.sop_class}' is not a SOP Class UID or one of {', '.join(FAULT_SOP_CLASSES)}",
    )
    _check(
        rule.on != "C-ECHO" or rule.sop_class in ("", "Verification", "1.2.840.10008.1.1"),
        _join(key, "sop_class"),
        "C-ECHO is a Verification request",
    )
    _check(
        not rule.calling_ae
        or (bool(_AE_TITLE.fullmatch(rule.calling_ae)) and rule.calling_ae.strip() == rule.calling_ae),
        _join(key, "calling_ae"),
        f"'{rule.calling_ae}' is not an AE title: 1 to 16 printable characters without a backslash",
    )
    _check(rule.after >= 0, _join(key, "after"), "must be 0 or more matching requests")
    _check(rule.count >= 0, _join(key, "count"), "must be 0 (every time) or more")
    _check(0 <= rule.delay <= 3600, _join(key, "delay"), "must be 0 to 3600 seconds")
    if rule.status is not None:
        _check(0 <= rule.status <= 0xFFFF, _join(key, "status"), "must be 0x0000 to 0xFFFF")
    _check(
        not rule.error_comment or rule.status is not None,
        _join(key, "error_comment"),
        "goes with status: the Error Comment of the status answered",
    )
    _check(
        len(rule.error_comment) <= 64 and bool(re.fullmatch(r"[\x20-\x5b\x5d-\x7e]*", rule.error_comment)),
        _join(key, "error_comment"),
        "an Error Comment is LO: at most 64 printable characters without a backslash",
    )
    if rule.printer_status:
        _check(
            rule.printer_status in PrinterStatus.__members__,
            _join(key, "printer_status"),
            f"'{rule.printer_status}' is not one of {', '.join(PrinterStatus)}",
        )
        info = rule.printer_status_info or None
        _check(
            info is None or info in PRINTER_STATUS_INFO_TERMS,
            _join(key, "printer_status_info"),
            f"'{info}' is not a Printer Status Info defined term of PS3.3 C.13.9.1 (e.g. FILM JAM, SUPPLY EMPTY)",
        )
        _check(
            info is None or (rule.printer_status == "NORMAL") == (info == "NORMAL"),
            _join(key, "printer_status_info"),
            f"'{info}' does not go with printer_status {rule.printer_status} (NORMAL goes with NORMAL only)",
        )
    else:
        _check(not rule.printer_status_info, _join(key, "printer_status_info"), "goes with printer_status")
    actions = [name for name in ("status", "abort", "printer_status") if getattr(rule, name) not in (None, False, "")]
    _check(
        bool(actions) or rule.delay > 0,
        key or "rule",
        "does nothing: give one of status, abort and printer_status, or a delay",
    )
    _check(
        len(actions) <= 1,
        _join(key, actions[-1] if actions else "status"),
        f"one of status, abort and printer_status per rule (with delay if wanted), not {' and '.join(actions)}",
    )


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


def _validate_network(network: NetworkConfig) -> None:
    _check(
        bool(_AE_TITLE.fullmatch(network.ae_title)) and bool(network.ae_title.strip()),
        "network.ae_title",
        "must be 1 to 16 printable characters without a backslash",
    )
    _check(0 <= network.port <= 65535, "network.port", "must be between 0 and 65535")
    _check(network.max_pdu == 0 or network.max_pdu >= 4096, "network.max_pdu", "must be 0 or at least 4096")
    for name in ("acse_timeout", "dimse_timeout", "network_timeout", "artim_timeout", "pdu_timeout", "idle_timeout"):
        _check(getattr(network, name) > 0, f"network.{name}", "must be positive")
    _check(network.max_associations >= 1, "network.max_associations", "must be at least 1")
    _check(network.max_pending_connections >= 1, "network.max_pending_connections", "must be at least 1")
    _check(network.max_connections_per_ip >= 1, "network.max_connections_per_ip", "must be at least 1")
    _check(
        network.max_buffered_bytes >= max(network.max_pdu, 65536) + 6,
        "network.max_buffered_bytes",
        "must hold at least one PDU: max_pdu (or 64 KiB, the largest association PDU) plus 6 bytes",
    )
    for i, title in enumerate(network.allowed_calling_ae_titles):
        _check(
            bool(_AE_TITLE.fullmatch(title)),
            f"network.allowed_calling_ae_titles[{i}]",
            f"'{title}' is not a valid AE title",
        )


def _validate_printer(p: PrinterProfile, key: str) -> None:
    _check(bool(p.film_size_ids), f"{key}.film_size_ids", "must list at least one Film Size ID")
    for i, size in enumerate(p.film_size_ids):
        _check(
            size in FILM_SIZES_MM,
            f"{key}.film_size_ids[{i}]",
            f"'{size}' is not a Film Size ID of PS3.3 C.13.3 or a paper size printscp knows "
            f"({', '.join(FILM_SIZES_MM)})",
        )
    _check(bool(p.image_display_formats), f"{key}.image_display_formats", "must list at least one format")
    kinds = ("STANDARD", "ROW", "COL", "SLIDE", "SUPERSLIDE", "CUSTOM")
    for i, kind in enumerate(p.image_display_formats):
        _check(kind in kinds, f"{key}.image_display_formats[{i}]", f"'{kind}' is not one of {', '.join(kinds)}")
    for kind, (width, height, pitch) in p.slide_formats.items():
        slide = f"{key}.slide_formats.{kind}"
        _check(kind in ("SLIDE", "SUPERSLIDE"), slide, "only SLIDE and SUPERSLIDE have slide layouts")
        _check(0 < width <= pitch and 0 < height <= pitch, slide, "need 0 < box width, height <= pitch (mm)")
    for number, boxes in p.custom_display_formats.items():
        custom = f"{key}.custom_display_formats.{number}"
        _check(number.isdigit(), custom, 'CUSTOM layouts are numbered: CUSTOM\\1 is key "1"')
        _check(bool(boxes), custom, "must define at least one image box")
        for i, box in enumerate(boxes):
            _check(_inside(box), f"{custom}[{i}]", "must be [left, top, width, height] inside the area (0..1)")
    _check(1 <= p.max_columns <= 100, f"{key}.max_columns", "must be between 1 and 100")
    _check(1 <= p.max_rows <= 100, f"{key}.max_rows", "must be between 1 and 100")
    _check(bool(p.medium_types), f"{key}.medium_types", "must list at least one Medium Type")
    for i, medium in enumerate(p.medium_types):
        _check(_is_cs(medium), f"{key}.medium_types[{i}]", f"'{medium}' is not a valid CS value")
    _check(bool(p.film_destinations), f"{key}.film_destinations", "must list at least one Film Destination")
    for i, destination in enumerate(p.film_destinations):
        _check(
            bool(FILM_DESTINATION_PATTERN.fullmatch(destination)),
            f"{key}.film_destinations[{i}]",
            f"'{destination}' is not MAGAZINE, PROCESSOR or BIN_i",
        )
    _check(bool(p.magnification_types), f"{key}.magnification_types", "must list at least one type")
    for i, magnification in enumerate(p.magnification_types):
        _check(
            magnification in MagnificationType.__members__,
            f"{key}.magnification_types[{i}]",
            f"'{magnification}' is not one of {', '.join(MagnificationType)}",
        )
    for i, smoothing in enumerate(p.smoothing_types):
        _check(_is_cs(smoothing), f"{key}.smoothing_types[{i}]", f"'{smoothing}' is not a valid CS value")
    for resolution, dpi in p.resolutions.items():
        _check(
            resolution in RequestedResolutionID.__members__,
            f"{key}.resolutions.{resolution}",
            "Requested Resolution ID must be STANDARD or HIGH",
        )
        _check(36 <= dpi <= 1200, f"{key}.resolutions.{resolution}", "dots per inch must be 36 to 1200")
    _check("STANDARD" in p.resolutions, f"{key}.resolutions", "must define STANDARD")
    for curve, contrast in p.contrast_curves.items():
        _check(
            bool(re.fullmatch(r"CS\d{3}", curve)),
            f"{key}.contrast_curves.{curve}",
            "Configuration Information IDs are CS000 to CS999",
        )
        _check(0.1 <= contrast <= 10, f"{key}.contrast_curves.{curve}", "contrast must be 0.1 to 10")
    _check(
        0 <= p.min_density < p.max_density <= 500,
        f"{key}.min_density",
        "need 0 <= min_density < max_density <= 500 (hundredths of OD)",
    )
    _check(p.max_number_of_copies >= 1, f"{key}.max_number_of_copies", "must be at least 1")
    for format_id, fmt in p.annotation_display_formats.items():
        annotation = f"{key}.annotation_display_formats.{format_id}"
        _check(_is_cs(format_id), annotation, "the ID must be a valid CS value (16 upper-case characters)")
        _check(bool(fmt.boxes), f"{annotation}.boxes", "must define at least one box")
        for i, box in enumerate((*fmt.boxes, fmt.image_area)):
            name = f"{annotation}.boxes[{i}]" if i < len(fmt.boxes) else f"{annotation}.image_area"
            _check(_inside(box), name, "must be [left, top, width, height] inside the film (0..1)")
    _check(
        p.personality in PERSONALITIES,
        f"{key}.personality",
        f"'{p.personality}' is not one of {', '.join(PERSONALITIES)}",
    )
    for keyword, aliases in p.term_aliases.items():
        supported = _ALIASED.get(keyword)
        _check(
            supported is not None,
            f"{key}.term_aliases.{keyword}",
            f"aliases are for {', '.join(_ALIASED)}",
        )
        assert supported is not None
        terms = list(getattr(p, supported))
        for alias, term in aliases.items():
            _check(
                term in terms,
                f"{key}.term_aliases.{keyword}.{alias}",
                f"'{term}' is not one of {supported} ({', '.join(terms)})",
            )
    try:
        check_template(p.film_stamp)
    except ValueError as exc:
        raise ConfigError(f"{key}.film_stamp: {exc}") from None
    _validate_defaults(p, key)


# Attributes whose vendor terms a printer may alias (Leniency.VENDOR_TERMS) -> the profile's supported terms
_ALIASED = {
    "FilmSizeID": "film_size_ids",
    "MediumType": "medium_types",
    "FilmDestination": "film_destinations",
    "MagnificationType": "magnification_types",
    "SmoothingType": "smoothing_types",
    "ConfigurationInformation": "contrast_curves",
    "RequestedResolutionID": "resolutions",
    "AnnotationDisplayFormatID": "annotation_display_formats",
}


def _validate_defaults(p: PrinterProfile, key: str) -> None:
    d = p.defaults

    def one_of(name: str, allowed: typing.Iterable[str]) -> None:
        allowed = list(allowed)
        _check(
            getattr(d, name) in allowed,
            f"{key}.defaults.{name}",
            f"'{getattr(d, name)}' is not one of {', '.join(allowed)}",
        )

    _check(
        1 <= d.number_of_copies <= p.max_number_of_copies,
        f"{key}.defaults.number_of_copies",
        "must be between 1 and printer.max_number_of_copies",
    )
    one_of("print_priority", PrintPriority)
    one_of("medium_type", p.medium_types)
    one_of("film_destination", p.film_destinations)
    one_of("film_orientation", FilmOrientation)
    one_of("film_size_id", p.film_size_ids)
    one_of("magnification_type", p.magnification_types)
    if p.smoothing_types:
        one_of("smoothing_type", p.smoothing_types)
    one_of("configuration_information", p.contrast_curves)
    one_of("trim", Trim)
    one_of("requested_resolution_id", p.resolutions)
    one_of("requested_decimate_crop_behavior", RequestedDecimateCropBehavior)
    one_of("polarity", Polarity)
    if d.annotation_display_format_id:
        one_of("annotation_display_format_id", p.annotation_display_formats)
    _check(
        p.min_density <= d.min_density < d.max_density <= p.max_density,
        f"{key}.defaults.min_density",
        "need printer.min_density <= defaults.min_density < defaults.max_density <= printer.max_density",
    )
    for name in ("border_density", "empty_image_density"):
        value = getattr(d, name)
        _check(
            value in ("BLACK", "WHITE") or (value.isdigit() and int(value) <= 500),
            f"{key}.defaults.{name}",
            f"'{value}' is not BLACK, WHITE or a density in hundredths of OD",
        )
    # Illumination and Reflected Ambient Light are US (PS3.3 C.13.3): what an SCU may send, at most 65535
    for name in ("illumination", "reflective_illumination"):
        _check(1 <= getattr(d, name) <= 65535, f"{key}.defaults.{name}", "must be 1 to 65535 cd/m2")
    _check(
        0 <= d.reflected_ambient_light <= 65535, f"{key}.defaults.reflected_ambient_light", "must be 0 to 65535 cd/m2"
    )


def _inside(box: tuple[float, float, float, float]) -> bool:
    left, top, width, height = box
    return 0 <= left and 0 <= top and width > 0 and height > 0 and left + width <= 1.0001 and top + height <= 1.0001


def _is_cs(value: str) -> bool:
    # PS3.5 CS: up to 16 upper-case letters, digits, space and underscore
    return bool(re.fullmatch(r"[A-Z0-9 _]{1,16}", value))
