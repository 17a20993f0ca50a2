"""A custom layer that Keras cannot load without ``--custom-objects``.

Deliberately not registered with ``keras.saving.register_keras_serializable`` so that
loading needs ``tests.export.custom_layers:ScaledTanh``.
"""

from __future__ import annotations

from typing import Any

import keras


class ScaledTanh(keras.layers.Layer):
    """``factor * tanh(x)`` with a trainable ``factor``."""

    def __init__(self, initial_factor: float = 1.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_factor = initial_factor

    def build(self, input_shape: Any) -> None:
        self.factor = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_factor), name="factor"
        )

    def call(self, inputs: Any) -> Any:
        return self.factor * keras.ops.tanh(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_factor": self.initial_factor}


CUSTOM_OBJECT_SPEC = f"{__name__}:{ScaledTanh.__name__}"
