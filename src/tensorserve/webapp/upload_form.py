"""Reads a predict request's body and form within the web app's limits, or says which one failed.

The body is read here, not by Werkzeug's form parsing, so that each limit gets its own
truthful error: Werkzeug raises the same bare 413 for a body over ``MAX_CONTENT_LENGTH``,
too many form parts and one oversized text field, refuses a body of *exactly* the limit
when the server terminates the stream (gunicorn always does), and lets the WSGI server's
own exceptions for broken chunked framing escape as a 500. Here:

* the body is read whole, at most ``max_body_bytes`` (a ``Content-Length`` over the limit is
  refused unread); whatever the server's input stream raises while reading (gunicorn's
  ``InvalidChunkSize``, werkzeug's ``OSError``, a body cut short) is :class:`MalformedBody`;
* the parts of a form are counted before it is parsed (:class:`TooManyFormParts`);
* Werkzeug parses what is left, with only the text-field limit
  (:class:`FormFieldTooLarge`), so its 413 can mean nothing else.

Pure functions of the WSGI environ; thread-safe. Costs one copy of the body in memory.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from tensorserve.webapp import errors

IMAGE_FIELD = "image"
_READ_SIZE = 64 * 1024
_LINE_BREAK = rb"(?:\r\n|\n|\r)"
"""What Werkzeug's multipart decoder takes for a line break around a boundary."""


@dataclass(frozen=True)
class FormLimits:
    """The limits a predict request must keep."""

    max_body_bytes: int
    """Largest request body (the whole multipart form, not only the image)."""
    max_parts: int
    """Most parts (fields and files) in a form."""
    max_field_bytes: int
    """Largest text field (every part without a filename); files are bounded by the body."""


@dataclass(frozen=True)
class UploadForm:
    """A parsed predict form: the image's bytes (``None`` when absent) and the text fields."""

    image: bytes | None
    filename: str
    fields: Mapping[str, str]

    def field(self, name: str) -> str:
        """A text field, stripped; empty when absent."""
        return self.fields.get(name, "").strip()


def read_upload_form(environ: Mapping[str, Any], limits: FormLimits) -> UploadForm:
    """Read and parse the request body of ``environ``, or raise the error that says why not."""
    body = read_body(environ, limits.max_body_bytes)
    mimetype, options = parse_options_header(str(environ.get("CONTENT_TYPE", "")))
    parts = _count_parts(body, mimetype, options)
    if parts > limits.max_parts:
        raise errors.TooManyFormParts(parts, limits.max_parts)
    parser = FormDataParser(
        max_form_memory_size=limits.max_field_bytes, max_form_parts=None, silent=False
    )
    try:
        _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge as too_large:
        raise errors.FormFieldTooLarge(limits.max_field_bytes) from too_large
    except ValueError as malformed:  # Werkzeug's message names what is wrong with the form
        raise errors.MalformedBody(f"the form is malformed: {malformed}") from malformed
    try:
        upload: FileStorage | None = files.get(IMAGE_FIELD)
        image = upload.read() if upload is not None else None
        filename = (upload.filename or "") if upload is not None else ""
    finally:
        for _, stored in files.items(multi=True):
            stored.close()
    return UploadForm(image=image, filename=filename, fields=form.to_dict())


def read_body(environ: Mapping[str, Any], max_bytes: int) -> bytes:
    """The whole request body, at most ``max_bytes`` (a body of exactly that size is fine)."""
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not (length_text.isascii() and length_text.isdigit()):
            raise errors.MalformedBody(f"Content-Length {length_text[:40]!r} is not a number")
        if len(length_text) > len(str(max_bytes)) or int(length_text) > max_bytes:
            raise errors.UploadTooLarge(max_bytes)
        expected: int | None = int(length_text)
    elif environ.get("wsgi.input_terminated"):
        expected = None  # chunked: the server ends the stream where the body ends
    else:
        return b""  # no length and an unterminated stream: nothing can be read safely
    body = _read_stream(environ["wsgi.input"], max_bytes + 1 if expected is None else expected)
    if expected is not None and len(body) < expected:
        raise errors.MalformedBody(f"the body ended after {len(body):,} of {expected:,} bytes")
    if len(body) > max_bytes:
        raise errors.UploadTooLarge(max_bytes)
    return body


def _read_stream(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, fewer when it ends first."""
    chunks: list[bytes] = []
    remaining = size
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, _READ_SIZE))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except Exception as broken:
        # The WSGI server's input stream raises its own types for bytes it cannot frame
        # (gunicorn: InvalidChunkSize, ChunkMissingTerminator, NoMoreData; werkzeug:
        # OSError); whichever it is, the client's body could not be read.
        detail = str(broken) or type(broken).__name__
        raise errors.MalformedBody(f"the body could not be read ({detail})") from broken
    return b"".join(chunks)


def _count_parts(body: bytes, mimetype: str, options: Mapping[str, str]) -> int:
    """How many fields the form holds, counted the way Werkzeug's parser would split it."""
    if mimetype == "multipart/form-data":
        boundary = options.get("boundary", "").encode("latin-1", "replace")
        if not boundary:
            return 0  # the parser refuses it as malformed
        delimiter = _LINE_BREAK + b"--" + re.escape(boundary) + rb"[^\S\n\r]*" + _LINE_BREAK
        return len(re.findall(delimiter, b"\r\n" + body))
    if mimetype == "application/x-www-form-urlencoded":
        return body.count(b"&") + 1 if body else 0
    return 0
