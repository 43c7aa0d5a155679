"""Benchmarks: scripts that print figures and write JSON results (never timed tests)."""
