"""HPACK in and out, and gRPC's header encodings, on the h2 server."""

from __future__ import annotations

import hpack
import pytest

from tensorserve.grpc.h2.frames import COMPRESSION_ERROR, ProtocolError
from tensorserve.grpc.h2.headers import (
    HeaderDecoder,
    grpc_timeout_s,
    invocation_metadata,
    literal_block,
    metadata_headers,
    percent_encode,
    status_headers,
)

REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/tensorflow.serving.PredictionService/Predict"),
    (b":authority", b"localhost:8500"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
    (b"user-agent", b"grpc-python/1.85"),
]


def test_a_repeated_block_decodes_the_same_and_a_changing_one_is_never_cached() -> None:
    encoder = hpack.Encoder()
    decoder = HeaderDecoder(65536)
    first = encoder.encode(REQUEST)  # inserts into the dynamic table
    second = encoder.encode(REQUEST)  # indexes only
    assert first != second
    assert decoder.decode(first) == REQUEST
    assert decoder.decode(second) == REQUEST
    assert decoder.decode(second) == REQUEST  # from the cache
    # A new value inserts an entry: indices shift, and the old block must decode anew.
    third = encoder.encode([*REQUEST, (b"x-request-id", b"1")])
    assert decoder.decode(third) == [*REQUEST, (b"x-request-id", b"1")]
    fourth = encoder.encode(REQUEST)
    assert decoder.decode(fourth) == REQUEST


def test_bad_hpack_is_a_compression_error() -> None:
    with pytest.raises(ProtocolError) as raised:
        HeaderDecoder(65536).decode(b"\xff\xff\xff\xff\xff")  # an index past every table
    assert raised.value.code == COMPRESSION_ERROR


def test_a_header_list_past_the_limit_is_refused() -> None:
    block = hpack.Encoder().encode([(b"x-big", b"v" * 5000)])
    with pytest.raises(ProtocolError):
        HeaderDecoder(4096).decode(block)


def test_literal_blocks_decode_with_a_standard_decoder_long_values_included() -> None:
    headers = [(b"grpc-status", b"3"), (b"grpc-message", b"m" * 300), (b"k" * 130, b"")]
    assert hpack.Decoder().decode(literal_block(headers), raw=True) == headers


def test_grpc_timeout_units_and_malformed_values() -> None:
    assert grpc_timeout_s(b"1S") == 1.0
    assert grpc_timeout_s(b"250m") == 0.25
    assert grpc_timeout_s(b"99999999u") == pytest.approx(99.999999)
    assert grpc_timeout_s(b"2H") == 7200.0
    assert grpc_timeout_s(b"1") is None
    assert grpc_timeout_s(b"123456789S") is None  # more than 8 digits
    assert grpc_timeout_s(b"-1S") is None
    assert grpc_timeout_s(b"") is None


def test_grpc_message_is_percent_encoded_utf8() -> None:
    assert percent_encode("plain text: ok") == b"plain text: ok"
    assert percent_encode("100% \u00e9\n") == b"100%25 %C3%A9%0A"


def test_metadata_in_and_out() -> None:
    headers = [
        *REQUEST,
        (b"grpc-timeout", b"1S"),
        (b"x-trace", b"abc"),
        (b"x-blob-bin", b"AAEC"),  # unpadded base64 of 00 01 02
    ]
    assert invocation_metadata(headers) == (
        ("user-agent", "grpc-python/1.85"),
        ("x-trace", "abc"),
        ("x-blob-bin", b"\x00\x01\x02"),
    )
    assert metadata_headers([("X-Trace", "abc"), ("x-blob-bin", b"\x00\x01\x02")]) == [
        (b"x-trace", b"abc"),
        (b"x-blob-bin", b"AAEC"),
    ]


def test_status_headers_carry_code_message_and_trailing_metadata() -> None:
    block = status_headers(5, "Servable not found", [("x-detail", "v")])
    assert hpack.Decoder().decode(block, raw=True) == [
        (b"grpc-status", b"5"),
        (b"grpc-message", b"Servable not found"),
        (b"x-detail", b"v"),
    ]
