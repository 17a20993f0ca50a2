"""What a request names: a model, optionally a version or a label, and a signature."""

from __future__ import annotations

import dataclasses

from tensorserve.servables.signature import DEFAULT_SIGNATURE


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSpec:
    """Protocol-neutral ``tensorflow.serving.ModelSpec``.

    At most one of ``version`` and ``label`` is set; neither means the latest
    available version. An empty ``signature_name`` means ``serving_default``.
    """

    name: str
    version: int | None = None
    label: str | None = None
    signature_name: str = ""

    @property
    def signature(self) -> str:
        return self.signature_name or DEFAULT_SIGNATURE
