"""Exceptions a framework caught and answered with its own 500, kept for the test.

Flask, Quart, Django, Litestar and Falcon catch a view's exception and send an error
page; each offers a hook that sees the exception first (a signal, an exception hook, an
error handler; Django's test client listens to its signal). Each hook (see
`_framework_hooks`) calls `record()`; whoever runs the request opens a slot with
`recording()` around it (`RaiseHandled` does, for an app mounted with hooks) and, once
the framework's response is complete, raises what was recorded. The slot lives in a
context variable, so a request's exception is never a neighbour's: asgiref and a2wsgi
copy the context into the threads they run sync code on, and each request's task has a
context of its own.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType

from ._types import ASGIApp, Receive, Scope, Send

__all__ = ["HandledError", "RaiseHandled", "record", "recording"]


class HandledError:
    """The slot of one request: the first exception a framework handled while serving it."""

    __slots__ = ("exception",)

    def __init__(self) -> None:
        self.exception: BaseException | None = None


_current: ContextVar[HandledError | None] = ContextVar(
    "pytest_asgi_dispatch_handled_error", default=None
)


class recording:  # lowercase: used like a function, `with recording() as slot`
    """Open the slot that `record()` fills, for the request run inside the block.

    A class rather than a generator-based context manager: it costs a third as much,
    and every request of a hooked app pays it.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> HandledError:
        slot = HandledError()
        self._token: Token[HandledError | None] = _current.set(slot)
        return slot

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _current.reset(self._token)


def record(exception: BaseException) -> None:
    """Keep `exception` for the request being served, if it is the first; else a no-op."""
    slot = _current.get()
    if slot is not None and slot.exception is None:
        slot.exception = exception


class RaiseHandled:
    """Raises the exception a framework handled while answering a request, once it answered.

    The framework's own response (its 500 page) has been sent by then, so the transport
    raises the exception in the test, or keeps the 500 with `raise_app_exceptions=False`.
    Lifespans pass through without a slot.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        # `recording()` inlined: this runs on every request of a hooked app.
        slot = HandledError()
        token = _current.set(slot)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
        if slot.exception is not None:
            raise slot.exception
