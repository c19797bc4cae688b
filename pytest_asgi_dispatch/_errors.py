"""The two exceptions of the public contract; each message names the mount at fault."""

from __future__ import annotations

__all__ = ["LifespanError", "MountError"]


class MountError(ValueError):
    """A mount table is malformed: a bad key, a value that is not an app, a duplicate."""


class LifespanError(RuntimeError):
    """A mounted app's lifespan startup or shutdown failed, raised or timed out."""
