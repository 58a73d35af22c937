"""DCMTK's print SCP, dcmprscp, started by a test on a free port with its own config and database.

    with start_dcmprscp(tmp_path / "target", supports_12_bit=False) as target:
        ... print to target.address, called target.ae_title ...
        stored = target.stored()  # the Stored Print and Hardcopy Grayscale objects it wrote

dcmprscp binds 0.0.0.0 and ignores the called AE title (notes/dcmtk-print-client.md). It stores a Hardcopy
Grayscale image (retired 1.2.840.10008.5.1.1.29) at every Image Box N-SET and a Stored Print (retired
1.2.840.10008.5.1.1.27) at every N-ACTION; the Film Session's attributes show only in its log.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dcmtk import IHEFULL, dcmtk_environment, free_port, tool, write_config
from pydicom import dcmread
from pydicom.dataset import Dataset
from waiting import wait_until

DCMPRSCP_AE = "DCMPRSCP"
STORED_PRINT = "1.2.840.10008.5.1.1.27"  # retired Stored Print Storage
HARDCOPY_GRAYSCALE = "1.2.840.10008.5.1.1.29"  # retired Hardcopy Grayscale Image Storage


@dataclass
class Dcmprscp:
    process: subprocess.Popen[bytes]
    port: int
    ae_title: str
    database: Path
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def text(self) -> str:
        """Its log so far (--verbose)."""
        return self.log.read_text(errors="replace")

    def stored(self) -> list[Dataset]:
        """Every object in its database folder, oldest file name first."""
        return [dcmread(path) for path in sorted(self.database.glob("*.dcm"))]

    def stored_prints(self) -> list[Dataset]:
        return [ds for ds in self.stored() if ds.SOPClassUID == STORED_PRINT]

    def hardcopies(self) -> list[Dataset]:
        return [ds for ds in self.stored() if ds.SOPClassUID == HARDCOPY_GRAYSCALE]


@contextmanager
def start_dcmprscp(
    folder: Path,
    *,
    ae_title: str = DCMPRSCP_AE,
    supports_12_bit: bool = True,
    supports_presentation_lut: bool = True,
    display_formats: Sequence[str] = ("1,1", "2,2"),
    film_sizes: Sequence[str] = ("8INX10IN", "14INX17IN"),
    medium_types: Sequence[str] = ("PAPER", "BLUE FILM"),
    film_destinations: Sequence[str] = ("MAGAZINE", "PROCESSOR"),
    magnification_types: Sequence[str] = ("REPLICATE", "BILINEAR", "CUBIC", "NONE"),
    min_density: int = 20,
    max_density: int = 320,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Dcmprscp]:
    """dcmprscp with its own config and database in `folder` on a free port: the IHEFULL profile with these
    lists (DCMTK's LOCALPRINTER keys; `settings` adds or overrides any), stopped when the block ends."""
    port = free_port()
    database = folder / "database"
    section = {
        "Type": "LOCALPRINTER",
        "Hostname": "localhost",
        "Port": str(port),
        "Aetitle": ae_title,
        "Description": "DCMTK print SCP",
        **IHEFULL,
        "Supports12Bit": "true" if supports_12_bit else "false",
        "SupportsPresentationLUT": "true" if supports_presentation_lut else "false",
        "DisplayFormat": "\\".join(display_formats),
        "FilmSizeID": "\\".join(film_sizes),
        "MediumType": "\\".join(medium_types),
        "FilmDestination": "\\".join(film_destinations),
        "MagnificationType": "\\".join(magnification_types),
        "BorderDensity": "BLACK\\WHITE",
        "EmptyImageDensity": "BLACK\\WHITE",
        "MaxDensity": str(max_density),
        "MinDensity": str(min_density),
        **(settings or {}),
    }
    config = write_config(folder / "dcmprscp.cfg", database, {"DCMPRSCP": section}, ae_title)
    (folder / "spool").mkdir(exist_ok=True)
    log = folder / "dcmprscp.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [tool("dcmprscp"), "--verbose", "--config", str(config), "--printer", "DCMPRSCP"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dcmtk_environment(),
        )
    server = Dcmprscp(process, port, ae_title, database, log)

    def listening() -> bool:
        assert process.poll() is None, f"dcmprscp exited:\n{server.text()}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, 30, "dcmprscp listening")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
