"""README.md's "V2 over gRPC" example, run as written (port swapped for a free one)
against a server serving half_plus_two."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.saved_models import write_half_plus_two
from tests.support.server_process import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECTION = re.compile(r"^### V2 over gRPC\n(.*?)^#", re.DOTALL | re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def readme_example() -> str:
    section = SECTION.search((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert section, "README.md has no '### V2 over gRPC' section"
    block = PYTHON_BLOCK.search(section.group(1))
    assert block, "the V2 over gRPC section has no python block"
    return block.group(1)


def test_readme_v2_grpc_example_runs_as_written(tmp_path: Path) -> None:
    write_half_plus_two(tmp_path / "half_plus_two" / "1")
    with running_server(
        "--model_name=half_plus_two", f"--model_base_path={tmp_path / 'half_plus_two'}"
    ) as server:
        code = re.sub(r"\b8500\b", str(server.grpc_port), readme_example())
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "[2.5 3.  4.5]", "['half_plus_two']"]
