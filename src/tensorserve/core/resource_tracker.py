"""RAM accounting that decides whether one more version may load.

TF Serving's ``ResourceTracker`` with one resource (main RAM). Every version
from load approval until its unload finishes holds a reservation; a load
needing more than what is left waits while other loads or unloads are in
flight (they may free memory or fail) and is refused when nothing is.
"""

from __future__ import annotations

import threading

from tensorserve.core.errors import InsufficientResources
from tensorserve.core.loader import ResourceEstimate
from tensorserve.core.servable_id import ServableId


class ResourceTracker:
    """Reserves RAM for versions against a fixed budget. Thread-safe.

    ``total_ram_bytes=None`` is unlimited, which is what the stock model
    server does (its limit is not exposed as a flag).
    """

    def __init__(self, total_ram_bytes: int | None = None) -> None:
        self.total_ram_bytes = total_ram_bytes
        self._cond = threading.Condition()
        self._reserved: dict[ServableId, int] = {}
        self._in_flight = 0

    @property
    def used_ram_bytes(self) -> int:
        with self._cond:
            return sum(self._reserved.values())

    def reserve(self, servable_id: ServableId, estimate: ResourceEstimate) -> None:
        """Reserve ``estimate.during_load`` bytes and count a load in flight.

        Blocks while the budget is short and some load or unload is in flight,
        re-checking whenever one ends. Raises ``InsufficientResources`` when
        the budget is short and nothing is in flight. Every successful call
        must be followed by ``finish_load``.
        """
        needed = estimate.during_load
        with self._cond:
            while True:
                used = sum(b for i, b in self._reserved.items() if i != servable_id)
                if self.total_ram_bytes is None or used + needed <= self.total_ram_bytes:
                    self._reserved[servable_id] = needed
                    self._in_flight += 1
                    return
                if self._in_flight == 0:
                    raise InsufficientResources(servable_id.name, servable_id.version)
                self._cond.wait()

    def finish_load(self, servable_id: ServableId, loaded: ResourceEstimate | None) -> None:
        """End a load: keep ``loaded.ram_bytes`` (transient part dropped), or
        release everything when the load failed (``loaded=None``)."""
        with self._cond:
            if loaded is None:
                self._reserved.pop(servable_id, None)
            else:
                self._reserved[servable_id] = loaded.ram_bytes
            self._in_flight -= 1
            self._cond.notify_all()

    def start_unload(self) -> None:
        """Count an unload in flight from the moment it is decided."""
        with self._cond:
            self._in_flight += 1

    def finish_unload(self, servable_id: ServableId) -> None:
        """End an unload, releasing the version's reservation."""
        with self._cond:
            self._reserved.pop(servable_id, None)
            self._in_flight -= 1
            self._cond.notify_all()
