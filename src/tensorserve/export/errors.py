"""The one error the export tool raises: a plain sentence for the command line.

``ExportError`` carries a complete sentence that names what went wrong and, when there
is one, the flag that fixes it. The command line prints it alone (no traceback) and
exits 1; library callers may catch it like any exception.
"""

from __future__ import annotations

import errno

_NO_SPACE = "No space left on device"


class ExportError(Exception):
    """An export or inspection failed for a reason the user can act on."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence


def write_failure_reason(error: BaseException) -> str:
    """Why a write failed, in a few words for an ``ExportError`` sentence.

    A full disk reads the same whether Python (``OSError`` ENOSPC) or TensorFlow (an
    ``OpError`` whose text ends in "No space left on device") hit it; other OS errors
    give their ``strerror``, anything else the first line of its message.
    """
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "no space left on device"
    text = str(getattr(error, "message", None) or error)
    if _NO_SPACE in text:
        return "no space left on device"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    first = text.strip().splitlines()[0].rstrip(".") if text.strip() else ""
    return first or type(error).__name__
