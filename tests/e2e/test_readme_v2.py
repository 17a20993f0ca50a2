"""README.md's "Open Inference Protocol (V2)" section, run block by block as written.

The serve block runs with free ports in place of 8500/8501, against a half_plus_two
SavedModel built in ``models/half_plus_two`` of a temporary directory; then the curl
block and the Python block (``tritonclient.http``) run against it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_readme_tour import (
    COMMAND_TIMEOUT_S,
    FENCED_BLOCK,
    json_documents,
    run_bash,
    with_ports,
)
from tests.support.paths import REPO_ROOT
from tests.support.saved_models import write_half_plus_two
from tests.support.server_process import free_port, http_request
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

V2_SECTION = re.compile(r"^## Open Inference Protocol \(V2\)\n(.*?)^## ", re.DOTALL | re.MULTILINE)


def v2_blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced block in README.md's V2 section."""
    match = V2_SECTION.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no '## Open Inference Protocol (V2)' section"
    return FENCED_BLOCK.findall(match.group(1))


def test_v2_section_is_serve_curl_then_python() -> None:
    blocks = v2_blocks()
    assert [language for language, _ in blocks[:3]] == ["bash", "bash", "python"]
    assert blocks[0][1].startswith("tensorserve serve ")
    assert blocks[1][1].startswith("curl ")
    assert "tritonclient.http" in blocks[2][1]


@pytest.mark.slow
def test_v2_section_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("tritonclient.http")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    serve_block, curl_block, python_block = (text for _, text in v2_blocks()[:3])
    write_half_plus_two(tmp_path / "models" / "half_plus_two" / "1")
    grpc_port, rest_port = free_port(), free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", with_ports(serve_block, grpc_port, rest_port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ready_url = f"http://127.0.0.1:{rest_port}/v2/health/ready"
    try:
        wait_until(
            lambda: server.poll() is None and http_request("GET", ready_url, timeout=2)[0] == 200,
            timeout=COMMAND_TIMEOUT_S,
            interval=0.2,
            what="the README's server to be ready",
        )
        ready, metadata, inference, index = json_documents(
            run_bash(with_ports(curl_block, grpc_port, rest_port), tmp_path, env)
        )
        printed = subprocess.run(
            [sys.executable, "-c", with_ports(python_block, grpc_port, rest_port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)

    assert ready == {"ready": True}
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1]}]
    assert inference == {
        "model_name": "half_plus_two",
        "model_version": "1",
        "id": "1",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [3], "data": [2.5, 3.0, 4.5]}],
    }
    assert index == [{"name": "half_plus_two", "version": "1", "state": "READY", "reason": ""}]
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == "y: [2.5, 3.0, 4.5]\n"
