"""TLS with mutual authentication on both protocols, with certificates the test makes:
``--ssl_config_file`` (TF Serving's SSLConfig) for gRPC and our
``--rest_ssl_config_file`` (the same format) for REST."""

from __future__ import annotations

import dataclasses
import datetime
import http.client
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, running_server
from tests.support.serving_processes import (
    WORKERS,
    grpc_channel_on_each_process,
    socket_on_each_process,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10.0
MODEL = "half_plus_two"


@dataclasses.dataclass(frozen=True)
class KeyPair:
    """A PEM private key and the PEM certificate for it."""

    key: bytes
    cert: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    common_name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    hosts: tuple[str, ...] = (),
) -> tuple[KeyPair, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``common_name``: self-signed CA when ``issuer`` is None,
    else a leaf signed by ``issuer`` for ``usage`` and ``hosts``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(signer_cert.subject if signer_cert else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(signer_key, hashes.SHA256())
    pair = KeyPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert.public_bytes(serialization.Encoding.PEM),
    )
    return pair, cert, key


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: KeyPair
    server: KeyPair
    client: KeyPair
    stranger: KeyPair
    """A client certificate from a CA the server does not trust."""


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, ca_cert, ca_key = issue("tensorserve test CA", None)
    server, _, _ = issue(
        "localhost",
        (ca_cert, ca_key),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        hosts=("localhost", "127.0.0.1"),
    )
    client, _, _ = issue("client", (ca_cert, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _, other_cert, other_key = issue("other CA", None)
    stranger, _, _ = issue(
        "stranger", (other_cert, other_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return Pki(ca, server, client, stranger)


def write_ssl_config(path: Path, pki: Pki) -> Path:
    """A text-format ``tensorflow.serving.SSLConfig`` (PEM newlines escaped as ``\\n``)."""
    fields = {
        "server_key": pki.server.key,
        "server_cert": pki.server.cert,
        "custom_ca": pki.ca.cert,
    }
    lines = [f"{name}: {json.dumps(pem.decode())}" for name, pem in fields.items()]
    path.write_text("\n".join([*lines, "client_verify: true", ""]))
    return path


def https_context(pki: Pki, client: KeyPair | None, tmp_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki.ca.cert.decode())
    if client is not None:
        cert, key = tmp_path / "client.pem", tmp_path / "client.key"
        cert.write_bytes(client.cert)
        key.write_bytes(client.key)
        context.load_cert_chain(cert, key)
    return context


def https_get(url: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as response:
        return response.status, response.read()


@pytest.fixture(scope="module", params=WORKERS)
def tls_server(
    request: pytest.FixtureRequest, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    config_dir = tmp_path_factory.mktemp("tls")
    ssl_config = write_ssl_config(config_dir / "ssl.config", pki)
    with running_server(
        f"--model_name={MODEL}",
        f"--model_base_path={tfserving_model('saved_model_half_plus_two_cpu')}",
        f"--ssl_config_file={ssl_config}",
        f"--rest_ssl_config_file={ssl_config}",
        wait_ready=False,
        workers=request.param,
    ) as server:
        context = https_context(pki, pki.client, config_dir)
        url = f"https://localhost:{server.rest_port}/healthz"

        def up() -> bool:
            if not server.alive():
                raise RuntimeError(f"server exited:\n{server.log()}")
            return https_get(url, context)[0] == 200

        wait_until(up, timeout=120, interval=0.1, what="TLS /healthz")
        server.wait_for_workers()
        yield server


def status_request() -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    return request


def grpc_status(channel: grpc.Channel) -> get_model_status_pb2.GetModelStatusResponse:
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    return stub.GetModelStatus(status_request(), timeout=TIMEOUT_S)


def secure_channel(
    server: ServerProcess,
    pki: Pki,
    client: KeyPair | None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.secure_channel(server.grpc_target, credentials, options)


def test_grpc_client_with_a_valid_certificate_is_served_by_every_process(
    tls_server: ServerProcess, pki: Pki
) -> None:
    def open_channel(options: list[tuple[str, Any]]) -> grpc.Channel:
        return secure_channel(tls_server, pki, pki.client, options)

    with grpc_channel_on_each_process(tls_server, open_channel) as channels:
        for channel in channels.values():
            [version] = grpc_status(channel).model_version_status
            assert version.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


def test_grpc_client_without_a_certificate_is_refused(tls_server: ServerProcess, pki: Pki) -> None:
    with secure_channel(tls_server, pki, None) as channel, pytest.raises(grpc.RpcError) as caught:
        grpc_status(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_client_with_an_untrusted_certificate_is_refused(
    tls_server: ServerProcess, pki: Pki
) -> None:
    with (
        secure_channel(tls_server, pki, pki.stranger) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        grpc_status(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_plaintext_client_fails(tls_server: ServerProcess) -> None:
    with (
        grpc.insecure_channel(tls_server.grpc_target) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        grpc_status(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_over_tls_with_a_client_certificate_predicts_on_every_process(
    tls_server: ServerProcess, pki: Pki, tmp_path: Path
) -> None:
    context = https_context(pki, pki.client, tmp_path)
    body = json.dumps({"instances": [1.0, 2.0, 5.0]})
    with socket_on_each_process(tls_server, tls_server.rest_port) as sockets:
        for sock in sockets.values():
            connection = http.client.HTTPSConnection(
                "localhost", tls_server.rest_port, timeout=TIMEOUT_S, context=context
            )
            connection.sock = context.wrap_socket(sock, server_hostname="localhost")
            connection.request("POST", f"/v1/models/{MODEL}:predict", body)
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read()) == {"predictions": [2.5, 3.0, 4.5]}


def test_rest_over_tls_without_a_client_certificate_is_refused(
    tls_server: ServerProcess, pki: Pki, tmp_path: Path
) -> None:
    context = https_context(pki, None, tmp_path)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        https_get(f"https://localhost:{tls_server.rest_port}/v1/models/{MODEL}", context)


def test_rest_plaintext_client_gets_no_answer(tls_server: ServerProcess) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        tls_server.get(f"/v1/models/{MODEL}", timeout=TIMEOUT_S)


#: What a client says first on each port: an HTTP/1.1 request, the HTTP/2 preface.
FIRST_BYTES = {
    "rest": (b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: localhost\r\n\r\n", "http/1.1"),
    "grpc": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2"),
}


def answers_over_tls(sock: socket.socket, context: ssl.SSLContext, protocol: str) -> bool:
    """Whether the server answers what a client says first over TLS on ``sock``
    (with TLS 1.3 a refused client certificate shows on the first read)."""
    first, alpn = FIRST_BYTES[protocol]
    context.set_alpn_protocols([alpn])
    try:
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.settimeout(TIMEOUT_S)
            tls.sendall(first)
            return tls.recv(64) != b""
    except (ssl.SSLError, ConnectionError):
        return False


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_every_process_serves_a_trusted_client_certificate_only(
    tls_server: ServerProcess, pki: Pki, tmp_path: Path, protocol: str
) -> None:
    """The same TLS handshake on each process's connection: a trusted client is
    answered; no certificate, or one from another CA, is refused."""
    port = tls_server.rest_port if protocol == "rest" else tls_server.grpc_port
    clients = {"trusted": pki.client, "none": None, "stranger": pki.stranger}
    answered = {}
    for name, client in clients.items():
        with socket_on_each_process(tls_server, port) as sockets:
            answered[name] = [
                answers_over_tls(sock, https_context(pki, client, tmp_path), protocol)
                for sock in sockets.values()
            ]
    workers = tls_server.workers
    assert answered == {"trusted": [True] * workers, "none": [False] * workers,
                        "stranger": [False] * workers}  # fmt: skip
