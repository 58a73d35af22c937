"""The identity sources of `[identity]`, made real for one print job in a render worker (printing.py).

`IdentitySettings` is what the server hands the worker (picklable: no sockets, no SSL context); `identify`
builds the sources it names and runs `resolve`. A source that fails (a worklist down, Tesseract missing or
crashing) is absent for that job, never a failed print: the identity is then what the other sources say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from printscp.config import Config, IdentityConfig, Node, TlsConfig
from printscp.identity import ocr, patterns, query
from printscp.identity.model import Identity, from_proposed_study
from printscp.identity.resolve import Sources, resolve
from printscp.model.record import PrintRequest

log = logging.getLogger(__name__)

OCR_IMAGES = 1  # images of a job read by OCR: a modality burns the same text into each (~50 ms of Tesseract)


@dataclass(frozen=True)
class IdentitySettings:
    config: IdentityConfig
    our_ae_title: str
    worklist: Node | None
    pacs: Node | None
    tls: TlsConfig | None  # for nodes with tls = true

    def without_ocr(self) -> IdentitySettings:
        return replace(self, config=replace(self.config, ocr=False))

    @classmethod
    def of(cls, config: Config) -> IdentitySettings:
        identity = config.identity
        return cls(
            identity,
            config.network.ae_title,
            config.nodes.get(identity.worklist) if identity.worklist else None,
            config.nodes.get(identity.pacs) if identity.pacs else None,
            config.tls,
        )


def identify(request: PrintRequest, settings: IdentitySettings) -> Identity:
    """Whose films a print job's are; never raises (the print goes on with what is known)."""
    try:
        return resolve(request, sources(settings, request.calling_ae_title))
    except Exception:
        log.exception("the identity of a print from %s could not be decided", request.calling_ae_title)
        return from_proposed_study(request)


def sources(settings: IdentitySettings, calling_ae_title: str) -> Sources:
    config = settings.config
    context = None
    if any(node is not None and node.tls for node in (settings.worklist, settings.pacs)):
        from printscp.net.tls import node_client_context

        context = node_client_context(settings.tls)
    templates = config.ocr_patterns.get(calling_ae_title) or config.ocr_patterns.get("*") or ()

    def labels(texts: Sequence[str]) -> Identity:
        return patterns.match(config.label_patterns, "\n".join(texts))

    def worklist(calling: str, printed_at: datetime) -> list[Identity]:
        assert settings.worklist is not None
        return query.worklist(
            settings.worklist,
            config.worklist,
            settings.our_ae_title,
            calling,
            printed_at,
            config.window_minutes,
            context,
        )

    def pacs(calling: str, printed_at: datetime) -> list[Identity]:
        assert settings.pacs is not None
        station = config.stations.get(calling, calling)
        return query.pacs(
            settings.pacs, config.pacs, settings.our_ae_title, station, printed_at, config.window_minutes, context
        )

    def read(images: Sequence[tuple[np.ndarray, int]]) -> Identity:
        # one image: a modality burns the same text into every image, and each read costs ~50 ms of Tesseract
        return ocr.identify(images[:OCR_IMAGES], templates or ocr.DEFAULT_TEMPLATES)

    return Sources(
        labels=labels if config.label_patterns else None,
        worklist=worklist if settings.worklist is not None else None,
        pacs=pacs if settings.pacs is not None else None,
        ocr=read if config.ocr and ocr.available() else None,
    )
