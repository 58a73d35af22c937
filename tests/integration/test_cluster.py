"""printscp nodes behind HAProxy on one machine (tests/cluster.py): the health check is a real C-ECHO, HAProxy
spreads associations over the nodes, and a node killed with SIGKILL falls out of the rotation.

These run in single-node mode: every node has its own archive folder and index, so a film is printed by the
node its association landed on, and "exactly once" is counted over the sum of the archives. The acceptance
test of issue 18 in cluster mode (one shared archive, one database, a node killed in the middle of printing)
is tests/integration/test_cluster_acceptance.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from cluster import (
    REPO,
    Backend,
    Cluster,
    Film,
    HAProxy,
    associate_rq,
    c_echo_rq,
    dicom_check_lines,
    print_round,
    wait_for,
)
from dcmtk import write_image
from pynetdicom.pdu import A_ASSOCIATE_RQ, P_DATA_TF

pytestmark = pytest.mark.dcmtk

CLIENTS, FILMS = 8, 2
ARCHIVE_TIMEOUT = 120.0  # seconds for every accepted film to reach an archive (2 cores, shared)


def image(folder: Path) -> Path:
    pixels = (np.add.outer(np.arange(256), np.arange(256)) * 8 % 4096).astype(np.uint16)
    return write_image(folder / "source.dcm", pixels)


def check_round(cluster: Cluster, films: list[Film], prefix: str) -> Counter[str]:
    """Every film of the round printed, and in the archives exactly once (by calling AE title and job UID);
    the number of this round's films per node."""
    failed = [film.log.summary() for film in films if not film.printed]  # type: ignore[attr-defined]
    assert not failed, "\n\n".join(failed[:3]) + cluster.logs()
    mine = lambda: [job for job in cluster.jobs() if str(job["calling_ae_title"]).startswith(prefix)]  # noqa: E731
    wait_for(lambda: len(mine()) >= len(films), ARCHIVE_TIMEOUT, f"{len(films)} films of {prefix} archived")
    jobs = mine()
    sent = Counter(film.calling_ae_title for film in films)
    archived = Counter(str(job["calling_ae_title"]) for job in jobs)
    assert archived == sent, (archived, sent)  # each client's films, each exactly once
    uids = Counter(str(job["print_job_uid"]) for job in jobs)
    assert max(uids.values()) == 1, uids
    boxes = cluster.archived_film_boxes(prefix)  # the very film boxes the N-ACTIONs printed, once each
    assert boxes == Counter(str(film.film_box_uid) for film in films), boxes
    return Counter(str(job["_node"]) for job in jobs)


def test_haproxy_spreads_associations_and_drops_a_killed_node(tmp_path: Path) -> None:
    images = [image(tmp_path)] * 4
    with Cluster(tmp_path / "cluster", nodes_count=3) as cluster:
        assert cluster.haproxy is not None
        first = print_round(cluster.address, tmp_path / "round1", CLIENTS, FILMS, "R1", images)
        per_node = check_round(cluster, first.films, "R1")
        assert len(per_node) >= 2, per_node  # leastconn spread 8 simultaneous clients over the nodes
        sessions = {name: int(row["stot"]) for name, row in cluster.haproxy.servers().items()}
        assert sum(1 for count in sessions.values() if count > 0) >= 2, sessions

        victim = per_node.most_common(1)[0][0]
        cluster.kill(victim)
        cluster.haproxy.wait_for_state(victim, "DOWN")
        assert cluster.haproxy.servers()[victim]["check_status"] == "L4CON"  # connection refused
        killed_had = len(list(cluster.node(victim).archive.rglob("manifest.json")))

        second = print_round(cluster.address, tmp_path / "round2", CLIENTS, FILMS, "R2", images)
        per_node = check_round(cluster, second.films, "R2")
        assert victim not in per_node, per_node
        assert len(per_node) == 2, per_node  # both survivors still take associations
        assert len(list(cluster.node(victim).archive.rglob("manifest.json"))) == killed_had

        # every film of both rounds in the index of the node that printed it, once
        archived = cluster.archived_film_boxes()
        assert sum(archived.values()) == 2 * CLIENTS * FILMS
        wait_for(lambda: cluster.indexed_film_boxes() == archived, 30, "every archived film indexed once")


def test_the_health_check_is_a_real_c_echo(tmp_path: Path) -> None:
    """A node whose printer refuses the check's association is DOWN though its port accepts connections; the
    bytes the check sends are what pynetdicom decodes as an A-ASSOCIATE-RQ and a C-ECHO-RQ."""
    rq = A_ASSOCIATE_RQ()
    rq.decode(associate_rq("PRINTSCP"))
    assert (rq.called_ae_title, rq.calling_ae_title) == ("PRINTSCP", "HAPROXY_CHECK")
    (context,) = rq.presentation_context
    assert context.abstract_syntax == "1.2.840.10008.1.1" and context.transfer_syntax == ["1.2.840.10008.1.2"]
    echo = P_DATA_TF()
    echo.decode(c_echo_rq())
    (pdv,) = echo.presentation_data_value_items
    assert pdv.presentation_context_id == 1 and pdv.data[0] == 0x03  # a command, last fragment

    with Cluster(tmp_path / "cluster", nodes_count=1) as cluster:
        assert cluster.haproxy is not None and cluster.haproxy.healthy("node1")
        node = cluster.nodes[0]
        wrong = HAProxy(
            tmp_path / "wrong", [Backend("node1", "127.0.0.1", node.port)], called_ae="NO_SUCH_AE", inter="200ms"
        )
        wrong.start()
        try:
            wait_for(
                lambda: wrong.servers()["node1"]["check_status"].startswith("L7"), 30, "the check with a wrong AE done"
            )
            assert not wrong.healthy("node1")
            wrong.wait_for_state("node1", "DOWN")
        finally:
            wrong.stop()
        assert re.search(r"association rejected: .*NO_SUCH_AE", node.log.read_text())


def test_deploy_haproxy_cfg_checks_with_the_same_bytes() -> None:
    """deploy/haproxy.cfg's health check is the one the tests prove (the same tcp-check rules)."""
    text = (REPO / "deploy" / "haproxy.cfg").read_text()
    rules = [re.sub(r"\s+", " ", line.strip()) for line in text.splitlines() if line.strip().startswith("tcp-check")]
    assert rules == dicom_check_lines("PRINTSCP")
    assert re.search(r"(?m)^\s*balance leastconn", text) and re.search(r"(?m)^\s*mode tcp", text)
    # HAProxy itself accepts it (the node names do not resolve here: those servers wait, disabled)
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    assert binary, "HAProxy is not installed (.ci/setup --test installs it)"
    checked = subprocess.run([binary, "-c", "-f", str(REPO / "deploy" / "haproxy.cfg")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
