"""`printscp serve` with its web console, and `printscp user`: as an operator runs them."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PRINTSCP = [sys.executable, "-m", "printscp"]


def config_in(folder: Path, web_port: int = 0) -> Path:
    config = folder / "config.toml"
    bundled = (REPO / "config.toml").read_text()
    config.write_text(re.sub(r"(?m)^port = 8080", f"port = {web_port}", bundled))
    return config


def user(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PRINTSCP, "user", *args], input=stdin, capture_output=True, text=True, timeout=30)


def test_user_commands_keep_salted_hashes_in_a_private_file(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    added = user("add", "ada", "--role", "admin", "--password-stdin", "--config", str(config), stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    users = tmp_path / "users.json"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    text = users.read_text()
    assert "s3cret-pass" not in text and "scrypt$" in text
    again = user("add", "bob", "--role", "viewer", "--password-stdin", "--config", str(config), stdin="another-pass\n")
    assert again.returncode == 0
    second_hash = user(
        "add", "ada", "--role", "admin", "--password-stdin", "--config", str(config), stdin="s3cret-pass\n"
    )
    assert second_hash.returncode == 0 and "changed" in second_hash.stdout
    assert users.read_text() != text  # a new salt each time
    listed = user("list", "--config", str(config))
    assert listed.stdout.splitlines() == ["ada\tadmin", "bob\tviewer"]
    for args, stdin, why in (
        (["add", "eve", "--role", "admin", "--password-stdin"], "short\n", "at least 8"),
        (["add", "bad name", "--role", "admin", "--password-stdin"], "long-enough\n", "user name"),
        (["remove", "nobody"], "", "no user"),
        (["add", "eve", "--role", "admin"], "", "--password-stdin"),  # no terminal to ask on
    ):
        result = user(*args, "--config", str(config), stdin=stdin)
        assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert user("remove", "bob", "--config", str(config)).returncode == 0
    assert user("list", "--config", str(config)).stdout.splitlines() == ["ada\tadmin"]
    users.write_text("not json")
    broken = user("list", "--config", str(config))
    assert broken.returncode == 2 and "not a printscp users file" in broken.stderr


def test_first_start_makes_an_admin_whose_password_is_logged_once(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    log = tmp_path / "serve.log"
    command = [*PRINTSCP, "serve", "--config", str(config), "--port", "0", "--archive", str(tmp_path / "films")]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stderr=stderr, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"web console on http://127\.0\.0\.1:(\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = f"http://127.0.0.1:{found.group(1)}"
        password = re.search(r"made user 'admin' with password (\S+) ", log.read_text())
        assert password, log.read_text()
        assert httpx.get(f"{url}/api/printers").status_code == 401
        response = httpx.get(f"{url}/api/printers", auth=("admin", password.group(1)))
        assert response.status_code == 200 and response.json()["printers"][0]["ae_title"] == "PRINTSCP"
        assert user("list", "--config", str(config)).stdout.splitlines() == ["admin\tadmin"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0


def test_a_web_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = config_in(tmp_path, port)
        result = subprocess.run(
            [*PRINTSCP, "serve", "--config", str(config), "--port", "0", "--archive", str(tmp_path / "films")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("printscp:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0] and "--web-port" in errors[0], result.stderr
