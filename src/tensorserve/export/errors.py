"""The one error the export tool raises: a plain sentence for the command line.

``ExportError`` carries a complete sentence that names what went wrong and, when there
is one, the flag that fixes it. The command line prints it alone (no traceback) and
exits 1; library callers may catch it like any exception.
"""

from __future__ import annotations


class ExportError(Exception):
    """An export or inspection failed for a reason the user can act on."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence
