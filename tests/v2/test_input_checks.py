import dataclasses

import numpy as np
import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.dtypes import DataType
from tensorserve.servables.signature import PREDICT_METHOD, Signature, TensorInfo
from tensorserve.v2.datatypes import BY_NAME
from tensorserve.v2.input_checks import DeclaredInput, check_inputs, check_outputs

SIGNATURE = Signature(
    "serving_default",
    PREDICT_METHOD,
    inputs={
        "x": TensorInfo("x:0", DataType.DT_FLOAT, (-1, 3)),
        "n": TensorInfo("n:0", DataType.DT_INT64, None),
    },
    outputs={"y": TensorInfo("y:0", DataType.DT_FLOAT, (-1,))},
)


def declared(name: str, datatype: str, shape: tuple[int, ...]) -> DeclaredInput:
    return DeclaredInput(name, BY_NAME[datatype], shape)


def test_matching_inputs_pass_whatever_their_order() -> None:
    check_inputs("m", SIGNATURE, [declared("n", "INT64", (5, 2, 1)), declared("x", "FP32", (2, 3))])


def test_an_unknown_input_is_named() -> None:
    with pytest.raises(InvalidArgument, match="unexpected inference input 'z' for model 'm'"):
        check_inputs("m", SIGNATURE, [declared("z", "FP32", (1,))])


def test_a_wrong_datatype_names_both_types() -> None:
    with pytest.raises(
        InvalidArgument,
        match="inference input 'x' data-type is 'FP64', but model 'm' expects 'FP32'",
    ):
        check_inputs("m", SIGNATURE, [declared("x", "FP64", (1, 3)), declared("n", "INT64", ())])


@pytest.mark.parametrize("shape", [(2, 4), (3,), (1, 3, 1)])
def test_a_shape_against_a_known_dimension_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(
        InvalidArgument, match=r"unexpected shape for input 'x'.*Expected \[-1, 3\]"
    ):
        check_inputs("m", SIGNATURE, [declared("x", "FP32", shape), declared("n", "INT64", ())])


def test_missing_inputs_are_listed() -> None:
    with pytest.raises(
        InvalidArgument, match="expected 2 inputs but got 1 inputs for model 'm': missing 'n'"
    ):
        check_inputs("m", SIGNATURE, [declared("x", "FP32", (1, 3))])


def test_a_repeated_input_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="'x' appears more than once"):
        check_inputs("m", SIGNATURE, [declared("x", "FP32", (1, 3))] * 2)


def test_an_unknown_requested_output_is_refused_before_the_model_runs() -> None:
    check_outputs("m", SIGNATURE, ["y"])
    with pytest.raises(InvalidArgument, match="unexpected inference output 'z' for model 'm'"):
        check_outputs("m", SIGNATURE, ["y", "z"])


def test_inputs_with_defaults_may_be_left_out() -> None:
    with_default = dataclasses.replace(SIGNATURE, defaults={"n": np.zeros(1, np.int64)})
    check_inputs("m", with_default, [declared("x", "FP32", (1, 3))])
