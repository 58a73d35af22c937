"""DICOM TLS (PS3.15 B.1): `ssl.SSLContext`s built from `[tls]`, for the listener and for TLS nodes.

The server context speaks TLS 1.2 or later and shows our certificate chain; with
`require_client_certificate` it asks every client for a certificate and refuses one that the
`ca_certificates` did not sign. The client context (printscp echo, forwarding, C-MOVE sub-associations)
verifies the node's certificate against `ca_certificates` (the system's CAs when none are given) and
shows our certificate when we have one. As DCMTK does, the peer is authenticated by its CA, not by its
host name: a node is configured by address, and DICOM certificates seldom name hosts.

A file that cannot be read or is not what its key says raises TlsError (a ConfigError), naming the key,
the file and what is wrong, so that `printscp serve` reports it in one line.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from printscp.config import ConfigError, Node, TlsConfig


class TlsError(ConfigError):
    """A TLS file named in the configuration is missing, unreadable or invalid."""


CONFIG_NAMES = ("tls.certificate", "tls.private_key", "tls.ca_certificates")  # what errors call the files


def server_context(config: TlsConfig) -> ssl.SSLContext:
    """The listener's context: TLS 1.2+, our chain, client certificates checked as configured."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # PS3.15 B.1 via BCP 195: no SSL, TLS 1.0 or 1.1
    _load_chain(context, config.certificate, config.private_key, CONFIG_NAMES)
    if config.ca_certificates is not None:
        _load_cas(context, config.ca_certificates, CONFIG_NAMES[2])
    context.verify_mode = ssl.CERT_REQUIRED if config.require_client_certificate else ssl.CERT_NONE
    return context


def client_context(
    ca_certificates: Path | None,
    certificate: Path | None = None,
    private_key: Path | None = None,
    names: tuple[str, str, str] = CONFIG_NAMES,
) -> ssl.SSLContext:
    """A requestor's context: TLS 1.2+, the peer verified against `ca_certificates` (else the system's CAs),
    our certificate shown when given. `names` call the certificate, key and CA files in errors."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # the CA authenticates the node (see the module docstring)
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_certificates is not None:
        _load_cas(context, ca_certificates, names[2])
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if certificate is not None and private_key is not None:
        _load_chain(context, certificate, private_key, names)
    return context


def node_client_context(config: TlsConfig | None) -> ssl.SSLContext:
    """The context for TLS nodes: `[tls]`'s CAs and our certificate, or the system's CAs without [tls]."""
    if config is None:
        return client_context(None)
    return client_context(config.ca_certificates, config.certificate, config.private_key)


def tls_args(node: Node, context: ssl.SSLContext | None) -> tuple[ssl.SSLContext, str] | None:
    """What `AE.associate(tls_args=...)` takes for this node: None for plain TCP."""
    if not node.tls or context is None:
        return None
    try:
        ipaddress.ip_address(node.host)
        server_hostname = None  # SNI carries host names only
    except ValueError:
        server_hostname = node.host
    return context, server_hostname  # type: ignore[return-value]  # wrap_socket takes None


def _read(path: Path, name: str) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise TlsError(f"{name}: cannot read {path}: {exc.strerror}") from None


def _load_chain(context: ssl.SSLContext, certificate: Path, private_key: Path, names: tuple[str, str, str]) -> None:
    certificate_name, key_name = names[0], names[1]
    _check_certificates(_read(certificate, certificate_name), certificate, certificate_name)
    _read(private_key, key_name)
    try:
        # an encrypted key gets an empty password (and fails) instead of a prompt on the terminal
        context.load_cert_chain(certificate, private_key, password=lambda: b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc.reason):
            raise TlsError(f"{key_name}: {private_key} is not the key of {certificate}") from None
        raise TlsError(f"{key_name}: {private_key} is not an unencrypted PEM private key") from None


def _check_certificates(text: str, path: Path, name: str) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError):
        raise TlsError(f"{name}: {path} holds no PEM certificate") from None


def _load_cas(context: ssl.SSLContext, cas: Path, name: str) -> None:
    _check_certificates(_read(cas, name), cas, name)
    context.load_verify_locations(cafile=cas)
