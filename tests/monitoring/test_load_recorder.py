"""Load attempts and latency are recorded per model path, as TensorFlow Serving labels them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.monitoring.load_recorder import LoadRecorder
from tensorserve.monitoring.metrics import Metrics


def attempts(metrics: Metrics, path: str, status: str) -> float:
    """The rendered ``load_attempt_count`` for ``path`` and ``status`` (0 when absent)."""
    for line in metrics.render().splitlines():
        if line.startswith(":tensorflow:cc:saved_model:load_attempt_count{") and (
            f'model_path="{path}"' in line and f'status="{status}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_load_that_ends_available_counts_one_success_for_its_path() -> None:
    metrics = Metrics(CollectorRegistry())
    recorder = LoadRecorder(metrics)
    version = ServableId("m", 1)
    recorder.note_path(version, "/models/m/1")
    recorder(ServableState(version, ManagerState.LOADING))
    recorder(ServableState(version, ManagerState.AVAILABLE))
    assert attempts(metrics, "/models/m/1", "success") == 1
    assert attempts(metrics, "/models/m/1", "fail") == 0


def test_a_load_that_ends_in_error_counts_a_failure_and_forgets_the_path() -> None:
    metrics = Metrics(CollectorRegistry())
    recorder = LoadRecorder(metrics)
    version = ServableId("m", 2)
    recorder.note_path(version, "/models/m/2")
    recorder(ServableState(version, ManagerState.LOADING))
    recorder(ServableState(version, ManagerState.END, RuntimeError("bad")))
    assert attempts(metrics, "/models/m/2", "fail") == 1
    recorder(ServableState(version, ManagerState.END))  # no LOADING before: nothing recorded
    assert attempts(metrics, "/models/m/2", "fail") == 1
