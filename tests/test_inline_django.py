"""The sync client runs Django on the test's own thread, through Django's sync path.

Django's ASGI handler is served as `django.test.Client` serves a project (a handler
whose middleware is loaded for sync use), with what the ASGI handler would do kept:
its request class and META, `root_path` as the script prefix, its signals, CSRF checks
on. Where the event-loop path is the reference, the same handler is also reached
through it (behind an ASGI function the inline path does not look into) and the two
answers compared. Django's WSGI handler is a WSGI app, run inline as any other.

This module is the URLconf of its own tests (`ROOT_URLCONF`, set by the `site` fixture).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
import pytest
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path, reverse
from django.utils.deprecation import MiddlewareMixin
from django.views.decorators.csrf import csrf_exempt
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from pytest_asgi_dispatch import dispatch_sync
from pytest_asgi_dispatch._client_library import ClientLibrary
from pytest_asgi_dispatch._django import _close_for_real
from pytest_asgi_dispatch._inline import _is_a_stock_flask_app
from tests.djangoapp.models import Item

# --- the site: views and middleware -----------------------------------------------------


def item_names() -> list[str]:
    return sorted(Item.objects.values_list("name", flat=True))


def state(request: HttpRequest) -> JsonResponse:
    """What the view sees of its request, and where it runs."""
    return JsonResponse(
        {
            "thread": threading.get_ident(),
            "request_class": type(request).__name__,
            "meta": {k: v for k, v in request.META.items() if isinstance(v, (str, int, bool))},
            "path": request.path,
            "path_info": request.path_info,
            "reverse": reverse("state"),
            "absolute": request.build_absolute_uri(reverse("state")),
        }
    )


def items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"names": item_names()})


async def async_items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"names": await sync_to_async(item_names)()})


def crash(request: HttpRequest) -> HttpResponse:
    raise LookupError("the django view failed")


def form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{request.method} passed the CSRF check")


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body, content_type="application/octet-stream")


def cookies(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("two cookies")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


EVENTS: list[str] = []


def events(request: HttpRequest) -> StreamingHttpResponse:
    async def stream() -> AsyncIterator[str]:
        for n in range(3):
            EVENTS.append(f"app sent {n}")
            yield f"data: {n} at {reverse('state')}\n\n"

    return StreamingHttpResponse(stream(), content_type="text/event-stream")


def sync_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"sync ", b"parts"]))


def lying(request: HttpRequest) -> HttpResponse:
    """A body of `?size=` bytes under a content-length of 100, as a copying proxy may send."""
    body = b"x" * int(request.GET["size"])
    if "stream" in request.GET:

        async def parts() -> AsyncIterator[bytes]:
            yield body

        return StreamingHttpResponse(parts(), headers={"Content-Length": "100"})
    return HttpResponse(body, headers={"Content-Length": "100"})


class ModeMiddleware(MiddlewareMixin):
    """Says how Django loaded it: for sync use (a sync handler) or async (the ASGI one)."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["x-middleware-mode"] = "async" if iscoroutinefunction(self) else "sync"
        return response


class AsyncOnlyMiddleware:
    """Middleware that only runs async: Django adapts it for a sync handler."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = await self.get_response(request)
        response["x-async-only"] = "ran"
        return response


urlpatterns = [
    path("state/", state, name="state"),
    path("items/", items),
    path("async-items/", async_items),
    path("crash/", crash),
    path("form/", form),
    path("echo/", echo),
    path("cookies/", cookies),
    path("events/", events),
    path("sync-stream/", sync_stream),
    path("lying/", lying),
]


@pytest.fixture
def site() -> Iterator[None]:
    """This module's views and middleware, over the test project's settings."""
    # Innermost, ModeMiddleware: outside async-only middleware, Django keeps any async.
    middleware = [*settings.MIDDLEWARE, f"{__name__}.AsyncOnlyMiddleware"]
    middleware.append(f"{__name__}.ModeMiddleware")
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        yield


def via_event_loop(handler: ASGIHandler) -> Any:
    """The handler as the event loop serves it, behind an ASGI function of ours."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await handler(scope, receive, send)

    return app


pytestmark = pytest.mark.usefixtures("site")

# --- the path taken ---------------------------------------------------------------------


def test_the_asgi_handlers_requests_take_djangos_sync_path_on_the_tests_thread() -> None:
    handler = get_asgi_application()
    with dispatch_sync({"/inline": handler, "/loop": via_event_loop(handler)}) as client:
        inline = client.get("/inline/state/")
        loop = client.get("/loop/state/")

    assert inline.headers["x-middleware-mode"] == "sync"
    assert loop.headers["x-middleware-mode"] == "async"
    assert inline.json()["thread"] == threading.get_ident()


def test_async_only_middleware_still_runs() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/state/")

    assert response.headers["x-async-only"] == "ran"


def test_the_wsgi_handlers_requests_run_on_the_tests_thread() -> None:
    with dispatch_sync({"/shop": get_wsgi_application()}) as client:
        response = client.get("/shop/state/")

    assert response.json()["thread"] == threading.get_ident()
    assert response.json()["request_class"] == "WSGIRequest"


# --- what the view sees -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mounts", "url"),
    [
        pytest.param(lambda app: {"/shop": app}, "/shop/state/?q=1", id="prefix"),
        pytest.param(lambda app: {"/": app}, "/state/", id="root"),
        pytest.param(lambda app: {"/a": {"/shop": app}}, "/a/shop/state/", id="nested"),
        pytest.param(lambda app: {"shop.test/v1": app}, "http://shop.test/v1/state/", id="host"),
    ],
)
def test_the_view_sees_the_request_the_asgi_handler_builds(mounts: Any, url: str) -> None:
    handler = get_asgi_application()
    headers = [("x-twice", "1"), ("x-twice", "2"), ("cookie", "a=1")]
    with dispatch_sync(mounts(handler)) as client:
        inline = client.get(url, headers=headers).json()
    with dispatch_sync(mounts(via_event_loop(handler))) as client:
        loop = client.get(url, headers=headers).json()

    assert inline == loop
    assert inline["request_class"] == "ASGIRequest"
    assert inline["meta"]["HTTP_X_TWICE"] == "1,2"
    assert inline["reverse"] == inline["meta"]["SCRIPT_NAME"] + "/state/"


def test_reverse_and_absolute_urls_carry_the_prefix() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/state/")

    assert response.json()["reverse"] == "/shop/state/"
    assert response.json()["absolute"] == "http://testserver/shop/state/"
    assert response.json()["path_info"] == "/state/"


def test_the_tests_script_prefix_is_left_as_it_was() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        client.get("/shop/state/")

    assert reverse("state") == "/state/"


# --- the test's database ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("handler", [get_asgi_application, get_wsgi_application])
@pytest.mark.parametrize("view", ["items", "async-items"])
def test_the_view_sees_the_rows_a_django_db_test_created(handler: Any, view: str) -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": handler()}) as client:
        response = client.get(f"/shop/{view}/")

    assert response.json() == {"names": ["apple"]}
    assert connection.in_atomic_block  # pytest-django's transaction is still open


@pytest.fixture
def close_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads on which Django's `close_old_connections` checked the test's connection.

    It would end pytest-django's transaction; in-memory SQLite ignores the close, so the
    check is on the call itself (on the class: the test's connection shadows it while a
    call is served, see `_django`).
    """
    checks: list[int] = []
    monkeypatch.setattr(
        type(connections[DEFAULT_DB_ALIAS]),
        "close_if_unusable_or_obsolete",
        lambda self: checks.append(threading.get_ident()),
    )
    return checks


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("handler", "view"),
    [
        (get_asgi_application, "items"),
        (get_asgi_application, "events"),  # request_finished comes in a later step
        (get_wsgi_application, "items"),
        (get_wsgi_application, "sync-stream"),  # request_finished comes in a later step
    ],
)
def test_djangos_request_signals_leave_the_tests_connection_alone(
    handler: Any, view: str, close_checks: list[int]
) -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": handler()}) as client:
        client.get(f"/shop/{view}/")

    assert close_checks == []


@pytest.mark.django_db
@pytest.mark.parametrize("handler", [get_asgi_application, get_wsgi_application])
def test_a_connection_a_thread_opens_after_its_first_call_is_spared_too(
    handler: Any, close_checks: list[int]
) -> None:
    # A thread's connections are asked of Django on its first call, then kept up to date
    # by `connection_created` (see `_django`): a thread of the test's own, to start anew.
    errors: list[BaseException] = []

    def calls_then_connects_then_calls_again() -> None:
        try:
            client.get("/shop/where/")  # no query: this thread has no connection yet
            connections[DEFAULT_DB_ALIAS].ensure_connection()
            client.get("/shop/where/")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            _close_for_real(connections[DEFAULT_DB_ALIAS])  # in-memory SQLite ignores close()

    with dispatch_sync({"/shop": handler()}) as client:
        thread = threading.Thread(target=calls_then_connects_then_calls_again)
        thread.start()
        thread.join()

    assert (errors, close_checks) == ([], [])


def flask_beside_django(*, in_front_of_django: bool) -> flask.Flask:
    """A Flask app; in front of Django's WSGI handler (under /django), when told."""
    app = flask.Flask("beside_django")

    @app.get("/hello/")
    def hello() -> str:
        # Spared or not, a Flask view finds the test's connection open.
        return "hello" if connection.in_atomic_block else "no transaction"

    if in_front_of_django:
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, {"/django": get_wsgi_application()}
        )
    return app


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("in_front_of_django", "url", "answer"),
    [
        (False, "/shop/hello/", "hello"),
        (True, "/shop/hello/", "hello"),
        (True, "/shop/django/items/", '{"names": ["apple"]}'),
    ],
)
def test_a_flask_app_beside_or_in_front_of_django_leaves_the_tests_connection_alone(
    in_front_of_django: bool, url: str, answer: str, close_checks: list[int]
) -> None:
    Item.objects.create(name="apple")
    app = flask_beside_django(in_front_of_django=in_front_of_django)

    with dispatch_sync({"/shop": app}) as client:
        response = client.get(url)

    assert (response.text, close_checks) == (answer, [])
    assert connection.in_atomic_block


class FlaskWithItsOwnWSGIApp(flask.Flask):
    def wsgi_app(self, environ: Any, start_response: Any) -> Any:
        return super().wsgi_app(environ, start_response)


def test_only_a_flask_app_as_flask_made_it_is_known_not_to_serve_django() -> None:
    # The others' requests spare the test's connections, in case Django serves them.
    assert _is_a_stock_flask_app(flask_beside_django(in_front_of_django=False))
    assert not _is_a_stock_flask_app(flask_beside_django(in_front_of_django=True))
    assert not _is_a_stock_flask_app(FlaskWithItsOwnWSGIApp("own"))
    assert not _is_a_stock_flask_app(get_wsgi_application())


# --- signals ----------------------------------------------------------------------------


def test_request_started_and_finished_are_sent_as_the_asgi_handler_sends_them() -> None:
    sent: list[tuple[str, Any, Any, bool]] = []

    def on_started(sender: Any, **kwargs: Any) -> None:
        sent.append(("started", sender, kwargs["scope"]["path"], "environ" in kwargs))

    def on_finished(sender: Any, **kwargs: Any) -> None:
        sent.append(("finished", sender, None, False))

    handler = get_asgi_application()
    request_started.connect(on_started, weak=False)
    request_finished.connect(on_finished, weak=False)
    try:
        with dispatch_sync({"/inline": handler, "/loop": via_event_loop(handler)}) as client:
            client.get("/inline/state/")
            inline, sent[:] = list(sent), []
            client.get("/loop/state/")
    finally:
        request_started.disconnect(on_started)
        request_finished.disconnect(on_finished)

    assert inline == [
        ("started", ASGIHandler, "/inline/state/", False),
        ("finished", ASGIHandler, None, False),
    ]
    assert [event[:2] for event in sent] == [event[:2] for event in inline]


# --- CSRF, cookies, bodies --------------------------------------------------------------


def test_csrf_checks_stay_on_unlike_djangos_test_client() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        refused = client.post("/shop/form/", data={"name": "plum"})
        allowed = client.get("/shop/form/")

    assert refused.status_code == 403
    assert allowed.text == "GET passed the CSRF check"


def test_repeated_set_cookie_headers_are_kept() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/cookies/")

    assert len(response.headers.get_list("set-cookie")) == 2
    assert dict(client.cookies) == {"first": "1", "second": "2"}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None)
def test_bodies_pass_byte_exact_both_ways() -> None:
    body = os.urandom(3 * 2**20 + 7)  # beyond FILE_UPLOAD_MAX_MEMORY_SIZE: a file on disk
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.post("/shop/echo/", content=body)

    assert response.content == body


def test_a_chunked_upload_reaches_the_view_whole() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.post("/shop/echo/", content=iter([b"first ", b"second"]))

    assert response.content == b"first second"


def test_head_gets_the_headers_and_no_body() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.head("/shop/state/")

    assert response.status_code == 200
    assert response.content == b""


# --- streaming --------------------------------------------------------------------------


def test_an_async_streaming_response_is_streamed_part_by_part() -> None:
    EVENTS.clear()
    with (
        dispatch_sync({"/shop": get_asgi_application()}) as client,
        client.stream("GET", "/shop/events/") as response,
    ):
        chunks = response.iter_raw()
        EVENTS.append(f"client got {next(chunks)!r}")
        EVENTS.append(f"client got {next(chunks)!r}")

    assert EVENTS[:4] == [
        "app sent 0",
        "client got b'data: 0 at /shop/state/\\n\\n'",
        "app sent 1",
        "client got b'data: 1 at /shop/state/\\n\\n'",
    ]


def test_a_whole_streamed_response_reads_as_under_the_asgi_handler() -> None:
    handler = get_asgi_application()
    with dispatch_sync({"/inline": handler, "/loop": via_event_loop(handler)}) as client:
        inline = client.get("/inline/events/")
        loop = client.get("/loop/events/")

    assert inline.text == loop.text.replace("/loop/", "/inline/")
    assert inline.text.count("data:") == 3


def test_a_sync_iterator_is_consumed_whole_with_djangos_warning_as_under_asgi() -> None:
    handler = get_asgi_application()
    with dispatch_sync({"/inline": handler, "/loop": via_event_loop(handler)}) as client:
        with pytest.warns(Warning, match="must consume synchronous iterators"):
            inline = client.get("/inline/sync-stream/")
        with pytest.warns(Warning, match="must consume synchronous iterators"):
            loop = client.get("/loop/sync-stream/")

    assert inline.content == loop.content == b"sync parts"


# --- exceptions -------------------------------------------------------------------------


def test_a_views_exception_reaches_the_test_with_its_traceback() -> None:
    with (
        dispatch_sync({"/shop": get_asgi_application()}) as client,
        pytest.raises(LookupError, match="the django view failed") as raised,
    ):
        client.get("/shop/crash/")

    assert raised.traceback[-1].name == "crash"


@pytest.mark.parametrize("handler", [get_asgi_application, get_wsgi_application])
def test_without_raising_django_answers_with_its_own_500_page(handler: Any) -> None:
    with dispatch_sync({"/shop": handler()}, raise_app_exceptions=False) as client:
        response = client.get("/shop/crash/")

    assert response.status_code == 500
    assert "<h1>Server Error (500)</h1>" in response.text


def test_the_response_is_the_client_librarys_response_to_its_request(http: ClientLibrary) -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/state/")

    assert isinstance(response, http.Response)
    assert response.request.url == "http://testserver/shop/state/"


# --- the response as a server checks it -------------------------------------------------

CONTENT_LENGTH_LIES = [
    pytest.param(10, "shorter than its content-length: 10 of 100 bytes", id="shorter"),
    pytest.param(200, "longer than its content-length of 100 bytes", id="longer"),
]
# The event-loop path checks with the same checker (_response_checks), tested in
# test_faults and test_inline: reached through it, Django's ASGI handler leaves the
# request's body file to the garbage collector when `send` raises (a ResourceWarning).
PATHS_AND_BODIES = [
    pytest.param("/inline", False, id="inline-content"),
    pytest.param("/inline", True, id="inline-streamed"),
]


@pytest.mark.parametrize(("size", "message"), CONTENT_LENGTH_LIES)
@pytest.mark.parametrize(("mount", "streamed"), PATHS_AND_BODIES)
def test_a_body_not_matching_its_content_length_raises_on_the_inline_path(
    mount: str, size: int, message: str, streamed: bool
) -> None:
    handler = get_asgi_application()
    query = f"?size={size}" + ("&stream=1" if streamed else "")
    with (
        dispatch_sync({"/inline": handler, "/loop": via_event_loop(handler)}) as client,
        pytest.raises(RuntimeError, match=message),
    ):
        client.get(f"{mount}/lying/{query}")


@pytest.mark.parametrize(("size", "message"), CONTENT_LENGTH_LIES)
@pytest.mark.parametrize(("mount", "streamed"), PATHS_AND_BODIES)
def test_without_raising_a_body_not_matching_its_content_length_is_a_protocol_error(
    mount: str, size: int, message: str, streamed: bool, http: ClientLibrary
) -> None:
    handler = get_asgi_application()
    query = f"?size={size}" + ("&stream=1" if streamed else "")
    mounts = {"/inline": handler, "/loop": via_event_loop(handler)}
    with (
        dispatch_sync(mounts, raise_app_exceptions=False) as client,  # type: ignore[arg-type]
        pytest.raises(http.RemoteProtocolError, match=message),
    ):
        client.get(f"{mount}/lying/{query}")


def test_head_keeps_its_content_length_without_a_body_on_the_inline_path() -> None:
    with dispatch_sync({"/inline": get_asgi_application()}) as client:
        head = client.head("/inline/lying/?size=100")

    assert (head.status_code, head.headers["content-length"], head.content) == (200, "100", b"")
