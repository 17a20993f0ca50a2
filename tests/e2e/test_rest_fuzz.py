"""Thousands of hostile requests: no 5xx, errors always JSON, the server alive, memory flat."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import random
import socket
import string
import urllib.parse
from collections.abc import Callable

import psutil
import pytest

from tests.support.server_process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Request = tuple[str, str, bytes, dict[str, str]]


def deep_nesting(rng: random.Random) -> Request:
    depth = rng.choice([50, 500, 5000, 100_000])
    body = b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    return "POST", "/v1/models/half_plus_two:predict", body, {}


def odd_numbers(rng: random.Random) -> Request:
    token = rng.choice(
        [
            "1e400",
            "-1e400",
            "NaN",
            "Infinity",
            "-Infinity",
            "123456789012345678901234567890",
            "1e-400",
            "0x10",
            "+1",
            "-0",
            "1.7976931348623157e309",
            "00012",
            ".5",
        ]
    )
    return "POST", "/v1/models/half_plus_two:predict", f'{{"instances": [{token}]}}'.encode(), {}


def bad_base64(rng: random.Random) -> Request:
    junk = "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))
    body = json.dumps({"instances": [{"b64": junk}]}).encode()
    return "POST", "/v1/models/half_plus_two:predict", body, {}


def gzip_bomb(rng: random.Random) -> Request:
    size = rng.choice([1, 150]) * 1024 * 1024
    body = gzip.compress(b"\0" * size, compresslevel=9)
    return "POST", "/v1/models/half_plus_two:predict", body, {"Content-Encoding": "gzip"}


def corrupt_gzip(rng: random.Random) -> Request:
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    return "POST", "/v1/models/half_plus_two:predict", body, {"Content-Encoding": "gzip"}


def odd_names(rng: random.Random) -> Request:
    raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 30)))
    name = urllib.parse.quote(raw, safe="")
    kind = rng.choice(["", "/labels/" + name, "/versions/" + str(rng.getrandbits(70))])
    verb = rng.choice([":predict", ":classify", ":regress", "/metadata", ""])
    method = "GET" if verb in ("/metadata", "") else "POST"
    return method, f"/v1/models/{name}{kind}{verb}", b'{"instances": [1.0]}', {}


def random_json(rng: random.Random) -> Request:
    def value(depth: int) -> object:
        choice = rng.randint(0, 6 if depth < 4 else 3)
        if choice == 0:
            return rng.random() * 10 ** rng.randint(-5, 30)
        if choice == 1:
            return rng.randint(-(2**70), 2**70)
        if choice == 2:
            return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 8)))
        if choice == 3:
            return rng.choice([None, True, False])
        if choice == 4:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {
            rng.choice(
                ["instances", "inputs", "x", "b64", "signature_name", "examples", "context"]
            ): value(depth + 1)
            for _ in range(rng.randint(0, 3))
        }

    verb = rng.choice([":predict", ":classify", ":regress"])
    body = json.dumps({"instances": value(0)} if rng.random() < 0.5 else value(0)).encode()
    return "POST", f"/v1/models/half_plus_two{verb}", body, {}


def random_bytes(rng: random.Random) -> Request:
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 256)))
    return "POST", "/v1/models/half_plus_two:predict", body, {}


GENERATORS: list[Callable[[random.Random], Request]] = [
    deep_nesting,
    odd_numbers,
    bad_base64,
    odd_names,
    random_json,
    random_bytes,
    corrupt_gzip,
]


def send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes, str]:
    method, path, body, headers = request
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("Content-Type") or ""


def half_sent(port: int, rng: random.Random) -> None:
    """Open a connection, send part of a request, and hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        full = (
            b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"instances": [1.0'
        )
        sock.sendall(full[: rng.randint(1, len(full))])


def check_answer(status: int, body: bytes, content_type: str, request: Request) -> None:
    assert status < 500, (status, body[:300], request[:2])
    if status != 200:
        assert content_type.startswith("application/json"), (status, content_type, request[:2])
        assert isinstance(json.loads(body)["error"], str), (body[:300], request[:2])


def test_hostile_requests_get_json_errors_and_the_server_survives(
    tfs_server: ServerProcess,
) -> None:
    rng = random.Random(20261125)
    proc = psutil.Process(tfs_server.process.pid)
    conn = http.client.HTTPConnection("127.0.0.1", tfs_server.rest_port, timeout=60)
    rss_after_warmup = 0
    total = 3000
    samples: dict[int, int] = {}
    for i in range(total):
        if i % 250 == 0:
            samples[i] = proc.memory_info().rss // 2**20
        if i == 500:
            rss_after_warmup = proc.memory_info().rss
        request = gzip_bomb(rng) if i % 200 == 0 else rng.choice(GENERATORS)(rng)
        if i % 50 == 0:
            half_sent(tfs_server.rest_port, rng)
        try:
            status, body, ctype = send(conn, request)
        except (http.client.HTTPException, ConnectionError):
            # The server may close a connection after an error response; reconnect.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", tfs_server.rest_port, timeout=60)
            status, body, ctype = send(conn, request)
        check_answer(status, body, ctype, request)
    conn.close()
    assert tfs_server.alive()
    status, body = tfs_server.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 5.0]})
    assert (status, json.loads(body)) == (200, {"predictions": [2.5, 4.5]})
    growth = proc.memory_info().rss / rss_after_warmup - 1
    assert growth < 0.10, (
        f"server RSS grew {growth:.1%} over {total - 500} hostile requests "
        f"(MiB by request number: {samples})"
    )


def test_oversized_body_is_refused_with_413(tfs_server: ServerProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", tfs_server.rest_port, timeout=30)
    conn.putrequest("POST", "/v1/models/half_plus_two:predict")
    conn.putheader("Content-Length", str(64 * 1024**3))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    assert "error" in json.loads(resp.read())
    conn.close()
    assert tfs_server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]})[0] == 200


def test_invalid_base64_names_the_problem(tfs_server: ServerProcess) -> None:
    body = {"instances": [{"b64": base64.b64encode(b"x").decode() + "!!"}]}
    status, raw = tfs_server.post("/v1/models/half_plus_two:predict", body)
    assert status == 400
    assert "error" in json.loads(raw)
