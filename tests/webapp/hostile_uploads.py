"""Generators of hostile and valid uploads for the web app fuzzer, each from a seeded RNG.

Each generator returns a :class:`Case`: the raw bytes of one HTTP/1.1 request and what a
correct answer may be. The images are made here (Pillow) and the bombs built once per
process, so a seed names the same requests on every machine.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from tests.webapp.digits import render_digit

BOUNDARY = "fuzz-boundary-7c1e"
ACCEPTED = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
PAGES = ("/api/predict", "/")


@dataclass(frozen=True)
class Case:
    """One request, and what the web app may answer to it."""

    kind: str
    path: str
    request: bytes
    statuses: frozenset[int] | None = None
    """The statuses a correct app answers; ``None``: any status below 500."""
    digit: int | None = None
    """The digit a 200 answer must name first."""


@dataclass(frozen=True)
class Part:
    """One part of a multipart form; ``filename`` ``None`` makes it a text field."""

    name: str
    data: bytes
    filename: str | bytes | None = None
    content_type: str | None = None


def multipart(parts: list[Part]) -> bytes:
    """The body of a ``multipart/form-data`` form with :data:`BOUNDARY`; names are raw bytes."""
    body = b""
    for part in parts:
        disposition = b'form-data; name="' + part.name.encode() + b'"'
        if part.filename is not None:
            filename = part.filename
            raw = filename if isinstance(filename, bytes) else filename.encode("utf-8")
            disposition += b'; filename="' + raw + b'"'
        body += b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        if part.content_type:
            body += b"Content-Type: " + part.content_type.encode() + b"\r\n"
        body += b"\r\n" + part.data + b"\r\n"
    return body + b"--" + BOUNDARY.encode() + b"--\r\n"


def http_request(
    path: str,
    body: bytes,
    *,
    method: str = "POST",
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
    framing: str | None = None,
) -> bytes:
    """A whole HTTP/1.1 request with ``Connection: close``; ``framing`` replaces the length."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if method == "POST":
        head.append(f"Content-Type: {content_type}")
        head.append(framing or f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def digit_image(rng: random.Random) -> tuple[int, bytes, str]:
    """(digit, its encoded image, the format's name) in a random accepted format and size."""
    digit = rng.randrange(10)
    image = render_digit(digit, size=rng.choice([40, 96, 200]))
    image_format = rng.choice(ACCEPTED)
    if image_format in ("JPEG", "BMP") and rng.random() < 0.5:
        image = image.convert("RGB")
    return digit, encoded(image, image_format), image_format


def predict_case(
    kind: str,
    rng: random.Random,
    image: bytes,
    *,
    filename: str | bytes | None = "upload.png",
    statuses: frozenset[int] | None = None,
    digit: int | None = None,
    content_type: str | None = None,
    fields: tuple[tuple[str, str], ...] = (("model", "mnist"),),
) -> Case:
    path = rng.choice(PAGES)
    parts = [Part("image", image, filename, content_type)]
    parts += [Part(name, value.encode()) for name, value in fields]
    return Case(kind, path, http_request(path, multipart(parts)), statuses, digit)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_claiming(width: int, height: int, idat: bytes = b"", extra: bytes = b"") -> bytes:
    """A grayscale PNG whose header claims ``width``x``height``, with the given data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", idat or zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


@functools.cache
def pixel_bomb() -> bytes:
    """A real PNG of 8000x8000 black pixels: 64 MB decoded, 64 KB sent; over the pixel limit."""
    compressor = zlib.compressobj(9)
    row = b"\0" * 8001  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(8000)) + compressor.flush()
    return png_claiming(8000, 8000, data)


@functools.cache
def text_chunk_bomb() -> bytes:
    """A small valid PNG with a zTXt chunk that inflates to 64 MB of text."""
    compressed = zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    image = encoded(render_digit(4, size=40), "PNG")
    ihdr_end = 8 + 25
    return image[:ihdr_end] + png_chunk(b"zTXt", b"Comment\0\0" + compressed) + image[ihdr_end:]


@functools.cache
def large_plain_image() -> bytes:
    """A 5000x5000 PNG (25 M pixels, under the default 40 M limit) that decodes to 25 MB."""
    compressor = zlib.compressobj(9)
    row = b"\0" * 5001
    data = b"".join(compressor.compress(row) for _ in range(5000)) + compressor.flush()
    return png_claiming(5000, 5000, data)


def valid_digit(rng: random.Random) -> Case:
    digit, image, image_format = digit_image(rng)
    version = rng.choice(["", "1", "2"])
    fields = (("model", "mnist"), ("version", version))
    name = f"digit.{image_format.lower()}"
    return predict_case(
        "valid", rng, image, filename=name, fields=fields, statuses=frozenset({200}), digit=digit
    )


def truncated(rng: random.Random) -> Case:
    _, image, _ = digit_image(rng)
    cut = rng.choice([rng.randrange(1, 64), rng.randrange(1, len(image))])
    return predict_case("truncated", rng, image[:cut])


def polyglot(rng: random.Random) -> Case:
    """An image with something else appended or embedded, or something else with a magic."""
    _, image, _ = digit_image(rng)
    payload = rng.choice(
        [
            b"<script>alert(1)</script>",
            b"<?php system($_GET['c']); ?>",
            b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(200)),
            b"%PDF-1.7\n1 0 obj<<>>endobj\n",
            b"<html><body onload=alert(1)>",
        ]
    )
    data = rng.choice(
        [
            image + payload,  # trailing data after the image's end
            b"GIF89a" + payload,  # a magic number, then nothing of an image
            b"\x89PNG\r\n\x1a\n" + payload,
            b"\xff\xd8\xff\xe0" + payload,
            payload + image,
        ]
    )
    return predict_case("polyglot", rng, data, filename=rng.choice(["x.png", "x.html", "x.gif"]))


def mislabelled(rng: random.Random) -> Case:
    """Right bytes under a wrong name and type, or wrong bytes under an image's name."""
    if rng.random() < 0.5:
        digit, image, _ = digit_image(rng)
        name = rng.choice(["evil.html", "run.exe", "notes.txt", "noextension", "a.svg"])
        content_type = rng.choice(["text/html", "application/x-msdownload", "image/svg+xml"])
        return predict_case(
            "mislabelled",
            rng,
            image,
            filename=name,
            content_type=content_type,
            statuses=frozenset({200}),
            digit=digit,
        )
    data = rng.choice(
        [
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            b"<!DOCTYPE html><html></html>",
            b"just text\n",
            encoded(render_digit(3, size=40), "TIFF"),
            encoded(render_digit(3, size=32), "ICO"),
            encoded(render_digit(3, size=32), "PPM"),
        ]
    )
    return predict_case(
        "mislabelled", rng, data, content_type="image/png", statuses=frozenset({415})
    )


def decompression_bomb(rng: random.Random) -> Case:
    choice = rng.randrange(6)
    if choice == 0:
        return predict_case("bomb", rng, pixel_bomb(), statuses=frozenset({413}))
    if choice == 1:  # the header claims 100,000 x 100,000: refused before any decoding
        return predict_case("bomb", rng, png_claiming(100_000, 100_000), statuses=frozenset({413}))
    if choice == 2:  # past Pillow's own hard limit too
        side = rng.choice([65_535, 2**31 - 1])
        return predict_case("bomb", rng, png_claiming(side, side), statuses=frozenset({413}))
    if choice == 3:
        return predict_case("bomb", rng, text_chunk_bomb(), statuses=frozenset({400}))
    if choice == 4:  # a large image within the limit is decoded, and must be let go
        return predict_case("bomb", rng, large_plain_image(), statuses=frozenset({200}))
    # A GIF whose screen and only frame claim 65,535 x 65,535 pixels, with one byte of data.
    screen = struct.pack("<HHBBB", 65_535, 65_535, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65_535, 65_535, 0) + b"\x08\x02\x00\x00\x00"
    gif = b"GIF89a" + screen + frame + b";"
    return predict_case("bomb", rng, gif, statuses=frozenset({413}))


def zero_bytes(rng: random.Random) -> Case:
    return predict_case("zero bytes", rng, b"", statuses=frozenset({400}))


ODD_FILENAMES: list[str | bytes] = [
    "",
    "a" * 5000,
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/absolute/path.png",
    "x\x00y.png",
    "\u202egnp.exe",
    "😀🔥.png",
    "CON",
    ".png",
    "a;b=c.png",
    "name with spaces.png",
    "%2e%2e%2fx.png",
    b"\xff\xfe invalid utf-8 \xc3.png",
    "<img src=x onerror=alert(1)>.png",
]


def odd_filename(rng: random.Random) -> Case:
    digit, image, _ = digit_image(rng)
    name = rng.choice(ODD_FILENAMES)
    # A part header that is not UTF-8 is refused as a malformed form (Werkzeug decodes it).
    statuses = frozenset({200, 400} if isinstance(name, bytes) else {200})
    return predict_case("odd filename", rng, image, filename=name, statuses=statuses, digit=digit)


def odd_fields(rng: random.Random) -> Case:
    _, image, _ = digit_image(rng)
    model = rng.choice(["", "nope", "../mnist", "m" * 2000, "mnïst", "a/b", "%2e%2e", "broken"])
    version = rng.choice(["", "-1", "²", "9" * 60, "1.0", " 1 ", "0", "x", "١"])
    # "broken" has no AVAILABLE version: 503 is the truth, not a failure of the app.
    statuses = frozenset({404, 503}) if model == "broken" else None
    fields = (("model", model), ("version", version))
    return predict_case("odd fields", rng, image, fields=fields, statuses=statuses)


def broken_body(rng: random.Random) -> Case:
    """A valid form with bytes flipped, cut or framed wrongly."""
    path = rng.choice(PAGES)
    _, image, _ = digit_image(rng)
    body = bytearray(multipart([Part("image", image, "d.png"), Part("model", b"mnist")]))
    choice = rng.randrange(6)
    if choice == 0:
        for _ in range(rng.randint(1, 20)):
            body[rng.randrange(len(body))] = rng.getrandbits(8)
        return Case("broken body", path, http_request(path, bytes(body)))
    if choice == 1:
        cut = rng.randrange(len(body))
        return Case("broken body", path, http_request(path, bytes(body[:cut])))
    if choice == 2:
        framing = "Transfer-Encoding: chunked"
        request = http_request(path, b"zz\r\n" + bytes(body) + b"\r\n0\r\n\r\n", framing=framing)
        return Case("broken body", path, request, frozenset({400}))
    if choice == 3:
        chunk = f"{len(body):x}\r\n".encode() + bytes(body) + b"XX0\r\n\r\n"
        request = http_request(path, chunk, framing="Transfer-Encoding: chunked")
        return Case("broken body", path, request, frozenset({400}))
    if choice == 4:
        content_type = rng.choice(
            [
                "application/json",
                "text/plain",
                "multipart/form-data",
                "multipart/form-data; boundary=nope",
            ]
        )
        request = http_request(path, bytes(body), content_type=content_type)
        return Case("broken body", path, request, frozenset({400}))
    noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
    return Case("broken body", path, http_request(path, noise))


def odd_links(rng: random.Random) -> Case:
    target = rng.choice(
        [
            "/history?page=" + rng.choice(["%C2%B2", "-1", "99999999999999999999", "1e9", "%00"]),
            "/images/" + rng.choice(["..%2F..%2Fetc%2Fpasswd", "x.png", "%00", "a" * 300]),
            "/api/" + rng.choice(["predict", "models", "nothing"]),
            "/models?x=" + "%ff" * 20,
        ]
    )
    return Case("odd link", target, http_request(target, b"", method="GET"))


GENERATORS: list[Callable[[random.Random], Case]] = [
    valid_digit,
    truncated,
    polyglot,
    mislabelled,
    decompression_bomb,
    zero_bytes,
    odd_filename,
    odd_fields,
    broken_body,
    odd_links,
]
