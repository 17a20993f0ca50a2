"""Soak: mixed REST, gRPC and web-app load on one server for a long time, with version
swaps every few seconds and config reloads, watching for failures and for growth.

    python benchmarks/soak.py                                   # 30 minutes
    python benchmarks/soak.py --duration 180 --warmup 45 --json soak.json

In a temporary directory it builds two small models, then runs ``tensorserve serve``
with a model config of

* ``hp``: half_plus_two; a new version is published every ``--swap-every`` seconds the
  way ``tensorserve export`` does (a hard-linked copy renamed into place), and old
  version directories are deleted;
* ``steady``: half_plus_two, never touched;
* ``image``: an 8x8 RGB classifier (mean colour, classes 0 red, 1 green, 2 blue) that
  the web app uses;
* ``extra``: taken out of and put back into the config file every ``--reload-every``
  seconds (the server re-reads the file every second);

and ``tensorserve webapp`` against it. Client threads paced to ``--rate`` requests/s in
all send REST predicts to ``hp`` and ``steady`` (keep-alive connections), gRPC Predicts to
``hp``, and PNG uploads to the web app's ``/api/predict``. Every answer is checked (2.5
for x = 1; class "0" for a red image); a wrong answer, an error status, a reset or a
timeout is a failure. A version that ends in error, or a reload that does not take
effect within 30 s, is a failure too.

Every ``--window`` seconds it reports requests, failures and p99 per kind, and the
server's resident anonymous memory (RSS less file-backed pages: what a leak grows; the
server hands back library code only its start-up ran, and serving reads some back) and
open file descriptors (sampled every 2 s). The summary compares memory and descriptors
at the end with their values when ``--warmup`` ended.
Exit status 1 when anything failed. Run it niced on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from harness.processes import free_port, http_call, http_ready, running

SOAK_DIR = Path(__file__).resolve().parent
REPO_ROOT = SOAK_DIR.parent
SAMPLE_EVERY_S = 2.0
RELOAD_DEADLINE_S = 30.0
MAX_FAILURE_DETAILS = 30


@dataclasses.dataclass(frozen=True)
class SoakOptions:
    duration_s: float
    warmup_s: float
    window_s: float
    rate: float
    swap_every_s: float
    reload_every_s: float


class Recorder:
    """Latencies and failures per kind, time-stamped. Thread-safe."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._lock = threading.Lock()
        self.answers: list[tuple[float, str, float]] = []  # (t, kind, seconds)
        self.failures: list[tuple[float, str, str]] = []  # (t, kind, detail)
        self.samples: list[tuple[float, int, int, int]] = []  # (t, anon, fds, webapp rss)
        self.swaps = 0
        self.reloads = 0

    def answer(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.answers.append((time.monotonic() - self.started, kind, seconds))

    def fail(self, kind: str, detail: str) -> None:
        with self._lock:
            self.failures.append((time.monotonic() - self.started, kind, detail[:300]))

    def sample(self, anonymous: int, fds: int, webapp_rss: int) -> None:
        with self._lock:
            self.samples.append((time.monotonic() - self.started, anonymous, fds, webapp_rss))

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)


# -- models -------------------------------------------------------------------------


def build_models(root: Path) -> dict[str, Path]:
    """Template version directories: ``hp`` (y = 0.5x + 2) and ``image``."""
    import tensorflow as tf

    v1 = tf.compat.v1

    def save(path: Path, graph: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> Path:
        signature = v1.saved_model.signature_def_utils.predict_signature_def(inputs, outputs)
        with graph.as_default(), v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(os.fspath(path))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
        return path

    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        a, b = v1.Variable(0.5, name="a"), v1.Variable(2.0, name="b")
        hp = save(root / "hp", graph, {"x": x}, {"y": tf.add(tf.multiply(a, x), b)})
    graph = tf.Graph()
    with graph.as_default():
        pixels = v1.placeholder(tf.float32, shape=[None, 8, 8, 3], name="pixels")
        scale = v1.Variable(20.0, name="scale")
        probabilities = tf.nn.softmax(scale * tf.reduce_mean(pixels, axis=[1, 2]))
        image = save(root / "image", graph, {"pixels": pixels}, {"probabilities": probabilities})
    return {"hp": hp, "image": image}


def publish(template: Path, base: Path, version: int) -> None:
    """A new version the way ``tensorserve export`` writes one: whole, then renamed."""
    staging = base / f".tmp-{version}"
    shutil.copytree(template, staging, copy_function=os.link)
    staging.rename(base / str(version))


def write_config(path: Path, models: dict[str, Path]) -> None:
    blocks = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" }}\n'
        for name, base in models.items()
    )
    staging = path.with_suffix(".tmp")
    staging.write_text("model_config_list {\n" + blocks + "}\n")
    staging.replace(path)


# -- clients ------------------------------------------------------------------------


def paced(stop: threading.Event, per_second: float) -> Iterator[None]:
    """Yield ``per_second`` times a second until ``stop`` is set (no catch-up bursts)."""
    interval = 1.0 / per_second
    due = time.monotonic()
    while not stop.is_set():
        yield
        due = max(due + interval, time.monotonic())
        stop.wait(max(0.0, due - time.monotonic()))


def rest_client(rest_port: int, model: str, per_second: float, stop: threading.Event,
                record: Recorder) -> None:  # fmt: skip
    body = json.dumps({"instances": [1.0]}).encode()
    connection: http.client.HTTPConnection | None = None
    for _ in paced(stop, per_second):
        started = time.monotonic()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=30)
            connection.request("POST", f"/v1/models/{model}:predict", body)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or json.loads(answer) != {"predictions": [2.5]}:
                record.fail("rest", f"{model}: {response.status} {answer[:200]!r}")
                continue
            record.answer("rest", time.monotonic() - started)
        except Exception as exc:  # a reset or timeout is a failure, never a dead thread
            record.fail("rest", f"{model}: {type(exc).__name__}: {exc}")
            if connection is not None:
                connection.close()
            connection = None
    if connection is not None:
        connection.close()


def grpc_client(grpc_port: int, per_second: float, stop: threading.Event,
                record: Recorder) -> None:  # fmt: skip
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in paced(stop, per_second):
            started = time.monotonic()
            try:
                response = stub.Predict(request, timeout=30)
                values = list(response.outputs["y"].float_val) or list(
                    tf.make_ndarray(response.outputs["y"]).ravel()
                )
                if values != [2.5]:
                    record.fail("grpc", f"wrong answer {values}")
                    continue
                record.answer("grpc", time.monotonic() - started)
            except Exception as exc:
                record.fail("grpc", f"{type(exc).__name__}: {exc}")


def red_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (230, 20, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


def webapp_client(webapp_port: int, per_second: float, stop: threading.Event,
                  record: Recorder) -> None:  # fmt: skip
    boundary = "soak-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nimage\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="red.png"'
            "\r\nContent-Type: image/png\r\n\r\n"
        ).encode()
        + red_png()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    url = f"http://127.0.0.1:{webapp_port}/api/predict"
    for _ in paced(stop, per_second):
        started = time.monotonic()
        try:
            status, answer = http_call(url, body, timeout_s=30, content_type=content_type)
            top = json.loads(answer).get("predictions", [{}])[0].get("label")
            if status != 200 or top != "0":
                record.fail("webapp", f"{status} {answer[:200]!r}")
                continue
            record.answer("webapp", time.monotonic() - started)
        except Exception as exc:
            record.fail("webapp", f"{type(exc).__name__}: {exc}")


# -- changes to the models ------------------------------------------------------------


def model_states(rest_port: int, name: str) -> dict[int, tuple[str, str]]:
    status, body = http_call(f"http://127.0.0.1:{rest_port}/v1/models/{name}", timeout_s=10)
    if status != 200:
        return {}
    return {
        int(v["version"]): (v["state"], v["status"].get("error_message", ""))
        for v in json.loads(body)["model_version_status"]
    }


def swapper(template: Path, base: Path, rest_port: int, every_s: float,
            stop: threading.Event, record: Recorder) -> None:  # fmt: skip
    """Publish ``hp`` version after version; delete the directories of old ones."""
    version = 1
    while not stop.wait(every_s):
        for v, (state, error) in model_states(rest_port, "hp").items():
            if state == "END" and error:
                record.fail("swap", f"hp version {v} ended with: {error}")
        version += 1
        publish(template, base, version)
        record.count("swaps")
        for old in base.iterdir():
            if old.name.isdigit() and int(old.name) < version - 2:
                shutil.rmtree(old, ignore_errors=True)


def reloader(config: Path, models: dict[str, Path], extra: Path, rest_port: int,
             every_s: float, stop: threading.Event, record: Recorder) -> None:  # fmt: skip
    """Take ``extra`` out of the config file and put it back; check each change lands."""
    present = True
    while not stop.wait(every_s):
        present = not present
        write_config(config, {**models, **({"extra": extra} if present else {})})
        record.count("reloads")

        def landed(want: bool = present) -> bool:
            states = model_states(rest_port, "extra")
            serving = any(state == "AVAILABLE" for state, _ in states.values())
            return serving == want

        deadline = time.monotonic() + RELOAD_DEADLINE_S
        while not landed() and time.monotonic() < deadline and not stop.is_set():
            stop.wait(0.2)
        if not landed() and not stop.is_set():
            action = "adding" if present else "removing"
            record.fail("reload", f"{action} 'extra' did not take effect in {RELOAD_DEADLINE_S}s")


def sampler(server_pid: int, webapp_pid: int, stop: threading.Event, record: Recorder) -> None:
    server, webapp = psutil.Process(server_pid), psutil.Process(webapp_pid)
    while not stop.wait(SAMPLE_EVERY_S):
        with contextlib.suppress(psutil.Error):
            webapp_rss = webapp.memory_info().rss + sum(
                child.memory_info().rss for child in webapp.children(recursive=True)
            )
            memory = server.memory_info()
            record.sample(memory.rss - memory.shared, server.num_fds(), webapp_rss)


# -- report -------------------------------------------------------------------------


def p99_ms(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    return round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1)


def summarise(record: Recorder, options: SoakOptions) -> dict[str, Any]:
    kinds = sorted({kind for _, kind, _ in record.answers} | {"rest", "grpc", "webapp"})
    windows = []
    edges = range(0, int(options.duration_s), max(1, int(options.window_s)))
    for start in edges:
        end = start + options.window_s
        answers = [(k, s) for t, k, s in record.answers if start <= t < end]
        samples = [s for s in record.samples if start <= s[0] < end]
        windows.append(
            {
                "t_s": start,
                "requests": len(answers) + sum(start <= t < end for t, _, _ in record.failures),
                "failures": sum(start <= t < end for t, _, _ in record.failures),
                "p99_ms": {k: p99_ms([s for kk, s in answers if kk == k]) for k in kinds},
                "anon_mb": round(samples[-1][1] / 2**20, 1) if samples else None,
                "fds": samples[-1][2] if samples else None,
                "webapp_rss_mb": round(samples[-1][3] / 2**20, 1) if samples else None,
            }
        )
    after = [s for s in record.samples if s[0] >= options.warmup_s]
    baseline = after[0] if after else None
    final = after[-3:]
    anon_end = statistics.median(s[1] for s in final) if final else None
    summary: dict[str, Any] = {
        "duration_s": options.duration_s,
        "warmup_s": options.warmup_s,
        "requests": len(record.answers) + len(record.failures),
        "requests_by_kind": {k: sum(kk == k for _, kk, _ in record.answers) for k in kinds},
        "failures": len(record.failures),
        "failure_details": [
            {"t_s": round(t, 1), "kind": k, "detail": d}
            for t, k, d in record.failures[:MAX_FAILURE_DETAILS]
        ],
        "swaps": record.swaps,
        "reloads": record.reloads,
        "p99_ms": {k: p99_ms([s for _, kk, s in record.answers if kk == k]) for k in kinds},
        "windows": windows,
    }
    if baseline is not None and anon_end is not None:
        summary |= {
            "anon_after_warmup_mb": round(baseline[1] / 2**20, 1),
            "anon_end_mb": round(anon_end / 2**20, 1),
            "anon_growth": round(anon_end / baseline[1] - 1, 4),
            "anon_max_growth": round(max(s[1] for s in after) / baseline[1] - 1, 4),
            "fds_after_warmup": baseline[2],
            "fds_end": final[-1][2],
            "fds_min_max": [min(s[2] for s in after), max(s[2] for s in after)],
            "webapp_rss_growth": round(final[-1][3] / baseline[3] - 1, 4),
        }
    return summary


def print_table(summary: dict[str, Any], out: Any) -> None:
    print(f"{'t(s)':>6} {'requests':>8} {'fail':>5} {'p99 rest':>9} {'p99 grpc':>9} "
          f"{'p99 web':>8} {'anon MB':>8} {'fds':>5} {'web MB':>7}", file=out)  # fmt: skip
    for w in summary["windows"]:
        p99 = w["p99_ms"]
        print(
            f"{w['t_s']:>6} {w['requests']:>8} {w['failures']:>5} {p99.get('rest')!s:>9} "
            f"{p99.get('grpc')!s:>9} {p99.get('webapp')!s:>8} {w['anon_mb']!s:>8} "
            f"{w['fds']!s:>5} {w['webapp_rss_mb']!s:>7}",
            file=out,
        )
    brief = {k: v for k, v in summary.items() if k not in ("windows", "failure_details")}
    print(json.dumps(brief, indent=1), file=out)
    for failure in summary["failure_details"]:
        print(f"FAILURE {failure}", file=out)


# -- the run ------------------------------------------------------------------------


def soak(options: SoakOptions, workdir: Path) -> dict[str, Any]:
    templates = build_models(workdir / "templates")
    bases = {name: workdir / "models" / name for name in ("hp", "steady", "image", "extra")}
    for name, base in bases.items():
        base.mkdir(parents=True)
        publish(templates["image" if name == "image" else "hp"], base, 1)
    served = {name: bases[name] for name in ("hp", "steady", "image")}
    config = workdir / "models.config"
    write_config(config, {**served, "extra": bases["extra"]})
    grpc_port, rest_port, webapp_port = free_port(), free_port(), free_port()
    python = sys.executable
    server_command = [
        python, "-m", "tensorserve", "serve", f"--port={grpc_port}",
        f"--rest_api_port={rest_port}", f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=2", "--load_retry_interval_micros=500000",
    ]  # fmt: skip
    webapp_command = [
        python, "-m", "tensorserve", "webapp", f"--server-url=http://127.0.0.1:{rest_port}",
        f"--port={webapp_port}", f"--images-dir={workdir / 'images'}", "--workers=1",
        "--threads=4", "--history-limit=200",
    ]  # fmt: skip
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    }
    with (
        running("server", server_command, http_ready(f"http://127.0.0.1:{rest_port}/readyz"),
                workdir / "server.log", env=env) as server,
        running("webapp", webapp_command, http_ready(f"http://127.0.0.1:{webapp_port}/healthz"),
                workdir / "webapp.log", env=env) as webapp,
    ):  # fmt: skip
        record = Recorder(time.monotonic())
        stop = threading.Event()
        share = options.rate / 10  # REST 5 parts, gRPC 4, web app 1
        jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (rest_client, (rest_port, "hp", 2 * share)),
            (rest_client, (rest_port, "hp", 2 * share)),
            (rest_client, (rest_port, "steady", share)),
            (grpc_client, (grpc_port, 2 * share)),
            (grpc_client, (grpc_port, 2 * share)),
            (webapp_client, (webapp_port, share)),
            (swapper, (templates["hp"], bases["hp"], rest_port, options.swap_every_s)),
            (reloader, (config, served, bases["extra"], rest_port, options.reload_every_s)),
            (sampler, (server.pid, webapp.pid)),
        ]
        threads = [
            threading.Thread(target=job, args=(*args, stop, record), daemon=True)
            for job, args in jobs
        ]
        for thread in threads:
            thread.start()
        stop.wait(options.duration_s)
        stop.set()
        for thread in threads:
            thread.join(60)
        summary = summarise(record, options)
        summary["server_alive"] = server.poll() is None
        states = model_states(rest_port, "hp")
        summary["hp_available_at_end"] = sorted(
            v for v, (state, _) in states.items() if state == "AVAILABLE"
        )
        summary["hp_versions_reported_at_end"] = len(states)
    return summary


def parse_args(argv: list[str] | None = None) -> tuple[SoakOptions, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before baselines")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per report row")
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s, all clients")
    parser.add_argument("--swap-every", type=float, default=5.0, help="seconds between swaps")
    parser.add_argument("--reload-every", type=float, default=15.0, help="seconds between reloads")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    options = SoakOptions(
        args.duration, args.warmup, args.window, args.rate, args.swap_every, args.reload_every
    )
    return options, args


def main(argv: list[str] | None = None) -> int:
    options, args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="tensorserve-soak-"))
    try:
        summary = soak(options, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(summary, sys.stdout)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if summary["failures"] == 0 and summary["server_alive"] else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
