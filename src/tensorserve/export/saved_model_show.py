"""``tensorserve inspect``: a SavedModel's signatures as ``saved_model_cli show --all``.

Reads ``saved_model.pb`` (or ``saved_model.pbtxt``) with the SavedModel proto only, so it
works on TF1 and TF2 models without loading them, and prints each MetaGraphDef's
SignatureDefs in saved_model_cli's exact layout. The op list and the concrete-function
section that saved_model_cli appends (which need the graph loaded) are left out.
Pure; thread-safe.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import message, text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from tensorserve.export.errors import ExportError


def read_saved_model(path: Path) -> saved_model_pb2.SavedModel:
    """Parse the SavedModel proto in directory ``path``; raise ``ExportError`` if absent."""
    binary, text = path / "saved_model.pb", path / "saved_model.pbtxt"
    if not path.exists():
        raise ExportError(f"The path {path} does not exist.")
    if not binary.is_file() and not text.is_file():
        raise ExportError(f"{path} has no saved_model.pb, so it is not a SavedModel.")
    saved_model = saved_model_pb2.SavedModel()
    try:
        if binary.is_file():
            saved_model.ParseFromString(binary.read_bytes())
        else:
            text_format.Parse(text.read_text(encoding="utf-8"), saved_model)
    except OSError as error:
        raise ExportError(f"Cannot read the SavedModel at {path}: {error.strerror}.") from None
    except (message.DecodeError, text_format.ParseError):
        raise ExportError(f"Cannot read the SavedModel at {path}: the file is corrupt.") from None
    return saved_model


def format_signatures(saved_model: saved_model_pb2.SavedModel) -> str:
    """Every MetaGraphDef's SignatureDefs, ending with a newline."""
    lines: list[str] = []
    meta_graphs = sorted(saved_model.meta_graphs, key=lambda mg: list(mg.meta_info_def.tags))
    for meta_graph in meta_graphs:
        tags = ", ".join(meta_graph.meta_info_def.tags)
        lines.append("")
        lines.append(f"MetaGraphDef with tag-set: '{tags}' contains the following SignatureDefs:")
        for key in sorted(meta_graph.signature_def):
            lines.append("")
            lines.append(f"signature_def['{key}']:")
            lines.extend(_signature_lines(meta_graph.signature_def[key]))
    return "\n".join(lines) + "\n"


def _signature_lines(signature: meta_graph_pb2.SignatureDef) -> list[str]:
    lines = ["  The given SavedModel SignatureDef contains the following input(s):"]
    for key, info in sorted(signature.inputs.items()):
        lines.append(f"    inputs['{key}'] tensor_info:")
        lines.extend(_tensor_lines(info))
    lines.append("  The given SavedModel SignatureDef contains the following output(s):")
    for key, info in sorted(signature.outputs.items()):
        lines.append(f"    outputs['{key}'] tensor_info:")
        lines.extend(_tensor_lines(info))
    lines.append(f"  Method name is: {signature.method_name}")
    return lines


def _tensor_lines(info: meta_graph_pb2.TensorInfo) -> list[str]:
    if info.tensor_shape.unknown_rank:
        shape = "unknown_rank"
    else:
        shape = "(" + ", ".join(str(dim.size) for dim in info.tensor_shape.dim) + ")"
    return [
        f"        dtype: {types_pb2.DataType.Name(info.dtype)}",
        f"        shape: {shape}",
        f"        name: {info.name}",
    ]
