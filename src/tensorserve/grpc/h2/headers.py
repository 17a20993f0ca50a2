"""Header blocks: HPACK in (cached), literal HPACK out, and gRPC's header encodings.

A gRPC client sends nearly the same header block on every call of a connection: after
the first call its names and values sit in the HPACK dynamic table and the block is a
few index bytes. Decoding such a block again gives the same headers as long as the
table has not changed, so :class:`HeaderDecoder` keeps each block that changed nothing
and answers it from a dict; any block that inserts or evicts clears that cache.

The server's own blocks never index (literal without indexing, no Huffman): they are
few, short, and mostly built once per process.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import hpack

from tensorserve.grpc.h2.frames import COMPRESSION_ERROR, ProtocolError

Header = tuple[bytes, bytes]
Metadata = tuple[tuple[str, str | bytes], ...]

CACHED_BLOCKS = 64
"""Distinct unchanging header blocks remembered per connection."""

_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_RESERVED = frozenset(
    (b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding")
)


class HeaderDecoder:
    """One connection's HPACK decoder (RFC 7541), with unchanged blocks cached."""

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, list[Header]] = {}

    def decode(self, block: bytes) -> list[Header]:
        """The headers of ``block``; raises ProtocolError (COMPRESSION_ERROR) on bad HPACK."""
        cached = self._cache.get(block)
        if cached is not None:
            return cached
        before = self._table_state()
        try:
            headers: list[Header] = list(self._decoder.decode(block, raw=True))
        except hpack.HPACKError as exc:
            raise ProtocolError(f"bad header block: {exc}", COMPRESSION_ERROR) from exc
        if self._table_state() == before:
            if len(self._cache) < CACHED_BLOCKS:
                self._cache[block] = headers
        else:
            self._cache.clear()
        return headers

    def _table_state(self) -> tuple[int, int, int]:
        table = self._decoder.header_table
        entries = table.dynamic_entries
        newest = id(entries[0]) if entries else 0
        return len(entries), newest, table.maxsize


def _integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """RFC 7541's integer with an N-bit prefix, ``first`` holding the flag bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_block(headers: Iterable[Header]) -> bytes:
    """``headers`` as literal fields without indexing, new names, no Huffman."""
    out = bytearray()
    for name, value in headers:
        out += b"\x00" + _integer(len(name), 7) + name + _integer(len(value), 7) + value
    return bytes(out)


STATUS_200 = b"\x88"  # the static table's ":status: 200"
RESPONSE_HEADERS = STATUS_200 + literal_block([(b"content-type", b"application/grpc")])
OK_TRAILERS = literal_block([(b"grpc-status", b"0")])


def grpc_timeout_s(value: bytes) -> float | None:
    """``grpc-timeout`` (at most 8 digits and a unit) in seconds; None when malformed."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in _TIMEOUT_UNITS:
        return None
    return int(digits) * _TIMEOUT_UNITS[unit]


def percent_encode(message: str) -> bytes:
    """``grpc-message``'s encoding: UTF-8, then every byte outside printable ASCII and
    every ``%`` as ``%XX``."""
    out = bytearray()
    for byte in message.encode("utf-8", "replace"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)


def invocation_metadata(headers: Sequence[Header]) -> Metadata:
    """The call's custom metadata as grpcio gives it: pseudo-headers and gRPC's own
    headers left out, ``-bin`` values base64-decoded to bytes."""
    found: list[tuple[str, str | bytes]] = []
    for name, value in headers:
        if name.startswith(b":") or name in _RESERVED:
            continue
        key = name.decode("latin-1")
        if key.endswith("-bin"):
            found.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
        else:
            found.append((key, value.decode("latin-1")))
    return tuple(found)


def metadata_headers(metadata: Iterable[tuple[str, str | bytes]]) -> list[Header]:
    """Custom metadata as headers: lower-case names, ``-bin`` values base64 unpadded."""
    headers = []
    for key, value in metadata:
        name = key.lower().encode("ascii")
        if name.endswith(b"-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            headers.append((name, base64.b64encode(raw).rstrip(b"=")))
        else:
            headers.append((name, value.encode("latin-1") if isinstance(value, str) else value))
    return headers


def status_headers(code: int, message: str, metadata: Iterable[tuple[str, str | bytes]]) -> bytes:
    """Trailers (or the tail of a trailers-only response) for a call that ended ``code``."""
    headers = [(b"grpc-status", str(code).encode())]
    if message:
        headers.append((b"grpc-message", percent_encode(message)))
    return literal_block([*headers, *metadata_headers(metadata)])
