"""Command-line entry points (placeholder until the server lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("tensorserve: not yet implemented", file=sys.stderr)
    return 2


def tensorflow_model_server() -> int:
    return main(["serve", *sys.argv[1:]])
