"""TensorFlow-style command-line flags for ``tensorflow_model_server`` / ``tensorserve serve``.

Syntax follows TensorFlow's flag parser: ``--name=value``; bools as ``--flag``
or ``--flag=true|false|1|0``. For convenience ``--name value`` also works for
non-bool flags. A malformed value for a known flag prints the problem and the
usage to stderr and exits with status 255 (TensorFlow's ``return -1``); an
unknown argument prints ``unknown argument: <arg>`` and the usage, and parsing
goes on. ``--version`` prints the versions and exits 0.

Docker image convention: when neither ``--model_base_path`` nor
``--model_config_file`` is given and ``MODEL_NAME`` or ``MODEL_BASE_PATH`` is
set, the model is ``$MODEL_NAME`` (default ``model``) under
``$MODEL_BASE_PATH/$MODEL_NAME`` (default base ``/models``), as the official
image's entrypoint passes them; an explicit ``--model_name`` still wins.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from tensorserve.config.options import GRPC_SERVERS, ServerOptions, flag_fields
from tensorserve.core.errors import InvalidArgument

PROGRAM = "tensorflow_model_server"
MALFORMED_FLAG_EXIT_STATUS = 255
"""TensorFlow's ``main`` returns -1 on a malformed flag: status 255 to the shell."""

DOCKER_DEFAULT_MODEL_NAME = "model"
DOCKER_DEFAULT_MODEL_BASE_PATH = "/models"

_INT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_VERSION_FIELD: dataclasses.Field[Any] = dataclasses.field(metadata={"type": "bool"})


def _type_name(field: dataclasses.Field[Any]) -> str:
    declared = field.metadata.get("type")
    if declared:
        return str(declared)
    return {"int": "int32", "bool": "bool", "float": "float", "str": "string"}[str(field.type)]


def _display_default(field: dataclasses.Field[Any]) -> str:
    if field.default_factory is not dataclasses.MISSING:
        default: Any = field.default_factory()
    else:
        default = field.default
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float):
        return f"{default:f}"
    if isinstance(default, str):
        return f'"{default}"'
    return str(default)


def usage(program: str = PROGRAM) -> str:
    """The usage text, laid out as TensorFlow's ``Flags::Usage`` does."""
    lines = [f"usage: {program}", "Flags:"]
    entries = [("--version=false", "bool", "Display version")]
    for field in flag_fields():
        entries.append(
            (
                f"--{field.name}={_display_default(field)}",
                _type_name(field),
                field.metadata["help"],
            )
        )
    lines.extend(f"\t{flag:<33}\t{type_name}\t{text}" for flag, type_name, text in entries)
    return "\n".join(lines) + "\n"


def version_text() -> str:
    """What ``--version`` prints; reads package metadata (does not import TensorFlow)."""
    return (
        f"TensorFlow ModelServer: {_package_version('tensorserve')}\n"
        f"TensorFlow Library: {_package_version('tensorflow')}\n"
    )


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _parse_value(field: dataclasses.Field[Any], raw: str) -> Any:
    """The typed value of ``raw`` for ``field``; ValueError when malformed."""
    type_name = _type_name(field)
    if type_name == "bool":
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(raw)
    if type_name in _INT_RANGES:
        low, high = _INT_RANGES[type_name]
        if not _INT.fullmatch(raw) or not low <= int(raw) <= high:
            raise ValueError(raw)
        return int(raw)
    if type_name == "float":
        return float(raw)
    return raw


def parse_flags(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    program: str = PROGRAM,
) -> ServerOptions:
    """Parse ``argv`` (without the program name) and ``environ`` into ServerOptions.

    Raises SystemExit(255) on a malformed value, SystemExit(0) after ``--version``
    or ``--help``, and InvalidArgument (TensorFlow Serving's message) when the
    options are inconsistent (see :func:`validate_server_options`).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    fields = {field.name: field for field in flag_fields()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    unknown: list[str] = []
    show_version = False
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg in ("--help", "-h", "--helpfull"):
            out.write(usage(program))
            raise SystemExit(0)
        name, has_value, raw = arg[2:].partition("=") if arg.startswith("--") else ("", False, "")
        if name == "version":
            try:
                show_version = _parse_value(_VERSION_FIELD, raw) if has_value else True
            except ValueError:
                problems.append(f"Couldn't interpret value {raw} for flag version.")
            continue
        field = fields.get(name)
        if field is None:
            unknown.append(arg)
            continue
        if not has_value:
            if _type_name(field) == "bool":
                values[name] = True
                continue
            if index < len(args) and not args[index].startswith("--"):
                raw = args[index]
                index += 1
            else:
                problems.append(f"Missing value for flag {name}.")
                continue
        try:
            values[name] = _parse_value(field, raw)
        except ValueError:
            problems.append(f"Couldn't interpret value {raw} for flag {name}.")
    if problems:
        err.write("".join(f"{problem}\n" for problem in problems) + usage(program))
        raise SystemExit(MALFORMED_FLAG_EXIT_STATUS)
    if show_version:
        out.write(version_text())
        raise SystemExit(0)
    for arg in unknown:
        err.write(f"unknown argument: {arg}\n")
    if unknown:
        err.write(usage(program))
    _apply_docker_environment(values, environ or {})
    options = ServerOptions(**values)
    validate_server_options(options)
    return options


def _apply_docker_environment(values: dict[str, Any], environ: Mapping[str, str]) -> None:
    if "model_base_path" in values or "model_config_file" in values:
        return
    if "MODEL_NAME" not in environ and "MODEL_BASE_PATH" not in environ:
        return
    env_name = environ.get("MODEL_NAME") or DOCKER_DEFAULT_MODEL_NAME
    env_base = environ.get("MODEL_BASE_PATH") or DOCKER_DEFAULT_MODEL_BASE_PATH
    values.setdefault("model_name", env_name)
    values["model_base_path"] = f"{env_base.rstrip('/')}/{env_name}"


def validate_server_options(options: ServerOptions) -> None:
    """Raise InvalidArgument, worded as TensorFlow Serving's ``Server::BuildAndStart``."""
    if options.port == 0 and not options.grpc_socket_path:
        raise InvalidArgument(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path "
            "must be set."
        )
    if not options.model_base_path and not options.model_config_file:
        raise InvalidArgument(
            "Both server_options.model_base_path and server_options.model_config_file are empty!"
        )
    # A platform config file replaces the session flags; TF Serving checks them only
    # without one.
    session_flags = not options.platform_config_file
    if session_flags and options.batching_parameters_file and not options.enable_batching:
        raise InvalidArgument(
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true."
        )
    if options.grpc_server not in GRPC_SERVERS:
        raise InvalidArgument(
            f"--grpc_server must be one of {', '.join(GRPC_SERVERS)}, not {options.grpc_server!r}."
        )
    if options.use_alts_credentials and options.ssl_config_file:
        raise InvalidArgument(
            "Either use_alts_credentials must be false or ssl_config_file must be empty."
        )
    if options.use_alts_credentials and options.grpc_server == "h2":
        raise InvalidArgument(
            "--use_alts_credentials needs one of grpcio's servers (--grpc_server=threads, "
            "asyncio or auto): the h2 server has no ALTS."
        )
    try:
        workers = options.worker_count()
    except ValueError:
        workers = 0
    if workers < 1:
        raise InvalidArgument(
            f"--num_workers must be 'auto' or a number of at least 1, not {options.num_workers!r}."
        )
    if options.drain_delay_seconds < 0 or options.shutdown_timeout_seconds < 0:
        raise InvalidArgument(
            "--drain_delay_seconds and --shutdown_timeout_seconds must not be negative."
        )
    if (
        session_flags
        and options.tensorflow_session_parallelism > 0
        and options.tensorflow_intra_op_parallelism > 0
        and options.tensorflow_inter_op_parallelism > 0
    ):
        raise InvalidArgument(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism). Both configurations cannot "
            "be set."
        )
