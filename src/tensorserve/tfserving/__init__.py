"""TensorFlow Serving's protobuf types as the codecs and the TensorFlow platform share them
(signature defs, ``TensorProto`` <-> numpy); no transport here."""

from tensorserve.tfserving.signature_defs import signature_def_map

__all__ = ["signature_def_map"]
