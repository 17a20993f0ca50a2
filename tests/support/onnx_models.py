"""Small ONNX models built at test time with ``onnx.helper`` (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(graph: onnx.GraphProto, version_dir: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    version_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(version_dir / "model.onnx"))
    return version_dir


def write_half_plus_two(version_dir: Path) -> Path:
    """``y = 0.5 * x + 2`` on float ``x`` of shape ``[batch, 1]``."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "half"], ["scaled"]),
            helper.make_node("Add", ["scaled", "two"], ["y"]),
        ],
        "half_plus_two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
            numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        ],
    )
    return _save(graph, version_dir)


def write_two_output(version_dir: Path) -> Path:
    """Inputs ``a`` (float [batch, 2]) and ``b`` (int64 [batch]); outputs ``sum``
    (``a`` summed per row) and ``b_twice`` (``2 * b``)."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["a", "axes"], ["sum"], keepdims=0),
            helper.make_node("Add", ["b", "b"], ["b_twice"]),
        ],
        "two_output",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("b_twice", TensorProto.INT64, ["batch"]),
        ],
        initializer=[numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    return _save(graph, version_dir)


def write_string_identity(version_dir: Path) -> Path:
    """Echoes string input ``text`` (shape ``[batch]``) as output ``echo``."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"])],
        "string_identity",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch"])],
    )
    return _save(graph, version_dir)


def write_broken(version_dir: Path) -> Path:
    """A ``model.onnx`` that is not an ONNX model at all."""
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(b"this is not a protobuf \x00\xff")
    return version_dir
