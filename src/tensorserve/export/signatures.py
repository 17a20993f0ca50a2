"""The serving signatures an export carries, built as TF2 functions over a ``SourceModel``.

Layout (see README.md in this folder):

* no ``--image-input``: ``serving_default`` takes the model's own inputs;
* ``--image-input``: ``serving_default`` takes ``image_bytes`` (DT_STRING [batch], encoded
  JPEG/PNG/GIF/BMP) and decodes, resizes and scales in the graph; ``predict_tensor`` keeps
  the raw-tensor signature;
* ``--labels``: the predict signatures add ``scores`` (the model's output) and ``classes``
  (DT_STRING [batch, k], labels in output order), and a ``classify`` signature
  (``tensorflow/serving/classify``) takes serialized tf.Examples as ``inputs``: feature
  ``image/encoded`` or ``image_bytes`` with ``--image-input``, else one float/int64 list
  feature per model input, named after it and flattened.

Building is pure; tracing happens when the archive is written. Not thread-safe.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import tensorflow as tf

from tensorserve.export.errors import ExportError
from tensorserve.export.source_model import SourceModel

DEFAULT_SIGNATURE = "serving_default"
RAW_TENSOR_SIGNATURE = "predict_tensor"
CLASSIFY_SIGNATURE = "classify"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
IMAGE_INPUT = "image_bytes"
EXAMPLE_INPUT = "inputs"
IMAGE_FEATURES = ("image/encoded", "image_bytes")
SCORES_OUTPUT = "scores"
CLASSES_OUTPUT = "classes"

Outputs = dict[str, tf.Tensor]


@dataclasses.dataclass(frozen=True)
class SignatureOptions:
    """What to add beyond the raw-tensor signature."""

    image_input: bool = False
    scale: float = 1 / 255
    labels: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImageLayout:
    """How the model's single image input looks: [batch, H, W, C] or [batch, H, W]."""

    input_name: str
    height: int
    width: int
    channels: int
    has_channel_axis: bool
    dtype: tf.DType


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One signature to write: its function, input signature and method name."""

    name: str
    function: Callable[..., Outputs]
    input_signature: list[tf.TensorSpec]
    method_name: str = PREDICT_METHOD


def image_layout(source: SourceModel) -> ImageLayout:
    """Read H, W, C from the model's one input; raise ``ExportError`` if it is no image."""
    if len(source.input_specs) != 1:
        raise ExportError(
            f"--image-input needs a model with one input; this one has {len(source.input_specs)}."
        )
    (name, spec), *_ = source.input_specs.items()
    dims = spec.shape.as_list() if spec.shape.rank is not None else []
    if len(dims) not in (3, 4) or any(d is None for d in dims[1:]):
        raise ExportError(
            f"--image-input needs an input of shape (batch, H, W, C) or (batch, H, W) "
            f"with known sizes; input '{name}' has shape {tuple(dims)}."
        )
    channels = dims[3] if len(dims) == 4 else 1
    if channels not in (1, 3, 4):
        raise ExportError(f"--image-input needs 1, 3 or 4 channels; input '{name}' has {channels}.")
    return ImageLayout(name, dims[1], dims[2], channels, len(dims) == 4, spec.dtype)


def decode_images(encoded: tf.Tensor, layout: ImageLayout, scale: float) -> tf.Tensor:
    """Decode a [batch] string tensor of images into the model's input tensor."""

    def decode_one(image_bytes: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(image_bytes, channels=layout.channels, expand_animations=False)
        image.set_shape([None, None, layout.channels])
        size = tf.shape(image)[:2]
        wanted = tf.constant([layout.height, layout.width])
        # Resizing to the same size is the identity, but skipping it keeps pixels exact.
        return tf.cond(
            tf.reduce_all(tf.equal(size, wanted)),
            lambda: tf.cast(image, tf.float32),
            lambda: tf.image.resize(image, [layout.height, layout.width]),
        )

    images = tf.map_fn(
        decode_one,
        encoded,
        fn_output_signature=tf.TensorSpec(
            [layout.height, layout.width, layout.channels], tf.float32
        ),
    )
    images = tf.cast(images * scale, layout.dtype)
    return images if layout.has_channel_axis else tf.squeeze(images, axis=-1)


def build_endpoints(source: SourceModel, options: SignatureOptions) -> list[Endpoint]:
    """Return the endpoints to export, ``serving_default`` first."""
    labels = options.labels
    if labels:
        _check_labels_fit(source, labels)
    with_labels = _labelled(source, labels)
    raw_specs = dict(source.input_specs)

    def raw_predict(features: Mapping[str, tf.Tensor]) -> Outputs:
        return with_labels(source.call(features))

    raw = Endpoint(DEFAULT_SIGNATURE, raw_predict, [raw_specs])
    if not options.image_input:
        endpoints = [raw]
        if labels:
            endpoints.append(_tensor_classify(source, labels, with_labels))
        return endpoints

    layout = image_layout(source)

    def image_predict(image_bytes: tf.Tensor) -> Outputs:
        pixels = decode_images(image_bytes, layout, options.scale)
        return with_labels(source.call({layout.input_name: pixels}))

    endpoints = [
        Endpoint(DEFAULT_SIGNATURE, image_predict, [_string_spec(IMAGE_INPUT)]),
        dataclasses.replace(raw, name=RAW_TENSOR_SIGNATURE),
    ]
    if labels:

        def image_classify(inputs: tf.Tensor) -> Outputs:
            features = tf.io.parse_example(
                inputs,
                {key: tf.io.FixedLenFeature([], tf.string, "") for key in IMAGE_FEATURES},
            )
            primary, alternate = (features[key] for key in IMAGE_FEATURES)
            encoded = tf.where(tf.strings.length(primary) > 0, primary, alternate)
            pixels = decode_images(encoded, layout, options.scale)
            return _classification(with_labels(source.call({layout.input_name: pixels})))

        endpoints.append(
            Endpoint(
                CLASSIFY_SIGNATURE, image_classify, [_string_spec(EXAMPLE_INPUT)], CLASSIFY_METHOD
            )
        )
    return endpoints


def _string_spec(name: str) -> tf.TensorSpec:
    return tf.TensorSpec([None], tf.string, name=name)


def _labelled(source: SourceModel, labels: Sequence[str]) -> Callable[[Outputs], Outputs]:
    """Wrap outputs with ``scores`` and ``classes`` when labels are given."""
    if not labels:
        return lambda outputs: outputs
    label_row = tf.constant(list(labels), dtype=tf.string)
    scored = source.output_names[0]

    def add(outputs: Outputs) -> Outputs:
        scores = tf.cast(outputs[scored], tf.float32)
        batch = tf.shape(scores)[0]
        classes = tf.tile(label_row[tf.newaxis, :], tf.stack([batch, 1]))
        return {**outputs, SCORES_OUTPUT: scores, CLASSES_OUTPUT: classes}

    return add


def _classification(outputs: Outputs) -> Outputs:
    return {CLASSES_OUTPUT: outputs[CLASSES_OUTPUT], SCORES_OUTPUT: outputs[SCORES_OUTPUT]}


def _check_labels_fit(source: SourceModel, labels: Sequence[str]) -> None:
    if len(source.output_names) != 1:
        raise ExportError(
            f"--labels needs a model with one output; this one has "
            f"{len(source.output_names)} ({', '.join(source.output_names)})."
        )
    name = source.output_names[0]
    if name in (SCORES_OUTPUT, CLASSES_OUTPUT):
        raise ExportError(
            f"--labels adds outputs 'scores' and 'classes', but the model's output is "
            f"already named '{name}'; rename that output layer."
        )


def _tensor_classify(
    source: SourceModel, labels: Sequence[str], with_labels: Callable[[Outputs], Outputs]
) -> Endpoint:
    """A classify signature parsing one flattened list feature per model input."""
    feature_specs: dict[str, tf.io.FixedLenFeature] = {}
    for name, spec in source.input_specs.items():
        dims = spec.shape.as_list()[1:] if spec.shape.rank is not None else [None]
        if any(d is None for d in dims) or not (spec.dtype.is_floating or spec.dtype.is_integer):
            raise ExportError(
                f"--labels on a non-image model needs numeric inputs of fixed shape to parse "
                f"tf.Examples; input '{name}' is {spec.dtype.name} of shape {spec.shape}."
            )
        parse_dtype = tf.float32 if spec.dtype.is_floating else tf.int64
        feature_specs[name] = tf.io.FixedLenFeature([math.prod(dims)], parse_dtype)

    def tensor_classify(inputs: tf.Tensor) -> Outputs:
        parsed = tf.io.parse_example(inputs, feature_specs)
        features = {
            name: tf.cast(tf.reshape(parsed[name], [-1, *spec.shape.as_list()[1:]]), spec.dtype)
            for name, spec in source.input_specs.items()
        }
        return _classification(with_labels(source.call(features)))

    return Endpoint(
        CLASSIFY_SIGNATURE, tensor_classify, [_string_spec(EXAMPLE_INPUT)], CLASSIFY_METHOD
    )
