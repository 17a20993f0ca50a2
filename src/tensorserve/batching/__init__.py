"""Server-side batching: a servable that wraps a servable (TensorFlow Serving §6)."""

from tensorserve.batching.batching_model import TIMEOUT_IN_QUEUE_MESSAGE, BatchingModel
from tensorserve.batching.metrics_sink import BatchingMetricsSink, NullBatchingMetrics
from tensorserve.batching.options import DEFAULT_THREAD_POOL_NAME, BatchingOptions
from tensorserve.batching.scheduler import (
    QUEUE_FULL_MESSAGE,
    BatchQueue,
    BatchTask,
    SharedBatchScheduler,
)

__all__ = [
    "DEFAULT_THREAD_POOL_NAME",
    "QUEUE_FULL_MESSAGE",
    "TIMEOUT_IN_QUEUE_MESSAGE",
    "BatchQueue",
    "BatchTask",
    "BatchingMetricsSink",
    "BatchingModel",
    "BatchingOptions",
    "NullBatchingMetrics",
    "SharedBatchScheduler",
]
