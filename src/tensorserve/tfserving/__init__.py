"""Adapters shared by TensorFlow Serving's REST and gRPC codecs (protobuf, no transport)."""

from tensorserve.tfserving.signature_defs import signature_def_map

__all__ = ["signature_def_map"]
