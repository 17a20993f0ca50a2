"""Image validation and building a model input from a signature."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tensorserve.webapp import errors
from tensorserve.webapp.config import InputScale
from tensorserve.webapp.metadata import SignatureSpec, TensorSpec
from tensorserve.webapp.preprocessing import build_model_input, validate_image


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def signature_with_input(dtype: str, shape: tuple[int, ...] | None) -> SignatureSpec:
    return SignatureSpec(
        name="serving_default",
        method_name="tensorflow/serving/predict",
        inputs=(TensorSpec("x", dtype, shape),),
        outputs=(TensorSpec("scores", "DT_FLOAT", (-1, 10)),),
    )


def model_input(
    image: Image.Image,
    dtype: str,
    shape: tuple[int, ...] | None,
    scale: InputScale = InputScale.UNIT,
) -> object:
    upload = validate_image(encoded(image), max_pixels=10_000_000)
    return build_model_input(upload, "m", signature_with_input(dtype, shape), scale).instance


def test_encoded_image_input_gets_png_bytes_as_base64() -> None:
    instance = model_input(Image.new("RGB", (5, 4), (1, 2, 3)), "DT_STRING", (-1,))

    assert isinstance(instance, dict)
    decoded = Image.open(io.BytesIO(base64.b64decode(instance["b64"])))
    assert decoded.format == "PNG" and decoded.size == (5, 4)


def test_jpeg_upload_is_reencoded_as_png_for_an_encoded_input() -> None:
    upload = validate_image(encoded(Image.new("RGB", (8, 8)), "JPEG"), max_pixels=100)
    instance = build_model_input(
        upload, "m", signature_with_input("DT_STRING", None), InputScale.UNIT
    )

    assert upload.extension == "jpg"
    assert base64.b64decode(instance.instance["b64"]).startswith(b"\x89PNG")


def test_rgb_float_input_is_resized_and_scaled_to_unit_range() -> None:
    instance = model_input(Image.new("RGB", (64, 40), (255, 0, 51)), "DT_FLOAT", (-1, 32, 32, 3))

    values = np.asarray(instance)
    assert values.shape == (32, 32, 3)
    assert values[0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])


def test_grayscale_hw_input_has_no_channel_axis() -> None:
    values = np.asarray(model_input(Image.new("RGB", (50, 50), "white"), "DT_FLOAT", (-1, 28, 28)))

    assert values.shape == (28, 28)
    assert values.max() == pytest.approx(1.0)


def test_flat_input_of_a_square_size_is_a_flattened_grayscale_image() -> None:
    values = np.asarray(model_input(Image.new("L", (10, 10), 255), "DT_FLOAT", (-1, 784)))

    assert values.shape == (784,)


def test_flat_input_of_three_squares_is_a_flattened_rgb_image() -> None:
    values = np.asarray(model_input(Image.new("RGB", (10, 10)), "DT_FLOAT", (-1, 3 * 16 * 16)))

    assert values.shape == (768,)


def test_unknown_sides_keep_the_image_aspect_within_the_cap() -> None:
    values = np.asarray(model_input(Image.new("RGB", (1000, 500)), "DT_FLOAT", (-1, -1, -1, 3)))

    assert values.shape == (128, 256, 3)


@pytest.mark.parametrize(
    ("scale", "expected"),
    [(InputScale.UNIT, 1.0), (InputScale.SYMMETRIC, 1.0), (InputScale.RAW, 255.0)],
)
def test_scale_option_maps_white(scale: InputScale, expected: float) -> None:
    values = np.asarray(model_input(Image.new("L", (4, 4), 255), "DT_FLOAT", (-1, 4, 4, 1), scale))

    assert values.max() == pytest.approx(expected)


def test_integer_input_gets_raw_pixel_integers() -> None:
    instance = model_input(Image.new("L", (4, 4), 200), "DT_UINT8", (-1, 4, 4, 1))

    assert instance == [[[200]] * 4] * 4


@pytest.mark.parametrize(
    ("dtype", "shape"),
    [
        ("DT_FLOAT", None),
        ("DT_FLOAT", (-1, 10, 10, 2)),
        ("DT_FLOAT", (-1, 10)),
        ("DT_BOOL", (-1, 4, 4)),
        ("DT_STRING", (-1, 2, 2)),
    ],
)
def test_shapes_that_are_not_images_are_unsupported(
    dtype: str, shape: tuple[int, ...] | None
) -> None:
    with pytest.raises(errors.UnsupportedSignature):
        model_input(Image.new("L", (4, 4)), dtype, shape)


def test_several_inputs_are_unsupported() -> None:
    signature = SignatureSpec(
        "s", "", (TensorSpec("a", "DT_FLOAT", (-1, 4)), TensorSpec("b", "DT_FLOAT", (-1, 4))), ()
    )
    upload = validate_image(encoded(Image.new("L", (2, 2))), max_pixels=100)

    with pytest.raises(errors.UnsupportedSignature, match="a, b"):
        build_model_input(upload, "m", signature, InputScale.UNIT)


def test_validation_refuses_text_empty_and_oversized_images() -> None:
    with pytest.raises(errors.NotAnImage):
        validate_image(b"GIF89a but not really", max_pixels=100)
    with pytest.raises(errors.EmptyUpload):
        validate_image(b"", max_pixels=100)
    with pytest.raises(errors.ImageTooManyPixels, match="11x10"):
        validate_image(encoded(Image.new("L", (11, 10))), max_pixels=100)


def test_first_frame_of_an_animated_gif_is_used() -> None:
    frames = [Image.new("P", (6, 6), colour) for colour in (1, 2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])

    upload = validate_image(buffer.getvalue(), max_pixels=100)

    assert upload.extension == "gif"
    assert upload.png_bytes().startswith(b"\x89PNG")
