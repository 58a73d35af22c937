"""Errors that carry their DICOM status, and warnings that travel back as values.

Code deep in the domain raises a PrintError naming the attribute and why; one place in
`net/handlers.py` turns it into a response status with Error Comment and Offending Element.
Any other exception is a bug (pynetdicom answers 0x0110 and we log the traceback).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from printscp.status import Status


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class PrintError(Exception):
    """A failure answered with `status`; `offending` lists the tags at fault."""

    status: Status = Status.PROCESSING_FAILURE

    def __init__(self, message: str, offending: Iterable[int] = (), status: Status | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offending = tuple(offending)
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class MissingAttribute(PrintError):
    status = Status.MISSING_ATTRIBUTE


class MissingAttributeValue(PrintError):
    status = Status.MISSING_ATTRIBUTE_VALUE


class InvalidAttributeValue(PrintError):
    status = Status.INVALID_ATTRIBUTE_VALUE


class NoSuchAttribute(PrintError):
    status = Status.NO_SUCH_ATTRIBUTE


class NoSuchSOPInstance(PrintError):
    status = Status.NO_SUCH_SOP_INSTANCE


class InvalidSOPInstance(PrintError):
    status = Status.INVALID_SOP_INSTANCE


class DuplicateSOPInstance(PrintError):
    status = Status.DUPLICATE_SOP_INSTANCE


class NoSuchSOPClass(PrintError):
    status = Status.NO_SUCH_SOP_CLASS


class ClassInstanceConflict(PrintError):
    status = Status.CLASS_INSTANCE_CONFLICT


class NoSuchAction(PrintError):
    status = Status.NO_SUCH_ACTION


class UnrecognizedOperation(PrintError):
    status = Status.UNRECOGNIZED_OPERATION


class ProcessingFailure(PrintError):
    status = Status.PROCESSING_FAILURE


class QueueFull(Exception):
    """The print queue cannot take another job (PS3.4: C601 for a film session, C602 for a film box)."""


@dataclass(frozen=True)
class PrintWarning:
    """A warning status and its reason; operations return these instead of raising."""

    status: Status
    message: str
    offending: tuple[int, ...] = ()
