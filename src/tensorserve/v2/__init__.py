"""The Open Inference Protocol (KServe V2): its datatypes, tensor codecs and transports.

Both V2 codecs (REST with the binary tensor extension, and gRPC's
``inference.GRPCInferenceService``) share :mod:`tensorserve.v2.datatypes` and
:mod:`tensorserve.v2.raw_tensors`, and run every call through the
protocol-neutral data plane like the TensorFlow Serving codecs do.
"""
