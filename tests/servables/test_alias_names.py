"""Alias-set texts shared by every platform, as TensorFlow Serving writes them."""

from __future__ import annotations

import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.servables.alias_names import join_sorted, resolve_output_aliases


def test_sets_render_sorted_and_comma_separated() -> None:
    assert join_sorted({"b", "a"}) == "a,b"
    assert join_sorted([]) == ""


def test_no_filter_means_every_output_in_sorted_order() -> None:
    assert resolve_output_aliases({"y", "x"}, ()) == ("x", "y")


def test_a_filter_keeps_its_order() -> None:
    assert resolve_output_aliases({"x", "y"}, ("y", "x")) == ("y", "x")


def test_an_unknown_alias_names_the_set() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_output_aliases({"y", "x"}, ("z",))
    assert caught.value.message == (
        "output tensor alias not found in signature: z Outputs expected to be in the set {x,y}."
    )


def test_a_repeated_alias_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_output_aliases({"x"}, ("x", "x"))
    assert caught.value.message == "duplicate output tensor alias: x"
