"""tensorflow_model_server flag parsing, Docker environment conventions and validation."""

from __future__ import annotations

import dataclasses
import io

import pytest

from tensorserve.config.flags import parse_flags, usage, validate_server_options
from tensorserve.config.options import ServerOptions
from tensorserve.core.errors import Code, ServingError

BASE = ["--model_base_path=/models/m"]

SPEC_DEFAULTS = {
    "port": 8500,
    "grpc_socket_path": "",
    "rest_api_port": 0,
    "rest_api_timeout_in_ms": 30000,
    "rest_api_enable_cors_support": False,
    "enable_batching": False,
    "batching_parameters_file": "",
    "enable_per_model_batching_parameters": False,
    "allow_version_labels_for_unavailable_models": False,
    "model_config_file": "",
    "model_config_file_poll_wait_seconds": 0,
    "model_name": "default",
    "num_load_threads": 0,
    "num_unload_threads": 0,
    "max_num_load_retries": 5,
    "load_retry_interval_micros": 60_000_000,
    "file_system_poll_wait_seconds": 1,
    "flush_filesystem_caches": True,
    "tensorflow_session_parallelism": 0,
    "tensorflow_intra_op_parallelism": 0,
    "tensorflow_inter_op_parallelism": 0,
    "tensorflow_session_config_file": "",
    "per_process_gpu_memory_fraction": 0.0,
    "saved_model_tags": "serve",
    "platform_config_file": "",
    "use_alts_credentials": False,
    "ssl_config_file": "",
    "grpc_channel_arguments": "",
    "enable_grpc_healthcheck_service": False,
    "enable_model_warmup": True,
    "num_request_iterations_for_warmup": 0,
    "monitoring_config_file": "",
    "enable_profiler": True,
    "remove_unused_fields_from_bundle_metagraph": True,
    "prefer_tflite_model": False,
    "num_tflite_interpreters_per_pool": 1,
    "enable_signature_method_name_check": False,
    "xla_cpu_compilation_enabled": False,
    "xla_gpu_compilation_enabled": False,
    "thread_pool_factory_config_file": "",
    "mixed_precision": "",
    "skip_initialize_tpu": False,
    "enable_serialization_as_tensor_content": False,
    "total_model_memory_limit_bytes": 0,
    "rest_ssl_config_file": "",
}


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServerOptions:
    return parse_flags(argv, environ or {}, stdout=io.StringIO(), stderr=io.StringIO())


def test_defaults_match_tensorflow_serving() -> None:
    options = parse(BASE)
    for name, default in SPEC_DEFAULTS.items():
        assert getattr(options, name) == default, name
    assert options.rest_api_num_threads == options.grpc_max_threads > 0
    assert options.num_tflite_pools > 0


def test_every_flag_has_help_and_appears_in_usage() -> None:
    text = usage()
    assert text.startswith("usage: tensorflow_model_server\nFlags:\n")
    for field in dataclasses.fields(ServerOptions):
        assert field.metadata["help"]
        assert f"\t--{field.name}=" in text
    assert '\t--model_name="default"' in text
    assert "\t--port=8500                      \tint32\tPort to listen on for gRPC API" in text
    assert "--load_retry_interval_micros=60000000" in text and "\tint64\t" in text
    assert "--version=false" in text


def test_name_equals_value_and_name_space_value() -> None:
    options = parse(["--port=9000", "--rest_api_port", "9001", "--model_name", "x", *BASE])
    assert (options.port, options.rest_api_port, options.model_name) == (9000, 9001, "x")


def test_float_and_negative_int_values() -> None:
    options = parse([*BASE, "--per_process_gpu_memory_fraction=0.5",
                     "--file_system_poll_wait_seconds=-1"])  # fmt: skip
    assert options.per_process_gpu_memory_fraction == 0.5
    assert options.file_system_poll_wait_seconds == -1


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("--enable_batching", True),
        ("--enable_batching=true", True),
        ("--enable_batching=TRUE", True),
        ("--enable_batching=1", True),
        ("--enable_batching=false", False),
        ("--enable_batching=0", False),
    ],
)
def test_bool_syntaxes(arg: str, expected: bool) -> None:
    assert parse([*BASE, arg]).enable_batching is expected


def test_default_true_bool_can_be_turned_off() -> None:
    assert parse([*BASE, "--enable_model_warmup=false"]).enable_model_warmup is False


def test_last_occurrence_wins() -> None:
    assert parse([*BASE, "--port=1", "--port=2"]).port == 2


def test_unknown_argument_is_reported_and_parsing_continues() -> None:
    stderr = io.StringIO()
    options = parse_flags(
        ["--bogus=1", *BASE, "stray", "--port=7"], {}, stdout=io.StringIO(), stderr=stderr
    )
    assert options.port == 7
    text = stderr.getvalue()
    assert "unknown argument: --bogus=1\n" in text
    assert "unknown argument: stray\n" in text
    assert "usage: tensorflow_model_server" in text


@pytest.mark.parametrize(
    "arg",
    ["--port=abc", "--port=99999999999", "--enable_batching=yes", "--port",
     "--per_process_gpu_memory_fraction=x", "--version=maybe"],
)  # fmt: skip
def test_malformed_value_prints_usage_and_exits_255(arg: str) -> None:
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as caught:
        parse_flags([*BASE, arg], {}, stdout=io.StringIO(), stderr=stderr)
    assert caught.value.code == 255
    assert "usage: tensorflow_model_server" in stderr.getvalue()


def test_malformed_value_names_the_flag() -> None:
    stderr = io.StringIO()
    with pytest.raises(SystemExit):
        parse_flags(["--port=abc"], {}, stdout=io.StringIO(), stderr=stderr)
    assert stderr.getvalue().startswith("Couldn't interpret value abc for flag port.\n")


def test_version_prints_and_exits_zero() -> None:
    stdout = io.StringIO()
    with pytest.raises(SystemExit) as caught:
        parse_flags(["--version"], {}, stdout=stdout, stderr=io.StringIO())
    assert caught.value.code == 0
    lines = stdout.getvalue().splitlines()
    assert lines[0].startswith("TensorFlow ModelServer: ")
    assert lines[1].startswith("TensorFlow Library: ")


def test_help_prints_usage_and_exits_zero() -> None:
    stdout = io.StringIO()
    with pytest.raises(SystemExit) as caught:
        parse_flags(["--help"], {}, stdout=stdout, stderr=io.StringIO())
    assert caught.value.code == 0
    assert stdout.getvalue() == usage()


def test_docker_environment_supplies_name_and_base_path() -> None:
    options = parse([], {"MODEL_NAME": "resnet", "MODEL_BASE_PATH": "/srv/models"})
    assert (options.model_name, options.model_base_path) == ("resnet", "/srv/models/resnet")


def test_docker_environment_defaults() -> None:
    options = parse([], {"MODEL_NAME": "resnet"})
    assert options.model_base_path == "/models/resnet"
    options = parse([], {"MODEL_BASE_PATH": "/srv/"})
    assert (options.model_name, options.model_base_path) == ("model", "/srv/model")


def test_explicit_flags_win_over_docker_environment() -> None:
    environ = {"MODEL_NAME": "resnet", "MODEL_BASE_PATH": "/srv"}
    options = parse(["--model_base_path=/elsewhere"], environ)
    assert (options.model_name, options.model_base_path) == ("default", "/elsewhere")
    options = parse(["--model_config_file=/c.config"], environ)
    assert (options.model_name, options.model_base_path) == ("default", "")
    options = parse(["--model_name=other"], environ)
    assert (options.model_name, options.model_base_path) == ("other", "/srv/resnet")


def error_of(argv: list[str]) -> ServingError:
    with pytest.raises(ServingError) as caught:
        parse(argv)
    assert caught.value.code is Code.INVALID_ARGUMENT
    return caught.value


def test_base_path_or_config_file_is_required() -> None:
    assert error_of([]).message == (
        "Both server_options.model_base_path and server_options.model_config_file are empty!"
    )


def test_batching_file_requires_enable_batching() -> None:
    assert error_of([*BASE, "--batching_parameters_file=/b.txt"]).message == (
        "server_options.batching_parameters_file is set without setting "
        "server_options.enable_batching to true."
    )
    assert parse([*BASE, "--batching_parameters_file=/b.txt", "--enable_batching"])


def test_port_zero_needs_a_socket_path() -> None:
    assert "grpc_socket_path" in error_of([*BASE, "--port=0"]).message
    assert parse([*BASE, "--port=0", "--grpc_socket_path=/tmp/s"]).port == 0


def test_all_three_parallelism_flags_together_are_rejected() -> None:
    argv = [*BASE, "--tensorflow_session_parallelism=1", "--tensorflow_intra_op_parallelism=1",
            "--tensorflow_inter_op_parallelism=1"]  # fmt: skip
    assert "Both configurations cannot be set." in error_of(argv).message


def test_alts_is_refused_beside_ssl_as_tensorflow_serving_refuses_it_and_on_h2() -> None:
    argv = [*BASE, "--use_alts_credentials", "--ssl_config_file=/ssl.config"]
    assert error_of(argv).message == (
        "Either use_alts_credentials must be false or ssl_config_file must be empty."
    )
    assert (
        "the h2 server has no ALTS"
        in error_of([*BASE, "--use_alts_credentials", "--grpc_server=h2"]).message
    )
    assert parse([*BASE, "--use_alts_credentials"]).use_alts_credentials


def test_validate_accepts_directly_built_options() -> None:
    validate_server_options(ServerOptions(model_config_file="/c"))


def test_grpc_channel_arguments_and_tags_stay_text_for_their_components() -> None:
    options = parse([*BASE, "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,x=y",
                     "--saved_model_tags=serve,gpu"])  # fmt: skip
    # Parsed by the components that use them: grpc.server.parse_channel_arguments and
    # TensorFlowOptions.parse_tags, each tested beside its own code.
    assert options.grpc_channel_arguments == "grpc.max_connection_age_ms=2000,x=y"
    assert options.saved_model_tags == "serve,gpu"


def test_shutdown_flags_default_to_no_drain_delay_and_a_30_second_budget() -> None:
    options = parse(BASE)
    assert (options.drain_delay_seconds, options.shutdown_timeout_seconds) == (0.0, 30.0)
    options = parse([*BASE, "--drain_delay_seconds=10", "--shutdown_timeout_seconds=2.5"])
    assert (options.drain_delay_seconds, options.shutdown_timeout_seconds) == (10.0, 2.5)


@pytest.mark.parametrize("flag", ["--drain_delay_seconds=-1", "--shutdown_timeout_seconds=-0.5"])
def test_negative_shutdown_times_are_refused(flag: str) -> None:
    with pytest.raises(ServingError, match="must not be negative"):
        parse([*BASE, flag])


def test_grpc_server_defaults_to_auto_and_takes_threads_asyncio_or_h2() -> None:
    assert parse(BASE).grpc_server == "auto"
    assert parse([*BASE, "--grpc_server=asyncio"]).grpc_server == "asyncio"
    assert parse([*BASE, "--grpc_server=threads"]).grpc_server == "threads"
    assert parse([*BASE, "--grpc_server=h2"]).grpc_server == "h2"
    assert error_of([*BASE, "--grpc_server=aio"]).message == (
        "--grpc_server must be one of auto, threads, asyncio, h2, not 'aio'."
    )
