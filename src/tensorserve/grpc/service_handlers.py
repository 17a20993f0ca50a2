"""A gRPC service's registration, made from its descriptor instead of generated code.

TensorFlow Serving's ``*_pb2_grpc`` modules import its ``*_pb2`` modules, and so
TensorFlow. :func:`servicer_adder` does what their ``add_<Service>Servicer_to_server``
does (a handler per method, deserialized and serialized by the method's message
classes, registered generically and by name as current grpcio code generation does),
from a :class:`~google.protobuf.descriptor.ServiceDescriptor` of
:mod:`tensorserve.protos.tfserving`. Unary-unary methods only: TensorFlow Serving
has no other kind. Use it through :func:`~tensorserve.grpc.request_decoding.add_servicer`.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

from tensorserve.grpc.request_decoding import AddServicer


def servicer_adder(service: ServiceDescriptor) -> AddServicer[Any]:
    """An ``add_<Service>Servicer_to_server(servicer, server)`` for ``service``."""
    methods = []
    for method in service.methods:
        if method.client_streaming or method.server_streaming:
            raise ValueError(f"{method.full_name} streams; only unary methods are supported")
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        methods.append((method.name, request.FromString, response.SerializeToString))

    def add_to_server(servicer: Any, server: Any) -> None:
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                getattr(servicer, name),
                request_deserializer=deserialize,
                response_serializer=serialize,
            )
            for name, deserialize, serialize in methods
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service.full_name, handlers),)
        )
        server.add_registered_method_handlers(service.full_name, handlers)

    return add_to_server
