"""Open Inference Protocol (V2) requests for the benchmark models, and one-answer checks.

Bodies are built with the official ``tritonclient`` (installed ``--no-deps`` by
``make install``): a ``ModelInferRequest`` for gRPC (raw tensor contents, as
``tritonclient.grpc`` sends), and the binary tensor extension's body for REST
(JSON header, then the tensor bytes; ``Inference-Header-Content-Length`` says
where the header ends). The checks call the server through the same clients.
"""

from __future__ import annotations

import numpy as np

from .models import BenchModel

INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
HEADER_LENGTH = "Inference-Header-Content-Length"


def batch_of(model: BenchModel, batch: int) -> np.ndarray:
    """``batch`` copies of the model's one-sample V2 tensor, stacked on the first axis."""
    return np.repeat(model.v2_sample, batch, axis=0)


def infer_request(model: BenchModel, batch: int = 1) -> bytes:
    """The serialized ``inference.ModelInferRequest`` for ``batch`` samples."""
    import tritonclient.grpc as triton
    from tritonclient.grpc._utils import _get_inference_request

    tensor = triton.InferInput(model.input_name, list(batch_of(model, batch).shape), "FP32")
    tensor.set_data_from_numpy(batch_of(model, batch))
    request = _get_inference_request(
        model_name=model.name,
        inputs=[tensor],
        model_version="",
        request_id="",
        outputs=None,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        parameters=None,
    )
    return bytes(request.SerializeToString())


def binary_rest_body(model: BenchModel, batch: int = 1) -> tuple[bytes, int]:
    """The binary-extension body ``tritonclient.http`` sends for ``batch`` samples, and
    its JSON header's length."""
    import tritonclient.http as triton

    tensor = triton.InferInput(model.input_name, list(batch_of(model, batch).shape), "FP32")
    tensor.set_data_from_numpy(batch_of(model, batch), binary_data=True)
    output = triton.InferRequestedOutput(model.output_name, binary_data=True)
    body, json_size = triton.InferenceServerClient.generate_request_body([tensor], [output])
    return bytes(body), int(json_size or 0)


def infer_with_grpc_client(target: str, model: BenchModel, batch: int = 1) -> np.ndarray:
    """One V2 gRPC infer through ``tritonclient.grpc``; the first sample's output."""
    import tritonclient.grpc as triton

    request_inputs = triton.InferInput(model.input_name, list(batch_of(model, batch).shape), "FP32")
    request_inputs.set_data_from_numpy(batch_of(model, batch))
    with triton.InferenceServerClient(target) as client:
        result = client.infer(model.name, [request_inputs], client_timeout=30)
    return np.asarray(result.as_numpy(model.output_name))[:1]


def infer_with_http_client(host_port: str, model: BenchModel, batch: int = 1) -> np.ndarray:
    """One V2 binary REST infer through ``tritonclient.http``; the first sample's output."""
    import tritonclient.http as triton

    tensor = triton.InferInput(model.input_name, list(batch_of(model, batch).shape), "FP32")
    tensor.set_data_from_numpy(batch_of(model, batch), binary_data=True)
    with triton.InferenceServerClient(host_port, network_timeout=30) as client:
        result = client.infer(model.name, [tensor])
    return np.asarray(result.as_numpy(model.output_name))[:1]
