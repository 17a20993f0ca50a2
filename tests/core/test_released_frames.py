"""What an answered error may keep alive: the frames of its traceback, and their locals."""

from __future__ import annotations

import traceback
import weakref
from collections.abc import Iterator

import numpy as np

from tensorserve.core.errors import Code, InvalidArgument, Unknown, as_answer
from tensorserve.core.released_frames import drop_tracebacks, release_frames


def _refuse(tensor_refs: list[weakref.ref[np.ndarray]]) -> None:
    tensor = np.ones(1000)
    tensor_refs.append(weakref.ref(tensor))
    raise InvalidArgument("refused")


def _caught(tensor_refs: list[weakref.ref[np.ndarray]]) -> InvalidArgument:
    try:
        _refuse(tensor_refs)
    except InvalidArgument as error:
        return error
    raise AssertionError("not refused")


def test_release_frames_frees_the_locals_of_finished_frames_and_keeps_the_lines() -> None:
    refs: list[weakref.ref[np.ndarray]] = []
    error = _caught(refs)
    assert refs[0]() is not None  # the traceback holds _refuse's frame, and its tensor
    release_frames(error)
    assert refs[0]() is None
    printed = "".join(traceback.format_exception(error))
    assert "in _refuse" in printed and 'raise InvalidArgument("refused")' in printed


def test_release_frames_follows_the_cause_and_the_context() -> None:
    refs: list[weakref.ref[np.ndarray]] = []
    inner = _caught(refs)
    outer = Unknown("wrapped")
    outer.__cause__ = inner
    release_frames(outer)
    assert refs[0]() is None


def test_release_frames_leaves_a_suspended_generator_running() -> None:
    def holding() -> Iterator[object]:
        try:
            raise ValueError("inside")
        except ValueError as error:
            yield error  # suspended here, its frame the head of the error's traceback
        yield "still running"

    steps = holding()
    error = next(steps)
    assert isinstance(error, ValueError)
    release_frames(error)
    assert next(steps) == "still running"


def test_drop_tracebacks_detaches_every_traceback_of_the_chain() -> None:
    refs: list[weakref.ref[np.ndarray]] = []
    inner = _caught(refs)
    try:
        raise Unknown("outer") from inner
    except Unknown as caught:
        outer = caught
    drop_tracebacks(outer)
    assert outer.__traceback__ is None and inner.__traceback__ is None
    assert refs[0]() is None


def test_as_answer_detaches_a_serving_errors_traceback_and_wraps_anything_else() -> None:
    refs: list[weakref.ref[np.ndarray]] = []
    error = _caught(refs)
    assert as_answer(error) is error
    assert error.__traceback__ is None and refs[0]() is None

    try:
        raise KeyError("x")
    except KeyError as bug:
        answer = as_answer(bug)
        assert bug.__traceback__ is not None  # still there for the log
    assert answer.code is Code.UNKNOWN and answer.message == "KeyError: 'x'"
