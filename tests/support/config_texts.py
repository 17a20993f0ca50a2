"""Hypothesis strategies for config files the server reads: good text protos, and
mutations of them (truncated, junk inserted, binary) that usually no longer parse.

One ``ConfigKind`` per flag that names a text-proto file; ``parse`` is the server's
own reader of that file, so a test can keep only the texts it refuses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from tensorflow_serving.config import model_server_config_pb2

from tensorserve.config.model_server_config import (
    parse_model_server_config,
    validate_model_server_config,
)
from tensorserve.config.options import ServerOptions
from tensorserve.config.platform_config import parse_platform_config
from tensorserve.config.text_protos import (
    parse_batching_parameters,
    parse_monitoring_config,
    parse_ssl_config,
)
from tensorserve.core.errors import ServingError

FAKE_PEM = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"


def _model_config(text: str) -> Any:
    config = parse_model_server_config(text)
    validate_model_server_config(config)
    return config


def _batching(text: str) -> Any:
    from tensorserve.batching.options import BatchingOptions

    config = parse_batching_parameters(text)
    return BatchingOptions(  # what the server builds from it, which validates more
        max_batch_size=config.execution_batch_size,
        batch_timeout_micros=config.batch_timeout_micros,
        max_enqueued_batches=config.max_enqueued_batches,
        num_batch_threads=config.num_batch_threads,
        allowed_batch_sizes=config.allowed_batch_sizes,
    )


@dataclasses.dataclass(frozen=True)
class ConfigKind:
    flag: str
    good: str
    parse: Callable[[str], Any]

    def refuses(self, raw: bytes) -> bool:
        """True when the server's reader rejects ``raw`` with a ServingError."""
        try:
            self.parse(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return True
        except ServingError:
            return True
        return False


MODEL_CONFIG = ConfigKind(
    "model_config_file",
    'model_config_list { config { name: "m" base_path: "/models/m" model_platform: "tensorflow"'
    " model_version_policy { specific { versions: 1 versions: 2 } }"
    ' version_labels { key: "stable" value: 1 } } }',
    _model_config,
)
BATCHING = ConfigKind(
    "batching_parameters_file",
    "max_batch_size { value: 8 } batch_timeout_micros { value: 100 }"
    " max_enqueued_batches { value: 10 } num_batch_threads { value: 2 }"
    " allowed_batch_sizes: 4 allowed_batch_sizes: 8",
    _batching,
)
MONITORING = ConfigKind(
    "monitoring_config_file",
    'prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }',
    parse_monitoring_config,
)
SSL = ConfigKind(
    "ssl_config_file",
    f'server_key: "{FAKE_PEM}" server_cert: "{FAKE_PEM}" custom_ca: "{FAKE_PEM}"'
    " client_verify: true",
    parse_ssl_config,
)
PLATFORM_CONFIG = ConfigKind(
    "platform_config_file",
    'platform_configs { key: "tensorflow" value { source_adapter_config {'
    " [type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig] {"
    " legacy_config { session_config { intra_op_parallelism_threads: 2 }"
    " batching_parameters { max_batch_size { value: 8 } allowed_batch_sizes: 8 }"
    ' saved_model_tags: "serve" enable_model_warmup: true } } } } }',
    lambda text: parse_platform_config(text, ServerOptions()),
)
KINDS = (MODEL_CONFIG, BATCHING, MONITORING, SSL, PLATFORM_CONFIG)

JUNK = [
    "{",
    "}",
    '"',
    ":",
    "-1",
    "0",
    "99999999999999999999999",
    "1e400",
    "nan",
    "\\",
    '"\\xff"',
    " max_batch_size { value: 0 }",
    " num_batch_threads { value: -3 }",
    " allowed_batch_sizes: 3",
    " config { }",
    ' config { name: "m" base_path: "rel" }',
    " unknown_field: 1",
    ' session_target: "grpc://x"',
    ' platform_configs { key: "onnx" }',
    " [type.googleapis.com/tensorflow.serving.BatchingParameters] { }",
    " { " * 300,
    "\x00",
    "\u00e9",
]


@st.composite
def mutated(draw: st.DrawFn, kind: ConfigKind) -> bytes:
    """``kind.good`` cut, spliced with junk, or replaced by random bytes."""
    choice = draw(st.integers(0, 3))
    if choice == 3:
        return draw(st.binary(min_size=1, max_size=200))
    text = kind.good
    if choice == 0:
        return text[: draw(st.integers(0, len(text) - 1))].encode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if choice == 1:
            text = text[:at] + draw(st.sampled_from(JUNK)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
    return text.encode("utf-8")


def refused(kind: ConfigKind) -> st.SearchStrategy[bytes]:
    """Mutations the server's reader rejects."""
    return mutated(kind).filter(kind.refuses)


@st.composite
def invalid_model_server_configs(
    draw: st.DrawFn, served: str, base_path: str
) -> model_server_config_pb2.ModelServerConfig:
    """A ModelServerConfig that validation rejects before changing anything, for a server
    that serves ``served`` from ``base_path``: TF Serving's reload errors."""
    config = model_server_config_pb2.ModelServerConfig()
    models = config.model_config_list.config
    steady = models.add(name=served, base_path=base_path, model_platform="tensorflow")
    problem = draw(st.integers(0, 5))
    if problem == 0:
        models.add().CopyFrom(steady)  # listed twice
    elif problem == 1:
        models.add(name=draw(st.text(min_size=1, max_size=8)), base_path="relative/path")
        models[-1].model_platform = "tensorflow"
    elif problem == 2:
        models.add(name="other", base_path="/models/other")  # neither type nor platform
    elif problem == 3:
        models.add(name="other", base_path="/models/other", model_platform="tensorflow")
        models[-1].model_type = model_server_config_pb2.TENSORFLOW  # both set
    elif problem == 4:  # a label on a version of the served model that is not available
        steady.version_labels[draw(st.text(min_size=1, max_size=8))] = draw(
            st.integers(1000, 2**63 - 1)
        )
    else:
        config.custom_model_config.type_url = draw(st.text(max_size=20))
    return config
