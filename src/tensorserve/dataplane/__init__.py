"""The protocol-neutral data plane: one request path for every transport."""

from tensorserve.dataplane.dataplane import DataPlane, ModelRef
from tensorserve.dataplane.model_spec import ModelSpec
from tensorserve.dataplane.observer import NullObserver, RequestObserver
from tensorserve.dataplane.version_labels import VersionLabels

__all__ = ["DataPlane", "ModelRef", "ModelSpec", "NullObserver", "RequestObserver", "VersionLabels"]
