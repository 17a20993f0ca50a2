"""Model status and metadata as TensorFlow Serving's REST API writes them (protobuf JSON).

Status is built directly as the dict that ``MessageToJsonString`` would print
for a ``GetModelStatusResponse`` with default fields included: versions as
strings (int64), enums by name. Metadata converts the model's
``SignatureDefMap`` proto with ``google.protobuf.json_format``.

Pure and thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from tensorserve.core.servable_state import ServableState


def version_status(state: ServableState) -> dict[str, Any]:
    """One ``ModelVersionStatus`` as protobuf JSON."""
    error = state.error
    return {
        "version": str(state.id.version),
        "state": state.state.name,
        "status": {
            "error_code": error.code.name if error is not None else "OK",
            "error_message": error.message if error is not None else "",
        },
    }


def render_model_status(states: Sequence[ServableState]) -> bytes:
    """``{"model_version_status": [...]}`` (a ``GetModelStatusResponse``)."""
    return orjson.dumps({"model_version_status": [version_status(s) for s in states]})


def render_all_models(models: Mapping[str, Sequence[ServableState]]) -> bytes:
    """Our ``/tensorserve/v1/models`` listing: every model with its version statuses."""
    return orjson.dumps(
        {
            "models": [
                {"name": name, "model_version_status": [version_status(s) for s in states]}
                for name, states in sorted(models.items())
            ]
        }
    )


def render_model_metadata(name: str, version: int, signature_def_map: Any) -> bytes:
    """A ``GetModelMetadataResponse`` with the ``signature_def`` field, as TensorFlow
    Serving's REST handler prints it (the map unpacked from its ``Any``)."""
    return orjson.dumps(
        {
            "model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": signature_def_map_json(signature_def_map)},
        }
    )


def signature_def_map_json(signature_def_map: Any) -> Any:
    """A ``SignatureDefMap`` proto as protobuf JSON with default fields (dicts pass through)."""
    if isinstance(signature_def_map, Mapping):
        return dict(signature_def_map)
    from google.protobuf import json_format  # metadata requests only

    return json_format.MessageToDict(
        signature_def_map,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
