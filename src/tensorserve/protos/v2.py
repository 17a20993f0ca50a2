"""The Open Inference Protocol's gRPC messages (package ``inference``), without
importing ``tritonclient``.

``from tensorserve.protos.v2 import service_pb2`` gives what
``tritonclient.grpc.service_pb2`` would: the very classes the official Triton client
speaks, built from descriptors dumped from it (``python -m tensorserve.protos.generate``).
The server then needs no ``tritonclient`` installed (it installs only ``--no-deps``,
its metadata conflicting with TensorFlow's pins). When the installed ``tritonclient``
is another version than the descriptors', its generated modules are imported instead.
Only one copy of package ``inference`` can live in a process's descriptor pool, so
nothing else in tensorserve may load another (KServe's, MLServer's).
"""

from __future__ import annotations

from typing import Any

from tensorserve.protos import v2_descriptors
from tensorserve.protos.descriptor_modules import load_modules

_MODULES = load_modules(v2_descriptors)

model_config_pb2: Any = _MODULES["tritonclient.grpc.model_config_pb2"]
service_pb2: Any = _MODULES["tritonclient.grpc.service_pb2"]
