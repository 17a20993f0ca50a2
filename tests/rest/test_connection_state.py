import pytest

from tensorserve.rest.connection_state import (
    NEXT_STATES,
    ConnectionState,
    IllegalTransition,
    checked_transition,
)

S = ConnectionState


def test_every_state_has_its_transitions_written_down() -> None:
    assert set(NEXT_STATES) == set(ConnectionState)


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (S.IDLE, S.READING),
        (S.READING, S.IDLE),
        (S.READING, S.REFUSED),
        (S.REFUSED, S.CLOSING),
        (S.IDLE, S.CLOSING),
        (S.CLOSING, S.CLOSED),
        (S.READING, S.CLOSED),
    ],
)
def test_legal_transitions(current: ConnectionState, requested: ConnectionState) -> None:
    assert checked_transition(current, requested) is requested


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (S.REFUSED, S.READING),
        (S.REFUSED, S.IDLE),
        (S.CLOSING, S.READING),
        (S.CLOSING, S.IDLE),
        (S.CLOSED, S.IDLE),
        (S.CLOSED, S.CLOSED),
    ],
)
def test_illegal_transitions_raise(current: ConnectionState, requested: ConnectionState) -> None:
    with pytest.raises(IllegalTransition):
        checked_transition(current, requested)


def test_every_state_but_closed_can_lose_its_connection() -> None:
    for state in ConnectionState:
        if state is not S.CLOSED:
            assert S.CLOSED in NEXT_STATES[state]
