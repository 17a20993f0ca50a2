"""TensorFlow Serving's protocol messages, without importing TensorFlow.

``from tensorserve.protos.tfserving import predict_pb2`` gives the module
``tensorflow_serving.apis.predict_pb2`` would: the same message classes, enums and
``DESCRIPTOR``, by the same names. The generated modules import ``tensorflow``
(seconds, and hundreds of megabytes resident) only because their ``.proto`` files
live in TensorFlow's package; a server whose models are all ONNX or Python servables
needs nothing else from it. So the messages are built from the descriptors in
:mod:`tensorserve.protos.tfserving_descriptors`, in protobuf's default pool: the
generated modules, when a TensorFlow servable imports them later, find the same files
there and return the very same classes (a message made here *is* a
``predict_pb2.PredictRequest``).

That holds only while the checked-in descriptors are the installed packages' own:
protobuf refuses a second, different file of one name, so a TensorFlow whose protos
differ would fail to import. When the installed ``tensorflow`` (under any of its
distribution names) or ``tensorflow-serving-api`` is another version than the
descriptors were dumped from, or comes from a distribution not known to ship it, this
module imports the generated modules instead (TensorFlow's import paid at start, as
before); :mod:`tensorserve.protos.descriptor_modules` decides, and says so at DEBUG.
"""

from __future__ import annotations

from typing import Any

from tensorserve.protos import tfserving_descriptors
from tensorserve.protos.descriptor_modules import load_modules

_MODULES = load_modules(tfserving_descriptors)


def _module(name: str) -> Any:
    return _MODULES[name]


example_pb2 = _module("tensorflow.core.example.example_pb2")
tensor_pb2 = _module("tensorflow.core.framework.tensor_pb2")
types_pb2 = _module("tensorflow.core.framework.types_pb2")
meta_graph_pb2 = _module("tensorflow.core.protobuf.meta_graph_pb2")
classification_pb2 = _module("tensorflow_serving.apis.classification_pb2")
get_model_metadata_pb2 = _module("tensorflow_serving.apis.get_model_metadata_pb2")
get_model_status_pb2 = _module("tensorflow_serving.apis.get_model_status_pb2")
inference_pb2 = _module("tensorflow_serving.apis.inference_pb2")
model_management_pb2 = _module("tensorflow_serving.apis.model_management_pb2")
model_pb2 = _module("tensorflow_serving.apis.model_pb2")
model_service_pb2 = _module("tensorflow_serving.apis.model_service_pb2")
predict_pb2 = _module("tensorflow_serving.apis.predict_pb2")
prediction_log_pb2 = _module("tensorflow_serving.apis.prediction_log_pb2")
prediction_service_pb2 = _module("tensorflow_serving.apis.prediction_service_pb2")
regression_pb2 = _module("tensorflow_serving.apis.regression_pb2")
file_system_storage_path_source_pb2 = _module(
    "tensorflow_serving.config.file_system_storage_path_source_pb2"
)
model_server_config_pb2 = _module("tensorflow_serving.config.model_server_config_pb2")
