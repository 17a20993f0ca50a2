"""What TensorFlow Serving's API messages cost to import, with and without TensorFlow.

A server whose models are all ONNX or Python servables needs TensorFlow only for
the protocol messages: ``tensorflow_serving.apis.*_pb2`` import
``tensorflow.core.framework.*_pb2``, and importing anything under ``tensorflow``
runs ``tensorflow/__init__.py``. This benchmark measures the way out issue 12 asks
about: the same messages built from their serialized ``FileDescriptorProto``s
(about 40 files, 34 KB), which need only ``protobuf``.

Each row is a fresh interpreter (``-X importtime`` is not used: it slows imports):

* ``grpc`` - the floor: ``import grpc`` and nothing else;
* ``descriptors`` - ``grpc`` plus every TF Serving API message class built from the
  descriptors (dumped from the installed packages by a first process);
* ``tensorflow_serving.apis`` - ``grpc`` plus the generated modules a gRPC server
  imports today (``prediction_service_pb2_grpc``, ``model_service_pb2_grpc``);
* ``both`` - descriptors first, then the generated modules: they must load and be
  the very same classes (one descriptor pool), so TensorFlow servables keep working
  when the server's codecs use the descriptor-built classes.

Prints seconds to import and the resident set's peak per row, and their ratios to
``tensorflow_serving.apis``. One machine, one run: read the ratios.

    .venv/bin/python benchmarks/protos_without_tensorflow.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DUMP = """
import base64, json, sys
from google.protobuf import descriptor_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
    get_model_status_pb2, inference_pb2, model_service_pb2, predict_pb2,
    prediction_service_pb2, regression_pb2)
from tensorflow_serving.config import model_server_config_pb2
seen, files = set(), []
def visit(fd):
    if fd.name in seen:
        return
    seen.add(fd.name)
    for dependency in fd.dependencies:
        visit(dependency)
    if not fd.name.startswith("google/protobuf/"):
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        files.append(base64.b64encode(proto.SerializeToString()).decode())
for module in (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
        inference_pb2, model_service_pb2, predict_pb2, prediction_service_pb2,
        regression_pb2, model_server_config_pb2):
    visit(module.DESCRIPTOR)
json.dump(files, open(sys.argv[1], "w"))
"""

MEASURE = """
import json, resource, sys, time
started = time.perf_counter()
import grpc
kind, path = sys.argv[1], sys.argv[2]
classes = {}
if kind in ("descriptors", "both"):
    import base64
    from google.protobuf import any_pb2, descriptor_pool, message_factory, wrappers_pb2
    pool = descriptor_pool.Default()
    for data in json.load(open(path)):
        pool.AddSerializedFile(base64.b64decode(data))
    for name in ("PredictRequest", "PredictResponse", "GetModelMetadataResponse",
                 "ClassificationRequest", "ReloadConfigRequest"):
        name = "tensorflow.serving." + name
        classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
if kind in ("tensorflow_serving.apis", "both"):
    from tensorflow_serving.apis import (model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)
seconds = time.perf_counter() - started
same = None
if kind == "both":
    same = predict_pb2.PredictRequest is classes["tensorflow.serving.PredictRequest"]
    request = classes["tensorflow.serving.PredictRequest"]()
    request.model_spec.name = "m"
    request.inputs["x"].float_val.append(2.0)
    same = same and predict_pb2.PredictRequest.FromString(request.SerializeToString()) == request
print(json.dumps({"seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tensorflow_imported": "tensorflow" in sys.modules, "same_classes": same}))
"""

KINDS = ("grpc", "descriptors", "tensorflow_serving.apis", "both")


def measure(kind: str, descriptors: Path) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, str(descriptors)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "descriptors.json"
        subprocess.run(
            [sys.executable, "-c", DUMP, str(descriptors)], check=True, capture_output=True
        )
        files = json.loads(descriptors.read_text())
        print(
            f"{len(files)} descriptor files, "
            f"{sum(len(f) for f in files) * 3 // 4 / 1024:.0f} KiB serialized"
        )
        rows = {}
        for _ in range(args.runs):  # interleaved, so drift hits every row alike
            for kind in KINDS:
                rows.setdefault(kind, []).append(measure(kind, descriptors))
    base = rows["tensorflow_serving.apis"]
    base_s = statistics.median(r["seconds"] for r in base)  # type: ignore[misc]
    base_mb = statistics.median(r["peak_rss_mb"] for r in base)  # type: ignore[misc]
    print(
        f"{'row':<26}{'import s':>10}{'x apis':>8}{'peak MB':>10}{'x apis':>8}"
        "  tensorflow  same classes"
    )
    for kind in KINDS:
        seconds = statistics.median(r["seconds"] for r in rows[kind])  # type: ignore[misc]
        peak = statistics.median(r["peak_rss_mb"] for r in rows[kind])  # type: ignore[misc]
        last = rows[kind][-1]
        print(
            f"{kind:<26}{seconds:>10.3f}{seconds / base_s:>8.3f}{peak:>10.1f}{peak / base_mb:>8.3f}"
            f"  {last['tensorflow_imported']!s:<10}  {last['same_classes']}"
        )


if __name__ == "__main__":
    main()
