"""ModelServerConfig parsing, conversion and TensorFlow Serving's validation messages."""

from __future__ import annotations

import pathlib

import pytest
from tensorflow_serving.config import model_server_config_pb2

from tensorserve.config.model_server_config import (
    ModelConfig,
    ModelServerConfig,
    config_from_proto,
    config_to_proto,
    is_relative_uri,
    parse_model_server_config,
    read_model_server_config_file,
    single_model_config,
    validate_model_server_config,
    validate_version_labels,
)
from tensorserve.core.errors import Code, ServingError
from tensorserve.sources.servable_version_policy import All, Latest, Specific

SAMPLE = """
model_config_list {
  config {
    name: "my_model"                 # must be unique
    base_path: "/models/my_model"    # absolute path or URI, no version dir
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: "stable" value: 42 }
    version_labels { key: "canary" value: 43 }
  }
  config {
    name: "other"
    base_path: "s3://bucket/other"
    model_platform: "tensorflow"
    model_version_policy { all {} }
  }
}
"""


def error_of(call: object, *args: object, **kwargs: object) -> ServingError:
    with pytest.raises(ServingError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def model(name: str, base_path: str = "/m", platform: str = "tensorflow") -> ModelConfig:
    return ModelConfig(name, base_path, platform)


def test_sample_config_from_the_docs_parses() -> None:
    config = parse_model_server_config(SAMPLE)
    assert config.names == ("my_model", "other")
    first = config.model("my_model")
    assert first == ModelConfig(
        "my_model", "/models/my_model", "tensorflow", Specific((42, 43)),
        {"stable": 42, "canary": 43},
    )  # fmt: skip
    assert dict(first.version_labels) == {"stable": 42, "canary": 43}  # type: ignore[union-attr]
    assert config.model("other").version_policy == All()  # type: ignore[union-attr]
    validate_model_server_config(config)


def test_default_policy_is_latest_one() -> None:
    config = parse_model_server_config(
        'model_config_list { config { name: "m" base_path: "/m" model_platform: "tensorflow" } }'
    )
    assert config.models[0].version_policy == Latest(1)


def test_deprecated_model_type_means_tensorflow() -> None:
    config = parse_model_server_config(
        'model_config_list { config { name: "m" base_path: "/m" model_type: TENSORFLOW } }'
    )
    assert config.models[0].platform == "tensorflow"


def test_model_type_and_platform_together_are_rejected() -> None:
    error = error_of(
        parse_model_server_config,
        'model_config_list { config { name: "m" base_path: "/m" model_type: TENSORFLOW '
        'model_platform: "tensorflow" } }',
    )
    assert error.message == (
        "Illegal setting both ModelServerConfig::model_type (deprecated) and "
        "ModelServerConfig::model_platform."
    )


def test_parse_error_uses_tensorflows_wording() -> None:
    error = error_of(parse_model_server_config, "model_config_list { config { nme: 1 } }")
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message.startswith(
        "Error parsing text-format tensorflow.serving.ModelServerConfig: 1:"
    )
    assert 'has no field named "nme"' in error.message


def test_empty_text_is_a_config_with_no_model_list() -> None:
    config = parse_model_server_config("")
    assert config == ModelServerConfig((), has_model_list=False)
    assert parse_model_server_config("model_config_list {}").has_model_list


def test_custom_model_config_is_unsupported() -> None:
    proto = model_server_config_pb2.ModelServerConfig()
    proto.custom_model_config.type_url = "type.googleapis.com/x"
    error = error_of(config_from_proto, proto)
    assert error.code is Code.UNIMPLEMENTED
    assert error.message == (
        "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
        "ModelConfigList is currently supported"
    )


def test_proto_round_trip() -> None:
    config = parse_model_server_config(SAMPLE)
    assert config_from_proto(config_to_proto(config)) == config
    latest = ModelServerConfig((ModelConfig("m", "/m", version_policy=Latest(3)),))
    assert config_from_proto(config_to_proto(latest)) == latest
    empty = ModelServerConfig((), has_model_list=False)
    assert config_from_proto(config_to_proto(empty)) == empty


def test_model_configs_are_hashable_and_read_only() -> None:
    first = parse_model_server_config(SAMPLE).models[0]
    assert hash(first) == hash(parse_model_server_config(SAMPLE).models[0])
    with pytest.raises(TypeError):
        first.version_labels["x"] = 1  # type: ignore[index]


def test_read_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.config"
    path.write_text(SAMPLE)
    assert read_model_server_config_file(path).names == ("my_model", "other")
    missing = error_of(read_model_server_config_file, tmp_path / "nope")
    assert missing.code is Code.NOT_FOUND


def test_a_file_of_binary_garbage_is_an_invalid_argument(tmp_path: pathlib.Path) -> None:
    # Issue 15: random bytes raised UnicodeDecodeError, which killed the config poller.
    path = tmp_path / "models.config"
    path.write_bytes(b"model_config_list {\xff\xfe\x00 }")
    error = error_of(read_model_server_config_file, path)
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == (
        f"{path} is not UTF-8 text: byte 0xff at offset 19 (invalid start byte)"
    )


def test_single_model_config() -> None:
    assert single_model_config("m", "/models/m").models == (ModelConfig("m", "/models/m"),)


def test_duplicate_names_are_rejected() -> None:
    error = error_of(validate_model_server_config, ModelServerConfig((model("m"), model("m"))))
    assert error.code is Code.INVALID_ARGUMENT
    assert error.message == "Illegal to list model m multiple times in config list"


@pytest.mark.parametrize("path", ["models/m", "", "./m", "s3:/bucket"])
def test_relative_base_paths_are_rejected(path: str) -> None:
    error = error_of(validate_model_server_config, ModelServerConfig((model("m", path),)))
    assert error.message == (
        f"Expected model m to have an absolute path or URI; got base_path()={path}"
    )


def test_uri_relativity() -> None:
    assert not is_relative_uri("/abs")
    assert not is_relative_uri("s3://bucket/m")
    assert not is_relative_uri("gs://bucket")
    assert is_relative_uri("rel/path")


def test_platform_change_is_rejected() -> None:
    previous = ModelServerConfig((model("m", platform="tensorflow"),))
    error = error_of(
        validate_model_server_config,
        ModelServerConfig((model("m", platform="onnx"),)),
        previous,
        supported_platforms={"tensorflow", "onnx"},
    )
    assert error.message == (
        "Illegal to change a model's platform. For model m platform was tensorflow and new "
        "platform requested is onnx"
    )


def test_missing_platform_is_rejected() -> None:
    error = error_of(validate_model_server_config, ModelServerConfig((model("m", platform=""),)))
    assert error.message == (
        "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
        "ModelServerConfig::model_platform, model name is m"
    )


def test_unknown_platform_is_rejected() -> None:
    error = error_of(validate_model_server_config, ModelServerConfig((model("m", platform="pt"),)))
    assert error.message == "Model m requests unsupported platform pt"


def test_labels_must_point_at_available_versions() -> None:
    labelled = ModelConfig("m", "/m", version_labels={"stable": 42})
    validate_version_labels(labelled, {42})
    error = error_of(validate_version_labels, labelled, {41})
    assert error.code is Code.FAILED_PRECONDITION
    assert error.message == (
        "Request to assign label to version 42 of model m, which is not currently available "
        "for inference"
    )


def test_flag_allows_new_labels_for_unavailable_versions_but_not_moves() -> None:
    labelled = ModelConfig("m", "/m", version_labels={"stable": 42})
    validate_version_labels(labelled, set(), allow_labels_for_unavailable_models=True)
    validate_version_labels(
        labelled, set(), {"stable": 42}, allow_labels_for_unavailable_models=True
    )
    error = error_of(
        validate_version_labels, labelled, {41}, {"stable": 41},
        allow_labels_for_unavailable_models=True,
    )  # fmt: skip
    assert error.code is Code.FAILED_PRECONDITION
