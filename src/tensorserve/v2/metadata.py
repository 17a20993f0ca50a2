"""V2 server and model metadata, built from neutral signatures (OIP spec §3.3, §3.4, §9.2).

Shared by the REST and gRPC codecs, so both describe a model alike: tensor
names are the signature's aliases, ``-1`` marks an unknown dimension, and an
unknown rank is reported as ``[-1]`` (V2 cannot express it; inference accepts
any rank there). A tensor whose TensorFlow type has no V2 datatype makes the
metadata an InvalidArgument naming it. Pure and thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tensorserve import __version__
from tensorserve.servables.signature import TensorInfo
from tensorserve.v2.datatypes import for_dtype

SERVER_NAME = "tensorserve"
SERVER_VERSION = __version__
EXTENSIONS = ("binary_tensor_data", "model_repository", "parameters")
"""The Triton extensions implemented (none that a client in scope branches on)."""

_PLATFORMS: Mapping[str, str] = {"tensorflow": "tensorflow_savedmodel"}


@dataclasses.dataclass(frozen=True, slots=True)
class TensorMetadata:
    """One input or output as V2 metadata lists it."""

    name: str
    datatype: str
    shape: tuple[int, ...]


def tensor_metadata(tensors: Mapping[str, TensorInfo]) -> list[TensorMetadata]:
    """The V2 description of a signature's inputs or outputs, in signature order."""
    return [
        TensorMetadata(
            alias,
            for_dtype(info.dtype, alias).name,
            (-1,) if info.shape is None else tuple(info.shape),
        )
        for alias, info in tensors.items()
    ]


def v2_platform(platform: str) -> str:
    """OIP's ``<project>_<format>`` name for a model platform (``tensorflow_savedmodel``)."""
    return _PLATFORMS.get(platform, platform)
