"""RequestOutcome: every way a request ends is counted once, under the right code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from tensorserve.core.errors import Code, InvalidArgument, ServingError
from tensorserve.dataplane.observer import RequestOutcome, Uncounted, outcome_code


class Recorder:
    def __init__(self) -> None:
        self.finished: list[tuple[str, str, str, Code, float]] = []

    def request_finished(
        self, model: str, api: str, entrypoint: str, code: Code, seconds: float
    ) -> None:
        self.finished.append((model, api, entrypoint, code, seconds))

    def inflight(self, model: str, delta: int) -> None:
        pass

    def runtime(self, model: str, api: str, seconds: float) -> None:
        pass

    def examples(self, model: str, count: int) -> None:
        pass

    @property
    def codes(self) -> list[Code]:
        return [code for *_, code, _seconds in self.finished]


class Retried(ServingError, Uncounted):
    code = Code.UNAVAILABLE


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (None, Code.OK),
        (InvalidArgument("bad"), Code.INVALID_ARGUMENT),
        (ValueError("a bug in user code"), Code.UNKNOWN),
        (asyncio.CancelledError(), Code.CANCELLED),
        (GeneratorExit(), Code.CANCELLED),
        (KeyboardInterrupt(), Code.UNKNOWN),
        (Retried("decode again"), None),
    ],
)
def test_each_ending_has_its_code(error: BaseException | None, code: Code | None) -> None:
    assert outcome_code(error) == code


def test_an_answered_request_is_counted_once_with_its_labels_and_time() -> None:
    recorder = Recorder()
    with RequestOutcome(recorder, "m", "predict", "rest", started=0.0):
        pass
    [(model, api, protocol, code, seconds)] = recorder.finished
    assert (model, api, protocol, code) == ("m", "predict", "rest", Code.OK)
    assert seconds > 0  # since the given start, not since the block began


def test_an_error_is_counted_and_still_raised() -> None:
    recorder = Recorder()
    with pytest.raises(InvalidArgument), RequestOutcome(recorder, "m", "predict", "grpc"):
        raise InvalidArgument("bad input")
    assert recorder.codes == [Code.INVALID_ARGUMENT]


def test_an_uncounted_ending_is_not_counted() -> None:
    recorder = Recorder()
    with pytest.raises(Retried), RequestOutcome(recorder, "m", "predict", "rest"):
        raise Retried("the signature changed")
    assert recorder.finished == []


def test_a_stream_closed_early_by_its_client_is_cancelled() -> None:
    recorder = Recorder()

    async def results() -> AsyncGenerator[int, None]:
        with RequestOutcome(recorder, "m", "stream", "v2-grpc"):
            for item in range(10):
                yield item

    async def read_one() -> None:
        stream = results()
        assert await anext(stream) == 0
        await stream.aclose()  # the client went away

    asyncio.run(read_one())
    assert recorder.codes == [Code.CANCELLED]


def test_a_cancelled_request_is_counted_cancelled() -> None:
    recorder = Recorder()

    async def request(started: asyncio.Event) -> None:
        with RequestOutcome(recorder, "m", "predict", "rest"):
            started.set()
            await asyncio.sleep(60)

    async def cancel_it() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(request(started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_it())
    assert recorder.codes == [Code.CANCELLED]
