"""Tests of the RAM budget that admits or refuses loads."""

from __future__ import annotations

import threading

import pytest

from tensorserve.core.errors import Code, InsufficientResources
from tensorserve.core.loader import ResourceEstimate
from tensorserve.core.resource_tracker import ResourceTracker
from tensorserve.core.servable_id import ServableId

V1, V2 = ServableId("m", 1), ServableId("m", 2)


def test_unlimited_budget_admits_everything() -> None:
    tracker = ResourceTracker(None)
    tracker.reserve(V1, ResourceEstimate(10**15))
    tracker.reserve(V2, ResourceEstimate(10**15))
    assert tracker.used_ram_bytes == 2 * 10**15


def test_refuses_with_exact_message_when_nothing_is_in_flight() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(60))
    tracker.finish_load(V1, ResourceEstimate(60))
    with pytest.raises(InsufficientResources) as raised:
        tracker.reserve(V2, ResourceEstimate(50))
    assert str(raised.value) == "Insufficient resources to load servable {name: m version: 2}"
    assert raised.value.code is Code.RESOURCE_EXHAUSTED


def test_exact_fit_is_admitted() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(60))
    tracker.finish_load(V1, ResourceEstimate(60))
    tracker.reserve(V2, ResourceEstimate(40))


def test_transient_ram_counts_only_while_loading() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(50, transient_ram_bytes=40))
    assert tracker.used_ram_bytes == 90
    tracker.finish_load(V1, ResourceEstimate(50))
    assert tracker.used_ram_bytes == 50


def test_failed_load_releases_its_reservation() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(80))
    tracker.finish_load(V1, None)
    assert tracker.used_ram_bytes == 0


def test_short_reservation_waits_for_an_unload_in_flight() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(80))
    tracker.finish_load(V1, ResourceEstimate(80))
    tracker.start_unload()
    reserved = threading.Event()

    def reserve_v2() -> None:
        tracker.reserve(V2, ResourceEstimate(80))
        reserved.set()

    thread = threading.Thread(target=reserve_v2)
    thread.start()
    assert not reserved.wait(0.05)  # blocked: the unload of v1 may free memory
    tracker.finish_unload(V1)
    assert reserved.wait(5)
    thread.join(5)
    assert tracker.used_ram_bytes == 80


def test_waiting_reservation_fails_once_in_flight_work_frees_nothing() -> None:
    tracker = ResourceTracker(100)
    tracker.reserve(V1, ResourceEstimate(80))  # a load in flight
    errors: list[BaseException] = []

    def reserve_v2() -> None:
        try:
            tracker.reserve(V2, ResourceEstimate(80))
        except InsufficientResources as exc:
            errors.append(exc)

    thread = threading.Thread(target=reserve_v2)
    thread.start()
    tracker.finish_load(V1, ResourceEstimate(80))
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1
