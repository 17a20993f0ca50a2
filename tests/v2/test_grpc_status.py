import grpc
import pytest

from tensorserve.core.errors import Code
from tensorserve.v2.grpc_status import V2_GRPC_STATUS_BY_CODE, v2_grpc_status_code


def test_every_canonical_code_has_a_v2_status() -> None:
    assert set(V2_GRPC_STATUS_BY_CODE) == set(Code)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (Code.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (Code.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.OUT_OF_RANGE, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
        (Code.UNIMPLEMENTED, grpc.StatusCode.UNIMPLEMENTED),
        (Code.DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED),
        (Code.UNKNOWN, grpc.StatusCode.INTERNAL),
    ],
)
def test_codes_follow_tritons_grpc_mapping(code: Code, status: grpc.StatusCode) -> None:
    assert v2_grpc_status_code(code) == status
