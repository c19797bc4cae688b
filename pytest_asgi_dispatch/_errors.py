"""The two exceptions of the public contract; each message names the mount at fault."""

from __future__ import annotations

__all__ = ["LifespanError", "MountError"]


class MountError(ValueError):
    """A mount table is malformed: a bad key, a value that is not an app, a duplicate."""


class LifespanError(RuntimeError):
    """A mounted app's lifespan startup or shutdown failed, raised or timed out.

    The message is one line: the mount, what failed, and the app's own last line, as in
    `mount '/api': lifespan startup raised RuntimeError: database is unreachable`. The
    whole story is the `__cause__`: the exception the app raised (with its traceback),
    or an exception holding the full message the app sent with `lifespan.*.failed`.
    """
