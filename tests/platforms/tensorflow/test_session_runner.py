"""Tests of the session runner's error mapping and timeout conversion."""

from __future__ import annotations

import tensorflow as tf

from tensorserve.core import errors
from tensorserve.core.errors import Code
from tensorserve.platforms.tensorflow.session_runner import serving_error, timeout_ms


def test_tensorflow_errors_keep_their_code_and_message() -> None:
    error = serving_error(tf.errors.DeadlineExceededError(None, None, "Timed out"))
    assert isinstance(error, errors.DeadlineExceeded)
    assert error.code is Code.DEADLINE_EXCEEDED
    assert error.message == "Timed out"
    aborted = serving_error(tf.errors.AbortedError(None, None, "stop"))
    assert aborted.code is Code.ABORTED


def test_timeout_ms_rounds_up_to_a_few_cacheable_values() -> None:
    assert timeout_ms(None) is None
    assert timeout_ms(0) is None
    assert timeout_ms(-1.0) is None
    assert timeout_ms(0.0001) == 100
    assert timeout_ms(0.3) == 300
    assert timeout_ms(0.95) == 1000
    assert timeout_ms(30.0) == 30000
    assert timeout_ms(19.998) == 20000
    assert timeout_ms(1.5) == 2000
