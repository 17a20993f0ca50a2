"""A TensorFlow graph and the session that runs it, held through TensorFlow's C API.

TensorFlow Serving holds a SavedModel as a C++ ``Session`` over the MetaGraph's
``GraphDef``; so does this, through ``pywrap_tf_session``: the ``GraphDef`` is imported
into a ``TF_Graph`` and run by a ``TF_Session``. Python's ``tf.compat.v1.Session`` and
``tf.Graph`` would add nothing the server uses and cost ~400 Python modules (about
40 MB resident, 0.3 s of start-up) plus a Python object mirroring every node of the
graph.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .runtime import config_pb2, pywrap_tf_session

_tf = pywrap_tf_session


class GraphSession:
    """A ``TF_Graph`` built from one ``GraphDef``, and a ``TF_Session`` over it.

    Runs and callables are thread-safe (TensorFlow's session is); ``close`` must not race
    with them. The graph is never extended after construction.
    """

    def __init__(self, graph_def: bytes, config: config_pb2.ConfigProto) -> None:
        self.config = config
        """The session's options, as given."""
        self._graph: Any = _tf.PyGraph()  # TensorFlow's C++ graph; freed with the object
        self._operations: dict[str, Any] = {}
        self._session: Any = None
        self._callables: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            _import_graph_def(self._graph, graph_def)
            self._operations = {
                _tf.TF_OperationName(operation): operation
                for operation in self._graph.new_operations()
            }
            options = _tf.TF_NewSessionOptions(target="", config=config)
            try:
                self._session = _tf.TF_NewSessionRef(self._graph, options)
            finally:
                _tf.TF_DeleteSessionOptions(options)
            _tf.ExtendSession(self._session)
        except BaseException:
            self.__del__()
            raise

    def output(self, name: str) -> Any:
        """The ``TF_Output`` of tensor ``name`` (``op:index``, or ``op`` for index 0).
        Raises KeyError when the graph has no such operation or output."""
        op_name, colon, index_text = name.partition(":")
        if colon and not index_text.isdigit():
            raise KeyError(name)
        operation = self.operation(op_name)
        index = int(index_text) if colon else 0
        if index >= _tf.TF_OperationNumOutputs(operation):
            raise KeyError(name)
        output = _tf.TF_Output()
        output.oper = operation
        output.index = index
        return output

    def operation(self, name: str) -> Any:
        """The ``TF_Operation`` named ``name``; KeyError when the graph has none."""
        return self._operations[name]

    def run(
        self,
        feeds: Mapping[str, Any],
        fetches: Sequence[str] = (),
        targets: Sequence[str] = (),
        options: config_pb2.RunOptions | None = None,
    ) -> list[Any]:
        """Feed tensors by name, run ``targets`` (operation names), return ``fetches``.
        Raises TensorFlow's ``OpError`` subclasses, KeyError for an unknown name."""
        feed_dict = {self.output(name): _array(value) for name, value in feeds.items()}
        fetch_list = [self.output(name) for name in fetches]
        target_list = [self.operation(name) for name in targets]
        buffer = (
            _tf.TF_NewBufferFromString(options.SerializeToString()) if options is not None else None
        )
        try:
            return list(
                _tf.TF_SessionRun_wrapper(
                    self._session, buffer, feed_dict, fetch_list, target_list, None
                )
            )
        finally:
            if buffer is not None:
                _tf.TF_DeleteBuffer(buffer)

    def make_callable(self, options: config_pb2.CallableOptions) -> _Callable:
        """A C++ callable for ``options`` (feeds and fetches fixed): the cheapest run."""
        buffer = _tf.TF_NewBufferFromString(options.SerializeToString())
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the session is closed")
                handle = _tf.TF_SessionMakeCallable(self._session, buffer)
                self._callables.append(handle)
        finally:
            _tf.TF_DeleteBuffer(buffer)
        return _Callable(self, handle)

    def run_callable(self, handle: Any, feeds: Sequence[Any]) -> list[Any]:
        """Run a callable made by :meth:`make_callable`. After ``close`` TensorFlow
        answers with an error (the session stays allocated until this object goes)."""
        return list(_tf.TF_SessionRunCallable(self._session, handle, feeds, None))

    def close(self) -> None:
        """Release the callables and close the session; runs from then on fail with
        TensorFlow's error. Idempotent. Memory goes when the object is collected."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            callables, self._callables = self._callables, []
        if self._session is not None:
            for handle in callables:
                _tf.TF_SessionReleaseCallable(self._session, handle)
            _tf.TF_CloseSession(self._session)

    def __del__(self) -> None:
        try:
            self.close()
            if self._session is not None:
                _tf.TF_DeleteSession(self._session)
                self._session = None
            self._operations = {}
            self._graph = None
        except Exception:  # at interpreter exit the bindings may be gone
            pass


class _Callable:
    """One ``TF_SessionMakeCallable`` handle: called with the feeds in order, returns
    the fetched arrays. Keeps its :class:`GraphSession` alive; released by its
    ``close``."""

    __slots__ = ("_handle", "_owner")

    def __init__(self, owner: GraphSession, handle: Any) -> None:
        self._owner = owner
        self._handle = handle

    def __call__(self, *feeds: Any) -> list[Any]:
        return self._owner.run_callable(self._handle, feeds)


def _array(value: Any) -> Any:
    """A feed as the bindings take it: a numpy array (bytes become a string scalar)."""
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value, dtype=object if isinstance(value, bytes | str) else None)


def _import_graph_def(graph: Any, graph_def: bytes) -> None:
    """Import ``graph_def`` into the empty ``graph``, as ``tf.import_graph_def`` does
    (no prefix, devices as written, colocation checked)."""
    options = _tf.TF_NewImportGraphDefOptions()
    buffer = _tf.TF_NewBufferFromString(graph_def)
    try:
        _tf.TF_ImportGraphDefOptionsSetPrefix(options, "")
        _tf.TF_ImportGraphDefOptionsSetValidateColocationConstraints(options, True)
        results = _tf.TF_GraphImportGraphDefWithResults(graph, buffer, options)
        _tf.TF_DeleteImportGraphDefResults(results)
    finally:
        _tf.TF_DeleteBuffer(buffer)
        _tf.TF_DeleteImportGraphDefOptions(options)
