import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import TensorInfo
from tensorserve.v2.metadata import TensorMetadata, tensor_metadata, v2_platform


def test_tensors_are_described_by_alias_with_v2_datatypes_and_minus_one_dims() -> None:
    tensors = {
        "x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 3)),
        "s": TensorInfo("s:0", DataType.DT_STRING, ()),
    }
    assert tensor_metadata(tensors) == [
        TensorMetadata("x", "FP32", (-1, 3)),
        TensorMetadata("s", "BYTES", ()),
    ]


def test_an_unknown_rank_is_reported_as_one_unknown_dimension() -> None:
    assert tensor_metadata({"x": TensorInfo("x:0", DataType.DT_INT64, None)})[0].shape == (-1,)


def test_a_type_without_v2_datatype_is_a_client_error_naming_the_tensor() -> None:
    with pytest.raises(InvalidArgument, match="'c' uses DT_COMPLEX64"):
        tensor_metadata({"c": TensorInfo("c:0", DataType.DT_COMPLEX64, (1,))})


def test_savedmodels_use_the_oip_platform_name() -> None:
    assert v2_platform("tensorflow") == "tensorflow_savedmodel"
    assert v2_platform("python") == "python"
