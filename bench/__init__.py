"""Benchmarks; each writes its figures into docs/benchmarks.md."""
