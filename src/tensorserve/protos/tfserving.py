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
differ would fail to import. When the installed ``tensorflow`` or
``tensorflow-serving-api`` is another version than the descriptors were dumped from,
this module imports the generated modules instead (TensorFlow's import paid at start,
as before), and says so at DEBUG.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import types
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.internal import enum_type_wrapper

from tensorserve.protos import tfserving_descriptors

logger = logging.getLogger(__name__)


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def descriptors_match_installed() -> bool:
    """Whether the checked-in descriptors may be used beside the installed packages:
    each of them is absent or the very version they were dumped from."""
    wanted = {
        "tensorflow": tfserving_descriptors.TENSORFLOW_VERSION,
        "tensorflow-serving-api": tfserving_descriptors.TENSORFLOW_SERVING_API_VERSION,
    }
    mismatched = {
        name: installed
        for name, version in wanted.items()
        if (installed := _installed_version(name)) not in (None, version)
    }
    if mismatched:
        logger.debug(
            "TensorFlow Serving's messages come from its generated modules (importing "
            "TensorFlow): installed %s, descriptors dumped from %s",
            mismatched,
            wanted,
        )
    return not mismatched


def _module_from_descriptors(module_name: str, file_name: str) -> types.ModuleType:
    """A stand-in for a generated module: its top-level messages, enums, enum values
    and ``DESCRIPTOR``, built in the default pool."""
    file = descriptor_pool.Default().FindFileByName(file_name)
    module = types.ModuleType(module_name, f"{file_name}, from tensorserve's descriptors")
    module.DESCRIPTOR = file  # type: ignore[attr-defined]
    for name, message in file.message_types_by_name.items():
        setattr(module, name, message_factory.GetMessageClass(message))
    for name, enum in file.enum_types_by_name.items():
        setattr(module, name, enum_type_wrapper.EnumTypeWrapper(enum))
        for value in enum.values:
            setattr(module, value.name, value.number)
    return module


def _load_modules() -> dict[str, types.ModuleType]:
    if not descriptors_match_installed():
        return {name: importlib.import_module(name) for name in tfserving_descriptors.MODULES}
    for well_known in tfserving_descriptors.WELL_KNOWN_MODULES:
        importlib.import_module(well_known)  # adds its file to the default pool
    pool = descriptor_pool.Default()
    for data in tfserving_descriptors.FILES:
        # The same file again (TensorFlow's modules came first) is accepted as it is.
        pool.AddSerializedFile(data)
    return {
        name: _module_from_descriptors(name, file)
        for name, file in tfserving_descriptors.MODULES.items()
    }


_MODULES = _load_modules()


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
