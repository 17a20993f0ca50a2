"""Streamed inference: one request, a sequence of results, for every transport.

:func:`stream_inference` is the data plane's request lifecycle for a
streaming signature: it holds the version the spec names for the whole
stream, decodes the inputs, and yields one :class:`InferenceResult` per chunk
the model produces. Closing the iterator early (a client that went away)
closes the model's generator, so its ``finally`` runs, and releases the
version. A signature that does not stream yields its one predict result, as
Triton answers a non-decoupled model on ``ModelStreamInfer``.

Call from the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from tensorserve.core.errors import InvalidArgument
from tensorserve.dataplane.dataplane import (
    DataPlane,
    MissingSignature,
    signature_not_found,
)
from tensorserve.dataplane.inference import Inference, InferenceResult


async def stream_inference(
    dataplane: DataPlane, call: Inference, *, missing_signature: MissingSignature | None = None
) -> AsyncGenerator[InferenceResult, None]:
    """Run ``call`` as a stream; see the module docstring. Errors raise from the iterator."""
    with dataplane.outcome(call), dataplane.acquire(call.spec) as ref:
        name = call.spec.signature
        signature = ref.signatures.get(name)
        if signature is None:
            raise (missing_signature or signature_not_found)(name)
        unknown = [alias for alias in call.output_filter if alias not in signature.outputs]
        if unknown:
            raise InvalidArgument(
                f"unexpected inference output '{unknown[0]}' for model '{call.spec.name}'"
            )
        inputs = await dataplane.convert(call.size_hint, call.decode, signature)
        model = ref.model
        streams = getattr(model, "is_streaming", None)
        if streams is None or not streams(name):
            outputs = await ref.predict(name, inputs, call.output_filter, call.timeout_s)
            yield InferenceResult(outputs, ref.id, name, signature)
        else:
            chunks = model.astream(  # type: ignore[attr-defined]
                name, inputs, call.timeout_s, dataplane.run_blocking
            )
            async with contextlib.aclosing(chunks):
                async for outputs in chunks:
                    if call.output_filter:
                        outputs = {alias: outputs[alias] for alias in call.output_filter}
                    yield InferenceResult(outputs, ref.id, name, signature)
