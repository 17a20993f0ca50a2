"""``tensorserve webapp``: parse flags into a :class:`WebAppConfig` and serve it with gunicorn.

Each gunicorn worker builds its own app (and so its own HTTP client) after the fork.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from tensorserve.malloc_tuning import tune_malloc
from tensorserve.webapp.app import create_app
from tensorserve.webapp.config import InputScale, WebAppConfig


class WebAppServer(BaseApplication):  # type: ignore[misc]
    """Runs ``create_app(config)`` under gunicorn's threaded workers."""

    def __init__(self, config: WebAppConfig, options: dict[str, Any]) -> None:
        self._config = config
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._config)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``webapp`` sub-command; it sets ``func`` to :func:`run`."""
    parser = subparsers.add_parser(
        "webapp",
        help="Run the web app that classifies images with a model server.",
        description="A web page and JSON API that send images to a TensorFlow-Serving-"
        "compatible REST server and show what the model predicts.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The web app's flags (shared by ``tensorserve webapp`` and ``python -m``)."""
    defaults = WebAppConfig()
    parser.add_argument("--server-url", default=defaults.server_url, help="model server REST URL")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (0: any)")
    parser.add_argument(
        "--images-dir", type=Path, default=defaults.images_dir, help="where uploads are kept"
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=defaults.max_upload_bytes / 1024 / 1024,
        help="largest accepted upload, in MiB",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=defaults.max_image_pixels,
        help="largest accepted width x height",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.request_timeout_s,
        help="seconds to wait for the model server",
    )
    parser.add_argument(
        "--models",
        default="",
        help="comma-separated model names, used when the server cannot list its models",
    )
    parser.add_argument(
        "--input-scale",
        choices=[scale.value for scale in InputScale],
        default=defaults.input_scale.value,
        help="pixel scaling for numeric image inputs: unit [0,1], symmetric [-1,1], raw [0,255]",
    )
    parser.add_argument(
        "--history-limit",
        type=int,
        default=defaults.history_limit,
        help="most uploads kept in --images-dir; the oldest are deleted",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")


def config_from_args(args: argparse.Namespace) -> WebAppConfig:
    """The typed config the flags describe."""
    return WebAppConfig(
        server_url=args.server_url,
        images_dir=args.images_dir,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_image_pixels=args.max_image_pixels,
        request_timeout_s=args.timeout,
        models=tuple(name.strip() for name in args.models.split(",") if name.strip()),
        input_scale=InputScale(args.input_scale),
        history_limit=args.history_limit,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the process exit status."""
    # Uploads are decoded on worker threads; without this, glibc's per-thread arenas keep
    # what big images freed, and a worker's memory creeps (tests/webapp/test_fuzz.py).
    # Set in the master, so every forked worker inherits it.
    tune_malloc()
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": "gthread",
        "threads": args.threads,
        "timeout": int(args.timeout) + 30,
        "accesslog": "-",
    }
    WebAppServer(config_from_args(args), options).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tensorserve.webapp``: the sub-command's flags without the main CLI."""
    parser = argparse.ArgumentParser(prog="python -m tensorserve.webapp")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
