"""The composition root's own decisions (the servers it wires are tested end to end)."""

from __future__ import annotations

import pytest

from tensorserve.config import ServerOptions
from tensorserve.server import grpc_server_kind


@pytest.mark.parametrize(
    ("flag", "batching", "kind"),
    [
        ("auto", False, "threads"),
        ("auto", True, "asyncio"),  # no thread held per request waiting for its batch
        ("threads", True, "threads"),
        ("asyncio", False, "asyncio"),
        ("h2", False, "h2"),  # by name only
        ("h2", True, "h2"),
    ],
)
def test_auto_grpc_server_is_asyncio_only_with_batching(
    flag: str, batching: bool, kind: str
) -> None:
    options = ServerOptions(model_base_path="/m", grpc_server=flag, enable_batching=batching)
    assert grpc_server_kind(options) == kind
