"""Which version directories of a servable the file-system source aspires to.

This is the *source-side* policy of ``ServableVersionPolicy`` in
``file_system_storage_path_source.proto`` (latest N / all / specific), not the
manager's load/unload policy. :func:`choose_versions` is a pure function of a
directory listing; it returns the chosen versions and the warnings TensorFlow
Serving logs, word for word, and leaves the logging to its caller.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# absl::SimpleAtoi in base 10: ASCII whitespace around, one optional sign, digits.
_DECIMAL_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*", re.ASCII)


@dataclasses.dataclass(frozen=True, slots=True)
class Latest:
    """Serve the ``num_versions`` highest-numbered versions (0 counts as 1)."""

    num_versions: int = 1

    def __str__(self) -> str:
        return f"latest {{ num_versions: {self.num_versions} }}"


@dataclasses.dataclass(frozen=True, slots=True)
class All:
    """Serve every numbered version directory."""

    def __str__(self) -> str:
        return "all {}"


@dataclasses.dataclass(frozen=True, slots=True)
class Specific:
    """Serve exactly these versions, those of them that exist."""

    versions: tuple[int, ...] = ()

    def __str__(self) -> str:
        return "specific { " + " ".join(f"versions: {v}" for v in self.versions) + " }"


ServableVersionPolicy = Latest | All | Specific


@dataclasses.dataclass(frozen=True, slots=True)
class VersionDirectory:
    """One child of a base path whose name is a version number."""

    version: int
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class VersionSelection:
    """What the policy chose from one listing, and the warnings to log."""

    versions: tuple[VersionDirectory, ...]
    warnings: tuple[str, ...] = ()


def parse_version_number(name: str) -> int | None:
    """The version a directory name denotes, or None when it is not a version.

    Matches absl ``SimpleAtoi`` into an int64: ``00000123`` -> 123, ``" +7 "``
    -> 7; ``v1``, ``1.0``, ``1_0``, ``tmp``, out-of-range numbers -> None.
    """
    match = _DECIMAL_INT.fullmatch(name)
    if match is None:
        return None
    number = int(match.group(1))
    return number if INT64_MIN <= number <= INT64_MAX else None


def no_versions_warning(servable_name: str, base_path: str) -> str:
    return (
        f"No versions of servable {servable_name} found under base path {base_path}. "
        "Did you forget to name your leaf directory as a number (eg. '/1/')?"
    )


def choose_versions(
    servable_name: str,
    base_path: str,
    children: Iterable[str],
    policy: ServableVersionPolicy,
) -> VersionSelection:
    """Apply ``policy`` to the child names of ``base_path``, as TensorFlow Serving does.

    Latest returns versions highest first, Specific lowest first, All in
    name order (emitting duplicates such as ``1`` and ``001`` both, as
    TensorFlow Serving does; the other policies keep one and warn).
    """
    names = sorted(set(children))
    warnings: list[str] = []
    chosen: list[VersionDirectory]
    if isinstance(policy, All):
        chosen = [
            VersionDirectory(number, name)
            for name in names
            if (number := parse_version_number(name)) is not None
        ]
    else:
        by_version = _index_by_version(names, warnings)
        if isinstance(policy, Latest):
            count = max(policy.num_versions, 1)
            chosen = [by_version[v] for v in sorted(by_version, reverse=True)[:count]]
        else:
            chosen = _choose_specific(servable_name, policy, by_version, warnings)
    if not chosen:
        warnings.append(no_versions_warning(servable_name, base_path))
    return VersionSelection(tuple(chosen), tuple(warnings))


def _index_by_version(names: list[str], warnings: list[str]) -> dict[int, VersionDirectory]:
    by_version: dict[int, VersionDirectory] = {}
    for name in names:
        number = parse_version_number(name)
        if number is None:
            continue
        if number in by_version:
            warnings.append(
                f"Duplicate version directories detected. Version {number} will be loaded "
                f"from {name}, {by_version[number].name} will be ignored."
            )
        by_version[number] = VersionDirectory(number, name)
    return by_version


def _choose_specific(
    servable_name: str,
    policy: Specific,
    by_version: dict[int, VersionDirectory],
    warnings: list[str],
) -> list[VersionDirectory]:
    if not policy.versions:
        warnings.append(f"No specific versions requested for servable {servable_name}.")
        return []
    wanted = dict.fromkeys(policy.versions)
    for version in wanted:
        if version not in by_version:
            warnings.append(
                f"Version {version} of servable {servable_name}, which was requested to be "
                "served as a 'specific' version in the servable's version policy, was not "
                "found in the file system"
            )
    return [by_version[v] for v in sorted(by_version) if v in wanted]
