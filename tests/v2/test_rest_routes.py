import pytest

from tensorserve.v2.rest_routes import (
    MethodNotAllowed,
    RouteNotFound,
    V2Api,
    V2Route,
    is_v2_path,
    match_v2_route,
)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/v2", V2Route(V2Api.SERVER_METADATA)),
        ("GET", "/v2/health/live", V2Route(V2Api.SERVER_LIVE)),
        ("GET", "/v2/health/ready", V2Route(V2Api.SERVER_READY)),
        ("GET", "/v2/models/m", V2Route(V2Api.MODEL_METADATA, "m")),
        ("GET", "/v2/models/m/versions/3", V2Route(V2Api.MODEL_METADATA, "m", 3)),
        ("GET", "/v2/models/m/ready", V2Route(V2Api.MODEL_READY, "m")),
        ("GET", "/v2/models/m/versions/3/ready", V2Route(V2Api.MODEL_READY, "m", 3)),
        ("POST", "/v2/models/m/infer", V2Route(V2Api.INFER, "m")),
        ("POST", "/v2/models/m/versions/12/infer", V2Route(V2Api.INFER, "m", 12)),
        ("POST", "/v2/repository/index", V2Route(V2Api.REPOSITORY_INDEX)),
        ("POST", "/v2/repository/models/m/load", V2Route(V2Api.REPOSITORY_LOAD, "m")),
        ("POST", "/v2/repository/models/m/unload", V2Route(V2Api.REPOSITORY_UNLOAD, "m")),
        ("GET", "/v2/models/a%20b%2Fc", V2Route(V2Api.MODEL_METADATA, "a b/c")),
    ],
)
def test_routes(method: str, path: str, route: V2Route) -> None:
    assert match_v2_route(method, path) == route


@pytest.mark.parametrize(
    "path",
    [
        "/v2/",
        "/v2/models",
        "/v2/models/m/versions/latest",
        "/v2/models/m/versions/-1/infer",
        "/v2/models/m/stats",
        "/v2/models/m/versions/99999999999999999999999",
        "/V2/health/live",
        "/v2/repository/models/m",
    ],
)
def test_unknown_paths_are_not_found(path: str) -> None:
    with pytest.raises(RouteNotFound, match="Not Found"):
        match_v2_route("GET", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/health/live"), ("GET", "/v2/models/m/infer"), ("GET", "/v2/repository/index")],
)
def test_wrong_methods_are_not_allowed(method: str, path: str) -> None:
    with pytest.raises(MethodNotAllowed):
        match_v2_route(method, path)


def test_v2_paths() -> None:
    assert is_v2_path("/v2") and is_v2_path("/v2/anything")
    assert not is_v2_path("/v2x") and not is_v2_path("/v1/models/m")
