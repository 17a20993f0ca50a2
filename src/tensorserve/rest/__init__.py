"""TensorFlow Serving's REST API (``/v1/...``) as a raw ASGI app, and its HTTP/1.1 server.

Rule: this package only converts JSON to the data plane's numpy arrays and back
and delegates; it holds no model logic and no state beyond its options.
"""

from tensorserve.rest.app import RestApp, create_app
from tensorserve.rest.http_status import HTTP_STATUS, error_http_status, http_status
from tensorserve.rest.options import Readiness, RestOptions
from tensorserve.rest.server import RestServer

__all__ = [
    "HTTP_STATUS",
    "Readiness",
    "RestApp",
    "RestOptions",
    "RestServer",
    "create_app",
    "error_http_status",
    "http_status",
]
