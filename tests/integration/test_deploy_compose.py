"""deploy/docker-compose.yml without Docker (no engine runs here): the commands its `migrate` and `node`
services run, taken from the file as written, run on this machine with deploy/cluster.toml, with only what a
container changes replaced (the host names `postgres`, the /archive volume and /etc/printscp). So the
shipped config and the services' commands are proven to make a working cluster: `db upgrade` once, then two
nodes that print and see each other. The image build and Docker's networking are not tested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from postgres import PostgresServer
from serve import printscp
from test_cluster_queue import archived, print_without_events
from waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
_LISTENING = re.compile(r"listening on [\d.]+:(\d+)")


def service_commands() -> dict[str, str]:
    """The `sh -c` command of each build block of docker-compose.yml: "migrate" and the nodes' ("node")."""
    text = (DEPLOY / "docker-compose.yml").read_text()
    commands = re.findall(r"(?m)^\s+- (sed .*)$", text)
    assert len(commands) == 2, commands  # x-node's command, then migrate's
    node, migrate = commands
    return {"node": node.replace("$$", "$"), "migrate": migrate.replace("$$", "$")}  # compose's $$ is a $


def test_the_compose_files_commands_and_cluster_toml_make_a_cluster(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.database(upgraded=False)  # migrate makes the schema, as in the compose file
    user_host_and_db = url.split("://", 1)[1]
    etc, archive = tmp_path / "etc", tmp_path / "archive"
    etc.mkdir()
    config = (DEPLOY / "cluster.toml").read_text()
    assert 'url = "postgresql://printscp@postgres:5432/printscp"' in config
    config = config.replace("printscp@postgres:5432/printscp", user_host_and_db).replace('"/archive"', f'"{archive}"')
    config = config.replace('host = "0.0.0.0"', 'host = "127.0.0.1"').replace("port = 11112", "port = 0")
    (etc / "cluster.toml").write_text(config)
    bin_folder = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_folder}:{os.environ['PATH']}"}

    def as_here(command: str, node: str) -> str:
        return command.replace("/etc/printscp/", f"{etc}/").replace("/tmp/config.toml", f"{tmp_path}/{node}.toml")

    migrate = subprocess.run(
        ["sh", "-c", as_here(service_commands()["migrate"], "migrate")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "upgraded to schema version" in migrate.stdout

    nodes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for name in ("node1", "node2"):
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as output:
                process = subprocess.Popen(
                    ["sh", "-c", as_here(service_commands()["node"], name)],
                    env={**environment, "NODE_ID": name},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            nodes.append((process, log))
            wait_until(lambda log=log: _LISTENING.search(log.read_text(errors="replace")), 60, f"{name} listens")
        ports = [int(_LISTENING.findall(log.read_text())[-1]) for _, log in nodes]
        jobs = [print_without_events(port) for port in ports]
        wait_until(lambda: sorted(archived(archive)) == sorted(jobs), 60, "both films in the shared archive")
        listed = printscp("node", "list", "--config", str(tmp_path / "node1.toml"))
        assert listed.returncode == 0, listed.stderr
        states = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
        assert states == {"node1": "alive", "node2": "alive"}
    finally:
        for process, _ in nodes:
            process.terminate()  # exec'd: sh is printscp itself, SIGTERM stops it as `docker stop` does
            assert process.wait(60) == 0
