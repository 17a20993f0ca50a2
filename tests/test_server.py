"""The composition root's own decisions (the servers it wires are tested end to end)."""

from __future__ import annotations

import pytest

from tensorserve.config import ServerOptions
from tensorserve.server import grpc_server_kind


@pytest.mark.parametrize(
    ("flag", "batching", "channel_arguments", "kind"),
    [
        ("auto", False, "", "h2"),
        ("auto", True, "", "h2"),  # no thread held per request waiting for its batch
        # Connection lifetime, stream count, port sharing: h2 honours them.
        ("auto", False, "grpc.max_connection_age_ms=1000,grpc.max_connection_idle_ms=5", "h2"),
        ("auto", False, "grpc.max_connection_age_ms=1000, grpc.max_concurrent_streams=8", "h2"),
        # Keepalive pings and their policing: h2 honours them too.
        ("auto", False, "grpc.keepalive_time_ms=60000,grpc.http2.max_ping_strikes=0", "h2"),
        # A client's limit, which grpcio's server ignores too.
        ("auto", False, "grpc.keepalive_time_ms=60000,grpc.http2.max_pings_without_data=0", "h2"),
        ("auto", False, "grpc.http2.bdp_probe=0", "threads"),  # grpcio's own
        ("auto", True, "grpc.max_connection_age_ms=1,grpc.http2.bdp_probe=0", "asyncio"),
        ("auto", False, "not-key-value", "threads"),  # grpcio's error to report
        ("auto", False, "grpc.max_connection_age_ms=soon", "threads"),  # likewise
        ("threads", True, "", "threads"),
        ("asyncio", False, "", "asyncio"),
        ("h2", False, "grpc.http2.bdp_probe=0", "h2"),  # named: as asked
    ],
)
def test_auto_grpc_server_is_h2_unless_grpcio_is_configured(
    flag: str, batching: bool, channel_arguments: str, kind: str
) -> None:
    options = ServerOptions(
        model_base_path="/m",
        grpc_server=flag,
        enable_batching=batching,
        grpc_channel_arguments=channel_arguments,
    )
    assert grpc_server_kind(options) == kind


def test_auto_keeps_grpcio_for_alts() -> None:
    # Only grpcio's servers speak ALTS; h2 would serve plaintext to an ALTS client.
    options = ServerOptions(model_base_path="/m", use_alts_credentials=True)
    assert grpc_server_kind(options) == "threads"


def test_auto_counts_a_platform_config_file_as_batching() -> None:
    # Any of its platforms may batch; the threaded server would cap a batch at its threads.
    options = ServerOptions(
        model_base_path="/m",
        platform_config_file="/platforms.config",
        grpc_channel_arguments="grpc.http2.bdp_probe=0",
    )
    assert grpc_server_kind(options) == "asyncio"
