"""Typed readers for the text-proto files named by flags.

``--batching_parameters_file`` (``BatchingParameters``, into the batching
layer's own ``BatchingOptions``), ``--monitoring_config_file`` (``MonitoringConfig``)
and ``--ssl_config_file`` (``SSLConfig``) are parsed at the edge into frozen
dataclasses with TensorFlow Serving's defaults filled in;
``--tensorflow_session_config_file`` (``tensorflow.ConfigProto``) is checked and kept
serialized for the TensorFlow platform.
Parse errors read ``Error parsing text-format tensorflow.serving.<Message>: <line>:<col>: …``
as TensorFlow's do; a file that cannot be read raises ``NotFound``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import ssl
import tempfile
from typing import Any

from google.protobuf import descriptor_pool, message, message_factory, text_format

from tensorserve.batching.options import BatchingOptions
from tensorserve.batching.options import default_num_batch_threads as default_num_batch_threads
from tensorserve.config.serving_protos import message_class
from tensorserve.core.errors import InvalidArgument, NotFound

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
FILE_THREAD_POOL_NAME = "batch_threads"
"""The batch pool's name when a batching parameters file leaves it out."""
_WRAPPED_BATCHING_FIELDS = (
    "max_batch_size",
    "batch_timeout_micros",
    "max_enqueued_batches",
    "num_batch_threads",
    "thread_pool_name",
    "enable_large_batch_splitting",
    "max_execution_batch_size",
)


@dataclasses.dataclass(frozen=True, slots=True)
class MonitoringConfig:
    """Prometheus exposition settings (``MonitoringConfig.prometheus_config``)."""

    prometheus_enabled: bool = False
    """Serve metrics on the REST port."""
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH
    """URL path of the metrics page (empty in the file means the default)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SslConfig:
    """gRPC TLS settings (``SSLConfig``); the key and certificates are PEM text."""

    server_key: str = ""
    """PEM private key of the server."""
    server_cert: str = ""
    """PEM certificate chain of the server."""
    custom_ca: str = ""
    """PEM root certificates used to verify clients."""
    client_verify: bool = False
    """Require and verify client certificates (mutual TLS)."""


def parse_text_proto(text: str, message_type: Any) -> Any:
    """Parse ``text`` into a new ``message_type``; InvalidArgument with TF's wording on error."""
    proto = message_type()
    try:
        text_format.Parse(text, proto, descriptor_pool=proto.DESCRIPTOR.file.pool)
    except (text_format.ParseError, message.DecodeError) as exc:
        detail = str(exc).replace(" : ", ": ", 1)
        raise InvalidArgument(
            f"Error parsing text-format {proto.DESCRIPTOR.full_name}: {detail}"
        ) from exc
    return proto


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The file's text; NotFound when it cannot be read, InvalidArgument when it is not
    UTF-8 (a file overwritten with binary garbage must fail like any unparsable file)."""
    try:
        return pathlib.Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{os.fspath(path)} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start} ({exc.reason})"
        ) from exc
    except FileNotFoundError as exc:
        raise NotFound(f"{os.fspath(path)}; No such file or directory") from exc
    except OSError as exc:
        raise NotFound(f"{os.fspath(path)}; {exc.strerror or exc}") from exc


def parse_batching_parameters(text: str) -> BatchingOptions:
    """Batching options from ``BatchingParameters`` text (validated by ``BatchingOptions``)."""
    return batching_options_from_proto(parse_text_proto(text, message_class("BatchingParameters")))


def batching_options_from_proto(proto: Any) -> BatchingOptions:
    """A parsed ``BatchingParameters``, with TensorFlow Serving's defaults for what it
    leaves unset (a file's pool name being ``batch_threads``)."""
    wrapped = {
        field: getattr(proto, field).value
        for field in _WRAPPED_BATCHING_FIELDS
        if proto.HasField(field)
    }
    return BatchingOptions(
        allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
        pad_variable_length_inputs=proto.pad_variable_length_inputs,
        **{"thread_pool_name": FILE_THREAD_POOL_NAME, **wrapped},
    )


def parse_monitoring_config(text: str) -> MonitoringConfig:
    proto = parse_text_proto(text, message_class("MonitoringConfig"))
    prometheus = proto.prometheus_config
    return MonitoringConfig(
        prometheus_enabled=prometheus.enable,
        prometheus_path=prometheus.path or DEFAULT_PROMETHEUS_PATH,
    )


def parse_ssl_config(text: str) -> SslConfig:
    proto = parse_text_proto(text, message_class("SSLConfig"))
    return SslConfig(
        server_key=proto.server_key,
        server_cert=proto.server_cert,
        custom_ca=proto.custom_ca,
        client_verify=proto.client_verify,
    )


def read_batching_parameters_file(path: str | os.PathLike[str]) -> BatchingOptions:
    return parse_batching_parameters(read_text_file(path))


def read_monitoring_config_file(path: str | os.PathLike[str]) -> MonitoringConfig:
    return parse_monitoring_config(read_text_file(path))


def read_ssl_config_file(path: str | os.PathLike[str]) -> SslConfig:
    return parse_ssl_config(read_text_file(path))


def read_session_config_file(path: str | os.PathLike[str]) -> bytes:
    """``--tensorflow_session_config_file``: a text ``tensorflow.ConfigProto``, checked at
    start-up and kept serialized, so the flags stay free of TensorFlow's classes (its
    message comes from the checked-in descriptors, :mod:`tensorserve.protos`)."""
    return parse_text_proto(read_text_file(path), _config_proto()).SerializeToString()  # type: ignore[no-any-return]


def _config_proto() -> Any:
    import tensorserve.protos.tfserving  # noqa: F401 - puts tensorflow.ConfigProto in the pool

    descriptor = descriptor_pool.Default().FindMessageTypeByName("tensorflow.ConfigProto")
    return message_factory.GetMessageClass(descriptor)


def check_ssl_pem(config: SslConfig, flag: str = "ssl_config_file") -> None:
    """Raise InvalidArgument unless the key, certificate chain and CA are usable PEM.

    gRPC only says "Failed to bind to address" for a bad key or certificate; Python's
    ``ssl`` reads the same PEM and says what is wrong. ``flag`` names the file's flag in
    the message.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = pathlib.Path(tmp, "cert.pem"), pathlib.Path(tmp, "key.pem")
        cert.write_text(config.server_cert)
        key.touch(mode=0o600)
        key.write_text(config.server_key)
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidArgument(
                f"{flag}: server_key and server_cert are not a usable PEM key and "
                f"certificate chain: {exc}"
            ) from exc
    if config.custom_ca:
        try:
            context.load_verify_locations(cadata=config.custom_ca)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidArgument(
                f"{flag}: custom_ca holds no usable PEM certificate: {exc}"
            ) from exc
