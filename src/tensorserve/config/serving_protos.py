"""Message classes for TensorFlow Serving config protos that no pip package ships.

``tensorflow-serving-api`` carries ``model_server_config.proto`` but not
``BatchingParameters`` (``servables/tensorflow/session_bundle_config.proto``),
``MonitoringConfig`` (``config/monitoring_config.proto``) or ``SSLConfig``
(``config/ssl_config.proto``). We declare them here, with TensorFlow Serving's
package, names and field numbers, in a private descriptor pool built on each
call (so importing this module registers nothing); callers parse a file once.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_FDP = descriptor_pb2.FieldDescriptorProto
_INT64 = ".google.protobuf.Int64Value"
_BOOL = ".google.protobuf.BoolValue"
_STRING = ".google.protobuf.StringValue"

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

_MESSAGES = {
    "BatchingParameters": _BATCHING_FIELDS,
    "SSLConfig": _SSL_FIELDS,
    "PrometheusConfig": _PROMETHEUS_FIELDS,
    "MonitoringConfig": _MONITORING_FIELDS,
}


def message_class(name: str) -> Any:
    """The class of ``tensorflow.serving.<name>`` for one of the messages above."""
    if name not in _MESSAGES:
        raise KeyError(name)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tensorserve/tensorflow_serving_extra_configs.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for message_name, fields in _MESSAGES.items():
        message = file_proto.message_type.add(name=message_name)
        for field_name, number, field_type, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name is not None:
                field.type_name = type_name
    pool.AddSerializedFile(file_proto.SerializeToString())
    descriptor = pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
    return message_factory.GetMessageClass(descriptor)
