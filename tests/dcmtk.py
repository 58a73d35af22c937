"""Drive DCMTK's print client (dcmpsprt, then dcmprscu) against a print SCP and read back what it saw.

DCMTK prints in two steps: dcmpsprt renders source images into a Stored Print object plus Hardcopy
Grayscale bitmaps in the `[DATABASE]` folder of its config, and dcmprscu sends that Stored Print to the
printer, finding the bitmaps through the database's index.dat. So every job gets its own config and
database folder. dcmprscu exits 0 even when the job failed, so a job is judged only from its `--dump`
log (stderr): every DIMSE message, its command fields, status and data set are parsed from there.

The composite services are driven with storescu, findscu (responses extracted to files), getscu, movescu
and a storescp the test starts on a free port; what they wrote is read back with pydicom.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

CALLING_AE_TITLE = "DCMTK_PRINTSCU"  # [NETWORK] aetitle: what dcmprscu calls itself (<= 16 chars)
PRINTER_SECTION = "PRINTSCP"  # the [[COMMUNICATION]] section naming the printer
TIMEOUT = 120  # seconds for one DCMTK process; a hang is a failure, not a stuck test run

# The SCU-side settings of the IHEFULL / IHERESTRICTED printers of DCMTK's printers.cfg: what dcmprscu
# believes the printer supports. MinPrintResolution is left unset on purpose (the stock 1024\1024
# up-scales every small image before sending it).
IHEFULL: Mapping[str, str] = {
    "ImplicitOnly": "false",
    "DisableNewVRs": "false",
    "MaxPDU": "32768",
    "Supports12Bit": "true",
    "SupportsPresentationLUT": "true",
    "PresentationLUTMatchRequired": "false",
    "PresentationLUTinFilmSession": "false",
    "SupportsTrim": "true",
    "SupportsImageSize": "true",
    "SupportsDecimateCrop": "true",
}
IHERESTRICTED: Mapping[str, str] = {
    "ImplicitOnly": "true",
    "DisableNewVRs": "true",
    "MaxPDU": "16384",
    "Supports12Bit": "true",
    "SupportsPresentationLUT": "true",
    "PresentationLUTMatchRequired": "true",
    "PresentationLUTinFilmSession": "false",
}

STOCK_PRINTERS = Path("/etc/dcmtk/printers.cfg")  # DCMTK's printer profiles, as Debian's dcmtk ships them
_SCP_ONLY_KEYS = frozenset({"hostname", "port", "type", "aetitle", "description"})


def stock_printer(section: str, path: Path = STOCK_PRINTERS) -> dict[str, str]:
    """The SCU-side settings of one printer section of DCMTK's printers.cfg as shipped (AGFA, KODAK, ...):
    every key of `[section]` but those that say where and what the SCP is (Hostname, Port, Type, Aetitle,
    Description), which DcmtkPrintClient sets for the printer under test. Keys keep their spelling; a
    missing file or section fails the test (CI installs DCMTK), it never skips."""
    assert path.is_file(), f"{path} is missing; install DCMTK (apt-get install dcmtk)"
    settings: dict[str, str] = {}
    current: str | None = None
    for raw in path.read_text(encoding="latin-1").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]") and not line.startswith("[["):
            current = line[1:-1].strip()
            continue
        if line.startswith("[["):
            current = None
            continue
        if current == section and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key.lower() not in _SCP_ONLY_KEYS:
                settings[key] = value
    assert settings, f"no printer [{section}] in {path}"
    return settings


# PS3.7 C.1 warnings, as DCMTK's DICOM_WARNING_STATUS counts them
_WARNINGS = (0x0001, 0x0107, 0x0116)


def is_success_or_warning(status: int) -> bool:
    return status == 0x0000 or status in _WARNINGS or 0xB000 <= status <= 0xBFFF


@functools.cache
def tool(name: str) -> str:
    """The path of a DCMTK program; a missing DCMTK fails the test (CI installs it), it never skips.

    The first one on PATH that says it is DCMTK: pynetdicom installs its own `echoscu` into the venv.
    """
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = shutil.which(name, path=folder)
        if path is None:
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
        if "$dcmtk:" in version.stdout:
            return path
    raise AssertionError(f"DCMTK's {name} is not on PATH; install DCMTK (apt-get install dcmtk)")


def dcmtk_environment() -> dict[str, str]:
    # Without TCP_NODELAY every DIMSE exchange of DCMTK waits ~40-90 ms for a delayed ACK.
    return {**os.environ, "TCP_NODELAY": "1"}


# --- source images -------------------------------------------------------------------------------------


def split_pixels(
    rows: int = 256, columns: int = 256, left: int = 0, right: int = 4095, dtype: type = np.uint16
) -> np.ndarray:
    """An image whose left half is `left` and right half `right`: shows where and which way up it lands."""
    pixels: np.ndarray = np.full((rows, columns), left, dtype=dtype)
    pixels[:, columns // 2 :] = right
    return pixels


def write_image(
    path: Path, pixels: np.ndarray, bits_stored: int = 12, photometric: str = "MONOCHROME2", **attributes: Any
) -> Path:
    """A Secondary Capture image file dcmpsprt accepts (no VOI window: dcmpsprt passes values linearly);
    `attributes` (keyword -> value) replace or add header attributes, e.g. another SOP Class UID or patient."""
    dataset = Dataset()
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientName = "Print^Test"
    dataset.PatientID = "PRINTTEST"
    dataset.Modality = "OT"
    dataset.ConversionType = "WSD"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.BitsAllocated = 8 if bits_stored <= 8 else 16
    dataset.BitsStored = bits_stored
    dataset.HighBit = bits_stored - 1
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.astype(np.uint8 if bits_stored <= 8 else "<u2").tobytes()
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_presentation_lut(path: Path, lut: np.ndarray, bits: int = 12) -> Path:
    """A print Presentation LUT file as DCMTK's [[LUT]] section names them: a Presentation LUT Sequence."""
    item = Dataset()
    item.LUTDescriptor = [len(lut) if len(lut) < 65536 else 0, 0, bits]
    item.LUTExplanation = path.stem
    item.add_new(0x00283006, "OW", lut.astype("<u2").tobytes())  # LUT Data
    dataset = Dataset()
    dataset.PresentationLUTSequence = [item]
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.1.23")  # Presentation LUT
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


# --- the --dump log ------------------------------------------------------------------------------------

_BLOCK = re.compile(r"^D: =+ (OUTGOING|INCOMING) DIMSE MESSAGE =+$")
_END = re.compile(r"^D: =+ END DIMSE MESSAGE =+$")
_FIELD = re.compile(r"^D: ([A-Za-z][A-Za-z /-]*?)\s*: (.*)$")
_ELEMENT = re.compile(r"^\s*\(([0-9a-f]{4},[0-9a-f]{4})\) [A-Za-z]{2} (.*?)\s+#")


@dataclass(frozen=True)
class DimseMessage:
    """One DIMSE message as dcmprscu's --dump log shows it."""

    direction: str  # OUTGOING (sent by dcmprscu) or INCOMING
    fields: Mapping[str, str]  # command fields: "Message Type" -> "N-CREATE RSP", ...
    dataset: Sequence[str]  # the data set dump lines, nested items indented

    @property
    def type(self) -> str:
        return self.fields.get("Message Type", "")

    @property
    def sop_class(self) -> str:
        return self.fields.get("Affected SOP Class UID") or self.fields.get("Requested SOP Class UID", "")

    @property
    def sop_instance(self) -> str:
        fields = self.fields
        return fields.get("Affected SOP Instance UID") or fields.get("Requested SOP Instance UID", "")

    @property
    def transfer_syntax(self) -> str:
        """For INCOMING messages with a data set, the transfer syntax it came in; DCMTK prints the
        in-memory (Explicit VR) encoding for outgoing ones, so those say nothing about the wire."""
        return self.fields.get("Used TransferSyntax", "")

    @property
    def is_response(self) -> bool:
        return self.type.endswith(" RSP")

    @property
    def status(self) -> int | None:
        value = self.fields.get("DIMSE Status")
        return int(value.split(":")[0], 16) if value else None

    def elements(self, tag: str) -> list[str]:
        """Values of every element `gggg,eeee` (lower-case hex) in the data set, nested ones included."""
        values = []
        for line in self.dataset:
            match = _ELEMENT.match(line)
            if match and match.group(1) == tag:
                values.append(match.group(2).strip().removeprefix("[").removesuffix("]"))
        return values

    def pixel_format(self) -> tuple[str | None, ...]:
        """Bits Allocated, Bits Stored, High Bit of the (first) image in the data set."""
        return tuple(self.element(tag) for tag in ("0028,0100", "0028,0101", "0028,0102"))

    def element(self, tag: str) -> str | None:
        values = self.elements(tag)
        return values[0] if values else None

    def __str__(self) -> str:
        status = self.status
        suffix = f" -> 0x{status:04X}" if status is not None else ""
        return f"{self.type} {self.sop_class}{suffix}"


def parse_dump(text: str) -> list[DimseMessage]:
    """Every DIMSE message of a dcmprscu/dcmprscp `--dump` log, in order."""
    messages: list[DimseMessage] = []
    direction: str | None = None
    fields: dict[str, str] = {}
    dataset: list[str] = []
    in_dataset = False
    for line in text.splitlines():
        if match := _BLOCK.match(line):
            direction, fields, dataset, in_dataset = match.group(1), {}, [], False
        elif direction is None:
            continue
        elif _END.match(line):
            messages.append(DimseMessage(direction, fields, dataset))
            direction = None
        elif line.startswith("D: ----"):
            in_dataset = True
        elif in_dataset:
            if line.startswith("D: # Used TransferSyntax: "):
                fields["Used TransferSyntax"] = line.split(": ", 2)[2].strip()
            elif line.startswith("D: ") and not line.startswith("D: #"):
                dataset.append(line[3:])
        elif match := _FIELD.match(line):
            fields[match.group(1)] = match.group(2).strip()
    return messages


@dataclass(frozen=True)
class PrintLog:
    """What one dcmprscu run did, from its exit code and its --dump log (stderr)."""

    returncode: int
    text: str
    messages: list[DimseMessage]

    @property
    def responses(self) -> list[DimseMessage]:
        return [m for m in self.messages if m.is_response]

    @property
    def statuses(self) -> list[tuple[str, str, int]]:
        """(message type, SOP class, status) of every response, in order."""
        return [(m.type, m.sop_class, m.status if m.status is not None else -1) for m in self.responses]

    @property
    def failures(self) -> list[DimseMessage]:
        return [m for m in self.responses if m.status is None or not is_success_or_warning(m.status)]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith(("E: ", "F: "))]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith("W: ")]

    def find(self, message_type: str, sop_class: str | None = None) -> list[DimseMessage]:
        return [m for m in self.messages if m.type == message_type and (sop_class is None or m.sop_class == sop_class)]

    def one(self, message_type: str, sop_class: str | None = None) -> DimseMessage:
        found = self.find(message_type, sop_class)
        assert len(found) == 1, f"{len(found)} x {message_type} {sop_class or ''}\n{self.summary()}"
        return found[0]

    @property
    def printed(self) -> bool:
        """The job reached a successful N-ACTION and nothing failed."""
        actions = self.find("N-ACTION RSP")
        return (
            self.returncode == 0
            and not self.errors
            and not self.failures
            and len(actions) == 1
            and actions[0].status is not None
            and is_success_or_warning(actions[0].status)
        )

    def summary(self) -> str:
        lines = [str(m) for m in self.responses] + self.errors + self.warnings
        return "\n".join(lines) or self.text[-2000:]


# --- TLS: a test PKI made with openssl, and DCMTK's TLS settings -------------------------------------------


@dataclass(frozen=True)
class Pki:
    """PEM files made by `make_pki`: a CA, a server and a client certificate it signed, and a stranger's
    client certificate signed by another CA. Each `name` has `name.pem` and (but the CAs') `name.key`."""

    folder: Path

    def pem(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    @property
    def ca_directory(self) -> Path:
        """The CA as DCMTK's CACertificateDirectory wants it: named by its subject hash."""
        return self.folder / "cacerts"


def make_pki(folder: Path) -> Pki:
    """Make the test PKI with the openssl command line (RSA 2048, valid 2 days)."""

    def openssl(*args: str) -> str:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, f"openssl {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)
    for ca in ("ca", "other_ca"):
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=printscp test {ca}",
            "-keyout", str(pki.key(ca)), "-out", str(pki.pem(ca)),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    extensions = folder / "leaf.ext"
    extensions.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    for name, ca in (("server", "ca"), ("client", "ca"), ("stranger", "other_ca")):
        request = folder / f"{name}.csr"
        openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(pki.key(name)), "-out", str(request),
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", str(request), "-CA", str(pki.pem(ca)), "-CAkey", str(pki.key(ca)),
            "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(pki.pem(name)),
        )  # fmt: skip
    pki.ca_directory.mkdir()
    subject_hash = openssl("x509", "-hash", "-noout", "-in", str(pki.pem("ca"))).strip()
    shutil.copy(pki.pem("ca"), pki.ca_directory / f"{subject_hash}.0")
    return pki


def dcmtk_tls_settings(pki: Pki, client: str | None = "client") -> tuple[list[str], dict[str, str]]:
    """DCMTK print client TLS: the [[GENERAL]] [TLS] lines and the printer section's keys, trusting the
    test CA and showing `client`'s certificate (None: no certificate)."""
    general = [
        "[TLS]",
        f"TLSDirectory = {pki.folder}",
        f"CACertificateDirectory = {pki.ca_directory}",
        "UsePEMFormat = true",
    ]
    printer = {"UseTLS": "true", "PeerAuthentication": "REQUIRE"}
    if client is not None:
        printer |= {"Certificate": pki.pem(client).name, "PrivateKey": pki.key(client).name}
    return general, printer


# --- one job: config, database, dcmpsprt, dcmprscu -----------------------------------------------------


def write_config(
    path: Path,
    database: Path,
    printers: Mapping[str, Mapping[str, str]],
    calling_ae_title: str = CALLING_AE_TITLE,
    presentation_lut: Path | None = None,
    general: Sequence[str] = (),
) -> Path:
    """A dcmpstat.cfg with one database folder and the given [[COMMUNICATION]] sections; a
    `presentation_lut` file becomes the print LUT named PLUT (dcmpsprt --plut PLUT); `general` adds
    sections to [[GENERAL]] (the [TLS] of `dcmtk_tls_settings`)."""
    lut_directory = presentation_lut.parent if presentation_lut else database.parent
    lines = [
        "[[GENERAL]]",
        "[PRINT]",
        f"Directory = {database.parent / 'spool'}",
        "DetailedLog = false",
        "[DATABASE]",
        f"Directory = {database}",
        "[LUT]",
        f"Directory = {lut_directory}",
        "[NETWORK]",
        f"aetitle = {calling_ae_title}",
        *general,
        "[[COMMUNICATION]]",
    ]
    for name, settings in printers.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {value}" for key, value in settings.items()]
    if presentation_lut:
        lines += ["[[LUT]]", "[PLUT]", "description = test LUT", f"filename = {presentation_lut.name}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    database.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=dict(env or dcmtk_environment()),
        check=False,
    )


@dataclass
class PreparedJob:
    """A Stored Print rendered by dcmpsprt, ready for dcmprscu."""

    config: Path
    stored_print: Path
    render_log: str


@dataclass
class DcmtkPrintClient:
    """DCMTK's print client pointed at one SCP; each job gets its own config and database folder."""

    workdir: Path
    host: str
    port: int
    called_ae_title: str = "PRINTSCP"
    calling_ae_title: str = CALLING_AE_TITLE
    printer: Mapping[str, str] = field(default_factory=lambda: dict(IHEFULL))
    jobs: int = 0
    tls: tuple[list[str], dict[str, str]] | None = None  # dcmtk_tls_settings(...): print over TLS

    def prepare(
        self,
        images: Iterable[Path],
        layout: tuple[int, int] = (1, 1),
        film_size: str | None = None,
        render_options: Sequence[str] = (),
        printer: Mapping[str, str] | None = None,
        presentation_lut: Path | None = None,
    ) -> PreparedJob:
        """Run dcmpsprt: render `images` into a Stored Print for STANDARD\\columns,rows."""
        self.jobs += 1
        folder = self.workdir / f"dcmtk-job-{self.jobs}"
        section = {
            "Type": "PRINTER",
            "Hostname": self.host,
            "Port": str(self.port),
            "Aetitle": self.called_ae_title,
            "Description": "printer under test",
            **(printer if printer is not None else self.printer),
            **(self.tls[1] if self.tls else {}),
        }
        config = write_config(
            folder / "dcmpstat.cfg",
            folder / "database",
            {PRINTER_SECTION: section},
            self.calling_ae_title,
            presentation_lut,
            self.tls[0] if self.tls else (),
        )
        command = [
            tool("dcmpsprt"),
            "--config",
            str(config),
            "--printer",
            PRINTER_SECTION,
            "--nospool",
            "--layout",
            str(layout[0]),
            str(layout[1]),
        ]
        if film_size:
            command += ["--filmsize", film_size]
        if presentation_lut:
            command += ["--plut", "PLUT"]
        command += [*render_options, *map(str, images)]
        result = run(command)
        stored = sorted((folder / "database").glob("SP_*.dcm"))
        assert result.returncode == 0 and len(stored) == 1, (
            f"dcmpsprt failed (exit {result.returncode}, {len(stored)} stored prints):\n{result.stderr}"
        )
        return PreparedJob(config, stored[0], result.stderr)

    def send(self, job: PreparedJob, print_options: Sequence[str] = ()) -> PrintLog:
        """Run dcmprscu in printer mode on a prepared Stored Print, with the DIMSE dump on."""
        command = [
            tool("dcmprscu"),
            "--verbose",
            "--dump",
            "--config",
            str(job.config),
            "--printer",
            PRINTER_SECTION,
            *print_options,
            str(job.stored_print),
        ]
        result = run(command)
        text = result.stderr + result.stdout
        return PrintLog(result.returncode, text, parse_dump(text))

    def print(
        self,
        images: Iterable[Path],
        layout: tuple[int, int] = (1, 1),
        film_size: str | None = None,
        render_options: Sequence[str] = (),
        print_options: Sequence[str] = (),
        printer: Mapping[str, str] | None = None,
        presentation_lut: Path | None = None,
    ) -> PrintLog:
        job = self.prepare(images, layout, film_size, render_options, printer, presentation_lut)
        return self.send(job, print_options)


# --- composite services: storescu, findscu, getscu, movescu, storescp ------------------------------------

QR_LEVEL_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}  # the unique key of each Query/Retrieve level


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def key_options(level: str, keys: Mapping[str, str]) -> list[str]:
    """`-k` options for a query or retrieve identifier; an empty value asks for the key (universal)."""
    options = ["-k", f"QueryRetrieveLevel={level}"]
    for keyword, value in keys.items():
        options += ["-k", f"{keyword}={value}"]
    return options


@dataclass
class ToolRun:
    """One run of a DCMTK network tool: its exit, its log (stderr + stdout), and the files it wrote."""

    returncode: int
    text: str
    files: list[Path]

    @functools.cached_property
    def datasets(self) -> list[Dataset]:
        return [dcmread(path) for path in self.files]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith(("E: ", "F: "))]

    def values(self, keyword: str) -> list[str]:
        return [str(ds.get(keyword, "")) for ds in self.datasets]


def _network_run(command: Sequence[str], output: Path) -> ToolRun:
    output.mkdir(parents=True, exist_ok=True)
    result = run(command)
    files = sorted(path for path in output.iterdir() if path.is_file())
    return ToolRun(result.returncode, result.stderr + result.stdout, files)


def _output_folder(workdir: Path, name: str) -> Path:
    """A new, empty folder for one run's output files."""
    for n in itertools.count(1):
        folder = workdir / f"{name}-{n}"
        if not folder.exists():
            folder.mkdir(parents=True)
            return folder
    raise AssertionError("unreachable")


def storescu(
    address: tuple[str, int], files: Iterable[Path], called: str = "PRINTSCP", calling: str = "STORESCU"
) -> subprocess.CompletedProcess[str]:
    """Send files with C-STORE (storescu proposes the SOP class of each file)."""
    return run(
        [
            tool("storescu"),
            "--verbose",
            "--aetitle",
            calling,
            "--call",
            called,
            address[0],
            str(address[1]),
            *map(str, files),
        ]
    )


def findscu(
    address: tuple[str, int], workdir: Path, model: str, level: str, keys: Mapping[str, str], called: str = "PRINTSCP"
) -> ToolRun:
    """C-FIND with findscu (`model`: "-P" Patient Root or "-S" Study Root); every response identifier
    is extracted to a file (--extract) and read back, in the order they came."""
    output = _output_folder(workdir, "findscu")
    return _network_run(
        [
            tool("findscu"),
            "--verbose",
            model,
            "--aetitle",
            "FINDSCU",
            "--call",
            called,
            "--extract",
            "--output-directory",
            str(output),
            *key_options(level, keys),
            address[0],
            str(address[1]),
        ],
        output,
    )


def getscu(
    address: tuple[str, int], workdir: Path, model: str, level: str, keys: Mapping[str, str], called: str = "PRINTSCP"
) -> ToolRun:
    """C-GET with getscu; the instances it received, read from its output folder."""
    output = _output_folder(workdir, "getscu")
    return _network_run(
        [
            tool("getscu"),
            "--verbose",
            model,
            "--aetitle",
            "GETSCU",
            "--call",
            called,
            "--output-directory",
            str(output),
            *key_options(level, keys),
            address[0],
            str(address[1]),
        ],
        output,
    )


def movescu(
    address: tuple[str, int],
    model: str,
    level: str,
    keys: Mapping[str, str],
    destination: str,
    called: str = "PRINTSCP",
) -> subprocess.CompletedProcess[str]:
    """C-MOVE with movescu to the AE title `destination` (movescu itself receives nothing); --debug, so
    that every response's DIMSE Status is in the log as hex (see dimse_statuses)."""
    return run(
        [
            tool("movescu"),
            "--debug",
            model,
            "--aetitle",
            "MOVESCU",
            "--call",
            called,
            "--move",
            destination,
            *key_options(level, keys),
            address[0],
            str(address[1]),
        ]
    )


def dimse_statuses(text: str) -> list[int]:
    """Every DIMSE Status of a tool's --debug log, in order ("DIMSE Status : 0xa801: Refused ...")."""
    return [int(value, 16) for value in re.findall(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})", text)]


class DcmtkServer:
    """A DCMTK SCP process on a loopback port, its output in a log file; a context manager that stops it.
    `start` returns once the port accepts TCP connections (polled), or fails with the log."""

    name = "dcmtk"

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 10) -> Any:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=dcmtk_environment()
            )
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, f"{self.name} did not listen on {self.port}:\n{self.text()}"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class StoreSCP(DcmtkServer):
    """DCMTK's storescp on a loopback port, receiving into `folder`; a context manager that stops it."""

    name = "storescp"

    def __init__(self, folder: Path, port: int, ae_title: str = "STORESCP", options: Sequence[str] = ()) -> None:
        """`options`: more storescp options, e.g. +tls KEY CERT +cf CA for a TLS node."""
        super().__init__(port, folder.with_name(f"{folder.name}.log"))
        self.folder, self.ae_title, self.options = folder, ae_title, list(options)

    def command(self) -> list[str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        return [
            tool("storescp"),
            "--verbose",
            "--aetitle",
            self.ae_title,
            "--output-directory",
            str(self.folder),
            *self.options,
            str(self.port),
        ]

    def start(self, timeout: float = 10) -> StoreSCP:
        started: StoreSCP = super().start(timeout)
        return started

    def received(self) -> list[Path]:
        return sorted(path for path in self.folder.iterdir() if path.is_file())

    def wait_for(self, count: int, timeout: float) -> list[Dataset]:
        """The instances received, once there are `count` complete files (polling, up to `timeout` s)."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.received()
            if len(files) >= count:
                try:  # storescp writes a file in place: a partly written one does not read yet
                    return [dcmread(path) for path in files]
                except Exception:
                    pass
            assert time.monotonic() < deadline, (
                f"storescp received {len(files)} of {count} instance(s) in {timeout} s:\n{self.text()[-3000:]}"
            )
            time.sleep(0.05)
