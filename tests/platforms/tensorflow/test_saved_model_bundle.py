"""SavedModels loaded as TensorFlow Serving's C++ ``LoadSavedModel`` loads them: assets
fed to the init op from the version's own ``assets/``, the init op found where each
TensorFlow version writes it, and sessions that fail cleanly once closed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2

from tensorserve.core.errors import FailedPrecondition
from tensorserve.core.servable_id import ServableId
from tensorserve.platforms.tensorflow.graph_session import GraphSession
from tensorserve.platforms.tensorflow.runtime import OpError
from tensorserve.platforms.tensorflow.saved_model_bundle import (
    LEGACY_INIT_OP_KEY,
    MAIN_OP_KEY,
    UnreadableSavedModel,
    _init_op_name,
    read_saved_model,
)
from tensorserve.platforms.tensorflow.saved_model_loader import SavedModelLoader
from tests.support.saved_models import write_half_plus_two

pytestmark = pytest.mark.slow

INIT_SIGNATURE = "__saved_model_init_op"


def _write_vocabulary_model(tmp_path: Path) -> Path:
    """A TF1 export whose init op fills a lookup table from an asset file; the file it
    was exported from is deleted, so only the version's own ``assets/`` copy exists."""
    import tensorflow as tf

    v1 = tf.compat.v1
    source = tmp_path / "source"
    source.mkdir()
    vocabulary = source / "vocabulary.txt"
    vocabulary.write_text("apple\nbanana\ncherry\n")
    export = tmp_path / "export" / "1"
    graph = tf.Graph()
    with graph.as_default():
        path = tf.constant(str(vocabulary), name="vocabulary_path")
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, path)
        table = v1.lookup.StaticHashTable(
            v1.lookup.TextFileInitializer(
                path,
                tf.string,
                v1.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                v1.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )
        words = v1.placeholder(tf.string, shape=[None], name="words")
        ids = tf.identity(table.lookup(words), name="ids")
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(str(export))
            builder.add_meta_graph_and_variables(
                session,
                ["serve"],
                signature_def_map={
                    "serving_default": v1.saved_model.predict_signature_def(
                        {"words": words}, {"ids": ids}
                    )
                },
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                main_op=v1.tables_initializer(),
            )
            builder.save()
    shutil.rmtree(source)
    return export


def _rewrite(export: Path, move_init_op_to: str) -> None:
    """Move the init op from the ``saved_model_main_op`` collection to ``move_init_op_to``:
    the ``legacy_init_op`` collection (older exports) or the init op signature (TF2)."""
    saved_model = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    meta_graph = saved_model.meta_graphs[0]
    (name,) = meta_graph.collection_def[MAIN_OP_KEY].node_list.value
    del meta_graph.collection_def[MAIN_OP_KEY]
    if move_init_op_to == LEGACY_INIT_OP_KEY:
        meta_graph.collection_def[LEGACY_INIT_OP_KEY].node_list.value.append(name)
    else:
        meta_graph.signature_def[INIT_SIGNATURE].outputs[INIT_SIGNATURE].name = name
    (export / "saved_model.pb").write_bytes(saved_model.SerializeToString())


@pytest.mark.parametrize("init_op_in", [MAIN_OP_KEY, LEGACY_INIT_OP_KEY, INIT_SIGNATURE])
def test_the_init_op_reads_the_versions_own_asset_file(tmp_path: Path, init_op_in: str) -> None:
    export = _write_vocabulary_model(tmp_path)
    if init_op_in != MAIN_OP_KEY:
        _rewrite(export, init_op_in)
    moved = tmp_path / "served" / "7"
    shutil.copytree(export, moved)  # the asset path baked into the graph no longer exists
    loader = SavedModelLoader(ServableId("vocabulary", 7), moved)
    loader.load()
    try:
        words = np.array([b"banana", b"apple", b"durian"], dtype=object)
        ids = loader.servable().predict("", {"words": words})["ids"]
        assert ids.tolist() == [1, 0, -1]
    finally:
        loader.unload()


def test_a_saved_model_in_text_format_loads(tmp_path: Path) -> None:
    export = write_half_plus_two(tmp_path / "m" / "1")
    saved_model = read_saved_model(export)
    (export / "saved_model.pbtxt").write_text(text_format.MessageToString(saved_model))
    (export / "saved_model.pb").unlink()
    loader = SavedModelLoader(ServableId("m", 1), export)
    loader.load()
    try:
        y = loader.servable().predict("", {"x": np.array([2.0], np.float32)})["y"]
        assert y.tolist() == [3.0]
    finally:
        loader.unload()


def test_an_unreadable_saved_model_names_its_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSavedModel) as missing:
        read_saved_model(tmp_path)
    assert missing.value.file is None
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff not a proto")
    with pytest.raises(UnreadableSavedModel) as corrupt:
        read_saved_model(tmp_path)
    assert corrupt.value.file == tmp_path / "saved_model.pb"


def _meta_graph(**collections: list[str]) -> meta_graph_pb2.MetaGraphDef:
    meta_graph = meta_graph_pb2.MetaGraphDef()
    for key, names in collections.items():
        meta_graph.collection_def[key].node_list.value.extend(names)
    return meta_graph


def test_the_init_op_is_found_where_tensorflow_serving_looks_first(tmp_path: Path) -> None:
    both = _meta_graph(saved_model_main_op=["main"], legacy_init_op=["legacy"])
    assert _init_op_name(tmp_path, both) == "main"
    assert _init_op_name(tmp_path, _meta_graph(legacy_init_op=["legacy"])) == "legacy"
    both.signature_def[INIT_SIGNATURE].outputs[INIT_SIGNATURE].name = "NoOp"
    assert _init_op_name(tmp_path, both) == "NoOp"
    assert _init_op_name(tmp_path, _meta_graph()) == ""


def test_a_malformed_init_op_declaration_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="Expected exactly one main op"):
        _init_op_name(tmp_path, _meta_graph(saved_model_main_op=["a", "b"]))
    no_output = _meta_graph()
    no_output.signature_def[INIT_SIGNATURE].outputs["other"].name = "NoOp"
    with pytest.raises(FailedPrecondition, match="Could not find output"):
        _init_op_name(tmp_path, no_output)


def _double_graph() -> bytes:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=[None], name="x")
        tf.multiply(x, 2.0, name="y")
    return bytes(graph.as_graph_def().SerializeToString())


def test_a_graph_session_runs_by_name_and_through_callables() -> None:
    session = GraphSession(_double_graph(), config_pb2.ConfigProto())
    try:
        x = np.array([1.0, 2.5], np.float32)
        assert session.run({"x:0": x}, ["y:0"])[0].tolist() == [2.0, 5.0]
        run = session.make_callable(config_pb2.CallableOptions(feed=["x"], fetch=["y"]))
        assert run(x)[0].tolist() == [2.0, 5.0]
        with pytest.raises(KeyError):
            session.run({"x:0": x}, ["z:0"])
        with pytest.raises(KeyError):
            session.output("y:1")  # the op has one output
    finally:
        session.close()


def test_a_closed_graph_session_refuses_runs_with_tensorflows_error() -> None:
    session = GraphSession(_double_graph(), config_pb2.ConfigProto())
    run = session.make_callable(config_pb2.CallableOptions(feed=["x:0"], fetch=["y:0"]))
    session.close()
    session.close()  # idempotent
    x = np.array([1.0], np.float32)
    with pytest.raises(OpError):
        run(x)
    with pytest.raises(OpError):
        session.run({"x:0": x}, ["y:0"])
    with pytest.raises(RuntimeError, match="closed"):
        session.make_callable(config_pb2.CallableOptions(feed=["x:0"], fetch=["y:0"]))


def test_a_graph_that_does_not_import_raises_tensorflows_error() -> None:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.node.add(name="n", op="NoSuchOpAnywhere")
    with pytest.raises(OpError, match="NoSuchOpAnywhere"):
        GraphSession(graph_def.SerializeToString(), config_pb2.ConfigProto())
