"""A small SavedModel with one input of each common V2 datatype, for the V2 tests.

:func:`write_typed_model` exports ``serving_default`` with five rank-1 inputs
and five outputs, one computation per datatype, so a test can send each type
and check each answer (or ask for just one output):

====== ======== ============== ===========================
input  V2 type  output         value
====== ======== ============== ===========================
f      FP32     f_twice        ``2 * f``
i32    INT32    i32_plus_one   ``i32 + 1``
i64    INT64    i64_times_3    ``3 * i64``
flag   BOOL     flag_not       ``not flag``
text   BYTES    text_shout     ``text + b"!"``
====== ======== ============== ===========================

Import cost: TensorFlow is imported on first use, not at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.saved_models import write_five_dtypes_model

TYPED_INPUTS = {
    "f": np.array([1.5, -2.0, 0.25], np.float32),
    "i32": np.array([1, -7, 2**31 - 2], np.int32),
    "i64": np.array([2**40, -3, 0], np.int64),
    "flag": np.array([True, False, True]),
    "text": np.array([b"hi", b"", "é".encode()], dtype=object),
}
"""An input for every tensor of the typed model."""

TYPED_OUTPUTS = {
    "f_twice": TYPED_INPUTS["f"] * 2,
    "i32_plus_one": TYPED_INPUTS["i32"] + 1,
    "i64_times_3": TYPED_INPUTS["i64"] * 3,
    "flag_not": ~TYPED_INPUTS["flag"],
    "text_shout": np.array([b"hi!", b"!", "é!".encode()], dtype=object),
}
"""What the typed model answers for :data:`TYPED_INPUTS`."""


def write_typed_model(path: str | os.PathLike[str]) -> Path:
    """Export the typed model (see the module docstring) at ``path``."""

    def outputs(tf: Any, x: dict[str, Any]) -> dict[str, Any]:
        return {
            "f_twice": tf.multiply(x["f"], 2.0, name="f_twice"),
            "i32_plus_one": tf.add(x["i32"], 1, name="i32_plus_one"),
            "i64_times_3": tf.multiply(x["i64"], tf.constant(3, tf.int64), name="i64_times_3"),
            "flag_not": tf.logical_not(x["flag"], name="flag_not"),
            "text_shout": tf.strings.join([x["text"], "!"], name="text_shout"),
        }

    return write_five_dtypes_model(path, outputs)
