"""Atomic file writes for data caches: a crash never leaves a half-written file behind."""
from suite.atomic import atomic_write_bytes, atomic_write_text  # noqa: F401
