"""The server reaches TensorFlow only through the modules that define what it uses, never
through ``tf.*``: one ``import tensorflow as tf`` on a serving path would load
TensorFlow's whole public API (~2,400 modules, ~120 MB) in every server with a
SavedModel (README, "TensorFlow's runtime without its API")."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "tensorserve"

ALLOWED = {
    Path("lean_imports.py"),  # imports the whole API on purpose, for callers that want it
}
"""Modules allowed ``import tensorflow``; the export tool (``export/``) uses ``tf.*``."""


def _api_imports(path: Path) -> list[str]:
    """``import tensorflow`` and ``from tensorflow import ...`` statements in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{path}:{node.lineno}" for a in node.names if a.name == "tensorflow"]
        elif isinstance(node, ast.ImportFrom) and node.module == "tensorflow" and not node.level:
            found.append(f"{path}:{node.lineno}")
    return found


def test_serving_code_never_imports_tensorflows_public_api() -> None:
    modules = [
        path
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "export" and path.relative_to(SRC) not in ALLOWED
    ]
    assert len(modules) > 100  # the walk found the package
    offenders = [hit for path in modules for hit in _api_imports(path)]
    assert offenders == [], (
        "import what you need from the module that defines it, in platforms/tensorflow/runtime.py"
    )


def test_the_check_sees_each_spelling(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import tensorflow\nimport tensorflow as tf\nfrom tensorflow import keras\n"
        "def f():\n    import tensorflow as tf2\n"
        "from tensorflow.core.protobuf import config_pb2\nimport tensorflow.python\n"
    )
    assert [hit.rsplit(":", 1)[1] for hit in _api_imports(sample)] == ["1", "2", "3", "5"]
