"""Who is asking: a console session (cookie) or HTTP Basic, and the CSRF token that state changes carry.

A login makes a session: a random token in an HttpOnly, SameSite=Strict cookie, kept in memory (a restart
logs everyone out) with its own CSRF token, which the console sends back in the X-CSRF-Token header of every
PUT, POST and DELETE. HTTP Basic is for scripts (curl, Prometheus); a credential checked once is remembered
for a few minutes, keyed by its hash and the users file's version, so that scrypt's cost is not paid per
request. Basic state changes need a JSON body or a DELETE, which a cross-site form cannot send without a
CORS preflight that printscp never answers; and any request whose Origin is another site is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from printscp.web.users import User, Users

SESSION_COOKIE = "printscp_session"
CSRF_HEADER = "X-CSRF-Token"
BASIC_REMEMBERED = 300.0  # seconds a checked Basic credential is remembered
_MAX_SESSIONS = 10000  # the oldest go beyond: a login flood cannot fill the memory


@dataclass(frozen=True)
class Session:
    token: str
    user: User
    csrf_token: str
    expires: float  # time.monotonic()


class Authenticator:
    def __init__(self, users: Users, session_seconds: float) -> None:
        self.users = users
        self.session_seconds = session_seconds
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._basic: dict[bytes, tuple[User, float, object]] = {}

    def login(self, name: str, password: str) -> Session | None:
        user = self.users.verify(name, password)
        if user is None:
            return None
        session = Session(
            secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), time.monotonic() + self.session_seconds
        )
        with self._lock:
            self._expire()
            if len(self._sessions) >= _MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[session.token] = session
        return session

    def logout(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie, its user as the users file says now (removed: no session)."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.expires < time.monotonic():
                self._sessions.pop(token, None)
                return None
        user = self.users.user(session.user.name)
        if user is None:
            self.logout(token)
            return None
        return session if user == session.user else Session(session.token, user, session.csrf_token, session.expires)

    def basic(self, authorization: str | None) -> User | None:
        """The user of an `Authorization: Basic ...` header, if the password is right."""
        if not authorization or not authorization[:6].lower() == "basic ":
            return None
        try:
            name, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        version = self.users.version
        now = time.monotonic()
        with self._lock:
            remembered = self._basic.get(key)
        if remembered is not None and remembered[1] > now and remembered[2] == version:
            return remembered[0]
        user = self.users.verify(name, password)
        with self._lock:
            if len(self._basic) > _MAX_SESSIONS:
                self._basic.clear()
            if user is not None:
                self._basic[key] = (user, now + BASIC_REMEMBERED, version)
            else:
                self._basic.pop(key, None)
        return user

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._sessions.items() if s.expires < now]:
            del self._sessions[token]


def csrf_ok(session: Session, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(session.csrf_token.encode(), header.encode())
