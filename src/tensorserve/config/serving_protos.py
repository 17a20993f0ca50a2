"""Message classes for TensorFlow Serving config protos that no pip package ships.

``tensorflow-serving-api`` carries ``model_server_config.proto`` but not
``BatchingParameters`` and ``SessionBundleConfig``
(``servables/tensorflow/session_bundle_config.proto``), ``PlatformConfigMap``
(``config/platform_config.proto``), ``SavedModelBundleSourceAdapterConfig``
(``servables/tensorflow/saved_model_bundle_source_adapter.proto``),
``MonitoringConfig`` (``config/monitoring_config.proto``) or ``SSLConfig``
(``config/ssl_config.proto``). We declare them here, with TensorFlow Serving's
package, names and field numbers, in a private descriptor pool built on each
call (so importing this module registers nothing); callers parse a file once.
``SessionBundleConfig`` leaves out ``in_graph_batching_parameters`` (field 7), whose
type TensorFlow Serving's own file does not declare.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    wrappers_pb2,
)

_FDP = descriptor_pb2.FieldDescriptorProto
_INT64 = ".google.protobuf.Int64Value"
_BOOL = ".google.protobuf.BoolValue"
_STRING = ".google.protobuf.StringValue"
_INT32 = ".google.protobuf.Int32Value"
_OPTIONAL, _REPEATED = _FDP.LABEL_OPTIONAL, _FDP.LABEL_REPEATED

# (name, number, type, label, type_name)
_BATCHING_FIELDS = (
    ("max_batch_size", 1, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _INT64),
    ("batch_timeout_micros", 2, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _INT64),
    ("max_enqueued_batches", 3, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _INT64),
    ("num_batch_threads", 4, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _INT64),
    ("thread_pool_name", 5, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _STRING),
    ("allowed_batch_sizes", 6, _FDP.TYPE_INT64, _FDP.LABEL_REPEATED, None),
    ("pad_variable_length_inputs", 7, _FDP.TYPE_BOOL, _FDP.LABEL_OPTIONAL, None),
    ("enable_large_batch_splitting", 8, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _BOOL),
    ("max_execution_batch_size", 9, _FDP.TYPE_MESSAGE, _FDP.LABEL_OPTIONAL, _INT64),
)

_SSL_FIELDS = (
    ("server_key", 1, _FDP.TYPE_STRING, _FDP.LABEL_OPTIONAL, None),
    ("server_cert", 2, _FDP.TYPE_STRING, _FDP.LABEL_OPTIONAL, None),
    ("custom_ca", 3, _FDP.TYPE_STRING, _FDP.LABEL_OPTIONAL, None),
    ("client_verify", 4, _FDP.TYPE_BOOL, _FDP.LABEL_OPTIONAL, None),
)

_PROMETHEUS_FIELDS = (
    ("enable", 1, _FDP.TYPE_BOOL, _FDP.LABEL_OPTIONAL, None),
    ("path", 2, _FDP.TYPE_STRING, _FDP.LABEL_OPTIONAL, None),
)

_MONITORING_FIELDS = (
    (
        "prometheus_config",
        1,
        _FDP.TYPE_MESSAGE,
        _FDP.LABEL_OPTIONAL,
        ".tensorflow.serving.PrometheusConfig",
    ),
)

_WARMUP_FIELDS = (
    ("num_request_iterations", 1, _FDP.TYPE_MESSAGE, _OPTIONAL, _INT32),
    ("num_model_warmup_threads", 2, _FDP.TYPE_MESSAGE, _OPTIONAL, _INT32),
    ("model_name", 3, _FDP.TYPE_STRING, _OPTIONAL, None),
    ("model_version", 4, _FDP.TYPE_INT64, _OPTIONAL, None),
    ("enable_all_batch_sizes_warmup", 5, _FDP.TYPE_BOOL, _OPTIONAL, None),
)

_SESSION_BUNDLE_FIELDS = (
    ("session_target", 1, _FDP.TYPE_STRING, _OPTIONAL, None),
    ("session_config", 2, _FDP.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.ConfigProto"),
    (
        "batching_parameters",
        3,
        _FDP.TYPE_MESSAGE,
        _OPTIONAL,
        ".tensorflow.serving.BatchingParameters",
    ),
    ("session_run_load_threadpool_index", 4, _FDP.TYPE_MESSAGE, _OPTIONAL, _INT32),
    ("experimental_transient_ram_bytes_during_load", 5, _FDP.TYPE_UINT64, _OPTIONAL, None),
    ("saved_model_tags", 6, _FDP.TYPE_STRING, _REPEATED, None),
    (
        "experimental_fixed_input_tensors",
        778,
        _FDP.TYPE_MESSAGE,
        _REPEATED,
        ".tensorflow.NamedTensorProto",
    ),
    ("enable_model_warmup", 779, _FDP.TYPE_BOOL, _OPTIONAL, None),
    (
        "model_warmup_options",
        780,
        _FDP.TYPE_MESSAGE,
        _OPTIONAL,
        ".tensorflow.serving.ModelWarmupOptions",
    ),
    ("enable_session_metadata", 781, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("remove_unused_fields_from_bundle_metagraph", 782, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("prefer_tflite_model", 783, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("resource_estimation_uses_validation_result", 784, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("num_tflite_interpreters", 785, _FDP.TYPE_INT32, _OPTIONAL, None),
    ("num_tflite_interpreters_per_pool", 786, _FDP.TYPE_INT32, _OPTIONAL, None),
    ("num_tflite_pools", 787, _FDP.TYPE_INT32, _OPTIONAL, None),
    ("wrap_session_with_no_threading_params", 788, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("enable_per_model_batching_params", 789, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("enable_saved_model_config", 790, _FDP.TYPE_BOOL, _OPTIONAL, None),
    ("mixed_precision", 791, _FDP.TYPE_STRING, _OPTIONAL, None),
)

_SOURCE_ADAPTER_FIELDS = (
    (
        "legacy_config",
        1000,
        _FDP.TYPE_MESSAGE,
        _OPTIONAL,
        ".tensorflow.serving.SessionBundleConfig",
    ),
)

_PLATFORM_FIELDS = (
    ("source_adapter_config", 1, _FDP.TYPE_MESSAGE, _OPTIONAL, ".google.protobuf.Any"),
)

_PLATFORM_MAP_FIELDS = (
    (
        "platform_configs",
        1,
        _FDP.TYPE_MESSAGE,
        _REPEATED,
        ".tensorflow.serving.PlatformConfigMap.PlatformConfigsEntry",
    ),
)

_MAP_ENTRIES = {
    "PlatformConfigMap": (
        "PlatformConfigsEntry",
        (
            ("key", 1, _FDP.TYPE_STRING, _OPTIONAL, None),
            ("value", 2, _FDP.TYPE_MESSAGE, _OPTIONAL, ".tensorflow.serving.PlatformConfig"),
        ),
    ),
}
"""Each message's ``map<>`` field, as protobuf declares one: a nested entry message."""

_MESSAGES = {
    "BatchingParameters": _BATCHING_FIELDS,
    "SSLConfig": _SSL_FIELDS,
    "PrometheusConfig": _PROMETHEUS_FIELDS,
    "MonitoringConfig": _MONITORING_FIELDS,
    "ModelWarmupOptions": _WARMUP_FIELDS,
    "SessionBundleConfig": _SESSION_BUNDLE_FIELDS,
    "SavedModelBundleSourceAdapterConfig": _SOURCE_ADAPTER_FIELDS,
    "PlatformConfig": _PLATFORM_FIELDS,
    "PlatformConfigMap": _PLATFORM_MAP_FIELDS,
}

_TENSORFLOW_FILES = (
    "tensorflow/core/protobuf/config.proto",
    "tensorflow/core/protobuf/named_tensor.proto",
)
"""TensorFlow's files ``SessionBundleConfig`` refers to, copied from the default pool
(where :mod:`tensorserve.protos.tfserving` puts them without importing TensorFlow)."""


def message_class(name: str) -> Any:
    """The class of ``tensorflow.serving.<name>`` for one of the messages above. Its
    pool (``DESCRIPTOR.file.pool``) also resolves the ``Any`` types a text file expands."""
    if name not in _MESSAGES:
        raise KeyError(name)
    import tensorserve.protos.tfserving  # noqa: F401 - TensorFlow's config protos, in the default pool

    pool = descriptor_pool.DescriptorPool()
    for well_known in (wrappers_pb2, any_pb2):
        pool.AddSerializedFile(well_known.DESCRIPTOR.serialized_pb)
    for tensorflow_file in _TENSORFLOW_FILES:
        _copy_file(descriptor_pool.Default().FindFileByName(tensorflow_file), pool)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tensorserve/tensorflow_serving_extra_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[
            "google/protobuf/wrappers.proto",
            "google/protobuf/any.proto",
            *_TENSORFLOW_FILES,
        ],
    )
    for message_name, fields in _MESSAGES.items():
        message = file_proto.message_type.add(name=message_name)
        _add_fields(message, fields)
        if message_name in _MAP_ENTRIES:
            entry_name, entry_fields = _MAP_ENTRIES[message_name]
            entry = message.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            _add_fields(entry, entry_fields)
    pool.AddSerializedFile(file_proto.SerializeToString())
    descriptor = pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
    return message_factory.GetMessageClass(descriptor)


def _add_fields(message: Any, fields: tuple[tuple[str, int, int, int, str | None], ...]) -> None:
    for field_name, number, field_type, label, type_name in fields:
        field = message.field.add(name=field_name, number=number, type=field_type, label=label)
        if type_name is not None:
            field.type_name = type_name


def _copy_file(file_descriptor: Any, pool: descriptor_pool.DescriptorPool) -> None:
    """Add ``file_descriptor`` and what it imports to ``pool``, dependencies first."""
    try:
        pool.FindFileByName(file_descriptor.name)
        return
    except KeyError:
        pass
    for dependency in file_descriptor.dependencies:
        _copy_file(dependency, pool)
    file_proto = descriptor_pb2.FileDescriptorProto()
    file_descriptor.CopyToProto(file_proto)
    pool.Add(file_proto)
