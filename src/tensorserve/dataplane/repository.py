"""Model control: which configured models are served, and turning them on and off.

The data plane speaks to a :class:`ModelRepository` (Triton's repository
extension, in protocol-neutral terms); ``ServerCore`` implements it over the
current model config. :class:`StaticRepository` is the stand-in used when no
config is wired (tests, embedded use): it reports what the state monitor saw
and refuses load/unload.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from tensorserve.core.errors import Unimplemented
from tensorserve.core.servable_state import ManagerState, ServableState, ServableStateMonitor

READY = "READY"
UNAVAILABLE = "UNAVAILABLE"
LOADING = "LOADING"
UNLOADING = "UNLOADING"

_V2_STATES = {
    ManagerState.UNKNOWN: UNAVAILABLE,
    ManagerState.START: LOADING,
    ManagerState.LOADING: LOADING,
    ManagerState.AVAILABLE: READY,
    ManagerState.UNLOADING: UNLOADING,
    ManagerState.END: UNAVAILABLE,
}


@dataclasses.dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """One version of one model in the repository index.

    ``version`` is "" for a model with no version yet; ``state`` is one of
    ``READY``, ``UNAVAILABLE``, ``LOADING``, ``UNLOADING``; ``reason`` says why a
    version is not ready ("" when it is).
    """

    name: str
    version: str
    state: str
    reason: str


class ModelRepository(Protocol):
    """The models the server may serve. Call the async methods from the event loop."""

    def index(self) -> list[RepositoryEntry]:
        """Every model of the current config with each version's state, by name then version."""
        ...

    def readiness(self) -> tuple[bool, Mapping[str, str]]:
        """(every served model has an AVAILABLE version, why each that has not is not)."""
        ...

    async def load(self, name: str) -> None:
        """Serve ``name`` again with its configured version policy.

        Returns once a version is AVAILABLE; raises the load's error if it
        failed, NotFound for a name not in the config.
        """
        ...

    async def unload(self, name: str) -> None:
        """Stop serving ``name``: its versions go UNLOADING -> END; returns when done.

        NotFound for a name not in the config.
        """
        ...


def entries_of(
    name: str, states: Mapping[int, ServableState], reason: str
) -> list[RepositoryEntry]:
    """Index entries for one model from its version states, oldest version first.

    ``reason`` explains a model with no version at all.
    """
    if not states:
        return [RepositoryEntry(name, "", UNAVAILABLE, reason)]
    return [
        RepositoryEntry(name, str(version), _V2_STATES[state.state], _reason(state))
        for version, state in sorted(states.items())
    ]


def _reason(state: ServableState) -> str:
    if state.error is not None:
        return state.error.message
    if state.state is ManagerState.END:
        return "unloaded"
    return ""


class StaticRepository:
    """A repository of whatever models the monitor has seen; no model control."""

    def __init__(self, states: ServableStateMonitor) -> None:
        self._states = states

    def index(self) -> list[RepositoryEntry]:
        return [
            entry
            for name in self._states.names()
            for entry in entries_of(name, self._states.versions(name), "")
        ]

    def readiness(self) -> tuple[bool, Mapping[str, str]]:
        not_ready = {
            name: f"{name}: no version is available"
            for name in self._states.names()
            if not any(
                s.state is ManagerState.AVAILABLE for s in self._states.versions(name).values()
            )
        }
        return not not_ready, not_ready

    async def load(self, name: str) -> None:
        raise Unimplemented("This server has no model repository to load models from.")

    async def unload(self, name: str) -> None:
        raise Unimplemented("This server has no model repository to unload models from.")
