"""The canonical code -> gRPC status table and message truncation."""

from __future__ import annotations

import grpc

from tensorserve.core.errors import Code
from tensorserve.grpc.status import GRPC_STATUS_BY_CODE, grpc_status_code, truncate_message


def test_every_canonical_code_maps_to_the_grpc_code_of_the_same_number() -> None:
    assert set(GRPC_STATUS_BY_CODE) == set(Code)
    for code in Code:
        status = grpc_status_code(code)
        assert status.value[0] == int(code)
        assert status.name == code.name


def test_a_few_well_known_mappings() -> None:
    assert grpc_status_code(Code.NOT_FOUND) is grpc.StatusCode.NOT_FOUND
    assert grpc_status_code(Code.FAILED_PRECONDITION) is grpc.StatusCode.FAILED_PRECONDITION
    assert grpc_status_code(Code.RESOURCE_EXHAUSTED) is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_messages_up_to_1024_chars_are_kept() -> None:
    assert truncate_message("") == ""
    assert truncate_message("x" * 1024) == "x" * 1024


def test_longer_messages_are_cut_and_marked() -> None:
    assert truncate_message("y" * 1025) == "y" * 1024 + "...TRUNCATED"
