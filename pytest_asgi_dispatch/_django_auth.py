"""Log in, log out and CSRF tokens for a Django mount, on the httpx clients.

`django.test.Client.login()` writes the session and sets its cookie in the client's
own cookie store. Here the client is an httpx client of the whole mount table, so the
helpers do what the Django mount itself would do for a request from that client: they
build a request carrying the cookies the client would send to the mount's URL, run
Django's `login()` / `logout()` / `get_token()` on it, then the response side of the
project's own session and CSRF middleware, and take the `Set-Cookie` headers that
produces into the client's jar as from a response of the mount. The cookies have the
name, domain, path and flags the app gives them, so the app's later responses replace
or delete them: no second copy, no `httpx.CookieConflict`.

Importing this module imports Django.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any, ParamSpec, TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings  # type: ignore[import-untyped]
from django.contrib import auth  # type: ignore[import-untyped]
from django.contrib.sessions.middleware import SessionMiddleware  # type: ignore[import-untyped]
from django.core.handlers.base import BaseHandler  # type: ignore[import-untyped]
from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
from django.http.cookie import parse_cookie  # type: ignore[import-untyped]
from django.middleware.csrf import CsrfViewMiddleware, get_token  # type: ignore[import-untyped]
from django.utils.module_loading import import_string  # type: ignore[import-untyped]

from ._client_mounts import (
    HttpxClient,
    Mount,
    cookie_header,
    dispatcher_of,
    find_mount,
    is_async,
    store_cookies,
)
from ._django import as_a_request_here

__all__ = [
    "acsrf_token",
    "aforce_login",
    "alogin",
    "alogout",
    "csrf_token",
    "force_login",
    "login",
    "logout",
    "pass_csrf_checks",
]

P = ParamSpec("P")
R = TypeVar("R")

# RFC 9110 9.2.1: the methods Django's CSRF middleware lets through unchecked.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def force_login(
    client: HttpxClient, user: Any, *, mount: str | None = None, backend: str | None = None
) -> None:
    """Log `user` in on the Django mount, as `django.test.Client.force_login()` does.

    `backend` defaults to the first of `AUTHENTICATION_BACKENDS` that can get users.
    `mount=None`: the one Django app of the client's table.
    """
    _refuse_in_event_loop("force_login", "aforce_login")
    user.backend = backend or _first_backend()
    _log_in(client, user, user.backend, _django_mount(client, mount, "force_login"))


def login(client: HttpxClient, *, mount: str | None = None, **credentials: Any) -> bool:
    """Authenticate with `credentials` and log that user in; False when they are wrong."""
    _refuse_in_event_loop("login", "alogin")
    target = _django_mount(client, mount, "login")
    user = auth.authenticate(**credentials)
    if user is None:
        return False
    _log_in(client, user, None, target)
    return True


def logout(client: HttpxClient, *, mount: str | None = None) -> None:
    """Log out of the Django mount: the session flushed, its cookie deleted as the app does.

    Unlike `django.test.Client.logout()`, which empties the client's whole cookie store,
    only the session cookie goes, as after the app's own logout view: the client's
    cookies for other mounts stay.
    """
    _refuse_in_event_loop("logout", "alogout")
    target = _django_mount(client, mount, "logout")
    request = _request_to(client, target)
    request.user = auth.get_user(request)
    auth.logout(request)
    _respond(client, target, request)


def csrf_token(client: HttpxClient, *, mount: str | None = None) -> str:
    """A CSRF token for the client's next unsafe request to the Django mount.

    Send it as the `X-CSRFToken` header (`CSRF_HEADER_NAME`) of a JSON or API request,
    or as the `csrfmiddlewaretoken` field of a form. The CSRF cookie it goes with is
    set in the client's jar as the mount would set it (kept, if the client has one).
    """
    _refuse_in_event_loop("csrf_token", "acsrf_token")
    target = _django_mount(client, mount, "csrf_token")
    request = _request_to(client, target)
    token, _ = _token_for(request)
    _respond(client, target, request, csrf=True)
    return token


def _on_asgirefs_thread(helper: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`helper` for async tests: run by asgiref on a thread of its own, which Django's
    ORM needs, as a request there, so that the connections it opens close with it."""

    @functools.wraps(helper)
    def as_a_request(*args: P.args, **kwargs: P.kwargs) -> R:
        with as_a_request_here():
            return helper(*args, **kwargs)

    return sync_to_async(as_a_request)


aforce_login = _on_asgirefs_thread(force_login)
aforce_login.__doc__ = "`force_login()` for async tests: Django's ORM in a thread of its own."
alogin = _on_asgirefs_thread(login)
alogin.__doc__ = "`login()` for async tests."
alogout = _on_asgirefs_thread(logout)
alogout.__doc__ = "`logout()` for async tests."
acsrf_token = _on_asgirefs_thread(csrf_token)
acsrf_token.__doc__ = "`csrf_token()` for async tests."


def pass_csrf_checks(client: HttpxClient, *, mount: str | None = None) -> None:
    """From now on, the client's unsafe requests to the Django mount pass its CSRF checks.

    Django's test client switches the checks off inside the request
    (`request._dont_enforce_csrf_checks`), which an httpx client cannot reach on every
    path. Instead each POST, PUT, PATCH or DELETE to the mount carries what a browser
    page of the app would send: the token of the client's CSRF cookie (set as the app
    sets it, when missing) as the `X-CSRFToken` header, unless the request has one, and
    an `Origin` for an https request that has neither `Origin` nor `Referer`. The check
    runs and passes; the cookie rotates with logins as ever. Other clients keep the
    checks; a form field `csrfmiddlewaretoken` a test sends still wins over the header.
    """
    target = _django_mount(client, mount, "pass_csrf_checks")
    dispatcher = dispatcher_of(client)

    def add_token(request: httpx.Request) -> None:
        if request.method in _SAFE_METHODS or not target.serves(dispatcher, request.url):
            return
        _add_token(client, target, request)

    if is_async(client):

        async def add_token_async(request: httpx.Request) -> None:
            if settings.CSRF_USE_SESSIONS:  # the secret is in the session: the database
                await sync_to_async(add_token)(request)
            else:
                add_token(request)

        client.event_hooks["request"].append(add_token_async)
    else:
        client.event_hooks["request"].append(add_token)


def _add_token(client: HttpxClient, target: Mount, request: httpx.Request) -> None:
    """Give `request` a valid CSRF token, and the cookie it goes with if it had none."""
    header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")
    django_request = _django_request(request.url, request.headers.get("cookie", ""))
    token, new_secret = _token_for(django_request)
    if new_secret:
        _respond(client, target, django_request, csrf=True)
        request.headers.pop("cookie", None)
        client.cookies.set_cookie_header(request)
    request.headers.setdefault(header, token)
    if request.url.scheme == "https" and not ({"origin", "referer"} & set(request.headers)):
        # Django checks an https request's Origin, else its Referer, against its host.
        request.headers["origin"] = f"https://{request.url.netloc.decode('ascii')}"


def _django_mount(client: HttpxClient, mount: str | None, helper: str) -> Mount:
    return find_mount(client, mount, framework="Django", is_framework=_is_django, helper=helper)


def _is_django(app: object) -> bool:
    return isinstance(app, BaseHandler)


def _refuse_in_event_loop(name: str, async_name: str) -> None:
    """Say which helper to await, rather than let Django's ORM refuse with its own words."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{name}() is synchronous, and Django's database calls are refused in an async "
        f"test: write `await {async_name}(client, ...)` (from pytest_asgi_dispatch.django)"
    )


def _first_backend() -> str:
    """As `django.test.Client`: the first authentication backend that can get users."""
    for path in settings.AUTHENTICATION_BACKENDS:
        if hasattr(auth.load_backend(path), "get_user"):
            return str(path)
    raise LookupError("no backend of AUTHENTICATION_BACKENDS has get_user(): pass backend=")


def _log_in(client: HttpxClient, user: Any, backend: str | None, target: Mount) -> None:
    """`django.contrib.auth.login()` on the client's session: its data is kept."""
    request = _request_to(client, target)
    auth.login(request, user, backend)
    _respond(client, target, request)


def _request_to(client: HttpxClient, target: Mount) -> HttpRequest:
    """A request to the mount carrying the client's cookies, and its session."""
    return _django_request(target.url(client), cookie_header(client, target.url(client)))


def _django_request(url: httpx.URL, cookies: str) -> HttpRequest:
    request = HttpRequest()
    request.path = request.path_info = url.path
    request.META.update(
        HTTP_COOKIE=cookies,
        HTTP_HOST=url.netloc.decode("ascii"),
        SERVER_NAME=url.host,
        SERVER_PORT=str(url.port or (443 if url.scheme == "https" else 80)),
    )
    request.COOKIES = parse_cookie(cookies)
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    return request


def _token_for(request: HttpRequest) -> tuple[str, bool]:
    """A masked token of the request's CSRF secret, and whether the secret is new (the
    request had none, or a malformed one), as the CSRF middleware and `get_token` see it."""
    _csrf_middleware().process_request(request)
    new_secret = request.META.get("CSRF_COOKIE_NEEDS_UPDATE", False) or (
        "CSRF_COOKIE" not in request.META
    )
    token: str = get_token(request)
    return token, bool(new_secret)


def _respond(
    client: HttpxClient, target: Mount, request: HttpRequest, *, csrf: bool = False
) -> None:
    """The project's CSRF (when asked) and session middleware answer `request`; the
    cookies they set or delete go into the client's jar, as from the mount."""
    response = HttpResponse()
    if csrf:
        response = _csrf_middleware().process_response(request, response)
    response = _middleware(SessionMiddleware)().process_response(request, response)
    url = target.url(client)
    store_cookies(client, url, [m.output(header="").strip() for m in response.cookies.values()])


def _csrf_middleware() -> Any:
    return _middleware(CsrfViewMiddleware)()


def _middleware(base: type) -> Callable[[], Any]:
    """The project's middleware of that kind (a subclass in `MIDDLEWARE`), or Django's."""
    for path in settings.MIDDLEWARE:
        candidate = import_string(path)
        if isinstance(candidate, type) and issubclass(candidate, base):
            chosen: type = candidate
            break
    else:
        chosen = base
    return lambda: chosen(_no_view)


def _no_view(request: HttpRequest) -> HttpResponse:
    """The `get_response` middleware needs; never called, since only its hooks run."""
    raise AssertionError("not called")
