"""PythonModel: input and output checks, error mapping, streaming, async methods,
the loop-block warning and the concurrency cap - through tensorserve.testing."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.testing import LoadedServable, load_servable
from tests.support.python_servables import doubler, write_version

KINDS = """
import asyncio
import threading
import time
import numpy as np
import tensorserve

def spec(dtype="float32"):
    return tensorserve.TensorSpec(dtype, [-1])

def sig(method, streaming=False, x="float32", y="float32", names=("x", "y")):
    return tensorserve.Signature(
        inputs={names[0]: spec(x)}, outputs={names[1]: spec(y)}, method=method, streaming=streaming
    )

class Kinds(tensorserve.Servable):
    max_concurrency = 1
    signatures = {
        "serving_default": sig("predict"),
        "refuse": sig("refuse"),
        "crash": sig("crash"),
        "exits": sig("exits"),
        "wrong": sig("wrong", y="int32"),
        "texts": sig("texts", x="string", y="string", names=("s", "t")),
        "count": sig("count", True, "int64", "int64", ("n", "i")),
        "acount": sig("acount", True, "int64", "int64", ("n", "i")),
        "broken_stream": sig("broken_stream", True, "int64", "int64", ("n", "i")),
        "later": sig("later"),
        "hog": sig("hog"),
        "slow": sig("slow"),
    }

    def load(self, context):
        self.closed = []
        self.release = threading.Event()

    def predict(self, inputs, context):
        return {"y": inputs["x"] + 1}

    def refuse(self, inputs, context):
        raise tensorserve.InvalidInput("x must be positive")

    def crash(self, inputs, context):
        raise ValueError("boom")

    def exits(self, inputs, context):
        raise SystemExit(3)

    def wrong(self, inputs, context):
        return {"y": inputs["x"] + 0.5}

    def texts(self, inputs, context):
        return {"t": [s.decode().upper() for s in inputs["s"]]}

    def count(self, inputs, context):
        try:
            for i in range(int(inputs["n"][0])):
                yield {"i": np.array([i])}
        finally:
            self.closed.append("count")

    async def acount(self, inputs, context):
        for i in range(int(inputs["n"][0])):
            await asyncio.sleep(0)
            yield {"i": np.array([i])}

    def broken_stream(self, inputs, context):
        yield {"i": np.array([0])}
        raise KeyError("lost")

    async def later(self, inputs, context):
        await asyncio.sleep(0.001)
        return {"y": inputs["x"] * 3}

    async def hog(self, inputs, context):
        time.sleep(0.15)
        return {"y": inputs["x"]}

    def slow(self, inputs, context):
        self.release.wait(10)
        return {"y": inputs["x"]}
"""

X = {"x": np.array([1.0, 2.0], np.float32)}


@pytest.fixture
def kinds(tmp_path: Path) -> LoadedServable:
    with load_servable(write_version(tmp_path, 1, {"servable.py": KINDS}), name="kinds") as s:
        yield s


def _error(fn, *args, **kwargs) -> ServingError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServingError) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_invalid_input_is_invalid_argument_with_the_servables_text(kinds: LoadedServable) -> None:
    error = _error(kinds.predict, X, "refuse")
    assert (error.code, error.message) == (Code.INVALID_ARGUMENT, "x must be positive")


@pytest.mark.parametrize(
    ("signature", "raised"), [("crash", "ValueError: boom"), ("exits", "SystemExit: 3")]
)
def test_other_exceptions_are_internal_naming_the_servable(
    kinds: LoadedServable, signature: str, raised: str
) -> None:
    error = _error(kinds.predict, X, signature)
    assert error.code is Code.INTERNAL
    assert error.message == f"servable 'kinds' version 1 raised {raised}"
    assert kinds.predict(X)["y"].tolist() == [2.0, 3.0]  # and the version still serves


def test_inputs_get_tensorflow_servings_texts(kinds: LoadedServable) -> None:
    extra = _error(kinds.predict, {"x": X["x"], "z": X["x"]})
    assert extra.message.startswith("input size does not match signature: 2!=1")
    dtype = _error(kinds.predict, {"x": np.array([1.0])})
    assert dtype.message == "Expects arg[0] to be float but double is provided"
    rank = _error(kinds.predict, {"x": np.ones((1, 2), np.float32)})
    assert rank.code is Code.INVALID_ARGUMENT and "expects [-1]" in rank.message
    unknown = _error(kinds.predict, X, output_filter=("nope",))
    assert "output tensor alias not found in signature: nope" in unknown.message


def test_outputs_are_cast_when_exact_and_internal_when_not(kinds: LoadedServable) -> None:
    error = _error(kinds.predict, X, "wrong")
    assert error.code is Code.INTERNAL
    assert "declared int32 and cannot hold it exactly" in error.message


def test_strings_are_bytes_in_and_out(kinds: LoadedServable) -> None:
    out = kinds.predict({"s": np.array([b"ab", b"c"], dtype=object)}, "texts")
    assert out["t"].dtype == object and out["t"].tolist() == [b"AB", b"C"]


def test_a_unary_call_to_a_streaming_signature_is_refused(kinds: LoadedServable) -> None:
    error = _error(kinds.predict, {"n": np.array([2])}, "count")
    assert error.code is Code.INVALID_ARGUMENT
    assert "'count' of model 'kinds' is streaming; use ModelStreamInfer or /infer_stream" in (
        error.message
    )


@pytest.mark.parametrize("signature", ["count", "acount"])
def test_streams_yield_every_chunk_in_order(kinds: LoadedServable, signature: str) -> None:
    chunks = list(kinds.stream({"n": np.array([4])}, signature))
    assert [c["i"].tolist() for c in chunks] == [[0], [1], [2], [3]]


def test_closing_a_stream_closes_the_generator(kinds: LoadedServable) -> None:
    stream = kinds.stream({"n": np.array([100])}, "count")
    next(stream)
    stream.close()
    assert kinds.servable.closed == ["count"]


def test_an_error_after_the_first_chunk_is_internal(kinds: LoadedServable) -> None:
    stream = kinds.stream({"n": np.array([1])}, "broken_stream")
    assert next(stream)["i"].tolist() == [0]
    error = _error(next, stream)
    assert error.message == "servable 'kinds' version 1 raised KeyError: 'lost'"


def test_async_methods_run_without_a_server_and_on_a_loop(kinds: LoadedServable) -> None:
    assert kinds.predict(X, "later")["y"].tolist() == [3.0, 6.0]

    async def on_loop() -> list[float]:
        out = await kinds.model.predict_async("later", X)
        return list(out["y"])

    assert asyncio.run(on_loop()) == [3.0, 6.0]
    assert kinds.model.runs_on_loop("later") and not kinds.model.runs_on_loop("serving_default")


def test_an_async_method_that_blocks_the_loop_is_logged(
    kinds: LoadedServable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        asyncio.run(kinds.model.predict_async("hog", X))
    assert "servable 'kinds' version 1 blocked the event loop for" in caplog.text


def test_max_concurrency_waits_within_the_deadline(kinds: LoadedServable) -> None:
    first = threading.Thread(target=kinds.predict, args=(X, "slow"))
    first.start()
    try:
        error = _error(kinds.predict, X, "slow", timeout_s=0.2)
        assert error.code is Code.DEADLINE_EXCEEDED
    finally:
        kinds.servable.release.set()
        first.join()
    assert kinds.predict(X, "slow")["y"].tolist() == [1.0, 2.0]


def test_max_concurrency_is_the_lane_limit_for_the_worker_pool(
    kinds: LoadedServable, tmp_path: Path
) -> None:
    # The data plane queues calls past it in the version's lane (no worker thread held).
    assert kinds.model.max_concurrent_calls("slow") == 1
    with load_servable(write_version(tmp_path, 1, {"servable.py": EXAMPLES})) as uncapped:
        assert uncapped.model.max_concurrent_calls("serving_default") is None


def test_the_issue_example_through_testing(tmp_path: Path) -> None:
    with load_servable(write_version(tmp_path, 1, {"servable.py": doubler(3.0)})) as tripler:
        assert tripler.predict({"x": [1.0]})["y"].tolist() == [3.0]


EXAMPLES = """
import numpy as np
import tensorserve

class Examples(tensorserve.Servable):
    signatures = {"serving_default": tensorserve.Signature(
        inputs={"x": tensorserve.TensorSpec("float32", [-1])},
        outputs={"y": tensorserve.TensorSpec("float32", [-1])})}

    def predict(self, inputs, context):
        return {"y": inputs["x"]}

    def classify(self, examples, context):
        return {"classes": [["a", "b"]] * len(examples), "scores": [[0.9, 0.1]] * len(examples)}

    def regress(self, examples, context):
        return [float(len(e)) for e in examples]
"""


def test_classify_and_regress_call_the_servables_methods(tmp_path: Path) -> None:
    with load_servable(write_version(tmp_path, 1, {"servable.py": EXAMPLES})) as served:
        classes = served.model.classify("serving_default", [b"e1", b"e22"])
        assert classes.classes is not None and classes.classes.tolist() == [[b"a", b"b"]] * 2
        assert classes.scores is not None and classes.scores.dtype == np.float32
        assert served.model.regress("serving_default", [b"e1", b"e22"]).tolist() == [2.0, 3.0]
    with load_servable(write_version(tmp_path, 2, {"servable.py": KINDS})) as kinds:
        error = _error(kinds.model.classify, "serving_default", [b"e"])
        assert (error.code, error.message) == (
            Code.UNIMPLEMENTED,
            "servable 'servable' version 1 does not define classify",
        )
