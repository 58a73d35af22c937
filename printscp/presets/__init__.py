"""Vendor printer presets: each `<NAME>.toml` here is a `[printers.AE]` table of config.toml.

A preset carries one real printer's film sizes, formats, densities, defaults and quirks as its vendor's DICOM
conformance statement publishes them (cited at the top of each file), on the `compatible` personality. A
printer in config.toml names it with `preset = "NAME"`; its own keys override the preset's.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any


class PresetError(ValueError):
    """No such preset, or a preset file that cannot be read (a bug of ours: every preset is tested)."""


def preset_names() -> list[str]:
    return sorted(entry.name.removesuffix(".toml") for entry in _folder().iterdir() if entry.name.endswith(".toml"))


def load_preset(name: str) -> dict[str, Any]:
    """The preset's table, as TOML gives it; it names itself as the printer's `preset`."""
    if name not in preset_names():
        raise PresetError(f"'{name}' is not a printer preset")
    try:
        table = tomllib.loads(_folder().joinpath(f"{name}.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"preset {name} cannot be read: {exc}") from exc
    return {**table, "preset": name}


def _folder() -> Any:
    return resources.files(__name__)


def preset_header(name: str) -> tuple[str, ...]:
    """The leading comment block of a preset's file, '#' taken off: the vendor conformance statement it cites.

    Empty when there is no such preset (yet) or its file starts with no comment."""
    if name not in preset_names():
        return ()
    lines = []
    for line in _folder().joinpath(f"{name}.toml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.removeprefix("#").strip())
    return tuple(lines)
