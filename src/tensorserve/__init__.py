"""tensorserve: a Python model server wire-compatible with TensorFlow Serving."""

__version__ = "0.1.0"

__all__ = ["__version__"]
