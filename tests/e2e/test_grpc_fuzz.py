"""Hypothesis-generated gRPC requests against a real server: a client's mistake is never
INTERNAL or UNKNOWN, the server stays alive and correct, and its memory stays flat.

Seeded and bounded: ``TENSORSERVE_FUZZ_SEED=<n>`` replays a run (the seed is printed,
and named in every failure); ``TENSORSERVE_FUZZ_CASES`` sets the cases per method.

Each method is one row of ``METHODS``: a path and a strategy for its request message
(TF Serving's five, and the V2 ``ModelInfer`` from ``tritonclient.grpc.service_pb2``).
Every method also gets raw garbage and mutated valid requests.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from tests.support.memory import anonymous_bytes
from tests.support.server_process import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = int(os.environ.get("TENSORSERVE_FUZZ_SEED", "20261202"))
CASES = int(os.environ.get("TENSORSERVE_FUZZ_CASES", "80"))
SERVER_FAULTS = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
INT64_MAX = 2**63 - 1
MODEL = "half_plus_two"
SIGNATURES = [
    "",
    "serving_default",
    "classify_x_to_y",
    "regress_x_to_y",
    "regress_x_to_y2",
    "regress_x2_to_y3",
    "nope",
]

# -- strategies -----------------------------------------------------------------------

odd_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12
) | st.sampled_from(["", "x", "inputs", "serving_default", "../x", "\u202e", "a" * 300])
odd_bytes = st.binary(max_size=40) | st.sampled_from([b"", b"\xff\xfe", b"\x00" * 8, b"1.0"])
dims = st.sampled_from([0, 1, 2, 3, -1, -(2**63), INT64_MAX, 2**31, 100_000]) | st.integers(
    -5, 2**40
)
dtypes = st.sampled_from(list(types_pb2.DataType.values())) | st.integers(-3, 200)


@st.composite
def model_specs(draw: st.DrawFn) -> model_pb2.ModelSpec | None:
    if draw(st.integers(0, 9)) == 9:
        return None  # no model_spec at all
    # Mostly the served model, so most cases get past the lookup to the model itself.
    # (hypothesis starts from the smallest draws: 0 picks the common case)
    name = MODEL if draw(st.integers(0, 9)) < 9 else draw(st.sampled_from(["", "nope"]) | odd_text)
    signature = draw(st.sampled_from(SIGNATURES)) if draw(st.integers(0, 5)) < 5 else draw(odd_text)
    spec = model_pb2.ModelSpec(name=name, signature_name=signature)
    choice = draw(st.integers(0, 5))
    if choice == 1:
        spec.version.value = draw(st.sampled_from([123, 0, -1, INT64_MAX]) | st.integers(-9, 999))
    elif choice == 2:
        spec.version_label = draw(odd_text)
    return spec


@st.composite
def plausible_tensors(draw: st.DrawFn) -> tensor_pb2.TensorProto:
    """What the model takes (float [n, 1]), with content a few bytes off now and then."""
    rows = draw(st.integers(0, 4))
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for size in draw(st.sampled_from([[rows, 1], [rows], [rows, 1, 1], [1, rows]])):
        proto.tensor_shape.dim.add().size = size
    values = draw(st.lists(st.floats(width=32), min_size=rows, max_size=rows))
    if draw(st.booleans()):
        content = np.asarray(values, "<f4").tobytes()
        proto.tensor_content = content[: len(content) + draw(st.sampled_from([0, 0, -1, 3]))]
    else:
        proto.float_val.extend(values)
    return proto


@st.composite
def tensors(draw: st.DrawFn) -> tensor_pb2.TensorProto:
    if draw(st.integers(0, 2)) == 0:
        return draw(plausible_tensors())
    proto = tensor_pb2.TensorProto(dtype=draw(dtypes | st.just(types_pb2.DT_FLOAT)))
    rank = draw(st.sampled_from([0, 1, 2, 3, 64, 65, 255]) | st.integers(0, 6))
    shape = [draw(dims) for _ in range(min(rank, 8))] + [1] * max(0, rank - 8)
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    if draw(st.integers(0, 20)) == 0:
        proto.tensor_shape.unknown_rank = True
    kind = draw(st.integers(0, 4))
    if kind == 0:  # tensor_content whose length may or may not agree with the shape
        proto.tensor_content = draw(st.binary(max_size=64))
    elif kind == 1:
        proto.float_val.extend(draw(st.lists(st.floats(width=32), max_size=6)))
    elif kind == 2:
        proto.int64_val.extend(draw(st.lists(st.integers(-(2**63), INT64_MAX), max_size=6)))
    elif kind == 3:
        proto.string_val.extend(draw(st.lists(odd_bytes, max_size=6)))
    else:
        proto.half_val.extend(draw(st.lists(st.integers(0, 2**31 - 1), max_size=4)))
        proto.dcomplex_val.extend(draw(st.lists(st.floats(), max_size=3)))
    return proto


@st.composite
def examples(draw: st.DrawFn) -> example_pb2.Example:
    """Many features, long lists, odd keys and values: what a tf.Example can hold."""
    example = example_pb2.Example()
    if draw(st.integers(0, 2)) == 0:  # what the model parses: x, one float
        example.features.feature["x"].float_list.value.append(draw(st.floats(width=32)))
        return example
    count = draw(st.sampled_from([0, 1, 2, 300]) | st.integers(0, 5))
    for i in range(count):
        key = "x" if i == 0 and draw(st.booleans()) else draw(odd_text) + str(i)
        feature: feature_pb2.Feature = example.features.feature[key]
        kind = draw(st.integers(0, 3))
        length = draw(st.sampled_from([0, 1, 2, 1000]))
        if kind == 0:
            feature.float_list.value.extend([draw(st.floats(width=32))] * length)
        elif kind == 1:
            feature.int64_list.value.extend([draw(st.integers(-(2**63), INT64_MAX))] * length)
        elif kind == 2:
            feature.bytes_list.value.extend([draw(odd_bytes)] * length)
        # kind 3: a feature with no list at all
    return example


@st.composite
def inputs(draw: st.DrawFn) -> input_pb2.Input:
    proto = input_pb2.Input()
    kind = draw(st.integers(0, 2))
    if kind == 0:
        proto.example_list.examples.extend(draw(st.lists(examples(), max_size=4)))
    elif kind == 1:
        with_context = proto.example_list_with_context
        with_context.examples.extend(draw(st.lists(examples(), max_size=3)))
        if draw(st.booleans()):
            with_context.context.CopyFrom(draw(examples()))
    return proto  # kind 2: an empty Input


def with_spec(message: Any, spec: model_pb2.ModelSpec | None) -> Any:
    if spec is not None:
        message.model_spec.CopyFrom(spec)
    return message


@st.composite
def predict_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    request = with_spec(predict_pb2.PredictRequest(), draw(model_specs()))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2, 3]))):
        request.inputs[draw(st.sampled_from(["x", "x", "inputs"]) | odd_text)].CopyFrom(
            draw(tensors())
        )
    if draw(st.integers(0, 2)) == 0:
        request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "z"]), max_size=3)))
    return request


@st.composite
def classification_requests(draw: st.DrawFn) -> classification_pb2.ClassificationRequest:
    request = with_spec(classification_pb2.ClassificationRequest(), draw(model_specs()))
    request.input.CopyFrom(draw(inputs()))
    return request


@st.composite
def regression_requests(draw: st.DrawFn) -> regression_pb2.RegressionRequest:
    request = with_spec(regression_pb2.RegressionRequest(), draw(model_specs()))
    request.input.CopyFrom(draw(inputs()))
    return request


@st.composite
def multi_inference_requests(draw: st.DrawFn) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for _ in range(draw(st.integers(0, 4))):
        task = with_spec(request.tasks.add(), draw(model_specs()))
        task.method_name = draw(
            st.sampled_from(
                ["tensorflow/serving/classify", "tensorflow/serving/regress", "predict"]
            )
            | odd_text
        )
    request.input.CopyFrom(draw(inputs()))
    return request


@st.composite
def metadata_requests(draw: st.DrawFn) -> get_model_metadata_pb2.GetModelMetadataRequest:
    request = with_spec(get_model_metadata_pb2.GetModelMetadataRequest(), draw(model_specs()))
    request.metadata_field.extend(
        draw(st.lists(st.sampled_from(["signature_def", "signature_def"]) | odd_text, max_size=3))
    )
    return request


V2_DATATYPES = ["FP32", "FP32", "FP64", "INT64", "INT8", "UINT64", "BOOL", "BYTES", "FP16", "BF16"]


@st.composite
def infer_parameters(draw: st.DrawFn, into: Any) -> None:
    for key in draw(st.lists(st.sampled_from(["binary_data_size", "classification"]) | odd_text)):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            into[key].int64_param = draw(st.integers(-(2**63), INT64_MAX))
        elif kind == 1:
            into[key].string_param = draw(odd_text)
        elif kind == 2:
            into[key].bool_param = draw(st.booleans())
        else:
            into[key].double_param = draw(st.floats())


@st.composite
def model_infer_requests(draw: st.DrawFn) -> Any:
    """V2 ``ModelInferRequest``: datatypes, shapes and raw contents that may disagree."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(
        model_name=MODEL if draw(st.integers(0, 9)) < 9 else draw(odd_text),
        model_version=draw(st.sampled_from(["", "123", "0", "-1", "99999999999999999999"])),
        id=draw(odd_text),
    )
    raw = draw(st.booleans())
    for _ in range(draw(st.sampled_from([1, 1, 0, 2]))):
        tensor = request.inputs.add(
            name=draw(st.sampled_from(["x", "x", "y"]) | odd_text),
            datatype=draw(st.sampled_from(V2_DATATYPES) | odd_text),
            shape=[draw(dims) for _ in range(draw(st.sampled_from([2, 1, 0, 3, 65])))],
        )
        draw(infer_parameters(tensor.parameters))
        if raw:
            request.raw_input_contents.append(draw(st.binary(max_size=64)))
        else:
            values = draw(st.lists(st.floats(width=32), max_size=6))
            tensor.contents.fp32_contents.extend(values)
            if draw(st.integers(0, 3)) == 0:
                tensor.contents.bytes_contents.extend(draw(st.lists(odd_bytes, max_size=3)))
    for _ in range(draw(st.integers(0, 2))):
        request.outputs.add(name=draw(st.sampled_from(["y", "z"]) | odd_text))
    draw(infer_parameters(request.parameters))
    return request


@dataclasses.dataclass(frozen=True)
class Method:
    path: str
    requests: st.SearchStrategy[Any]


PREDICTION = "/tensorflow.serving.PredictionService/"
METHODS = [
    Method(PREDICTION + "Predict", predict_requests()),
    Method(PREDICTION + "Classify", classification_requests()),
    Method(PREDICTION + "Regress", regression_requests()),
    Method(PREDICTION + "MultiInference", multi_inference_requests()),
    Method(PREDICTION + "GetModelMetadata", metadata_requests()),
    Method("/inference.GRPCInferenceService/ModelInfer", model_infer_requests()),
]


@st.composite
def garbage(draw: st.DrawFn, method: Method) -> bytes:
    """Random bytes, or a valid request truncated or with bytes flipped."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    raw = bytearray(draw(method.requests).SerializeToString(deterministic=True))
    if raw and draw(st.booleans()):
        return bytes(raw[: draw(st.integers(0, len(raw) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


@dataclasses.dataclass(frozen=True)
class Case:
    path: str
    body: bytes


def cases() -> st.SearchStrategy[Case]:
    per_method = [
        st.builds(
            Case, st.just(m.path), m.requests.map(lambda r: r.SerializeToString(deterministic=True))
        )
        for m in METHODS
    ] + [st.builds(Case, st.just(m.path), garbage(m)) for m in METHODS]
    return st.one_of(per_method)


# -- the run ----------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    process: psutil.Process
    cases: int = 0
    faults: list[str] = dataclasses.field(default_factory=list)
    codes: dict[str, int] = dataclasses.field(default_factory=dict)
    rss_mib: dict[int, int] = dataclasses.field(default_factory=dict)
    """Server anonymous memory (MiB) by case number, every 100 cases."""
    biggest_step: tuple[int, str] = (0, "")
    """The largest anonymous-memory growth over one case, in bytes, and that case."""


def call(channel: grpc.Channel, case: Case) -> grpc.StatusCode:
    try:
        channel.unary_unary(case.path)(case.body, timeout=30)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
        if code in SERVER_FAULTS:
            raise AssertionError(f"{code.name} {error.details()}") from None  # type: ignore[attr-defined]
        return code
    return grpc.StatusCode.OK


def correct_predict(channel: grpc.Channel) -> list[float]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].tensor_shape.dim.add().size = 2
    request.inputs["x"].float_val.extend([1.0, 5.0])
    stub = channel.unary_unary(
        PREDICTION + "Predict",
        request_serializer=predict_pb2.PredictRequest.SerializeToString,
        response_deserializer=predict_pb2.PredictResponse.FromString,
    )
    return list(stub(request, timeout=30).outputs["y"].float_val)


def run_cases(channel: grpc.Channel, tally: Tally, count: int, run_seed: int) -> None:
    @seed(run_seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(cases())
    def one(case: Case) -> None:
        if tally.cases % 100 == 0:
            tally.rss_mib[tally.cases] = anonymous_bytes(tally.process) // 2**20
        tally.cases += 1
        before = anonymous_bytes(tally.process)
        try:
            code = call(channel, case)
        except AssertionError as fault:
            tally.faults.append(f"{case.path}: {fault} (body {case.body[:80]!r})")
            raise
        step = anonymous_bytes(tally.process) - before
        if step > tally.biggest_step[0]:
            tally.biggest_step = (step, f"case {tally.cases}: {case.path} {case.body[:200]!r}")
        tally.codes[code.name] = tally.codes.get(code.name, 0) + 1

    one()


@pytest.fixture(scope="module")
def channel(tfs_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(tfs_server.grpc_target) as opened:
        yield opened


def test_generated_requests_never_get_a_server_fault(
    tfs_server: ServerProcess, channel: grpc.Channel, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(f"\ngRPC fuzz seed: {SEED} (TENSORSERVE_FUZZ_SEED={SEED} replays it)")
    proc = psutil.Process(tfs_server.process.pid)
    warmup, tally = Tally(proc), Tally(proc)
    total = CASES * len(METHODS)
    # The warm-up is one pass of the very cases measured, so what the second pass adds
    # is what the same requests leave behind each time. A leak in every request shows
    # there as in the first pass. A one-off high-water mark of glibc's heap does not.
    # A refused 2 MB fill (case 195 of the default seed) once showed in both passes, kept
    # until a garbage collection (README, "Faults"); it is freed when answered now.
    run_cases(channel, warmup, total, SEED)
    rss_before = anonymous_bytes(proc)
    try:
        run_cases(channel, tally, total, SEED)
    finally:
        rss_after = anonymous_bytes(proc)
        growth = rss_after / rss_before - 1
        with capsys.disabled():
            print(
                f"gRPC fuzz: {tally.cases} cases (+{warmup.cases} warm-up), "
                f"{len(tally.faults)} INTERNAL/UNKNOWN, "
                f"anonymous memory {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB "
                f"({growth:+.1%}), codes {tally.codes}, "
                f"anonymous MiB by case {tally.rss_mib}; biggest one-case step "
                f"{tally.biggest_step[0] / 2**20:+.1f} MiB at {tally.biggest_step[1]}"
            )
    assert tally.faults == [], f"seed {SEED}"
    assert tfs_server.alive()
    assert correct_predict(channel) == [2.5, 4.5]
    assert growth < 0.05, f"seed {SEED}: anonymous memory grew {growth:.1%}"
