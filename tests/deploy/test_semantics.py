"""What a schema cannot check: probes point at the server's real port and paths, the
grace period covers the drain, selectors select, and KServe's args start a server."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tensorserve.config.flags import parse_flags
from tests.deploy.manifests import DEPLOY, REPO, Resource, all_resources, flag_value
from tests.support.paths import tfserving_model
from tests.support.server_process import http_request, server_command
from tests.support.waiting import wait_until

RESOURCES = [doc for _, doc in all_resources()]
PROBE_PATHS = {"/healthz", "/readyz"}
"""Answered by the REST app (``rest/app.py``): liveness/startup and readiness."""


def of_kind(kind: str) -> list[Resource]:
    return [r for r in RESOURCES if r["kind"] == kind]


def server_containers() -> list[tuple[str, dict[str, Any]]]:
    """(where, container) for every tensorserve container in deploy/."""
    found = [("Deployment", c) for d in of_kind("Deployment")
             for c in d["spec"]["template"]["spec"]["containers"]]  # fmt: skip
    found += [(r["kind"], c) for kind in ("ServingRuntime", "ClusterServingRuntime")
              for r in of_kind(kind) for c in r["spec"]["containers"]]  # fmt: skip
    return found


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


@pytest.mark.parametrize(("where", "container"), server_containers())
def test_probes_use_the_rest_port_and_paths_the_server_answers(
    where: str, container: dict[str, Any]
) -> None:
    rest_port = int(flag_value(container["args"], "rest_api_port") or 0)
    probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    for kind, probe in probes.items():
        assert probe["httpGet"]["path"] in PROBE_PATHS, (where, kind)
        assert port_number(container, probe["httpGet"]["port"]) == rest_port, (where, kind)
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz", "readiness is not startup"
    startup_budget_s = (
        probes["startupProbe"]["periodSeconds"] * probes["startupProbe"]["failureThreshold"]
    )
    assert startup_budget_s >= 300, "a slow first load must not be killed"


@pytest.mark.parametrize(("where", "container"), server_containers())
def test_args_parse_as_tensorserve_flags(where: str, container: dict[str, Any]) -> None:
    args = [a.replace("{{.Name}}", "m").replace("$(MODEL_NAME)", "m") for a in container["args"]]
    options = parse_flags(args, {})
    assert options.drain_delay_seconds > 0, where
    assert options.monitoring_config_file == "/etc/tensorserve/monitoring.config"


def test_the_grace_period_covers_pre_stop_drain_delay_and_shutdown_timeout() -> None:
    for deployment in of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        options = parse_flags([a.replace("$(MODEL_NAME)", "m") for a in container["args"]], {})
        needed = float(pre_stop[1]) + options.drain_delay_seconds
        needed += options.shutdown_timeout_seconds
        assert pod["terminationGracePeriodSeconds"] > needed
        readiness = container["readinessProbe"]
        removed_within = readiness["periodSeconds"] * readiness["failureThreshold"]
        assert options.drain_delay_seconds > removed_within, "drain ends before the probe fails"
    for kind in ("ServingRuntime", "ClusterServingRuntime"):
        for runtime in of_kind(kind):
            options = parse_flags(
                [a.replace("{{.Name}}", "m") for a in runtime["spec"]["containers"][0]["args"]],
                {},
            )
            kserve_default_grace_s = 30
            assert options.drain_delay_seconds + options.shutdown_timeout_seconds < (
                kserve_default_grace_s
            )
    for service in of_kind("InferenceService"):
        assert service["spec"]["predictor"]["terminationGracePeriodSeconds"] > 30


def test_a_rollout_adds_before_it_removes() -> None:
    for deployment in of_kind("Deployment"):
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)


def test_selectors_select_the_pods() -> None:
    (deployment,) = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [deployment["spec"]["selector"]["matchLabels"]]
    selectors += [s["spec"]["selector"] for s in of_kind("Service")]
    selectors += [p["spec"]["selector"]["matchLabels"] for p in of_kind("PodDisruptionBudget")]
    for selector in selectors:
        assert selector.items() <= labels.items()
    for hpa in of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    for service in of_kind("Service"):
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    headless = [s for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"]
    assert headless, "gRPC clients need a headless Service for client-side balancing"


def test_the_kserve_runtime_takes_tensorflow_serving_s_slot() -> None:
    (runtime,) = of_kind("ClusterServingRuntime")
    spec = runtime["spec"]
    assert spec["containers"][0]["name"] == "kserve-container"
    assert set(spec["protocolVersions"]) == {"v1", "grpc-v1", "v2"}
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert formats == {"tensorflow", "onnx", "python"}
    args = spec["containers"][0]["args"]
    assert "--model_name={{.Name}}" in args and "--model_base_path=/mnt/models" in args
    grpc_sample = next(
        s for s in of_kind("InferenceService") if s["spec"]["predictor"]["model"].get("ports")
    )
    assert grpc_sample["spec"]["predictor"]["model"]["ports"][0]["name"] == "h2c"


def test_the_dockerfile_is_a_drop_in_for_tensorflow_serving_s_image() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "EXPOSE 8500 8501" in text
    assert "MODEL_NAME=model" in text and "MODEL_BASE_PATH=/models" in text
    assert "\nUSER 1000" in text, "runs as non-root"
    assert 'pip install ".[s3]"' in text
    assert '"--port=8500", "--rest_api_port=8501"' in text
    assert (REPO / "Dockerfile").is_file() and DEPLOY.is_dir()


def _ports_free(*ports: int) -> bool:
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


@pytest.mark.e2e
@pytest.mark.slow
def test_kserve_args_render_to_a_server_on_8080_and_9000(tmp_path: Path) -> None:
    """Render the runtime's args as KServe does ({{.Name}}, /mnt/models), run them,
    and call the model on KServe's ports over REST and gRPC."""
    import subprocess

    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    source = tfserving_model("saved_model_half_plus_two_cpu")
    if not _ports_free(8080, 9000):
        pytest.skip("ports 8080 or 9000 are in use on this machine")
    mnt_models = tmp_path / "mnt" / "models"
    shutil.copytree(source, mnt_models)
    (runtime,) = of_kind("ClusterServingRuntime")
    container = runtime["spec"]["containers"][0]
    assert container["command"] == ["tensorflow_model_server"]
    args = [
        a.replace("{{.Name}}", "half-plus-two").replace("/mnt/models", str(mnt_models))
        for a in container["args"]
    ]
    args = [a for a in args if not a.startswith("--monitoring_config_file")]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(server_command(args), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: http_request("GET", "http://127.0.0.1:8080/readyz", timeout=2)[0] == 200,
            timeout=120,
            what="ready on 8080",
        )
        status, body = http_request(
            "POST",
            "http://127.0.0.1:8080/v1/models/half-plus-two:predict",
            json.dumps({"instances": [1.0, 2.0]}).encode(),
        )
        assert (status, json.loads(body)) == (200, {"predictions": [2.5, 3.0]})
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half-plus-two"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([4.0], np.float32)))
        with grpc.insecure_channel("127.0.0.1:9000") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(request, timeout=30)
        assert list(response.outputs["y"].float_val) == [4.0]
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
        log.close()
