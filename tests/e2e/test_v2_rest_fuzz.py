"""Hostile requests to ``/v2``: never a 5xx, every error JSON ``{"error": ...}``, server alive.

Seeded and bounded: the seed is printed (set ``V2_FUZZ_SEED`` to replay one run) and
the run is a fixed number of requests. Model control is only fuzzed with names no
model has, so the served models stay up.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import random
import string
import struct
import urllib.parse
import zlib
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.test_rest_fuzz import Request, check_answer, send
from tests.support.saved_models import write_dtypes_model, write_half_plus_two
from tests.support.server_process import ServerProcess, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REQUESTS = 1500
INFER = "/v2/models/{}/infer"
DATATYPES = [
    "BOOL",
    "UINT8",
    "INT8",
    "INT32",
    "INT64",
    "UINT64",
    "FP16",
    "BF16",
    "FP32",
    "FP64",
    "BYTES",
    "fp32",
    "X",
]
NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-0",
    "18446744073709551616",
    "9223372036854775808",
    "1.5",
    "true",
    '"7"',
    "null",
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("v2fuzz")
    write_half_plus_two(root / "half_plus_two" / "1")
    write_dtypes_model(root / "dtypes" / "1")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'config {{ name: "{name}" base_path: "{root / name}" model_platform: "tensorflow" }}\n'
            for name in ("half_plus_two", "dtypes")
        )
        + "}\n"
    )
    with running_server(f"--model_config_file={config}") as server:
        yield server


def junk_text(rng: random.Random, most: int = 12) -> str:
    return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, most)))


def odd_paths(rng: random.Random) -> Request:
    name = urllib.parse.quote(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 12))), safe="")
    tail = rng.choice(
        [
            "",
            "/ready",
            "/infer",
            "/versions/1",
            "/versions/" + str(rng.getrandbits(80)),
            "/versions/-1/infer",
            "/versions/x/ready",
            "/config",
            "/stats",
            "//infer",
        ]
    )
    model = rng.choice([name, "half_plus_two", "dtypes"])
    path = rng.choice(
        [
            f"/v2/models/{model}{tail}",
            "/v2",
            "/v2/",
            "/v2/health/" + junk_text(rng, 6),
            f"/v2/repository/models/fuzz-{name}/" + rng.choice(["load", "unload", "x"]),
            "/v2/repository/" + junk_text(rng, 5),
            "/v2/models",
        ]
    )
    path = "".join(c if c.isprintable() and c not in " ?#" else "%20" for c in path)
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    return method, path, b'{"inputs": []}' if method == "POST" else b"", {}


def tensor_entry(rng: random.Random) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": rng.choice(["x", "f", "i32", "i64", "flag", "text", junk_text(rng, 4)]),
        "datatype": rng.choice(DATATYPES),
        "shape": [rng.choice([-1, 0, 1, 2, 3, 2**40]) for _ in range(rng.randint(0, 3))],
    }
    choice = rng.randint(0, 5)
    if choice == 0:
        entry["data"] = [rng.random() for _ in range(rng.randint(0, 6))]
    elif choice == 1:
        entry["data"] = [rng.randint(-(2**70), 2**70) for _ in range(rng.randint(0, 6))]
    elif choice == 2:
        entry["data"] = [junk_text(rng) for _ in range(rng.randint(0, 4))]
    elif choice == 3:
        entry["data"] = [[rng.choice([True, False, None, 1, "a", {}])] for _ in range(3)]
    elif choice == 4:
        entry["parameters"] = {"binary_data_size": rng.choice([0, 4, 8, -1, "8", 2**40])}
    if rng.random() < 0.1:
        entry["parameters"] = {
            rng.choice(["triton_x", "shared_memory_region", "binary_data_size"]): 1
        }
    return entry


def random_infer(rng: random.Random) -> Request:
    document: dict[str, object] = {"inputs": [tensor_entry(rng) for _ in range(rng.randint(0, 5))]}
    if rng.random() < 0.3:
        document["outputs"] = [
            {
                "name": rng.choice(["y", "f_half", junk_text(rng, 3)]),
                "parameters": {"binary_data": rng.choice([True, 1, None])},
            }
        ]
    if rng.random() < 0.3:
        document["parameters"] = {
            rng.choice(["binary_data_output", "signature_name", "timeout", "id"]): rng.choice(
                [True, "x", 5, -1, None]
            )
        }
    if rng.random() < 0.2:
        document["id"] = rng.choice(["r", 5, None, ["x"]])
    header = json.dumps(document).encode()
    blob = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 4, 8, 16, 33])))
    headers: dict[str, str] = {}
    if blob or rng.random() < 0.3:
        headers["Inference-Header-Content-Length"] = rng.choice(
            [str(len(header)), str(len(header) + rng.randint(-5, 5)), "0", "-1", "x", str(2**70)]
        )
    model = rng.choice(["half_plus_two", "dtypes"])
    return "POST", INFER.format(model), header + blob, headers


def odd_numbers(rng: random.Random) -> Request:
    tokens = ",".join(rng.choice(NUMBERS) for _ in range(2))
    datatype = rng.choice(["FP32", "FP64", "INT32", "INT64", "UINT64", "BOOL"])
    body = f'{{"inputs":[{{"name":"x","datatype":"{datatype}","shape":[2],"data":[{tokens}]}}]}}'
    return "POST", INFER.format("half_plus_two"), body.encode(), {}


def bytes_tensors(rng: random.Random) -> Request:
    """A BYTES input whose length prefixes lie about what follows."""
    count = rng.randint(0, 3)
    blob = b"".join(
        struct.pack("<I", rng.choice([0, 1, 5, 2**31]))
        + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 4)))
        for _ in range(count)
    )
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "datatype": "BYTES",
                    "shape": [rng.randint(0, 3)],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        }
    ).encode()
    return (
        "POST",
        INFER.format("dtypes"),
        header + blob,
        {"Inference-Header-Content-Length": str(len(header))},
    )


def deep_nesting(rng: random.Random) -> Request:
    depth = rng.choice([30, 70, 1000, 100_000])
    data = "[" * depth + "1" + "]" * depth
    body = f'{{"inputs":[{{"name":"x","datatype":"FP32","shape":[1],"data":{data}}}]}}'
    return "POST", INFER.format("half_plus_two"), body.encode(), {}


def compressed(rng: random.Random) -> Request:
    valid = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
    ).encode()
    encoding = rng.choice(["gzip", "deflate", "br", "gzip, deflate"])
    body = gzip.compress(valid) if encoding == "gzip" else zlib.compress(valid)
    if rng.random() < 0.5:
        body = body[: rng.randint(0, len(body))]
    return "POST", INFER.format("half_plus_two"), body, {"Content-Encoding": encoding}


def repository_bodies(rng: random.Random) -> Request:
    body = rng.choice(
        [
            b"",
            b"{}",
            b"[]",
            b'{"ready": 1}',
            b'{"parameters": 5}',
            b'{"parameters": {"config": "{}"}}',
            junk_text(rng).encode(),
        ]
    )
    path = rng.choice(
        [
            "/v2/repository/index",
            "/v2/repository/models/fuzz-none/load",
            "/v2/repository/models/fuzz-none/unload",
        ]
    )
    return "POST", path, body, {}


def random_bytes(rng: random.Random) -> Request:
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    if rng.random() < 0.3:
        body = base64.b64encode(body)
    return "POST", INFER.format(rng.choice(["half_plus_two", "dtypes"])), body, {}


GENERATORS: list[Callable[[random.Random], Request]] = [
    odd_paths,
    random_infer,
    random_infer,
    odd_numbers,
    bytes_tensors,
    deep_nesting,
    compressed,
    repository_bodies,
    random_bytes,
]


def test_hostile_v2_requests_get_json_errors_and_the_server_survives(
    fuzz_server: ServerProcess,
) -> None:
    seed = int(os.environ.get("V2_FUZZ_SEED", random.SystemRandom().randrange(2**32)))
    print(f"V2 fuzz seed: {seed} (replay with V2_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    port = fuzz_server.rest_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(REQUESTS):
        request = rng.choice(GENERATORS)(rng)
        try:
            status, body, content_type = send(conn, request)
        except (http.client.HTTPException, ConnectionError):
            conn.close()  # the server may close after an error; reconnect and retry once
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status, body, content_type = send(conn, request)
        check_answer(status, body, content_type, request)
        assert content_type.startswith("application/json"), (status, request[:2], seed)
    conn.close()
    assert fuzz_server.alive()
    valid = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 5.0]}]}
    status, body = fuzz_server.post(INFER.format("half_plus_two"), valid)
    assert status == 200 and json.loads(body)["outputs"][0]["data"] == [2.5, 4.5]
