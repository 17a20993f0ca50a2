"""A SavedModel's MetaGraph loaded into a session, as TensorFlow Serving loads it.

The steps are TensorFlow's C++ ``LoadSavedModel`` (``cc/saved_model/loader.cc``), which
TensorFlow Serving runs: read ``saved_model.pb`` (or ``.pbtxt``), pick the MetaGraph
whose tags match, import its ``GraphDef`` into a new session, run the ``SaverDef``'s
restore op on ``variables/variables`` when ``variables/variables.index`` exists, then
run the init op (the ``__saved_model_init_op`` signature's, else the
``saved_model_main_op`` or ``legacy_init_op`` collection's), the asset files fed to
their placeholders in both runs. Doing it here on :class:`GraphSession` rather than with
Python's ``loader_impl`` keeps TensorFlow's Python graph machinery out of the server.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2

from tensorserve.core import errors

from .graph_session import GraphSession
from .runtime import config_pb2, meta_graph_pb2

INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"
MAIN_OP_KEY = "saved_model_main_op"
LEGACY_INIT_OP_KEY = "legacy_init_op"
ASSETS_KEY = "saved_model_assets"


class UnreadableSavedModel(Exception):
    """The SavedModel proto is missing (``file`` None) or cannot be read or parsed;
    ``kind`` is the file's proto format (``binary`` or ``text``)."""

    def __init__(
        self, file: Path | None, cause: BaseException | None = None, kind: str = ""
    ) -> None:
        super().__init__(str(file))
        self.file = file
        self.cause = cause
        self.kind = kind


def read_saved_model(export_dir: Path) -> saved_model_pb2.SavedModel:
    """``saved_model.pb``, else ``saved_model.pbtxt``, parsed; raises
    UnreadableSavedModel naming the file that failed, or none when neither is there."""
    saved_model = saved_model_pb2.SavedModel()
    for name, kind in (("saved_model.pb", "binary"), ("saved_model.pbtxt", "text")):
        file = export_dir / name
        if not file.exists():
            continue
        try:
            if kind == "binary":
                saved_model.ParseFromString(file.read_bytes())
            else:
                text_format.Parse(file.read_text(), saved_model)
        except (OSError, DecodeError, text_format.ParseError, UnicodeDecodeError) as exc:
            raise UnreadableSavedModel(file, exc, kind) from None
        return saved_model
    raise UnreadableSavedModel(None)


def load_into_session(
    export_dir: Path, meta_graph_def: meta_graph_pb2.MetaGraphDef, config: config_pb2.ConfigProto
) -> GraphSession:
    """A session over ``meta_graph_def``'s graph with its variables restored and its init
    op run. Raises TensorFlow's ``OpError`` from the import or the runs,
    FailedPrecondition for a malformed init op declaration."""
    session = GraphSession(meta_graph_def.graph_def.SerializeToString(), config)
    try:
        assets = _asset_feeds(export_dir, meta_graph_def)
        variables = export_dir / "variables" / "variables"
        if variables.with_suffix(".index").exists() and meta_graph_def.HasField("saver_def"):
            saver = meta_graph_def.saver_def
            feeds = {saver.filename_tensor_name: os.fsencode(variables), **assets}
            session.run(feeds, targets=[_op_name(saver.restore_op_name)])
        init_op = _init_op_name(export_dir, meta_graph_def)
        if init_op:
            session.run(assets, targets=[_op_name(init_op)])
    except BaseException:
        session.close()
        raise
    return session


def _asset_feeds(export_dir: Path, meta_graph_def: meta_graph_pb2.MetaGraphDef) -> dict[str, bytes]:
    """Each asset's placeholder name -> the file's path under ``assets/``: from the
    MetaGraph's ``asset_file_def``, else the v1 ``saved_model_assets`` collection."""
    assets = list(meta_graph_def.asset_file_def)
    if not assets and ASSETS_KEY in meta_graph_def.collection_def:
        for packed in meta_graph_def.collection_def[ASSETS_KEY].any_list.value:
            asset = meta_graph_pb2.AssetFileDef()
            packed.Unpack(asset)
            assets.append(asset)
    directory = export_dir / "assets"
    return {asset.tensor_info.name: os.fsencode(directory / asset.filename) for asset in assets}


def _init_op_name(export_dir: Path, meta_graph_def: meta_graph_pb2.MetaGraphDef) -> str:
    """The init op's name, or "" when the SavedModel declares none (C++ ``GetInitOp``)."""
    signature = meta_graph_def.signature_def.get(INIT_OP_SIGNATURE_KEY)
    if signature is not None:
        if INIT_OP_SIGNATURE_KEY not in signature.outputs:
            raise errors.FailedPrecondition(f"Could not find output {INIT_OP_SIGNATURE_KEY}")
        return str(signature.outputs[INIT_OP_SIGNATURE_KEY].name)
    collections = meta_graph_def.collection_def
    key = MAIN_OP_KEY if MAIN_OP_KEY in collections else LEGACY_INIT_OP_KEY
    if key not in collections:
        return ""
    names = collections[key].node_list.value
    if len(names) != 1:
        raise errors.FailedPrecondition(f"Expected exactly one main op in : {export_dir}")
    return str(names[0])


def _op_name(name: str) -> str:
    """``op`` for ``op`` or ``op:0``: Python's loader accepts either for a target."""
    op, _, index = name.partition(":")
    return op if index.isdigit() else name
