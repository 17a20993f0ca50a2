import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.routing import Api, Route, UndecodablePath, is_v1_path, match_route


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("POST", "/v1/models/m:predict", Route(Api.PREDICT, "m")),
        ("POST", "/v1/models/m/versions/7:classify", Route(Api.CLASSIFY, "m", version=7)),
        ("POST", "/v1/models/m/labels/stable:regress", Route(Api.REGRESS, "m", label="stable")),
        ("POST", "/V1/MODELS/M/VERSIONS/7:predict", Route(Api.PREDICT, "M", version=7)),
        ("GET", "/v1/models/m", Route(Api.STATUS, "m")),
        ("GET", "/v1/models/m/versions/007", Route(Api.STATUS, "m", version=7)),
        ("GET", "/v1/models/m/labels/l", Route(Api.STATUS, "m", label="l")),
        ("GET", "/v1/models/m/metadata", Route(Api.METADATA, "m")),
        ("GET", "/v1/models/m/versions/2/metadata", Route(Api.METADATA, "m", version=2)),
        ("GET", "/v1/models/m/METADATA", Route(Api.STATUS, "m")),
        ("GET", "/v1/models", Route(Api.STATUS, "")),
        ("GET", "/v1/models/a%2Fb%20c", Route(Api.STATUS, "a/b c")),
        (
            "POST",
            "/v1/models/caf%C3%A9/labels/l%3Ax:predict",
            Route(Api.PREDICT, "café", label="l:x"),
        ),
    ],
)
def test_routes_match_tensorflow_serving_paths(method: str, path: str, route: Route) -> None:
    assert match_route(method, path) == route


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/models/m:PREDICT"),
        ("POST", "/v1/models/m/version/1:predict"),
        ("POST", "/v1/models/m/versions/1/labels/l:predict"),
        ("POST", "/v1/models/m/versions/x:predict"),
        ("POST", "/v1/models/m/metadata"),
        ("GET", "/v1/models/m:predict"),
        ("GET", "/v1/models/"),
        ("PUT", "/v1/models/m"),
        ("DELETE", "/v1/models/m"),
        ("HEAD", "/v1/models/m"),
    ],
)
def test_anything_else_under_v1_is_malformed(method: str, path: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        match_route(method, path)
    assert not isinstance(info.value, UndecodablePath)
    assert info.value.message == f"Malformed request: {method} {path}"


def test_version_beyond_int64_is_a_bodyless_error() -> None:
    with pytest.raises(UndecodablePath) as info:
        match_route("POST", "/v1/models/m/versions/9223372036854775808:predict")
    assert info.value.message == "Failed to convert version: 9223372036854775808 to numeric."
    assert match_route("GET", "/v1/models/m/versions/9223372036854775807").version == 2**63 - 1


def test_version_error_comes_before_the_verb_check() -> None:
    with pytest.raises(UndecodablePath):
        match_route("POST", "/v1/models/m/versions/99999999999999999999:PREDICT")


def test_bad_percent_escapes_are_bodyless_errors() -> None:
    with pytest.raises(UndecodablePath):
        match_route("GET", "/v1/models/a%zz")
    with pytest.raises(UndecodablePath):
        match_route("POST", "/v1/models/m/labels/%ff:predict")


def test_v1_paths_are_recognised_case_insensitively() -> None:
    assert is_v1_path("/v1/anything")
    assert is_v1_path("/V1/x")
    assert not is_v1_path("/v1")
    assert not is_v1_path("/v2/models/m")
    assert not is_v1_path("/tensorserve/v1/models")


@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_version_of_many_digits_is_the_conversion_error(digits: int) -> None:
    version = "9" * digits
    for method, suffix in (("POST", ":predict"), ("GET", ""), ("GET", "/metadata")):
        with pytest.raises(UndecodablePath) as info:
            match_route(method, f"/v1/models/m/versions/{version}{suffix}")
        assert info.value.message == f"Failed to convert version: {version} to numeric."


def test_leading_zeros_do_not_count_towards_the_int64_limit() -> None:
    route = match_route("POST", "/v1/models/m/versions/" + "0" * 5000 + "42:predict")
    assert route.version == 42
    assert match_route("GET", "/v1/models/m/versions/000").version == 0
