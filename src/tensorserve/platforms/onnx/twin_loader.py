"""``--prefer_onnx_model``: a SavedModel whose verified twins run in ONNX Runtime.

:class:`TwinLoader` wraps the SavedModel's loader. After TensorFlow has loaded
the version, each twin the manifest calls verified is opened, re-checked
against TensorFlow on the version's warmup requests for that signature (or,
without any, on seeded inputs of the signature's shapes), and timed against
TensorFlow on the same inputs. A twin that disagrees beyond its recorded
tolerance is dropped with a warning; one that is slower is dropped with an
info line. Everything else - classify, regress, signatures without a twin -
stays in TensorFlow. The choice is logged and shown by :attr:`TwinModel.runtimes`
and in the model's ``platform`` (``tensorflow+onnx`` when any twin serves).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tensorserve.core import errors
from tensorserve.core.loader import Loader, ResourceEstimate
from tensorserve.platforms.array_model import ArrayModel
from tensorserve.servables.model import ExampleApisOfInner, Model
from tensorserve.servables.signature import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature

from .agreement import max_difference
from .onnx_session import SessionRunner, open_session
from .options import OnnxOptions
from .twin_manifest import TWINS_DIR, TwinRecord, read_manifest

TENSORFLOW = "tensorflow"
ONNX_RUNTIME = "onnxruntime"
TIMED_RUNS = 10
MAX_CHECK_REQUESTS = 8
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"

logger = logging.getLogger(__name__)


class TwinModel(ExampleApisOfInner):
    """A TensorFlow model whose ``onnx`` signatures run in ONNX Runtime. Thread-safe."""

    def __init__(self, tensorflow: Model, onnx: ArrayModel, runtimes: Mapping[str, str]) -> None:
        self.inner = tensorflow
        self._onnx = onnx
        self._runtimes = dict(runtimes)
        self._onnx_names = frozenset(onnx.signatures)

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self.inner.signatures

    @property
    def platform(self) -> str:
        return "tensorflow+onnx" if self._onnx_names else TENSORFLOW

    @property
    def runtimes(self) -> Mapping[str, str]:
        """The runtime serving each signature (``tensorflow`` or ``onnxruntime``)."""
        return self._runtimes

    def max_concurrent_calls(self, signature_name: str) -> int | None:
        """ONNX Runtime's limit for its signatures; TensorFlow's own calls have none
        (its kernels run on its intra-op pool, and fewer calls at once measured slower)."""
        if (signature_name or DEFAULT_SIGNATURE) in self._onnx_names:
            return self._onnx.max_concurrent_calls(signature_name)
        return None

    def compute_only(self, signature_name: str) -> bool:
        """ONNX Runtime's signatures only compute. A request ONNX Runtime refuses goes to
        TensorFlow in the same call, which is timed with it."""
        return (signature_name or DEFAULT_SIGNATURE) in self._onnx_names

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        if (signature_name or DEFAULT_SIGNATURE) in self._onnx_names:
            try:
                return self._onnx.predict(signature_name, inputs, output_filter, timeout_s)
            except errors.InvalidArgument:
                # ONNX Runtime holds inputs to the declared shapes, where TensorFlow's graph
                # may take more (half_plus_two answers x of shape [2] for [-1, 1]); so a
                # refused request goes to TensorFlow, which answers it or refuses it in
                # TensorFlow Serving's own words.
                pass
        return self.inner.predict(signature_name, inputs, output_filter, timeout_s)

    def close(self) -> None:
        self._onnx.close()


class TwinLoader(Loader):
    """Wraps a SavedModel's loader; adds the twins that pass the load-time checks."""

    def __init__(
        self,
        inner: Loader,
        path: Path,
        options: OnnxOptions | None = None,
        *,
        require_faster: bool = True,
    ) -> None:
        """``require_faster`` False keeps a twin that passes the check even when it is
        slower (for tests, where the models are too small to be faster)."""
        self._inner = inner
        self._path = Path(path)
        self._options = options or OnnxOptions()
        self._require_faster = require_faster
        self._model: TwinModel | None = None

    def estimate_resources(self) -> ResourceEstimate:
        return self._inner.estimate_resources()

    def load(self) -> None:
        self._inner.load()
        tensorflow: Model = self._inner.servable()
        try:
            records = read_manifest(self._path)
        except ValueError as exc:
            logger.warning("%s; serving every signature with TensorFlow", exc)
            records = {}
        signatures, runners, runtimes = {}, {}, {}
        for name in tensorflow.signatures:
            if name.startswith("__"):  # __saved_model_init_op: not a servable signature
                continue
            runtimes[name] = TENSORFLOW
            record = records.get(name)
            if record is None or not record.verified:
                continue
            runner = self._checked_runner(tensorflow, name, record)
            if runner is not None:
                signatures[name] = tensorflow.signatures[name]
                runners[name] = runner
                runtimes[name] = ONNX_RUNTIME
        onnx = ArrayModel(
            "onnx",
            signatures,
            runners,
            calls_at_once=self._options.calls_at_once(),
            compute_only=True,
        )
        self._model = TwinModel(tensorflow, onnx, runtimes)
        logger.info(
            "Runtimes of %s: %s",
            self._path,
            ", ".join(f"{name}={runtime}" for name, runtime in sorted(runtimes.items())),
        )

    def unload(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.close()
        self._inner.unload()

    def servable(self) -> TwinModel:
        if self._model is None:
            raise errors.FailedPrecondition(f"Servable at {self._path} is not loaded")
        return self._model

    def _checked_runner(
        self, tensorflow: Model, name: str, record: TwinRecord
    ) -> SessionRunner | None:
        signature = tensorflow.signatures[name]
        if signature.method_name != PREDICT_METHOD or signature.has_defaults:
            return None
        try:
            session = open_session(self._path / TWINS_DIR / record.file, self._options)
        except errors.ServingError as exc:
            logger.warning("ONNX twin of %s not used: %s", name, exc.message)
            return None
        runner = SessionRunner(session)
        requests = list(check_requests(self._path, signature))
        try:
            difference = _largest_difference(tensorflow, runner, name, requests)
        except errors.ServingError as exc:
            logger.warning("ONNX twin of %s not used: it failed a check: %s", name, exc.message)
            return None
        if difference > record.tolerance:
            logger.warning(
                "ONNX twin of %s not used: it differs from TensorFlow by %.3g on the load-time "
                "check, more than its tolerance %g; serving it with TensorFlow",
                name,
                difference,
                record.tolerance,
            )
            return None
        tf_seconds = _timed(lambda inputs: tensorflow.predict(name, inputs), requests)
        onnx_seconds = _timed(lambda inputs: runner(inputs, tuple(signature.outputs)), requests)
        if self._require_faster and onnx_seconds >= tf_seconds:
            logger.info(
                "ONNX twin of %s not used: slower than TensorFlow here (%.0f vs %.0f µs)",
                name,
                onnx_seconds * 1e6,
                tf_seconds * 1e6,
            )
            return None
        logger.info(
            "ONNX twin of %s serves it (%.0f µs vs TensorFlow's %.0f µs a call)",
            name,
            onnx_seconds * 1e6,
            tf_seconds * 1e6,
        )
        return runner


def _largest_difference(
    tensorflow: Model, runner: SessionRunner, name: str, requests: Sequence[dict[str, np.ndarray]]
) -> float:
    worst = 0.0
    outputs = tuple(tensorflow.signatures[name].outputs)
    for inputs in requests:
        expected = tensorflow.predict(name, inputs)
        actual = runner(inputs, outputs)
        worst = max(worst, max_difference(expected, actual))
    return worst


def _timed(call: Any, requests: Sequence[dict[str, np.ndarray]]) -> float:
    """Median seconds of one pass over ``requests``, after one untimed pass."""
    for inputs in requests:
        call(inputs)
    passes = []
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        for inputs in requests:
            call(inputs)
        passes.append(time.perf_counter() - started)
    return float(np.median(passes)) / max(len(requests), 1)


def check_requests(path: Path, signature: Signature) -> Iterable[dict[str, np.ndarray]]:
    """The version's warmup predict requests for ``signature``; seeded inputs of its
    shapes (batch 1 and 4) when there are none."""
    found = list(_warmup_inputs(path, signature))
    if found:
        return found[:MAX_CHECK_REQUESTS]
    rng = np.random.default_rng(0)
    made = []
    for batch in (1, 4):
        inputs = {}
        for alias, info in signature.inputs.items():
            shape = [batch if d < 0 else d for d in (info.shape or (-1,))]
            dtype = info.dtype.numpy
            if dtype.kind == "f":
                inputs[alias] = rng.random(shape).astype(dtype)
            elif dtype.kind == "b":
                inputs[alias] = rng.random(shape) > 0.5
            else:
                inputs[alias] = rng.integers(0, 4, shape).astype(dtype)
        made.append(inputs)
    return made


def _warmup_inputs(path: Path, signature: Signature) -> Iterable[dict[str, np.ndarray]]:
    records = path / WARMUP_FILE
    if not records.is_file():
        return
    from tensorflow_serving.apis import prediction_log_pb2

    from tensorserve.platforms.tensorflow.runtime import tf_record_iterator
    from tensorserve.tfserving.tensor_proto import tensor_proto_to_ndarray

    for record in tf_record_iterator(str(records)):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if not log.HasField("predict_log"):
            continue
        request = log.predict_log.request
        if (request.model_spec.signature_name or DEFAULT_SIGNATURE) != signature.name:
            continue
        inputs = {alias: tensor_proto_to_ndarray(t) for alias, t in request.inputs.items()}
        if set(inputs) == set(signature.inputs):
            yield inputs
