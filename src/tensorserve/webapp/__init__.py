"""The tensorserve web app: a Flask front end that talks to a model server over REST.

It is a plain client of the TensorFlow Serving REST API (plus tensorserve's model list) and
imports nothing from the server side.
"""

from tensorserve.webapp.app import create_app
from tensorserve.webapp.config import InputScale, WebAppConfig

__all__ = ["InputScale", "WebAppConfig", "create_app"]
