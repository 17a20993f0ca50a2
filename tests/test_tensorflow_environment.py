"""The server's TensorFlow environment defaults leave what the user set alone."""

from __future__ import annotations

from tensorserve.tensorflow_environment import set_serving_defaults


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
