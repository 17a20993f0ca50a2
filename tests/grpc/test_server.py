"""The gRPC server: options, ports, TLS, health and reflection."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from tensorserve.config import SslConfig
from tensorserve.core.errors import InvalidArgument
from tensorserve.grpc.server import (
    H2,
    INT32_MAX,
    GrpcOptions,
    GrpcServer,
    channel_options,
    parse_channel_arguments,
    ssl_server_credentials,
)
from tests.grpc.conftest import MODEL, ServerHarness
from tests.support.waiting import wait_until

MakeHarness = Callable[..., ServerHarness]
LOCAL = {"port": 0, "host": "127.0.0.1"}


def predict(channel: grpc.Channel) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], np.float32)))
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)


def test_channel_arguments_parse_ints_and_strings() -> None:
    assert parse_channel_arguments("") == []
    assert parse_channel_arguments(
        "grpc.max_connection_age_ms=2000, grpc.primary_user_agent = me ,big=99999999999"
    ) == [
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.primary_user_agent", "me"),
        ("big", "99999999999"),
    ]
    with pytest.raises(ValueError, match="not key=value"):
        parse_channel_arguments("novalue")


def test_message_size_stays_at_int32_max_whatever_the_flags_say() -> None:
    options = dict(
        channel_options(
            GrpcOptions(
                channel_arguments="grpc.max_receive_message_length=10,grpc.keepalive_time_ms=5"
            )
        )
    )
    assert options["grpc.max_receive_message_length"] == INT32_MAX
    assert options["grpc.max_send_message_length"] == INT32_MAX
    assert options["grpc.keepalive_time_ms"] == 5


def test_port_zero_binds_a_free_port(harness: ServerHarness) -> None:
    assert harness.port > 0


def test_a_busy_port_is_an_error(harness: ServerHarness, make_harness: MakeHarness) -> None:
    with pytest.raises(OSError, match="Failed to bind"):
        make_harness(GrpcOptions(port=harness.port, host="127.0.0.1"))


def test_alts_never_falls_back_to_plaintext(server_kind: str, make_harness: MakeHarness) -> None:
    """``--use_alts_credentials`` serves ALTS or nothing. grpcio offers ALTS only on Google
    Cloud: elsewhere the bind fails with the reason; where it binds, a plaintext client
    cannot call."""
    if server_kind == H2:
        with pytest.raises(ValueError, match="no ALTS"):
            make_harness(GrpcOptions(port=0, host="127.0.0.1", alts=True))
        return
    try:
        server = make_harness(GrpcOptions(port=0, host="127.0.0.1", alts=True))
    except OSError as exc:
        assert "offers only on Google Cloud" in str(exc)
        return
    with server.channel() as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(), timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_unix_socket_only(make_harness: MakeHarness, tmp_path: Path) -> None:
    socket_path = tmp_path / "grpc.sock"
    server = make_harness(GrpcOptions(port=None, socket_path=str(socket_path)))
    assert server.port == 0
    with grpc.insecure_channel(f"unix:{socket_path}") as channel:
        assert predict(channel).model_spec.version.value == 3


def health_status(channel: grpc.Channel, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status


def test_health_reports_the_server_and_its_services(channel: grpc.Channel) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    assert health_status(channel, "") == serving
    assert health_status(channel, "tensorflow.serving.PredictionService") == serving
    assert health_status(channel, "tensorflow.serving.ModelService") == serving
    with pytest.raises(grpc.RpcError) as info:
        health_status(channel, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_model_health_follows_set_model_health_from_any_thread(
    harness: ServerHarness, channel: grpc.Channel
) -> None:
    harness.server.set_model_health("m1", True)
    wait_until(lambda: health_status(channel, "m1") == health_pb2.HealthCheckResponse.SERVING)
    harness.server.set_model_health("m1", False)
    harness.server.set_model_health("m1", True)
    harness.server.set_model_health("m1", False)  # the last call wins
    wait_until(lambda: health_status(channel, "m1") == health_pb2.HealthCheckResponse.NOT_SERVING)


def test_model_health_set_before_start_applies_at_start(make_harness: MakeHarness) -> None:
    def before_start(server: GrpcServer) -> None:
        server.set_model_health("early", False)
        server.set_model_health("early", True)

    harness = make_harness(
        GrpcOptions(**LOCAL, enable_health_service=True),  # type: ignore[arg-type]
        before_start,
    )
    with harness.channel() as channel:
        assert health_status(channel, "early") == health_pb2.HealthCheckResponse.SERVING


def test_draining_reports_not_serving_everywhere_while_rpcs_still_answer(
    harness: ServerHarness, channel: grpc.Channel
) -> None:
    harness.server.set_model_health(MODEL, True)
    wait_until(lambda: health_status(channel, MODEL) == health_pb2.HealthCheckResponse.SERVING)

    harness.call(harness.server.begin_drain())
    harness.server.set_model_health(MODEL, True)  # ignored once draining

    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    for service in ("", "tensorflow.serving.PredictionService", MODEL):
        assert health_status(channel, service) == not_serving
    assert predict(channel).model_spec.version.value == 3


def test_health_service_is_off_unless_enabled(make_harness: MakeHarness) -> None:
    server = make_harness(GrpcOptions(**LOCAL))  # type: ignore[arg-type]
    server.server.set_model_health(MODEL, True)  # harmless without the service
    with server.channel() as channel, pytest.raises(grpc.RpcError) as info:
        health_status(channel, "")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {service.name for service in response.list_services_response.service}
    assert names == {
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "inference.GRPCInferenceService",  # the Open Inference Protocol (tensorserve.v2)
    }


class Pki:
    """A throwaway CA with a server cert for localhost and a client cert."""

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._cert("test-ca", self.ca_key, self.ca_key, ca=True)
        self.server_key = ec.generate_private_key(ec.SECP256R1())
        self.server_cert = self._cert("localhost", self.server_key, self.ca_key)
        self.client_key = ec.generate_private_key(ec.SECP256R1())
        self.client_cert = self._cert("client", self.client_key, self.ca_key)

    def _cert(
        self,
        name: str,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool = False,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    @staticmethod
    def pem(item: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
        if isinstance(item, x509.Certificate):
            return item.public_bytes(serialization.Encoding.PEM)
        return item.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def ssl_config(self, client_verify: bool) -> SslConfig:
        return SslConfig(
            server_key=self.pem(self.server_key).decode(),
            server_cert=self.pem(self.server_cert).decode(),
            custom_ca=self.pem(self.ca_cert).decode(),
            client_verify=client_verify,
        )

    def channel(self, port: int, with_client_cert: bool) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.pem(self.ca_cert),
            private_key=self.pem(self.client_key) if with_client_cert else None,
            certificate_chain=self.pem(self.client_cert) if with_client_cert else None,
        )
        return grpc.secure_channel(f"localhost:{port}", credentials)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def test_tls_serves_clients_that_trust_the_server(pki: Pki, make_harness: MakeHarness) -> None:
    server = make_harness(GrpcOptions(**LOCAL, ssl=pki.ssl_config(client_verify=False)))  # type: ignore[arg-type]
    with pki.channel(server.port, with_client_cert=False) as channel:
        assert predict(channel).outputs["y"].float_val == [2.5]
    with server.channel() as plaintext, pytest.raises(grpc.RpcError) as info:
        predict(plaintext)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_verify_refuses_clients_without_a_certificate(
    pki: Pki, make_harness: MakeHarness
) -> None:
    server = make_harness(GrpcOptions(**LOCAL, ssl=pki.ssl_config(client_verify=True)))  # type: ignore[arg-type]
    with pki.channel(server.port, with_client_cert=True) as channel:
        assert predict(channel).outputs["y"].float_val == [2.5]
    with (
        pki.channel(server.port, with_client_cert=False) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        predict(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_client_verify_needs_a_custom_ca() -> None:
    config = SslConfig(server_key="k", server_cert="c", client_verify=True)
    with pytest.raises(InvalidArgument, match="custom_ca"):
        ssl_server_credentials(config)


def test_unusable_pem_is_refused_with_what_is_wrong(pki: Pki) -> None:
    good = pki.ssl_config(client_verify=True)
    # gRPC would only say "Failed to bind to address".
    for bad, field in [
        (dataclasses.replace(good, server_key="garbage"), "server_key and server_cert"),
        (dataclasses.replace(good, server_cert=good.custom_ca), "server_key and server_cert"),
        (dataclasses.replace(good, custom_ca="-----BEGIN CERTIFICATE-----\nzz"), "custom_ca"),
    ]:
        with pytest.raises(InvalidArgument, match=f"^ssl_config_file: {field}"):
            ssl_server_credentials(bad)


def test_the_v2_service_is_served_unless_disabled() -> None:
    from tensorserve.grpc import server as grpc_server

    assert grpc_server.serves_v2(GrpcOptions(**LOCAL))  # type: ignore[arg-type]
    assert not grpc_server.serves_v2(GrpcOptions(**LOCAL, enable_v2=False))  # type: ignore[arg-type]


def test_open_health_watches_leave_threads_for_predict(
    make_harness: Callable[..., ServerHarness],
) -> None:
    """Clients that health-check hold a Watch stream each for their channel's life; more
    of them than handler threads must not starve Predict (nor further Watches)."""
    server = make_harness(
        GrpcOptions(port=0, host="127.0.0.1", enable_health_service=True, max_threads=2)
    )
    channels = [server.channel() for _ in range(5)]
    watches = []
    try:
        for channel in channels:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=""), timeout=30
            )
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            watches.append(watch)
        with server.channel() as channel:
            assert list(predict(channel).outputs["y"].float_val) == [2.5]
    finally:
        for watch in watches:
            watch.cancel()
        for channel in channels:
            channel.close()


def test_health_watches_that_end_while_statuses_change_never_hang_the_stop(
    make_harness: MakeHarness,
) -> None:
    """Clients cancel Watch streams while the server changes health statuses, then the
    server stops (grpc_health's own servicer can deadlock here on the threaded server)."""
    server = make_harness(GrpcOptions(port=0, host="127.0.0.1", enable_health_service=True))
    for _ in range(10):
        with server.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watches = [stub.Watch(health_pb2.HealthCheckRequest(service=MODEL)) for _ in range(8)]
            for watch in watches:
                next(watch)
            for number, watch in enumerate(watches):
                server.server.set_model_health(MODEL, number % 2 == 0)
                watch.cancel()
    server.call(server.server.begin_drain())
    server.call(server.server.stop(0))  # raises TimeoutError after 30 s when it hangs
