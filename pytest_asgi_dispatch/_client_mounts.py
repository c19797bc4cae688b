"""The mounts a dispatch client reaches, found from the client, and their cookies.

The framework helpers (`pytest_asgi_dispatch.django`, `pytest_asgi_dispatch.flask`)
take an httpx client of `dispatch()`, `dispatch_sync()` or the plugin's fixtures and a
mount, and act on that mount's app as a request to it would: they read the cookies
the client would send to the mount's URL, and store the cookies the app would set, in
the client's own jar, through httpx's cookie handling. So a cookie a helper sets is
the very cookie the app's responses replace or delete later: never a second copy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from types import ModuleType
from typing import Any

import httpx

from ._apps import framework_app
from ._routing import Dispatcher, Route

__all__ = [
    "Mount",
    "cookie_header",
    "dispatcher_of",
    "find_mount",
    "is_async",
    "library_of",
    "store_cookies",
]

HttpxClient = httpx.Client | httpx.AsyncClient


@dataclass(frozen=True)
class Mount:
    """One app of a client's mount table, as a request reaches it."""

    route: Route
    name: str  # host and path prefix, "/" for the root: how a test names it
    app: object  # the framework's own app object, under our wrappers
    host: str | None
    root_path: str

    def url(self, client: HttpxClient) -> httpx.URL:
        """The URL of the mount's root, on the client's base URL (its host for a host mount)."""
        base = client.base_url
        url: httpx.URL = library_of(client).URL(
            scheme=base.scheme,
            host=self.host or base.host,
            port=base.port,
            path=self.root_path + "/",
        )
        return url

    def serves(self, dispatcher: Dispatcher, url: httpx.URL) -> bool:
        """Whether a request for `url` reaches this mount (and not one nested below it)."""
        host = url.netloc.decode("ascii")
        scope = {"type": "http", "path": url.path, "root_path": "", "headers": [(b"host", host)]}
        resolved = dispatcher.resolve(scope)
        return resolved is not None and resolved[0] is self.route


def library_of(client: HttpxClient) -> Any:
    """The client's library, httpx or httpx2, whose objects alone it is given."""
    library: ModuleType = sys.modules[type(client).__module__.partition(".")[0]]
    return library


def is_async(client: HttpxClient) -> bool:
    return isinstance(client, library_of(client).AsyncClient)


def dispatcher_of(client: object) -> Dispatcher:
    """The `Dispatcher` behind a client of `dispatch()`, `dispatch_sync()` or the fixtures."""
    transport = getattr(client, "_transport", None)  # httpx keeps the client's transport there
    app = getattr(transport, "app", None)
    if not isinstance(app, Dispatcher):
        raise TypeError(
            f"{client!r} is not a client of pytest-asgi-dispatch: pass asgi_client, "
            "asgi_sync_client, or the client of dispatch() / dispatch_sync()"
        )
    return app


def mounts_of(dispatcher: Dispatcher) -> list[Mount]:
    """Every app of the table, nested tables walked through, in table order."""
    found: list[Mount] = []

    def visit(table: Dispatcher, host: str | None, root_path: str) -> None:
        for route in table.routes:
            route_host = route.host or host
            path = root_path + route.prefix
            if isinstance(route.app, Dispatcher):
                visit(route.app, route_host, path)
            else:
                name = (route_host or "") + (path or "/")
                found.append(Mount(route, name, framework_app(route.app), route_host, path))

    visit(dispatcher, None, "")
    return found


def find_mount(
    client: object,
    mount: str | None,
    *,
    framework: str,
    is_framework: Callable[[object], bool],
    helper: str,
) -> Mount:
    """The mount named `mount`, which must be a `framework` app; with None, the only one.

    Errors name the mounts there are and say what to pass instead.
    """
    mounts = mounts_of(dispatcher_of(client))
    if mount is None:
        matching = [m for m in mounts if is_framework(m.app)]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            raise LookupError(
                f"{helper}: no {framework} app is mounted (the mounts: {_names(mounts)}); "
                f"mount one, or pass the client of the table that has it"
            )
        raise LookupError(
            f"{helper}: several {framework} apps are mounted ({_names(matching)}); "
            f"say which with mount=, e.g. mount={matching[0].name!r}"
        )
    wanted = _normal(mount)
    for candidate in mounts:
        if wanted in (_normal(candidate.name), _normal(candidate.route.key)):
            if not is_framework(candidate.app):
                raise LookupError(
                    f"{helper}: mount {mount!r} is not a {framework} app but "
                    f"{type(candidate.app).__name__}"
                )
            return candidate
    raise LookupError(f"{helper}: no mount {mount!r}; the mounts are {_names(mounts)}")


def _normal(name: str) -> str:
    return name.rstrip("/").lower()


def _names(mounts: Iterable[Mount]) -> str:
    return ", ".join(repr(m.name) for m in mounts) or "none"


def cookie_header(client: HttpxClient, url: httpx.URL) -> str:
    """The `Cookie` header the client would send with a request for `url`."""
    return _header_for(library_of(client), client.cookies, url)


def _header_for(library: Any, cookies: httpx.Cookies, url: httpx.URL) -> str:
    request = library.Request("GET", url)
    cookies.set_cookie_header(request)
    header: str = request.headers.get("cookie", "")
    return header


def store_cookies(client: HttpxClient, url: httpx.URL, set_cookie: Iterable[str]) -> None:
    """Take `Set-Cookie` headers into the client's jar as from a response for `url`.

    Any other cookie of the same name that the client would send to `url` (one set by
    hand, without the app's domain or path) is dropped first: the app sees one value.
    """
    library = library_of(client)
    headers = [("set-cookie", value) for value in set_cookie]
    response = library.Response(200, headers=headers, request=library.Request("GET", url))
    names = {value.partition("=")[0].strip() for value in set_cookie}
    jar = client.cookies.jar
    for cookie in list(jar):
        if cookie.name in names and _sent_to(library, cookie, url):
            jar.clear(cookie.domain, cookie.path, cookie.name)
    client.cookies.extract_cookies(response)


def _sent_to(library: Any, cookie: Cookie, url: httpx.URL) -> bool:
    """Whether the jar's cookie policy sends `cookie` with a request for `url`."""
    alone = library.Cookies(CookieJar())
    alone.jar.set_cookie(cookie)
    return bool(_header_for(library, alone, url))
