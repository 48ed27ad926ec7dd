"""A certificate authority made per server, and what channel binding needs from it."""
from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from spnego.channel_bindings import GssChannelBindings


@dataclasses.dataclass(frozen=True)
class ServerTls:
    context: ssl.SSLContext
    ca_path: Path  # PEM of the CA: give it to clients as cert_validation
    cert_hash: bytes  # RFC 5929 tls-server-end-point hash of the server certificate

    def channel_bindings(self) -> GssChannelBindings:
        """What the client's NTLM/Negotiate token must be bound to over this TLS channel."""
        return GssChannelBindings(application_data=b"tls-server-end-point:" + self.cert_hash)


def _end_point_hash(cert_der: bytes) -> bytes:
    # RFC 5929 4.1: the certificate's signature hash, except MD5/SHA-1 become SHA-256.
    cert = x509.load_der_x509_certificate(cert_der)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert_der)
    return digest.finalize()


def make_server_tls(directory: Path, host: str) -> ServerTls:
    """Create a fresh CA and a server certificate for ``host`` (plus localhost/127.0.0.1)."""
    names = ["127.0.0.1", "localhost"]
    if host not in names and host not in ("0.0.0.0", "::"):
        names.insert(0, host)
    ca = trustme.CA(organization_name="pytest-nestedhv sim")
    cert = ca.issue_cert(*names)
    ca_path = directory / "sim-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    leaf_pem = cert.cert_chain_pems[0].bytes()
    leaf_der = ssl.PEM_cert_to_DER_cert(leaf_pem.decode("ascii"))
    return ServerTls(context=context, ca_path=ca_path, cert_hash=_end_point_hash(leaf_der))

