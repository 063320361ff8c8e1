"""Temporal workflows only: deterministic code that imports nothing doing I/O."""
