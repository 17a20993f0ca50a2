"""Servable identity and the requests clients make for a servable version."""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class ServableId:
    """One version of one servable stream, e.g. ``{name: mnist version: 3}``."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{{name: {self.name} version: {self.version}}}"


class RequestKind(enum.Enum):
    LATEST = "Latest"
    EARLIEST = "Earliest"
    SPECIFIC = "Specific"


@dataclasses.dataclass(frozen=True, slots=True)
class ServableRequest:
    """What a client asks the manager for; prints as TensorFlow Serving does."""

    name: str
    kind: RequestKind = RequestKind.LATEST
    version: int | None = None

    @classmethod
    def latest(cls, name: str) -> ServableRequest:
        return cls(name, RequestKind.LATEST)

    @classmethod
    def earliest(cls, name: str) -> ServableRequest:
        return cls(name, RequestKind.EARLIEST)

    @classmethod
    def specific(cls, name: str, version: int) -> ServableRequest:
        return cls(name, RequestKind.SPECIFIC, version)

    def __str__(self) -> str:
        if self.kind is RequestKind.SPECIFIC:
            return f"Specific({self.name}, {self.version})"
        return f"{self.kind.value}({self.name})"
