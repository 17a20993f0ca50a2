"""Tests of TensorFlowOptions defaults and flag parsing."""

from __future__ import annotations

from tensorserve.platforms.tensorflow.options import TensorFlowOptions


def test_defaults_match_tensorflow_serving_flags() -> None:
    options = TensorFlowOptions()
    assert options.saved_model_tags == frozenset({"serve"})
    assert options.enable_model_warmup
    assert not options.enable_signature_method_name_check
    assert options.warmup_iterations == 1


def test_tags_flag_is_comma_separated() -> None:
    assert TensorFlowOptions.parse_tags("serve, gpu,,") == frozenset({"serve", "gpu"})


def test_warmup_iterations_override_when_positive() -> None:
    assert TensorFlowOptions(num_request_iterations_for_warmup=4).warmup_iterations == 4
