"""Load the model being exported (Keras file or SavedModel) behind one small interface.

``SourceModel`` is what the signature builders, the warmup writer and the verifier see:
ordered input specs keyed by input name, output names, and a call in inference mode that
maps input tensors to a dict of output tensors. Loading turns Keras' and TensorFlow's
exceptions into ``ExportError`` sentences (missing custom object, corrupt or missing file).

Not thread-safe: a loaded model is used by one export at a time.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from tensorserve.export.errors import ExportError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_MISSING_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")
_MISSING_MODULE = re.compile(r"Full object config: \{'module': '([^']+)'")
_UNKNOWN_OBJECT = re.compile(r"Unknown [a-z ]+: '([^']+)'")


@dataclasses.dataclass(frozen=True)
class SourceModel:
    """A model ready to trace into signatures.

    ``call`` runs in inference mode (``training=False``) and returns outputs keyed by
    ``output_names``; ``trackable`` owns the variables that the export must save.
    """

    input_specs: Mapping[str, tf.TensorSpec]
    output_names: tuple[str, ...]
    call: Callable[[Mapping[str, tf.Tensor]], dict[str, tf.Tensor]]
    trackable: Any


def parse_custom_objects(specs: Sequence[str]) -> dict[str, Any]:
    """Import each ``module:Name`` and return ``{Name: object}`` for Keras' loader."""
    custom_objects: dict[str, Any] = {}
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ExportError(f"--custom-objects expects MODULE:NAME, got '{spec}'.")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ExportError(
                f"Cannot import module '{module_name}' named in --custom-objects {spec}: {error}."
            ) from None
        try:
            custom_objects[attribute.rsplit(".", 1)[-1]] = _resolve(module, attribute)
        except AttributeError:
            raise ExportError(
                f"Module '{module_name}' has no attribute '{attribute}' "
                f"(named in --custom-objects {spec})."
            ) from None
    return custom_objects


def _resolve(module: Any, dotted: str) -> Any:
    value = module
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def load_source_model(path: Path, custom_objects: Mapping[str, Any]) -> SourceModel:
    """Load a ``.keras``/``.h5`` file (compile=False) or a SavedModel directory.

    Costs a few seconds (TensorFlow graph construction). Raises ``ExportError``.
    """
    if not path.exists():
        raise ExportError(f"The model path {path} does not exist.")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ExportError(
                f"{path} is a directory without saved_model.pb, so it is not a SavedModel."
            )
        return _load_saved_model(path)
    if path.suffix.lower() not in KERAS_SUFFIXES:
        raise ExportError(
            f"{path} is not a Keras model file (.keras, .h5) or a SavedModel directory."
        )
    return _keras_source(_load_keras(path, custom_objects))


def _load_keras(path: Path, custom_objects: Mapping[str, Any]) -> Any:
    import keras

    try:
        return keras.models.load_model(path, custom_objects=dict(custom_objects), compile=False)
    except Exception as error:
        raise _explain_keras_error(path, error) from None


def _explain_keras_error(path: Path, error: BaseException) -> ExportError:
    """Turn a Keras loading failure into the sentence a user can act on."""
    messages = []
    current: BaseException | None = error
    while current is not None:
        messages.append(str(current))
        current = current.__cause__ or current.__context__
    text = "\n".join(messages)
    missing = _MISSING_CLASS.search(text) or _UNKNOWN_OBJECT.search(text)
    if missing:
        name = missing.group(1)
        module_match = _MISSING_MODULE.search(text[missing.end() :])
        module = module_match.group(1) if module_match else "MODULE"
        return ExportError(
            f"The model uses the custom object '{name}', which is not available; "
            f"pass --custom-objects {module}:{name} naming the module that defines it."
        )
    return ExportError(f"Cannot load {path}: the file is corrupt or not a Keras model.")


def _keras_source(model: Any) -> SourceModel:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ExportError(
            "The model does not declare its inputs (a subclassed model?); "
            "rebuild it as a Functional or Sequential model with keras.Input."
        )
    inputs_struct = getattr(model, "_inputs_struct", None)
    takes_dict = isinstance(inputs_struct, Mapping)
    if isinstance(inputs_struct, Mapping):
        named_inputs = list(inputs_struct.items())
    else:
        named_inputs = [(tensor.name, tensor) for tensor in inputs]
    input_specs = {
        name: tf.TensorSpec([None, *tensor.shape[1:]], tensor.dtype, name=name)
        for name, tensor in named_inputs
    }
    output_names = tuple(_keras_output_names(model))

    def call(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if takes_dict:
            outputs = model({name: features[name] for name in input_specs}, training=False)
        else:
            ordered = [features[name] for name in input_specs]
            outputs = model(ordered if len(ordered) > 1 else ordered[0], training=False)
        if isinstance(outputs, Mapping):
            return {name: outputs[name] for name in output_names}
        if not isinstance(outputs, list | tuple):
            outputs = [outputs]
        return dict(zip(output_names, outputs, strict=True))

    return SourceModel(input_specs, output_names, call, model)


def _keras_output_names(model: Any) -> list[str]:
    if isinstance(getattr(model, "_outputs_struct", None), Mapping):
        return list(model._outputs_struct)
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    return [model.layers[-1].name]  # Sequential: the last layer makes the one output.


def _load_saved_model(path: Path) -> SourceModel:
    if _is_tf1_saved_model(path):
        raise ExportError(
            f"{path} is a TF1 SavedModel (graph and session, no TF2 object graph); "
            f"it cannot be re-exported, but tensorserve can serve it as it is."
        )
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception:
        raise ExportError(f"Cannot load the SavedModel at {path}: it is corrupt.") from None
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise ExportError(f"The SavedModel at {path} has no serving_default signature.")
    specs = signature.structured_input_signature[1]
    input_specs = {
        name: tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in specs.items()
    }
    output_names = tuple(signature.structured_outputs)

    def call(features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return dict(signature(**features))

    return SourceModel(input_specs, output_names, call, loaded)


def _is_tf1_saved_model(path: Path) -> bool:
    """TF2 writers record an object graph; TF1 builders leave it empty."""
    from google.protobuf import message
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    except (OSError, message.DecodeError):
        return False  # tf.saved_model.load reports the corruption.
    return not any(len(mg.object_graph_def.nodes) for mg in saved_model.meta_graphs)
