"""Every bad input gets TensorFlow Serving's status and message, and the server keeps serving."""

from __future__ import annotations

import json

import pytest

from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

PREDICT = "/v1/models/half_plus_two:predict"

CASES = [
    # (path, body, status, exact error message or None to check only the status)
    (PREDICT, b"", 400, "JSON Parse error: The document is empty"),
    (PREDICT, b"{", 400, None),
    (PREDICT, b'{"instances": [1.0, 2.0,]}', 400, None),
    (PREDICT, b"[1, 2]", 400, None),
    (PREDICT, b'{"instances": ["a"]}', 400, None),
    (PREDICT, b'{"instances": [[1.0], 2.0]}', 400, None),
    (PREDICT, b'{"instances": [[1.0, 2.0], [3.0]]}', 400, None),
    (PREDICT, b'{"instances": []}', 400, None),
    (PREDICT, b'{"foo": 1}', 400, "Missing 'inputs' or 'instances' key"),
    (PREDICT, b'{"instances": [1.0], "inputs": [1.0]}', 400, None),
    (PREDICT, b'{"signature_name": 5, "instances": [1.0]}', 400, None),
    (
        PREDICT,
        b'{"signature_name": "nope", "instances": [1.0]}',
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "/v1/models/nope:predict",
        b'{"instances": [1.0]}',
        404,
        "Servable not found for request: Latest(nope)",
    ),
    (
        "/v1/models/half_plus_two/versions/999:predict",
        b'{"instances": [1.0]}',
        404,
        "Servable not found for request: Specific(half_plus_two, 999)",
    ),
    (
        "/v1/models/half_plus_two/labels/nope:predict",
        b'{"instances": [1.0]}',
        400,
        "Unrecognized servable version label: nope",
    ),
    (
        "/v1/models/half_plus_two/versions/99999999999999999999999:predict",
        b'{"instances": [1.0]}',
        400,
        None,
    ),
    ("/v1/models/half_plus_two:PREDICT", b'{"instances": [1.0]}', 400, None),
    ("/v1/models/half_plus_two/version/1:predict", b'{"instances": [1.0]}', 400, None),
    # Issue 15: each of these was a 500.
    (
        PREDICT,
        b'{"instances": [' + b"9" * 5000 + b"]}",
        400,
        "JSON Parse error: Number too big to be stored in double. at offset: 15",
    ),
    (
        PREDICT,
        b'{"signature_name": ' + b"9" * 4301 + b', "instances": [1.0]}',
        400,
        "JSON Parse error: Number too big to be stored in double. at offset: 19",
    ),
    (
        "/v1/models/half_plus_two:classify",
        b'{"examples": [{"x": ' + b"9" * 5000 + b"}]}",
        400,
        "JSON Parse error: Number too big to be stored in double. at offset: 20",
    ),
    (
        PREDICT,
        b'{"instances": ["\\ud800"]}',
        400,
        "JSON Parse error: The surrogate pair in string is invalid. at offset: 16",
    ),
    (
        "/v1/models/half_plus_two:classify",
        b'{"examples": [{"\\udfff": 1.0}]}',
        400,
        "JSON Parse error: The surrogate pair in string is invalid. at offset: 16",
    ),
    (
        "/v1/models/half_plus_two/versions/" + "9" * 400 + ":predict",
        b'{"instances": [1.0]}',
        400,
        "Failed to convert version: " + "9" * 400 + " to numeric.",
    ),
    (
        "/v1/models/half_plus_two/versions/" + "9" * 5000 + ":predict",
        b'{"instances": [1.0]}',
        400,
        "Failed to convert version: " + "9" * 5000 + " to numeric.",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), CASES)
def test_bad_request_gets_tf_serving_status_and_message(
    tfs_server: ServerProcess, path: str, body: bytes, status: int, message: str | None
) -> None:
    got_status, got_body = tfs_server.post(path, body)
    assert got_status == status, got_body
    if message is not None:
        assert json.loads(got_body) == {"error": message}
    else:
        assert isinstance(json.loads(got_body)["error"], str)
    ok_status, ok_body = tfs_server.post(PREDICT, {"instances": [1.0]})
    assert (ok_status, json.loads(ok_body)) == (200, {"predictions": [2.5]})


def test_status_of_unknown_model_and_version(tfs_server: ServerProcess) -> None:
    status, body = tfs_server.get("/v1/models/nope")
    assert (status, json.loads(body)) == (
        404,
        {"error": "Could not find any versions of model nope"},
    )
    status, body = tfs_server.get("/v1/models/half_plus_two/versions/7")
    assert (status, json.loads(body)) == (
        404,
        {"error": "Could not find version 7 of model half_plus_two"},
    )
    status, body = tfs_server.get("/v1/models")
    assert (status, json.loads(body)) == (400, {"error": "Missing model name in request."})


def test_paths_outside_v1_get_a_plain_404(tfs_server: ServerProcess) -> None:
    status, _ = tfs_server.get("/nothing/here")
    assert status == 404


def test_unknown_key_nested_500000_levels_is_ignored(tfs_server: ServerProcess) -> None:
    depth = 500_000
    junk = b'{"a": ' * depth + b"1" + b"}" * depth
    status, body = tfs_server.post(PREDICT, b'{"instances": [1.0], "junk": ' + junk + b"}")
    assert (status, json.loads(body)) == (200, {"predictions": [2.5]})


def test_deep_signature_name_is_refused_as_not_a_string(tfs_server: ServerProcess) -> None:
    depth = 100_000
    body = b'{"signature_name": ' + b"[" * depth + b"]" * depth + b', "instances": [1.0]}'
    status, raw = tfs_server.post(PREDICT, body)
    assert status == 400
    assert json.loads(raw)["error"].endswith("'signature_name' key must be a string value.")


def test_floats_are_printed_as_tensorflow_serving_prints_them(tfs_server: ServerProcess) -> None:
    body = b'{"instances": [1.0, 17999996.0, 2.2831855]}'
    status, raw = tfs_server.post(PREDICT, body)
    assert (status, raw) == (200, b'{"predictions":[2.5,9e+06,3.14159274]}')
