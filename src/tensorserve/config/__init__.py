"""Configuration parsed at the edge: flags, ModelServerConfig and other text protos."""

from tensorserve.config.flags import parse_flags, usage, validate_server_options
from tensorserve.config.model_server_config import (
    ModelConfig,
    ModelServerConfig,
    config_from_proto,
    config_to_proto,
    parse_model_server_config,
    read_model_server_config_file,
    single_model_config,
    validate_model_server_config,
    validate_version_labels,
)
from tensorserve.config.options import ServerOptions
from tensorserve.config.text_protos import (
    MonitoringConfig,
    SslConfig,
    read_batching_parameters_file,
    read_monitoring_config_file,
    read_ssl_config_file,
)

__all__ = [
    "ModelConfig",
    "ModelServerConfig",
    "MonitoringConfig",
    "ServerOptions",
    "SslConfig",
    "config_from_proto",
    "config_to_proto",
    "parse_flags",
    "parse_model_server_config",
    "read_batching_parameters_file",
    "read_model_server_config_file",
    "read_monitoring_config_file",
    "read_ssl_config_file",
    "single_model_config",
    "usage",
    "validate_model_server_config",
    "validate_server_options",
    "validate_version_labels",
]
