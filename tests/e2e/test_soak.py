"""The soak (``benchmarks/soak.py``) for three minutes: mixed REST, gRPC and web-app load
with a version swap every 5 s and a config reload every 15 s. Nothing fails, resident
memory stays within 5% of its value after warm-up, and open descriptors stay flat.

The soak runs as its own process, as an operator would run it (tests do not import
``benchmarks/``); its JSON summary is what is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

DURATION_S = 180


def test_three_minutes_of_mixed_load_with_swaps_and_reloads(tmp_path: Path) -> None:
    summary_path = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(REPO_ROOT / "benchmarks" / "soak.py"),
        f"--duration={DURATION_S}",
        "--warmup=45",
        "--window=30",
        f"--json={summary_path}",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=DURATION_S + 300, env=env, check=False
    )
    assert summary_path.exists(), run.stdout + run.stderr
    summary = json.loads(summary_path.read_text())
    report = run.stdout  # the table and failures, shown when an assertion fails

    assert summary["server_alive"], report
    assert summary["failures"] == 0, report
    assert min(summary["requests_by_kind"].values()) > 0, report
    assert summary["swaps"] >= DURATION_S // 5 - 2, report
    assert summary["reloads"] >= DURATION_S // 15 - 2, report
    assert summary["anon_growth"] <= 0.05, report
    assert summary["fds_end"] <= summary["fds_after_warmup"] + 3, report
    assert run.returncode == 0, report
