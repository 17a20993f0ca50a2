"""Version policies: which single load or unload a servable stream needs next.

A policy is a pure function of a snapshot of one stream's versions (their
harness state and whether they are still aspired) and returns at most one
action. The manager asks every stream each tick, puts unloads before loads
(:func:`order_actions`) and executes the first. Policies hold no state and
are safe to share between threads.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Iterable, Sequence

from tensorserve.core.loader_harness import HarnessState
from tensorserve.core.servable_id import ServableId


@dataclasses.dataclass(frozen=True, slots=True)
class AspiredVersionState:
    """One version of a stream as a policy sees it."""

    id: ServableId
    state: HarnessState
    is_aspired: bool


class ActionKind(enum.Enum):
    LOAD = "load"
    UNLOAD = "unload"


@dataclasses.dataclass(frozen=True, slots=True)
class VersionAction:
    kind: ActionKind
    id: ServableId

    @classmethod
    def load(cls, servable_id: ServableId) -> VersionAction:
        return cls(ActionKind.LOAD, servable_id)

    @classmethod
    def unload(cls, servable_id: ServableId) -> VersionAction:
        return cls(ActionKind.UNLOAD, servable_id)


class VersionPolicy(abc.ABC):
    """Chooses the next action for one stream. Implementations must be pure."""

    @abc.abstractmethod
    def next_action(self, versions: Sequence[AspiredVersionState]) -> VersionAction | None:
        """The one action ``versions`` (all of one stream) needs now, or None."""


def _highest_new_aspired(versions: Sequence[AspiredVersionState]) -> VersionAction | None:
    candidates = [v.id for v in versions if v.is_aspired and v.state is HarnessState.NEW]
    if not candidates:
        return None
    return VersionAction.load(max(candidates, key=lambda i: i.version))


class AvailabilityPreservingPolicy(VersionPolicy):
    """Never leaves a stream without a serving version if it can help it.

    1. Let U be the un-aspired READY versions. If no version is aspired, or an
       aspired version is READY, or U has more than one member, unload the
       lowest-numbered member of U (when U is not empty).
    2. Otherwise load the highest-numbered aspired NEW version.

    So a new version loads while the old one serves, and the old one unloads
    once the new one is READY; if the new one fails, the old one stays.
    Peak memory holds both versions. TF Serving's model-server default.
    """

    def next_action(self, versions: Sequence[AspiredVersionState]) -> VersionAction | None:
        has_aspired = any(v.is_aspired for v in versions)
        has_aspired_ready = any(v.is_aspired and v.state is HarnessState.READY for v in versions)
        unaspired_ready = [
            v.id for v in versions if not v.is_aspired and v.state is HarnessState.READY
        ]
        if unaspired_ready and (not has_aspired or has_aspired_ready or len(unaspired_ready) > 1):
            return VersionAction.unload(min(unaspired_ready, key=lambda i: i.version))
        return _highest_new_aspired(versions)


class ResourcePreservingPolicy(VersionPolicy):
    """Never holds two versions of a stream in memory, at the cost of a serving gap.

    1. Unload the first un-aspired READY version found.
    2. Else, while any un-aspired version is not final (DISABLED or ERROR),
       do nothing: wait for its unload to finish.
    3. Else load the highest-numbered aspired NEW version.
    """

    def next_action(self, versions: Sequence[AspiredVersionState]) -> VersionAction | None:
        for version in versions:
            if not version.is_aspired and version.state is HarnessState.READY:
                return VersionAction.unload(version.id)
        if any(not v.is_aspired and not v.state.is_final for v in versions):
            return None
        return _highest_new_aspired(versions)


def order_actions(actions: Iterable[VersionAction]) -> list[VersionAction]:
    """Every unload before any load, keeping the given order otherwise."""
    return sorted(actions, key=lambda a: a.kind is ActionKind.LOAD)
