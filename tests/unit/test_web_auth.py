"""Users, sessions, HTTP Basic, the event hub and the refusal rule of /metrics, without sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from pathlib import Path

import pytest

from printscp.metrics import refused
from printscp.web import auth as auth_module
from printscp.web.auth import Authenticator, csrf_ok
from printscp.web.hub import CLOSED, QUEUE_SIZE, EventHub
from printscp.web.users import User, Users, UsersError, check_password, hash_password


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_password_hashes_are_salted_scrypt_and_checked() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert check_password("correct horse", first) and check_password("correct horse", second)
    assert not check_password("correct hors", first)
    assert not check_password("x", "md5$abc") and not check_password("x", "scrypt$broken")


def test_users_file_round_trip_and_rules(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.json")
    assert users.names() == {} and users.verify("ada", "whatever-pass") is None
    assert users.add("ada", "admin", "ada-password") is True
    assert users.add("vic", "viewer", "vic-password") is True
    assert users.add("vic", "admin", "new-password") is False  # changed, not added
    again = Users(tmp_path / "users.json")  # another process reading the file
    assert again.names() == {"ada": "admin", "vic": "admin"}
    assert again.verify("vic", "new-password") == User("vic", "admin")
    assert again.verify("vic", "vic-password") is None
    assert os.stat(users.path).st_mode & 0o777 == 0o600
    for name, role, password, why in (
        ("", "admin", "long-enough", "user name"),
        ("a b", "admin", "long-enough", "user name"),
        ("ok", "root", "long-enough", "role"),
        ("ok", "viewer", "short", "at least 8"),
    ):
        with pytest.raises(UsersError, match=why):
            users.add(name, role, password)
    users.remove("vic")
    assert Users(users.path).names() == {"ada": "admin"}
    with pytest.raises(UsersError, match="no user"):
        users.remove("vic")


def test_a_users_file_broken_while_serving_keeps_the_users_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users = Users(tmp_path / "users.json")
    users.add("ada", "admin", "ada-password")
    assert users.names() == {"ada": "admin"}
    users.path.write_text("{not json")
    with caplog.at_level(logging.ERROR):
        assert users.names() == {"ada": "admin"}
    assert "not a printscp users file" in caplog.text
    with pytest.raises(UsersError, match="not a printscp users file"):  # but a fresh reader is told
        Users(users.path).names()
    users.path.write_text(json.dumps({"users": [{"name": "x", "role": "god", "password": "p"}]}))
    with pytest.raises(UsersError, match="role 'god'"):
        Users(users.path).names()


def test_sessions_expire_and_follow_the_users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = Users(tmp_path / "users.json")
    users.add("ada", "admin", "ada-password")
    authenticator = Authenticator(users, session_seconds=60)
    assert authenticator.login("ada", "wrong-password") is None
    session = authenticator.login("ada", "ada-password")
    assert session is not None and session.user == User("ada", "admin")
    assert authenticator.session(session.token) is not None and authenticator.session("forged") is None
    assert csrf_ok(session, session.csrf_token) and not csrf_ok(session, "x") and not csrf_ok(session, None)
    users.add("ada", "viewer", "ada-password")  # demoted: the session follows at once
    demoted = authenticator.session(session.token)
    assert demoted is not None and demoted.user.role == "viewer"
    users.remove("ada")
    assert authenticator.session(session.token) is None
    users.add("ada", "admin", "ada-password")
    later = authenticator.login("ada", "ada-password")
    assert later is not None
    clock = auth_module.time.monotonic() + 61
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: clock)
    assert authenticator.session(later.token) is None  # expired


def test_basic_credentials_are_remembered_only_for_the_same_users_file(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.json")
    users.add("ada", "admin", "ada-password")
    authenticator = Authenticator(users, session_seconds=60)
    assert authenticator.basic(basic("ada", "ada-password")) == User("ada", "admin")
    assert authenticator.basic(basic("ada", "ada-password")) == User("ada", "admin")  # remembered
    assert authenticator.basic(basic("ada", "wrong")) is None
    assert authenticator.basic("Basic !!!not base64") is None and authenticator.basic("Bearer x") is None
    assert authenticator.basic(None) is None
    users.add("ada", "admin", "changed-password")  # the file changed: the remembered check is void
    assert authenticator.basic(basic("ada", "ada-password")) is None
    assert authenticator.basic(basic("ada", "changed-password")) == User("ada", "admin")


def test_the_hub_delivers_across_threads_and_ends_slow_streams() -> None:
    hub = EventHub()

    async def scenario() -> tuple[list[str], list[str]]:
        reader = hub.subscribe()
        await asyncio.to_thread(hub.publish, "film", {"id": "1.2", "name": "Müller"})  # from another thread
        first = await asyncio.wait_for(reader.get(), 5)
        hub.unsubscribe(reader)
        slow = hub.subscribe()
        for n in range(QUEUE_SIZE + 1):  # nobody reads `slow`
            hub.publish("printer", {"n": n})
        await asyncio.sleep(0)  # let the loop run the queued puts
        drained = []
        while not slow.empty():
            drained.append(slow.get_nowait())
        return [first], drained

    (first,), drained = asyncio.run(scenario())
    assert first == 'event: film\ndata: {"id": "1.2", "name": "Müller"}\n\n'
    assert CLOSED in drained  # the slow stream is told to end (its browser reconnects), and is dropped
    assert hub.subscribers == 0


@pytest.mark.parametrize(
    ("status", "is_refused"),
    [
        (0x0000, False),
        (0xB600, False),  # warning
        (0x0107, False),
        (0x0116, False),
        (0xFF00, False),  # pending
        (0x0110, True),
        (0x0112, True),
        (0x0106, True),
        (0xC616, True),
        (0xA700, True),
    ],
)
def test_which_statuses_count_as_refused(status: int, is_refused: bool) -> None:
    assert refused(status) is is_refused
