"""``tensorflow.serving.Input`` protos as the serialized ``tf.Example`` strings models take.

Shared by every path that receives an ``Input`` (gRPC Classify/Regress/MultiInference,
warmup replay), so context merging behaves the same everywhere.
"""

from __future__ import annotations

from typing import Any


def serialized_examples(input_proto: Any) -> list[bytes]:
    """Each example of a ``tensorflow.serving.Input`` as serialized ``tf.Example`` bytes.

    With a context, each is the context's bytes followed by the example's: parsing
    concatenated protos merges them, so example features win, exactly as TensorFlow
    Serving's ``InputToSerializedExampleTensor`` feeds them.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in with_context.examples]
    return []
