"""gRPC over HTTP/2 on the event loop, without grpcio's server (``--grpc_server=h2``).

grpcio's Python servers cost more CPU per RPC than tensorserve's whole REST request
(``docs/benchmarks.md``, "gRPC against REST"): a bare threaded grpcio server answering a
constant spends ~155 µs per RPC, this one ~50. It speaks the HTTP/2 that gRPC clients
use (RFC 9113 framing, flow control both ways, HPACK through the ``hpack`` package) and
gRPC's HTTP/2 mapping (length-prefixed messages, ``grpc-timeout``, status in trailers),
and runs the same grpc.aio servicers as ``--grpc_server=asyncio``, through a context
that behaves like grpc.aio's.

- :mod:`.frames`: frame layout, types, flags, error codes and settings.
- :mod:`.headers`: HPACK decoding (cached per connection) and the literal encoding of
  the few header blocks a server sends; gRPC's timeout and message encodings.
- :mod:`.context`: the servicer context a handler sees.
- :mod:`.connection`: one client connection: frames in, streams, calls, frames out.
- :mod:`.server`: the listening server, shaped like ``grpc.aio.Server``.
"""
