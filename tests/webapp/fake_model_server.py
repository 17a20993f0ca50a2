"""A small fake of TensorFlow Serving's REST API (plus tensorserve's model list) for tests.

It answers status, metadata and row-format predict like TF Serving (same URLs, JSON shapes,
error texts and codes) for three models:

* ``mnist`` (versions 1 and 2): input ``image_bytes`` DT_STRING [-1] (PNG/JPEG bytes),
  outputs ``classes`` DT_STRING [-1, 10] and ``scores`` DT_FLOAT [-1, 10]; it really
  classifies the digit (see ``digits.DigitClassifier``).
* ``colors`` (version 1): input ``pixels`` DT_FLOAT [-1, 32, 32, 3] in [0, 1], one output
  ``probabilities`` DT_FLOAT [-1, 3]: the share of red, green and blue in the image.
* ``broken`` (version 3): failed to load (state END, error UNKNOWN).

Thread-safe: a ThreadingHTTPServer; the knobs tests turn are guarded by a lock.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

from tests.webapp.digits import DigitClassifier

RowFunction = Callable[[Any], Any]
_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>.*)$")


class FakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def tensor_info(dtype: str, shape: list[int], name: str) -> dict[str, Any]:
    return {
        "dtype": dtype,
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in shape],
            "unknown_rank": False,
        },
        "name": name,
    }


@dataclass
class FakeModel:
    """A served model: version states, one signature and a per-row predict function."""

    name: str
    versions: dict[str, tuple[str, str, str]]  # version -> (state, error_code, error_message)
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    predict_row: RowFunction

    def status_entries(self, version: str | None = None) -> list[dict[str, Any]]:
        return [
            {"version": v, "state": s, "status": {"error_code": code, "error_message": msg}}
            for v, (s, code, msg) in sorted(self.versions.items(), key=lambda kv: -int(kv[0]))
            if version is None or v == version
        ]

    def resolve(self, version: str | None) -> str:
        available = [v for v, (state, _, _) in self.versions.items() if state == "AVAILABLE"]
        if version is None:
            if not available:
                raise FakeError(404, f"Servable not found for request: Latest({self.name})")
            return max(available, key=int)
        if version not in available:
            raise FakeError(
                404, f"Servable not found for request: Specific({self.name}, {version})"
            )
        return version

    def metadata(self, version: str) -> dict[str, Any]:
        signature = {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "method_name": "tensorflow/serving/predict",
            "defaults": {},
        }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": version},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
        }


def mnist_model(classifier: DigitClassifier) -> FakeModel:
    labels = [str(d) for d in range(10)]

    def predict_row(value: Any) -> Any:
        if not (isinstance(value, dict) and set(value) == {"b64"}):
            raise FakeError(
                400,
                f"JSON Value: {json.dumps(value)[:256]} not formatted correctly for base64 data",
            )
        try:
            image = Image.open(io.BytesIO(base64.b64decode(value["b64"], validate=True)))
            image.load()
        except Exception as failure:  # TF's DecodeImage error, roughly
            raise FakeError(
                400, f"Expected image (JPEG, PNG, or GIF), got unknown format: {failure}"
            ) from failure
        return {"classes": labels, "scores": classifier.scores(image)}

    return FakeModel(
        name="mnist",
        versions={"1": ("AVAILABLE", "OK", ""), "2": ("AVAILABLE", "OK", "")},
        inputs={"image_bytes": tensor_info("DT_STRING", [-1], "image_bytes:0")},
        outputs={
            "classes": tensor_info("DT_STRING", [-1, 10], "classes:0"),
            "scores": tensor_info("DT_FLOAT", [-1, 10], "scores:0"),
        },
        predict_row=predict_row,
    )


def colors_model() -> FakeModel:
    def predict_row(value: Any) -> Any:
        pixels = np.asarray(value, dtype=np.float64)
        if pixels.shape != (32, 32, 3):
            raise FakeError(400, f"Expecting shape [32,32,3] but got: {list(pixels.shape)}")
        if pixels.min() < 0 or pixels.max() > 1:
            raise FakeError(400, "pixels must be in [0, 1]")
        means = pixels.mean(axis=(0, 1))
        total = means.sum() or 1.0
        return [float(m / total) for m in means]

    return FakeModel(
        name="colors",
        versions={"1": ("AVAILABLE", "OK", "")},
        inputs={"pixels": tensor_info("DT_FLOAT", [-1, 32, 32, 3], "pixels:0")},
        outputs={"probabilities": tensor_info("DT_FLOAT", [-1, 3], "Softmax:0")},
        predict_row=predict_row,
    )


def broken_model() -> FakeModel:
    return FakeModel(
        name="broken",
        versions={"3": ("END", "UNKNOWN", "Failed to load: no SavedModel bundle found")},
        inputs={},
        outputs={},
        predict_row=lambda value: value,
    )


class FakeModelServer:
    """Serves the fake models on 127.0.0.1 at a free port until :meth:`stop`."""

    def __init__(self, *, list_endpoint: bool = True) -> None:
        models = [mnist_model(DigitClassifier()), colors_model(), broken_model()]
        self.models = {model.name: model for model in models}
        self.list_endpoint = list_endpoint
        self._lock = threading.Lock()
        self._predict_delay_s = 0.0
        self._stopping = threading.Event()
        self.predict_paths: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases requests held by predict_delay_s
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def set_predict_delay(self, seconds: float) -> None:
        with self._lock:
            self._predict_delay_s = seconds

    def recorded_predict_paths(self) -> list[str]:
        with self._lock:
            return list(self.predict_paths)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """(status, JSON body or None for TF Serving's plain 404 page) of one request."""
        if path == "/tensorserve/v1/models" and method == "GET":
            if not self.list_endpoint:
                return 404, None
            return 200, {
                "models": [
                    {"name": m.name, "model_version_status": m.status_entries()}
                    for m in self.models.values()
                ]
            }
        match = _PATH.match(path)
        if not path.lower().startswith("/v1/"):
            return 404, None
        if match is None:
            return 400, {"error": f"Malformed request: {method} {path}"}
        name, version, rest = match["model"], match["version"], match["rest"]
        model = self.models.get(name)
        try:
            if method == "GET" and rest == "":
                if model is None:
                    raise FakeError(404, f"Could not find any versions of model {name}")
                entries = model.status_entries(version)
                if not entries:
                    raise FakeError(404, f"Could not find version {version} of model {name}")
                return 200, {"model_version_status": entries}
            if model is None:
                raise FakeError(404, f"Servable not found for request: Latest({name})")
            if method == "GET" and rest == "/metadata":
                return 200, model.metadata(model.resolve(version))
            if method == "POST" and rest == ":predict":
                return 200, self._predict(model, version, path, body)
            return 400, {"error": f"Malformed request: {method} {path}"}
        except FakeError as failure:
            return failure.status, {"error": failure.message}

    def _predict(self, model: FakeModel, version: str | None, path: str, body: bytes) -> Any:
        model.resolve(version)
        with self._lock:
            self.predict_paths.append(path)
            delay = self._predict_delay_s
        if delay:
            self._stopping.wait(delay)
        request = json.loads(body or b"null")
        if not isinstance(request, dict) or not isinstance(request.get("instances"), list):
            raise FakeError(400, "Missing 'inputs' or 'instances' key")
        return {"predictions": [model.predict_row(row) for row in request["instances"]]}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = server.handle(method, self.path, body)
                data = (
                    b"<html><body>Not Found</body></html>"
                    if payload is None
                    else json.dumps(payload).encode()
                )
                self.send_response(status)
                self.send_header(
                    "Content-Type", "text/html" if payload is None else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
