"""``tensorserve inspect`` prints signatures exactly as ``saved_model_cli show --all``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tensorserve.export.errors import ExportError
from tensorserve.export.saved_model_show import format_signatures, read_saved_model
from tests.export.conftest import build_multi_io_model, export_keras_model
from tests.support.paths import tfserving_model

HALF_PLUS_TWO_SERVING_DEFAULT = """
signature_def['serving_default']:
  The given SavedModel SignatureDef contains the following input(s):
    inputs['x'] tensor_info:
        dtype: DT_FLOAT
        shape: (-1, 1)
        name: x:0
  The given SavedModel SignatureDef contains the following output(s):
    outputs['y'] tensor_info:
        dtype: DT_FLOAT
        shape: (-1, 1)
        name: y:0
  Method name is: tensorflow/serving/predict
"""


def saved_model_cli_signatures(path: Path) -> str:
    """saved_model_cli's output up to the op list that follows the SignatureDefs."""
    script = "from tensorflow.python.tools.saved_model_cli import main; main()"
    completed = subprocess.run(
        [sys.executable, "-c", script, "show", "--all", "--dir", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return completed.stdout.split("The MetaGraph with tag set")[0]


def test_tf1_half_plus_two_signatures() -> None:
    path = tfserving_model("saved_model_half_plus_two_cpu") / "00000123"
    text = format_signatures(read_saved_model(path))
    assert text.startswith(
        "\nMetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:\n"
    )
    assert HALF_PLUS_TWO_SERVING_DEFAULT in text
    assert "shape: unknown_rank\n        name: tf_example:0" in text
    assert "Method name is: tensorflow/serving/classify" in text
    assert text.index("['classify_x_to_y']") < text.index("['serving_default']")


@pytest.mark.slow
def test_matches_saved_model_cli_on_tf1_and_exported_models(tmp_path: Path) -> None:
    exported = export_keras_model(build_multi_io_model(), tmp_path / "serving", "multi").path
    paths = [tfserving_model("saved_model_half_plus_two_cpu") / "00000123", exported]
    for path in paths:
        assert format_signatures(read_saved_model(path)) == saved_model_cli_signatures(path)


def test_missing_path_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^The path .*absent does not exist\.$"):
        read_saved_model(tmp_path / "absent")


def test_directory_without_saved_model_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"has no saved_model\.pb, so it is not a SavedModel"):
        read_saved_model(tmp_path)


def test_corrupt_saved_model_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xfe not a protobuf")
    with pytest.raises(ExportError, match=r"the file is corrupt\.$"):
        read_saved_model(tmp_path)
