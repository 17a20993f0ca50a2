"""Connection ages on a real server: what lets gRPC clients reach new replicas.

A gRPC client behind a Kubernetes Service or an L4 balancer keeps its connection,
so replicas added later get none of its calls. ``--grpc_channel_arguments`` with
``grpc.max_connection_age_ms`` bound a connection's life; the server stays on h2
(``--grpc_server=auto``), drains each aged connection, and the official client
moves to a new one without a failed call.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tensorserve.grpc.h2 import frames
from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

AGE_MS = 400


@pytest.fixture(scope="module")
def aged_server() -> Iterator[ServerProcess]:
    with running_server(
        "--model_name=half_plus_two",
        f"--model_base_path={tfserving_model('saved_model_half_plus_two_cpu')}",
        f"--grpc_channel_arguments=grpc.max_connection_age_ms={AGE_MS}",
    ) as server:
        yield server


def test_a_connection_gets_goaway_at_its_age(aged_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", aged_server.grpc_port), timeout=10) as sock:
        sock.sendall(frames.PREFACE + frames.settings({}))
        received = b""
        while not _has_goaway(received):
            chunk = sock.recv(65536)
            assert chunk, "closed without a GOAWAY"
            received += chunk


def test_predicts_go_on_across_aged_connections(aged_server: ServerProcess) -> None:
    """The official client's channel reconnects after each GOAWAY (READY again three
    times) while it predicts, and no predict fails."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(aged_server.grpc_target) as channel:
        channel.subscribe(states.append)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def reconnected_three_times() -> bool:
            answer = stub.Predict(request, timeout=10)
            assert list(tf.make_ndarray(answer.outputs["y"])) == [2.5, 3.0]
            return states.count(grpc.ChannelConnectivity.READY) >= 4

        wait_until(reconnected_three_times, timeout=60)
        channel.unsubscribe(states.append)


def _has_goaway(received: bytes) -> bool:
    """Whether the server's frames in ``received`` include a GOAWAY."""
    position = 0
    while len(received) - position >= 9:
        length = int.from_bytes(received[position : position + 3], "big")
        if received[position + 3] == frames.GOAWAY:
            return True
        position += 9 + length
    return False
