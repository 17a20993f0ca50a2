"""Test-wide settings and session fixtures.

TensorFlow's log level is set before anything imports it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

if TYPE_CHECKING:
    from tensorserve.demo.setup import DemoPaths


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """The MNIST demo trained, exported and sampled once per session (~40 s on 2 cores)."""
    from tensorserve.demo.setup import prepare_demo

    return prepare_demo(tmp_path_factory.mktemp("demo"), progress=False)
