"""A served SavedModel does not keep the TensorFlow code only start-up ran resident
(``code_pages.py``), and answers the same once that code is gone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tensorserve.code_pages import parse_smaps
from tests.support.paths import tfserving_model
from tests.support.server_process import running_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/smaps"),
]

#: ``libtensorflow_cc.so.2``'s code and read-only data the server kept resident at
#: AVAILABLE before the release: ~250 MiB. After it, ~40 MiB.
TENSORFLOW_CODE_BOUND_MIB = 120


def tensorflow_file_pages_mib(pid: int) -> float:
    """Resident pages of TensorFlow's libraries' read-only file mappings, in MiB."""
    kib = sum(
        mapping.rss_kib
        for mapping in parse_smaps(Path(f"/proc/{pid}/smaps").read_text())
        if "libtensorflow" in mapping.path and mapping.droppable
    )
    return kib / 1024


def test_start_up_only_tensorflow_code_is_not_kept_and_answers_do_not_change() -> None:
    base = tfserving_model("saved_model_half_plus_two_cpu")
    with running_server("--model_name=m", f"--model_base_path={base}") as server:
        pid = server.process.pid
        at_start = tensorflow_file_pages_mib(pid)
        for _ in range(50):
            status, body = server.post("/v1/models/m:predict", {"instances": [1.0, 2.0, 5.0]})
            assert (status, body) == (200, b'{"predictions":[2.5,3.0,4.5]}')
        after_requests = tensorflow_file_pages_mib(pid)
    print(f"TensorFlow file pages: {at_start:.0f} MiB at start, {after_requests:.0f} after")
    assert at_start < TENSORFLOW_CODE_BOUND_MIB, at_start
    assert after_requests < TENSORFLOW_CODE_BOUND_MIB, after_requests
