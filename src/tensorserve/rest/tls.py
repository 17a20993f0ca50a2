"""TLS for the REST port: ``--rest_ssl_config_file`` (the ``SSLConfig`` text proto gRPC uses)."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from tensorserve.config.text_protos import SslConfig


def server_ssl_context(config: SslConfig) -> ssl.SSLContext:
    """A server-side TLS context from PEM text: ``client_verify`` requires client
    certificates signed by ``custom_ca``. The key touches disk only in a 0600 file
    of a private temporary directory, removed before this returns."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_text(config.server_cert)
        key.touch(mode=0o600)
        key.write_text(config.server_key)
        context.load_cert_chain(cert, key)
    if config.custom_ca:
        context.load_verify_locations(cadata=config.custom_ca)
    if config.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    return context
