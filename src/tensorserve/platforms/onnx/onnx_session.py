"""An ONNX Runtime session as a neutral signature and a thread-safe runner.

The session's graph inputs and outputs become one predict signature (aliases
are the ONNX value names; symbolic or absent dimensions are -1). ONNX Runtime
errors become ``ServingError``: a request the graph cannot take (wrong rank or
shape) is INVALID_ARGUMENT with ONNX Runtime's message, anything else INTERNAL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from tensorserve.core import errors
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import DEFAULT_SIGNATURE, PREDICT_METHOD, Signature, TensorInfo

from .options import OnnxOptions

_DTYPES = {
    "tensor(float)": DataType.DT_FLOAT,
    "tensor(double)": DataType.DT_DOUBLE,
    "tensor(float16)": DataType.DT_HALF,
    "tensor(bfloat16)": DataType.DT_BFLOAT16,
    "tensor(int8)": DataType.DT_INT8,
    "tensor(int16)": DataType.DT_INT16,
    "tensor(int32)": DataType.DT_INT32,
    "tensor(int64)": DataType.DT_INT64,
    "tensor(uint8)": DataType.DT_UINT8,
    "tensor(uint16)": DataType.DT_UINT16,
    "tensor(uint32)": DataType.DT_UINT32,
    "tensor(uint64)": DataType.DT_UINT64,
    "tensor(bool)": DataType.DT_BOOL,
    "tensor(string)": DataType.DT_STRING,
    "tensor(complex64)": DataType.DT_COMPLEX64,
    "tensor(complex128)": DataType.DT_COMPLEX128,
}


def session_options(options: OnnxOptions) -> ort.SessionOptions:
    """ONNX Runtime session options from the server's thread flags."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.session_intra_op_threads
    if options.inter_op_parallelism > 0:
        so.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        so.inter_op_num_threads = options.inter_op_parallelism
    else:
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # errors only: its warnings are about graph rewrites
    return so


def open_session(
    model: str | os.PathLike[str] | bytes, options: OnnxOptions
) -> ort.InferenceSession:
    """A CPU session for a model file or serialized model. Raises DataLoss
    naming the model when ONNX Runtime cannot load it."""
    source = model if isinstance(model, bytes) else os.fspath(model)
    try:
        return ort.InferenceSession(
            source, sess_options=session_options(options), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        where = "the serialized model" if isinstance(model, bytes) else os.fspath(model)
        raise errors.DataLoss(f"ONNX Runtime could not load {where}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tensor_info(arg: ort.NodeArg) -> TensorInfo:
    dtype = _DTYPES.get(arg.type, DataType.DT_INVALID)
    shape = arg.shape
    if shape is None:
        return TensorInfo(name=arg.name, dtype=dtype, shape=None)
    dims = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in shape)
    return TensorInfo(name=arg.name, dtype=dtype, shape=dims)


def session_signature(session: ort.InferenceSession, name: str = DEFAULT_SIGNATURE) -> Signature:
    """The session's inputs and outputs as one predict signature, in graph order."""
    return Signature(
        name=name,
        method_name=PREDICT_METHOD,
        inputs={arg.name: _tensor_info(arg) for arg in session.get_inputs()},
        outputs={arg.name: _tensor_info(arg) for arg in session.get_outputs()},
    )


class SessionRunner:
    """Runs a session by alias. Thread-safe (ONNX Runtime's ``run`` is).

    ``input_names``/``output_names`` map signature aliases to the graph's value
    names when they differ (ONNX twins of TensorFlow signatures).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        input_names: Mapping[str, str] | None = None,
        output_names: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self._input_names = dict(input_names or {})
        self._output_names = dict(output_names or {})
        self._string_inputs = {
            arg.name for arg in session.get_inputs() if arg.type == "tensor(string)"
        }

    def __call__(
        self, inputs: Mapping[str, np.ndarray], output_aliases: Sequence[str]
    ) -> dict[str, np.ndarray]:
        feeds = {}
        for alias, value in inputs.items():
            name = self._input_names.get(alias, alias)
            feeds[name] = _to_strings(value) if name in self._string_inputs else value
        fetches = [self._output_names.get(alias, alias) for alias in output_aliases]
        try:
            results = self._session.run(fetches, feeds)
        except (ort_state.InvalidArgument, ort_state.InvalidGraph) as exc:
            raise errors.InvalidArgument(_first_line(exc)) from None
        except (ort_state.Fail, ort_state.RuntimeException) as exc:
            raise errors.Internal(_first_line(exc)) from None
        return {
            alias: _from_result(result)
            for alias, result in zip(output_aliases, results, strict=True)
        }


def _to_strings(value: np.ndarray) -> np.ndarray:
    """ONNX Runtime takes ``str`` objects for strings; requests carry bytes."""
    return np.vectorize(
        lambda v: v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v),
        otypes=[object],
    )(value)


def _from_result(result: object) -> np.ndarray:
    array = np.asarray(result)
    if array.dtype.kind in ("U", "O"):
        return np.vectorize(
            lambda v: v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v,
            otypes=[object],
        )(array)
    return array
