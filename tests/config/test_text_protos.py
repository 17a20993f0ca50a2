"""BatchingParameters, MonitoringConfig, SSLConfig and session ConfigProto text-proto readers."""

from __future__ import annotations

import pathlib

import pytest

from tensorserve.batching.options import BatchingOptions, default_num_batch_threads
from tensorserve.config.text_protos import (
    MonitoringConfig,
    SslConfig,
    parse_batching_parameters,
    parse_monitoring_config,
    parse_ssl_config,
    read_batching_parameters_file,
    read_monitoring_config_file,
    read_session_config_file,
    read_ssl_config_file,
)
from tensorserve.core.errors import Code, ServingError

DOCS_SAMPLE = (
    "max_batch_size { value: 128 } batch_timeout_micros { value: 0 } "
    "max_enqueued_batches { value: 1000000 } num_batch_threads { value: 8 }"
)


def error_of(call: object, *args: object) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_batching_defaults_when_the_file_sets_nothing() -> None:
    config = parse_batching_parameters("")
    assert config == BatchingOptions(
        max_batch_size=1000,
        batch_timeout_micros=0,
        max_enqueued_batches=10,
        num_batch_threads=default_num_batch_threads(),
        thread_pool_name="batch_threads",
    )
    assert BatchingOptions().thread_pool_name == "model_server_batch_threads"


def test_batching_sample_from_the_docs() -> None:
    config = parse_batching_parameters(DOCS_SAMPLE)
    assert (config.max_batch_size, config.max_enqueued_batches, config.num_batch_threads) == (
        128, 1000000, 8,
    )  # fmt: skip


def test_batching_all_fields() -> None:
    config = parse_batching_parameters(
        'max_batch_size { value: 8 } thread_pool_name { value: "p" } allowed_batch_sizes: 2 '
        "allowed_batch_sizes: 4 allowed_batch_sizes: 8 pad_variable_length_inputs: true "
        "enable_large_batch_splitting { value: true } max_execution_batch_size { value: 8 }"
    )
    assert config.allowed_batch_sizes == (2, 4, 8)
    assert config.pad_variable_length_inputs and config.enable_large_batch_splitting
    assert config.thread_pool_name == "p"
    assert config.execution_batch_size == 8


def test_last_allowed_batch_size_must_match_max_batch_size() -> None:
    error = error_of(
        parse_batching_parameters,
        "max_batch_size { value: 16 } allowed_batch_sizes: 4 allowed_batch_sizes: 8",
    )
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 8; expected 16"
    )


def test_allowed_batch_sizes_must_increase() -> None:
    error = error_of(
        parse_batching_parameters,
        "max_batch_size { value: 8 } allowed_batch_sizes: 8 allowed_batch_sizes: 8",
    )
    assert error.message == "allowed_batch_sizes entries must be monotonically increasing"


def test_batching_parse_error_names_the_message() -> None:
    error = error_of(parse_batching_parameters, "max_batch_size: 5")
    assert error.message.startswith(
        "Error parsing text-format tensorflow.serving.BatchingParameters: 1:"
    )


def test_monitoring_config() -> None:
    assert parse_monitoring_config("") == MonitoringConfig(False, "/monitoring/prometheus/metrics")
    assert parse_monitoring_config("prometheus_config { enable: true }") == MonitoringConfig(
        True, "/monitoring/prometheus/metrics"
    )
    assert parse_monitoring_config(
        'prometheus_config { enable: true path: "/metrics" }'
    ) == MonitoringConfig(True, "/metrics")


def test_ssl_config() -> None:
    config = parse_ssl_config(
        'server_key: "KEY" server_cert: "CERT" custom_ca: "CA" client_verify: true'
    )
    assert config == SslConfig("KEY", "CERT", "CA", True)


def test_readers_read_files_and_report_missing_ones(tmp_path: pathlib.Path) -> None:
    (tmp_path / "b.txt").write_text(DOCS_SAMPLE)
    (tmp_path / "m.txt").write_text("prometheus_config { enable: true }")
    (tmp_path / "s.txt").write_text('server_key: "K"')
    assert read_batching_parameters_file(tmp_path / "b.txt").max_batch_size == 128
    assert read_monitoring_config_file(tmp_path / "m.txt").prometheus_enabled
    assert read_ssl_config_file(str(tmp_path / "s.txt")).server_key == "K"
    (tmp_path / "binary.txt").write_bytes(b"\x80" * 16)
    for read in (read_batching_parameters_file, read_monitoring_config_file, read_ssl_config_file):
        assert error_of(read, tmp_path / "binary.txt").code is Code.INVALID_ARGUMENT
    missing = error_of(read_ssl_config_file, tmp_path / "none.txt")
    assert missing.code is Code.NOT_FOUND
    assert missing.message == f"{tmp_path / 'none.txt'}; No such file or directory"


def test_a_session_config_file_is_checked_and_kept_as_the_serialized_config_proto(
    tmp_path: pathlib.Path,
) -> None:
    from tensorflow.core.protobuf import config_pb2  # TensorFlow's own class reads it back

    path = tmp_path / "session.config"
    path.write_text(
        "operation_timeout_in_ms: 250\n"
        "gpu_options { allow_growth: true }\n"
        "graph_options { optimizer_options { opt_level: L0 } }\n"
    )
    config = config_pb2.ConfigProto.FromString(read_session_config_file(path))
    assert config.operation_timeout_in_ms == 250
    assert config.gpu_options.allow_growth
    assert config.graph_options.optimizer_options.opt_level == config_pb2.OptimizerOptions.L0
    path.write_text("operation_timeout_in_ms: soon\n")
    error = error_of(read_session_config_file, path)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message.startswith("Error parsing text-format tensorflow.ConfigProto: 1:")
    assert error_of(read_session_config_file, tmp_path / "none").code is Code.NOT_FOUND
