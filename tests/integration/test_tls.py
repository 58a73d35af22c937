"""DICOM TLS (PS3.15 B.1), tested from outside: DCMTK's echoscu, dcmprscu and storescp over TLS against a
test PKI made with openssl, a plain-TCP client and a stranger's certificate refused and logged, a client
that never sends a ClientHello blocking nobody, `printscp echo --tls`, and bad TLS files refused by
`printscp serve` in one line."""

from __future__ import annotations

import dataclasses
import logging
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import BUNDLED_CONFIG
from dcmtk import (
    DcmtkPrintClient,
    Pki,
    StoreSCP,
    dcmtk_tls_settings,
    free_port,
    make_pki,
    run,
    split_pixels,
    tool,
    write_image,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove
from waiting import wait_until

from printscp import uids
from printscp.config import ArchiveConfig, ConfigError, IdentityConfig, Node, TlsConfig, load_config
from printscp.net import tls

pytestmark = pytest.mark.dcmtk

FORWARD_ANONYMOUS = IdentityConfig(ocr=False, unconfirmed="forward")
REPO = Path(__file__).resolve().parents[2]
StartServer = Callable[..., Any]  # conftest.start_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_config(pki: Pki, require_client_certificate: bool = False) -> TlsConfig:
    return TlsConfig(pki.pem("server"), pki.key("server"), pki.pem("ca"), require_client_certificate)


def echoscu(port: int, *options: str) -> subprocess.CompletedProcess[str]:
    return run([tool("echoscu"), "-aec", "PRINTSCP", *options, "127.0.0.1", str(port)])


def echoscu_tls(pki: Pki, port: int, client: str = "client") -> subprocess.CompletedProcess[str]:
    return echoscu(port, "+tls", str(pki.key(client)), str(pki.pem(client)), "+cf", str(pki.pem("ca")))


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("TLS connection from 127.0.0.1")]


def pynetdicom_tls_echo(address: tuple[str, int], pki: Pki) -> int | None:
    """C-ECHO over TLS with pynetdicom and our client context; the status, None if no association."""
    ae = AE("TLS_ECHO")
    ae.add_requested_context(uids.VERIFICATION)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.connection_timeout = 5  # the TCP connect and the TLS handshake
    context = tls.client_context(pki.pem("ca"), pki.pem("client"), pki.key("client"))
    assoc = ae.associate(*address, ae_title="PRINTSCP", tls_args=(context, None))  # type: ignore[arg-type]
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo()
    assoc.release()
    return int(status.Status) if status is not None and "Status" in status else None


# --- the listener ------------------------------------------------------------------------------------------


def test_echoscu_over_tls_succeeds_and_plain_tcp_fails_cleanly(
    start_server: StartServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = start_server(sections={"tls": tls_config(pki)})
    result = echoscu_tls(pki, server.port)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: any("C-ECHO from ECHOSCU" in r.getMessage() for r in caplog.records), 10, "the C-ECHO logged")

    plain = echoscu(server.port)  # an A-ASSOCIATE-RQ in clear text to the TLS port
    assert plain.returncode != 0 and "Association Request Failed" in plain.stderr, plain.stderr
    wait_until(lambda: refusals(caplog), 10, "the plain-TCP client's refusal logged")
    assert "WRONG_VERSION_NUMBER" in refusals(caplog)[0] or "wrong version" in refusals(caplog)[0]
    assert server.server.active_engines == 0  # no association was made of it

    again = echoscu_tls(pki, server.port)  # and the server goes on serving
    assert again.returncode == 0, again.stderr


def test_anonymous_client_is_served_unless_a_client_certificate_is_required(
    start_server: StartServer, pki: Pki
) -> None:
    lenient = start_server(sections={"tls": tls_config(pki)})
    strict = start_server(sections={"tls": tls_config(pki, require_client_certificate=True)})
    anonymous = ["+tla", "+cf", str(pki.pem("ca"))]
    assert echoscu(lenient.port, *anonymous).returncode == 0
    assert echoscu(strict.port, *anonymous).returncode != 0


def test_a_client_certificate_from_another_ca_is_refused_and_logged(
    start_server: StartServer, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_server(sections={"tls": tls_config(pki, require_client_certificate=True)})
    stranger = echoscu_tls(pki, server.port, client="stranger")
    assert stranger.returncode != 0, stranger.stdout + stranger.stderr
    wait_until(lambda: refusals(caplog), 10, "the stranger's refusal logged")
    assert "certificate verify failed" in refusals(caplog)[0], refusals(caplog)
    assert echoscu_tls(pki, server.port, client="client").returncode == 0  # our CA's client is let in


def test_a_client_that_never_says_hello_blocks_nobody_and_is_closed_after_the_timeout(
    start_server: StartServer, pki: Pki, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeout = 2.0  # the handshake's ARTIM timeout, short for the test
    network = dataclasses.replace(load_config(BUNDLED_CONFIG).network, artim_timeout=timeout)
    server = start_server(sections={"tls": tls_config(pki), "network": network})
    silent = socket.create_connection(server.address)
    connected = time.monotonic()
    try:
        # pynetdicom's own server would be stuck in the silent client's handshake, in its accept thread
        assert pynetdicom_tls_echo(server.address, pki) == 0x0000
        readable, _, _ = select.select([silent], [], [], 0)
        assert not readable, "the echo only got through once the silent connection was closed"
        assert time.monotonic() - connected < timeout

        silent.settimeout(timeout * 5)
        assert silent.recv(1) == b"", "the server closes the silent connection"
        elapsed = time.monotonic() - connected
        assert timeout * 0.9 <= elapsed < timeout * 5, elapsed
    finally:
        silent.close()
    wait_until(lambda: refusals(caplog), 10, "the timeout logged")
    assert f"no handshake within {timeout:g} s" in refusals(caplog)[0]


def test_printscp_echo_over_tls(start_server: StartServer, pki: Pki) -> None:
    server = start_server(sections={"tls": tls_config(pki, require_client_certificate=True)})

    def echo(*options: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "printscp", "echo", "127.0.0.1", str(server.port), *options]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO, check=False)

    client = ["--cert", str(pki.pem("client")), "--key", str(pki.key("client"))]
    ok = echo("--tls", "--ca", str(pki.pem("ca")), *client)
    assert ok.returncode == 0 and "success" in ok.stdout, ok.stderr
    wrong_ca = echo("--tls", "--ca", str(pki.pem("other_ca")), *client)  # we do not trust the server
    assert wrong_ca.returncode == 1 and "association failed" in wrong_ca.stderr
    assert "Traceback" not in wrong_ca.stderr
    plain = echo()
    assert plain.returncode == 1
    bad_key = echo("--tls", "--ca", str(pki.pem("ca")), "--cert", str(pki.pem("client")), "--key", str(pki.pem("ca")))
    assert bad_key.returncode == 2 and "--key" in bad_key.stderr and "Traceback" not in bad_key.stderr


# --- a print job over TLS, forwarded to a TLS node ------------------------------------------------------------


def test_dcmprscu_prints_over_tls_and_the_film_is_forwarded_to_a_tls_node(
    start_server: StartServer, pki: Pki, tmp_path: Path
) -> None:
    port = free_port()
    node_tls = ["+tls", str(pki.key("server")), str(pki.pem("server")), "+cf", str(pki.pem("ca")), "-rc"]
    with StoreSCP(tmp_path / "pacs", port, ae_title="PACS", options=node_tls) as pacs:
        server = start_server(
            # dcmprscu names no patient: forwarded as it is, not held for review
            sections={"tls": tls_config(pki, require_client_certificate=True), "identity": FORWARD_ANONYMOUS},
            nodes={"PACS": Node("127.0.0.1", port, tls=True)},
            archive=ArchiveConfig(tmp_path / "films", forward_to=("PACS",)),
        )
        image = write_image(tmp_path / "split.dcm", split_pixels(256, 256, 0, 4095))
        client = DcmtkPrintClient(tmp_path, server.host, server.port, tls=dcmtk_tls_settings(pki))
        log = client.print([image])
        assert log.printed, log.summary()
        jobs = server.jobs()
        assert len(jobs) == 1
        (received,) = pacs.wait_for(1, timeout=30)  # C-STORE over TLS, our certificate required by the node
        assert received.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF
        assert "TLS" in pacs.text() or "tls" in pacs.text().lower()

    plain_client = DcmtkPrintClient(tmp_path / "plain", server.host, server.port)
    assert not plain_client.print([image]).printed  # the print port speaks TLS only


def test_c_move_sub_operations_go_over_tls_to_a_tls_node(start_server: StartServer, pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    node_tls = ["+tls", str(pki.key("server")), str(pki.pem("server")), "+cf", str(pki.pem("ca")), "-rc"]
    with StoreSCP(tmp_path / "pacs", port, ae_title="PACS", options=node_tls) as pacs:
        # the node requires a client certificate (-rc): we show [tls]'s
        server = start_server(
            sections={"tls": tls_config(pki)},
            nodes={"PACS": Node("127.0.0.1", port, tls=True)},
        )
        image = write_image(tmp_path / "instance.dcm", split_pixels(64, 64, 0, 4095))
        study = str(dcmread(image).StudyInstanceUID)
        tls_options = ["+tls", str(pki.key("client")), str(pki.pem("client")), "+cf", str(pki.pem("ca"))]
        stored = run([tool("storescu"), *tls_options, "--call", "PRINTSCP", "127.0.0.1", str(server.port), str(image)])
        assert stored.returncode == 0, stored.stderr
        # movescu has no TLS: pynetdicom asks for the C-MOVE
        ae = AE("MOVESCU")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        context = tls.client_context(pki.pem("ca"), pki.pem("client"), pki.key("client"))
        assoc = ae.associate(*server.address, ae_title="PRINTSCP", tls_args=(context, None))  # type: ignore[arg-type]
        assert assoc.is_established
        query = Dataset()
        query.QueryRetrieveLevel, query.StudyInstanceUID = "STUDY", study
        statuses = [
            int(status.Status)
            for status, _ in assoc.send_c_move(query, "PACS", StudyRootQueryRetrieveInformationModelMove)
        ]
        assoc.release()
        assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
        (received,) = pacs.wait_for(1, timeout=30)
        assert str(received.StudyInstanceUID) == study


# --- bad TLS files: one line, exit 2 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate", "private_key", "expected"),
    [
        ("missing.pem", "server.key", "tls.certificate: cannot read {folder}/missing.pem: No such file"),
        ("junk.pem", "server.key", "tls.certificate: {folder}/junk.pem holds no PEM certificate"),
        ("server.pem", "client.key", "tls.private_key: {folder}/client.key is not the key of {folder}/server.pem"),
        ("server.pem", "junk.pem", "tls.private_key: {folder}/junk.pem is not an unencrypted PEM private key"),
    ],
)
def test_serve_refuses_a_bad_certificate_or_key_in_one_line(
    pki: Pki, tmp_path: Path, certificate: str, private_key: str, expected: str
) -> None:
    (pki.folder / "junk.pem").write_text("not a certificate\n")
    config = tmp_path / "tls.toml"
    config.write_text(
        f'[network]\nhost = "127.0.0.1"\nport = 0\n[archive]\nfolder = "{tmp_path / "films"}"\n'
        f'[tls]\ncertificate = "{pki.folder / certificate}"\nprivate_key = "{pki.folder / private_key}"\n'
    )
    command = [sys.executable, "-m", "printscp", "serve", "--no-web", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected.format(folder=pki.folder) in lines[0]
    assert not (tmp_path / "films").exists()  # nothing started


def test_tls_config_keys_paths_and_rules(tmp_path: Path) -> None:
    config = tmp_path / "printscp.toml"
    config.write_text(
        '[tls]\ncertificate = "certs/server.pem"\nprivate_key = "/etc/printscp/server.key"\n'
        'ca_certificates = "certs/ca.pem"\n[nodes.PACS]\nhost = "pacs"\nport = 104\ntls = true\n'
    )
    loaded = load_config(config)
    assert loaded.tls == TlsConfig(
        tmp_path / "certs/server.pem", Path("/etc/printscp/server.key"), tmp_path / "certs/ca.pem", False
    )  # relative to the file, like the archive folder
    assert loaded.nodes["PACS"].tls and load_config(None).tls is None
    config.write_text('[tls]\ncertificate = "server.pem"\n')
    with pytest.raises(ConfigError, match=r"^tls\.private_key: required$"):
        load_config(config)
    config.write_text('[tls]\ncertificate = "a.pem"\nprivate_key = "a.key"\nrequire_client_certificate = true\n')
    with pytest.raises(ConfigError, match=r"^tls\.require_client_certificate: needs tls\.ca_certificates"):
        load_config(config)
