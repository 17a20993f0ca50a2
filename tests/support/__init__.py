"""Shared test doubles, builders and process helpers for every layer's tests."""
