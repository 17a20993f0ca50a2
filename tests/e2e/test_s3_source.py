"""Serving a model straight from object storage (``s3://``), as TF Serving users do.

A local S3-compatible endpoint (moto's server) stands in for the bucket; the
real server process lists versions there and copies a version locally to load it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.paths import tfserving_model
from tests.support.server_process import running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_model_in_a_bucket_is_served(s3_endpoint: str) -> None:
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="models")
    source = tfserving_model("saved_model_half_plus_two_2_versions")

    def upload(version: str) -> None:
        for file in (source / version).rglob("*"):
            if file.is_file():
                key = f"half_plus_two/{int(version)}/{file.relative_to(source / version)}"
                s3.upload_file(str(file), "models", key)

    upload("00000123")
    with running_server(
        "--model_name=half_plus_two",
        "--model_base_path=s3://models/half_plus_two",
        "--file_system_poll_wait_seconds=1",
        env=env,
    ) as server:
        wait_until(
            lambda: server.model_states("half_plus_two") == {123: "AVAILABLE"},
            timeout=60,
            what="version 123 from the bucket",
        )
        status, body = server.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 5.0]})
        assert (status, json.loads(body)) == (200, {"predictions": [2.5, 4.5]})
        status, body = server.get("/v1/models/half_plus_two/metadata")
        assert status == 200
        assert json.loads(body)["model_spec"]["version"] == "123"
