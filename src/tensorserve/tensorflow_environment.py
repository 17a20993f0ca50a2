"""The environment TensorFlow reads once, at import, set to the server's defaults.

Call :func:`set_serving_defaults` before anything imports TensorFlow: a value set
afterwards is never read. A variable the user set is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
"""oneDNN's custom ops: the server turns them off unless this is set."""

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"


def set_serving_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """TensorFlow's C++ INFO lines off, and oneDNN's custom ops off unless asked for.

    oneDNN's fused Conv2D/pool kernels abort the process (a CHECK failure) on an input
    of the wrong rank, where TensorFlow's own kernels return InvalidArgument. One bad
    request must not end the server, so they are opt-in (set the variable to 1).
    """
    environ.setdefault(LOG_LEVEL_ENV, "1")
    if not environ.get(ONEDNN_ENV):
        environ[ONEDNN_ENV] = "0"
