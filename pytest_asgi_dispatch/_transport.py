"""Streaming transports for an ASGI app, for httpx and httpx2: async, and sync over a portal.

httpx's own `ASGITransport` runs the app to completion before it returns the
response, so an endless stream (server-sent events) never returns. Here each request
runs the app as a task of its own and the response is returned as soon as the app
sends `http.response.start`; the body is read as the app sends it. The app starts at
once, and a task is made for it only if it waits (see `Runtime.run_now`), so a plain app
has answered before the transport looks, and the request costs no turn of the event
loop and no task.

An `_Exchange` has two sides: what the app calls (`receive`, `send`, with the checks a
server makes), and what the transport reads (the response start, the body, the
outcome). The transports are written once, against `ClientLibrary`;
`StreamingTransport` and `SyncStreamingTransport` are httpx's, and `transports_for()`
gives another library's (see `_client_library`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent.futures import Future
from functools import cache, partial
from operator import itemgetter
from typing import Any, TypeVar, cast

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from ._client_library import HTTPX, ClientLibrary
from ._inline import InlinePath
from ._response_checks import as_bytes, declared_length, left_after
from ._response_debug import DEBUG_EXTENSION, ResponseDebug, expose, watching
from ._routing import Dispatcher
from ._runtime import ClientDisconnected, Runtime, Waiter
from ._threads import CallingThreadExecutor, run_thread_sensitive_here
from ._types import ASGIApp, Message

__all__ = [
    "DEFAULT_CLIENT_ADDRESS",
    "ClientDisconnected",
    "StreamingTransport",
    "SyncStreamingTransport",
    "transports_for",
]

T = TypeVar("T")

# How many messages an app may send ahead of a client that is not reading: enough to
# never block a normal response, few enough that an endless stream stays small.
_BUFFERED_MESSAGES = 64
# How long an app gets to finish after the client closed its response early, before it
# is cancelled: an app that listens for `http.disconnect` returns well within this.
_DISCONNECT_GRACE = 1.0
# How many URLs' scope parts a transport remembers: every URL of a test suite, as a rule,
# while a suite of unique URLs (ids in them) costs a bounded megabyte or two at most.
_REMEMBERED_URLS = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_DISCONNECT: Message = {"type": "http.disconnect"}
# The ASGI `client` every request carries unless told otherwise: the loopback address, as
# for a browser on the test machine; the port is arbitrary (Starlette's TestClient: 123).
DEFAULT_CLIENT_ADDRESS = ("127.0.0.1", 123)


class _Exchange:
    """One request's exchange between the app's task and the transport.

    What the app calls: `receive` gives it the request body, then `http.disconnect`;
    `send` checks each message as a server would and keeps it for the client. What the
    transport calls: `response_start`, `read_some` (the body, then the outcome),
    `aclose`. The app's messages wait in a deque; `send` does not yield to the event
    loop unless the client has fallen `_BUFFERED_MESSAGES` behind, so a plain response
    costs no task switch. Both sides are one
    object, and events are made only when somebody has to wait: every request pays for
    what is here (its attributes' defaults are the class's, for the same reason).
    """

    # What most requests never change, as class defaults, so that making an exchange
    # sets only what every request has of its own.
    _next_body: bytes | None = None
    _request_complete = False
    _streaming = False  # the client has waited for the body once
    started = False  # the app sent `http.response.start`
    complete = False  # and its last body
    returned = False  # the app returned (or raised)
    gone = False  # the client left
    _disconnect_told = False  # the app received `http.disconnect` after that
    _declared = -1  # the response's content-length, -1 if none to check
    _left = -1  # how much of it is still to come
    _error: Exception | None = None
    _arrived: Waiter | None = None  # the client waits for a message
    _drained: anyio.Event | None = None  # the app waits for the client to read
    _over: anyio.Event | None = None  # the app waits for the response to be over
    _returned: anyio.Event | None = None  # the client waits for the app to return
    debug: ResponseDebug | None = None  # what the app disclosed for tests

    def __init__(
        self,
        request: httpx.Request,
        body: AsyncIterable[bytes],
        read_ahead: bool,
        raise_app_exceptions: bool,
        runtime: Runtime,
        http: ClientLibrary,
    ) -> None:
        self.request = request
        self.http = http
        self._runtime = runtime
        self._raise_app_exceptions = raise_app_exceptions
        self._is_head = request.method == "HEAD"
        self._body: AsyncIterable[bytes] | AsyncIterator[bytes] = body  # iterated on first read
        # Bytes known up front arrive in one message; a streamed body chunk by chunk, each
        # as soon as it is produced (reading ahead would hold a chunk back until the next).
        self._read_ahead = read_ahead
        self.messages: deque[Message] = deque()
        self.cancel: Callable[[], object] = _nothing

    # The app's side.

    async def run(self, app: ASGIApp, scope: dict[str, Any], running: set[_Exchange]) -> None:
        """Run the app on the exchange (in its own task); keep what it raises."""
        error: Exception | None = None
        self.debug = watching()  # in the app's task: its renders, no neighbour's
        try:
            await app(scope, self.receive, self.send)
        except Exception as exc:
            error = exc
        finally:
            running.discard(self)
            self._error = error
            self.returned = True
            if self._returned is not None:
                self._returned.set()
            if self._arrived is not None:  # the client's last wait: for this
                self._arrived.wake()
                self._arrived.close()

    async def receive(self) -> Message:
        if self._request_complete:
            return await self._disconnect()
        body = self._body
        if self._read_ahead:
            # httpx's bytes body is one chunk: one message, without iterating it.
            content = getattr(body, "_stream", None)
            if content.__class__ is bytes:
                self._request_complete = True
                return {"type": "http.request", "body": content, "more_body": False}
        if not isinstance(body, AsyncIterator):
            self._body = aiter(body)
        if not self._read_ahead:
            chunk = await self._read_body()
            self._request_complete = chunk is None
            return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}
        # One chunk of lookahead, so that a body of one chunk arrives in one message.
        chunk = await self._read_body() if self._next_body is None else self._next_body
        self._next_body = await self._read_body()
        more_body = self._next_body is not None
        self._request_complete = not more_body
        return {"type": "http.request", "body": chunk or b"", "more_body": more_body}

    async def _read_body(self) -> bytes | None:
        try:
            return await anext(cast("AsyncIterator[bytes]", self._body))
        except StopAsyncIteration:
            return None

    async def _disconnect(self) -> Message:
        """`http.disconnect`, once the response is over: complete, or the client left."""
        if not (self.complete or self.gone):
            if self._over is None:
                self._over = anyio.Event()
            await self._over.wait()
        self._disconnect_told = self.gone
        return dict(_DISCONNECT)

    async def send(self, message: Message) -> None:
        """Check `message` as a server would, rather than hand httpx a broken response
        (uvicorn raises the same in `send`), and keep it for the client."""
        if self.gone:
            await self._sent_after_leaving()
            return
        kind = message.get("type")
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("the app sent 'http.response.body' before 'http.response.start'")
            if self.complete:
                raise RuntimeError("the app sent 'http.response.body' after its last body")
            body = message.get("body", b"")
            if body.__class__ is not bytes:  # servers take any bytes-like body
                body = _bytes_of(body, message)
                message = {**message, "body": body}
            more_body = message.get("more_body", False)
            if self._declared >= 0:  # `body` may be absent: Django's last message
                self._left = left_after(self._declared, self._left, len(body), more_body=more_body)
            if not more_body:
                self.complete = True
                if self._over is not None:
                    self._over.set()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("the app sent 'http.response.start' twice")
            status = message.get("status")
            if status.__class__ is not int and not isinstance(status, int):
                raise RuntimeError(
                    f"the app sent 'http.response.start' without a status: {message!r}"
                )
            self.started = True
            self._declared = self._left = declared_length(
                status, message.get("headers", ()), is_head=self._is_head
            )
        elif kind == DEBUG_EXTENSION:  # offered in the scope: see _response_debug
            self.debug = ResponseDebug.received(self.debug, message)
            return
        else:
            raise RuntimeError(f"the app sent an unexpected message {kind!r} on an http scope")
        messages = self.messages
        messages.append(message)
        if self._arrived is not None:
            self._arrived.wake()
        if len(messages) >= _BUFFERED_MESSAGES:
            self._drained = anyio.Event()
            await self._drained.wait()

    async def _sent_after_leaving(self) -> None:
        # The scope announces spec 2.3, under which sending to a client that left is
        # a no-op (as in uvicorn): an app such as Starlette's StreamingResponse learns
        # of it through `http.disconnect` and finishes cleanly. One that was told and
        # sends on gets spec 2.4's OSError, rather than looping until it is cancelled.
        if self._disconnect_told:
            raise ClientDisconnected("the client closed the response")
        await self._runtime.yield_to_others()  # to the app's disconnect listener

    # The transport's side.

    async def response_start(self) -> Message:
        """Wait for `http.response.start`; raise what went wrong if the app never sent it."""
        message = await self._take()
        if message is not None:
            return message
        if self._error is not None:
            if self._raise_app_exceptions:
                raise self._error
            return {"type": "http.response.start", "status": 500, "headers": []}
        raise RuntimeError(
            f"the app returned without responding to {self.request.method} "
            f"{self.request.url}; every request needs an 'http.response.start'"
        )

    def whole_body(self) -> bytes:
        """The body of a response whose app has returned; then its outcome, as `read_some`."""
        if self._error is not None or not self.complete:
            self._raise_for_outcome()  # unless it is a 500 page to keep
        messages = self.messages
        if len(messages) == 1:  # the whole body in one message, as most apps send it
            body: bytes = messages.popleft().get("body", b"")
        else:
            body = b"".join([message.get("body", b"") for message in messages])
            messages.clear()
        return b"" if self._is_head else body

    async def read_some(self, *, wait: bool = True) -> tuple[bytes, bool]:
        """Body bytes sent so far (waiting for some when `wait`), and whether that is all.

        At the end it waits for the app to return, so that an exception it raises after
        its last body (as Starlette does after sending its 500 page) is not lost.
        """
        if not wait:
            for _ in range(2):  # the turns an app that is not waiting on I/O needs to finish
                if self.messages or self.returned:
                    break
                await self._runtime.yield_to_others()
            if not (self.messages or self.returned):
                return b"", False
        with_body = not self._is_head
        parts: list[bytes] = []
        message = await self._take()
        while message is not None:
            if with_body:
                parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                message = await self._take()  # None once the app returned
                continue
            if not self.messages and not self.returned:
                return b"".join(parts), False
            message = await self._take()
        self._raise_for_outcome()
        return (parts[0] if len(parts) == 1 else b"".join(parts)), True

    def _raise_for_outcome(self) -> None:
        if self._error is not None:
            if self._raise_app_exceptions:
                raise self._error
            if self.started and not self.complete:
                # Its 500 cannot be sent any more; a server would drop the connection.
                raise self.http.RemoteProtocolError(
                    f"the app raised {type(self._error).__name__}: {self._error} before "
                    f"completing the response to {self.request.method} {self.request.url}",
                    request=self.request,
                ) from self._error
        elif not self.complete:
            raise self.http.RemoteProtocolError(
                "the app returned without completing the response", request=self.request
            )

    def leave(self) -> None:
        """The client has gone: the app's `receive` says `http.disconnect`."""
        self.gone = True
        if self._over is not None:
            self._over.set()
        if self._drained is not None:
            self._drained.set()

    async def aclose(self) -> None:
        """Close the response: the app sees `http.disconnect`, and is cancelled if it lingers."""
        if not self.returned:
            self.leave()
            await _Exchange.end([self])

    @staticmethod
    async def end(exchanges: Sequence[_Exchange]) -> None:
        """Wait for the apps whose clients left; cancel those still running after the grace.

        Shielded, so that a response given up by cancellation (a cancel scope around the
        request, as well as `asyncio.wait_for`) still ends its app; and bounded: twice the
        grace period at most, however many apps.
        """
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_DISCONNECT_GRACE):
                for exchange in exchanges:
                    await exchange._wait_returned()
            lingering = [exchange for exchange in exchanges if not exchange.returned]
            for exchange in lingering:
                exchange.cancel()
            with anyio.move_on_after(_DISCONNECT_GRACE):
                for exchange in lingering:
                    await exchange._wait_returned()

    async def _wait_returned(self) -> None:
        if not self.returned:
            if self._returned is None:
                self._returned = anyio.Event()
            await self._returned.wait()

    async def _take(self) -> Message | None:
        """The app's next message, or None once it returned (within httpx's read timeout)."""
        messages = self.messages
        if not messages and not self.returned:
            await self._wait_for_a_message()
        if not messages:
            return None
        return self.take_now()

    def take_now(self) -> Message:
        """The app's next message, which is there."""
        message = self.messages.popleft()
        if self._drained is not None:
            self._drained.set()
            self._drained = None
        return message

    async def _wait_for_a_message(self) -> None:
        """Wait, within httpx's read timeout, for the app to send or return.

        Without yielding first: the app's task has run as far as it could (it started
        at once, see `Runtime.run_now`), and a turn of the loop would resume the client's
        whole stack of calls once more than waking it does.
        """
        if self.started and not self.complete:  # a body the app streams
            if self._streaming:
                # A yield first, at every wait but the first: anyio's cancel scopes cancel
                # a task only while its wait is pending, never one the app has just woken,
                # so a client waiting on an app that sends at every turn could never be
                # cancelled mid-stream (an endless stream read in a `move_on_after`).
                await self._runtime.yield_to_others()
                if self.messages or self.returned:
                    return
            self._streaming = True
        timeout = self.request.extensions.get("timeout")
        seconds: float | None = timeout.get("read") if timeout else None
        arrived = self._arrived
        if arrived is None:
            arrived = self._arrived = self._runtime.waiter()
        if not await arrived.wait(seconds):
            raise self.http.ReadTimeout(
                f"the app sent nothing for {seconds} s while answering "
                f"{self.request.method} {self.request.url} (httpx's read timeout)",
                request=self.request,
            )


def _nothing() -> None:
    """The cancel() of an exchange whose app has not started yet."""


class _AsyncResponseStream:
    """The response body as the app sends it; then the app's exception, if any.

    An iterator class rather than an async generator: cheaper per request, and nothing
    for trio to warn about when a test stops reading half way. Flavoured with the
    library's `AsyncByteStream` (`ClientLibrary.flavour`).
    """

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self._complete = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while not self._complete:
            body, self._complete = await self._exchange.read_some()
            if body:
                return body
        raise StopAsyncIteration

    async def aclose(self) -> None:
        await self._exchange.aclose()


class _StreamingTransport:
    """An ASGI app called in-process, its responses streamed; any `ClientLibrary`'s."""

    http: ClientLibrary  # the library's, set on each flavour

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = DEFAULT_CLIENT_ADDRESS,
    ) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self._exchanges: set[_Exchange] = set()
        self._runtime: Runtime | None = None
        # What a scope takes from each URL, which a test suite asks for again and again.
        self._url_parts: dict[object, tuple[str, str, bytes, bytes, tuple[str, int | None]]] = {}
        http = self.http
        self._response = http.Response
        self._byte_stream = http.ByteStream
        self._async_byte_stream = http.AsyncByteStream
        self._response_stream = http.flavour(_AsyncResponseStream, http.AsyncByteStream)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _asks_for_websocket(request):
            from ._websocket import open_websocket  # the websocket library is an extra

            return await open_websocket(self, request)
        stream = request.stream
        assert isinstance(stream, self._async_byte_stream)
        exchange = self._launch(request, stream)
        if exchange.messages:  # the app's task began at once, and its response with it
            start = exchange.take_now()
        else:
            start = await self._response_start(exchange)
        if exchange.returned:  # most responses: nothing left to stream
            # The library's own ByteStream, which its Response reads at once: the client
            # then skips reading it, a turn of async iteration per response.
            response_stream: Any = self._byte_stream(exchange.whole_body())
        else:
            response_stream = self._response_stream(exchange)
        response = self._response(
            start["status"], headers=start.get("headers", []), stream=response_stream
        )
        if exchange.debug is not None:
            expose(response, exchange.debug)
        return response

    async def start(
        self, request: httpx.Request, body: AsyncIterable[bytes]
    ) -> tuple[_Exchange, Message]:
        """Start the app on `request` in a task of its own; wait for its response to start."""
        exchange = self._launch(request, body)
        return exchange, await self._response_start(exchange)

    def _launch(self, request: httpx.Request, body: AsyncIterable[bytes]) -> _Exchange:
        """Start the app on `request`, at once: it runs here until it first waits, then
        on in a task of its own (see `Runtime.run_now`)."""
        runtime = self._runtime or self.runtime
        exchange = _Exchange(
            request,
            body,
            isinstance(body, self._byte_stream),
            self.raise_app_exceptions,
            runtime,
            self.http,
        )
        scope = self._scope_for(request)
        app = self.app
        if app.__class__ is Dispatcher:  # the scope is ours: routed in place, not copied
            app = app.route_in_place(scope)
        exchanges = self._exchanges
        exchanges.add(exchange)
        exchange.cancel = runtime.run_now(exchange.run(app, scope, exchanges), _served_app(app))
        return exchange

    @staticmethod
    async def _response_start(exchange: _Exchange) -> Message:
        """Wait for the response to start. A client that stops waiting (a timeout, a
        cancellation) leaves, as it would leave a server, rather than let the app run on
        until the client closes."""
        try:
            return await exchange.response_start()
        except BaseException:
            await exchange.aclose()
            raise

    @property
    def runtime(self) -> Runtime:
        """How the app's tasks run on this transport's event loop, found on first use."""
        if self._runtime is None:
            self._runtime = Runtime()
        return self._runtime

    def _scope_for(self, request: httpx.Request) -> dict[str, Any]:
        """A new scope for `request`, which its app may change at will."""
        url = request.url
        key = getattr(url, "_uri_reference", None)  # the parsed URL, a named tuple
        parts = self._url_parts.get(key) if key is not None else None
        if parts is None:
            parts = (
                url.scheme,
                url.path,
                url.raw_path.split(b"?", 1)[0],
                url.query,
                (url.host, url.port or _DEFAULT_PORTS.get(url.scheme)),
            )
            if key is not None and len(self._url_parts) < _REMEMBERED_URLS:
                self._url_parts[key] = parts
        scheme, path, raw_path, query_string, server = parts
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": query_string,
            "root_path": self.root_path,
            "headers": _scope_headers(request.headers),
            "client": self.client,
            "server": server,
            "extensions": {DEBUG_EXTENSION: {}},
        }

    async def aclose(self) -> None:
        """Close every response still open, so that no app task outlives the client."""
        exchanges = list(self._exchanges)
        for exchange in exchanges:
            exchange.leave()
        await _Exchange.end(exchanges)
        if self._runtime is not None:
            await self._runtime.aclose()


class StreamingTransport(_StreamingTransport, httpx.AsyncBaseTransport):
    """An httpx transport that calls an ASGI app in-process and streams its responses.

    Exceptions the app raises propagate with their own type and traceback (or become
    a 500 with `raise_app_exceptions=False`). httpx2's is `transports_for("httpx2")[0]`.

    Each request's app starts at once, within the client's call, in a context of its
    own and as a task other than the caller's: a task kept on standby is the current
    task (the one `asyncio.current_task()`, anyio's cancel scopes and `asyncio.timeout`
    see), and goes on running the app should it wait. An app that answers without
    waiting has no task made for it; unlike under a server, such requests, one after
    another, see the same task object.
    """

    http = HTTPX


class _SyncResponseStream:
    """The rest of a response the sync client reads, each read a trip to the portal.

    Flavoured with the library's `SyncByteStream`."""

    def __init__(
        self, transport: _SyncStreamingTransport, exchange: _Exchange, first: bytes
    ) -> None:
        self._transport = transport
        self._exchange = exchange
        self._first = first
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        while not self._complete:
            body, self._complete = self._transport.call(self._exchange.read_some)
            if body:
                yield body

    def close(self) -> None:
        if not self._complete:
            self._complete = True
            # An app that has returned has nothing to end: after the client's exit, which
            # ends them all, the portal is gone (a response collected after the test).
            if not self._exchange.returned:
                self._transport.call(self._exchange.aclose)


class _SyncStreamingTransport:
    """The sync face of a streaming transport: the app runs on a portal's event loop.

    Code the app runs through asgiref's thread-sensitive `sync_to_async` (Django's
    views and ORM) runs on the calling thread, as under `async_to_sync`, so that it
    shares the test's thread and database connection, like `django.test.Client`.
    """

    http: ClientLibrary  # the library's, set on each flavour

    def __init__(self, transport: _StreamingTransport, portal: BlockingPortal) -> None:
        if transport.http is not self.http:
            raise TypeError(
                f"a {self.http.name} sync transport needs the {self.http.name} async "
                f"transport, not {transport.http.name}'s: see transports_for()"
            )
        self._transport = transport
        self._portal = portal
        self._executors = threading.local()  # one per calling thread: each runs its own work
        self._inline = InlinePath(transport, self.call)  # WSGI and Django: on this thread
        self._response_stream = self.http.flavour(_SyncResponseStream, self.http.SyncByteStream)

    @property
    def app(self) -> ASGIApp:
        """The app the requests reach (the async transport's)."""
        return self._transport.app

    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run `function(*args)` on the portal, serving thread-sensitive calls meanwhile."""
        executor = self._executor()
        with executor.serving():
            future: Future[T] = self._portal.start_task_soon(
                run_thread_sensitive_here, executor, function, *args
            )
            return executor.run_until(future)

    def _executor(self) -> CallingThreadExecutor:
        """The calling thread's executor: it runs that thread's work while it waits."""
        executor: CallingThreadExecutor | None = getattr(self._executors, "executor", None)
        if executor is None:
            executor = self._executors.executor = CallingThreadExecutor()
        return executor

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if _asks_for_websocket(request):
            from ._websocket import open_websocket_sync  # the websocket library is an extra

            return open_websocket_sync(self._transport, self._portal, request)
        response = self._inline.handle(request)
        if response is not None:
            return response
        body = self._body_of(request.stream)
        start, exchange, first, complete = self.call(self._open, request, body)
        stream: Any = (
            self.http.ByteStream(first)
            if complete
            else self._response_stream(self, exchange, first)
        )
        response = self.http.Response(
            start["status"], headers=start.get("headers", []), stream=stream
        )
        expose(response, exchange.debug)
        return response

    def _body_of(self, stream: Any) -> AsyncIterable[bytes]:
        """The request body as the app reads it: bytes as they are, a generator (or any
        other iterable) pulled chunk by chunk on the calling thread."""
        if isinstance(stream, self.http.AsyncByteStream):  # bytes, forms and files: no code runs
            return stream
        return _PulledOnCallingThread(stream, self._executor(), self._transport)

    async def _open(
        self, request: httpx.Request, body: AsyncIterable[bytes]
    ) -> tuple[Message, _Exchange, bytes, bool]:
        """Start the request and take what the app has sent so far, in one round trip."""
        exchange, start = await self._transport.start(request, body)
        first, complete = await exchange.read_some(wait=False)
        return start, exchange, first, complete

    def close(self) -> None:
        self.call(self._transport.aclose)


class SyncStreamingTransport(_SyncStreamingTransport, httpx.BaseTransport):
    """The sync face of `StreamingTransport`, for `httpx.Client`: the app runs on a
    portal's event loop; WSGI apps and Django's sync code on the calling thread."""

    http = HTTPX


@cache
def transports_for(
    http: ClientLibrary,
) -> tuple[type[StreamingTransport], type[SyncStreamingTransport]]:
    """The async and sync streaming transports for `http`'s clients (typed as httpx's,
    whose shape httpx2's share)."""
    if http is HTTPX:
        return StreamingTransport, SyncStreamingTransport
    return (
        cast(
            "type[StreamingTransport]", http.flavour(_StreamingTransport, http.AsyncBaseTransport)
        ),
        cast(
            "type[SyncStreamingTransport]",
            http.flavour(_SyncStreamingTransport, http.BaseTransport),
        ),
    )


def _served_app(app: ASGIApp) -> object:
    """The mounted app a request reaches: behind a trace's observed serving of it too
    (`Dispatcher.route_in_place`)."""
    return app.args[-1] if app.__class__ is partial else app


def _asks_for_websocket(request: httpx.Request) -> bool:
    """Whether `request` asks to upgrade to a websocket; the header names looked through
    in C, since every plain request asks."""
    headers = request.headers
    items = getattr(headers, "_list", None)  # (raw name, lowercased name, value)
    if items is None:
        items = [(name, name.lower(), value) for name, value in headers.raw]
    if b"upgrade" not in map(_lowercased_name, items):
        return False
    return any(value.lower() == b"websocket" for _, name, value in items if name == b"upgrade")


def _scope_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    """The request's headers as a scope has them: names lowercased, a new list."""
    items = getattr(headers, "_list", None)  # httpx keeps the lowercased names there
    if items is None:
        return [(name.lower(), value) for name, value in headers.raw]
    return list(map(_lowercased_name_and_value, items))


# Of httpx's header items: (raw name, lowercased name, value).
_lowercased_name = itemgetter(1)
_lowercased_name_and_value = itemgetter(1, 2)


class _PulledOnCallingThread:
    """A sync request body, each chunk pulled when the app asks, on the calling thread.

    The app reads on the portal's event loop, but the body's own code (a generator, with
    its thread-locals or Django's connection) runs on the thread that sent the request,
    as it does for a real client: that thread runs it while it waits for the portal (see
    `_threads`). One chunk at a time, so a body of any size takes the memory of one.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        executor: CallingThreadExecutor,
        transport: _StreamingTransport,
    ) -> None:
        self._chunks = iter(chunks)
        self._executor = executor
        self._transport = transport  # its runtime is found on the event loop

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        pulled: Future[bytes | None] = self._executor.submit(next, self._chunks, None)
        chunk = await self._transport.runtime.result_of(pulled)
        if chunk is None:
            raise StopAsyncIteration
        return chunk


def _bytes_of(body: object, message: Message) -> bytes:
    data = as_bytes(body)
    if data is None:
        raise RuntimeError(f"the app sent a body that is not bytes or bytes-like: {message!r}")
    return data
