import json
import math

import numpy as np
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.predict_request import RequestFormat
from tensorserve.rest.predict_response import render_predict_response

ROW, COLUMNAR = RequestFormat.ROW, RequestFormat.COLUMNAR


def _render(outputs: dict[str, np.ndarray], request_format: RequestFormat = ROW) -> object:
    return json.loads(render_predict_response(outputs, request_format))


def test_one_output_row_format_is_a_list_of_rows() -> None:
    body = render_predict_response({"y": np.array([2.5, 3.0, 4.5], np.float32)}, ROW)
    assert body == b'{"predictions":[2.5,3.0,4.5]}'


def test_float32_values_print_short() -> None:
    assert _render({"y": np.array([0.1, 1e20], np.float32)}) == {"predictions": [0.1, 1e20]}


def test_several_outputs_row_format_are_objects_per_row() -> None:
    outputs = {"b": np.array([[1, 2], [3, 4]], np.int32), "a": np.array([True, False])}
    assert _render(outputs) == {
        "predictions": [{"a": True, "b": [1, 2]}, {"a": False, "b": [3, 4]}]
    }


def test_zero_batch_gives_empty_predictions() -> None:
    assert _render({"y": np.zeros((0, 3), np.float32)}) == {"predictions": []}


def test_rank_zero_output_has_no_shape_information_in_row_format() -> None:
    with pytest.raises(InvalidArgument) as info:
        render_predict_response({"y": np.float32(1.0)}, ROW)  # type: ignore[dict-item]
    assert info.value.message == "Tensor name: y has no shape information "


def test_inconsistent_batch_sizes_are_rejected_in_row_format() -> None:
    with pytest.raises(InvalidArgument) as info:
        render_predict_response({"a": np.zeros(2), "b": np.zeros(3)}, ROW)
    assert info.value.message == "Tensor name: b has inconsistent batch size: 3 expecting: 2"


def test_columnar_format_allows_any_batch_and_bare_scalars() -> None:
    assert _render({"y": np.array(3.5, np.float64)}, COLUMNAR) == {"outputs": 3.5}
    assert _render({"a": np.zeros(2, np.int64), "b": np.ones(1, np.uint8)}, COLUMNAR) == {
        "outputs": {"a": [0, 0], "b": [1]}
    }


def test_strings_are_text_and_bytes_suffix_outputs_are_base64() -> None:
    outputs = {
        "text": np.array([b"caf\xc3\xa9", b"\xff"], dtype=object),
        "img_bytes": np.array([b"\x00\x01", b"hi"], dtype=object),
    }
    assert _render(outputs) == {
        "predictions": [
            {"img_bytes": {"b64": "AAE="}, "text": "café"},
            {"img_bytes": {"b64": "aGk="}, "text": "\ufffd"},
        ]
    }


def test_nan_and_infinity_are_written_as_bare_tokens() -> None:
    body = render_predict_response({"y": np.array([np.nan, np.inf, -np.inf, 0.1], np.float32)}, ROW)
    assert body == b'{"predictions":[NaN,Infinity,-Infinity,0.1]}'
    rows = render_predict_response({"a": np.array([[np.nan], [1.0]]), "b": np.array([1, 2])}, ROW)
    assert rows == b'{"predictions":[{"a":[NaN],"b":1},{"a":[1.0],"b":2}]}'
    assert math.isnan(json.loads(rows)["predictions"][0]["a"][0])


@pytest.mark.parametrize(
    ("dtype", "name"), [(np.float16, "half"), (np.uint16, "uint16"), (np.complex64, "complex64")]
)
def test_unsupported_output_dtypes_fail_to_write(dtype: type, name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        render_predict_response({"y": np.ones(2, dtype)}, ROW)
    assert info.value.message == f"Failed to write JSON value for tensor type: {name}"


def test_empty_output_map_cannot_be_converted() -> None:
    with pytest.raises(InvalidArgument) as info:
        render_predict_response({}, ROW)
    assert info.value.message == "Cannot convert empty tensor map to JSON"


def test_non_contiguous_outputs_are_written() -> None:
    assert _render({"y": np.arange(6, dtype=np.int64).reshape(2, 3).T}) == {
        "predictions": [[0, 3], [1, 4], [2, 5]]
    }


def test_float_values_are_printed_as_tensorflow_serving_prints_them() -> None:
    outputs = {"y": np.array([9e6, 3.14159265, 3.0, np.nan], np.float32)}
    assert render_predict_response(outputs, ROW) == (b'{"predictions":[9e+06,3.14159274,3.0,NaN]}')
    doubles: dict[str, np.ndarray] = {
        "a": np.array([1 / 3], np.float64),
        "b": np.array([0.1], np.float32),
    }
    assert render_predict_response(doubles, ROW) == (
        b'{"predictions":[{"a":0.33333333333333331,"b":0.1}]}'
    )
