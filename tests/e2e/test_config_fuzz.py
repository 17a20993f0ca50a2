"""Bad config files against the real server: a bad file refuses the start with a clear
message, and a bad reload (through gRPC or an edited ``--model_config_file``) changes
nothing, leaves the poller alive, and a clean shutdown exits 0.

Seeded (``TENSORSERVE_FUZZ_SEED``, printed); bounded to a few process starts and a
few hundred reloads.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from tests.support.config_texts import (
    KINDS,
    MODEL_CONFIG,
    ConfigKind,
    invalid_model_server_configs,
    refused,
)
from tests.support.memory import anonymous_bytes
from tests.support.paths import tfserving_model
from tests.support.server_process import ServerProcess, free_port, running_server, server_command
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = int(os.environ.get("TENSORSERVE_FUZZ_SEED", "20261202"))
STARTS_PER_KIND = 2
RELOADS = 150
STEADY = "steady"
SERVER_FAULTS = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def draw(strategy: st.SearchStrategy[bytes], count: int, run_seed: int) -> list[bytes]:
    """``count`` seeded examples of ``strategy``, outside of a test's ``@given``."""
    drawn: list[bytes] = []

    @seed(run_seed)
    @settings(
        max_examples=count * 3,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: bytes) -> None:
        if len(drawn) < count and value not in drawn:
            drawn.append(value)

    collect()
    return drawn


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.flag)
def test_a_bad_file_refuses_the_start_with_a_clear_message(
    kind: ConfigKind, tmp_path: Path
) -> None:
    missing = tmp_path / "no_model"  # the start fails before any model would load
    for raw in draw(refused(kind), STARTS_PER_KIND, SEED):
        path = tmp_path / "bad.txt"
        path.write_bytes(raw)
        flags = [f"--{kind.flag}={path}"]
        if kind is not MODEL_CONFIG:
            flags += ["--model_name=m", f"--model_base_path={missing}"]
        if kind.flag == "batching_parameters_file":
            flags.append("--enable_batching")
        command = server_command([f"--port={free_port()}", f"--rest_api_port={free_port()}"])
        done = subprocess.run(
            [*command, *flags], capture_output=True, timeout=120, text=True, errors="replace"
        )
        context = f"seed {SEED}, {kind.flag} = {raw!r}:\n{done.stderr[-2000:]}"
        assert done.returncode == 1, context
        assert "Traceback" not in done.stderr, context
        assert re.search(
            r"^Failed to start server\. Error: INVALID_ARGUMENT: \S", done.stderr, re.M
        )


def config_text(entries: dict[str, Path]) -> str:
    blocks = [
        f'config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" }}'
        for name, path in entries.items()
    ]
    return "model_config_list {\n" + "\n".join(blocks) + "\n}\n"


def write_config(path: Path, data: bytes) -> None:
    """Replace the file in one rename so the poller never reads half of it."""
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


@pytest.fixture
def polled(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    config = tmp_path / "models.config"
    config.write_text(config_text({STEADY: tfserving_model("saved_model_half_plus_two_cpu")}))
    with running_server(
        f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1"
    ) as server:
        yield server, config
    assert server.process.returncode == 0, server.log()[-3000:]  # the poller did not die


def statuses(stub: model_service_pb2_grpc.ModelServiceStub, name: str) -> list[tuple[int, int]]:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    try:
        response = stub.GetModelStatus(request, timeout=30)
    except grpc.RpcError as error:
        return [(-1, error.code().value[0])]  # type: ignore[attr-defined]
    return [(s.version, s.state) for s in response.model_version_status]


def test_bad_reloads_change_nothing_and_the_poller_survives(
    polled: tuple[ServerProcess, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, config = polled
    with capsys.disabled():
        print(f"\nconfig fuzz seed: {SEED} (TENSORSERVE_FUZZ_SEED={SEED} replays it)")
    steady_path = str(tfserving_model("saved_model_half_plus_two_cpu"))
    proc = psutil.Process(server.process.pid)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        before = statuses(stub, STEADY)
        assert before == [(123, 30)]  # AVAILABLE
        rss_before = anonymous_bytes(proc)
        codes: dict[str, int] = {}

        @seed(SEED)
        @settings(
            max_examples=RELOADS,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(invalid_model_server_configs(STEADY, steady_path))
        def bad_reload(bad: model_server_config_pb2.ModelServerConfig) -> None:
            request = model_management_pb2.ReloadConfigRequest(config=bad)
            with pytest.raises(grpc.RpcError) as caught:
                stub.HandleReloadConfigRequest(request, timeout=30)
            code = caught.value.code()  # type: ignore[attr-defined]
            assert code not in SERVER_FAULTS, (SEED, bad, caught.value)
            codes[code.name] = codes.get(code.name, 0) + 1
            assert statuses(stub, STEADY) == before, (SEED, bad)
            assert statuses(stub, "other") == [(-1, grpc.StatusCode.NOT_FOUND.value[0])]

        bad_reload()
        rss_after = anonymous_bytes(proc)
        with capsys.disabled():
            print(
                f"config fuzz: {sum(codes.values())} bad gRPC reloads, codes {codes}, "
                f"anonymous memory {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB "
                f"({rss_after / rss_before - 1:+.1%})"
            )

        # Bad files through the poller: binary garbage (issue 15: it killed the poller),
        # then text the parser refuses, each logged and survived.
        for count, raw in enumerate(
            [b"\xff\xfe\x80" * 50, *draw(refused(MODEL_CONFIG), 3, SEED)], start=1
        ):
            write_config(config, raw)
            wait_until(
                lambda n=count: server.log().count("Failed to read ModelServerConfig file") >= n,
                timeout=30,
                what=f"the poller to log bad file {count} ({raw!r})",
            )
            assert statuses(stub, STEADY) == before
        # ... and a good edit still takes effect.
        added = tfserving_model("saved_model_half_plus_three")
        write_config(
            config,
            config_text({STEADY: Path(steady_path), "added": added}).encode(),
        )
        wait_until(lambda: statuses(stub, "added") == [(123, 30)], timeout=60, what="added")
    assert server.alive()
