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
