"""Drop the local variables an exception's traceback keeps alive.

An exception that leaves a model call on a worker thread travels to the event
loop inside a future, and from there into reference cycles (future, exception,
traceback, the frames that awaited the future) that only Python's garbage
collector frees. Every finished frame in its traceback still holds its locals:
the request's decoded input tensors, a runtime's feed dict. A server rejecting
2 MB tensors grew by 2 MB per request until a full collection ran, 80-230 MB in
all. Clearing the finished frames when the exception is caught frees those
tensors at once; the traceback keeps its file names and line numbers, so a log
of it reads the same.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

_SUSPENDABLE = 0x20 | 0x80 | 0x100 | 0x200
"""CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR: clearing a
suspended generator's frame would close it, so such frames are left alone."""


def release_frames(exc: BaseException) -> None:
    """Clear the locals of every finished plain-function frame in the tracebacks
    of ``exc`` and of the exceptions chained to it (cause, context, group members).

    A frame still executing (the one that caught ``exc``, or one on another thread)
    is skipped, as are generator and coroutine frames.
    """
    for error in _chain(exc):
        _clear(error.__traceback__)


def drop_tracebacks(exc: BaseException) -> None:
    """Detach the tracebacks of ``exc`` and of the exceptions chained to it.

    For an error that has been answered and will not be logged with its traceback
    (an expected ``ServingError``): its coroutine frames, which :func:`release_frames`
    cannot clear safely, then go when the request's coroutines do.
    """
    for error in _chain(exc):
        error.__traceback__ = None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception chained to it (cause, context, group members), once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += (e for e in (error.__cause__, error.__context__) if e is not None)
        if isinstance(error, BaseExceptionGroup):
            pending += error.exceptions


def _clear(tb: types.TracebackType | None) -> None:
    while tb is not None:
        frame = tb.tb_frame
        if not frame.f_code.co_flags & _SUSPENDABLE:
            try:
                frame.clear()
            except RuntimeError:  # still executing
                pass
        tb = tb.tb_next
