"""Replicas behind a real load balancer roll without losing a request.

Three tensorserve processes (127.0.0.11-13, same ports) behind HAProxy, with a
bounded REST + gRPC load through HAProxy while a new version rolls out, every
replica restarts in turn, and a model is unloaded from one replica. The same
restart with SIGKILL must lose requests: proof that the test can see loss.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.cluster import (
    MODEL,
    Cluster,
    LoadLoop,
    Replica,
    addresses_usable,
    running_cluster,
)
from tests.support.paths import tfserving_model
from tests.support.server_process import http_request
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DRAIN_DELAY = "--drain_delay_seconds=1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (.ci/run installs Debian's package)")
    if not addresses_usable():
        pytest.skip("cannot bind 127.0.0.11-13 on this machine")
    source = tfserving_model("saved_model_half_plus_two_cpu")
    workdir = tmp_path_factory.mktemp("scale")
    base = workdir / "models" / MODEL
    shutil.copytree(source, base)
    for path in [base, *base.rglob("*")]:  # the shared copy is read-only
        path.chmod(path.stat().st_mode | 0o200)
    with running_cluster(base, workdir, DRAIN_DELAY, "--shutdown_timeout_seconds=20") as running:
        running.base_path = base  # type: ignore[attr-defined]
        yield running


def restart(cluster: Cluster, replica_index: int, sig: int) -> int:
    replica = cluster.replicas[replica_index]
    code = replica.stop(sig)
    replica.start()
    cluster.wait_ready(replica)
    return code


def test_a_new_version_rolls_out_to_every_replica_without_a_failed_request(
    cluster: Cluster,
) -> None:
    base: Path = cluster.base_path  # type: ignore[attr-defined]
    versions = {int(p.name): p for p in base.iterdir() if p.name.isdigit()}
    current = max(versions)
    staged = base.parent / f".staging-{current + 1}"
    shutil.copytree(versions[current], staged)
    with LoadLoop(cluster) as load:
        staged.rename(base / str(current + 1))  # atomic publish
        for replica in cluster.replicas:
            wait_until(
                lambda r=replica: cluster.versions(r) == {current + 1: "AVAILABLE", current: "END"},
                timeout=120,
                what=f"{replica.name} on version {current + 1}",
            )
    print(f"rollout: {load.ok} answered, {len(load.failures)} failed")
    assert load.failures == [], sorted(set(load.failures))[:10]
    assert all(cluster.versions(r)[current + 1] == "AVAILABLE" for r in cluster.replicas)


def test_every_replica_restarts_in_turn_without_a_failed_request(cluster: Cluster) -> None:
    with LoadLoop(cluster) as load:
        codes = [restart(cluster, i, signal.SIGTERM) for i in range(len(cluster.replicas))]
        # Each restarted replica counts from zero: each must be back in rotation.
        wait_until(
            lambda: all(cluster.grpc_requests_served(r) > 0 for r in cluster.replicas),
            timeout=60,
            what="gRPC calls reaching every restarted replica",
        )
    print(f"rolling restart (SIGTERM): {load.ok} answered, {len(load.failures)} failed")
    assert codes == [0, 0, 0]
    assert load.failures == [], sorted(set(load.failures))[:10]


def test_grpc_calls_spread_over_every_replica(cluster: Cluster) -> None:
    before = [cluster.grpc_requests_served(r) for r in cluster.replicas]
    with LoadLoop(cluster, rest_threads=0, grpc_threads=4) as load:
        wait_until(lambda: load.ok > 300, timeout=60, what="gRPC load")
    after = [cluster.grpc_requests_served(r) for r in cluster.replicas]
    assert load.failures == []
    assert all(a - b > 0 for a, b in zip(after, before, strict=True)), (before, after)


def v2_repository(cluster: Cluster, replica: Replica, action: str) -> tuple[int, bytes]:
    url = f"http://{replica.address}:{cluster.rest_port}/v2/repository/models/{MODEL}/{action}"
    return http_request("POST", url, b"{}", timeout=120)


def test_unloading_a_model_on_one_replica_through_the_v2_repository_api(
    cluster: Cluster,
) -> None:
    """The operator's sequence: drain the replica in HAProxy's runtime API, unload its
    model (V2 repository API; the replica turns not ready), load it again, put it back."""
    replica = cluster.replicas[0]
    with LoadLoop(cluster) as load:
        cluster.set_state(replica, "drain")
        wait_until(lambda: cluster.sessions(replica) == 0, timeout=30, what="drained")
        status, body = v2_repository(cluster, replica, "unload")
        if status == 404 and b"error" not in body:
            cluster.set_state(replica, "ready")
            pytest.skip("POST /v2/repository/models/{name}/unload is not served yet (issue 10)")
        assert status == 200, body
        wait_until(lambda: not cluster.ready(replica), timeout=30, what="unloaded: not ready")
        served_while_unloaded = load.ok
        wait_until(lambda: load.ok > served_while_unloaded + 200, timeout=60, what="load")
        assert v2_repository(cluster, replica, "load")[0] == 200
        cluster.wait_ready(replica)
        cluster.set_state(replica, "ready")
        wait_until(lambda: cluster.sessions(replica) > 0 or load.ok > 5000, 30, what="back")
    print(f"V2 unload on one replica: {load.ok} answered, {len(load.failures)} failed")
    assert load.failures == [], sorted(set(load.failures))[:10]


def test_negative_control_sigkill_restarts_lose_requests(cluster: Cluster) -> None:
    """The same rolling restart with SIGKILL: in-flight requests and the connections
    HAProxy holds die with the process, and the load loop must notice."""
    max_rounds = 4  # a kill loses the few requests in flight there; rounds until some are
    rounds = 0
    with LoadLoop(cluster, rest_threads=6, grpc_threads=6) as load:
        codes = []
        while rounds < max_rounds and (rounds == 0 or not load.failures):
            rounds += 1
            for index in range(len(cluster.replicas)):
                codes.append(restart(cluster, index, signal.SIGKILL))
    print(
        f"rolling restart (SIGKILL, {rounds} round(s)): {load.ok} answered, "
        f"{len(load.failures)} failed"
    )
    print("  e.g.", sorted(set(load.failures))[:5])
    assert codes == [-signal.SIGKILL] * 3 * rounds
    assert load.failures, "SIGKILL lost nothing: this test could not see a loss"


def test_haproxy_is_debian_s(cluster: Cluster) -> None:
    version = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    assert version.startswith("HAProxy version")
