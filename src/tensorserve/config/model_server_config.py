"""ModelServerConfig: the list of models to serve, parsed and validated at the edge.

Text (``--model_config_file``) or a proto (gRPC ``HandleReloadConfigRequest``)
becomes a frozen :class:`ModelServerConfig`; :func:`validate_model_server_config`
and :func:`validate_version_labels` check it with TensorFlow Serving's exact
messages, in its order (``ServerCore::ReloadConfig``). Everything here is pure.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Iterable, Mapping, Set
from typing import Any

from tensorserve.config.text_protos import parse_text_proto, read_text_file
from tensorserve.core.errors import FailedPrecondition, InvalidArgument, Unimplemented
from tensorserve.protos.tfserving import (
    file_system_storage_path_source_pb2,
    model_server_config_pb2,
)
from tensorserve.sources.servable_version_policy import (
    All,
    Latest,
    ServableVersionPolicy,
    Specific,
)

TENSORFLOW_PLATFORM = "tensorflow"
ONNX_PLATFORM = "onnx"
_URI_SCHEME = re.compile(r"[a-zA-Z][0-9a-zA-Z.]*://")
PYTHON_PLATFORM = "python"
"""Python servables (``servable.py``); see ``platforms/python``."""
SUPPORTED_PLATFORMS = frozenset({TENSORFLOW_PLATFORM, ONNX_PLATFORM, PYTHON_PLATFORM})

_VersionPolicyProto = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig
_TENSORFLOW_MODEL_TYPE = model_server_config_pb2.TENSORFLOW
_UNSPECIFIED_MODEL_TYPE = model_server_config_pb2.MODEL_TYPE_UNSPECIFIED


@dataclasses.dataclass(frozen=True, slots=True)
class ModelConfig:
    """One model (``tensorflow.serving.ModelConfig``)."""

    name: str
    """Servable name clients use; unique within a config."""
    base_path: str
    """Absolute path or URI of the directory holding numbered version directories."""
    platform: str = TENSORFLOW_PLATFORM
    """Model platform; empty when the config named none (an error on validation)."""
    version_policy: ServableVersionPolicy = dataclasses.field(default_factory=Latest)
    """Which version directories to serve."""
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Label -> version, e.g. ``stable: 42``; read-only."""

    def __post_init__(self) -> None:
        labels = types.MappingProxyType(dict(self.version_labels))
        object.__setattr__(self, "version_labels", labels)

    def __hash__(self) -> int:  # the mapping proxy itself is unhashable
        labels = tuple(sorted(self.version_labels.items()))
        return hash((self.name, self.base_path, self.platform, self.version_policy, labels))


@dataclasses.dataclass(frozen=True, slots=True)
class ModelServerConfig:
    """The set of models to serve.

    ``has_model_list`` is False for an empty text proto (nothing set), which
    TensorFlow Serving treats as "take no action"; an empty *list* instead
    unloads every model.
    """

    models: tuple[ModelConfig, ...] = ()
    has_model_list: bool = True

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    """The config ``--model_name``/``--model_base_path`` stand for."""
    return ModelServerConfig((ModelConfig(name, base_path, TENSORFLOW_PLATFORM),))


def parse_model_server_config(text: str) -> ModelServerConfig:
    """Parse a ``ModelServerConfig`` text proto.

    Raises InvalidArgument ``Error parsing text-format tensorflow.serving.ModelServerConfig: …``.
    """
    return config_from_proto(parse_text_proto(text, model_server_config_pb2.ModelServerConfig))


def read_model_server_config_file(path: str | os.PathLike[str]) -> ModelServerConfig:
    return parse_model_server_config(read_text_file(path))


def config_from_proto(proto: Any) -> ModelServerConfig:
    """Convert a ``tensorflow.serving.ModelServerConfig`` message.

    Only ``model_config_list`` is supported; ``custom_model_config`` raises
    Unimplemented with the message of ``HandleReloadConfigRequest``.
    """
    which = proto.WhichOneof("config")
    if which is None:
        return ModelServerConfig((), has_model_list=False)
    if which != "model_config_list":
        raise Unimplemented(
            "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
            "ModelConfigList is currently supported"
        )
    return ModelServerConfig(tuple(_model_from_proto(m) for m in proto.model_config_list.config))


def config_to_proto(config: ModelServerConfig) -> Any:
    """The ``tensorflow.serving.ModelServerConfig`` message for ``config``."""
    proto = model_server_config_pb2.ModelServerConfig()
    if not config.has_model_list:
        return proto
    proto.model_config_list.SetInParent()
    for model in config.models:
        entry = proto.model_config_list.config.add(
            name=model.name, base_path=model.base_path, model_platform=model.platform
        )
        _policy_to_proto(model.version_policy, entry.model_version_policy)
        for label, version in model.version_labels.items():
            entry.version_labels[label] = version
    return proto


def _model_from_proto(proto: Any) -> ModelConfig:
    return ModelConfig(
        name=proto.name,
        base_path=proto.base_path,
        platform=_platform_from_proto(proto),
        version_policy=_policy_from_proto(proto.model_version_policy),
        version_labels=dict(proto.version_labels),
    )


def _platform_from_proto(proto: Any) -> str:
    """TensorFlow Serving's ``GetPlatform`` (deprecated ``model_type`` included)."""
    if proto.model_type == _UNSPECIFIED_MODEL_TYPE:
        return str(proto.model_platform)
    if proto.model_platform:
        raise InvalidArgument(
            "Illegal setting both ModelServerConfig::model_type (deprecated) and "
            "ModelServerConfig::model_platform."
        )
    if proto.model_type == _TENSORFLOW_MODEL_TYPE:
        return TENSORFLOW_PLATFORM
    raise InvalidArgument(f"ModelServerConfig::model_type choice {proto.model_type} not supported.")


def _policy_from_proto(proto: Any) -> ServableVersionPolicy:
    which = proto.WhichOneof("policy_choice")
    if which == "all":
        return All()
    if which == "specific":
        return Specific(tuple(proto.specific.versions))
    if which == "latest":
        return Latest(proto.latest.num_versions)
    return Latest()


def _policy_to_proto(policy: ServableVersionPolicy, proto: Any) -> None:
    if isinstance(policy, All):
        proto.all.SetInParent()
    elif isinstance(policy, Specific):
        proto.specific.versions.extend(policy.versions)
    else:
        proto.latest.num_versions = policy.num_versions


def version_policy_proto(policy: ServableVersionPolicy) -> Any:
    """``FileSystemStoragePathSourceConfig.ServableVersionPolicy`` for ``policy``."""
    proto = _VersionPolicyProto.ServableVersionPolicy()
    _policy_to_proto(policy, proto)
    return proto


def validate_model_server_config(
    config: ModelServerConfig,
    previous: ModelServerConfig | None = None,
    supported_platforms: Iterable[str] = SUPPORTED_PLATFORMS,
) -> None:
    """Raise the first error TensorFlow Serving would report for this (re)load.

    Order: duplicate names, relative base paths, platform changes against
    ``previous``, missing platform, unsupported platform.
    """
    seen: set[str] = set()
    for model in config.models:
        if model.name in seen:
            raise InvalidArgument(
                f"Illegal to list model {model.name} multiple times in config list"
            )
        seen.add(model.name)
    for model in config.models:
        if is_relative_uri(model.base_path):
            raise InvalidArgument(
                f"Expected model {model.name} to have an absolute path or URI; "
                f"got base_path()={model.base_path}"
            )
    if previous is not None:
        old_platforms = {m.name: m.platform for m in previous.models}
        for model in config.models:
            old = old_platforms.get(model.name)
            if old is None:
                continue
            _require_platform(model)
            if model.platform != old:
                raise InvalidArgument(
                    f"Illegal to change a model's platform. For model {model.name} platform "
                    f"was {old} and new platform requested is {model.platform}"
                )
    platforms = frozenset(supported_platforms)
    for model in config.models:
        _require_platform(model)
        if model.platform not in platforms:
            raise InvalidArgument(
                f"Model {model.name} requests unsupported platform {model.platform}"
            )


def _require_platform(model: ModelConfig) -> None:
    if not model.platform:
        raise InvalidArgument(
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {model.name}"
        )


def validate_version_labels(
    model: ModelConfig,
    available_versions: Set[int],
    current_labels: Mapping[str, int] | None = None,
    *,
    allow_labels_for_unavailable_models: bool = False,
) -> None:
    """Check every label of ``model`` points at an AVAILABLE version.

    With ``allow_labels_for_unavailable_models`` (the flag), a label may point
    at an unavailable version unless it already exists in ``current_labels``
    pointing elsewhere (moving a label still needs the target available).
    Raises FailedPrecondition with TensorFlow Serving's message.
    """
    current = current_labels or {}
    for label, version in model.version_labels.items():
        moves = label in current and current[label] != version
        if allow_labels_for_unavailable_models and not moves:
            continue
        if version not in available_versions:
            raise FailedPrecondition(
                f"Request to assign label to version {version} of model {model.name}, "
                "which is not currently available for inference"
            )


def is_relative_uri(uri: str) -> bool:
    """TensorFlow's ``UriIsRelativePath``: no ``scheme://`` and not starting with '/'."""
    return _URI_SCHEME.match(uri) is None and not uri.startswith("/")
