"""Exceptions a framework caught and answered with its own 500, kept for the test.

Flask, Quart, Django, Litestar and Falcon catch a view's exception and send an error
page; their own test clients get the exception back through a hook (a signal or an
exception handler). Each hook calls `record()`; whoever runs the request opens a slot
with `recording()` around it and, once the framework's response is complete, raises
what was recorded. The slot lives in a context variable, so a request's exception is
never a neighbour's: asgiref and a2wsgi copy the context into the threads they run
sync code on, and each request's task has a context of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["HandledError", "record", "recording"]


class HandledError:
    """The slot of one request: the first exception a framework handled while serving it."""

    __slots__ = ("exception",)

    def __init__(self) -> None:
        self.exception: BaseException | None = None


_current: ContextVar[HandledError | None] = ContextVar(
    "pytest_asgi_dispatch_handled_error", default=None
)


@contextmanager
def recording() -> Iterator[HandledError]:
    """Open the slot that `record()` fills, for the request run inside the block."""
    slot = HandledError()
    token = _current.set(slot)
    try:
        yield slot
    finally:
        _current.reset(token)


def record(exception: BaseException) -> None:
    """Keep `exception` for the request being served, if it is the first; else a no-op."""
    slot = _current.get()
    if slot is not None and slot.exception is None:
        slot.exception = exception
