"""Errors the web app shows to people, each with an HTTP status, what happened and what to do.

Every failure of a request becomes one :class:`WebAppError`; the app renders it once, as an
HTML page or as ``{"error": ..., "hint": ...}`` for ``/api/`` paths.

Hierarchy::

    WebAppError(message, hint)            status
    ├── BadUpload                         400
    │   ├── EmptyUpload                   400  no file, or a file of zero bytes
    │   ├── CorruptImage                  400  recognised as an image, fails to decode
    │   └── MalformedBody                 400  body unreadable: broken chunks, cut short, bad form
    ├── NotAnImage                        415  not an image format this app accepts
    ├── UploadTooLarge                    413  request body over the configured limit
    ├── TooManyFormParts                  413  more form fields than the limit
    ├── FormFieldTooLarge                 413  a text field (not the image) over its limit
    ├── ImageTooManyPixels                413  decompression bomb / over the pixel limit
    ├── UnknownModel                      404  model or version not on the server
    ├── UnsupportedSignature              422  no single image-like input to fill
    ├── ModelServerRejected               422  the server refused the request we built
    ├── ModelServerUnreachable            502  connection refused / protocol error
    ├── ModelServerFailed                 502  the server answered 5xx
    ├── UnexpectedAnswer                  502  an answer that is not what TF Serving sends
    ├── ModelUnavailable                  503  no AVAILABLE version, or the server is busy
    └── ModelServerTimeout                504  no answer within the configured timeout
"""

from __future__ import annotations


class WebAppError(Exception):
    """A failure with a status code, a one-line message and a hint on what to do next."""

    status: int = 500
    title: str = "Something went wrong"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_json(self) -> dict[str, str]:
        """The JSON error body of the ``/api/`` routes."""
        return {"error": self.message, "hint": self.hint}


class BadUpload(WebAppError):
    status = 400
    title = "That upload can't be used"


class EmptyUpload(BadUpload):
    title = "No image received"

    def __init__(self) -> None:
        super().__init__(
            "The upload was empty: no image file was received.",
            "Choose an image file (PNG, JPEG, GIF, WebP or BMP), drop one on the page, "
            "or draw a digit, then press Predict.",
        )


class CorruptImage(BadUpload):
    title = "The image is damaged"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The file looks like an image but could not be decoded ({detail}).",
            "The file may be truncated or corrupted. Re-export it from your image editor "
            "or try another file.",
        )


class MalformedBody(BadUpload):
    title = "The upload arrived damaged"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The request could not be read: {detail}.",
            "The upload was cut off or garbled on its way. Try again; if it keeps failing, "
            "send the image from a browser or with curl -F image=@file.",
        )


class NotAnImage(WebAppError):
    status = 415
    title = "Not an image"

    def __init__(self, what: str = "The uploaded file is not an image.") -> None:
        super().__init__(
            what,
            "Upload a PNG, JPEG, GIF, WebP or BMP image.",
        )


class UploadTooLarge(WebAppError):
    status = 413
    title = "Upload too large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"The upload is larger than the {_size_text(limit_bytes)} limit.",
            "Resize or compress the image, then try again.",
        )


class TooManyFormParts(WebAppError):
    status = 413
    title = "Too many form fields"

    def __init__(self, parts: int, limit_parts: int) -> None:
        super().__init__(
            f"The form has {parts:,} fields; at most {limit_parts:,} are accepted.",
            "Send the image with at most the model and version fields.",
        )


class FormFieldTooLarge(WebAppError):
    status = 413
    title = "Form field too large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            "A form field other than the image is larger than the limit of "
            f"{_size_text(limit_bytes)} for text fields.",
            "Send the image as a file; the model and version fields take a name and a number.",
        )


class ImageTooManyPixels(WebAppError):
    status = 413
    title = "Image too large"

    def __init__(self, limit_pixels: int, size: tuple[int, int] | None = None) -> None:
        size_text = f" ({size[0]}x{size[1]})" if size else ""
        super().__init__(
            f"The image{size_text} has more than the limit of {limit_pixels:,} pixels.",
            "Scale the image down (a few hundred pixels per side is plenty) and try again.",
        )


class UnknownModel(WebAppError):
    status = 404
    title = "Model not found"

    def __init__(self, model: str, version: str | None = None, detail: str = "") -> None:
        which = f"Version {version} of model {model!r}" if version else f"Model {model!r}"
        super().__init__(
            f"{which} is not served by the model server." + (f" ({detail})" if detail else ""),
            "Pick one of the models listed on the Models page.",
        )


class UnsupportedSignature(WebAppError):
    status = 422
    title = "This model doesn't take images"

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(
            f"Model {model!r} has no input this app can fill with an image: {reason}",
            "Choose a model whose signature takes encoded image bytes or an image-shaped "
            "numeric tensor ([-1, H, W, C], [-1, H, W] or [-1, N]).",
        )


class ModelServerRejected(WebAppError):
    status = 422
    title = "The model rejected the input"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The model server refused the request: {detail}",
            "The model may expect a different input than its signature describes. "
            "Check its signature on the Models page.",
        )


class ModelServerUnreachable(WebAppError):
    status = 502
    title = "Model server unreachable"

    def __init__(self, server_url: str, detail: str) -> None:
        super().__init__(
            f"Could not reach the model server at {server_url} ({detail}).",
            "Check that tensorserve is running and that --server-url points at its REST "
            "port, then reload this page.",
        )


class ModelServerFailed(WebAppError):
    status = 502
    title = "Model server error"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(
            f"The model server failed with HTTP {status}: {detail}",
            "Look at the model server's log; retry once it is healthy.",
        )


class UnexpectedAnswer(WebAppError):
    status = 502
    title = "Model server answer not understood"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The model server sent an answer this app does not understand: {detail}",
            "Check that --server-url points at the REST port of tensorserve or another "
            "TensorFlow-Serving-compatible server.",
        )


class ModelUnavailable(WebAppError):
    status = 503
    title = "Model not ready"

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail,
            "The model may still be loading or the server is overloaded. Wait a moment "
            "and try again.",
        )


class ModelServerTimeout(WebAppError):
    status = 504
    title = "Model server too slow"

    def __init__(self, timeout_description: str) -> None:
        super().__init__(
            f"The model server did not answer within {timeout_description}.",
            "The server may be overloaded. Try again, or start the web app with a longer "
            "--timeout.",
        )


def _size_text(size_bytes: int) -> str:
    """``10 MB`` (MiB, as ``--max-upload-mb`` counts), ``500,000 bytes`` when not a round size."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if size_bytes >= size and size_bytes % size == 0:
            return f"{size_bytes // size:,} {unit}"
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / 1024 / 1024:.3g} MB ({size_bytes:,} bytes)"
    return f"{size_bytes:,} bytes"
