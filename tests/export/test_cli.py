"""``tensorserve export`` / ``inspect`` on the command line: stdout, stderr, exit codes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from tensorserve.export.cli import add_parser
from tests.export.conftest import build_custom_layer_model
from tests.export.custom_layers import CUSTOM_OBJECT_SPEC
from tests.support.paths import tfserving_model


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tensorserve")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture(scope="module")
def custom_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "custom.keras"
    build_custom_layer_model().save(path)
    return path


def last_stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err.strip().splitlines()[-1]


def test_export_prints_the_path_and_steps(
    custom_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "serving_model"
    code = run(
        "export",
        str(custom_model_file),
        "--name",
        "custom",
        "--base-dir",
        str(base),
        "--custom-objects",
        CUSTOM_OBJECT_SPEC,
        "--scale",
        "1/255",
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == f"{base / 'custom' / '1'}\n"
    assert "[1/5] Loading" in captured.err
    assert "Largest difference from the model: " in captured.err


def test_missing_custom_object_exits_1_with_the_flag_named(
    custom_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        "export",
        str(custom_model_file),
        "--name",
        "custom",
        "--base-dir",
        str(tmp_path / "serving_model"),
    )
    assert code == 1
    line = last_stderr_line(capsys)
    assert "'ScaledTanh'" in line
    assert f"--custom-objects {CUSTOM_OBJECT_SPEC}" in line
    assert not (tmp_path / "serving_model").exists()


def test_corrupt_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "broken.keras"
    corrupt.write_bytes(b"garbage")
    assert run("export", str(corrupt), "--name", "m", "--base-dir", str(tmp_path / "out")) == 1
    assert (
        last_stderr_line(capsys)
        == f"Cannot load {corrupt}: the file is corrupt or not a Keras model."
    )
    assert not (tmp_path / "out").exists()


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "absent.keras"
    assert run("export", str(absent), "--name", "m", "--base-dir", str(tmp_path / "out")) == 1
    assert last_stderr_line(capsys) == f"The model path {absent} does not exist."


def test_base_dir_under_a_file_exits_1_leaving_nothing(
    custom_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    code = run(
        "export",
        str(custom_model_file),
        "--name",
        "custom",
        "--base-dir",
        str(blocker),
        "--custom-objects",
        CUSTOM_OBJECT_SPEC,
    )
    assert code == 1
    assert last_stderr_line(capsys) == f"Cannot create {blocker / 'custom'}: not a directory."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_base_dir_exits_1_leaving_nothing(
    custom_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "serving_model"
    base.mkdir(mode=0o555)
    try:
        code = run(
            "export",
            str(custom_model_file),
            "--name",
            "custom",
            "--base-dir",
            str(base),
            "--custom-objects",
            CUSTOM_OBJECT_SPEC,
        )
        assert code == 1
        assert last_stderr_line(capsys) == f"Cannot create {base / 'custom'}: permission denied."
        assert list(base.iterdir()) == []
    finally:
        base.chmod(0o755)


def test_existing_version_is_refused_before_loading(
    tmp_path: Path, custom_model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out" / "custom" / "3").mkdir(parents=True)
    code = run(
        "export",
        str(custom_model_file),
        "--name",
        "custom",
        "--version",
        "3",
        "--base-dir",
        str(tmp_path / "out"),
    )
    assert code == 1
    assert last_stderr_line(capsys).endswith("already exists; pass --overwrite to replace it.")


def test_inspect_prints_signatures(capsys: pytest.CaptureFixture[str]) -> None:
    path = tfserving_model("saved_model_half_plus_two_cpu") / "00000123"
    assert run("inspect", str(path)) == 0
    out = capsys.readouterr().out
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:" in out
    assert "signature_def['regress_x_to_y']:" in out


def test_inspect_of_missing_path_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("inspect", str(tmp_path / "nothing")) == 1
    assert last_stderr_line(capsys) == f"The path {tmp_path / 'nothing'} does not exist."


def test_no_serving_only_on_the_command_line_keeps_the_keras_file(
    custom_model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "serving_model"
    code = run(
        "export",
        str(custom_model_file),
        "--name",
        "custom",
        "--base-dir",
        str(base),
        "--custom-objects",
        CUSTOM_OBJECT_SPEC,
        "--no-onnx",
        "--no-serving-only",
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    kept = base / "custom" / "1" / "training" / "custom.keras"
    assert kept.read_bytes() == custom_model_file.read_bytes()
    assert "Keeping the Keras model for training in training/custom.keras" in captured.err
