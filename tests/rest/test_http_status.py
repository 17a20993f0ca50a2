from tensorserve.core.errors import Code
from tensorserve.rest.http_status import HTTP_STATUS, http_status


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
