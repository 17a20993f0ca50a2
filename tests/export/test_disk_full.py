"""The disk filling up during ``tensorserve export``: one sentence saying so, exit 1, and
nothing half-written left where a server polls, on a real full file system (a small
tmpfs mounted for the test; skipped where mounting is not allowed)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tensorserve.export.cli import add_parser

DISK_BYTES = 4 * 2**20
WARMUP_SAMPLES = 1000  # about 1 MiB of warmup records for 256 float inputs
WARMUP_FILE = re.escape("assets.extra/tf_serving_warmup_requests")


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tensorserve")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small Keras classifier (256 floats -> 3 classes) and its labels file."""
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((256,), name="features")
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(inputs)
    root = tmp_path_factory.mktemp("disk_full_model")
    keras.Model(inputs, outputs).save(root / "m.keras")
    (root / "labels.txt").write_text("red\ngreen\nblue\n")
    return root / "m.keras", root / "labels.txt"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """A 4 MiB tmpfs; the function fills it until ``free`` bytes are left, returning it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")

    def leave_free(free: int) -> Path:
        stats = os.statvfs(disk)
        available = stats.f_bavail * stats.f_frsize
        with (disk / "filler").open("ab") as filler:
            filler.write(b"\0" * max(0, available - free))
        return disk

    try:
        yield leave_free
    finally:
        with contextlib.suppress(OSError):
            subprocess.run(["umount", str(disk)], check=True, capture_output=True)


def export_args(model_files: tuple[Path, Path], base: Path, *extra: str) -> list[str]:
    model, labels = model_files
    return ["export", str(model), "--name", "m", "--base-dir", str(base),
            "--labels", str(labels), *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("free", "failing_step"),
    [
        (16 * 1024, r"Cannot write the SavedModel to {staging}"),
        (512 * 1024, r"Cannot write the warmup requests to {staging}/" + WARMUP_FILE),
    ],
    ids=["while writing the SavedModel", "while writing the warmup requests"],
)
def test_a_full_disk_fails_the_export_with_one_sentence_and_publishes_nothing(
    small_disk: Callable[[int], Path],
    model_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    free: int,
    failing_step: str,
) -> None:
    disk = small_disk(DISK_BYTES)
    base = disk / "serving_model"
    assert run_cli(*export_args(model_files, base)) == 0  # version 1, without warmup
    published = {p: p.read_bytes() for p in (base / "m" / "1").rglob("*") if p.is_file()}
    capsys.readouterr()
    small_disk(free)

    status = run_cli(*export_args(model_files, base, "--warmup-samples", str(WARMUP_SAMPLES)))

    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    staging = re.escape(str(base / "m")) + r"/\.tmp-2-[0-9a-f]{8}"
    sentence = failing_step.format(staging=staging) + ": no space left on device\\."
    assert re.fullmatch(sentence, captured.err.strip().splitlines()[-1])
    assert captured.out == ""  # no path printed: nothing was published
    assert sorted(os.listdir(base / "m")) == ["1"]  # no version 2, no staging left behind
    assert {p: p.read_bytes() for p in (base / "m" / "1").rglob("*") if p.is_file()} == published
