"""The limit: the model's own predict call, made by N threads in this process.

This is the exact call tensorserve makes per request (``SavedModelLoader`` then
``servable().predict``), with no transport, so a server's rate divided by this
one is the share of the model's capacity that survives the network stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from .measurement import Measurement, from_latencies
from .models import SIGNATURE, BenchModel

Predict = Callable[[], Mapping[str, np.ndarray]]
PredictOfBatch = Callable[[int], Predict]


@contextlib.contextmanager
def loaded_predict(model: BenchModel) -> Iterator[PredictOfBatch]:
    """Load ``model`` with tensorserve's own loader; yield ``of_batch(n)``, which makes a
    zero-argument predict of ``n`` copies of the sample. The model is unloaded on exit.
    The predict callables are thread-safe."""
    from tensorserve.core.servable_id import ServableId
    from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader

    loader = SavedModelLoader(ServableId(model.name, model.version), model.version_path)
    loader.load()
    servable = loader.servable()

    def of_batch(size: int) -> Predict:
        inputs = {model.input_name: np.repeat(model.sample, size, axis=0)}
        return lambda: servable.predict(SIGNATURE, inputs)

    try:
        yield of_batch
    finally:
        loader.unload()


@contextlib.contextmanager
def loaded_signature_function(model: BenchModel) -> Iterator[Predict]:
    """Load ``model`` the TF2 way (``tf.saved_model.load``) and yield a zero-argument call
    of its serving signature on one sample: what a hand-written service (the Flask
    baseline) calls per request, and likely the call behind the issue's ~6,900 calls/s."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model.version_path))
    serve = loaded.signatures[SIGNATURE]
    sample = tf.constant(model.sample)
    yield lambda: serve(**{model.input_name: sample})


def measure(
    predict: Predict,
    model: str,
    target: str,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
) -> Measurement:
    """Call ``predict`` from ``concurrency`` threads in a closed loop for ``duration_s``
    after ``warmup_s``; latencies are per call. Blocks for the whole run."""
    _closed_loop(predict, concurrency, warmup_s)
    cpu_before = time.process_time()
    latencies, elapsed = _closed_loop(predict, concurrency, duration_s)
    cpu_us = (time.process_time() - cpu_before) / max(1, len(latencies)) * 1e6
    cell = from_latencies(model, target, concurrency, latencies, elapsed, 0, "threads")
    return dataclasses.replace(cell, cpu_us_per_request=cpu_us)


def _closed_loop(
    predict: Predict, concurrency: int, duration_s: float
) -> tuple[list[float], float]:
    """Run the threads; each appends only to its own list, so no lock is needed."""
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(latencies: list[float]) -> None:
        start.wait()
        while True:
            began = time.perf_counter()
            if began >= deadline[0]:
                return
            predict()
            latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(lat,), daemon=True) for lat in per_thread]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration_s
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return [value for latencies in per_thread for value in latencies], elapsed
