"""``serve`` imports TensorFlow without Keras and scikit-learn, and still loads
SavedModels; ``import keras`` keeps working afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.saved_models import write_half_plus_two

pytestmark = pytest.mark.slow

PROGRAM = """
import gc, sys
from tensorserve import lean_imports
lazily = sys.argv[2] == "lazily"
if lazily:
    lean_imports.import_tensorflow_lazily_without_keras(then=gc.freeze)
    import tensorserve.server
    assert "tensorflow" not in sys.modules, "tensorflow imported before a model needs it"
    assert gc.get_freeze_count() == 0
else:
    lean_imports.import_tensorflow_without_keras()
import numpy as np
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
assert "tensorflow" in sys.modules
if lazily:
    assert gc.get_freeze_count() > 20_000, gc.get_freeze_count()  # TensorFlow's, frozen
assert "keras" not in sys.modules and "sklearn" not in sys.modules, "keras imported"
loader = SavedModelLoader(ServableId("m", 1), sys.argv[1])
loader.load()
out = loader.servable().predict("", {"x": np.array([1.0], np.float32)})
assert "keras" not in sys.modules, "keras imported by loading"
if lazily:
    assert "tensorflow.python.eager.def_function" not in sys.modules, "tf.* imported"
    import threading
    import tensorflow as tf
    squares = []
    readers = [
        threading.Thread(target=lambda: squares.append(float(tf.math.square(3.0))))
        for _ in range(4)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert squares == [9.0] * 4, squares
    assert tf.__version__ and type(tf) is type(sys), type(tf)
    again = loader.servable().predict("", {"x": np.array([1.0], np.float32)})
    assert again["y"].tolist() == out["y"].tolist()
import keras
print("ok", out["y"].tolist())
"""


@pytest.mark.parametrize("when", ["now", "lazily"])
def test_tensorflow_without_keras_loads_and_runs_saved_models(when: str, tmp_path: Path) -> None:
    """Imported now, or lazily as ``serve`` does (only when a model needs it, its objects
    then frozen out of the collector's sight: a SavedModel's unload collects). Lazily,
    loading a SavedModel does not import ``tf.*``; the first read of ``tf.*`` does, from
    four threads at once, and the model serves on."""
    repo = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(write_half_plus_two(tmp_path / "hpt" / "1")), when],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok [2.5]"
