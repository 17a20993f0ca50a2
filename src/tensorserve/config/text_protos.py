"""Typed readers for the text-proto files named by flags.

``--batching_parameters_file`` (``BatchingParameters``), ``--monitoring_config_file``
(``MonitoringConfig``) and ``--ssl_config_file`` (``SSLConfig``) are parsed at
the edge into frozen dataclasses with TensorFlow Serving's defaults filled in.
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

from google.protobuf import message, text_format

from tensorserve.config.serving_protos import message_class
from tensorserve.core.errors import InvalidArgument, NotFound

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_TIMEOUT_MICROS = 0
DEFAULT_MAX_ENQUEUED_BATCHES = 10
FILE_THREAD_POOL_NAME = "batch_threads"
BINARY_THREAD_POOL_NAME = "model_server_batch_threads"


def default_num_batch_threads() -> int:
    """TensorFlow's MaxParallelism: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True, slots=True)
class BatchingConfig:
    """Batching parameters with defaults applied (``BatchingParameters``)."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    """Most rows in one batch; a larger single request fails unless splitting is on."""
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    """How long the oldest task of an open batch waits before the batch runs anyway."""
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    """Queue bound in batches per model/version/signature; beyond it requests fail UNAVAILABLE."""
    num_batch_threads: int = dataclasses.field(default_factory=default_num_batch_threads)
    """Batches run concurrently; the pool is shared by every model."""
    thread_pool_name: str = BINARY_THREAD_POOL_NAME
    """Name of the shared batch thread pool."""
    allowed_batch_sizes: tuple[int, ...] = ()
    """Increasing sizes batches are padded up to; the last equals the execution limit."""
    pad_variable_length_inputs: bool = False
    """Pad inputs along dims >= 1 to the largest in the batch."""
    enable_large_batch_splitting: bool = False
    """Split a request larger than the execution batch size across batches."""
    max_execution_batch_size: int | None = None
    """Largest batch actually run when splitting; None means ``max_batch_size``."""

    @property
    def execution_batch_size(self) -> int:
        if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
            return self.max_execution_batch_size
        return self.max_batch_size


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
        text_format.Parse(text, proto)
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


def parse_batching_parameters(text: str) -> BatchingConfig:
    """Batching parameters from text; validates ``allowed_batch_sizes``."""
    proto = parse_text_proto(text, message_class("BatchingParameters"))

    def wrapped(field: str, default: Any) -> Any:
        return getattr(proto, field).value if proto.HasField(field) else default

    config = BatchingConfig(
        max_batch_size=wrapped("max_batch_size", DEFAULT_MAX_BATCH_SIZE),
        batch_timeout_micros=wrapped("batch_timeout_micros", DEFAULT_BATCH_TIMEOUT_MICROS),
        max_enqueued_batches=wrapped("max_enqueued_batches", DEFAULT_MAX_ENQUEUED_BATCHES),
        num_batch_threads=wrapped("num_batch_threads", default_num_batch_threads()),
        thread_pool_name=wrapped("thread_pool_name", FILE_THREAD_POOL_NAME),
        allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
        pad_variable_length_inputs=proto.pad_variable_length_inputs,
        enable_large_batch_splitting=wrapped("enable_large_batch_splitting", False),
        max_execution_batch_size=wrapped("max_execution_batch_size", None),
    )
    validate_allowed_batch_sizes(config.allowed_batch_sizes, config.execution_batch_size)
    return config


def validate_allowed_batch_sizes(allowed_batch_sizes: tuple[int, ...], max_batch_size: int) -> None:
    """Raise InvalidArgument unless the sizes increase and end at ``max_batch_size``."""
    if not allowed_batch_sizes:
        return
    previous = 0
    for size in allowed_batch_sizes:
        if size <= previous:
            raise InvalidArgument("allowed_batch_sizes entries must be monotonically increasing")
        previous = size
    if allowed_batch_sizes[-1] != max_batch_size:
        raise InvalidArgument(
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
            f"{allowed_batch_sizes[-1]}; expected {max_batch_size}"
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


def read_batching_parameters_file(path: str | os.PathLike[str]) -> BatchingConfig:
    return parse_batching_parameters(read_text_file(path))


def read_monitoring_config_file(path: str | os.PathLike[str]) -> MonitoringConfig:
    return parse_monitoring_config(read_text_file(path))


def read_ssl_config_file(path: str | os.PathLike[str]) -> SslConfig:
    return parse_ssl_config(read_text_file(path))


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
