"""The demo's ``digits`` servable, unit-tested with tensorserve.testing: a fake
``mnist`` records what the servable prepared from a photo-like image."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tensorserve.demo.digits import SERVABLE_SOURCE
from tensorserve.testing import Code, FakeModels, LoadedServable, ServingError, load_servable

LABELS = np.array([[str(d).encode() for d in range(10)]], dtype=object)


def photo_of_a_one(size: tuple[int, int] = (300, 200), fmt: str = "JPEG") -> bytes:
    """A dark-blue stroke on a light, slightly coloured background, off-centre."""
    image = Image.new("RGB", size, (235, 240, 225))
    ImageDraw.Draw(image).line([(60, 30), (70, 170)], fill=(20, 30, 90), width=14)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def fake_mnist(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    batch = len(inputs["image"])
    scores = np.zeros((batch, 10), np.float32)
    scores[:, 1] = 1.0
    return {"classes": np.repeat(LABELS, batch, axis=0), "scores": scores}


@pytest.fixture
def models() -> FakeModels:
    return FakeModels({"mnist": fake_mnist})


@pytest.fixture
def digits(tmp_path: Path, models: FakeModels) -> Iterator[LoadedServable]:
    version = tmp_path / "digits" / "1"
    version.mkdir(parents=True)
    shutil.copy(SERVABLE_SOURCE, version / "servable.py")
    with load_servable(version, models=models, name="digits") as loaded:
        yield loaded


def _images(*encoded: bytes) -> dict[str, np.ndarray]:
    return {"image_bytes": np.array(list(encoded), dtype=object)}


def test_a_photo_is_prepared_as_mnist_digits_are(
    digits: LoadedServable, models: FakeModels
) -> None:
    out = digits.predict(_images(photo_of_a_one(), photo_of_a_one((64, 90), "PNG")))
    assert out["classes"].shape == (2, 10) and out["scores"].shape == (2, 10)
    [call] = models.calls
    assert (call.name, call.signature_name) == ("mnist", "predict_tensor")
    batch = call.inputs["image"]
    assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32
    for frame in batch[..., 0]:
        assert frame[0].max() == 0 and frame[-1].max() == 0  # black background
        assert frame.max() == pytest.approx(1.0, abs=0.05)  # white ink
        rows, cols = np.nonzero(frame > 0.25)
        assert max(np.ptp(rows), np.ptp(cols)) < 21  # fits MNIST's 20-pixel box
        total = frame.sum()
        centre = (np.indices(frame.shape) * frame).sum(axis=(1, 2)) / total
        assert np.allclose(centre, 14, atol=1.0)


def test_each_streams_one_result_per_image(digits: LoadedServable, models: FakeModels) -> None:
    chunks = list(digits.stream(_images(photo_of_a_one(), photo_of_a_one()), "each"))
    assert [c["scores"].shape for c in chunks] == [(1, 10), (1, 10)]
    assert len(models.calls) == 2


def test_unreadable_bytes_are_the_clients_error(digits: LoadedServable) -> None:
    with pytest.raises(ServingError) as caught:
        digits.predict(_images(b"not an image"))
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message.startswith("not a readable image")
