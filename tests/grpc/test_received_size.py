"""The request's size on the wire reaches its handler without protobuf encoding it again."""

from __future__ import annotations

import contextvars

import grpc
from tensorflow_serving.apis import predict_pb2

from tensorserve.grpc.received_size import note_received, received_bytes
from tensorserve.grpc.request_decoding import checked_method_handler


class H2Context:
    request_bytes = 1234


def test_the_h2_servers_count_comes_first() -> None:
    def inside() -> None:
        note_received(5)
        assert received_bytes(H2Context()) == 1234

    contextvars.copy_context().run(inside)


def test_unknown_until_a_deserializer_notes_it_in_the_calls_context() -> None:
    def call() -> tuple[int | None, int | None]:
        before = received_bytes(object())
        note_received(42)
        return before, received_bytes(object())

    assert contextvars.copy_context().run(call) == (None, 42)
    assert contextvars.copy_context().run(received_bytes, object()) is None


def test_every_checked_deserializer_notes_the_length_it_was_given() -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].tensor_content = bytes(100_000)
    raw = request.SerializeToString()
    handler = checked_method_handler(
        grpc.unary_unary_rpc_method_handler(
            lambda request, context: None,
            request_deserializer=predict_pb2.PredictRequest.FromString,
            response_serializer=predict_pb2.PredictResponse.SerializeToString,
        ),
        threaded=True,
    )

    def deserialize_then_read() -> int | None:
        assert handler.request_deserializer(raw) == request
        return received_bytes(object())

    assert contextvars.copy_context().run(deserialize_then_read) == len(raw)
