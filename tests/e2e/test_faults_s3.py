"""An object store failing while the server copies a version: a download cut off midway,
and an object answered in part. A proxy in front of moto's S3 server injects the faults.

``flaky``'s variables object is cut off midway for its first downloads: the load is
retried and the version serves. ``partial``'s variables object always comes back half
long: the version ends with DATA_LOSS naming the object. Neither leaves a copy in the
local cache, and the local model ``local`` serves throughout.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import saved_models
from tests.support.faults import predicts_half_plus_two, version_statuses, write_model_config
from tests.support.server_process import running_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

DATA_FILE = "variables/variables.data-00000-of-00001"
CUT_DOWNLOADS = 8
"""Downloads of ``flaky``'s variables cut off before one succeeds: more than boto3's
own retries of one copy, fewer than the server's load retries."""


class FaultProxy(http.server.ThreadingHTTPServer):
    """Relays requests to ``upstream``; GETs of keys ending in a rule's suffix fail.

    ``cut``: the first ``count`` answers send the headers and half the body, then
    close the connection. ``short``: every answer is the first half of the object,
    with a Content-Length to match and no checksum header, as a store returning part
    of an object would (with the checksum, boto3 itself refuses it: DATA_LOSS too).
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream = upstream
        self.lock = threading.Lock()
        self.cut: dict[str, int] = {}
        self.short: set[str] = set()
        self.faults = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fault_for(self, method: str, path: str) -> str | None:
        if method != "GET":
            return None
        key = path.split("?", 1)[0]
        with self.lock:
            for suffix, left in self.cut.items():
                if key.endswith(suffix) and left > 0:
                    self.cut[suffix] = left - 1
                    self.faults += 1
                    return "cut"
            if any(key.endswith(suffix) for suffix in self.short):
                self.faults += 1
                return "short"
        return None


class _Relay(http.server.BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        host, port = self.server.upstream.removeprefix("http://").split(":")
        upstream = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body, headers)
        answer = upstream.getresponse()
        payload = answer.read()
        upstream.close()
        fault = self.server.fault_for(self.command, self.path)
        sent = payload[: len(payload) // 2] if fault else payload
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            lowered = name.lower()
            if lowered in ("content-length", "transfer-encoding", "connection"):
                continue
            if fault == "short" and lowered.startswith("x-amz-checksum"):
                continue  # a store that sends no checksum: only the size can tell
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload if fault == "cut" else sent)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(sent)
        self.wfile.flush()
        if fault == "cut":  # the rest of the body never comes
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_endpoint)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_cut_download_is_retried_and_a_partial_object_ends_the_version(
    s3_endpoint: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    s3.create_bucket(Bucket="models")
    version = saved_models.write_half_plus_two(tmp_path / "built" / "1")
    for model in ("flaky", "partial"):
        for file in version.rglob("*"):
            if file.is_file():
                s3.upload_file(str(file), "models", f"{model}/1/{file.relative_to(version)}")
    saved_models.write_half_plus_two(tmp_path / "local" / "1")
    proxy.cut[f"flaky/1/{DATA_FILE}"] = CUT_DOWNLOADS
    proxy.short.add(f"partial/1/{DATA_FILE}")
    config = write_model_config(
        tmp_path / "models.config",
        {
            "flaky": "s3://models/flaky",
            "partial": "s3://models/partial",
            "local": tmp_path / "local",
        },
    )
    temp = tmp_path / "server-tmp"
    temp.mkdir()
    env = {**credentials, "AWS_ENDPOINT_URL": proxy.url, "TMPDIR": str(temp)}
    with running_server(
        f"--model_config_file={config}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=4",
        "--load_retry_interval_micros=200000",
        env=env,
    ) as server:
        assert predicts_half_plus_two(server, "local")
        wait_until(
            lambda: (
                {v: s.state for v, s in version_statuses(server, "flaky").items()}
                == {1: "AVAILABLE"}
            ),
            timeout=60,
            what="flaky to load once its downloads stop being cut",
        )
        assert predicts_half_plus_two(server, "flaky")
        [(number, failed)] = version_statuses(server, "partial").items()
        assert (number, failed.state, failed.error_code) == (1, "END", "DATA_LOSS"), failed
        assert failed.error_message.startswith(f"Copying s3://models/partial/1/{DATA_FILE} got ")
        assert failed.error_message.endswith("bytes: the object store returned part of the object")
        assert f"Copying s3://models/flaky/1/{DATA_FILE} failed" in server.log()
        assert predicts_half_plus_two(server, "local")
    assert proxy.cut[f"flaky/1/{DATA_FILE}"] == 0  # every planned cut happened
    cache = temp / "tensorserve-s3" / "models"
    assert sorted(str(p.relative_to(cache)) for p in cache.glob("*/*")) == ["flaky/1"]
