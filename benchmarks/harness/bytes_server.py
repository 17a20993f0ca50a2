"""A gRPC server whose one method answers with as many bytes as the request asks for.

Run as a script (its own interpreter, so its CPU is its own)::

    python bytes_server.py threads|h2 PORT

It prints ``ready`` once listening. The request is the answer's size in ASCII
digits, then optionally a space and any padding (to time large requests). Answers are
built once per size and kept, so the server's CPU per call is its transport's work on
the answer (framing, flow control, copies, the socket), not the handler's. ``h2`` is
tensorserve's own HTTP/2 server (whichever ``tensorserve`` is on ``PYTHONPATH``) on
uvloop, as the server runs it; ``threads`` is grpcio's threaded server, the peer.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SERVICE = "bench.Bytes"
METHOD = f"/{SERVICE}/Get"
_ANSWERS: dict[int, bytes] = {}


def answer(request: bytes) -> bytes:
    size = int(request[:24].split(b" ", 1)[0])
    if size not in _ANSWERS:
        _ANSWERS[size] = bytes(size)
    return _ANSWERS[size]


def handler(behaviour: Any) -> Any:
    import grpc

    return grpc.method_handlers_generic_handler(
        SERVICE, {"Get": grpc.unary_unary_rpc_method_handler(behaviour)}
    )


def serve_threads(port: int) -> None:
    import grpc

    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    server = grpc.server(
        ThreadPoolExecutor(8),
        handlers=[handler(lambda request, context: answer(request))],
        options=options,
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


async def serve_h2(port: int) -> None:
    from grpc_floor_server import run_h2  # this script's neighbour (run as a script)

    async def get(request: bytes, context: Any) -> bytes:
        return answer(request)

    await run_h2(port, handler(get))


def main(argv: list[str]) -> int:
    kind, port = argv[0], int(argv[1])
    if kind == "threads":
        serve_threads(port)
    else:
        import uvloop

        uvloop.run(serve_h2(port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
