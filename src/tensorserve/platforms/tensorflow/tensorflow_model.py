"""A loaded SavedModel MetaGraph answering predict, classify and regress.

Validation follows TensorFlow Serving (``predict_util.cc``, ``classifier.cc``,
``regressor.cc``, ``multi_inference.cc``) text for text. A predict request's
validated shape - signature, input names, output filter - becomes a cached
:class:`_PredictPlan`, so a repeated request costs a dict lookup, a dtype check
per input and one C++ callable run.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from tensorserve.core import errors
from tensorserve.servables.alias_names import join_sorted, resolve_output_aliases
from tensorserve.servables.dtypes import DataType, from_numpy
from tensorserve.servables.model import Classifications
from tensorserve.servables.signature import CLASSIFY_METHOD, REGRESS_METHOD, Signature

from . import example_inference, signatures
from .options import TensorFlowOptions
from .session_runner import SessionRunner, timeout_ms
from .signatures import resolve_signature_name

PLATFORM = "tensorflow"

MAX_CACHED_PLANS = 1024
"""Predict plans kept per model; requests past this are validated every time."""


@dataclasses.dataclass(frozen=True, slots=True)
class _PredictPlan:
    """How to run one validated request shape: per feed slot (signature alias order),
    the request alias to read or the default to use, and the dtype it must have."""

    request_aliases: tuple[str | None, ...]
    default_values: tuple[np.ndarray | None, ...]
    expected_dtypes: tuple[DataType | None, ...]
    feed_names: tuple[str, ...]
    fetch_names: tuple[str, ...]
    output_aliases: tuple[str, ...]
    output_slots: tuple[int, ...]


def _numpy_checkable(dtype: DataType) -> DataType | None:
    try:
        dtype.numpy  # noqa: B018 - raises KeyError for types numpy cannot hold
    except KeyError:
        return None
    return dtype


def _dtype_of(array: np.ndarray) -> DataType | None:
    try:
        return from_numpy(array.dtype)
    except KeyError:
        return None


class TensorFlowModel:
    """One SavedModel MetaGraph in a session, as a :class:`~tensorserve.servables.model.Model`.

    Thread-safe: any number of threads may call predict/classify/regress at once.
    ``close`` must only be called once no call is in flight.
    """

    def __init__(
        self,
        runner: SessionRunner,
        meta_graph_def: meta_graph_pb2.MetaGraphDef,
        options: TensorFlowOptions,
    ) -> None:
        self._runner = runner
        self._options = options
        self._signature_defs: dict[str, meta_graph_pb2.SignatureDef] = dict(
            meta_graph_def.signature_def
        )
        self._signatures = signatures.signatures(self._signature_defs)
        self._defaults = {
            name: signature.defaults
            for name, signature in self._signatures.items()
            if signature.defaults
        }
        self._plans: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _PredictPlan] = {}
        self._plans_lock = threading.Lock()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def platform(self) -> str:
        return PLATFORM

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> dict[str, np.ndarray]:
        key = (signature_name, tuple(inputs), tuple(output_filter))
        plan = self._plans.get(key) or self._make_plan(key)
        feeds = []
        for slot, alias in enumerate(plan.request_aliases):
            value = plan.default_values[slot] if alias is None else inputs[alias]
            if type(value) is not np.ndarray:
                value = np.asarray(value)
            expected = plan.expected_dtypes[slot]
            if expected is not None and _dtype_of(value) is not expected:
                raise self._dtype_error(slot, expected, value)
            feeds.append(value)
        if not plan.fetch_names:
            # Nothing to fetch (a signature without outputs): TF Serving's session run
            # returns an empty map, and the REST API reports that; TF's Python session
            # would refuse the call instead ("Must specify at least one target...").
            return {}
        results = self._runner.run(
            plan.feed_names, plan.fetch_names, feeds, self._timeout(timeout_s)
        )
        return {
            alias: results[slot]
            for alias, slot in zip(plan.output_aliases, plan.output_slots, strict=True)
        }

    def classify(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> Classifications:
        proto = self._example_signature(signature_name)
        input_name, output_names = example_inference.classification_tensors(
            proto, self._options.enable_signature_method_name_check
        )
        fetched = self._run_examples(input_name, output_names, examples, timeout_s)
        return example_inference.classifications(proto, len(examples), fetched)

    def regress(
        self, signature_name: str, examples: Sequence[bytes], timeout_s: float | None = None
    ) -> np.ndarray:
        proto = self._example_signature(signature_name)
        input_name, output_names = example_inference.regression_tensors(
            proto, self._options.enable_signature_method_name_check
        )
        fetched = self._run_examples(input_name, output_names, examples, timeout_s)
        return example_inference.regressions(proto, len(examples), fetched)

    def multi_inference(
        self,
        tasks: Sequence[tuple[str, str]],
        examples: Sequence[bytes],
        timeout_s: float | None = None,
    ) -> list[Classifications | np.ndarray]:
        """Run several classify/regress tasks, given as ``(signature_name, method_name)``,
        on the same examples in one session run; results in task order."""
        check = self._options.enable_signature_method_name_check
        seen: set[str] = set()
        input_name: str | None = None
        output_names: set[str] = set()
        protos = []
        for signature_name, method_name in tasks:
            name = resolve_signature_name(signature_name)
            if name in seen:
                raise errors.InvalidArgument(f"Duplicate evaluation of signature: {name}")
            seen.add(name)
            proto = self._signature_defs.get(name)
            if proto is None:
                raise errors.InvalidArgument(
                    f"Requested signature not found in model graph: {name}"
                )
            if method_name == CLASSIFY_METHOD:
                task_input, task_outputs = example_inference.classification_tensors(proto, check)
            elif method_name == REGRESS_METHOD:
                task_input, task_outputs = example_inference.regression_tensors(proto, check)
            else:
                raise errors.Unimplemented(f"Unsupported signature method_name: {method_name}")
            if input_name is None:
                input_name = task_input
            elif input_name != task_input:
                raise errors.InvalidArgument("Input tensor must be the same for all Signatures.")
            output_names.update(task_outputs)
            protos.append((proto, method_name))
        if input_name is None:
            return []
        fetched = self._run_examples(input_name, sorted(output_names), examples, timeout_s)
        return [
            example_inference.classifications(proto, len(examples), fetched)
            if method_name == CLASSIFY_METHOD
            else example_inference.regressions(proto, len(examples), fetched)
            for proto, method_name in protos
        ]

    def close(self) -> None:
        """Close the session. Call once no request is in flight."""
        self._runner.close()

    def _timeout(self, timeout_s: float | None) -> int | None:
        return timeout_ms(self._options.session_timeout_s if timeout_s is None else timeout_s)

    def _example_signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        name = resolve_signature_name(signature_name)
        proto = self._signature_defs.get(name)
        if proto is None:
            raise errors.InvalidArgument(f"No signature was found with the name: {name}")
        return proto

    def _run_examples(
        self,
        input_name: str,
        output_names: Sequence[str],
        examples: Sequence[bytes],
        timeout_s: float | None,
    ) -> dict[str, np.ndarray]:
        if len(examples) == 0:
            raise errors.InvalidArgument("Input is empty.")
        serialized = np.empty(len(examples), dtype=object)
        serialized[:] = list(examples)
        fetch_names = tuple(dict.fromkeys(output_names))
        results = self._runner.run(
            (input_name,), fetch_names, [serialized], self._timeout(timeout_s)
        )
        return dict(zip(fetch_names, results, strict=True))

    @staticmethod
    def _dtype_error(slot: int, expected: DataType, value: np.ndarray) -> errors.InvalidArgument:
        actual = _dtype_of(value)
        actual_name = actual.tf_name if actual is not None else str(value.dtype)
        return errors.InvalidArgument(
            f"Expects arg[{slot}] to be {expected.tf_name} but {actual_name} is provided"
        )

    def _make_plan(self, key: tuple[str, tuple[str, ...], tuple[str, ...]]) -> _PredictPlan:
        """Validate a request shape as ``RunPredict`` does, then cache its plan."""
        signature_name, request_names, output_filter = key
        name = resolve_signature_name(signature_name)
        proto = self._signature_defs.get(name)
        if proto is None:
            raise errors.FailedPrecondition(f'Serving signature key "{name}" not found.')
        if self._options.enable_signature_method_name_check:
            example_inference.check_predict_method(proto)
        requested = set(request_names)
        signature_inputs = set(proto.inputs)
        if len(requested) > len(signature_inputs) or (
            len(requested) < len(signature_inputs) and not proto.defaults
        ):
            raise errors.InvalidArgument(
                f"input size does not match signature: {len(requested)}!="
                f"{len(signature_inputs)} len({{{join_sorted(requested)}}}) != "
                f"len({{{join_sorted(signature_inputs)}}}). "
                f"Sent extra: {{{join_sorted(requested - signature_inputs)}}}. "
                f"Missing but required: {{{join_sorted(signature_inputs - requested)}}}."
            )
        defaults = self._defaults.get(name, {})
        request_aliases: list[str | None] = []
        for alias in sorted(signature_inputs):
            if alias in requested:
                request_aliases.append(alias)
            elif alias in defaults:
                request_aliases.append(None)
            else:
                raise errors.InvalidArgument(
                    f"Signature input alias: {alias}(feed name: {proto.inputs[alias].name}) "
                    "not found in request and no default value provided. Inputs expected "
                    f"to be in the request {{{join_sorted(requested)}}}, or default input "
                    f"alias set: {join_sorted(defaults)}"
                )
        used = requested & signature_inputs
        if requested and used != requested:
            raise errors.InvalidArgument(
                f"Inputs contains invalid name. Used request inputs: {join_sorted(used)}, "
                f"request input: {join_sorted(requested)}"
            )
        output_aliases = resolve_output_aliases(proto.outputs, output_filter)
        fetch_names = tuple(dict.fromkeys(proto.outputs[a].name for a in output_aliases))
        aliases_in_order = sorted(signature_inputs)
        plan = _PredictPlan(
            request_aliases=tuple(request_aliases),
            default_values=tuple(
                None if alias is not None else defaults[signature_alias]
                for alias, signature_alias in zip(request_aliases, aliases_in_order, strict=True)
            ),
            expected_dtypes=tuple(
                _numpy_checkable(DataType(proto.inputs[a].dtype))
                if proto.inputs[a].dtype in DataType._value2member_map_
                else None
                for a in aliases_in_order
            ),
            feed_names=tuple(proto.inputs[a].name for a in aliases_in_order),
            fetch_names=fetch_names,
            output_aliases=output_aliases,
            output_slots=tuple(fetch_names.index(proto.outputs[a].name) for a in output_aliases),
        )
        with self._plans_lock:
            if len(self._plans) < MAX_CACHED_PLANS:
                self._plans[key] = plan
        return plan
