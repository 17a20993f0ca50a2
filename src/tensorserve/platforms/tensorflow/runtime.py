"""The parts of TensorFlow the server runs models with, imported from the modules that
define them rather than through ``tf.*``.

TensorFlow's public API (``tensorflow/__init__.py``) imports about 2,400 modules: the
whole ``tf.*`` tree, eager execution, distribution, data pipelines. Serving a
SavedModel needs TensorFlow's C API bindings (graph, session, callables:
:mod:`.graph_session`), its error classes and the TFRecord reader: about 300
modules. Importing them from here lets ``serve`` (see :mod:`tensorserve.lean_imports`,
whose ``SESSION_RUNTIME`` names these modules) load TensorFlow's runtime without its
API. Anywhere else (the export tool, tests, a Python
servable) these imports run TensorFlow's own ``__init__`` first, exactly as
``import tensorflow`` does.
"""

from __future__ import annotations

from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow.python.framework.errors_impl import DataLossError, OpError
from tensorflow.python.lib.io.tf_record import tf_record_iterator

__all__ = [
    "DataLossError",
    "OpError",
    "config_pb2",
    "meta_graph_pb2",
    "pywrap_tf_session",
    "tf_record_iterator",
]
