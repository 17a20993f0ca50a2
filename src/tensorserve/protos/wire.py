"""Protobuf's wire format, for the few places that write a message's bytes themselves
(large answers, where building the message would copy its data twice more)."""

from __future__ import annotations


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint encoding of a non-negative ``value``."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(field: int) -> bytes:
    """The tag of length-delimited field number ``field`` (bytes, strings, messages,
    packed values), for ``field`` below 16 (one byte)."""
    if not 0 < field < 16:
        raise ValueError(f"field {field} needs a tag of more than one byte")
    return bytes([field << 3 | 2])
