import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.v2.binary_extension import BlobReader, join_body, split_body


def test_without_the_header_the_whole_body_is_json() -> None:
    header, binary = split_body(b'{"a": 1}', None)
    assert header == b'{"a": 1}' and len(binary) == 0


def test_the_header_splits_json_from_blobs() -> None:
    header, binary = split_body(b'{"a":1}\x01\x02\x03', b"7")
    assert header == b'{"a":1}' and bytes(binary) == b"\x01\x02\x03"


@pytest.mark.parametrize("value", [b"x", b"-1", b"1.5", b"", b"99999999999999999999"])
def test_a_bad_header_length_is_a_client_error(value: bytes) -> None:
    with pytest.raises(InvalidArgument, match="Inference-Header-Content-Length"):
        split_body(b"{}", value)


def test_raw_binary_requests_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidArgument, match="raw binary request"):
        split_body(b"abc", b"0")


def test_blobs_are_handed_out_in_order_and_must_add_up() -> None:
    reader = BlobReader(memoryview(b"aabbb"))
    assert bytes(reader.take(2, "a")) == b"aa"
    assert bytes(reader.take(3, "b")) == b"bbb"
    reader.finish()


def test_a_blob_past_the_end_names_the_input() -> None:
    reader = BlobReader(memoryview(b"aa"))
    with pytest.raises(InvalidArgument, match=r"input 'b'.*binary_data_size 3, 2 bytes remain"):
        reader.take(3, "b")


def test_left_over_bytes_are_reported() -> None:
    reader = BlobReader(memoryview(b"aab"))
    reader.take(2, "a")
    with pytest.raises(InvalidArgument, match="1 bytes of binary data"):
        reader.finish()


def test_binary_inputs_without_the_header_say_what_is_missing() -> None:
    with pytest.raises(
        InvalidArgument, match="must specify valid 'Inference-Header-Content-Length'"
    ):
        BlobReader(memoryview(b"")).take(4, "a")


def test_join_body_reports_the_header_length() -> None:
    assert join_body(b"{}", [b"ab", b"c"]) == (b"{}abc", 2)
