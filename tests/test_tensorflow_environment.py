"""The server's TensorFlow environment defaults leave what the user set alone, and
``--mixed_precision`` says what it will do under them."""

from __future__ import annotations

import logging

import pytest

from tensorserve.tensorflow_environment import (
    check_mixed_precision,
    onednn_enabled,
    set_serving_defaults,
)


def test_onednn_is_off_and_logs_quiet_by_default() -> None:
    environ: dict[str, str] = {}
    set_serving_defaults(environ)
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "1"}


def test_an_empty_onednn_setting_counts_as_unset() -> None:
    environ = {"TF_ENABLE_ONEDNN_OPTS": ""}
    set_serving_defaults(environ)
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_what_the_user_set_is_kept() -> None:
    environ = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    set_serving_defaults(environ)
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.parametrize(
    ("mode", "onednn", "level", "message"),
    [
        ("bfloat16", "1", logging.INFO, "Running inference with bfloat16 auto mixed precision"),
        (
            "bfloat16",
            "0",
            logging.WARNING,
            "--mixed_precision=bfloat16 has no effect while oneDNN's custom ops are off; "
            "the server turns them off unless TF_ENABLE_ONEDNN_OPTS=1 is set",
        ),
        (
            "float16",
            "1",
            logging.WARNING,
            "float16 auto mixed precision is not supported. Valid option: bfloat16",
        ),
    ],
)
def test_mixed_precision_says_what_it_will_do(
    caplog: pytest.LogCaptureFixture, mode: str, onednn: str, level: int, message: str
) -> None:
    with caplog.at_level(logging.INFO, logger="tensorserve.tensorflow_environment"):
        check_mixed_precision(mode, {"TF_ENABLE_ONEDNN_OPTS": onednn})
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, message)]


def test_no_mixed_precision_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tensorserve.tensorflow_environment"):
        check_mixed_precision("", {})
    assert caplog.records == []
    assert onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": "True"})
    assert not onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": "0"})
