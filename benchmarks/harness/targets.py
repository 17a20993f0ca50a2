"""The servers under test, each started on free ports and checked before it is timed.

Every ``start_*`` is a context manager that yields once the server answers its
readiness URL and stops the server (and its workers) on exit. ``check_*``
functions compare one answer with the in-process output and raise
``WrongAnswer`` when it differs, so a broken target is never timed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from . import processes, v2_requests
from .grpc_requests import predict_with_client
from .models import BenchModel

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
FLASK_WORKERS = 2
MLSERVER_WORKERS = 2
BATCHING_PARAMETERS = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 1000 }
"""


class WrongAnswer(RuntimeError):
    """A target answered, but not what the model computes in-process."""


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a started server listens. ``grpc_target`` is empty for REST-only servers;
    ``pid`` is the server's top process (0 until started)."""

    predict_url: str
    grpc_target: str = ""
    pid: int = 0
    v2_infer_url: str = ""
    """tensorserve's V2 REST infer URL for the model (empty for other servers)."""


def start_tensorserve(
    model: BenchModel,
    work_dir: Path,
    batching: bool,
    *,
    extra_flags: Sequence[str] = (),
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    label_suffix: str = "",
) -> contextlib.AbstractContextManager[Endpoints]:
    """``tensorserve serve`` for ``model`` (REST and gRPC), optionally with batching.

    ``extra_flags`` are appended to the command line, ``env`` added to the
    environment, and ``prefix`` put before the command (``taskset -c 0``);
    ``label_suffix`` keeps the log files of several such servers apart."""
    grpc_port, rest_port = processes.free_port(), processes.free_port()
    executable = Path(sys.executable).with_name("tensorserve")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "tensorserve"]
    command = [*prefix, *command]
    command += [
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_name={model.name}",
        f"--model_base_path={model.base_path}",
    ]
    if batching:
        parameters = work_dir / "batching_parameters.txt"
        parameters.write_text(BATCHING_PARAMETERS)
        command += ["--enable_batching", f"--batching_parameters_file={parameters}"]
    command += list(extra_flags)
    rest = f"http://127.0.0.1:{rest_port}"
    health, status = processes.http_ready(f"{rest}/healthz"), _model_available(rest, model)
    label = f"tensorserve-{model.name}{'-batching' if batching else ''}{label_suffix}"
    return _serving(
        label,
        command,
        lambda: health() and status(),
        work_dir / f"{label}.log",
        Endpoints(
            f"{rest}/v1/models/{model.name}:predict",
            f"127.0.0.1:{grpc_port}",
            v2_infer_url=f"{rest}/v2/models/{model.name}/infer",
        ),
        env,
    )


def start_flask(model: BenchModel, work_dir: Path) -> contextlib.AbstractContextManager[Endpoints]:
    """``baselines/flask_app.py`` under gunicorn with ``FLASK_WORKERS`` sync workers."""
    port = processes.free_port()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    command = [
        gunicorn,
        f"--workers={FLASK_WORKERS}",
        f"--bind=127.0.0.1:{port}",
        f"--chdir={BENCHMARKS_DIR / 'baselines'}",
        "--timeout=120",
        "flask_app:create_app()",
    ]
    env = {"BENCH_MODEL_NAME": model.name, "BENCH_MODEL_PATH": str(model.version_path)}
    url = f"http://127.0.0.1:{port}"
    return _serving(
        f"flask-{model.name}",
        command,
        processes.http_ready(f"{url}/healthz"),
        work_dir / f"flask-{model.name}.log",
        Endpoints(f"{url}/v1/models/{model.name}:predict"),
        env,
    )


def start_mlserver(
    mlserver: str, model: BenchModel, work_dir: Path
) -> contextlib.AbstractContextManager[Endpoints]:
    """MLServer with ``baselines/mlserver_runtime`` serving ``model`` over V2 REST."""
    http_port, grpc_port, metrics_port = (processes.free_port() for _ in range(3))
    root = work_dir / f"mlserver-{model.name}"
    (root / model.name).mkdir(parents=True, exist_ok=True)
    settings = {
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": MLSERVER_WORKERS,
    }
    model_settings = {
        "name": model.name,
        "implementation": "runtime.SavedModelRuntime",
        "parameters": {"uri": str(model.version_path)},
    }
    (root / "settings.json").write_text(json.dumps(settings))
    (root / model.name / "model-settings.json").write_text(json.dumps(model_settings))
    runtime_dir = BENCHMARKS_DIR / "baselines" / "mlserver_runtime"
    env = {"PYTHONPATH": str(runtime_dir)}
    url = f"http://127.0.0.1:{http_port}/v2/models/{model.name}"
    return _serving(
        f"mlserver-{model.name}",
        [mlserver, "start", str(root)],
        processes.http_ready(f"{url}/ready"),
        work_dir / f"mlserver-{model.name}.log",
        Endpoints(f"{url}/infer"),
        env,
    )


def check_row_format(endpoints: Endpoints, model: BenchModel, expected: np.ndarray) -> None:
    """POST TF Serving's row-format body once; its ``predictions`` must match."""
    status, body = processes.http_call(endpoints.predict_url, model.rest_body())
    if status != 200:
        raise WrongAnswer(f"HTTP {status}: {body[:300]!r}")
    _compare(np.asarray(json.loads(body)["predictions"]), expected)


def check_v2(endpoints: Endpoints, model: BenchModel, expected: np.ndarray) -> None:
    """POST the V2 body once; the output named like the model's must match. Its shape is
    not compared: MLServer's NumpyCodec turns a vector into a column."""
    status, body = processes.http_call(endpoints.predict_url, model.v2_body())
    if status != 200:
        raise WrongAnswer(f"HTTP {status}: {body[:300]!r}")
    outputs = {output["name"]: output for output in json.loads(body)["outputs"]}
    output = outputs[model.output_name]
    data = np.asarray(output["data"])
    _compare(data.reshape(expected.shape) if data.size == expected.size else data, expected)


def check_grpc(endpoints: Endpoints, model: BenchModel, expected: np.ndarray) -> None:
    """Call Predict once with the TF Serving stubs (grpc-status must be OK); compare."""
    _compare(predict_with_client(endpoints.grpc_target, model), expected)


def check_v2_grpc(endpoints: Endpoints, model: BenchModel, expected: np.ndarray) -> None:
    """One V2 gRPC ModelInfer through ``tritonclient.grpc`` (status OK); compare."""
    actual = v2_requests.infer_with_grpc_client(endpoints.grpc_target, model)
    _compare(actual.reshape(expected.shape), expected)


def check_v2_binary(endpoints: Endpoints, model: BenchModel, expected: np.ndarray) -> None:
    """One V2 REST infer with binary tensors through ``tritonclient.http``; compare."""
    host_port = endpoints.v2_infer_url.split("/")[2]
    actual = v2_requests.infer_with_http_client(host_port, model)
    _compare(actual.reshape(expected.shape), expected)


def _compare(actual: np.ndarray, expected: np.ndarray) -> None:
    if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=1e-4, atol=1e-5):
        raise WrongAnswer(f"expected {expected.ravel()[:4]}..., got {actual.ravel()[:4]}...")


def _model_available(rest: str, model: BenchModel) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            status, body = processes.http_call(f"{rest}/v1/models/{model.name}", timeout_s=2.0)
        except OSError:
            return False
        return status == 200 and b"AVAILABLE" in body

    return probe


@contextlib.contextmanager
def _serving(
    name: str,
    command: list[str],
    ready: Callable[[], bool],
    log_path: Path,
    endpoints: Endpoints,
    env: dict[str, str] | None = None,
) -> Iterator[Endpoints]:
    env = {**(env or {}), "PYTHONUNBUFFERED": "1"}
    with processes.running(name, command, ready, log_path, env, cwd=Path(os.getcwd())) as process:
        yield dataclasses.replace(endpoints, pid=process.pid)
