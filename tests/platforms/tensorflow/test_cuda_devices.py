"""Asking the CUDA driver for devices without TensorFlow, and what a server without one
prints: no ERROR line from TensorFlow's CUDA start-up."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tensorserve.platforms.tensorflow.cuda_devices import (
    DRIVER_LIBRARY,
    count_devices,
    cuda_device_count,
)
from tests.support import saved_models


class _Driver:
    """The two driver calls made, answering with the given result codes."""

    def __init__(self, init: int = 0, count: int = 2, get_count: int = 0) -> None:
        self._init, self._count, self._get_count = init, count, get_count

    def cuInit(self, flags: int) -> int:
        assert flags == 0
        return self._init

    def cuDeviceGetCount(self, out: Any) -> int:
        ctypes.cast(out, ctypes.POINTER(ctypes.c_int))[0] = self._count
        return self._get_count


def _loader(driver: _Driver | None) -> Any:
    def load(name: str) -> _Driver:
        assert name == DRIVER_LIBRARY
        if driver is None:
            raise OSError(f"{name}: cannot open shared object file")
        return driver

    return load


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        (None, 0),  # no GPU driver installed: the usual CPU machine
        (_Driver(init=100), 0),  # CUDA_ERROR_NO_DEVICE (CUDA_VISIBLE_DEVICES="")
        (_Driver(init=303), 0),  # a driver that fails to start
        (_Driver(get_count=3), 0),
        (_Driver(count=2), 2),
    ],
)
def test_devices_are_counted_only_when_the_driver_starts(
    driver: _Driver | None, expected: int
) -> None:
    assert count_devices(_loader(driver)) == expected


_LOAD = """
import sys
import numpy as np
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
loader = SavedModelLoader(ServableId("m", 1), sys.argv[1])
loader.load()
outputs = loader.servable().predict("serving_default", {"x": np.ones((1, 1), np.float32)})
print(outputs["y"].tolist())
"""


@pytest.mark.skipif(cuda_device_count() > 0, reason="a CUDA device is visible here")
def test_without_a_cuda_device_a_load_logs_no_cuda_error(tmp_path: Path) -> None:
    version = saved_models.write_half_plus_two(tmp_path / "m" / "1")
    ran = subprocess.run(
        [sys.executable, "-c", _LOAD, str(version)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[[2.5]]"
    # TensorFlow's own line when it starts CUDA without a driver; the load skips that start.
    assert "cuInit" not in ran.stderr
