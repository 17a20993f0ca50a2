import ml_dtypes
import numpy as np
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType
from tensorserve.v2 import datatypes


def test_every_v2_datatype_maps_to_a_tensorflow_type_and_back() -> None:
    for name, datatype in datatypes.BY_NAME.items():
        assert datatypes.for_dtype(datatype.dtype, "x").name == name
        assert datatypes.parse_datatype(name, "x") is datatype


def test_names_follow_the_specification_table() -> None:
    assert datatypes.BY_DTYPE[DataType.DT_FLOAT].name == "FP32"
    assert datatypes.BY_DTYPE[DataType.DT_STRING].name == "BYTES"
    assert datatypes.BY_DTYPE[DataType.DT_HALF].name == "FP16"
    assert datatypes.BY_NAME["BF16"].numpy == np.dtype(ml_dtypes.bfloat16)
    assert not datatypes.BY_NAME["FP16"].json
    assert datatypes.BY_NAME["FP32"].json


def test_datatype_names_are_case_sensitive() -> None:
    with pytest.raises(InvalidArgument, match="invalid datatype 'fp32' for tensor 'x'"):
        datatypes.parse_datatype("fp32", "x")


def test_a_type_v2_cannot_express_is_a_client_error_naming_the_tensor() -> None:
    with pytest.raises(InvalidArgument, match="'z' uses DT_COMPLEX64"):
        datatypes.for_dtype(DataType.DT_COMPLEX64, "z")


@pytest.mark.parametrize(
    ("array", "name"),
    [
        (np.zeros(2, np.float32), "FP32"),
        (np.zeros(2, np.int64), "INT64"),
        (np.zeros(2, np.bool_), "BOOL"),
        (np.array([b"a"], dtype=object), "BYTES"),
        (np.array(["a"]), "BYTES"),
        (np.array([b"a"]), "BYTES"),
    ],
)
def test_output_arrays_get_their_datatype(array: np.ndarray, name: str) -> None:
    assert datatypes.for_array(array, "y").name == name


def test_an_output_without_v2_datatype_is_reported() -> None:
    with pytest.raises(InvalidArgument, match="output 'c'"):
        datatypes.for_array(np.zeros(1, np.complex64), "c")
