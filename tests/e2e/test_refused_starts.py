"""Starts the server must refuse, each with one line that says why and exit status 1:
a port another process holds, and credentials it cannot provide. ``--use_alts_credentials``
never falls back to plaintext."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tests.support import saved_models
from tests.support.server_process import refused_start

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def model_flags(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    base = tmp_path_factory.mktemp("refused") / "half_plus_two"
    saved_models.write_half_plus_two(base / "1")
    return ["--model_name=half_plus_two", f"--model_base_path={base}"]


def test_a_grpc_port_another_process_holds_is_one_line_not_a_traceback(
    model_flags: list[str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = refused_start(*model_flags, f"--port={port}")
    assert done.returncode == 1
    assert f"Failed to start server. Error: Failed to bind gRPC address 0.0.0.0:{port}" in (
        done.stderr
    )
    assert "Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_alts_beside_ssl_is_refused_as_tensorflow_serving_refuses_it(
    model_flags: list[str], tmp_path: Path
) -> None:
    ssl = tmp_path / "ssl.config"
    ssl.write_text('server_key: "k"\nserver_cert: "c"\n')
    done = refused_start(*model_flags, "--use_alts_credentials", f"--ssl_config_file={ssl}")
    assert done.returncode == 255  # refused with the flags, as any flag error
    assert "Either use_alts_credentials must be false or ssl_config_file must be empty." in (
        done.stderr
    )


def _grpcio_has_alts() -> bool:
    server = grpc.server(ThreadPoolExecutor(1))
    try:
        server.add_secure_port("127.0.0.1:0", grpc.alts_server_credentials())
    except RuntimeError:
        return False
    finally:
        server.stop(None)
    return True


def test_alts_where_grpcio_has_none_refuses_the_start(model_flags: list[str]) -> None:
    if _grpcio_has_alts():
        pytest.skip("grpcio offers ALTS here (Google Cloud): the server would serve it")
    done = refused_start(*model_flags, "--use_alts_credentials")
    assert done.returncode == 1
    assert "Failed to start server. Error: Failed to bind gRPC address" in done.stderr
    assert "offers only on Google Cloud" in done.stderr
    assert "Traceback" not in done.stderr
