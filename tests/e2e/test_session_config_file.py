"""``--tensorflow_session_config_file``: the server's SavedModel sessions open with the
file's ``ConfigProto``, as TensorFlow Serving's do, and a file that does not parse
refuses the start."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.support import saved_models
from tests.support.server_process import refused_start, running_server

pytestmark = pytest.mark.e2e


def test_the_files_operation_timeout_ends_a_grpc_call_that_gives_no_deadline(
    tmp_path: Path,
) -> None:
    # The model waits on a queue nothing fills. A call with no deadline of its own runs
    # under the session's operation timeout, which only the file sets.
    saved_models.write_blocking_model(tmp_path / "block" / "1")
    config = tmp_path / "session.config"
    config.write_text("operation_timeout_in_ms: 300\ngpu_options { allow_growth: true }\n")
    with running_server(
        "--model_name=block",
        f"--model_base_path={tmp_path / 'block'}",
        f"--tensorflow_session_config_file={config}",
    ) as server:
        error = saved_models.blocking_predict_error(server.grpc_target, "block")
        assert isinstance(error, grpc.RpcError), error
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert error.details() == "Timed out waiting for notification"
    assert "tensorflow_session_config_file is accepted" not in server.log()


def test_a_session_config_file_that_does_not_parse_refuses_the_start(tmp_path: Path) -> None:
    saved_models.write_half_plus_two(tmp_path / "m" / "1")
    config = tmp_path / "session.config"
    config.write_text("operation_timeout_in_ms: soon\n")
    done = refused_start(
        "--model_name=m",
        f"--model_base_path={tmp_path / 'm'}",
        f"--tensorflow_session_config_file={config}",
    )
    assert done.returncode == 1
    assert (
        "Failed to start server. Error: INVALID_ARGUMENT: "
        "Error parsing text-format tensorflow.ConfigProto: 1:" in done.stderr
    )
