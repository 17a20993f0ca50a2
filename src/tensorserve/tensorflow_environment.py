"""The environment TensorFlow reads once, at import, set to the server's defaults.

Call :func:`set_serving_defaults` before anything imports TensorFlow: a value set
afterwards is never read. A variable the user set is left as it is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
"""oneDNN's custom ops: the server turns them off unless this is set."""

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"

BFLOAT16 = "bfloat16"
"""The one ``--mixed_precision`` mode TensorFlow Serving knows."""

_LOG = logging.getLogger(__name__)


def set_serving_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """TensorFlow's C++ INFO lines off, and oneDNN's custom ops off unless asked for.

    oneDNN's fused Conv2D/pool kernels abort the process (a CHECK failure) on an input
    of the wrong rank, where TensorFlow's own kernels return InvalidArgument. One bad
    request must not end the server, so they are opt-in (set the variable to 1).
    """
    environ.setdefault(LOG_LEVEL_ENV, "1")
    if not environ.get(ONEDNN_ENV):
        environ[ONEDNN_ENV] = "0"


def onednn_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether TensorFlow will run oneDNN's custom ops (``TF_ENABLE_ONEDNN_OPTS`` true),
    once :func:`set_serving_defaults` has run."""
    return environ.get(ONEDNN_ENV, "").strip().lower() in ("1", "true")


def check_mixed_precision(mode: str, environ: Mapping[str, str] = os.environ) -> None:
    """Log what ``--mixed_precision`` will do, with TensorFlow Serving's texts, and say so
    when it can do nothing: its bfloat16 rewrite (grappler's
    ``auto_mixed_precision_onednn_bfloat16``) runs only with oneDNN's custom ops, which
    the server turns off unless ``TF_ENABLE_ONEDNN_OPTS=1``."""
    if not mode:
        return
    if mode != BFLOAT16:
        _LOG.warning("%s auto mixed precision is not supported. Valid option: bfloat16", mode)
    elif not onednn_enabled(environ):
        _LOG.warning(
            "--mixed_precision=bfloat16 has no effect while oneDNN's custom ops are off; "
            "the server turns them off unless %s=1 is set",
            ONEDNN_ENV,
        )
    else:
        _LOG.info("Running inference with bfloat16 auto mixed precision")
