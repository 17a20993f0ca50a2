"""The SavedModel platforms a server runs: from the session flags, or from a
``--platform_config_file`` written as TensorFlow Serving documents it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool, message_factory

from tensorserve.batching.options import BatchingOptions
from tensorserve.config.flags import validate_server_options
from tensorserve.config.options import ServerOptions, schedulable_cpus
from tensorserve.config.platform_config import (
    SavedModelPlatform,
    parse_platform_config,
    read_platform_config_file,
    saved_model_platforms,
)
from tensorserve.config.text_protos import FILE_THREAD_POOL_NAME
from tensorserve.core.errors import InvalidArgument, NotFound
from tensorserve.platforms.tensorflow.options import TensorFlowOptions
from tensorserve.protos.tfserving import meta_graph_pb2  # noqa: F401 - ConfigProto's pool

ADAPTER = "[type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig]"

# The layout of TensorFlow Serving's docs (serving_config.md, "Batching Configuration"
# and the platform config of its tests): one `tensorflow` entry, every field set.
FULL = f"""
platform_configs {{
  key: "tensorflow"
  value {{
    source_adapter_config {{
      {ADAPTER} {{
        legacy_config {{
          session_config {{
            intra_op_parallelism_threads: 3
            inter_op_parallelism_threads: 2
            operation_timeout_in_ms: 5000
            gpu_options {{ per_process_gpu_memory_fraction: 0.25 }}
          }}
          batching_parameters {{
            max_batch_size {{ value: 16 }}
            batch_timeout_micros {{ value: 500 }}
            num_batch_threads {{ value: 3 }}
            allowed_batch_sizes: [4, 16]
          }}
          saved_model_tags: "serve"
          saved_model_tags: "gpu"
          enable_model_warmup: true
          model_warmup_options {{ num_request_iterations {{ value: 4 }} }}
          prefer_tflite_model: true
          num_tflite_pools: 2
          mixed_precision: "bfloat16"
          enable_per_model_batching_params: true
        }}
      }}
    }}
  }}
}}
"""


def _entry(name: str, legacy_config: str) -> str:
    return (
        f'platform_configs {{ key: "{name}" value {{ source_adapter_config {{ '
        f"{ADAPTER} {{ legacy_config {{ {legacy_config} }} }} }} }} }}\n"
    )


def test_every_field_of_the_documented_layout_reaches_the_platform() -> None:
    platforms = parse_platform_config(FULL, ServerOptions(enable_signature_method_name_check=True))
    assert list(platforms) == ["tensorflow"]
    platform = platforms["tensorflow"]
    tf = platform.tensorflow
    assert tf.saved_model_tags == frozenset({"serve", "gpu"})
    assert (tf.intra_op_parallelism, tf.inter_op_parallelism) == (3, 2)
    assert tf.per_process_gpu_memory_fraction == pytest.approx(0.25)
    assert (tf.enable_model_warmup, tf.warmup_iterations) == (True, 4)
    assert tf.mixed_precision == "bfloat16"
    assert tf.enable_signature_method_name_check  # a server flag there too
    # The whole session config reaches the sessions, the timeout included.
    config_proto = descriptor_pool.Default().FindMessageTypeByName("tensorflow.ConfigProto")
    session = message_factory.GetMessageClass(config_proto).FromString(tf.session_config)
    assert session.operation_timeout_in_ms == 5000
    assert platform.batching == BatchingOptions(
        max_batch_size=16,
        batch_timeout_micros=500,
        num_batch_threads=3,
        thread_pool_name=FILE_THREAD_POOL_NAME,
        allowed_batch_sizes=(4, 16),
    )
    assert platform.per_model_batching
    assert (platform.prefer_tflite, platform.tflite_pools) == (True, 2)


def test_an_empty_legacy_config_takes_the_protos_defaults_not_the_flags() -> None:
    # As TF Serving: no batching, no warmup (the proto's false, not the flag's true),
    # the `serve` tag, TensorFlow's threads.
    platform = parse_platform_config(_entry("tensorflow", ""), ServerOptions())["tensorflow"]
    assert platform == SavedModelPlatform(
        tensorflow=TensorFlowOptions(
            enable_model_warmup=False,
            session_config=b"",
        ),
        batching=None,
        per_model_batching=False,
        prefer_tflite=False,
        tflite_pools=schedulable_cpus(),
    )


def test_each_entry_is_a_platform_of_its_own() -> None:
    text = _entry("tensorflow", "enable_model_warmup: true") + _entry(
        "tensorflow_batched", "batching_parameters { max_batch_size { value: 8 } }"
    )
    platforms = parse_platform_config(text, ServerOptions())
    assert sorted(platforms) == ["tensorflow", "tensorflow_batched"]
    assert platforms["tensorflow"].batching is None
    batching = platforms["tensorflow_batched"].batching
    assert batching is not None and batching.max_batch_size == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "platform_configs { key: 1 }",
            "Error parsing text-format tensorflow.serving.PlatformConfigMap: 1:",
        ),
        ("", "--platform_config_file names no platform in platform_configs"),
        (
            _entry("tensorflow", 'session_target: "grpc://remote:8500"'),
            "Platform 'tensorflow': session_target 'grpc://remote:8500' is not supported",
        ),
        (
            _entry("tensorflow", 'experimental_fixed_input_tensors { name: "x" }'),
            "Platform 'tensorflow': experimental_fixed_input_tensors is not supported.",
        ),
        (
            _entry("onnx", ""),
            "Platform 'onnx' in --platform_config_file is tensorserve's own runtime",
        ),
        (
            'platform_configs { key: "tensorflow" value { source_adapter_config { '
            "[type.googleapis.com/tensorflow.serving.BatchingParameters] {} } } }",
            "Platform 'tensorflow': source_adapter_config must be a "
            "tensorflow.serving.SavedModelBundleSourceAdapterConfig, "
            "not 'tensorflow.serving.BatchingParameters'",
        ),
        (
            'platform_configs { key: "tensorflow" value { } }',
            "not 'empty'",
        ),
        (
            _entry(
                "tensorflow",
                "batching_parameters { max_batch_size { value: 4 } allowed_batch_sizes: 3 }",
            ),
            "allowed_batch_sizes",
        ),
    ],
    ids=[
        "does-not-parse",
        "no-platform",
        "remote-session",
        "fixed-inputs",
        "own-runtime",
        "other-adapter",
        "no-adapter",
        "bad-batching",
    ],
)
def test_a_file_the_server_cannot_honour_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=None) as raised:
        parse_platform_config(text, ServerOptions())
    assert message in raised.value.message


def test_fields_without_effect_are_named(caplog: pytest.LogCaptureFixture) -> None:
    text = _entry("tensorflow", "enable_session_metadata: true num_tflite_interpreters: 2")
    with caplog.at_level(logging.WARNING):
        parse_platform_config(text, ServerOptions())
    assert (
        "Platform 'tensorflow': enable_session_metadata, num_tflite_interpreters accepted "
        "for compatibility but without effect in tensorserve"
    ) in caplog.text


def test_the_file_replaces_the_session_flags_and_says_which_it_ignores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "platforms.config"
    path.write_text(_entry("tensorflow", ""))
    options = ServerOptions(
        platform_config_file=str(path),
        tensorflow_intra_op_parallelism=7,
        saved_model_tags="other",
        port=8500,  # not a session flag: no word about it
    )
    with caplog.at_level(logging.WARNING):
        platforms = saved_model_platforms(options)
    assert platforms["tensorflow"].tensorflow.intra_op_parallelism == 0
    assert platforms["tensorflow"].tensorflow.saved_model_tags == frozenset({"serve"})
    assert (
        "--tensorflow_intra_op_parallelism, --saved_model_tags ignored: "
        "--platform_config_file configures the SavedModel platforms"
    ) in caplog.text


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_platform_config_file(tmp_path / "absent.config", ServerOptions())


def test_without_a_file_the_flags_make_the_tensorflow_platform(tmp_path: Path) -> None:
    batching_file = tmp_path / "batching.config"
    batching_file.write_text("max_batch_size { value: 8 }\n")
    options = ServerOptions(
        enable_batching=True,
        batching_parameters_file=str(batching_file),
        tensorflow_session_parallelism=2,
        tensorflow_intra_op_parallelism=3,
        enable_model_warmup=False,
        prefer_tflite_model=True,
        num_tflite_pools=5,
    )
    platform = saved_model_platforms(options)["tensorflow"]
    assert (platform.tensorflow.intra_op_parallelism, platform.tensorflow.inter_op_parallelism) == (
        3,
        2,
    )
    assert platform.tensorflow.enable_model_warmup is False
    assert platform.batching is not None and platform.batching.max_batch_size == 8
    assert (platform.prefer_tflite, platform.tflite_pools) == (True, 5)
    assert saved_model_platforms(ServerOptions())["tensorflow"].batching is None
    # --enable_batching without a file: TF Serving's defaults and pool name.
    batched = saved_model_platforms(ServerOptions(enable_batching=True))["tensorflow"]
    assert batched.batching == BatchingOptions()
    assert batched.batching.thread_pool_name == "model_server_batch_threads"


def test_with_a_file_the_session_flag_checks_are_not_made() -> None:
    # TF Serving checks --batching_parameters_file against --enable_batching, and the
    # three thread flags together, only when no platform config file replaces them.
    flags = {
        "model_base_path": "/models/m",
        "batching_parameters_file": "/b.config",
        "tensorflow_session_parallelism": 1,
        "tensorflow_intra_op_parallelism": 1,
        "tensorflow_inter_op_parallelism": 1,
    }
    with pytest.raises(InvalidArgument, match="batching_parameters_file is set without"):
        validate_server_options(ServerOptions(**flags))  # type: ignore[arg-type]
    validate_server_options(ServerOptions(platform_config_file="/p.config", **flags))  # type: ignore[arg-type]
