"""The mount table: parsing and checking it, finding the route for a request; Dispatcher.

Lookup cost depends on the depth of the request path, never on the number of mounts:
the routes live in a dict keyed by prefix, and a request tries its own segment-boundary
prefixes, longest first, from at most as many segments as the deepest mount has. The
answer for a path is remembered, since a test suite asks for the same paths again and
again: that takes about 40% off the dispatcher's cost per request (benchmarks/bench.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from ._apps import as_asgi3, framework_app
from ._django import close_what_requests_open
from ._errors import MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, Lifespans, State
from ._observe import Observer, serve_observed
from ._types import ASGIApp, Receive, Scope, Send

__all__ = ["Dispatcher", "Route"]

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_FORBIDDEN_IN_KEY = re.compile(r"[\s?#]")
# How many paths' routes a Dispatcher remembers: every path a test suite uses, as a rule,
# while a suite of unique paths (ids in URLs) costs a bounded few hundred kB at most.
_REMEMBERED_PATHS = 4096


@dataclass(eq=False)
class Route:
    """One mount: where it matches, the app, and the app's lifespan state while running."""

    key: str
    host: str | None
    prefix: str
    app: ASGIApp
    state: State | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.host or ''}{self.prefix or '/'}"


class Dispatcher:
    """An ASGI 3 app that sends each request to the app mounted for its host and path.

    The mounted app sees the full `path` and a `root_path` extended by the matched
    prefix, the convention of uvicorn, Starlette, Django and a2wsgi, in a copy of the
    scope (`headers` and `extensions` copied too). A `lifespan` scope from a server runs
    every mounted app's lifespan, by the rules of `lifespans()`.
    """

    def __init__(self, mounts: Mapping[str, object]) -> None:
        if not isinstance(mounts, Mapping):
            raise MountError(
                f"a mount table must be a mapping of prefix to app, not {type(mounts).__name__}"
            )
        self.routes: list[Route] = []
        self._by_prefix: dict[str, Route] = {}
        self._by_host: dict[str, dict[str, Route]] = {}
        self._depth = 0
        self._path_routes: dict[str, Route | None] = {}  # path-only lookups remembered
        self._lifespans_running = False
        # Told of every http and websocket exchange while set: see _observe (the trace).
        self.observer: Observer | None = None
        for key, value in mounts.items():
            self._add(key, value)
        close_what_requests_open()  # with Django loaded: see _django

    def _add(self, key: object, value: object) -> None:
        host, prefix = _parse_key(key)
        table = self._by_prefix if host is None else self._by_host.setdefault(host, {})
        if prefix in table:
            raise MountError(
                f"mount {key!r} duplicates mount {table[prefix].key!r}: both route "
                f"{(host or '') + (prefix or '/')}"
            )
        route = Route(str(key), host, prefix, _as_app(value, str(key)))
        table[prefix] = route
        self.routes.append(route)
        self._depth = max(self._depth, prefix.count("/"))

    def route_for(self, scope: Scope) -> Route | None:
        """The route for an http or websocket scope, or None when nothing matches."""
        path = scope["path"]
        root_path = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if self._by_host:
            routes = self._by_host.get(_request_host(scope))
            if routes is not None:
                route = _longest_prefix(routes, path, self._depth)
                if route is not None:
                    return route
        try:
            return self._path_routes[path]
        except KeyError:
            route = _longest_prefix(self._by_prefix, path, self._depth)
            if len(self._path_routes) < _REMEMBERED_PATHS:
                self._path_routes[path] = route  # the table never changes after __init__
            return route

    def resolve(self, scope: Scope) -> tuple[Route, Scope] | None:
        """The innermost route for an http or websocket scope, and the scope its app gets.

        Walks through nested Dispatchers (and nested mount tables) to the mount whose
        `route.app` would handle the request (a `WSGIAdapter` for a WSGI mount), and
        builds the scope that app is called with, exactly as `__call__` does: `root_path`
        extended by each matched prefix, the route's lifespan state copied in, `headers`
        and `extensions` copied. The caller's scope is left untouched. None when no mount
        matches at some level: calling the Dispatcher answers such a request with its 404.
        """
        dispatcher = self
        while True:
            route = dispatcher.route_for(scope)
            if route is None:
                return None
            scope = _scope_for(route, scope)
            if not isinstance(route.app, Dispatcher):
                return route, scope
            dispatcher = route.app

    def route_in_place(self, scope: Scope) -> ASGIApp:
        """The app to call with `scope`, a scope made for this one call, routed in place.

        What calling the Dispatcher does, without its copy of the scope: for a transport
        that builds a new scope per request and hands it over. Walks through nested
        Dispatchers to the mounted app, extending `root_path` and setting the lifespan
        state on the way. A Dispatcher that must see the call itself (nothing matches:
        its 404; a trace recording on a nested one) is returned as the app, the scope
        routed so far. While a trace records on this one, the app is its observed
        serving of the route, the trace keeping a copy of the scope as received.
        """
        observer = self.observer
        if observer is not None:
            route = self.route_for(scope)
            if route is None:
                return self
            received = dict(scope)  # the app may rewrite its scope (Litestar's path)
            _enter(route, scope)
            return partial(serve_observed, observer, route.key, received, route.app)
        dispatcher = self
        while dispatcher.observer is None:
            route = dispatcher.route_for(scope)
            if route is None:
                break
            _enter(route, scope)
            app = route.app
            if app.__class__ is not Dispatcher:
                return app
            dispatcher = app
        return dispatcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        route = self.route_for(scope)
        if self.observer is not None:
            await self._serve_observed(self.observer, route, scope, receive, send)
        elif route is None:
            await self._not_found(scope, receive, send)
        else:
            await route.app(_scope_for(route, scope), receive, send)

    async def _serve_observed(
        self, observer: Observer, route: Route | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """`__call__`'s serving, with `observer` told of the exchange (the trace: see _observe)."""
        if route is None:
            await serve_observed(observer, None, scope, self._not_found, scope, receive, send)
        else:
            app_scope = _scope_for(route, scope)
            await serve_observed(observer, route.key, scope, route.app, app_scope, receive, send)

    def lifespans(
        self,
        *,
        startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> AbstractAsyncContextManager[None]:
        """Run every mounted app's lifespan: startup in table order, shutdown in reverse.

        While it runs, each app's requests get a copy of that app's lifespan state.
        Failures raise `LifespanError` naming the mount. An app without lifespan support
        is skipped at once: it raises before receiving, returns without answering
        startup, or first sends a message that is not a lifespan message (uvicorn's
        "auto" rule; it is cancelled there). An app that returns after answering
        startup has shut down. The timeouts bound every wait, whatever the app does.
        """
        return self._lifespans(startup_timeout, shutdown_timeout)

    @asynccontextmanager
    async def _lifespans(
        self, startup_timeout: float | None, shutdown_timeout: float | None
    ) -> AsyncIterator[None]:
        dispatchers, routes = self._tree()
        for dispatcher in dispatchers:
            if dispatcher._lifespans_running:
                raise RuntimeError(
                    f"the lifespans of {dispatcher!r} are running already; use one "
                    "dispatch() at a time per Dispatcher, or build a Dispatcher for each"
                )
        for dispatcher in dispatchers:
            dispatcher._lifespans_running = True
        try:
            apps = [(route.key, route.app) for route in routes]
            async with Lifespans(apps, startup_timeout, shutdown_timeout) as states:
                for route, state in zip(routes, states, strict=True):
                    route.state = state
                try:
                    yield
                finally:
                    for route in routes:
                        route.state = None
        finally:
            for dispatcher in dispatchers:
                dispatcher._lifespans_running = False

    def _tree(self) -> tuple[list[Dispatcher], list[Route]]:
        """This and every nested Dispatcher, once each, and their app routes in table order.

        The apps of nested tables run their lifespans in the one group of this
        Dispatcher, so that one deadline rule and one shutdown order hold for all.
        """
        dispatchers: list[Dispatcher] = []
        routes: list[Route] = []

        def visit(dispatcher: Dispatcher) -> None:
            if dispatcher in dispatchers:
                return  # mounted twice: its apps start once, their state serves both
            dispatchers.append(dispatcher)
            for route in dispatcher.routes:
                if isinstance(route.app, Dispatcher):
                    visit(route.app)
                else:
                    routes.append(route)

        visit(self)
        return dispatchers, routes

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        """Answer a server's lifespan scope by running every mounted app's lifespan.

        The same rules as `dispatch()`: a failure is answered with `*.failed` and the
        one-line message naming the mount; every app is shut down, also when the server
        cancels this task instead of sending `lifespan.shutdown`.
        """
        await receive()  # lifespan.startup
        phase = "startup"
        try:
            async with self.lifespans():
                phase = "serving"
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                phase = "shutdown"
        except Exception as exc:
            if phase == "serving":
                raise  # the server's own receive() or send() failed
            await send({"type": f"lifespan.{phase}.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = (
            f"No app is mounted for {scope['path']} (host {_request_host(scope)}).\n"
            "Mounted routes:\n" + "".join(f"  {r.describe()}\n" for r in self.routes)
        ).encode()
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008, "reason": "no route"})
                return
            prefix = "websocket.http.response"
        else:
            prefix = "http.response"
        await send(
            {
                "type": f"{prefix}.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": f"{prefix}.body", "body": body})

    def __repr__(self) -> str:
        table = ", ".join(f"{r.describe()!r}: {_app_name(r.app)}" for r in self.routes)
        return f"Dispatcher({{{table}}})"


def _enter(route: Route, scope: Scope) -> None:
    """Route `scope`, a scope of one call's own, into `route`'s app, in place."""
    scope["root_path"] = scope.get("root_path", "") + route.prefix
    if route.state is not None:
        scope["state"] = route.state.copy()
    else:
        scope.pop("state", None)  # the server's state belongs to no mounted app


def _scope_for(route: Route, scope: Scope) -> Scope:
    """The copy of `scope` that `route`'s app is called with; `scope` is left as it was.

    Apps write to their scope (Litestar rewrites `path`, middleware appends headers or
    fills `extensions`), so the containers an app may change in place are copied too.
    """
    scope = dict(scope)
    _enter(route, scope)
    headers = scope.get("headers")
    if headers is not None:
        scope["headers"] = list(headers)
    extensions = scope.get("extensions")
    if extensions is not None:
        scope["extensions"] = dict(extensions)
    return scope


def _as_app(value: object, key: str) -> ASGIApp:
    if isinstance(value, Dispatcher):
        return value
    if isinstance(value, Mapping):
        try:
            return Dispatcher(value)
        except MountError as exc:
            raise MountError(f"in mount {key!r}: {exc}") from exc
    return as_asgi3(value, key)


def _parse_key(key: object) -> tuple[str | None, str]:
    """Split a mount key into (host or None, normalised path prefix; "" for the root)."""
    if not isinstance(key, str):
        raise MountError(f"mount {key!r}: a mount key must be a string such as '/billing'")
    if _FORBIDDEN_IN_KEY.search(key):
        raise MountError(
            f"mount {key!r}: a mount key holds a path prefix and/or a host, without "
            "spaces, query string or fragment"
        )
    host: str | None = None
    path = key
    if key and not key.startswith("/"):
        host, slash, rest = key.partition("/")
        path = slash + rest
        host = _without_port(host.lower())
        if not (host.startswith("[") or _HOST.match(host)):
            raise MountError(
                f"mount {key!r}: {host!r} is not a host name; path prefixes start with '/'"
            )
    prefix = path.rstrip("/")
    if "//" in prefix:
        raise MountError(f"mount {key!r}: empty path segment in {path!r}")
    return host, prefix


def _longest_prefix(routes: dict[str, Route], path: str, depth: int) -> Route | None:
    """The route of the longest prefix of `path` that ends on a segment boundary."""
    end = 0
    for _ in range(depth):
        end = path.find("/", end + 1)
        if end == -1:
            candidate = path
            break
    else:
        candidate = path[:end]
    while candidate:
        route = routes.get(candidate)
        if route is not None:
            return route
        candidate = candidate[: candidate.rfind("/")]
    return routes.get("")


def _request_host(scope: Scope) -> str:
    """The request's host, lowercased and without port, from Host or the server."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            break
    else:
        server = scope.get("server")
        return server[0].lower() if server else ""
    return _without_port(host)


def _without_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def _app_name(app: object) -> str:
    if isinstance(app, Dispatcher):
        return repr(app)
    return type(framework_app(app)).__name__
