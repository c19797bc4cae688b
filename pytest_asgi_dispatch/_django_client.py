"""`Client`: Django's test client, its requests routed to every app of a mount table.

Django's `Client` builds a WSGI environ and hands it to its `ClientHandler`. Ours is
Django's client with that handler replaced: the handler routes the environ by the
mount table (`Dispatcher.resolve`), then

- for a Django mount (its ASGI or WSGI handler), runs Django's own `ClientHandler` on
  the environ, `SCRIPT_NAME` set to the mount's root path and `PATH_INFO` to the path
  below it: the test's thread and database connection, the CSRF switch, templates,
  context, exceptions, `wsgi_request`, every environ key, all exactly Django's;
- for any other mount, sends the request through the table's running apps (`_sites`),
  as the sync client does, and turns the response into an `HttpResponse` (status,
  every header, each `Set-Cookie` in `response.cookies`, the body byte-exact; one
  without a length stays streaming), so that Django's assertions work on it.

Importing this module imports Django.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from django.core.handlers.base import BaseHandler  # type: ignore[import-untyped]
from django.core.handlers.wsgi import WSGIRequest  # type: ignore[import-untyped]
from django.http import (  # type: ignore[import-untyped]
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.http.cookie import SimpleCookie  # type: ignore[import-untyped]
from django.test import Client as DjangoClient  # type: ignore[import-untyped]
from django.test.client import ClientHandler, FakePayload  # type: ignore[import-untyped]
from django.urls import get_script_prefix, resolve, set_script_prefix  # type: ignore[import-untyped]
from django.utils.functional import SimpleLazyObject  # type: ignore[import-untyped]

from ._apps import framework_app
from ._routing import Dispatcher, Route
from ._sites import SCOPE_EXTENSION, Site, ini_site, site_for

__all__ = ["Client"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Kept as they are in a URL's path (which Django's client unquoted) and query (which it
# did not); everything else is percent-encoded.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?%[]"


class Client(DjangoClient):  # type: ignore[misc]
    """`django.test.Client` for the combined site: `client_class = Client` on a TestCase.

    Same constructor, methods and defaults as Django's (CSRF checks off, a view's
    exception raised in the test). A request for a Django mount runs Django's own
    `ClientHandler` on the test's thread; one for another mount goes through the table's
    running apps, and its response comes back as a Django `HttpResponse`.

    Args:
        enforce_csrf_checks: as Django's: False switches Django's CSRF checks off.
        raise_request_exception: as Django's: a view's exception is raised in the test.
        mounts: the mount table, a mapping or a `Dispatcher`. Without it, the class
            attribute `mounts` of a subclass; without that, the `asgi_apps` ini option's
            table (under pytest).
        **defaults: as Django's: `headers=` and `query_params=` (Django 5.1+) for every
            request, and environ keys.

    A table's apps other than Django start once per process, at the first request one
    of them serves, and run until the pytest session ends (or the process exits, or
    `close_sites()`).
    """

    mounts: ClassVar[Mapping[str, object] | Dispatcher | None] = None

    def __init__(
        self,
        enforce_csrf_checks: bool = False,
        raise_request_exception: bool = True,
        *,
        mounts: Mapping[str, object] | Dispatcher | None = None,
        **defaults: Any,
    ) -> None:
        # `headers`, `query_params` (Django 5.1+), environ keys: as the installed Django takes them.
        super().__init__(enforce_csrf_checks, raise_request_exception, **defaults)
        table = mounts if mounts is not None else type(self).mounts
        site = ini_site() if table is None else site_for(table)
        self.handler = DispatchingHandler(site, self, enforce_csrf_checks)

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        served_by = getattr(response, "_pytest_asgi_dispatch_mount", _DJANGO_AS_IS)
        if served_by is _OTHER_APP:
            response.resolver_match = None  # no Django view served it
        elif served_by is _DJANGO_BELOW_PREFIX:
            # Django's client resolves the whole path; the mount's URLconf knows the rest.
            wsgi_request = response.wsgi_request
            urlconf = getattr(wsgi_request, "urlconf", None)
            response.resolver_match = SimpleLazyObject(
                partial(resolve, wsgi_request.path_info, urlconf=urlconf)
            )
        return response


# What served a response (an attribute of the response, read by `Client.request`).
_DJANGO_AS_IS = "django"  # the environ as Django's client built it
_DJANGO_BELOW_PREFIX = "django below a prefix"  # SCRIPT_NAME and PATH_INFO split
_OTHER_APP = "another app"

_is_django_mount: weakref.WeakKeyDictionary[Route, bool] = weakref.WeakKeyDictionary()


class DispatchingHandler(ClientHandler):  # type: ignore[misc]
    """Django's `ClientHandler` for Django mounts; the running site for the others."""

    def __init__(self, site: Site, client: Client, enforce_csrf_checks: bool) -> None:
        super().__init__(enforce_csrf_checks)
        self._site = site
        self._client = client  # its `raise_request_exception`, which a test may change

    def __call__(self, environ: dict[str, Any]) -> Any:
        scope = _routing_scope(environ)
        resolved = self._site.dispatcher.resolve(scope)
        if resolved is None or not _serves_django(resolved[0]):
            return self._through_site(environ)
        root_path: str = resolved[1]["root_path"]
        if root_path == scope["root_path"]:
            return super().__call__(environ)  # a root or host mount: exactly Django's
        return self._below_prefix(environ, root_path)

    def _below_prefix(self, environ: dict[str, Any], root_path: str) -> Any:
        """Run Django with the mount's prefix as SCRIPT_NAME, as a WSGI server would."""
        script_name = _to_wsgi(root_path)
        full_path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        path_info = full_path[len(script_name) :]
        environ = {**environ, "SCRIPT_NAME": script_name, "PATH_INFO": path_info}
        # As Django's WSGI and ASGI handlers do, so that reverse() in views has the prefix;
        # the test's own reverse() keeps what it had.
        previous = get_script_prefix()
        set_script_prefix(root_path)
        try:
            response = super().__call__(environ)
        finally:
            set_script_prefix(previous)
        response._pytest_asgi_dispatch_mount = _DJANGO_BELOW_PREFIX
        return response

    def _through_site(self, environ: dict[str, Any]) -> Any:
        """Serve the request with the site's running apps; Django's response for it."""
        body = _read_body(environ)
        request = _httpx_request(environ, body)
        transport = self._site.transport(raise_app_exceptions=self._client.raise_request_exception)
        answer = transport.handle_request(request)
        try:
            response = _django_response(answer)
        except BaseException:
            answer.close()
            raise
        response.wsgi_request = WSGIRequest({**environ, "wsgi.input": FakePayload(body)})
        response._pytest_asgi_dispatch_mount = _OTHER_APP
        return response


def _serves_django(route: Route) -> bool:
    """Whether the route's app is a Django handler (ASGI or WSGI), under our wrappers."""
    try:
        return _is_django_mount[route]
    except KeyError:
        pass
    is_django = _is_django_mount[route] = isinstance(framework_app(route.app), BaseHandler)
    return is_django


def _to_wsgi(text: str) -> str:
    """A str as WSGI keeps it in the environ: its UTF-8 bytes, one char each (PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


def _from_wsgi(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # set by hand in the test, not as WSGI would
        return value


def _routing_scope(environ: Mapping[str, Any]) -> dict[str, Any]:
    """What `Dispatcher.resolve` reads of a request, from the environ Django's client built."""
    script_name = _from_wsgi(environ.get("SCRIPT_NAME", ""))
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    return {
        "type": "http",
        "path": script_name + _from_wsgi(environ.get("PATH_INFO", "/")),
        "root_path": script_name,
        "headers": [(b"host", _bytes(host))],
    }


def _bytes(value: object) -> bytes:
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _read_body(environ: Mapping[str, Any]) -> bytes:
    """The request body: CONTENT_LENGTH bytes of `wsgi.input`, as a WSGI app reads it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _httpx_request(environ: Mapping[str, Any], body: bytes) -> httpx.Request:
    """The HTTP request the environ describes, for an app that is not Django."""
    scheme = environ.get("wsgi.url_scheme", "http")
    port = str(environ.get("SERVER_PORT") or _DEFAULT_PORTS.get(scheme, "80"))
    path = _bytes(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/"))
    query = quote(_bytes(environ.get("QUERY_STRING", "")), safe=_QUERY_SAFE)
    url = httpx.URL(
        scheme=scheme,
        host=environ.get("SERVER_NAME", "testserver"),
        port=int(port),
        raw_path=(quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")).encode("ascii"),
    )
    headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        if value or name == "CONTENT_LENGTH":
            headers.append((name.replace("_", "-").lower().encode("latin-1"), _bytes(value)))
    remote_port = environ.get("REMOTE_PORT")
    scope = {
        "client": (
            environ.get("REMOTE_ADDR", "127.0.0.1"),
            int(remote_port) if remote_port else None,
        ),
        "root_path": _from_wsgi(environ.get("SCRIPT_NAME", "")),
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").rpartition("/")[2],
    }
    return httpx.Request(
        environ.get("REQUEST_METHOD", "GET"),
        url,
        headers=headers,
        content=body,
        extensions={SCOPE_EXTENSION: scope},
    )


def _django_response(answer: httpx.Response) -> Any:
    """The app's response as Django's: status, headers, cookies, the body byte-exact.

    A body of unknown length (no Content-Length, still open) stays a stream, read as
    the test reads `streaming_content`; any other is read whole here.
    """
    streaming = not isinstance(answer.stream, httpx.ByteStream) and (
        "content-length" not in answer.headers
    )
    response: HttpResponseBase
    if streaming:
        response = _StreamingResponse(_body_of(answer), status=answer.status_code)
    else:
        try:
            content = b"".join(answer.iter_raw())
        finally:
            answer.close()
        response = _Response(content, status=answer.status_code)
    del response.headers["Content-Type"]  # Django's default; the app's own, if any, below
    cookies = SimpleCookie()
    joined: dict[str, str] = {}
    for raw_name, raw_value in answer.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() == "set-cookie":
            cookies.load(value)
        elif name in joined:  # a repeated header: one value, as HTTP allows (RFC 9110 5.3)
            joined[name] += f", {value}"
        else:
            joined[name] = value
    for name, value in joined.items():
        response.headers[name] = value
    response.cookies = cookies
    location = response.headers.get("Location")
    if location is not None:
        response.url = location  # what Django's redirects have, for assertRedirects and follow
    return response


class _NoRequestFinished:
    """`close()` without Django's `request_finished`: Django served no request here.

    The signal's receivers would close the test's database connection, as Django's
    test client knows for its own responses (it disconnects them around `close()`).
    """

    def close(self) -> None:
        for closer in self._resource_closers:  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):  # as Django's own close() does
                closer()
        self._resource_closers.clear()  # type: ignore[attr-defined]
        self.closed = True


class _Response(_NoRequestFinished, HttpResponse):  # type: ignore[misc]
    """Another app's response, read whole."""


class _StreamingResponse(_NoRequestFinished, StreamingHttpResponse):  # type: ignore[misc]
    """Another app's response of unknown length, read as the test reads it."""


def _body_of(answer: httpx.Response) -> Iterator[bytes]:
    try:
        yield from answer.iter_raw()
    finally:
        answer.close()
