from tensorserve.core.errors import Code, NotFound, ResourceExhausted
from tensorserve.rest.http_status import HTTP_STATUS, error_http_status, http_status
from tensorserve.rest.request_body import PayloadTooLarge
from tensorserve.rest.routing import UndecodablePath


def test_every_canonical_code_maps_as_tensorflow_serving_does() -> None:
    expected = {
        "OK": 200,
        "CANCELLED": 499,
        "UNKNOWN": 500,
        "INVALID_ARGUMENT": 400,
        "DEADLINE_EXCEEDED": 504,
        "NOT_FOUND": 404,
        "ALREADY_EXISTS": 409,
        "PERMISSION_DENIED": 403,
        "RESOURCE_EXHAUSTED": 429,
        "FAILED_PRECONDITION": 400,
        "ABORTED": 409,
        "OUT_OF_RANGE": 400,
        "UNIMPLEMENTED": 501,
        "INTERNAL": 500,
        "UNAVAILABLE": 503,
        "DATA_LOSS": 500,
        "UNAUTHENTICATED": 401,
    }
    assert {code.name: status for code, status in HTTP_STATUS.items()} == expected
    assert set(HTTP_STATUS) == set(Code)


def test_http_status_looks_up_the_table() -> None:
    assert http_status(Code.NOT_FOUND) == 404
    assert http_status(Code.UNIMPLEMENTED) == 501


def test_a_body_over_the_limit_is_413_though_its_code_is_resource_exhausted() -> None:
    error = PayloadTooLarge(100)
    assert error.code is Code.RESOURCE_EXHAUSTED
    assert error_http_status(error) == 413


def test_other_errors_take_their_codes_status() -> None:
    assert error_http_status(ResourceExhausted("queue full")) == 429
    assert error_http_status(NotFound("gone")) == 404
    assert error_http_status(UndecodablePath("bad version")) == 400
