import asyncio
import gzip

import pytest

from tensorserve.core.errors import Cancelled
from tensorserve.rest.asgi import Message
from tensorserve.rest.request_body import (
    PayloadTooLarge,
    gunzip_capped,
    is_gzip_encoded,
    read_body,
)


def _read(
    chunks: list[bytes], limit: int, headers: list[tuple[bytes, bytes]] | None = None
) -> bytes:
    queue = list(chunks)

    async def receive() -> Message:
        if not queue:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": queue.pop(0), "more_body": bool(queue)}

    return asyncio.run(read_body({"headers": headers or []}, receive, limit))


def test_chunks_are_joined() -> None:
    assert _read([b"ab", b"", b"cd"], 10) == b"abcd"


def test_body_over_the_limit_is_refused_while_streaming() -> None:
    with pytest.raises(PayloadTooLarge) as info:
        _read([b"abc", b"def"], 5)
    assert info.value.message == "Request body is larger than the limit of 5 bytes"


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(PayloadTooLarge):
        _read([], 5, [(b"content-length", b"6")])


def test_disconnect_before_the_end_cancels() -> None:
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    with pytest.raises(Cancelled):
        asyncio.run(read_body({"headers": []}, receive, 10))


def test_gzip_is_detected_in_content_encoding() -> None:
    assert is_gzip_encoded({"headers": [(b"content-encoding", b"x-GZIP")]})
    assert not is_gzip_encoded({"headers": [(b"content-encoding", b"br")]})
    assert not is_gzip_encoded({"headers": []})


def test_gunzip_round_trips() -> None:
    assert gunzip_capped(gzip.compress(b'{"a": 1}'), 100) == b'{"a": 1}'


def test_gunzip_failures_give_an_empty_body() -> None:
    assert gunzip_capped(b"not gzip", 100) == b""
    assert gunzip_capped(gzip.compress(b"x" * 1000)[:-10], 10_000) == b""


def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100_000
    assert gunzip_capped(bomb, 1024 * 1024) == b""
