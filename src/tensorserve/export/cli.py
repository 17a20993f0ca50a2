"""Command-line front end for ``tensorserve export`` and ``tensorserve inspect``.

Parses flags into ``ExportOptions``, prints step lines to stderr and the written path to
stdout. A user-facing failure prints one sentence to stderr and exits 1, never a
traceback. TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` and ``inspect`` subcommands."""
    _add_export_parser(subparsers)
    _add_inspect_parser(subparsers)
    _add_convert_parser(subparsers)


def _add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a Keras model or SavedModel as a servable version directory",
        description="Write MODEL_PATH to BASE_DIR/NAME/VERSION/ as a SavedModel with serving "
        "signatures, verify it against the model, and print the path written.",
    )
    parser.add_argument(
        "model_path",
        type=Path,
        metavar="MODEL_PATH",
        help=".keras or .h5 file, or a SavedModel directory",
    )
    parser.add_argument("--name", required=True, help="model name (directory under --base-dir)")
    parser.add_argument(
        "--base-dir",
        type=Path,
        default=Path("serving_model"),
        help="where model directories live (default: serving_model)",
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="version number (default: one more than the highest present)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the version if it already exists"
    )
    parser.add_argument(
        "--custom-objects",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="custom layer, loss or function the model needs (repeatable)",
    )
    parser.add_argument(
        "--image-input",
        action="store_true",
        help="serving_default takes encoded images (input 'image_bytes')",
    )
    parser.add_argument(
        "--scale",
        type=_parse_scale,
        default=1 / 255,
        help="pixel scale for --image-input, e.g. 1/255 (the default) or 1",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        metavar="FILE",
        help="class labels, one per line: adds classes/scores and 'classify'",
    )
    parser.add_argument(
        "--warmup-samples",
        type=int,
        default=0,
        metavar="N",
        help="write N warmup requests to assets.extra (default: 0)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest allowed difference from the model (default: 1e-4)",
    )
    parser.add_argument(
        "--onnx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write a verified ONNX twin of each predict signature that converts, "
        "for --prefer_onnx_model (default: on)",
    )
    parser.add_argument(
        "--serving-only",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the inference graph alone (default); --no-serving-only also keeps the "
        "Keras file, optimizer state included, in VERSION/training/ to resume training",
    )
    parser.set_defaults(func=run_export)


def _add_convert_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="add verified ONNX twins to an existing SavedModel version directory",
        description="Convert each signature of the SavedModel in PATH to ONNX, verify it "
        "against TensorFlow, and write the twins and their record to PATH/assets.extra/onnx/. "
        "Signatures that cannot convert stay TensorFlow-only; that is not an error.",
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="SavedModel version directory")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest allowed difference from TensorFlow (default: 1e-4)",
    )
    parser.set_defaults(func=run_convert)


def _add_inspect_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a SavedModel's signatures",
        description="Print the SignatureDefs of the SavedModel in PATH as "
        "'saved_model_cli show --all' does.",
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="SavedModel version directory")
    parser.set_defaults(func=run_inspect)


def _parse_scale(text: str) -> float:
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number like 1/255, got {text!r}") from None


def run_export(args: argparse.Namespace) -> int:
    """Run ``tensorserve export``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # A console script does not put the working directory on sys.path, but users expect
    # `--custom-objects my_layers:MyLayer` to find ./my_layers.py.
    if args.custom_objects and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    from tensorserve.export.errors import ExportError
    from tensorserve.export.exporter import ExportOptions, export_model

    options = ExportOptions(
        model_path=args.model_path,
        name=args.name,
        base_dir=args.base_dir,
        version=args.version,
        overwrite=args.overwrite,
        custom_objects=tuple(args.custom_objects),
        image_input=args.image_input,
        scale=args.scale,
        labels_path=args.labels,
        warmup_samples=args.warmup_samples,
        tolerance=args.tolerance,
        onnx_twins=args.onnx,
        serving_only=args.serving_only,
    )
    try:
        result = export_model(options, progress=_print_step)
    except ExportError as error:
        print(error.sentence, file=sys.stderr)
        return EXIT_FAILURE
    print(result.path)
    return EXIT_OK


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``tensorserve inspect``; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorserve.export.errors import ExportError
    from tensorserve.export.saved_model_show import format_signatures, read_saved_model

    try:
        saved_model = read_saved_model(args.path)
    except ExportError as error:
        print(error.sentence, file=sys.stderr)
        return EXIT_FAILURE
    sys.stdout.write(format_signatures(saved_model))
    return EXIT_OK


def run_convert(args: argparse.Namespace) -> int:
    """Run ``tensorserve convert``; returns the exit code (1 when PATH is no SavedModel)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path: Path = args.path
    if not (path / "saved_model.pb").is_file():
        print(f"No SavedModel (saved_model.pb) in {path}.", file=sys.stderr)
        return EXIT_FAILURE
    from tensorserve.export.onnx_twins import write_twins

    records = write_twins(path, args.tolerance, report=_print_step)
    verified = sum(record.verified for record in records.values())
    print(f"{verified} of {len(records)} signatures have a verified ONNX twin in {path}")
    return EXIT_OK


def _print_step(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
