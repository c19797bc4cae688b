"""The sync client's fast path: WSGI apps and Django run on the calling thread.

A sync test waiting on the portal's event loop, which hands a WSGI app to a2wsgi's
worker thread (or Django's sync code back to the test's thread), pays two thread hops
each way for an app that is synchronous from end to end. Werkzeug's test client,
httpx's `WSGITransport` and `django.test.Client` call the app on the test's own thread;
so does the sync client, for a request whose mount is a WSGI app or Django's ASGI
handler. ASGI apps keep the event loop, where their lifespan resources live, and so do
websockets and requests that match no mount.

Each request runs in a context of its own (as each ASGI request runs in a task of its
own, and a2wsgi copies the task's context into its thread), with a `_handled` slot open
in it and, while the app runs, Django's request signals sparing this thread's database
connections (see `_django`). What the app raises, or a framework recorded, is raised
once the response is complete, as on the event-loop path.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
from a2wsgi.wsgi import unicode_to_wsgi

from . import _handled
from ._apps import WSGIAdapter, with_whole_body
from ._django import close_what_requests_open, django_serving, sparing_this_threads_connections
from ._observe import Observation, Observer, begin_inline
from ._response_checks import DeclaredLength, as_bytes
from ._response_debug import ResponseDebug, expose, watching
from ._routing import Dispatcher, Route
from ._types import Scope

if TYPE_CHECKING:
    from ._client_library import ClientLibrary
    from ._transport import _StreamingTransport as StreamingTransport

__all__ = ["InlineCall", "InlinePath", "InlineStream"]

T = TypeVar("T")
# Runs a coroutine function on the portal's event loop from the calling thread, serving
# asgiref's thread-sensitive work meanwhile (`SyncStreamingTransport.call`).
PortalCall = Callable[..., Any]


class Runner(Protocol):
    """Serves one request of a mount on the calling thread."""

    # Whether Django may serve the mount's requests, sending the request signals that
    # would close the test's connections (`_django`): then each step spares them, and
    # Django's renders are watched for (`_response_debug`).
    may_serve_django: bool

    def __call__(self, request: httpx.Request, scope: Scope, call: InlineCall) -> httpx.Response:
        """The app's response to `request`, called with `scope`."""


class InlinePath:
    """Serves a sync client's request on the calling thread when its mount allows it.

    `handle()` answers None for a request that takes the event loop instead.
    """

    def __init__(self, transport: StreamingTransport, portal_call: PortalCall) -> None:
        self._transport = transport
        self._dispatcher = transport.app if isinstance(transport.app, Dispatcher) else None
        self._portal_call = portal_call
        self._runners: dict[Route, Runner | None] = {}
        # By the id of the app a request was routed to: the app (which keeps the id its
        # own) and its runner, None for a Dispatcher's own answer or an app of the loop.
        self._by_app: dict[int, tuple[object, Runner | None]] = {}

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        dispatcher = self._dispatcher
        if dispatcher is None:
            return None
        scope = self._transport._scope_for(request)  # this request's own
        if dispatcher.observer is not None:  # the trace: see _observe
            return self._handle_observed(dispatcher, dispatcher.observer, request, scope)
        app = dispatcher.route_in_place(scope)  # no copy: routed as the event loop's path is
        try:
            routed, runner = self._by_app[id(app)]
            if routed is not app:
                raise KeyError(app)  # pragma: no cover - an id reused after its app went
        except KeyError:
            runner = self._runner_for_app(app)
            self._by_app[id(app)] = (app, runner)
        if runner is None:
            return None
        call = InlineCall(request, self._transport, may_serve_django=runner.may_serve_django)
        response = runner(request, scope, call)
        expose(response, call.debug)
        return response

    def _handle_observed(
        self, dispatcher: Dispatcher, observer: Observer, request: httpx.Request, scope: Scope
    ) -> httpx.Response | None:
        """`handle()` while a trace records: the mount it names found on the scope as sent."""
        resolved = dispatcher.resolve(scope)
        if resolved is None:
            return None  # the Dispatcher's 404, from the event loop
        route, app_scope = resolved
        runner = self._runner_of(route)
        if runner is None:
            return None
        call = InlineCall(request, self._transport, may_serve_django=runner.may_serve_django)
        outer = dispatcher.route_for(scope)  # the mount named in the trace
        call.observe(observer, None if outer is None else outer.key, scope)
        response = runner(request, app_scope, call)
        expose(response, call.debug)
        return response

    def _runner_of(self, route: Route) -> Runner | None:
        try:
            return self._runners[route]
        except KeyError:
            runner = self._runners[route] = self._runner_for(route)
            return runner

    def _runner_for_app(self, app: object) -> Runner | None:
        """The runner of the route whose app `app` is; None for a Dispatcher (no match)."""
        pending = [self._dispatcher]
        seen: set[int] = set()
        while pending:
            dispatcher = pending.pop()
            if dispatcher is None or id(dispatcher) in seen:
                continue
            seen.add(id(dispatcher))
            for route in dispatcher.routes:
                if route.app is app:
                    return self._runner_of(route)
                if isinstance(route.app, Dispatcher):
                    pending.append(route.app)
        return None

    def _runner_for(self, route: Route) -> Runner | None:
        """How to run `route`'s app here, looking through our own wrappers; None: not at all."""
        app: object = route.app
        while True:
            if isinstance(app, WSGIAdapter):
                return _WSGIRunner(app.wsgi, route.key)
            if _is_djangos_asgi_handler(app):
                from ._inline_django import DjangoRunner  # imports Django

                return DjangoRunner(app, self._portal_call)
            if not type(app).__module__.startswith(__package__ + "."):
                return None
            app = getattr(app, "app", None)


def _is_djangos_asgi_handler(app: object) -> bool:
    asgi = sys.modules.get("django.core.handlers.asgi")
    return asgi is not None and isinstance(app, asgi.ASGIHandler)


class Body(Protocol):
    """A response body that the app produces as it is read."""

    complete: bool  # all of it was produced: an exception after that leaves it whole

    def next_chunk(self) -> bytes | None:
        """The next chunk; None at the end, once the app is done with the response."""

    def close(self) -> None:
        """Let the app clean up after a client that left before the end."""


def _begin(may_serve_django: bool) -> tuple[_handled.HandledError, ResponseDebug | None]:
    """Open a request's `_handled` slot and, if Django may serve it, its debug record, in
    its context: Django's renders are all a record takes on this path, and watching for
    them costs a Flask request about 3 µs once Django's test instrumentation is loaded.

    `django_serving` is left as the caller's context has it: False, but for a Django
    request of the caller's own left open, which at worst spares the test's connections
    once more than needed.
    """
    return _handled.recording().__enter__(), watching() if may_serve_django else None


class InlineCall:
    """One request run on the calling thread: its context, its `_handled` slot, its outcome."""

    def __init__(
        self, request: httpx.Request, transport: StreamingTransport, *, may_serve_django: bool
    ) -> None:
        self.request = request
        self.is_head = request.method == "HEAD"
        self._raise_app_exceptions = transport.raise_app_exceptions
        self.http = transport.http  # the client's library: its responses and errors
        self._context = contextvars.copy_context()
        # The `_handled` slot and Django's renders (`debug`) of this request, opened in its
        # context; the context is the request's own, so nothing needs closing afterwards.
        self._slot, self.debug = self._context.run(_begin, may_serve_django)
        self._observation: Observation | None = None  # while a trace observes it
        self._error: BaseException | None = None
        self._finished = False
        # Whether the next step spares the test's connections; None: ask Django's signals.
        # Not without Django's database layer: there is nothing to spare.
        self._sparing: bool | None = may_serve_django and "django.db" in sys.modules
        if self._sparing:
            close_what_requests_open()  # and `django_serving` kept by Django's signals

    def step(self, function: Callable[..., T], *args: Any) -> T:
        """Run part of the app's work in the request's context, sparing the test's connection.

        After the first step, only while Django serves the request: only Django sends
        the signals it guards against, and sparing has a cost (see `_django`).
        """
        sparing = self._sparing
        if sparing is None:  # after a step that spared: is Django still at it?
            sparing = self._sparing = self._context.get(django_serving, False)
        if not sparing:
            return self._context.run(function, *args)
        try:
            with sparing_this_threads_connections():
                return self._context.run(function, *args)
        finally:
            self._sparing = None  # known once the next step comes, if it does

    def observe(self, observer: Observer, mount: str | None, scope: Scope) -> None:
        """Tell `observer` of this request as it begins, as the Dispatcher would."""
        self._observation = begin_inline(observer, mount, scope, self._context)

    def responded(self, status: int) -> None:
        """The app's response started, with `status` (for the trace)."""
        if self._observation is not None and self._observation.status is None:
            self._observation.status = status

    def pull(self, next_chunk: Callable[[], bytes | None]) -> bytes | None:
        """`step(next_chunk)`: None at the body's end, or once the app raised (kept for later)."""
        if self._error is not None:
            return None
        try:
            return self.step(next_chunk)
        except Exception as exc:
            self.fail(exc)
            return None

    def fail(self, exc: BaseException) -> None:
        """Keep what the app raised, to raise once the response is over (the first only)."""
        if self._error is None:
            self._error = exc

    @property
    def failed(self) -> bool:
        return self._error is not None

    def finish(self, *, complete: bool) -> None:
        """End the request: raise the app's exception, else one its framework handled.

        Raises only with `raise_app_exceptions`, and once: later calls are no-ops. Without
        it, a response the app's exception cut short raises httpx's RemoteProtocolError,
        as a server would drop the connection.
        """
        if self._finished:
            return
        self._finished = True
        error = self._error or self._slot.exception
        if self._observation is not None:
            self._observation.end(error)
        if error is not None and self._raise_app_exceptions:
            raise error
        if self._error is not None and not complete:
            raise self.http.RemoteProtocolError(
                f"the app raised {type(self._error).__name__}: {self._error} before "
                f"completing the response to {self.request.method} {self.request.url}",
                request=self.request,
            ) from self._error

    def leave(self) -> None:
        """The client closed the response before its end: nothing is raised any more."""
        self._error = None
        self._slot.exception = None
        self.finish(complete=True)

    def failed_before_responding(self) -> httpx.Response:
        """Raise the app's exception; without `raise_app_exceptions`, a bare 500 instead."""
        self.finish(complete=True)
        return self.http.Response(500, stream=self.http.ByteStream(b""))

    def streamed(self, first: bytes, body: Body) -> httpx.SyncByteStream:
        """The response body for the client: `first`, then `body` pulled as it is read."""
        flavoured = _STREAMS.get(self.http)
        if flavoured is None:
            flavoured = _STREAMS[self.http] = self.http.flavour(
                InlineStream, self.http.SyncByteStream
            )
        return flavoured(self, first, body)  # type: ignore[return-value]  # flavoured


_STREAMS: dict[ClientLibrary, type[InlineStream]] = {}  # each library's, flavoured


class InlineStream:
    """A response body pulled from the app chunk by chunk, on the calling thread.

    Flavoured with the client library's `SyncByteStream` (`InlineCall.streamed`).

    At the end the app's exception, if any, is raised; a response the client closes
    early raises nothing, as on the event-loop path.
    """

    def __init__(self, call: InlineCall, first: bytes, body: Body) -> None:
        # Both let go of once the body is over: the response and its stream are garbage
        # in a cycle of httpx's (`BoundSyncStream`), which the collector walks through.
        self._call: InlineCall | None = call
        self._first = first
        self._body: Body | None = body

    def __iter__(self) -> Iterator[bytes]:
        call, body = self._call, self._body
        if call is None or body is None:
            return  # over already
        chunk: bytes | None = self._first
        while chunk is not None:
            if chunk and not call.is_head:  # the app runs to its end; no body for HEAD
                yield chunk
            chunk = call.pull(body.next_chunk)
        self._call = self._body = None
        call.finish(complete=body.complete)

    def close(self) -> None:
        call, body = self._call, self._body
        if call is None or body is None:
            return
        self._call = self._body = None
        with contextlib.suppress(Exception):  # the client is gone: nobody to tell
            call.step(body.close)
        call.leave()


class _RequestBody:
    """`wsgi.input`: the request body, read from httpx's stream as the app asks for it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._more = True

    def _fill(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._more = False
        else:
            self._buffer += chunk

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._more:
                self._fill()
            return self._take(len(self._buffer))
        while self._more and len(self._buffer) < size:
            self._fill()
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        while True:
            end = self._buffer.find(b"\n") + 1
            if end or not self._more or 0 <= limit <= len(self._buffer):
                break
            self._fill()
        if not end:
            end = len(self._buffer)
        return self._take(end if limit < 0 else min(end, limit))

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _WSGIRunner:
    """A WSGI app called on this thread, with the environ a2wsgi would give it."""

    def __init__(self, wsgi: Any, key: str) -> None:
        self._wsgi = wsgi
        self._key = key
        self.may_serve_django = not _is_a_stock_flask_app(wsgi)

    def __call__(self, request: httpx.Request, scope: Scope, call: InlineCall) -> httpx.Response:
        chunks: Iterable[bytes] = request.stream  # type: ignore[assignment]
        environ = wsgi_environ(scope)
        if "CONTENT_LENGTH" not in environ:
            # PEP 3333 apps read CONTENT_LENGTH bytes: buffer it, as `_apps._WholeBody` does.
            whole = b"".join(chunks)
            if whole:
                scope = with_whole_body(scope, whole)
                environ = wsgi_environ(scope)
            chunks = (whole,)
        environ["wsgi.input"] = _RequestBody(chunks)
        response = _WSGIResponse(self._wsgi, environ, self._key)
        first = call.pull(response.start)
        if response.raised_after_body is not None:
            call.fail(response.raised_after_body)
        if response.status is None:  # the app raised, or returned, before start_response
            if not call.failed:
                call.fail(response.never_started())
            return call.failed_before_responding()
        call.responded(response.status)
        if response.complete or call.failed:  # the app is done with the response already
            call.finish(complete=response.complete)
            body = b"" if first is None or call.is_head else first
            return call.http.Response(
                response.status, headers=response.headers, stream=call.http.ByteStream(body)
            )
        assert first is not None  # else the app is done or failed
        return call.http.Response(
            response.status, headers=response.headers, stream=call.streamed(first, response)
        )


def _is_a_stock_flask_app(wsgi: object) -> bool:
    """Whether `wsgi` is a Flask app that serves its requests with Flask's own `wsgi_app`.

    Such an app sends its requests to its views, never to Django's handlers, so Django's
    request signals are not sent while it serves one, and sparing the test's connections
    from them (about 6 µs a request once Django's database layer is loaded, as it is in
    a project that mounts Flask beside Django) would guard against nothing; nor are
    Django's templates rendered, so its renders are not watched for either. A view that
    calls a mounted Django app over HTTP starts a request of its own, spared on its own.
    Any other WSGI app may be Django's handler or wrap it (WhiteNoise, a Flask app whose
    `wsgi_app` is a dispatching middleware): its requests are spared.
    """
    flask = sys.modules.get("flask")
    if flask is None or not isinstance(wsgi, flask.Flask):
        return False
    made = flask.Flask
    return (
        "wsgi_app" not in vars(wsgi)
        and type(wsgi).wsgi_app is made.wsgi_app
        and type(wsgi).__call__ is made.__call__
    )


def wsgi_environ(scope: Scope) -> dict[str, Any]:
    """The environ a2wsgi's `build_environ` makes of `scope`, but for its `wsgi.input`.

    The same keys in the same order with the same values, built at a fraction of the
    cost: what a mount's requests share (script name, server, client, protocol) comes
    from a template made once, each header's environ name is worked out once per name,
    and an ASCII path (as good as all of them) is taken as it is, its UTF-8 read as
    Latin-1 being itself.
    """
    shared = (
        scope.get("root_path", ""),
        scope.get("server"),
        scope.get("client"),
        scope["http_version"],
        scope.get("scheme", "http"),
    )
    try:
        template, script_name = _TEMPLATES[shared]
    except (KeyError, TypeError):  # TypeError: lists for tuples, not kept (unhashable)
        template, script_name = _template(*shared)
    path_info = scope["path"]
    if not path_info.isascii():
        path_info = path_info.encode("utf8").decode("latin1")
    if path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    environ = template.copy()  # its keys in a2wsgi's order, which assignments keep
    environ["asgi.scope"] = scope
    environ["REQUEST_METHOD"] = scope["method"]
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = scope["query_string"].decode("ascii")
    environ["wsgi.errors"] = sys.stdout  # pytest's capture changes it from test to test
    if _script_name_may_be_set():
        script_name_environ_var = os.environ.get("SCRIPT_NAME", "")
        if script_name_environ_var:
            environ["SCRIPT_NAME"] = unicode_to_wsgi(script_name_environ_var)  # type: ignore[no-untyped-call]
    names = _ENVIRON_NAMES
    for name, value in scope.get("headers", ()):
        key = names.get(name)
        if key is None:
            key = _environ_name(name)
        text = value.decode("latin1")
        if key in environ:
            text = environ[key] + "," + text  # a repeated header: joined, as a2wsgi does
        environ[key] = text
    return environ


# a2wsgi takes SCRIPT_NAME from the process's environment when it is set there. Asking
# `os.environ` costs more than the rest of a header's entry; its own dict is asked first.
_PROCESS_ENVIRONMENT = os.environ
_PROCESS_ENVIRONMENT_DATA: Any = getattr(os.environ, "_data", None)
_SCRIPT_NAME_KEY: Any = getattr(os.environ, "encodekey", str)("SCRIPT_NAME")


def _script_name_may_be_set() -> bool:
    if os.environ is not _PROCESS_ENVIRONMENT or _PROCESS_ENVIRONMENT_DATA is None:
        return True  # replaced (a test's doing), or not CPython's: ask it
    return _SCRIPT_NAME_KEY in _PROCESS_ENVIRONMENT_DATA


# The environ's entries that a mount's requests share, by what they come from: a
# template to copy, and the script name (Latin-1) that is cut off the path.
_TEMPLATES: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
_TEMPLATES_KEPT = 256


def _template(
    root_path: str, server: Any, client: Any, http_version: str, scheme: str
) -> tuple[dict[str, Any], str]:
    script_name = root_path.encode("utf8").decode("latin1")
    server_addr, server_port = server or ("localhost", 80)
    template: dict[str, Any] = {
        "asgi.scope": None,
        "REQUEST_METHOD": None,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": None,
        "QUERY_STRING": None,
        "SERVER_PROTOCOL": f"HTTP/{http_version}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": None,  # the caller's
        "wsgi.errors": None,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "SERVER_NAME": server_addr,
        "SERVER_PORT": str(server_port or 0),
    }
    if client is not None:
        addr, port = client
        template["REMOTE_ADDR"] = addr
        template["REMOTE_PORT"] = str(port)
    if len(_TEMPLATES) < _TEMPLATES_KEPT:
        with contextlib.suppress(TypeError):  # unhashable
            _TEMPLATES[root_path, server, client, http_version, scheme] = (template, script_name)
    return template, script_name


# Header names as `wsgi_environ` puts them in the environ (b"x-id": "HTTP_X_ID"), kept.
_ENVIRON_NAMES: dict[bytes, str] = {}
_ENVIRON_NAMES_KEPT = 1024  # plenty for the names a suite sends; the rest worked out anew


def _environ_name(name: bytes) -> str:
    """`name`'s environ key, as a2wsgi's `build_environ` names it."""
    text = name.decode("latin1")
    if text == "content-length":
        key = "CONTENT_LENGTH"
    elif text == "content-type":
        key = "CONTENT_TYPE"
    else:
        key = f"HTTP_{text}".upper().replace("-", "_")
    if len(_ENVIRON_NAMES) < _ENVIRON_NAMES_KEPT:
        _ENVIRON_NAMES[name] = key
    return key


# Response header names as a2wsgi sends them ("Content-Type": b"content-type"), kept.
_RESPONSE_NAMES: dict[str, bytes] = {}


def _response_name(name: str) -> bytes:
    encoded = name.strip().encode("latin1").lower()
    if len(_RESPONSE_NAMES) < _ENVIRON_NAMES_KEPT:
        _RESPONSE_NAMES[name] = encoded
    return encoded


class _WSGIResponse:
    """A WSGI app's response, read as a2wsgi reads it: status and headers, then chunks.

    As a2wsgi does, the first `start_response` sets status and headers, an `exc_info`
    passed to the last one is raised after the body, `write()` chunks go out in order,
    and the iterable is closed however the body ends. The body is checked as the
    event-loop path checks it (`_response_checks`): bytes-like chunks are taken, copied,
    and a body longer or shorter than its `content-length` raises.
    """

    def __init__(self, wsgi: Any, environ: Mapping[str, Any], key: str) -> None:
        self._wsgi = wsgi
        self._environ = environ
        self._key = key
        self._is_head = environ["REQUEST_METHOD"] == "HEAD"
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self._length: DeclaredLength | None = None  # the response's content-length
        self._exc_info: Any = None
        self._written: list[bytes] = []
        self._iterable: Iterable[bytes] = ()
        self._chunks: Iterator[bytes] = iter(())
        self.complete = False
        self.raised_after_body: Exception | None = None  # by `close()`, when `start` read all
        self._closed = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self._exc_info = exc_info
        if self.status is None:
            self.status = int(status.split(" ", 1)[0])
            names = _RESPONSE_NAMES
            self.headers = converted = []
            length: tuple[tuple[bytes, bytes], ...] = ()  # the first content-length, if any
            for name, value in headers:
                key = names.get(name) or _response_name(name)
                data = value.strip().encode("latin1")
                if key == b"content-length" and not length:
                    length = ((key, data),)
                converted.append((key, data))
            if length:
                self._length = DeclaredLength.of(self.status, length, is_head=self._is_head)
        return self._written.append

    def start(self) -> bytes | None:
        """Call the app and take its first chunk (a generator calls `start_response` there)."""
        try:
            self._iterable = self._wsgi(self._environ, self.start_response)
        except BaseException:
            self._closed = True
            raise
        self._chunks = iter(self._iterable)
        first = self.next_chunk()
        if first is not None and (
            operator.length_hint(self._chunks, -1) == 0
            or (self._length is not None and not self._length.left)
        ):
            # A list's iterator (Django's responses) says it is done, or the first chunk is
            # all the content-length declares (Flask's): read to the end now, saving the
            # client a step for the end of a body whose end is known.
            try:
                while (chunk := self.next_chunk()) is not None:
                    first += chunk
            except Exception as exc:
                self.raised_after_body = exc
        return first

    def next_chunk(self) -> bytes | None:
        """The next non-empty chunk of the body; None at its end, the iterable closed."""
        chunk: bytes | None = None
        try:
            for produced in self._chunks:
                taken = produced if produced.__class__ is bytes else as_bytes(produced)
                if taken is None:
                    raise RuntimeError(
                        f"the WSGI app mounted at {self._key!r} returned a body chunk that "
                        f"is not bytes or bytes-like: {produced!r}"
                    )
                if self.status is None:
                    raise RuntimeError(
                        f"the WSGI app mounted at {self._key!r} returned a body before "
                        "calling start_response"
                    )
                if self._written:
                    taken = b"".join([*self._written, taken])
                    self._written.clear()
                if taken:
                    chunk = taken
                    break
            else:  # the iterable is over: what `write()` wrote last, if anything
                if self._written:
                    chunk = b"".join(self._written)
                    self._written.clear()
            if self._length is not None:
                self._length.take(0 if chunk is None else len(chunk), more_body=chunk is not None)
        except BaseException:
            self.close_quietly()
            raise
        if chunk is None:
            self.complete = True
            self.close()
        return chunk

    def never_started(self) -> RuntimeError:
        return RuntimeError(
            f"the WSGI app mounted at {self._key!r} returned without calling "
            "start_response; every request needs a response"
        )

    def close(self) -> None:
        """Close the iterable (PEP 3333), once; then raise the `exc_info` the app passed."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()
        if self._exc_info is not None and self._exc_info[1] is not None:
            raise self._exc_info[1].with_traceback(self._exc_info[2])

    def close_quietly(self) -> None:
        """Close after the app raised: its own exception is the one to report."""
        with contextlib.suppress(Exception):
            self.close()
