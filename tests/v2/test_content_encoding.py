import gzip
import zlib

import pytest

from tensorserve.core.errors import InvalidArgument
from tensorserve.v2.content_encoding import inflate_capped


def test_gzip_and_deflate_bodies_are_inflated() -> None:
    assert inflate_capped(gzip.compress(b"hello"), b"gzip", 100) == b"hello"
    assert inflate_capped(zlib.compress(b"hello"), b"deflate", 100) == b"hello"


def test_a_bomb_stops_at_the_cap() -> None:
    with pytest.raises(InvalidArgument, match="inflates past the limit of 1000 bytes"):
        inflate_capped(gzip.compress(b"\0" * 10**6), b"gzip", 1000)


@pytest.mark.parametrize("body", [b"not gzip", gzip.compress(b"hello")[:-12]])
def test_corrupt_or_cut_bodies_are_client_errors(body: bytes) -> None:
    with pytest.raises(InvalidArgument, match="gzip"):
        inflate_capped(body, b"gzip", 100)
