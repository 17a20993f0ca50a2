"""Command-line entry points: ``tensorserve <command>`` and ``tensorflow_model_server``.

``serve`` (and ``tensorflow_model_server``) take TensorFlow Serving's flags,
parsed by ``config.flags``; the other commands use argparse. Feature modules
register their own subcommands (``add_parser``) and are imported only when
asked for, so starting the server never imports Flask or Keras.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

_SUBCOMMANDS = {
    "export": ("tensorserve.export.cli", "Write a Keras model as a versioned SavedModel."),
    "inspect": ("tensorserve.export.cli", "Show the signatures of a SavedModel."),
    "convert": ("tensorserve.export.cli", "Add verified ONNX twins to a SavedModel version."),
    "webapp": ("tensorserve.webapp.cli", "Run the web app that talks to a model server."),
    "demo": (
        "tensorserve.demo.cli",
        "Train/export the MNIST demo, then serve it with the web app.",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        return serve(args[1:])
    if not args or args[0] in ("-h", "--help") or args[0] not in _SUBCOMMANDS:
        _print_help(args[0] if args and not args[0].startswith("-") else None)
        return 0 if not args or args[0] in ("-h", "--help") else 2
    parser = argparse.ArgumentParser(prog="tensorserve")
    subparsers = parser.add_subparsers(dest="command", required=True)
    module = importlib.import_module(_SUBCOMMANDS[args[0]][0])
    module.add_parser(subparsers)
    parsed = parser.parse_args(args)
    return int(parsed.func(parsed) or 0)


def serve(argv: Sequence[str], program: str = "tensorserve serve") -> int:
    """Run the model server until SIGTERM/SIGINT; TensorFlow Serving's flags."""
    from tensorserve.lean_imports import import_tensorflow_lazily_without_keras
    from tensorserve.tensorflow_environment import set_serving_defaults

    set_serving_defaults()  # TensorFlow reads them once, when the first SavedModel imports it
    import_tensorflow_lazily_without_keras(then=_after_tensorflow_loads)
    from tensorserve.config.flags import parse_flags
    from tensorserve.core.errors import ServingError

    try:
        options = parse_flags(argv, os.environ, program=program)
    except ServingError as err:
        print(err.message, file=sys.stderr)
        return 255
    from tensorserve.server import run_server

    return run_server(options)


def _after_tensorflow_loads() -> None:
    """TensorFlow's ~10^6 objects, frozen out of the collector's sight as start-up freezes
    them (server.py): unloading a SavedModel runs a full collection. And the ~300 MiB
    of its code that only its initialisers ran, handed back (``code_pages.py``), here as
    well as after the initial load, for a TensorFlow first imported by a later load."""
    from tensorserve.code_pages import release_clean_file_pages

    gc.freeze()
    release_clean_file_pages()


def tensorflow_model_server() -> int:
    """The ``tensorflow_model_server`` console script: the same server, TF's name."""
    return serve(sys.argv[1:], program="tensorflow_model_server")


def _print_help(unknown: str | None) -> None:
    out = sys.stderr if unknown else sys.stdout
    if unknown:
        print(f"tensorserve: unknown command {unknown!r}\n", file=out)
    print("usage: tensorserve <command> [options]\n\ncommands:", file=out)
    print("  serve      Serve models over gRPC and REST (TensorFlow Serving's flags).", file=out)
    for name, (_module, summary) in _SUBCOMMANDS.items():
        print(f"  {name:<10} {summary}", file=out)
    print("\n`tensorserve <command> --help` shows a command's options.", file=out)
