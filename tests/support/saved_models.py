"""Builders of small, real SavedModels (and warmup files) for every layer's tests.

Each ``write_*`` function exports one version directory at ``path`` (which must
not exist or be empty) using TensorFlow's v1 graph builder, so a build takes a
fraction of a second and needs no tracing. The models mirror TensorFlow
Serving's own test models so expectations read the same:

* :func:`write_half_plus_two` - ``y = 0.5 * x + 2`` with ``serving_default``,
  ``classify_x_to_y`` and ``regress_x_to_y`` signatures, like
  ``saved_model_half_plus_two_cpu``.
* :func:`write_two_input_model` - ``sum = a + b``, ``product = a * b``.
* :func:`write_string_model` - string in, string and length out.
* :func:`write_classifier_model` - a classify signature with both ``classes``
  and ``scores`` outputs.
* :func:`write_blocking_model` - a run that never finishes before its timeout.
* :func:`write_dtypes_model` - one input and output per common dtype (V2 tests).
* :func:`write_tf2_half_plus_two` - the same computation as a TF2
  ``tf.Module`` (slower: it traces a function).
* :func:`write_warmup_requests` - a ``tf_serving_warmup_requests`` TFRecord.

Import cost: TensorFlow is imported on first use, not at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

HALF_PLUS_TWO_SIGNATURES = ("classify_x_to_y", "regress_x_to_y", "serving_default")
"""Signature names :func:`write_half_plus_two` exports."""

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
"""Where TensorFlow Serving looks for warmup records, relative to a version directory."""


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _save(path: str | os.PathLike[str], graph: Any, signatures: Mapping[str, Any]) -> Path:
    """Initialise the graph's variables and export it under the ``serve`` tag."""
    tf = _tf()
    v1 = tf.compat.v1
    with graph.as_default(), v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(os.fspath(path))
        builder.add_meta_graph_and_variables(
            session, [v1.saved_model.tag_constants.SERVING], signature_def_map=dict(signatures)
        )
        builder.save()
    return Path(path)


def write_half_plus_two(path: str | os.PathLike[str], a: float = 0.5, b: float = 2.0) -> Path:
    """Export ``y = a * x + b`` (float32, any shape) with predict, classify and regress
    signatures. Classify and regress read feature ``x`` (one float) from serialized
    ``tf.Example`` protos fed to input ``inputs``; both return ``[batch, 1]``."""
    tf = _tf()
    v1 = tf.compat.v1
    build = v1.saved_model.utils.build_tensor_info
    graph = tf.Graph()
    with graph.as_default():
        var_a = v1.Variable(a, name="a", dtype=tf.float32)
        var_b = v1.Variable(b, name="b", dtype=tf.float32)
        x = v1.placeholder(tf.float32, shape=None, name="x")
        y = tf.add(var_a * x, var_b, name="y")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        y_example = tf.add(var_a * features["x"], var_b, name="y_example")
        signatures = {
            "serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"x": x}, outputs={"y": y}
            ),
            "classify_x_to_y": v1.saved_model.signature_def_utils.build_signature_def(
                inputs={"inputs": build(serialized)},
                outputs={"scores": build(y_example)},
                method_name="tensorflow/serving/classify",
            ),
            "regress_x_to_y": v1.saved_model.signature_def_utils.build_signature_def(
                inputs={"inputs": build(serialized)},
                outputs={"outputs": build(y_example)},
                method_name="tensorflow/serving/regress",
            ),
        }
    return _save(path, graph, signatures)


def write_two_input_model(path: str | os.PathLike[str]) -> Path:
    """Export ``serving_default``: float32 inputs ``a``, ``b`` -> ``sum``, ``product``."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        a = v1.placeholder(tf.float32, shape=[None], name="a")
        b = v1.placeholder(tf.float32, shape=[None], name="b")
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"a": a, "b": b},
            outputs={"sum": tf.add(a, b, name="sum"), "product": tf.multiply(a, b, name="product")},
        )
    return _save(path, graph, {"serving_default": signature})


def write_string_model(path: str | os.PathLike[str]) -> Path:
    """Export ``serving_default``: string input ``text`` -> ``greeting`` (``"hello, " + text``)
    and int32 ``length`` (bytes of each input)."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        text = v1.placeholder(tf.string, shape=[None], name="text")
        greeting = tf.strings.join(["hello, ", text], name="greeting")
        length = tf.strings.length(text, name="length")
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"text": text}, outputs={"greeting": greeting, "length": length}
        )
    return _save(path, graph, {"serving_default": signature})


def write_classifier_model(
    path: str | os.PathLike[str], labels: Iterable[str] = ("negative", "positive")
) -> Path:
    """Export a ``serving_default`` *classify* signature over feature ``x`` (one float):
    ``classes`` are the labels for every example, ``scores`` are ``[1 - p, p]`` with
    ``p = sigmoid(x)``. Also exports ``regress`` returning ``p`` as ``[batch]``."""
    tf = _tf()
    v1 = tf.compat.v1
    build = v1.saved_model.utils.build_tensor_info
    labels = list(labels)
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        p = tf.sigmoid(features["x"])
        scores = tf.concat([1.0 - p, p], axis=1, name="scores")
        batch = tf.shape(serialized)[0]
        classes = tf.tile(tf.constant([labels]), [batch, 1], name="classes")
        probability = tf.reshape(p, [-1], name="probability")
        signatures = {
            "serving_default": v1.saved_model.signature_def_utils.classification_signature_def(
                examples=serialized, classes=classes, scores=scores
            ),
            "regress": v1.saved_model.signature_def_utils.build_signature_def(
                inputs={"inputs": build(serialized)},
                outputs={"outputs": build(probability)},
                method_name="tensorflow/serving/regress",
            ),
        }
    return _save(path, graph, signatures)


def write_blocking_model(path: str | os.PathLike[str]) -> Path:
    """Export ``serving_default``: ``y = x + q.dequeue()`` over an always-empty queue, so
    every run blocks until its timeout; for deadline tests."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=[], name="x")
        queue = tf.queue.FIFOQueue(1, tf.float32, shapes=[[]], name="never_filled")
        y = tf.add(x, queue.dequeue(), name="y")
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x}, outputs={"y": y}
        )
    return _save(path, graph, {"serving_default": signature})


def blocking_predict_error(
    grpc_target: str, model: str, wait_s: float = 20.0
) -> BaseException | None:
    """Predict on a :func:`write_blocking_model` model served as ``model`` with no
    deadline of its own (one would replace the session's timeout), waiting ``wait_s``
    for it to end; what it ended with (None if it answered)."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = 1  # DT_FLOAT, a scalar
    request.inputs["x"].float_val.append(1.0)
    with grpc.insecure_channel(grpc_target) as channel:
        call = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict.future(request)
        try:
            return call.exception(timeout=wait_s)  # type: ignore[no-any-return]
        finally:
            call.cancel()


def write_matmul_chain_model(path: str | os.PathLike[str]) -> Path:
    """Export ``serving_default``: ``y = relu(relu(... x @ W ...))``, six float32 MatMuls
    over ``x`` of shape ``[None, 4]``, every weight 1.001. Big enough for grappler's
    rewrites (a graph of one MatMul is skipped); ones in give 4120.6387 each in float32
    and 4096.0 once the MatMuls run in bfloat16, where 1.001 rounds to 1."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=[None, 4], name="x")
        weights = v1.Variable(np.full((4, 4), 1.001, np.float32), name="w")
        hidden = x
        for _ in range(6):
            hidden = tf.nn.relu(tf.matmul(hidden, weights) + 0.0)
        y = tf.identity(hidden, name="y")
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x}, outputs={"y": y}
        )
    return _save(path, graph, {"serving_default": signature})


def write_tf2_half_plus_two(path: str | os.PathLike[str]) -> Path:
    """Export ``y = 0.5 * x + 2`` as a TF2 ``tf.Module`` with one ``serving_default``
    signature over float32 ``x`` of shape ``[None]``. Takes about a second (tracing)."""
    tf = _tf()

    class HalfPlusTwo(tf.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": self.a * x + self.b}

    module = HalfPlusTwo()
    tf.saved_model.save(module, os.fspath(path), signatures={"serving_default": module.serve})
    return Path(path)


def write_conv_model(path: str | os.PathLike[str]) -> Path:
    """Export a one-layer CNN (``images`` float32 ``[None, 8, 8, 1]`` -> ``scores``
    ``[None, 2]``, each the mean of relu(conv + bias)) as a TF2 SavedModel. TensorFlow
    fuses conv, bias and relu into one kernel that sees whatever clients send."""
    tf = _tf()

    class Conv(tf.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.ones([3, 3, 1, 2]) / 9.0)
            self.bias = tf.Variable(tf.zeros([2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="images")])
        def serve(self, images: Any) -> dict[str, Any]:
            conv = tf.nn.conv2d(images, self.kernel, strides=1, padding="VALID")
            return {"scores": tf.reduce_mean(tf.nn.relu(conv + self.bias), axis=[1, 2])}

    module = Conv()
    tf.saved_model.save(module, os.fspath(path), signatures={"serving_default": module.serve})
    return Path(path)


def write_five_dtypes_model(
    path: str | os.PathLike[str], outputs: Callable[[Any, dict[str, Any]], dict[str, Any]]
) -> Path:
    """Export ``serving_default`` over float32 ``f``, int32 ``i32``, int64 ``i64``, bool
    ``flag`` and string ``text``, all ``[None]``; ``outputs(tf, inputs)`` names the
    outputs computed from those placeholders."""
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        inputs = {
            name: v1.placeholder(dtype, shape=[None], name=name)
            for name, dtype in [
                ("f", tf.float32),
                ("i32", tf.int32),
                ("i64", tf.int64),
                ("flag", tf.bool),
                ("text", tf.string),
            ]
        }
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            inputs=inputs, outputs=outputs(tf, inputs)
        )
    return _save(path, graph, {"serving_default": signature})


def write_dtypes_model(path: str | os.PathLike[str]) -> Path:
    """:func:`write_five_dtypes_model` with float32 ``f`` -> ``f_half`` (f / 2), int32
    ``i32`` -> ``i32_plus_one``, int64 ``i64`` -> ``i64_doubled``, bool ``flag`` ->
    ``flag_not``, string ``text`` -> ``text_upper``."""

    def outputs(tf: Any, x: dict[str, Any]) -> dict[str, Any]:
        return {
            "f_half": tf.multiply(x["f"], 0.5, name="f_half"),
            "i32_plus_one": tf.add(x["i32"], 1, name="i32_plus_one"),
            "i64_doubled": tf.multiply(x["i64"], 2, name="i64_doubled"),
            "flag_not": tf.logical_not(x["flag"], name="flag_not"),
            "text_upper": tf.strings.upper(x["text"], name="text_upper"),
        }

    return write_five_dtypes_model(path, outputs)


def example(**features: float | int | bytes | Iterable[float]) -> bytes:
    """A serialized ``tf.Example``: floats become float_list, ints int64_list, bytes
    bytes_list; an iterable of floats is one float_list."""
    from tensorflow.core.example import example_pb2, feature_pb2

    proto = example_pb2.Example()
    for name, value in features.items():
        feature: feature_pb2.Feature = proto.features.feature[name]
        if isinstance(value, bytes):
            feature.bytes_list.value.append(value)
        elif isinstance(value, bool | int):
            feature.int64_list.value.append(int(value))
        elif isinstance(value, float):
            feature.float_list.value.append(value)
        else:
            feature.float_list.value.extend(float(v) for v in value)
    return proto.SerializeToString()


def predict_log(inputs: Mapping[str, np.ndarray], signature_name: str = "") -> Any:
    """A ``PredictionLog`` holding a predict request with these named inputs."""
    tf = _tf()
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.name = "warmup"
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return log


def write_warmup_requests(
    version_dir: str | os.PathLike[str], records: Iterable[Any | bytes]
) -> Path:
    """Write ``records`` (``PredictionLog`` messages, or raw bytes written as-is) as the
    version's ``assets.extra/tf_serving_warmup_requests`` TFRecord file."""
    tf = _tf()
    target = Path(version_dir) / WARMUP_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(os.fspath(target)) as writer:
        for record in records:
            writer.write(record if isinstance(record, bytes) else record.SerializeToString())
    return target
