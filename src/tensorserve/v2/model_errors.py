"""V2's wording for a model that cannot answer, shared by the REST and gRPC codecs.

The data plane reports TensorFlow Serving's texts ("Servable not found for
request: Latest(m)"); V2 clients see Triton's instead (OIP spec §3.4, §5.6):
``Request for unknown model: 'm' is not found``, ``... version 3 is not found``,
or ``... has no available versions`` for a model that exists but serves no
version. A missing signature is a client mistake (INVALID_ARGUMENT).
Thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable

from tensorserve.core.errors import InvalidArgument, NotFound
from tensorserve.dataplane import DataPlane


def model_not_found(name: str) -> NotFound:
    """Triton's error for a model name the server does not know."""
    return NotFound(f"Request for unknown model: '{name}' is not found")


def require_configured(dataplane: DataPlane, name: str) -> None:
    """Raise V2's not-found error unless the repository lists ``name`` (a load or unload
    of a listed model then fails, if it does, with its own error)."""
    if not any(entry.name == name for entry in dataplane.repository.index()):
        raise model_not_found(name)


def unknown_model(dataplane: DataPlane, name: str, version: int | None) -> NotFound:
    """Triton's error for a model (version) that cannot serve a request."""
    if version is not None:
        return NotFound(f"Request for unknown model: '{name}' version {version} is not found")
    try:
        known = bool(dataplane.model_status(name))
    except NotFound:
        known = False
    if known:
        return NotFound(f"Request for unknown model: '{name}' has no available versions")
    return model_not_found(name)


def missing_signature(model_name: str) -> Callable[[str], InvalidArgument]:
    """The data plane's ``missing_signature`` for V2: the signature a request named (with
    the ``signature_name`` parameter, or ``serving_default``) is not in the model."""

    def error(signature_name: str) -> InvalidArgument:
        return InvalidArgument(
            f"signature '{signature_name}' not found in model '{model_name}' "
            "(choose one with the request parameter 'signature_name')"
        )

    return error
