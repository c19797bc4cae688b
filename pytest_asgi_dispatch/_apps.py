"""What kind of app is this (ASGI 3, ASGI 2, WSGI), and adapting it to ASGI 3.

Servers such as uvicorn guess the interface from the callable's shape; we do the same
so that a mount table can hold Flask, Django's WSGI handler or a FastAPI app alike.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ._errors import MountError
from ._framework_hooks import with_handled_errors
from ._types import ASGIApp, Message, Receive, Scope, Send
from ._wsgi import BatchingWSGIMiddleware

__all__ = ["WSGIAdapter", "as_asgi3", "framework_app", "has_content_length", "with_whole_body"]


def as_asgi3(app: object, key: str) -> ASGIApp:
    """Return `app` as an ASGI 3 callable, wrapping WSGI and ASGI 2 apps.

    Raises `MountError` naming `key` when `app` is none of the three.
    """
    kind = _interface_of(app)
    if kind is None:
        raise MountError(
            f"mount {key!r}: {app!r} is not an ASGI 3, ASGI 2 or WSGI app; "
            "mount the application object itself (for Django, "
            "get_asgi_application() or get_wsgi_application())"
        )
    if kind == "wsgi":
        return WSGIAdapter(app, key)
    if kind == "asgi2":
        return _ASGI2Adapter(app)
    asgi: ASGIApp = app  # type: ignore[assignment]
    if type(app).__module__.startswith("django."):
        asgi = _AsyncioOnly(asgi, key, "Django")
    return with_handled_errors(app, asgi)


def framework_app(app: object) -> object:
    """The app a framework built (a WSGI app: its WSGI callable), under our own wrappers."""
    while type(app).__module__.startswith(__package__ + "."):
        app = app.wsgi if isinstance(app, WSGIAdapter) else getattr(app, "app", None)
    return app


def _interface_of(app: object) -> str | None:
    """Guess "asgi3", "asgi2" or "wsgi" from the callable's shape, as uvicorn does."""
    if not callable(app):
        return None
    if inspect.isclass(app):
        # `await App(scope, receive, send)` (Starlette's HTTPEndpoint) is ASGI 3; any other
        # class is the single-callable style, `App(scope)(receive, send)`. The rule of
        # uvicorn and Starlette's TestClient.
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    call = app if inspect.isroutine(app) else type(app).__call__
    if inspect.iscoroutinefunction(call) or _is_marked_coroutine(call):
        return "asgi3"
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return "asgi3"
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    by_arity = {1: "asgi2", 2: "wsgi", 3: "asgi3"}
    if len(required) in by_arity:
        return by_arity[len(required)]
    return "asgi3" if variadic else None


def _is_marked_coroutine(function: object) -> bool:
    """True for sync callables marked as coroutine functions before Python 3.12.

    asgiref's `markcoroutinefunction` sets `_is_coroutine`; 3.12's `inspect` reads
    its own marker, which the check above already covers.
    """
    return getattr(function, "_is_coroutine", None) is not None


class WSGIAdapter:
    """A WSGI app as an ASGI 3 app (through a2wsgi); `wsgi` is the WSGI callable itself.

    Keeping the WSGI callable lets a sync caller run it on its own thread, as
    Werkzeug's test client does, instead of going through the event loop. For a
    framework that answers exceptions with its own 500 (Flask, Django, Falcon), `app`
    raises the exception once that response is sent (see `_framework_hooks`); a caller
    of `wsgi` opens `recording()` around it to get the same.
    """

    def __init__(self, wsgi: Any, key: str) -> None:
        self.wsgi = wsgi
        asgi = _AsyncioOnly(_WholeBody(BatchingWSGIMiddleware(wsgi)), key, "a WSGI app")
        self.app = with_handled_errors(wsgi, asgi)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _ASGI2Adapter:
    """Calls an ASGI 2 app (`app(scope)` returning `instance(receive, send)`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope)(receive, send)


class _WholeBody:
    """Reads a request body that has no Content-Length (a chunked upload) before the app.

    PEP 3333 apps read `CONTENT_LENGTH` bytes of `wsgi.input` and no more, so without
    one Django, Werkzeug (Flask) and plain WSGI apps alike see an empty body. A WSGI
    server buffers such a body and sets the length; so do we, as an ASGI middleware in
    front of a2wsgi.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or has_content_length(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before it finished sending
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        scope = with_whole_body(scope, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def has_content_length(scope: Scope) -> bool:
    """Whether the request says its body's length (else a WSGI app would read none of it)."""
    return any(name == b"content-length" for name, _ in scope["headers"])


def with_whole_body(scope: Scope, body: bytes) -> Scope:
    """The scope of a request whose chunked body was read whole: its length now known.

    The sync client's inline path (`_inline`) buffers such a body the same way.
    """
    if not body:
        return scope
    # The body is no longer chunked: Werkzeug ignores a length next to "chunked".
    headers = [(n, v) for n, v in scope["headers"] if n != b"transfer-encoding"]
    headers.append((b"content-length", str(len(body)).encode()))
    return {**scope, "headers": headers}


class _AsyncioOnly:
    """Runs an app that needs asyncio, and says so plainly when run on another loop.

    a2wsgi and asgiref (Django) call asyncio directly; under trio they fail deep inside
    with "no running event loop".
    """

    def __init__(self, app: ASGIApp, key: str, what: str) -> None:
        self.app = app
        self.key = key
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"mount {self.key!r} is {self.what}, which runs on asyncio only, but "
                "this test runs on another event loop (trio?). Run it on asyncio: "
                "with anyio's pytest plugin, define an `anyio_backend` fixture "
                "returning 'asyncio'."
            ) from None
        await self.app(scope, receive, send)
