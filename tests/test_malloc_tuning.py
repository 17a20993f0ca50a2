"""The allocator settings apply on glibc and are harmless elsewhere."""

from __future__ import annotations

import platform

import pytest

from tensorserve.malloc_tuning import tune_malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_settings_apply_on_glibc() -> None:
    assert tune_malloc() is True
