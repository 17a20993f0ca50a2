"""Doubles for the REST tests: numpy fake models behind a fake manager, a real DataPlane,
and a tiny in-process ASGI client."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import DataPlane, VersionLabels
from tensorserve.rest import RestOptions, create_app
from tensorserve.rest.asgi import ASGIApp, Message
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    Signature,
    TensorInfo,
)
from tests.support.fake_manager import FakeManager

FLOAT = DataType.DT_FLOAT


def _signature(
    name: str, method: str, inputs: Mapping[str, DataType], outputs: Mapping[str, DataType]
) -> Signature:
    return Signature(
        name,
        method,
        {k: TensorInfo(f"{k}:0", t, (-1,)) for k, t in inputs.items()},
        {k: TensorInfo(f"{k}:0", t, (-1,)) for k, t in outputs.items()},
    )


def _parse_x(examples: Sequence[bytes]) -> np.ndarray:
    from tensorflow.core.example import example_pb2

    values = []
    for serialized in examples:
        feature = example_pb2.Example.FromString(serialized).features.feature.get("x")
        if feature is None or len(feature.float_list.value) != 1:
            raise InvalidArgument("feature x must be one float")
        values.append(feature.float_list.value[0])
    return np.asarray(values, dtype=np.float32)


class FakeModel:
    """A numpy model: ``serving_default`` is half_plus_two unless other signatures are given;
    any other predict signature echoes its inputs back as outputs of the same names."""

    def __init__(self, signatures: Mapping[str, Signature] | None = None) -> None:
        self._signatures = dict(signatures or half_plus_two_signatures())
        self.predict_calls: list[tuple[str, dict[str, np.ndarray], float | None]] = []
        self.release = threading.Event()
        self.release.set()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def platform(self) -> str:
        return "fake"

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Any]:
        return [
            self.classify(name, examples, timeout_s)
            if method == CLASSIFY_METHOD
            else self.regress(name, examples, timeout_s)
            for name, method in tasks
        ]

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        self.predict_calls.append((signature_name, dict(inputs), timeout_s))
        assert self.release.wait(30)
        if signature_name == "serving_default" and "x" in inputs:
            return {"y": np.asarray(inputs["x"], dtype=np.float32) * 0.5 + 2}
        return dict(inputs)

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        self._check(signature_name)
        scores = (_parse_x(examples) * 0.5 + 2).reshape(-1, 1)
        return Classifications(classes=None, scores=scores)

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        self._check(signature_name)
        return _parse_x(examples) * 0.5 + 2

    def _check(self, signature_name: str) -> None:
        if signature_name not in self._signatures:
            raise InvalidArgument(f"No signature was found with the name: {signature_name}")


def half_plus_two_signatures() -> dict[str, Signature]:
    return {
        "serving_default": _signature(
            "serving_default", PREDICT_METHOD, {"x": FLOAT}, {"y": FLOAT}
        ),
        "classify_x_to_y": _signature(
            "classify_x_to_y", CLASSIFY_METHOD, {"inputs": DataType.DT_STRING}, {"scores": FLOAT}
        ),
        "regress_x_to_y": _signature(
            "regress_x_to_y", REGRESS_METHOD, {"inputs": DataType.DT_STRING}, {"outputs": FLOAT}
        ),
        "tensorflow/serving/regress": _signature(
            "tensorflow/serving/regress",
            REGRESS_METHOD,
            {"inputs": DataType.DT_STRING},
            {"outputs": FLOAT},
        ),
    }


def echo_signature(name: str, inputs: Mapping[str, DataType]) -> Signature:
    return _signature(name, PREDICT_METHOD, inputs, inputs)


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class RecordingObserver:
    finished: list[tuple[str, str, str, Any]] = dataclasses.field(default_factory=list)
    example_counts: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def inflight(self, model: str, delta: int) -> None:
        pass

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Any, seconds: float
    ) -> None:
        self.finished.append((model, api, entrypoint, code))

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        self.example_counts.append((model, count))


def call_asgi(
    app: ASGIApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    chunk_size: int | None = None,
) -> Response:
    """Run one request through ``app`` in a fresh event loop."""
    return asyncio.run(call_asgi_async(app, method, path, body, headers, chunk_size))


async def call_asgi_async(
    app: ASGIApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    chunk_size: int | None = None,
) -> Response:
    """Run one request through ``app`` in the running loop (as uvicorn would present it)."""
    raw_path, _, query = path.partition("?")
    chunks = (
        [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
        if chunk_size
        else [body]
    )
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return Response(
        start["status"],
        {k.decode(): v.decode() for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


class RestHarness:
    """A REST app over a fake manager; ``post``/``get`` run requests in-process."""

    def __init__(self, options: RestOptions | None = None, **dataplane_options: Any) -> None:
        self.manager = FakeManager()
        self.states = ServableStateMonitor()
        self.executor = ThreadPoolExecutor(4)
        self.observer = RecordingObserver()
        self.dataplane = DataPlane(
            self.manager, self.states, self.executor, self.observer, **dataplane_options
        )
        self.options = options or RestOptions()
        self.app = create_app(self.dataplane, self.options)

    def add_model(self, name: str, version: int, model: Any) -> Any:
        self.manager.add(name, version, model)
        self.states.publish(ServableState(ServableId(name, version), ManagerState.AVAILABLE))
        return model

    def set_labels(self, labels: Mapping[str, Mapping[str, int]]) -> None:
        self.dataplane.set_version_labels(VersionLabels(labels))

    def with_options(self, **changes: Any) -> RestHarness:
        self.options = dataclasses.replace(self.options, **changes)
        self.app = create_app(self.dataplane, self.options)
        return self

    def post(
        self, path: str, payload: Any = None, *, body: bytes | None = None, **kw: Any
    ) -> Response:
        data = body if body is not None else json.dumps(payload).encode()
        return call_asgi(self.app, "POST", path, data, **kw)

    def get(self, path: str, **kw: Any) -> Response:
        return call_asgi(self.app, "GET", path, **kw)

    def request(self, method: str, path: str, **kw: Any) -> Response:
        return call_asgi(self.app, method, path, **kw)


@pytest.fixture
def harness() -> Iterator[RestHarness]:
    h = RestHarness()
    h.add_model("half_plus_two", 123, FakeModel())
    yield h
    h.executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def make_harness() -> Iterator[Callable[..., RestHarness]]:
    made: list[RestHarness] = []

    def make(**options: Any) -> RestHarness:
        """``offload_bytes`` and ``deadline_grace_s`` go to the data plane, the rest to
        ``RestOptions``."""
        dataplane_options = {
            key: options.pop(key) for key in ("offload_bytes", "deadline_grace_s") if key in options
        }
        h = RestHarness(RestOptions(**options), **dataplane_options)
        made.append(h)
        return h

    yield make
    for h in made:
        h.executor.shutdown(wait=False, cancel_futures=True)
