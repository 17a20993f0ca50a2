import json

from tensorserve.core.errors import NotFound
from tensorserve.core.servable_id import ServableId
from tensorserve.core.servable_state import ManagerState, ServableState
from tensorserve.rest.status_json import (
    render_all_models,
    render_model_metadata,
    render_model_status,
)


def test_status_prints_defaults_versions_as_strings_and_enum_names() -> None:
    body = render_model_status(
        [
            ServableState(ServableId("m", 2), ManagerState.AVAILABLE),
            ServableState(ServableId("m", 1), ManagerState.END, NotFound("gone")),
        ]
    )
    assert json.loads(body) == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "1",
                "state": "END",
                "status": {"error_code": "NOT_FOUND", "error_message": "gone"},
            },
        ]
    }


def test_all_models_lists_each_model_by_name() -> None:
    body = render_all_models(
        {"b": [], "a": [ServableState(ServableId("a", 1), ManagerState.LOADING)]}
    )
    assert [m["name"] for m in json.loads(body)["models"]] == ["a", "b"]


def test_metadata_wraps_the_signature_def_map_with_the_model_spec() -> None:
    body = render_model_metadata("m", 7, {"signature_def": {}})
    assert json.loads(body) == {
        "model_spec": {"name": "m", "signature_name": "", "version": "7"},
        "metadata": {"signature_def": {"signature_def": {}}},
    }
