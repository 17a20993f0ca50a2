"""Prepare the MNIST demo's files under one root directory, doing only what is missing.

Layout under ``root`` (see ``DemoPaths``)::

    model_dir/mnist.keras            trained here if absent (about 40 s on 2 cores)
    model_dir/labels.txt             "0".."9", one per line
    serving_model/mnist/1/           export with the image signature, labels and warmup
    serving_model/digits/1/          the ``digits`` Python servable (any image -> mnist)
    predict_images/samples/<d>.png   one held-out digit per class, for curl and tests

Each step is skipped when its output exists, so a second call costs only the checks.
Not thread-safe (training redirects stdout to stderr and seeds global generators);
not safe to run twice at once on the same root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

from tensorserve.demo.training import LABELS, MnistSplit, load_mnist_split, save_model, train_mnist

MODEL_NAME = "mnist"
MODEL_VERSION = 1
DIGITS_NAME = "digits"
WARMUP_SAMPLES = 5


@dataclasses.dataclass(frozen=True)
class DemoPaths:
    """Where the demo's files live; build with ``DemoPaths.under(root)``."""

    root: Path
    model_dir: Path
    keras_model: Path
    labels: Path
    serving_base: Path
    export_dir: Path
    samples_dir: Path
    digits_dir: Path
    model_name: str = MODEL_NAME

    @classmethod
    def under(cls, root: Path) -> DemoPaths:
        model_dir = root / "model_dir"
        serving_base = root / "serving_model"
        return cls(
            root=root,
            model_dir=model_dir,
            keras_model=model_dir / "mnist.keras",
            labels=model_dir / "labels.txt",
            serving_base=serving_base,
            export_dir=serving_base / MODEL_NAME / str(MODEL_VERSION),
            samples_dir=root / "predict_images" / "samples",
            digits_dir=serving_base / DIGITS_NAME / str(MODEL_VERSION),
        )

    def sample_images(self) -> list[Path]:
        """The sample PNGs, sorted by name (``0.png`` .. ``9.png``)."""
        return sorted(self.samples_dir.glob("*.png"))


def prepare_demo(root: Path, progress: bool = True) -> DemoPaths:
    """Train, save, label, export and write samples as needed; return the paths.

    Raises ``tensorserve.export.errors.ExportError`` if the export fails.
    """
    from tensorserve.export.exporter import ExportOptions, export_model

    paths = DemoPaths.under(root)

    def say(line: str) -> None:
        if progress:
            print(line, file=sys.stderr, flush=True)

    split = None
    if not paths.keras_model.exists():
        say(f"Training the MNIST CNN (no {paths.keras_model} yet)")
        split = load_mnist_split()
        # Keras draws its progress bar on stdout; keep stdout for results.
        with contextlib.redirect_stdout(sys.stderr):
            result = train_mnist(split, verbose=1 if progress else 0)
        say(f"Held-out test accuracy: {result.test_accuracy:.4f}")
        save_model(result.model, paths.keras_model)
    if not paths.labels.exists():
        paths.labels.write_text("".join(f"{label}\n" for label in LABELS), encoding="utf-8")
    if not paths.sample_images():
        write_sample_images(paths.samples_dir, split or load_mnist_split())
        say(f"Wrote sample digits to {paths.samples_dir}")
    if not (paths.export_dir / "saved_model.pb").exists():
        options = ExportOptions(
            model_path=paths.keras_model,
            name=MODEL_NAME,
            base_dir=paths.serving_base,
            version=MODEL_VERSION,
            overwrite=True,
            image_input=True,
            labels_path=paths.labels,
            warmup_samples=WARMUP_SAMPLES,
        )
        export_model(options, progress=say)
        say(f"Exported {paths.export_dir}")
    write_digits_servable(paths)
    return paths


def write_digits_servable(paths: DemoPaths) -> Path:
    """Copy the ``digits`` Python servable into its version directory (kept current)."""
    from tensorserve.demo.digits import SERVABLE_SOURCE

    target = paths.digits_dir / "servable.py"
    source = SERVABLE_SOURCE.read_text(encoding="utf-8")
    if not target.exists() or target.read_text(encoding="utf-8") != source:
        paths.digits_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
    return target


def write_sample_images(samples_dir: Path, split: MnistSplit) -> list[Path]:
    """Save the first held-out image of each digit as ``<digit>.png`` (28x28 grayscale)."""
    import numpy as np
    from PIL import Image

    samples_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for digit in np.unique(split.test_labels):
        index = int(np.flatnonzero(split.test_labels == digit)[0])
        path = samples_dir / f"{int(digit)}.png"
        Image.fromarray(split.test_images[index, :, :, 0]).save(path)
        written.append(path)
    return written
