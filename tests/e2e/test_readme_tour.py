"""README.md's quick tour, run block by block as written (ports swapped for free ones).

The blocks are read from README.md itself, so editing the tour without keeping it working
fails here. The demo's trained model is replaced by a template matcher with the same
input and output (``tests/support/demo_models.py``) so no training is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tensorserve.demo.training import LABELS
from tests.support.demo_models import write_pretrained_demo_files
from tests.support.paths import REPO_ROOT
from tests.support.server_process import free_port, http_request
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

QUICK_TOUR = re.compile(r"^## Quick tour\n(.*?)^## ", re.DOTALL | re.MULTILINE)
FENCED_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
COMMAND_TIMEOUT_S = 180
TOUR_DIGIT = "7"


def tour_blocks() -> list[tuple[str, str]]:
    """(language, text) of each fenced block in README.md's Quick tour section."""
    match = QUICK_TOUR.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no '## Quick tour' section"
    return FENCED_BLOCK.findall(match.group(1))


def with_ports(text: str, grpc_port: int, rest_port: int) -> str:
    return re.sub(r"\b8501\b", str(rest_port), re.sub(r"\b8500\b", str(grpc_port), text))


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{script}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done.stdout


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed one after another (curl -s adds no newline)."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def model_available(rest_port: int) -> bool:
    status, body = http_request("GET", f"http://127.0.0.1:{rest_port}/v1/models/mnist", timeout=2)
    states = json.loads(body).get("model_version_status", []) if status == 200 else []
    return any(entry["state"] == "AVAILABLE" for entry in states)


def test_quick_tour_is_export_serve_curl_then_python() -> None:
    blocks = tour_blocks()

    assert [language for language, _ in blocks] == ["bash", "bash", "bash", "python"]
    assert blocks[0][1].startswith("tensorserve export ")
    assert blocks[1][1].startswith("tensorserve serve ")
    assert blocks[2][1].startswith("curl ")


@pytest.mark.slow
def test_quick_tour_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    export_block, serve_block, curl_block, python_block = (text for _, text in tour_blocks())
    grpc_port, rest_port = free_port(), free_port()
    paths = write_pretrained_demo_files(tmp_path)
    paths.labels.write_text("".join(f"{label}\n" for label in LABELS), encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }

    exported = run_bash(export_block, tmp_path, env)
    assert "models/mnist/1\n" in exported
    assert "inputs['image_bytes'] tensor_info:" in exported
    assert "signature_def['classify']:" in exported

    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", with_ports(serve_block, grpc_port, rest_port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's job
        )
    try:
        wait_until(
            lambda: server.poll() is None and model_available(rest_port),
            timeout=COMMAND_TIMEOUT_S,
            interval=0.2,
            what="the tour's server to serve mnist",
        )
        status, predict, classify = json_documents(
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
        os.killpg(server.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground job
        exit_code = server.wait(timeout=60)

    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    (prediction,) = predict["predictions"]
    assert prediction["classes"][int(np.argmax(prediction["scores"]))] == TOUR_DIGIT
    (result,) = classify["results"]
    assert max(result, key=lambda pair: pair[1])[0] == TOUR_DIGIT
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == f"digit: {TOUR_DIGIT}\n"
    assert exit_code == 0, (tmp_path / "server.log").read_text(errors="replace")
