"""The servable in docs/servables.md loads and answers as the document says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.testing import load_servable
from tests.support.paths import REPO_ROOT

MARKER = "<!-- servable.py:"


def _documented_servable() -> str:
    text = (REPO_ROOT / "docs" / "servables.md").read_text()
    after = text[text.index(MARKER) :]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_documented_servable_works(tmp_path: Path) -> None:
    version = tmp_path / "1"
    version.mkdir()
    (version / "servable.py").write_text(_documented_servable())
    (version / "factor.txt").write_text("1.5")
    with load_servable(version, name="scaler") as scaler:
        assert scaler.predict({"x": [2.0]})["y"].tolist() == [3.0]
        chunks = scaler.stream({"n": np.array([3])}, "count")
        assert [c["i"].tolist() for c in chunks] == [[0], [1], [2]]
        with pytest.raises(ServingError) as caught:
            scaler.predict({"x": [-1.0]})
        assert caught.value.code is Code.INVALID_ARGUMENT
