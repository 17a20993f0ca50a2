"""What each SavedModel platform loads and runs with: TensorFlow Serving's
``SessionBundleConfig``, built from the session flags or read from
``--platform_config_file``.

TensorFlow Serving builds one ``SessionBundleConfig`` from its session flags (threads,
session config file, batching, tags, warmup, TFLite, mixed precision) and registers it
as the ``tensorflow`` platform. ``--platform_config_file`` (a text ``PlatformConfigMap``)
replaces that: each entry names a platform and packs a
``SavedModelBundleSourceAdapterConfig`` whose ``legacy_config`` is the
``SessionBundleConfig``, and the session flags are then ignored (``server.cc``). A
model's ``model_platform`` picks its entry, so one file can give two kinds of
SavedModel different threads or batching. Both ways end in the same neutral record per
platform, :class:`SavedModelPlatform`, which the composition root turns into loaders;
nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from tensorserve.batching.options import BatchingOptions
from tensorserve.config.options import ServerOptions, schedulable_cpus
from tensorserve.config.serving_protos import message_class
from tensorserve.config.text_protos import (
    batching_options_from_proto,
    parse_text_proto,
    read_batching_parameters_file,
    read_session_config_file,
    read_text_file,
)
from tensorserve.core.errors import InvalidArgument
from tensorserve.platforms.tensorflow.options import DEFAULT_SAVED_MODEL_TAGS, TensorFlowOptions

_LOG = logging.getLogger(__name__)

TENSORFLOW_PLATFORM = "tensorflow"
"""The platform TensorFlow Serving registers from its flags (``kTensorFlowModelPlatform``)."""

OWN_PLATFORMS = frozenset({"onnx", "python"})
"""tensorserve's own runtimes: a platform config file cannot make them SavedModel ones."""

_SOURCE_ADAPTER_TYPE = "tensorflow.serving.SavedModelBundleSourceAdapterConfig"

_SESSION_FLAGS = (
    "enable_batching",
    "batching_parameters_file",
    "enable_per_model_batching_parameters",
    "tensorflow_session_config_file",
    "tensorflow_session_parallelism",
    "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism",
    "per_process_gpu_memory_fraction",
    "saved_model_tags",
    "enable_model_warmup",
    "num_request_iterations_for_warmup",
    "prefer_tflite_model",
    "num_tflite_pools",
    "num_tflite_interpreters_per_pool",
    "mixed_precision",
)
"""Flags that only build the ``SessionBundleConfig``: a platform config file replaces them."""

_INERT_FIELDS = (
    "session_run_load_threadpool_index",
    "experimental_transient_ram_bytes_during_load",
    "enable_session_metadata",
    "resource_estimation_uses_validation_result",
    "num_tflite_interpreters",
    "wrap_session_with_no_threading_params",
    "enable_saved_model_config",
)
"""``SessionBundleConfig`` fields that change nothing here; set, they earn a warning."""


@dataclasses.dataclass(frozen=True, slots=True)
class SavedModelPlatform:
    """How one platform's SavedModel versions are loaded, run and batched."""

    tensorflow: TensorFlowOptions
    """Tags, session config, threads, warmup and mixed precision of every session."""
    batching: BatchingOptions | None = None
    """The platform's shared batch scheduler and default queue options; None: unbatched."""
    per_model_batching: bool = False
    """Each version batched by its own ``batching_params.pbtxt``, or not at all."""
    prefer_tflite: bool = False
    """Serve ``model.tflite`` where a version has one (``prefer_tflite_model``)."""
    tflite_pools: int = 1
    """TFLite interpreters per version (``num_tflite_pools``)."""


def saved_model_platforms(options: ServerOptions) -> dict[str, SavedModelPlatform]:
    """The SavedModel platforms this server serves, by name: the file's entries with
    ``--platform_config_file``, else ``tensorflow`` from the flags. Raises
    InvalidArgument or NotFound (the server refuses to start) for a bad file."""
    if options.platform_config_file:
        return read_platform_config_file(options.platform_config_file, options)
    return {TENSORFLOW_PLATFORM: platform_from_flags(options)}


def platform_from_flags(options: ServerOptions) -> SavedModelPlatform:
    """The ``tensorflow`` platform TensorFlow Serving's flags describe."""
    session_parallelism = options.tensorflow_session_parallelism
    batching = None
    if options.enable_batching:
        batching = (
            read_batching_parameters_file(options.batching_parameters_file)
            if options.batching_parameters_file
            else BatchingOptions()
        )
    return SavedModelPlatform(
        tensorflow=TensorFlowOptions(
            saved_model_tags=TensorFlowOptions.parse_tags(options.saved_model_tags),
            intra_op_parallelism=options.tensorflow_intra_op_parallelism or session_parallelism,
            inter_op_parallelism=options.tensorflow_inter_op_parallelism or session_parallelism,
            enable_model_warmup=options.enable_model_warmup,
            num_request_iterations_for_warmup=options.num_request_iterations_for_warmup,
            enable_signature_method_name_check=options.enable_signature_method_name_check,
            session_config=(
                read_session_config_file(options.tensorflow_session_config_file)
                if options.tensorflow_session_config_file
                else b""
            ),
            per_process_gpu_memory_fraction=options.per_process_gpu_memory_fraction,
            mixed_precision=options.mixed_precision,
        ),
        batching=batching,
        per_model_batching=options.enable_batching and options.enable_per_model_batching_parameters,
        prefer_tflite=options.prefer_tflite_model,
        tflite_pools=options.num_tflite_pools,
    )


def read_platform_config_file(
    path: str | os.PathLike[str], options: ServerOptions
) -> dict[str, SavedModelPlatform]:
    """``--platform_config_file``: a text ``PlatformConfigMap``. Flags it replaces that
    were set anyway earn a warning (TensorFlow Serving ignores them silently)."""
    platforms = parse_platform_config(read_text_file(path), options)
    defaults = ServerOptions()
    ignored = [
        f"--{name}" for name in _SESSION_FLAGS if getattr(options, name) != getattr(defaults, name)
    ]
    if ignored:
        _LOG.warning(
            "%s ignored: --platform_config_file configures the SavedModel platforms",
            ", ".join(ignored),
        )
    return platforms


def parse_platform_config(text: str, options: ServerOptions) -> dict[str, SavedModelPlatform]:
    """Each entry of a text ``PlatformConfigMap``, as TensorFlow Serving reads it.
    ``options`` gives what is a server flag there too (the method name check)."""
    proto = parse_text_proto(text, message_class("PlatformConfigMap"))
    if not proto.platform_configs:
        raise InvalidArgument("--platform_config_file names no platform in platform_configs")
    adapter_class = message_class("SavedModelBundleSourceAdapterConfig")
    platforms: dict[str, SavedModelPlatform] = {}
    for name, entry in sorted(proto.platform_configs.items()):
        if name in OWN_PLATFORMS:
            raise InvalidArgument(
                f"Platform {name!r} in --platform_config_file is tensorserve's own runtime, "
                "not a SavedModel platform; leave it out (it needs no config)."
            )
        packed = entry.source_adapter_config
        adapter = adapter_class()
        if packed.TypeName() != _SOURCE_ADAPTER_TYPE or not packed.Unpack(adapter):
            raise InvalidArgument(
                f"Platform {name!r}: source_adapter_config must be a "
                f"{_SOURCE_ADAPTER_TYPE}, not {packed.TypeName() or 'empty'!r}"
            )
        platforms[name] = _platform_from_bundle_config(name, adapter.legacy_config, options)
    return platforms


def _platform_from_bundle_config(
    name: str, config: Any, options: ServerOptions
) -> SavedModelPlatform:
    """One ``SessionBundleConfig``; the fields whose meaning tensorserve cannot give
    refuse the start rather than serve something else."""
    if config.session_target:
        raise InvalidArgument(
            f"Platform {name!r}: session_target {config.session_target!r} is not supported; "
            "tensorserve runs every session in its own process."
        )
    if config.experimental_fixed_input_tensors:
        raise InvalidArgument(
            f"Platform {name!r}: experimental_fixed_input_tensors is not supported."
        )
    inert = [field for field in _INERT_FIELDS if _is_set(config, field)]
    if inert:
        _LOG.warning(
            "Platform %r: %s accepted for compatibility but without effect in tensorserve",
            name,
            ", ".join(inert),
        )
    session = config.session_config
    warmup_iterations = config.model_warmup_options.num_request_iterations.value
    return SavedModelPlatform(
        tensorflow=TensorFlowOptions(
            saved_model_tags=frozenset(config.saved_model_tags) or DEFAULT_SAVED_MODEL_TAGS,
            intra_op_parallelism=session.intra_op_parallelism_threads,
            inter_op_parallelism=session.inter_op_parallelism_threads,
            enable_model_warmup=config.enable_model_warmup,
            num_request_iterations_for_warmup=max(warmup_iterations, 0),
            enable_signature_method_name_check=options.enable_signature_method_name_check,
            session_config=session.SerializeToString(),
            per_process_gpu_memory_fraction=session.gpu_options.per_process_gpu_memory_fraction,
            mixed_precision=config.mixed_precision,
        ),
        batching=(
            batching_options_from_proto(config.batching_parameters)
            if config.HasField("batching_parameters")
            else None
        ),
        per_model_batching=(
            config.HasField("batching_parameters") and config.enable_per_model_batching_params
        ),
        prefer_tflite=config.prefer_tflite_model,
        tflite_pools=config.num_tflite_pools or schedulable_cpus(),
    )


def _is_set(config: Any, field: str) -> bool:
    value = getattr(config, field)
    return config.HasField(field) if hasattr(value, "ListFields") else bool(value)
