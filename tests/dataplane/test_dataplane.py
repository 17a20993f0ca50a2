"""The data plane owns each request: version hold, signature, decode offload, deadline,
metrics and release, whatever the protocol."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tensorserve.core.errors import (
    Code,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServableNotFound,
)
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor
from tensorserve.dataplane import (
    DataPlane,
    ExampleInference,
    Inference,
    ModelSpec,
    RunsOnLoop,
    VersionLabels,
)
from tensorserve.dataplane.model_executor import ModelExecutor
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
from tests.support.memory import all_freed, cycle_collector_paused
from tests.support.waiting import wait_until

FLOAT = DataType.DT_FLOAT
SIGNATURES = {
    "serving_default": Signature(
        "serving_default",
        PREDICT_METHOD,
        {"x": TensorInfo("x:0", FLOAT, (-1,))},
        {"y": TensorInfo("y:0", FLOAT, (-1,))},
    ),
    "classify": Signature(
        "classify", CLASSIFY_METHOD, {"inputs": TensorInfo("e:0", DataType.DT_STRING)}, {}
    ),
    "regress": Signature(
        "regress", REGRESS_METHOD, {"inputs": TensorInfo("e:0", DataType.DT_STRING)}, {}
    ),
}


class Model:
    """y = x * 2; ``gate`` holds predict until set; ``error`` makes predict raise it."""

    platform = "fake"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.error: Exception | None = None
        self.timeouts: list[float | None] = []
        self.threads: list[int] = []

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return SIGNATURES

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        self.timeouts.append(timeout_s)
        self.threads.append(threading.get_ident())
        assert self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return {"y": inputs["x"] * 2}

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        return Classifications(None, np.ones((len(examples), 1)))

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        return np.full(len(examples), 3.0)

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Any]:
        return [(name, method, len(examples)) for name, method in tasks]


class Observer:
    def __init__(self) -> None:
        self.finished: list[tuple[str, str, str, Code]] = []
        self.inflight_total = 0
        self.example_counts: list[tuple[str, int]] = []

    def inflight(self, model: str, delta: int) -> None:
        self.inflight_total += delta

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        assert seconds >= 0
        self.finished.append((model, api, entrypoint, code))

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        self.example_counts.append((model, count))


class Harness:
    def __init__(
        self, executor: ThreadPoolExecutor | ModelExecutor | None = None, **options: Any
    ) -> None:
        self.model = Model()
        self.manager = FakeManager({"m": {1: Model(), 2: self.model}})
        self.states = ServableStateMonitor()
        self.states.publish(ServableState(ServableId("m", 1), ManagerState.END))
        self.states.publish(ServableState(ServableId("m", 2), ManagerState.AVAILABLE))
        self.executor = executor or ThreadPoolExecutor(2)
        self.observer = Observer()
        self.dataplane = DataPlane(
            self.manager, self.states, self.executor, self.observer, **options
        )
        self.decode_threads: list[int] = []

    def decode(self, signature: Signature) -> Mapping[str, np.ndarray]:
        self.decode_threads.append(threading.get_ident())
        assert signature is SIGNATURES["serving_default"]
        return {"x": np.array([1.0, 2.0], np.float32)}

    def call(self, spec: ModelSpec | None = None, **fields: Any) -> Inference:
        fields.setdefault("size_hint", 10)
        return Inference(spec or ModelSpec("m"), self.decode, **fields)

    def assert_released(self) -> None:
        assert self.manager.open_handles == 0
        assert self.observer.inflight_total == 0


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    made.executor.shutdown(wait=False, cancel_futures=True)


def test_predict_returns_outputs_with_the_version_and_signature_that_answered(
    harness: Harness,
) -> None:
    result = asyncio.run(harness.dataplane.predict(harness.call(protocol="V2_REST", api="infer")))
    np.testing.assert_array_equal(result.outputs["y"], [2.0, 4.0])
    assert (result.id, result.signature_name) == (ServableId("m", 2), "serving_default")
    assert result.signature is SIGNATURES["serving_default"]
    assert harness.observer.finished == [("m", "infer", "V2_REST", Code.OK)]
    harness.assert_released()


def test_versions_and_labels_select_the_version(harness: Harness) -> None:
    harness.dataplane.set_version_labels(VersionLabels({"m": {"old": 1}}))
    by_version = asyncio.run(harness.dataplane.predict(harness.call(ModelSpec("m", version=1))))
    by_label = asyncio.run(harness.dataplane.predict(harness.call(ModelSpec("m", label="old"))))
    assert by_version.id.version == by_label.id.version == 1


def test_a_missing_signature_gets_the_transports_own_error(harness: Harness) -> None:
    call = harness.call(ModelSpec("m", signature_name="nope"))
    with pytest.raises(InvalidArgument) as default:
        asyncio.run(harness.dataplane.predict(call))
    assert default.value.message == 'Serving signature name: "nope" not found in signature def'

    def grpc_error(name: str) -> FailedPrecondition:
        return FailedPrecondition(f'Serving signature key "{name}" not found.')

    with pytest.raises(FailedPrecondition, match='key "nope" not found'):
        asyncio.run(harness.dataplane.predict(call, missing_signature=grpc_error))
    assert [code for *_, code in harness.observer.finished] == [
        Code.INVALID_ARGUMENT,
        Code.FAILED_PRECONDITION,
    ]
    harness.assert_released()


@pytest.mark.parametrize("failure", ["unknown model", "decode", "model", "bug"])
def test_every_error_path_releases_the_version_and_is_counted(
    harness: Harness, failure: str
) -> None:
    spec = ModelSpec("nope" if failure == "unknown model" else "m")

    def bad_decode(signature: Signature) -> Mapping[str, np.ndarray]:
        raise InvalidArgument("bad input")

    decode = bad_decode if failure == "decode" else harness.decode
    if failure == "model":
        harness.model.error = FailedPrecondition("model says no")
    if failure == "bug":
        harness.model.error = RuntimeError("boom")
    with pytest.raises(Exception) as caught:
        asyncio.run(harness.dataplane.predict(Inference(spec, decode, 10)))
    expected = {
        "unknown model": (ServableNotFound, Code.NOT_FOUND),
        "decode": (InvalidArgument, Code.INVALID_ARGUMENT),
        "model": (FailedPrecondition, Code.FAILED_PRECONDITION),
        "bug": (RuntimeError, Code.UNKNOWN),
    }[failure]
    assert isinstance(caught.value, expected[0])
    assert harness.observer.finished[-1][3] is expected[1]
    harness.assert_released()


@pytest.mark.parametrize("executor", ["thread pool", "model executor"])
@pytest.mark.parametrize("refused_by", ["decode", "offloaded decode", "model"])
def test_a_refused_requests_tensors_go_with_it_not_at_a_garbage_collection(
    executor: str, refused_by: str
) -> None:
    """An error raised where the tensors are locals (a decode, a model call) must not keep
    them alive through its traceback once the request has been answered: a server that
    refuses large tensors would otherwise grow by each one until the cycle collector ran."""
    pool = ThreadPoolExecutor(2) if executor == "thread pool" else ModelExecutor(2)
    harness = Harness(pool, offload_bytes=100)
    tensors: list[weakref.ref[np.ndarray]] = []

    def refusing_decode(signature: Signature) -> Mapping[str, np.ndarray]:
        x = np.ones(1000, np.float32)
        tensors.append(weakref.ref(x))
        raise InvalidArgument(f"refused {x.shape}")

    def refusing_model(*args: Any) -> dict[str, np.ndarray]:
        inputs = args[1]
        tensors.extend(weakref.ref(array) for array in inputs.values())
        raise InvalidArgument("refused by the model")

    def decode(signature: Signature) -> Mapping[str, np.ndarray]:
        return {"x": np.ones(1000, np.float32)}

    harness.model.predict = refusing_model  # type: ignore[method-assign]

    async def scenario() -> Code:
        call = Inference(
            ModelSpec("m"),
            decode if refused_by == "model" else refusing_decode,
            1000 if refused_by == "offloaded decode" else 10,
        )
        try:
            await harness.dataplane.predict(call)
        except InvalidArgument as error:
            return error.code
        return Code.OK

    try:
        with cycle_collector_paused():
            assert asyncio.run(scenario()) is Code.INVALID_ARGUMENT
            assert tensors
            wait_until(lambda: all_freed(tensors), timeout=10, what="the tensors to be freed")
    finally:
        pool.shutdown()
    harness.assert_released()


def test_a_call_refused_in_place_lets_its_tensors_go_with_it() -> None:
    # The same for a quick call run on the event loop (a compute_only model).
    harness = Harness(ModelExecutor(2, name="test-in-place-refused"))
    harness.model.compute_only = lambda name: True  # type: ignore[attr-defined]
    tensors: list[weakref.ref[np.ndarray]] = []
    predict = harness.model.predict

    def refusing_model(*args: Any) -> dict[str, np.ndarray]:
        if len(harness.model.threads) < 50 and harness.model.threads[-1:] != [loop_thread]:
            return predict(*args)  # warming up: until a call ran in place
        inputs = args[1]
        harness.model.threads.append(threading.get_ident())
        tensors.extend(weakref.ref(array) for array in inputs.values())
        raise InvalidArgument("refused by the model")

    harness.model.predict = refusing_model  # type: ignore[method-assign]
    loop_thread = -1

    async def scenario() -> Code:
        nonlocal loop_thread
        loop_thread = threading.get_ident()
        while not tensors:
            try:
                await harness.dataplane.predict(harness.call())
            except InvalidArgument as error:
                assert harness.model.threads[-1] == loop_thread
                return error.code
        return Code.OK

    try:
        with cycle_collector_paused():
            assert asyncio.run(scenario()) is Code.INVALID_ARGUMENT
            wait_until(lambda: all_freed(tensors), timeout=10, what="the tensors to be freed")
    finally:
        harness.executor.shutdown()
    harness.assert_released()


def test_cancellation_holds_the_version_until_the_model_run_ends(harness: Harness) -> None:
    harness.model.gate.clear()

    async def scenario() -> None:
        task = asyncio.create_task(harness.dataplane.predict(harness.call()))
        while not harness.model.timeouts:  # the run has started on a worker
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert harness.manager.open_handles == 1  # still held: the model is running
        harness.model.gate.set()
        for _ in range(1000):
            if not harness.manager.open_handles:
                break
            await asyncio.sleep(0.005)

    asyncio.run(scenario())
    harness.assert_released()
    assert harness.observer.finished == [("m", "predict", "REST", Code.CANCELLED)]


def test_a_run_past_its_deadline_and_grace_is_deadline_exceeded() -> None:
    harness = Harness(deadline_grace_s=0.05)
    harness.model.gate.clear()

    async def scenario() -> None:
        with pytest.raises(DeadlineExceeded, match="Timed out waiting for notification"):
            await harness.dataplane.predict(harness.call(timeout_s=0.01))
        assert harness.manager.open_handles == 1
        harness.model.gate.set()
        for _ in range(1000):
            if not harness.manager.open_handles:
                break
            await asyncio.sleep(0.005)

    try:
        asyncio.run(scenario())
    finally:
        harness.model.gate.set()
        harness.executor.shutdown(wait=True)
    assert harness.model.timeouts == [0.01]
    harness.assert_released()
    assert harness.observer.finished[-1][3] is Code.DEADLINE_EXCEEDED


def test_a_call_still_queued_when_its_deadline_passes_never_runs() -> None:
    # One worker, held by a first request; the second's call waits in the queue until its
    # deadline. It is taken back then: its version is released at once and the model
    # never runs it, so an overloaded server does not work for requests nobody awaits.
    harness = Harness(ModelExecutor(1, name="test-withdrawn"), deadline_grace_s=0.05)
    harness.model.gate.clear()

    async def scenario() -> None:
        first = asyncio.create_task(harness.dataplane.predict(harness.call()))
        await asyncio.to_thread(
            lambda: wait_until(lambda: harness.model.timeouts, timeout=5, what="first run")
        )
        with pytest.raises(DeadlineExceeded):
            await harness.dataplane.predict(harness.call(timeout_s=0.01))
        assert harness.manager.open_handles == 1  # the first's only
        harness.model.gate.set()
        await first

    try:
        asyncio.run(scenario())
    finally:
        harness.model.gate.set()
        harness.executor.shutdown()
    assert harness.model.timeouts == [None]  # the second call never ran
    harness.assert_released()


def test_a_model_that_limits_its_calls_at_once_gets_no_more() -> None:
    # ONNX Runtime's models say the cores; a limit below 1 means none.
    harness = Harness(ModelExecutor(4, name="test-limited"))
    guard, running, most = threading.Lock(), [0], [0]
    predict = harness.model.predict

    def counted(*args: Any) -> dict[str, np.ndarray]:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.005)
        with guard:
            running[0] -= 1
        return predict(*args)

    harness.model.predict = counted  # type: ignore[method-assign]

    async def burst() -> None:
        await asyncio.gather(*(harness.dataplane.predict(harness.call()) for _ in range(12)))

    try:
        harness.model.max_concurrent_calls = lambda name: 1  # type: ignore[attr-defined]
        asyncio.run(burst())
        assert most[0] == 1
        most[0] = 0
        harness.model.max_concurrent_calls = lambda name: 0  # type: ignore[attr-defined]
        asyncio.run(burst())
        assert most[0] > 1
    finally:
        harness.executor.shutdown()
    harness.assert_released()


def test_quick_calls_of_a_compute_only_model_run_in_place_and_large_ones_on_workers() -> None:
    # A call predicted quicker than a hand-over to a worker runs on the event loop; the
    # prediction comes from the calls seen, so the first call of a model runs on a worker.
    harness = Harness(ModelExecutor(2, name="test-in-place"))
    harness.model.compute_only = lambda name: True  # type: ignore[attr-defined]
    large = Inference(ModelSpec("m"), lambda signature: {"x": np.ones(4 << 20, np.float32)}, 10)

    async def scenario() -> int:
        for _ in range(50):
            await harness.dataplane.predict(harness.call())
            if harness.model.threads[-1] == threading.get_ident():
                break
        await harness.dataplane.predict(large)
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(scenario())
    finally:
        harness.executor.shutdown()
    first, *_, quick, big = harness.model.threads
    assert first != loop_thread
    assert quick == loop_thread
    assert big != loop_thread  # 16 MiB: predicted far slower than a hand-over
    assert harness.observer.finished[-1][3] is Code.OK
    harness.assert_released()


def test_a_model_not_compute_only_never_runs_on_the_event_loop() -> None:
    harness = Harness(ModelExecutor(2, name="test-not-in-place"))

    async def scenario() -> int:
        for _ in range(20):
            await harness.dataplane.predict(harness.call())
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(scenario())
    finally:
        harness.executor.shutdown()
    assert loop_thread not in harness.model.threads


def test_an_error_raised_by_a_call_in_place_is_the_requests_error() -> None:
    harness = Harness(ModelExecutor(2, name="test-in-place-error"))
    harness.model.compute_only = lambda name: True  # type: ignore[attr-defined]

    async def scenario() -> None:
        for _ in range(50):
            await harness.dataplane.predict(harness.call())
            if harness.model.threads[-1] == threading.get_ident():
                break
        harness.model.error = InvalidArgument("bad input")
        with pytest.raises(InvalidArgument, match="bad input"):
            await harness.dataplane.predict(harness.call())
        assert harness.model.threads[-1] == threading.get_ident()  # it ran in place

    try:
        asyncio.run(scenario())
    finally:
        harness.executor.shutdown()
    assert harness.observer.finished[-1][3] is Code.INVALID_ARGUMENT
    harness.assert_released()


def test_no_deadline_means_no_timeout_for_the_model(harness: Harness) -> None:
    asyncio.run(harness.dataplane.predict(harness.call()))
    assert harness.model.timeouts == [None]


@pytest.mark.parametrize(("size_hint", "offloaded"), [(100, False), (101, True)])
def test_decode_is_offloaded_only_above_the_one_threshold(size_hint: int, offloaded: bool) -> None:
    harness = Harness(offload_bytes=100)

    async def scenario() -> int:
        await harness.dataplane.predict(harness.call(size_hint=size_hint))
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(scenario())
    finally:
        harness.executor.shutdown(wait=True)
    assert (harness.decode_threads[0] != loop_thread) is offloaded


def test_convert_uses_the_same_threshold() -> None:
    harness = Harness(offload_bytes=100)

    async def scenario() -> tuple[int, int, int]:
        inline = await harness.dataplane.convert(100, threading.get_ident)
        pooled = await harness.dataplane.convert(101, threading.get_ident)
        return threading.get_ident(), inline, pooled

    try:
        loop_thread, inline, pooled = asyncio.run(scenario())
    finally:
        harness.executor.shutdown(wait=True)
    assert inline == loop_thread != pooled


def test_classify_and_regress_check_signature_then_input(harness: Harness) -> None:
    def run(api: str, signature: str, examples: list[bytes]) -> Any:
        call = ExampleInference(ModelSpec("m", signature_name=signature), examples, api=api)
        method = harness.dataplane.classify if api == "classify" else harness.dataplane.regress
        return asyncio.run(method(call))  # type: ignore[operator]

    assert run("regress", "regress", [b"e", b"e"]).result.tolist() == [3.0, 3.0]
    classified = run("classify", "classify", [b"e"])
    assert classified.id == ServableId("m", 2) and classified.signature_name == "classify"
    with pytest.raises(InvalidArgument, match="No signature was found with the name: nope"):
        run("classify", "nope", [])
    with pytest.raises(InvalidArgument, match=r"Input is empty\."):
        run("regress", "regress", [])
    assert [(api, code) for _, api, _, code in harness.observer.finished] == [
        ("regress", Code.OK),
        ("classify", Code.OK),
        ("classify", Code.INVALID_ARGUMENT),
        ("regress", Code.INVALID_ARGUMENT),
    ]
    assert harness.observer.example_counts == [("m", 2), ("m", 1)]
    harness.assert_released()


def test_multi_inference_is_one_model_call_on_the_planned_tasks(harness: Harness) -> None:
    def plan(signatures: Mapping[str, Signature]) -> list[tuple[str, str]]:
        assert signatures is SIGNATURES
        return [("classify", CLASSIFY_METHOD), ("regress", REGRESS_METHOD)]

    call = ExampleInference(ModelSpec("m"), [b"a", b"b"])
    answer = asyncio.run(harness.dataplane.multi_inference(call, plan))
    assert answer.result == [("classify", CLASSIFY_METHOD, 2), ("regress", REGRESS_METHOD, 2)]
    assert answer.id == ServableId("m", 2)
    assert harness.observer.finished == []  # not counted, as in TF Serving
    assert harness.observer.example_counts == [("m", 2)]
    harness.assert_released()


def test_describe_gives_neutral_signatures_and_platform(harness: Harness) -> None:
    description = asyncio.run(harness.dataplane.describe(ModelSpec("m")))
    assert description.id == ServableId("m", 2)
    assert description.signatures is SIGNATURES
    assert description.platform == "fake"
    with pytest.raises(NotFound):
        asyncio.run(harness.dataplane.describe(ModelSpec("m", version=7)))
    harness.assert_released()


def test_readiness_of_models_and_server(harness: Harness) -> None:
    assert harness.dataplane.model_ready("m")
    assert harness.dataplane.model_ready("m", 2)
    assert not harness.dataplane.model_ready("m", 1)
    assert not harness.dataplane.model_ready("nope")
    assert harness.dataplane.server_ready()
    harness.states.publish(ServableState(ServableId("other", 1), ManagerState.LOADING))
    assert not harness.dataplane.server_ready()


def test_observe_counts_requests_refused_before_a_call(harness: Harness) -> None:
    harness.dataplane.observe("m", "predict", "REST", InvalidArgument("bad json"), 0.0)
    harness.dataplane.observe("m", "GetModelStatus", "REST", None, 0.0)
    assert harness.observer.finished == [
        ("m", "predict", "REST", Code.INVALID_ARGUMENT),
        ("m", "GetModelStatus", "REST", Code.OK),
    ]


# -- predict_blocking: the same lifecycle on the calling thread ---------------------


def test_predict_blocking_runs_decode_and_model_on_the_calling_thread(
    harness: Harness,
) -> None:
    result = harness.dataplane.predict_blocking(harness.call(size_hint=10**9, protocol="GRPC"))
    np.testing.assert_array_equal(result.outputs["y"], [2.0, 4.0])
    assert (result.id, result.signature_name) == (ServableId("m", 2), "serving_default")
    # Not offloaded whatever its size: this thread is already off the event loop.
    assert harness.decode_threads == [threading.get_ident()]
    assert harness.observer.finished == [("m", "predict", "GRPC", Code.OK)]
    assert harness.model.timeouts == [None]
    harness.assert_released()


@pytest.mark.parametrize("failure", ["unknown model", "signature", "decode", "model", "bug"])
def test_predict_blocking_counts_every_error_and_releases_the_version(
    harness: Harness, failure: str
) -> None:
    spec = ModelSpec(
        "nope" if failure == "unknown model" else "m",
        signature_name="other" if failure == "signature" else "",
    )

    def bad_decode(signature: Signature) -> Mapping[str, np.ndarray]:
        raise InvalidArgument("bad input")

    def grpc_error(name: str) -> FailedPrecondition:
        return FailedPrecondition(f'Serving signature key "{name}" not found.')

    if failure == "model":
        harness.model.error = FailedPrecondition("model says no")
    if failure == "bug":
        harness.model.error = RuntimeError("boom")
    decode = bad_decode if failure == "decode" else harness.decode
    with pytest.raises(Exception) as caught:
        harness.dataplane.predict_blocking(
            Inference(spec, decode, 10), missing_signature=grpc_error
        )
    expected = {
        "unknown model": (ServableNotFound, Code.NOT_FOUND),
        "signature": (FailedPrecondition, Code.FAILED_PRECONDITION),
        "decode": (InvalidArgument, Code.INVALID_ARGUMENT),
        "model": (FailedPrecondition, Code.FAILED_PRECONDITION),
        "bug": (RuntimeError, Code.UNKNOWN),
    }[failure]
    assert isinstance(caught.value, expected[0])
    assert harness.observer.finished == [(spec.name, "predict", "REST", expected[1])]
    harness.assert_released()


def test_predict_blocking_past_its_deadline_and_grace_is_deadline_exceeded() -> None:
    harness = Harness(deadline_grace_s=0.02)
    harness.model.gate.clear()

    def open_late() -> None:
        # The run lasts 0.1 s from the model's entry, past the 0.03 s of deadline and
        # grace. (A timer started before the call could fire first when this thread
        # was held up on a loaded machine, and the run then ended in time.)
        wait_until(lambda: harness.model.timeouts, 10, interval=0.001)
        time.sleep(0.1)
        harness.model.gate.set()

    opener = threading.Thread(target=open_late)
    opener.start()
    try:
        with pytest.raises(DeadlineExceeded, match="Timed out waiting for notification"):
            harness.dataplane.predict_blocking(harness.call(timeout_s=0.01))
    finally:
        opener.join()
        harness.executor.shutdown()
    assert harness.model.timeouts == [0.01]
    assert harness.observer.finished == [("m", "predict", "REST", Code.DEADLINE_EXCEEDED)]
    harness.assert_released()


def test_predict_blocking_leaves_a_signature_awaited_on_the_loop_uncounted(
    harness: Harness,
) -> None:
    harness.model.runs_on_loop = lambda name: True  # type: ignore[attr-defined]
    with pytest.raises(RunsOnLoop):
        harness.dataplane.predict_blocking(harness.call())
    assert harness.model.timeouts == []  # the model was not called here
    assert harness.observer.finished == []  # predict, awaited instead, will count it
    harness.assert_released()
