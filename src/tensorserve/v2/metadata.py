"""V2 server and model metadata, and the repository index, as JSON (OIP spec §3.3, §3.4, §7.1).

Model metadata describes one signature (V2 has no signature concept): its
input and output aliases are the V2 tensor names, TensorFlow's ``-1`` dims stay
``-1``, and a tensor of unknown rank is reported as ``[-1]`` (V2 shapes have a
fixed length) while inference accepts it in any shape. A dtype V2 cannot
express makes metadata and inference for that signature a 400 naming the
tensor.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import orjson

from tensorserve import __version__
from tensorserve.dataplane.repository import READY, RepositoryEntry
from tensorserve.servables.signature import Signature, TensorInfo
from tensorserve.v2.datatypes import for_dtype

SERVER_NAME = "tensorserve"
EXTENSIONS = ("binary_tensor_data", "parameters", "model_repository")
"""The Triton extensions served over REST (listed by ``GET /v2``)."""

UNKNOWN_RANK_SHAPE = (-1,)

_PLATFORMS = {"tensorflow": "tensorflow_savedmodel"}
"""Our platform names to V2's ``<project>_<format>`` names; others are shown as they are."""


def render_server_metadata(extensions: Sequence[str] = EXTENSIONS) -> bytes:
    """``{"name", "version", "extensions"}``."""
    return orjson.dumps(
        {"name": SERVER_NAME, "version": __version__, "extensions": list(extensions)}
    )


def render_model_metadata(
    name: str, versions: Iterable[int], platform: str, signature: Signature
) -> bytes:
    """``{"name", "versions", "platform", "inputs", "outputs"}`` for ``signature``.

    ``platform`` is the servable's (``tensorflow`` is shown as ``tensorflow_savedmodel``).
    """
    return orjson.dumps(
        {
            "name": name,
            "versions": [str(v) for v in sorted(versions)],
            "platform": _PLATFORMS.get(platform, platform),
            "inputs": _tensors(signature.inputs),
            "outputs": _tensors(signature.outputs),
        }
    )


def _tensors(tensors: Mapping[str, TensorInfo]) -> list[dict[str, object]]:
    return [
        {
            "name": alias,
            "datatype": for_dtype(info.dtype, alias).name,
            "shape": list(info.shape if info.shape is not None else UNKNOWN_RANK_SHAPE),
        }
        for alias, info in tensors.items()
    ]


def render_repository_index(entries: Iterable[RepositoryEntry], ready_only: bool = False) -> bytes:
    """``[{"name", "version", "state", "reason"}, ...]``; a model with no version has no
    ``"version"``. ``ready_only`` keeps the READY entries (the request's ``{"ready": true}``).
    """
    rows: list[dict[str, str]] = []
    for entry in entries:
        if ready_only and entry.state != READY:
            continue
        row = {"name": entry.name}
        if entry.version:
            row["version"] = entry.version
        row["state"] = entry.state
        row["reason"] = entry.reason
        rows.append(row)
    return orjson.dumps(rows)
