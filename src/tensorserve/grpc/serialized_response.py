"""A response handed to the gRPC server already in its wire format.

A servicer that writes a message's bytes itself (a Predict answer with megabytes of
values, where building the message costs several times what writing it does) returns a
:class:`SerializedResponse`; :func:`passing_serialized` wraps a method's serializer so
that such a response goes to the wire as it is, and any other is serialized as before.
Every server kind registers its handlers through
:func:`~tensorserve.grpc.request_decoding.checked_method_handler`, which applies it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class SerializedResponse:
    """The bytes of a response message, exactly as its serializer would write them."""

    data: bytes


def passing_serialized(
    serializer: Callable[[Any], bytes] | None,
) -> Callable[[Any], bytes] | None:
    """``serializer``, passing a :class:`SerializedResponse`'s bytes through unchanged."""
    if serializer is None:
        return None

    def serialize(response: Any) -> bytes:
        if type(response) is SerializedResponse:
            return response.data
        return serializer(response)

    return serialize
