"""ServerOptions: every ``tensorflow_model_server`` flag as one typed, frozen object.

Each field is one flag of the same name (``--port`` -> ``port``); its
``metadata`` holds the help text and TensorFlow's flag type name, which
:mod:`tensorserve.config.flags` uses to parse and print usage. Defaults are
TensorFlow Serving's (``model_servers/main.cc``); these flags are ours:
``--total_model_memory_limit_bytes``, ``--rest_ssl_config_file``,
``--load_timeout_seconds``, ``--prefer_onnx_model``, ``--listen_address``,
``--drain_delay_seconds``, ``--shutdown_timeout_seconds``, ``--grpc_server`` and
``--num_workers``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tensorserve.config.text_protos import default_num_batch_threads

GRPC_SERVERS = ("auto", "threads", "asyncio", "h2")
"""``--grpc_server`` values: grpcio's threaded server, grpc.aio, tensorserve's own HTTP/2
server on the event loop, or chosen by batching."""


def schedulable_cpus() -> int:
    """CPUs this process may run on (TensorFlow's ``NumSchedulableCPUs``)."""
    return default_num_batch_threads()


def _flag(default: Any, help_text: str, type_name: str | None = None) -> Any:
    metadata = {"help": help_text, "type": type_name}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerOptions:
    """Options of one model server process, parsed from flags (see ``parse_flags``)."""

    port: int = _flag(8500, "Port to listen on for gRPC API")
    grpc_socket_path: str = _flag(
        "", "If non-empty, listen to a UNIX socket for gRPC API on the given path. "
        "Can be either relative or absolute path."
    )  # fmt: skip
    rest_api_port: int = _flag(
        0, "Port to listen on for HTTP/REST API. If set to zero HTTP/REST API will not be "
        "exported. This port must be different than the one specified in --port."
    )  # fmt: skip
    rest_api_num_threads: int = _flag(
        lambda: 4 * schedulable_cpus(),
        "Number of threads for HTTP/REST API processing. If not set, will be auto set "
        "based on number of CPUs.",
    )
    rest_api_timeout_in_ms: int = _flag(30000, "Timeout for HTTP/REST API calls.")
    rest_api_enable_cors_support: bool = _flag(False, "Enable CORS headers in response")
    enable_batching: bool = _flag(False, "enable batching")
    allow_version_labels_for_unavailable_models: bool = _flag(
        False, "If true, allows assigning unused version labels to models that are not "
        "available yet."
    )  # fmt: skip
    batching_parameters_file: str = _flag(
        "", "If non-empty, read an ascii BatchingParameters protobuf from the supplied "
        "file name and use the contained values instead of the defaults."
    )  # fmt: skip
    enable_per_model_batching_parameters: bool = _flag(
        False, "Enables model specific batching params like batch sizes, timeouts, batching "
        "feature flags to be read from `batching_params.pbtxt` file inside model export "
        "directory."
    )  # fmt: skip
    model_config_file: str = _flag(
        "", "If non-empty, read an ascii ModelServerConfig protobuf from the supplied file "
        "name, and serve the models in that file. This config file can be used to specify "
        "multiple models to serve and other advanced parameters including non-default "
        "version policy. (If used, --model_name, --model_base_path are ignored.)"
    )  # fmt: skip
    model_config_file_poll_wait_seconds: int = _flag(
        0, "Interval in seconds between each poll of the filesystem for model_config_file. "
        "If unset or set to zero, poll will be done exactly once and not periodically. "
        "Setting this to negative is reserved for testing purposes only."
    )  # fmt: skip
    model_name: str = _flag("default", "name of model (ignored if --model_config_file flag is set)")
    model_base_path: str = _flag(
        "", "path to export (ignored if --model_config_file flag is set, otherwise required)"
    )
    num_load_threads: int = _flag(
        0, "The number of threads in the thread-pool used to load servables. If set as 0, "
        "we don't use a thread-pool, and servable loads are performed serially in the "
        "manager's main work loop, may casue the Serving request to be delayed. "
        "Default: 0"
    )  # fmt: skip
    num_unload_threads: int = _flag(
        0, "The number of threads in the thread-pool used to unload servables. If set as "
        "0, we don't use a thread-pool, and servable unloads are performed serially in "
        "the manager's main work loop, may casue the Serving request to be delayed. "
        "Default: 0"
    )  # fmt: skip
    max_num_load_retries: int = _flag(
        5, "maximum number of times it retries loading a model after the first failure, "
        "before giving up. If set to 0, a load is attempted only once. Default: 5"
    )  # fmt: skip
    load_retry_interval_micros: int = _flag(
        60 * 1000 * 1000, "The interval, in microseconds, between each servable load retry. "
        "If set negative, it doesn't wait. Default: 1 minute",
        "int64",
    )  # fmt: skip
    file_system_poll_wait_seconds: int = _flag(
        1, "Interval in seconds between each poll of the filesystem for new model version. "
        "If set to zero poll will be exactly done once and not periodically. Setting this "
        "to negative value will disable polling entirely causing ModelServer to indefinitely "
        "wait for a new model at startup. Negative values are reserved for testing "
        "purposes only."
    )  # fmt: skip
    flush_filesystem_caches: bool = _flag(
        True, "If true (the default), filesystem caches will be flushed after the initial "
        "load of all servables, and after each subsequent individual servable reload (if "
        "the number of load threads is 1). This reduces memory consumption of the model "
        "server, at the potential cost of cache misses if model files are accessed after "
        "servables are loaded."
    )  # fmt: skip
    tensorflow_session_parallelism: int = _flag(
        0, "Number of threads to use for running a Tensorflow session. Auto-configured by "
        "default.Note that this option is ignored if --platform_config_file is non-empty.",
        "int64",
    )  # fmt: skip
    tensorflow_intra_op_parallelism: int = _flag(
        0, "Number of threads to use to parallelize the executionof an individual op. "
        "Auto-configured by default.Note that this option is ignored if "
        "--platform_config_file is non-empty.",
        "int64",
    )  # fmt: skip
    tensorflow_inter_op_parallelism: int = _flag(
        0, "Controls the number of operators that can be executed simultaneously. "
        "Auto-configured by default.Note that this option is ignored if "
        "--platform_config_file is non-empty.",
        "int64",
    )  # fmt: skip
    tensorflow_session_config_file: str = _flag(
        "", "If non-empty, read an ascii TensorFlow Session ConfigProto protobuf from the "
        "supplied file name. Note, parts of the session config (threads, parallelism etc.) "
        "can be overridden if needed, via corresponding command-line flags."
    )  # fmt: skip
    per_process_gpu_memory_fraction: float = _flag(
        0.0, "Fraction that each process occupies of the GPU memory space the value is "
        "between 0.0 and 1.0 (with 0.0 as the default) If 1.0, the server will allocate "
        "all the memory when the server starts, If 0.0, Tensorflow will automatically "
        "select a value."
    )  # fmt: skip
    saved_model_tags: str = _flag(
        "serve", "Comma-separated set of tags corresponding to the meta graph def to load "
        "from SavedModel."
    )  # fmt: skip
    grpc_channel_arguments: str = _flag(
        "", "A comma separated list of arguments to be passed to the grpc server. "
        "(e.g. grpc.max_connection_age_ms=2000)"
    )  # fmt: skip
    grpc_max_threads: int = _flag(
        lambda: 4 * schedulable_cpus(),
        "Max grpc server threads to handle grpc messages.",
    )
    enable_model_warmup: bool = _flag(
        True, "Enables model warmup, which triggers lazy initializations (such as TF "
        "optimizations) at load time, to reduce first request latency."
    )  # fmt: skip
    num_request_iterations_for_warmup: int = _flag(
        0, "Number of times a request is iterated during warmup replay. This value is used "
        "only if > 0."
    )  # fmt: skip
    monitoring_config_file: str = _flag(
        "", "If non-empty, read an ascii MonitoringConfig protobuf from the supplied file "
        "name"
    )  # fmt: skip
    remove_unused_fields_from_bundle_metagraph: bool = _flag(
        True, "Removes unused fields from MetaGraphDef proto message to save memory."
    )
    prefer_tflite_model: bool = _flag(
        False, "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Prefer TensorFlow Lite model from "
        "`model.tflite` file in SavedModel directory, instead of the TensorFlow model from "
        "`saved_model.pb` file. If no TensorFlow Lite model found, fallback to TensorFlow "
        "model."
    )  # fmt: skip
    prefer_onnx_model: bool = _flag(
        False, "Run each signature that has a verified ONNX twin (assets.extra/onnx/, "
        "written by `tensorserve export` or `tensorserve convert`) in ONNX Runtime, after "
        "re-checking it against TensorFlow at load; other signatures stay in TensorFlow."
    )  # fmt: skip
    num_tflite_pools: int = _flag(
        schedulable_cpus, "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Number of TFLite "
        "interpreters in an interpreter pool of TfLiteSession."
    )  # fmt: skip
    num_tflite_interpreters_per_pool: int = _flag(
        1, "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Number of TFLite interpreters in an "
        "interpreter pool of TfLiteSession."
    )  # fmt: skip
    enable_signature_method_name_check: bool = _flag(
        False, "Enable method_name check for SignatureDef. Disable this if serving native "
        "TF2 regression/classification models."
    )  # fmt: skip
    xla_cpu_compilation_enabled: bool = _flag(
        False, "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Enable XLA:CPU JIT (default is "
        "disabled). With XLA:CPU JIT disabled, models utilizing this feature will return "
        "bad Status on first compilation request."
    )  # fmt: skip
    xla_gpu_compilation_enabled: bool = _flag(
        False, "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Enable XLA:GPU JIT (default is "
        "disabled)."
    )  # fmt: skip
    enable_profiler: bool = _flag(True, "Enable profiler service.")
    thread_pool_factory_config_file: str = _flag(
        "", "If non-empty, read an ascii ThreadPoolConfig protobuf from the supplied file "
        "name."
    )  # fmt: skip
    mixed_precision: str = _flag("", "specify mixed_precision mode")
    skip_initialize_tpu: bool = _flag(False, "Whether to skip auto initializing TPU.")
    enable_grpc_healthcheck_service: bool = _flag(
        False, "Enable the standard gRPC healthcheck service."
    )
    enable_serialization_as_tensor_content: bool = _flag(
        False, "Enable serialization of predict response as tensor content."
    )
    platform_config_file: str = _flag(
        "", "If non-empty, read an ascii PlatformConfigMap protobuf from the supplied file "
        "name, and use that platform config instead of the Tensorflow platform. (If used, "
        "--enable_batching is ignored.)"
    )  # fmt: skip
    use_alts_credentials: bool = _flag(False, "Use Google ALTS credentials")
    ssl_config_file: str = _flag(
        "", "If non-empty, read an ascii SSLConfig protobuf from the supplied file name and "
        "set up a secure gRPC channel"
    )  # fmt: skip
    total_model_memory_limit_bytes: int = _flag(
        0, "tensorserve: total RAM (bytes) the loaded models may use; a load that does not "
        "fit fails with RESOURCE_EXHAUSTED. 0 means unlimited (TensorFlow Serving's "
        "behaviour, where this is not a flag).",
        "int64",
    )  # fmt: skip
    rest_ssl_config_file: str = _flag(
        "", "tensorserve: if non-empty, read an ascii SSLConfig protobuf from the supplied "
        "file name and serve the HTTP/REST API over TLS with it."
    )  # fmt: skip
    load_timeout_seconds: float = _flag(
        0.0, "tensorserve: seconds one attempt to load a servable version may take; a load "
        "still running then is abandoned and the version ends in END with "
        "DEADLINE_EXCEEDED (no retry). 0 means no limit (TensorFlow Serving's behaviour, "
        "where this is not a flag)."
    )  # fmt: skip
    listen_address: str = _flag(
        "", "tensorserve: the IP address the gRPC and REST ports listen on; empty means "
        "every interface (TensorFlow Serving's behaviour)."
    )  # fmt: skip
    drain_delay_seconds: float = _flag(
        0.0, "tensorserve: on SIGTERM, report not ready (/readyz, gRPC health) at once but "
        "keep serving both protocols this many seconds before closing the ports, so load "
        "balancers remove this server first."
    )  # fmt: skip
    grpc_server: str = _flag(
        "auto", "tensorserve: how the gRPC server runs RPCs: 'threads' (grpc.server with "
        "--grpc_max_threads handler threads; Predict runs on the thread that took it, about "
        "half the CPU per RPC of grpc.aio), 'asyncio' (grpc.aio on the event loop; no thread "
        "per RPC in flight), 'h2' (tensorserve's own HTTP/2 gRPC server on the event loop, "
        "grpc.aio's servicers without grpcio's server machinery: about a third of the "
        "threaded server's CPU per RPC; of --grpc_channel_arguments it honours connection "
        "age, age grace, idle limit, concurrent streams and so_reuseport), or 'auto': h2, "
        "unless --grpc_channel_arguments name another, which configures grpcio: then "
        "asyncio with --enable_batching (so a batch can gather more requests than "
        "there are threads), threads otherwise."
    )  # fmt: skip
    shutdown_timeout_seconds: float = _flag(
        30.0, "tensorserve: after the drain delay, how long in-flight requests may take to "
        "finish and models to unload before the process exits."
    )  # fmt: skip
    num_workers: str = _flag(
        "1", "tensorserve: processes serving the REST and gRPC ports (SO_REUSEPORT). This "
        "process loads the models and serves; the N-1 others parse, decode and encode "
        "requests and forward the model calls to it, so model memory is not multiplied. "
        "'auto': the CPUs this process may run on."
    )  # fmt: skip

    def worker_count(self) -> int:
        """``--num_workers`` as a number (``auto``: the schedulable CPUs)."""
        if self.num_workers.strip().lower() == "auto":
            return schedulable_cpus()
        return int(self.num_workers)


def flag_fields() -> tuple[dataclasses.Field[Any], ...]:
    """The dataclass fields that are flags, in declaration (usage) order."""
    return dataclasses.fields(ServerOptions)
