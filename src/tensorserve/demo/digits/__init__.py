"""The demo's Python servable ``digits``: ``servable.py`` is copied into
``serving_model/digits/1/`` by ``tensorserve demo`` and served from there."""

from pathlib import Path

SERVABLE_SOURCE = Path(__file__).with_name("servable.py")
