"""One place where an exchange begins and ends: the hook the traffic trace is built on.

Every http and websocket exchange the Dispatcher serves passes here while an observer is
set on it (`Dispatcher.observer`, set by `dispatch(..., trace=...)` for as long as the
client is open): the Dispatcher calls `serve_observed()`; the sync client's inline path,
which runs WSGI apps and Django without calling the Dispatcher, calls `begin_inline()`
and ends the observation itself. The observer learns who called, which mount served
(the key in the Dispatcher's own table), the scope, the status of the response as it
starts, and when the exchange ended with which exception. With no observer set, the
Dispatcher pays one attribute test per request.

Who called is `current_caller`: "test" by default, and while a mount's app serves an
observed exchange, that mount's key, so that an HTTP call the app makes to another mount
(the outbound router) is recorded as coming from it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import Protocol

from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "Observation",
    "Observer",
    "begin_inline",
    "current_caller",
    "observed_by",
    "serve_observed",
]

current_caller: contextvars.ContextVar[str] = contextvars.ContextVar(
    "pytest_asgi_dispatch_caller", default="test"
)
"""Who is making a request from the current context: "test", or the key of the mount
whose app is serving an observed exchange in it (set by this module around the app).

The observer reads it where the exchange begins: in the context the Dispatcher is called
in (the request's task), or the inline request's context. Tasks and threads that copy
the context (asyncio tasks, asgiref, a2wsgi) carry it over. Code that starts an exchange
on behalf of an app in a fresh context (the outbound router, handing a call made on an
app's thread to the event loop) reads `current_caller.get()` where the app made the call
and sets it in the context where the exchange begins.
"""

# The first message of each kind that answers the client, and the status it stands for:
# a websocket closed before it was accepted is refused with 403, as servers refuse it.
_WEBSOCKET_STATUSES = {"websocket.accept": 101, "websocket.close": 403}
_STARTS = ("http.response.start", "websocket.http.response.start")


class Observation(Protocol):
    """One exchange as the observer records it, while it runs."""

    status: int | None  # set by the hook when the response starts

    def end(self, error: BaseException | None) -> None:
        """The exchange is over; `error` is the app's exception (or one its framework
        handled), None when it ended without one."""


class Observer(Protocol):
    """Told of each exchange as it begins; a `Trace` is one."""

    def begin(self, caller: str, mount: str | None, scope: Scope) -> Observation | None:
        """Start observing an exchange: `mount` is the key that serves it (None: no
        route); None means this one is not observed."""


async def serve_observed(
    observer: Observer,
    mount: str | None,
    scope: Scope,
    app: ASGIApp,
    app_scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """`app(app_scope, receive, send)`, observed: the Dispatcher's side of the hook.

    `scope` is the request's scope as the Dispatcher received it, `app_scope` the copy
    that `app` (the mount's, or the Dispatcher's 404) is called with.
    """
    observation = observer.begin(current_caller.get(), mount, scope)
    if observation is None:
        await app(app_scope, receive, send)
        return
    token = current_caller.set(mount) if mount is not None else None
    error: BaseException | None = None
    try:
        await app(app_scope, receive, _ObservedSend(send, observation))
    except Exception as exc:
        error = exc
        raise
    finally:
        if token is not None:
            current_caller.reset(token)
        observation.end(error)


class _ObservedSend:
    """The app's `send`: notes the response's status as it starts.

    A class rather than a closure: its call returns `send`'s own awaitable, so a message
    costs no coroutine of its own.
    """

    __slots__ = ("_observation", "_send")

    def __init__(self, send: Send, observation: Observation) -> None:
        self._send = send
        self._observation = observation

    def __call__(self, message: Message) -> Awaitable[None]:
        if self._observation.status is None:
            self._observation.status = _status_of(message)
        return self._send(message)


def begin_inline(
    observer: Observer, mount: str | None, scope: Scope, context: contextvars.Context
) -> Observation | None:
    """Start observing a request that the inline path runs in `context`: the caller is
    the one of that context, and the app runs as `mount` in it. The caller ends it."""
    observation = observer.begin(context.run(current_caller.get), mount, scope)
    if observation is not None and mount is not None:
        context.run(current_caller.set, mount)
    return observation


def _status_of(message: Message) -> int | None:
    kind = message.get("type")
    if kind in _STARTS:
        status = message.get("status")
        return status if isinstance(status, int) else None
    return _WEBSOCKET_STATUSES.get(kind)  # type: ignore[arg-type]


class _Observable(Protocol):
    observer: Observer | None


class observed_by:  # lowercase: used like a function, in `with` and `async with` alike
    """Set `observer` on a Dispatcher while the block runs (nothing when it is None).

    Both kinds of context manager, so that `dispatch()` and `dispatch_sync()` enter it
    among their other contexts.
    """

    def __init__(self, dispatcher: _Observable, observer: Observer | None) -> None:
        self._dispatcher = dispatcher
        self._observer = observer
        self._previous: Observer | None = None

    def __enter__(self) -> None:
        if self._observer is not None:
            self._previous = self._dispatcher.observer
            self._dispatcher.observer = self._observer

    def __exit__(self, *exc_info: object) -> None:
        if self._observer is not None:
            self._dispatcher.observer = self._previous

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()
