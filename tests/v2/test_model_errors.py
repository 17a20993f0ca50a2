from __future__ import annotations

from typing import Any

import pytest

from tensorserve.core.errors import InvalidArgument, NotFound
from tensorserve.v2.model_errors import (
    missing_signature,
    model_not_found,
    require_configured,
    unknown_model,
)


class Statuses:
    """The data plane calls ``unknown_model`` and ``require_configured`` make."""

    class repository:
        @staticmethod
        def index() -> list[Any]:
            return [type("Entry", (), {"name": "known"})()]

    def model_status(self, name: str, version: int | None = None) -> list[Any]:
        if name != "known":
            raise NotFound(f"Could not find any versions of model {name}")
        return ["END"]


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("nope", None, "Request for unknown model: 'nope' is not found"),
        ("known", None, "Request for unknown model: 'known' has no available versions"),
        ("known", 4, "Request for unknown model: 'known' version 4 is not found"),
    ],
)
def test_unknown_models_get_tritons_wording(name: str, version: int | None, message: str) -> None:
    error = unknown_model(Statuses(), name, version)  # type: ignore[arg-type]
    assert isinstance(error, NotFound)
    assert error.message == message


def test_model_not_found_and_missing_signature() -> None:
    assert model_not_found("m").message == "Request for unknown model: 'm' is not found"
    error = missing_signature("m")("other")
    assert isinstance(error, InvalidArgument)
    assert "signature 'other' not found in model 'm'" in error.message


def test_only_models_the_repository_lists_may_be_loaded() -> None:
    require_configured(Statuses(), "known")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="Request for unknown model: 'nope' is not found"):
        require_configured(Statuses(), "nope")  # type: ignore[arg-type]
