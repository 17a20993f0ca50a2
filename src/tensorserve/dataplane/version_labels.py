"""Version labels (``stable`` -> 42) from the model config, resolved per request."""

from __future__ import annotations

import types
from collections.abc import Mapping

from tensorserve.core.errors import UnknownVersionLabel


class VersionLabels:
    """An immutable name -> {label: version} table; replaced whole when the config changes,
    so readers need no lock."""

    def __init__(self, labels: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self._labels: Mapping[str, Mapping[str, int]] = types.MappingProxyType(
            {name: types.MappingProxyType(dict(m)) for name, m in (labels or {}).items()}
        )

    def resolve(self, name: str, label: str) -> int:
        """The version ``label`` points to for model ``name``."""
        version = self._labels.get(name, {}).get(label)
        if version is None:
            raise UnknownVersionLabel(label)
        return version

    def as_dict(self) -> dict[str, dict[str, int]]:
        """A plain copy (for a transport worker's snapshot)."""
        return {name: dict(labels) for name, labels in self._labels.items()}

    def for_model(self, name: str) -> Mapping[str, int]:
        return self._labels.get(name, types.MappingProxyType({}))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionLabels) and dict(self._labels) == dict(other._labels)

    def __hash__(self) -> int:
        return hash(tuple(sorted((n, tuple(sorted(m.items()))) for n, m in self._labels.items())))
