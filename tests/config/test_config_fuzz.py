"""Every config file reader, on hundreds of mutated files: it parses, or it raises a
ServingError with a clear message; nothing else escapes (issue 15: UnicodeDecodeError did).

Seeded (``TENSORSERVE_FUZZ_SEED``); the seed is in each failure's message."""

from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import HealthCheck, given, seed, settings

from tensorserve.config.model_server_config import read_model_server_config_file
from tensorserve.config.options import ServerOptions
from tensorserve.config.platform_config import read_platform_config_file
from tensorserve.config.text_protos import (
    read_batching_parameters_file,
    read_monitoring_config_file,
    read_ssl_config_file,
)
from tensorserve.core.errors import Code, ServingError
from tests.support.config_texts import KINDS, ConfigKind, mutated

SEED = int(os.environ.get("TENSORSERVE_FUZZ_SEED", "20261202"))
READERS = {
    "model_config_file": read_model_server_config_file,
    "batching_parameters_file": read_batching_parameters_file,
    "monitoring_config_file": read_monitoring_config_file,
    "ssl_config_file": read_ssl_config_file,
    "platform_config_file": lambda path: read_platform_config_file(path, ServerOptions()),
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.flag)
def test_a_mutated_file_parses_or_is_refused_clearly(
    kind: ConfigKind, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.txt"
    read = READERS[kind.flag]

    @seed(SEED)
    @settings(
        max_examples=150,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(kind))
    def one(raw: bytes) -> None:
        pathlib.Path(path).write_bytes(raw)
        try:
            read(path)
        except ServingError as error:
            # TF Serving's parse and validation texts, or which byte is not UTF-8.
            assert error.code is Code.INVALID_ARGUMENT, (SEED, raw, error)
            assert error.message and "<class" not in error.message, (SEED, raw, error)

    one()
