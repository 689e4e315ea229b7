"""Steward benchmarks: `python -m benchmarks --size N` (see benchmarks/__main__.py and docs/benchmarks.md)."""
