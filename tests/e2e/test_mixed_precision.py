"""``--mixed_precision=bfloat16``: with oneDNN's custom ops on, the server's sessions run
their MatMuls in bfloat16, as TensorFlow Serving's do; with them off (the server's
default) the flag changes nothing, and the log says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import saved_models
from tests.support.server_process import running_server

pytestmark = pytest.mark.e2e

FLOAT32 = 4120.6387
"""Each output for ones in, in float32; in bfloat16 it is 4096.0."""


def _cpu_has_bfloat16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _outputs(base: Path, onednn: str, *flags: str) -> tuple[list[float], str]:
    with running_server(
        "--model_name=chain",
        f"--model_base_path={base}",
        *flags,
        env={"TF_ENABLE_ONEDNN_OPTS": onednn},
    ) as server:
        status, body = server.post("/v1/models/chain:predict", {"instances": [[1.0] * 4]})
        assert status == 200, body
        return json.loads(body)["predictions"][0], server.log()


@pytest.mark.skipif(not _cpu_has_bfloat16(), reason="no bfloat16 instructions on this CPU")
def test_bfloat16_mixed_precision_runs_the_matmuls_in_bfloat16(tmp_path: Path) -> None:
    saved_models.write_matmul_chain_model(tmp_path / "chain" / "1")
    outputs, log = _outputs(tmp_path / "chain", "1", "--mixed_precision=bfloat16")
    assert outputs == [4096.0] * 4
    assert "Running inference with bfloat16 auto mixed precision" in log
    plain, _ = _outputs(tmp_path / "chain", "1")
    assert plain == pytest.approx([FLOAT32] * 4)


def test_without_onednn_bfloat16_mixed_precision_changes_nothing_and_says_so(
    tmp_path: Path,
) -> None:
    saved_models.write_matmul_chain_model(tmp_path / "chain" / "1")
    outputs, log = _outputs(tmp_path / "chain", "0", "--mixed_precision=bfloat16")
    assert outputs == pytest.approx([FLOAT32] * 4)
    assert "--mixed_precision=bfloat16 has no effect while oneDNN's custom ops are off;" in log
    assert "mixed_precision is accepted" not in log
