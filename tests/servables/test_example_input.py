"""Input protos become the serialized tf.Examples a model takes, context merged."""

from __future__ import annotations

from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import input_pb2

from tensorserve.servables.example_input import serialized_examples


def test_context_bytes_precede_each_example_so_example_features_win() -> None:
    proto = input_pb2.Input()
    with_context = proto.example_list_with_context
    with_context.context.features.feature["x"].float_list.value.append(1.0)
    with_context.context.features.feature["c"].float_list.value.append(9.0)
    with_context.examples.add().features.feature["x"].float_list.value.append(2.0)
    (serialized,) = serialized_examples(proto)
    merged = example_pb2.Example.FromString(serialized)
    assert merged.features.feature["x"].float_list.value == [2.0]
    assert merged.features.feature["c"].float_list.value == [9.0]


def test_plain_example_list_serializes_each_example() -> None:
    proto = input_pb2.Input()
    proto.example_list.examples.add().features.feature["x"].float_list.value.append(3.0)
    assert serialized_examples(proto) == [proto.example_list.examples[0].SerializeToString()]


def test_no_input_kind_means_no_examples() -> None:
    assert serialized_examples(input_pb2.Input()) == []
