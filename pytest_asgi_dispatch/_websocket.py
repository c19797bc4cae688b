"""WebSockets through the streaming transports: httpx-ws's on httpx, httpx2's own on httpx2.

httpx-ws (and httpx2's `client.websocket()`, derived from it) talks to a server through
the `network_stream` of a 101 response: bytes of WebSocket frames both ways. Its own
`ASGIWebSocketAsyncNetworkStream` turns those frames into ASGI messages for an app; we
keep its wsproto handshake and queues and change what a test client needs changed: the
app runs in a task of its own (as HTTP requests do, see `_runtime.Runtime`), so a
websocket may be closed by another task than the one that opened it; an app that returns
or raises ends the websocket with a close frame instead of leaving the client waiting;
the app's exception is raised once the websocket is over; the denial response is
supported; pings are answered. The classes here are flavoured with the library's own
bases (`ClientLibrary.flavour`), so that each library's session recognises them.

This module is imported only when a test opens a websocket: httpx-ws is an extra. It
depends on the transport only through `WebSocketHost`: `_transport` imports it, never
the other way round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio
import httpx
import wsproto
from anyio.from_thread import BlockingPortal

from ._client_library import ClientLibrary
from ._runtime import ClientDisconnected, Runtime
from ._types import ASGIApp

if TYPE_CHECKING:  # for the checker: at run time, the library's own (see `_flavoured`)
    from httpx_ws.transport import ASGIWebSocketAsyncNetworkStream as _NetworkStreamBase
else:
    _NetworkStreamBase = object

__all__ = ["WebSocketHost", "WebSocketStream", "open_websocket", "open_websocket_sync"]

Message = dict[str, Any]  # an ASGI message, as httpx-ws types it

# How long an app gets to return after its websocket is over, before it is cancelled:
# an app that listens for `websocket.disconnect` returns well within this.
_DISCONNECT_GRACE = 1.0
# A close reason must fit a control frame: 125 bytes, less the 2 of the code.
_MAX_REASON_BYTES = 123
# Internal message: a pong frame owed to the client, queued with the app's messages.
_PONG = "pytest_asgi_dispatch.pong"

_OPEN = wsproto.connection.ConnectionState.OPEN
_CLOSING_OR_OPEN = (_OPEN, wsproto.connection.ConnectionState.REMOTE_CLOSING)


class WebSocketHost(Protocol):
    """What a websocket needs of the transport that opens it."""

    app: ASGIApp
    raise_app_exceptions: bool
    http: ClientLibrary

    @property
    def runtime(self) -> Runtime: ...

    def _scope_for(self, request: httpx.Request) -> dict[str, Any]: ...


async def open_websocket(transport: WebSocketHost, request: httpx.Request) -> httpx.Response:
    """Run the app on a websocket scope for `request`; the async client's response."""
    http = transport.http
    websocket = _flavoured(http, WebSocketStream)(transport, request)
    status, headers, body = await websocket.handshake()
    outcome = http.flavour(_AsyncOutcome, http.AsyncByteStream)
    return _handshake_response(http, request, status, headers, body, websocket, outcome)


def open_websocket_sync(
    transport: WebSocketHost, portal: BlockingPortal, request: httpx.Request
) -> httpx.Response:
    """Like `open_websocket`, for the sync client: the app runs on `portal`'s event loop.

    Thread-sensitive sync code that the app runs (a Channels `WebsocketConsumer`) runs
    on asgiref's shared thread, not the test's: the websocket session reads from a thread
    of its own while the test waits, so the test's thread is not free to run it.
    """
    http = transport.http
    websocket = portal.call(_flavoured(http, WebSocketStream), transport, request)
    status, headers, body = portal.call(websocket.handshake)
    stream = http.flavour(_SyncNetworkStream, http.core.NetworkStream)(websocket, portal)
    outcome = http.flavour(_SyncOutcome, http.SyncByteStream)
    return _handshake_response(http, request, status, headers, body, stream, outcome)


def _flavoured(http: ClientLibrary, neutral: type[WebSocketStream]) -> type[WebSocketStream]:
    """`WebSocketStream` on the library's ASGI network stream, which its session expects."""
    return http.flavour(neutral, http.websockets.network_stream)


def _handshake_response(
    http: ClientLibrary,
    request: httpx.Request,
    status: int,
    headers: Any,
    body: bytes,
    network_stream: Any,
    outcome: Callable[[Any], Any],
) -> httpx.Response:
    """The 101 that hands the session the network stream, or the app's denial response."""
    if status != 101:
        return http.Response(status, headers=headers, content=body, request=request)
    return http.Response(
        101,
        headers=headers,
        stream=outcome(network_stream),
        extensions={"network_stream": network_stream},
        request=request,
    )


class WebSocketStream(_NetworkStreamBase):
    """One websocket: frames on httpx-ws's side, ASGI messages on the app's.

    httpx-ws's session reads and writes frames; the app's messages wait in the
    inherited `_send_queue`, the client's in `_receive_queue` (named from the app's
    side, as httpx-ws names them).
    """

    http: ClientLibrary  # the library's, set on each flavour

    def __init__(self, transport: WebSocketHost, request: httpx.Request) -> None:
        self.request = request
        self._timeout: float | None = request.extensions.get("timeout", {}).get("read")
        self._raise_app_exceptions = transport.raise_app_exceptions
        self._runtime = transport.runtime
        super().__init__(
            cast(Any, transport.app),
            _scope_for(transport, request),
            task_group=cast(Any, None),  # the app runs in a task of its own: see handshake()
            initial_receive_timeout=self._timeout or 0,
        )
        self._cancel_app: Any = lambda: None
        self._accepted = False
        self._app_closed = False  # the app sent websocket.close
        self._client_gone = False  # the client closed: the app's sends fail from now on
        self._disconnect: Message | None = None
        self._returned = anyio.Event()
        self._error: Exception | None = None
        self._error_raised = False
        self._outgoing = bytearray()  # frames for the client, not yet read
        self._at_end = False
        self._closed = False
        self._partial: str | bytes | None = None  # a fragmented message from the client

    # The app's side.

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._app_receive, self._app_send)
        except Exception as exc:
            self._error = exc
        finally:
            self._returned.set()
            self._send_queue.send_stream.close()  # the client reads what was sent, then the end

    async def _app_receive(self) -> Message:
        try:
            return cast(Message, await self._receive_queue.receive())
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            assert self._disconnect is not None
            return dict(self._disconnect)  # ASGI: every receive after the end is a disconnect

    async def _app_send(self, message: Message) -> None:
        if self._client_gone:
            raise ClientDisconnected("the client closed the websocket")
        self._check(message)
        try:
            await self._send_queue.send(dict(message))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ClientDisconnected("the client closed the websocket") from None

    def _check(self, message: Message) -> None:
        """Refuse what a server would refuse, naming the message, rather than break the client."""
        kind = str(message.get("type"))
        if self._app_closed:
            raise RuntimeError(f"the app sent {kind!r} after 'websocket.close'")
        if kind == "websocket.close":
            self._app_closed = True
        elif kind == "websocket.send":
            if not self._accepted:
                raise RuntimeError("the app sent 'websocket.send' before 'websocket.accept'")
            if (message.get("text") is None) == (message.get("bytes") is None):
                raise RuntimeError(f"'websocket.send' needs one of 'text' or 'bytes': {message!r}")
        elif kind == "websocket.accept" or kind.startswith("websocket.http.response."):
            if self._accepted:
                raise RuntimeError(f"the app sent {kind!r} after 'websocket.accept'")
            self._accepted = kind == "websocket.accept"
        else:
            raise RuntimeError(f"the app sent an unexpected message {kind!r} on a websocket")

    # The handshake.

    async def handshake(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Start the app and wait for its answer: (status, headers, body) for the client.

        101 when the app accepts, its denial response, or 403 when it returns without
        either (the ASGI spec's rule). A close before accept raises `WebSocketDisconnect`
        with the app's code, as httpx-ws and Starlette's TestClient do; an exception
        the app raised first propagates as it is.
        """
        self._cancel_app = self._runtime.spawn(self._run)
        await self.send({"type": "websocket.connect"})
        accepted = False
        try:
            message = await self._answer()
            if message is None:  # a server answers 500 if the app raised, else 403
                return (500 if self._error else 403), [], b""
            if message["type"] == "websocket.accept":
                accepted = True
                return 101, self._accept_headers(message), b""
            if message["type"] == "websocket.close":
                disconnect = self.http.websockets.WebSocketDisconnect
                raise disconnect(message.get("code", 1000), message.get("reason"))
            body = bytearray()
            while (part := await self._answer()) is not None:
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            return message["status"], list(message.get("headers", [])), bytes(body)
        finally:
            if not accepted:
                await self.aclose()
                self.raise_app_error()

    async def _answer(self) -> Message | None:
        """The app's next message during the handshake; None once it returned."""
        try:
            with anyio.fail_after(self._timeout):
                return cast(Message, await self._send_queue.receive())
        except anyio.EndOfStream:
            return None
        except TimeoutError:
            raise self.http.ReadTimeout(
                f"the app neither accepted nor refused the websocket {self.request.url} "
                f"within {self._timeout} s (httpx's read timeout); does it call accept()?",
                request=self.request,
            ) from None

    def _accept_headers(self, message: Message) -> list[tuple[bytes, bytes]]:
        lines = self._build_accept_response(message).split(b"\r\n")[1:]
        return [
            (name, value) for name, _, value in (line.partition(b": ") for line in lines) if name
        ]

    # httpx-ws's side: the network stream.

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Frames for the client, up to `max_bytes`; b"" once the websocket is over."""
        while not self._outgoing:
            if self._at_end:
                return b""
            try:
                with anyio.fail_after(timeout):
                    message = cast(Message, await self._send_queue.receive())
            except TimeoutError:
                raise self.http.core.ReadTimeout(f"no frame within {timeout} s") from None
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                message = None
            self._outgoing += self._frames_for(message)
        chunk = bytes(self._outgoing[:max_bytes])
        del self._outgoing[:max_bytes]
        return chunk

    def _frames_for(self, message: Message | None) -> bytes:
        connection = self.connection
        if message is None:  # the app returned: close for it, as a server would
            self._at_end = True
            if self._closed or connection.state not in _CLOSING_OR_OPEN:
                return b""
            code, reason = (1000, "") if self._error is None else (1011, _describe(self._error))
            return connection.send(wsproto.events.CloseConnection(code, reason))
        kind = message["type"]
        if kind == _PONG:
            return cast(bytes, message["frame"])
        if kind == "websocket.close" and connection.state in _CLOSING_OR_OPEN:
            reason = message.get("reason") or ""
            return connection.send(
                wsproto.events.CloseConnection(message.get("code", 1000), reason)
            )
        if kind == "websocket.send" and connection.state == _OPEN:
            text = message.get("text")
            event = (
                wsproto.events.BytesMessage(message["bytes"])
                if text is None
                else wsproto.events.TextMessage(text)
            )
            return connection.send(event)
        return b""  # the client is closing: nothing more reaches it

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Frames from the client: messages for the app; pings answered here, as servers do."""
        if self._closed:
            raise self.http.core.WriteError("the websocket is closed")
        self.connection.receive_data(buffer)
        for event in self.connection.events():
            if isinstance(event, wsproto.events.Message):
                data = event.data if self._partial is None else self._partial + event.data
                self._partial = None if event.message_finished else data
                if event.message_finished:
                    key = "text" if isinstance(data, str) else "bytes"
                    await self._to_app({"type": "websocket.receive", key: data})
            elif isinstance(event, wsproto.events.Ping):
                frame = self.connection.send(event.response())
                with suppress(anyio.ClosedResourceError):
                    await self._send_queue.send({"type": _PONG, "frame": frame})
            elif isinstance(event, wsproto.events.CloseConnection):
                self._tell_app_disconnect(event.code, event.reason or "")

    async def _to_app(self, message: Message) -> None:
        with suppress(anyio.ClosedResourceError):
            await self._receive_queue.send(message)

    def _tell_app_disconnect(self, code: int, reason: str = "") -> None:
        if self._disconnect is not None:
            return
        self._client_gone = True
        self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._receive_queue.send_stream.send_nowait(self._disconnect)
        self._receive_queue.send_stream.close()

    async def aclose(self) -> None:
        """End the websocket: the app sees a disconnect and is cancelled if it lingers."""
        if self._closed:
            return
        self._closed = True
        self._tell_app_disconnect(1006)  # gone without a close frame, unless one came
        self._send_queue.send_stream.close()  # wakes a reader in another task or thread
        with anyio.move_on_after(_DISCONNECT_GRACE):
            await self._returned.wait()
        if not self._returned.is_set():
            self._cancel_app()
            with anyio.move_on_after(_DISCONNECT_GRACE):
                await self._returned.wait()
        await self._receive_queue.aclose()
        await self._send_queue.aclose()

    def raise_app_error(self) -> None:
        """Raise what the app raised, once, unless `raise_app_exceptions=False`."""
        if self._error is not None and self._raise_app_exceptions and not self._error_raised:
            self._error_raised = True
            raise self._error


class _AsyncOutcome:
    """The 101 response's empty body: closing it ends the websocket and raises the app's error.

    The session closes the response after it ends, so the app's exception is raised
    when the `async with aconnect_ws(...)` block is left, with the session torn down.
    Flavoured with the library's `AsyncByteStream`.
    """

    def __init__(self, websocket: WebSocketStream) -> None:
        self._websocket = websocket

    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield

    async def aclose(self) -> None:
        await self._websocket.aclose()
        self._websocket.raise_app_error()


class _SyncNetworkStream:
    """The sync face of a `WebSocketStream`, for `connect_ws`: each call runs on the portal.

    Flavoured with the library's httpcore `NetworkStream`."""

    def __init__(self, websocket: WebSocketStream, portal: BlockingPortal) -> None:
        self.websocket = websocket
        self._portal = portal

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._portal.call(self.websocket.read, max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._portal.call(self.websocket.write, buffer, timeout)

    def close(self) -> None:
        self._portal.call(self.websocket.aclose)


class _SyncOutcome:
    """`_AsyncOutcome` for the sync client."""

    def __init__(self, stream: _SyncNetworkStream) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        self._stream.close()
        self._stream.websocket.raise_app_error()


def _scope_for(transport: WebSocketHost, request: httpx.Request) -> dict[str, Any]:
    scope = transport._scope_for(request)
    del scope["method"]
    protocols = request.headers.get("sec-websocket-protocol")
    scope.update(
        type="websocket",
        scheme={"http": "ws", "https": "wss"}.get(scope["scheme"], scope["scheme"]),
        subprotocols=[p.strip() for p in protocols.split(",")] if protocols else [],
        extensions={"websocket.http.response": {}},
    )
    return scope


def _describe(error: Exception) -> str:
    """A close reason naming the exception, cut to what a close frame holds."""
    reason = f"{type(error).__name__}: {error}".encode()[:_MAX_REASON_BYTES]
    return reason.decode(errors="ignore")
