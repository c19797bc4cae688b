"""a2wsgi's WSGI middleware, its response handed to the event loop in batches.

a2wsgi runs the WSGI app on a worker thread, and the thread hands each message (the
response start, each chunk, the end) to the event loop and waits for the loop to take
it: a round trip between the threads per message, and the client is woken for each.
Here the thread leaves each message and goes on: the loop is called once per batch, and
a response that is over before the loop looks (most are) reaches the client whole, in
one wake-up. A body streams as before, each chunk sent once it is produced, and the
thread waits for the loop when it is `_BATCH_LIMIT` messages ahead (as a2wsgi's queue
makes it). A request body of stated length has its first message read on the loop
before the thread starts, so that a body sent whole costs the thread no round trip. The
rest is a2wsgi's own: the environ, `wsgi.input`, `start_response` and the loop over the
body.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import Body, WSGIMiddleware, WSGIResponder, build_environ
from a2wsgi.wsgi_typing import Environ, WSGIApp

from ._response_checks import as_bytes
from ._types import Message, Receive, Scope, Send

__all__ = ["BatchingWSGIMiddleware"]

# How many messages the app's thread may leave before it waits for the event loop: what
# a2wsgi's queue holds.
_BATCH_LIMIT = 10


class ClientGone(OSError):
    """Raised on the app's thread when it sends after the response ended on the loop."""


class BatchingWSGIMiddleware(WSGIMiddleware):
    """a2wsgi's `WSGIMiddleware`, each HTTP request served by a `_BatchingResponder`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http":
            await _BatchingResponder(self.app, self.executor)(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)  # type: ignore[arg-type]


class _BatchingResponder(WSGIResponder):
    """a2wsgi's `WSGIResponder`, whose `send` (called on the app's thread) leaves the
    message for the event loop without waiting for it.

    a2wsgi's `start_response` and `wsgi` (the call and the loop over the body) run as
    they are; its `__init__` is not called, for the queue it makes is not used.
    """

    def __init__(self, app: WSGIApp, executor: ThreadPoolExecutor) -> None:
        self.app = app
        self.executor = executor
        self.loop = asyncio.get_running_loop()
        self.response_started = False
        self.exc_info: Any = None
        self._lock = threading.Lock()
        self._pending: list[Message] = []  # sent by the thread, not taken by the loop yet
        self._finished = False  # the thread is done with the request
        self._error: BaseException | None = None  # what the app raised on the thread
        self._gone = False  # the loop is done with the request: further sends raise
        self._room: threading.Event | None = None  # the thread waits for the loop to take
        self._arrived: asyncio.Future[None] | None = None  # the loop waits for the thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if _declares_a_body(scope):
            body: Body = _BodyWithItsStart(self.loop, receive, await receive())
        else:
            body = Body(self.loop, receive)  # type: ignore[arg-type]
        environ = build_environ(scope, body)  # type: ignore[arg-type]
        self.executor.submit(contextvars.copy_context().run, self._serve, environ)
        try:
            finished = False
            while not finished:
                batch, finished = await self._take()
                for message in _coalesced(batch):
                    await send(message)
        except BaseException:
            self._leave()
            raise
        if self._error is not None:
            raise self._error
        if self.exc_info is not None:
            raise self.exc_info[0].with_traceback(self.exc_info[1], self.exc_info[2])

    # The app's thread.

    def _serve(self, environ: Environ) -> None:
        try:
            self.wsgi(environ, self.start_response)
        except BaseException as exc:
            self._error = exc
        finally:
            with self._lock:
                self._finished = True
                wake = not (self._pending or self._gone)
            if wake:
                self.loop.call_soon_threadsafe(self._wake)

    def send(self, message: Any) -> None:
        body = message.get("body")
        if body is not None and body.__class__ is not bytes:
            # A copy: the app may refill its buffer once `send` returns, at once here.
            copied = as_bytes(body)
            if copied is not None:  # else not bytes-like: the server's `send` refuses it
                message["body"] = copied
        with self._lock:
            if self._gone:
                raise ClientGone("the response has ended")
            pending = self._pending
            pending.append(message)
            wake = len(pending) == 1  # the first since the loop last took: call it
            room = None
            if len(pending) >= _BATCH_LIMIT:
                room = self._room = threading.Event()
        if wake:
            self.loop.call_soon_threadsafe(self._wake)
        if room is not None:
            room.wait()

    # The event loop.

    def _wake(self) -> None:
        arrived = self._arrived
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def _take(self) -> tuple[list[Message], bool]:
        """The messages the thread has sent since the last take, and whether it finished."""
        while True:
            with self._lock:
                batch = self._pending
                finished = self._finished
                if batch or finished:
                    self._pending = []
                    room, self._room = self._room, None
                    break
                self._arrived = arrived = self.loop.create_future()
            try:
                await arrived
            finally:
                self._arrived = None
        if room is not None:
            room.set()
        return batch, finished

    def _leave(self) -> None:
        with self._lock:
            self._gone = True
            room, self._room = self._room, None
        if room is not None:
            room.set()


class _BodyWithItsStart(Body):
    """a2wsgi's `wsgi.input`, given the body's first message, read on the event loop
    before the app's thread starts: a body sent whole, as most are, then costs the thread
    no round trip to the loop. The rest of a streamed body is read as a2wsgi reads it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, first: Message) -> None:
        super().__init__(loop, receive)  # type: ignore[arg-type]
        self.buffer.extend(first.get("body", b""))
        self._has_more = first.get("more_body", False)


def _declares_a_body(scope: Scope) -> bool:
    """Whether the request has a body of a length it states (a chunked body's length is
    set once `_apps._WholeBody` has read it)."""
    return any(name == b"content-length" and value != b"0" for name, value in scope["headers"])


def _coalesced(batch: list[Message]) -> list[Message]:
    """`batch`, a body's last chunk and a2wsgi's empty message that ends it made one."""
    if len(batch) < 2:
        return batch
    last, end = batch[-2], batch[-1]
    if (
        end["type"] == last["type"] == "http.response.body"
        and last.get("more_body", False)
        and not end.get("more_body", False)
        and not end.get("body")
    ):
        return [*batch[:-2], {**last, "more_body": False}]
    return batch
