import math

import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.rest.json_document import (
    format_decimal,
    json_snippet,
    json_type_name,
    parse_json,
    parse_request_object,
)


def _parse_error(body: bytes) -> str:
    with pytest.raises(InvalidArgument) as info:
        parse_json(body)
    return info.value.message


def test_empty_body_is_the_document_is_empty() -> None:
    assert _parse_error(b"") == "JSON Parse error: The document is empty"


def test_whitespace_only_body_reports_rapidjson_empty_with_offset() -> None:
    assert _parse_error(b"  \n") == "JSON Parse error: The document is empty. at offset: 3"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": tru}', "Invalid value. at offset: 6"),
        (b'{"a":1 "b":2}', "Missing a comma or '}' after an object member. at offset: 7"),
        (b"[1 2]", "Missing a comma or ']' after an array element. at offset: 3"),
        (b'{"a" 1}', "Missing a colon after a name of object member. at offset: 5"),
        (b"{1:2}", "Missing a name for object member. at offset: 1"),
        (b'{"a": "abc', "Missing a closing quotation mark in string. at offset: 10"),
        (b'{"a": "\\x"}', "Invalid escape character in string. at offset: 7"),
        (b'{"\xc3\xa9": 1 2}', "Missing a comma or '}' after an object member. at offset: 9"),
    ],
)
def test_malformed_json_reports_rapidjson_text_and_byte_offset(body: bytes, message: str) -> None:
    assert _parse_error(body) == f"JSON Parse error: {message}"


def test_nan_and_infinity_tokens_are_accepted() -> None:
    value = parse_json(b'{"a": [NaN, Infinity, -Infinity]}')
    assert math.isnan(value["a"][0])
    assert value["a"][1:] == [math.inf, -math.inf]


def test_trailing_garbage_after_the_document_is_ignored() -> None:
    assert parse_json(b'{"a": 1} trailing garbage') == {"a": 1}


def test_request_must_be_an_object() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_request_object(b"[1, 2]")
    assert info.value.message == "JSON Value: [1, 2] Is not object"


def test_signature_name_must_be_a_string() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_request_object(b'{"signature_name": 1}')
    assert info.value.message == (
        'JSON Value: {\n    "signature_name": 1\n} not formatted correctly. '
        "'signature_name' key must be a string value."
    )


def test_signature_name_defaults_to_empty() -> None:
    assert parse_request_object(b'{"instances": []}') == ({"instances": []}, "")


def test_snippet_is_pretty_with_single_line_arrays() -> None:
    assert json_snippet({"a": [1, "x", None, True], "b": {}}) == (
        '{\n    "a": [1, "x", null, true],\n    "b": {}\n}'
    )


def test_snippet_is_cut_after_256_bytes() -> None:
    snippet = json_snippet({"instances": list(range(10_000))})
    assert len(snippet.encode()) == 256
    assert snippet.startswith('{\n    "instances": [0, 1, 2')


def test_type_names_are_rapidjson_names() -> None:
    values: tuple[object, ...] = (None, False, True, {}, [], "s", 1, 1.5)
    names = [json_type_name(v) for v in values]
    assert names == ["Null", "False", "True", "Object", "Array", "String", "Number", "Number"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"),
        (9000000.0, "9e+06"),
        (0.00003, "3e-05"),
        (555557.5, "555557.5"),
        (0.1, "0.1"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
    ],
)
def test_decimals_are_written_like_write_decimal(value: float, text: str) -> None:
    assert format_decimal(value) == text


HUGE_INT = "9" * 5000


@pytest.mark.parametrize(
    ("body", "offset"),
    [
        (f"[{HUGE_INT}]".encode(), 1),
        (f'{{"a": -{HUGE_INT}}}'.encode(), 6),
        (b'{"a": [NaN, 1e400]}', 12),
        (b"[" + b"9" * 400 + b".5]", 1),
        (b"[" * 2000 + b"1e999" + b"]" * 2000, 2000),
    ],
)
def test_number_beyond_a_double_is_rapidjsons_too_big_error(body: bytes, offset: int) -> None:
    message = f"JSON Parse error: Number too big to be stored in double. at offset: {offset}"
    assert _parse_error(body) == message


def test_large_but_finite_numbers_and_underflow_still_parse() -> None:
    value = parse_json(b"[" + b"9" * 300 + b", 1e-400, NaN]")
    assert value[0] == int("9" * 300) and value[1] == 0.0


@pytest.mark.parametrize(
    ("body", "offset"),
    [
        (b'["\\ud800"]', 2),
        (b'["ok", "\\udc00"]', 8),
        (b'{"\\ud800x": 1}', 2),
        (b'["\\ud800\\u0041"]', 2),
        (b'["\\\\\\ud800"]', 4),
        (b'[NaN, "\\ud800" 1]', 7),
        (b"[" * 2000 + b'"\\udfff"' + b"]" * 2000, 2001),
    ],
)
def test_lone_surrogate_escape_is_rapidjsons_surrogate_error(body: bytes, offset: int) -> None:
    message = f"JSON Parse error: The surrogate pair in string is invalid. at offset: {offset}"
    assert _parse_error(body) == message


def test_surrogate_pairs_and_escaped_backslashes_are_not_lone_surrogates() -> None:
    assert parse_json(b'["\\ud83d\\ude00", "\\\\ud800", NaN]')[:2] == ["\U0001f600", "\\ud800"]


def test_syntax_error_before_a_lone_surrogate_is_reported_first() -> None:
    assert _parse_error(b'[1 2, "\\ud800"]') == (
        "JSON Parse error: Missing a comma or ']' after an array element. at offset: 3"
    )


DEEP = 100_000


def test_unknown_key_nested_very_deep_is_parsed_and_kept() -> None:
    body = b'{"instances": [1.0], "junk": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"
    document, signature_name = parse_request_object(body)
    assert document["instances"] == [1.0] and signature_name == ""
    assert isinstance(document["junk"], dict)


def test_deep_document_with_every_kind_of_value() -> None:
    depth = 3000
    body = b'{"a": [' * depth + b'1, -2.5e3, NaN, "x\\n", true, false, null, {}, []' + b"]}" * depth
    value = parse_json(body)
    for _ in range(depth - 1):
        value = value["a"][0]
    value = value["a"]
    assert value[:2] == [1, -2500.0] and value[3:] == ["x\n", True, False, None, {}, []]


@pytest.mark.parametrize(
    ("inner", "message", "offset_in_inner"),
    [
        (b"{1: 2}", "Missing a name for object member.", 1),
        (b'{"k" 2}', "Missing a colon after a name of object member.", 5),
        (b'{"k": 1 2}', "Missing a comma or '}' after an object member.", 8),
        (b"[1 2]", "Missing a comma or ']' after an array element.", 3),
        (b"[tru]", "Invalid value.", 1),
    ],
)
def test_malformed_deep_documents_get_rapidjson_text(
    inner: bytes, message: str, offset_in_inner: int
) -> None:
    prefix = b'{"junk": ' + b'{"a": [' * 2000
    body = prefix + inner + b"]}" * 2000 + b"}"
    offset = len(prefix) + offset_in_inner
    assert _parse_error(body) == f"JSON Parse error: {message} at offset: {offset}"


def test_deep_signature_name_is_the_must_be_a_string_error() -> None:
    body = b'{"signature_name": ' + b"[" * DEEP + b"]" * DEEP + b', "instances": [1]}'
    with pytest.raises(InvalidArgument) as info:
        parse_request_object(body)
    message = info.value.message
    assert message.startswith('JSON Value: {\n    "signature_name": [[[[')
    assert message.endswith(
        " not formatted correctly. 'signature_name' key must be a string value."
    )


def test_nesting_past_a_million_levels_is_refused_before_memory_runs_out() -> None:
    depth = 1_000_001
    message = _parse_error(b'{"junk": ' + b"[" * depth)
    assert message.startswith("JSON Parse error: Nesting deeper than 1000000 levels.")
