"""Whether this process can see a CUDA device, asked of the driver without TensorFlow.

TensorFlow's pip wheels carry CUDA support, so the first session a process opens
initialises CUDA. On a machine without a GPU driver that logs an ERROR line,
``failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN
ERROR (303)``, in every server start, which reads like a fault and is not one.
Asking the driver first (``cuInit``, then ``cuDeviceGetCount``) costs one
``dlopen`` and logs nothing; where it finds no device, the session is opened
with ``device_count {"GPU": 0}``, which skips TensorFlow's CUDA start-up and
so its line. The answer is the same as TensorFlow's would have been: a
driver that cannot be loaded or initialised gives TensorFlow no GPU either.
Where a device is visible, nothing changes and TensorFlow uses it.

The driver is asked at the first session, where TensorFlow would have
initialised CUDA itself, so no process initialises CUDA earlier than before
(which matters for a process that forks).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

DRIVER_LIBRARY = "libcuda.so.1"
"""The CUDA driver API, installed with the GPU driver (never by pip)."""

_SUCCESS = 0


@functools.cache
def cuda_device_count() -> int:
    """CUDA devices the driver shows this process (``CUDA_VISIBLE_DEVICES`` applied);
    0 when there is no driver or it fails to start. Asked once per process."""
    return count_devices(ctypes.CDLL)


def count_devices(load: Callable[[str], Any]) -> int:
    """:func:`cuda_device_count` with the library loader given (tests pass a fake)."""
    try:
        driver = load(DRIVER_LIBRARY)
    except OSError:
        return 0
    if driver.cuInit(0) != _SUCCESS:
        return 0
    count = ctypes.c_int(0)
    if driver.cuDeviceGetCount(ctypes.byref(count)) != _SUCCESS:
        return 0
    return max(count.value, 0)
