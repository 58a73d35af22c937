"""The web console's users: a JSON file of names, roles and salted scrypt password hashes.

`printscp user add NAME --role viewer|admin` writes it (mode 0600, replaced in one rename); the server reads
it again whenever it changes, so a user added or removed counts at once, without a restart. A viewer may see
everything; an admin may also change a printer's status and delete films.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# scrypt (RFC 7914) at n=2^14, r=8, p=1: 16 MiB and ~50 ms per check, the parameters OWASP names as a minimum
_N, _R, _P = 2**14, 8, 1


class UsersError(ValueError):
    """A users file or a user's name, role or password is wrong; the message says which."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` (hash_password's text) was made from; constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 1024 * 1024
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Users:
    """The users file, read again when it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, tuple[Role, str]] = {}
        self._read_once = False

    def _current(self) -> dict[str, tuple[Role, str]]:
        try:
            status = self.path.stat()
            stamp: tuple[int, int] | None = (status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._users = _read(self.path) if stamp is not None else {}
                except UsersError as exc:
                    if not self._read_once:
                        raise
                    log.error("%s; the users read before stay in force", exc)  # edited by hand and broken
                self._stamp, self._read_once = stamp, True
            return self._users

    @property
    def version(self) -> tuple[int, int] | None:
        """Changes whenever the file does (cached credential checks are only good for one version)."""
        self._current()
        return self._stamp

    def names(self) -> dict[str, Role]:
        return {name: role for name, (role, _) in self._current().items()}

    def verify(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs; None for an unknown user or a wrong password."""
        entry = self._current().get(name)
        if entry is None:
            check_password(password, _dummy())  # as slow for an unknown name: names cannot be probed by time
            return None
        role, stored = entry
        return User(name, role) if check_password(password, stored) else None

    def user(self, name: str) -> User | None:
        entry = self._current().get(name)
        return User(name, entry[0]) if entry is not None else None

    def add(self, name: str, role: str, password: str) -> bool:
        """Add a user or replace their role and password; True if the user is new."""
        if not _NAME.fullmatch(name):
            raise UsersError(f"user name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-'")
        if role not in ROLES:
            raise UsersError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise UsersError("password: at least 8 characters")
        users = dict(self._current())
        new = name not in users
        users[name] = (role, hash_password(password))
        self._write(users)
        return new

    def remove(self, name: str) -> None:
        users = dict(self._current())
        if name not in users:
            raise UsersError(f"no user {name!r} in {self.path}")
        del users[name]
        self._write(users)

    def _write(self, users: dict[str, tuple[Role, str]]) -> None:
        document = {"users": [{"name": n, "role": r, "password": h} for n, (r, h) in sorted(users.items())]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        self._stamp = None  # read back at the next use


def _read(path: Path) -> dict[str, tuple[Role, str]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        users: dict[str, tuple[Role, str]] = {}
        for entry in document["users"]:
            name, role, stored = str(entry["name"]), entry["role"], str(entry["password"])
            if role not in ROLES:
                raise UsersError(f"{path}: user {name!r} has role {role!r}, not one of {', '.join(ROLES)}")
            users[name] = (role, stored)
        return users
    except OSError as exc:
        raise UsersError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UsersError(f"{path} is not a printscp users file ({exc})") from exc


@functools.cache
def _dummy() -> str:
    return hash_password(secrets.token_urlsafe(16))
