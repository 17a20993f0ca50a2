"""grpcio's own cost per RPC: a server whose Predict answers a constant, no model.

Run as a script (its own interpreter, so its CPU is its own)::

    python grpc_floor_server.py threads|asyncio|h2 PORT

It prints ``ready`` once listening. TF Serving's Predict method name is served so
the same h2load frame drives it; the answer is one fixed PredictResponse (y = 2.5),
so whatever CPU the server spends per request is grpcio's machinery and the
request's parse. Needs only grpcio and tensorflow-serving-api's protos; ``h2`` is
tensorserve's own HTTP/2 server (``tensorserve.grpc.h2``) with the same constant
handler, on uvloop as the server runs it.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SERVICE = "tensorflow.serving.PredictionService"
THREADS = 8
"""As many handler threads as tensorserve's threaded server has on 2 cores."""


def constant_response() -> bytes:
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    response.model_spec.name = "half_plus_two"
    tensor = response.outputs["y"]
    tensor.dtype = 1
    tensor.tensor_shape.dim.add().size = 1
    tensor.float_val.append(2.5)
    return bytes(response.SerializeToString())


def handler(answer: Any) -> Any:
    import grpc
    from tensorflow_serving.apis import predict_pb2

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Predict": grpc.unary_unary_rpc_method_handler(
                answer, predict_pb2.PredictRequest.FromString, None
            )
        },
    )


def serve_threads(port: int, response: bytes) -> None:
    import grpc

    def predict(request: Any, context: Any) -> bytes:
        return response

    server = grpc.server(ThreadPoolExecutor(THREADS), handlers=[handler(predict)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


async def serve_asyncio(port: int, response: bytes) -> None:
    import grpc

    async def predict(request: Any, context: Any) -> bytes:
        return response

    server = grpc.aio.server(handlers=[handler(predict)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def serve_h2(port: int, response: bytes) -> None:
    async def predict(request: Any, context: Any) -> bytes:
        return response

    await run_h2(port, handler(predict))


async def run_h2(port: int, generic_handler: Any) -> None:
    """tensorserve's H2Server with ``generic_handler`` on ``port``; prints ``ready``
    once listening, then serves until the process is killed."""
    from tensorserve.grpc.h2.server import H2Server

    server = H2Server()
    server.add_generic_rpc_handlers([generic_handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def main(argv: list[str]) -> int:
    kind, port = argv[0], int(argv[1])
    response = constant_response()
    if kind == "threads":
        serve_threads(port, response)
    elif kind == "h2":
        import uvloop

        uvloop.run(serve_h2(port, response))
    else:
        asyncio.run(serve_asyncio(port, response))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
