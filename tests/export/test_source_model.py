"""Loading errors become one plain sentence that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorserve.export.errors import ExportError
from tensorserve.export.source_model import load_source_model, parse_custom_objects
from tests.export.conftest import build_custom_layer_model
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC, ScaledTanh


@pytest.fixture(scope="module")
def custom_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "custom.keras"
    build_custom_layer_model().save(path)
    return path


def test_custom_objects_spec_imports_the_named_class() -> None:
    assert parse_custom_objects([CUSTOM_OBJECT_SPEC]) == {"ScaledTanh": ScaledTanh}


@pytest.mark.parametrize(
    ("spec", "sentence"),
    [
        ("no_colon", r"--custom-objects expects MODULE:NAME, got 'no_colon'\."),
        ("no_such_module_xyz:Layer", r"Cannot import module 'no_such_module_xyz'"),
        ("tests.export.custom_layers:Missing", r"has no attribute 'Missing'"),
    ],
)
def test_bad_custom_objects_spec_is_explained(spec: str, sentence: str) -> None:
    with pytest.raises(ExportError, match=sentence):
        parse_custom_objects([spec])


def test_missing_custom_object_names_the_class_and_the_flag(custom_model_file: Path) -> None:
    with pytest.raises(ExportError) as raised:
        load_source_model(custom_model_file, {})
    assert str(raised.value) == (
        "The model uses the custom object 'ScaledTanh', which is not available; pass "
        "--custom-objects tests.export.custom_layers:ScaledTanh naming the module that "
        "defines it."
    )


def test_missing_custom_object_in_h5_names_the_class(tmp_path: Path) -> None:
    path = tmp_path / "custom.h5"
    build_custom_layer_model().save(path)
    with pytest.raises(ExportError, match=r"custom object 'ScaledTanh'.*--custom-objects"):
        load_source_model(path, {})


def test_loads_with_custom_objects_and_reports_names(custom_model_file: Path) -> None:
    source = load_source_model(custom_model_file, parse_custom_objects([CUSTOM_OBJECT_SPEC]))
    assert list(source.input_specs) == ["features"]
    assert source.output_names == ("probabilities",)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_corrupt_file_is_one_sentence(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"this is not a model")
    with pytest.raises(ExportError) as raised:
        load_source_model(path, {})
    assert str(raised.value) == f"Cannot load {path}: the file is corrupt or not a Keras model."


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^The model path .*absent\.keras does not exist\.$"):
        load_source_model(tmp_path / "absent.keras", {})


def test_directory_without_saved_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"without saved_model\.pb"):
        load_source_model(tmp_path, {})
