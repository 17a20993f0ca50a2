"""Tests of the LoaderHarness state machine and its load retries."""

from __future__ import annotations

import threading

import pytest

from tensorserve.core.errors import Code, InvalidArgument, ServingError
from tensorserve.core.fakes import ALWAYS, FakeLoader
from tensorserve.core.loader_harness import (
    HarnessState,
    IllegalTransition,
    LoaderHarness,
    LoadTimedOut,
    RetryOptions,
)
from tensorserve.core.servable_id import ServableId

ID = ServableId("m", 1)
NO_WAIT = RetryOptions(max_num_load_retries=5, load_retry_interval_s=0.0)


def approved(loader: FakeLoader, retry: RetryOptions = NO_WAIT) -> LoaderHarness:
    harness = LoaderHarness(ID, loader, retry)
    harness.load_requested()
    harness.load_approved()
    return harness


def test_full_lifecycle_passes_every_state_in_order() -> None:
    loader = FakeLoader()
    harness = LoaderHarness(ID, loader, NO_WAIT)
    assert harness.state is HarnessState.NEW
    harness.load_requested()
    assert harness.state is HarnessState.LOAD_REQUESTED
    harness.load_approved()
    harness.load()
    assert harness.state is HarnessState.READY
    assert loader.servable_object.loaded
    harness.unload_requested()
    harness.start_quiescing()
    assert harness.state is HarnessState.QUIESCING
    harness.done_quiescing()
    harness.unload()
    assert harness.state is HarnessState.DISABLED
    assert harness.error is None
    assert loader.unload_calls == 1


def test_skipping_a_state_raises_illegal_transition() -> None:
    harness = LoaderHarness(ID, FakeLoader(), NO_WAIT)
    with pytest.raises(IllegalTransition) as raised:
        harness.load()
    assert raised.value.code is Code.FAILED_PRECONDITION
    assert raised.value.current is HarnessState.NEW
    assert harness.state is HarnessState.NEW


def test_unload_of_a_version_not_ready_is_illegal() -> None:
    harness = approved(FakeLoader())
    with pytest.raises(IllegalTransition):
        harness.unload_requested()


def test_final_states_cannot_fail_again() -> None:
    harness = LoaderHarness(ID, FakeLoader(), NO_WAIT)
    harness.fail(InvalidArgument("bad"))
    assert harness.state is HarnessState.ERROR
    with pytest.raises(IllegalTransition):
        harness.fail(InvalidArgument("again"))
    with pytest.raises(IllegalTransition):
        harness.load_requested()


def test_load_retries_then_succeeds() -> None:
    loader = FakeLoader(failing_loads=3)
    harness = approved(loader)
    harness.load()
    assert harness.state is HarnessState.READY
    assert loader.load_calls == 4


def test_default_retries_make_six_attempts_then_error_keeps_the_last_error() -> None:
    error = InvalidArgument("broken model")
    loader = FakeLoader(failing_loads=ALWAYS, load_error=error)
    harness = approved(loader)
    with pytest.raises(ServingError) as raised:
        harness.load()
    assert raised.value is error
    assert loader.load_calls == 6
    assert harness.state is HarnessState.ERROR
    assert harness.error is error


def test_non_serving_exception_is_kept_as_unknown_error() -> None:
    class Boom(FakeLoader):
        def load(self) -> None:
            raise ValueError("no")

    harness = approved(Boom(), RetryOptions(0, 0.0))
    with pytest.raises(ServingError):
        harness.load()
    assert harness.error is not None
    assert harness.error.code is Code.UNKNOWN
    assert "ValueError: no" in harness.error.message


def test_cancelling_retries_stops_after_the_current_attempt() -> None:
    gate = threading.Event()
    loader = FakeLoader(failing_loads=ALWAYS, load_gate=gate)
    harness = approved(loader, RetryOptions(5, load_retry_interval_s=3600.0))
    errors: list[BaseException] = []

    def load() -> None:
        try:
            harness.load()
        except ServingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    assert loader.load_started.wait(5)
    harness.cancel_load_retries()
    gate.set()
    thread.join(5)
    assert not thread.is_alive()
    assert loader.load_calls == 1
    assert harness.state is HarnessState.ERROR
    assert len(errors) == 1


def test_cancel_during_retry_interval_ends_the_wait() -> None:
    loader = FakeLoader(failing_loads=ALWAYS)
    harness = approved(loader, RetryOptions(5, load_retry_interval_s=3600.0))
    failures: list[ServingError] = []

    def load() -> None:
        try:
            harness.load()
        except ServingError as exc:
            failures.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    assert loader.load_started.wait(5)
    harness.cancel_load_retries()
    thread.join(5)
    assert not thread.is_alive()
    assert loader.load_calls == 1
    assert harness.state is HarnessState.ERROR
    assert len(failures) == 1


def test_unload_failure_ends_in_error() -> None:
    loader = FakeLoader(unload_error=InvalidArgument("stuck"))
    harness = approved(loader)
    harness.load()
    harness.unload_requested()
    harness.start_quiescing()
    harness.done_quiescing()
    with pytest.raises(InvalidArgument):
        harness.unload()
    assert harness.state is HarnessState.ERROR


def test_a_load_past_its_timeout_is_abandoned_without_retry_and_ends_in_error() -> None:
    gate = threading.Event()
    loader = FakeLoader(load_gate=gate)
    harness = approved(loader, RetryOptions(5, 0.0, load_timeout_s=0.05))
    with pytest.raises(LoadTimedOut) as caught:
        harness.load()
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert caught.value.message == (
        "Loading servable {name: m version: 1} did not finish within 0.05 seconds "
        "(--load_timeout_seconds); the attempt was abandoned"
    )
    assert harness.state is HarnessState.ERROR
    assert harness.error is caught.value
    # The abandoned attempt's thread may reach the loader only after the 0.05 s are up.
    assert loader.load_started.wait(10)
    assert loader.load_calls == 1  # the loader is still busy: never called again
    gate.set()  # the hung load finally returns: what it loaded is released
    assert loader.unload_started.wait(10)
    assert loader.unload_calls == 1


def test_attempts_within_the_timeout_fail_and_retry_as_usual() -> None:
    loader = FakeLoader(failing_loads=2)
    harness = approved(loader, RetryOptions(5, 0.0, load_timeout_s=30.0))
    harness.load()
    assert harness.state is HarnessState.READY
    assert loader.load_calls == 3
    assert loader.unload_calls == 0
