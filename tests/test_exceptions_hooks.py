"""The framework hooks behind the exception matrix: where they go, and what they leave alone.

Mounting an app of a framework that answers exceptions with its own 500 (Flask, Quart,
Django, Litestar, Falcon) hooks it once and wraps it; any other app is mounted as it
is, and no framework is imported for it. Outside a request of the Dispatcher, a hooked
app behaves as before. Websockets get the same as HTTP, and a WSGI app's hooks fire
when its WSGI callable is called directly (as the sync client's inline path does).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from typing import Any

import django.test
import falcon
import falcon.asgi
import falcon.testing
import flask
import httpx
import pytest
import quart
from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application
from django.core.signals import got_request_exception as django_got_request_exception
from django.db import connection
from flask.signals import got_request_exception as flask_got_request_exception
from httpx_ws import WebSocketDisconnect, aconnect_ws
from litestar import Litestar
from litestar import get as litestar_get
from litestar.testing import TestClient as LitestarTestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.test import EnvironBuilder

from pytest_asgi_dispatch import Dispatcher, dispatch, dispatch_sync
from pytest_asgi_dispatch._apps import WSGIAdapter, as_asgi3
from pytest_asgi_dispatch._framework_hooks import install_hooks
from pytest_asgi_dispatch._handled import RaiseHandled, recording
from pytest_asgi_dispatch._types import Receive, Scope, Send
from tests import exception_apps
from tests.djangoapp.db_cases import is_open
from tests.djangoapp.db_cases import opened_on_other_threads as opened_on_other_threads  # fixture
from tests.djangoapp.models import Item
from tests.exception_apps import Boom

pytestmark = pytest.mark.urls("tests.exception_apps")  # Django's views for these tests

HOOKED_APPS = {
    "flask": exception_apps.flask_app,
    "quart": exception_apps.quart_app,
    "litestar": exception_apps.litestar_app,
    "falcon-asgi": exception_apps.falcon_app,
    "falcon-wsgi": exception_apps.falcon_wsgi_app,
    "django-asgi": exception_apps.django_asgi,
    "django-wsgi": exception_apps.django_wsgi,
}


def asgi_chain(app: object) -> Iterator[object]:
    """`app` and the apps it wraps, through `.app`."""
    while app is not None:
        yield app
        app = getattr(app, "app", None)


def hello_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"hello"]


# --- Only apps with hooks are wrapped ----------------------------------------------------


@pytest.mark.parametrize(
    "app",
    [exception_apps.raw_asgi_app, exception_apps.starlette_app, exception_apps.fastapi_app],
    ids=["raw-asgi", "starlette", "fastapi"],
)
def test_an_asgi_app_that_raises_by_itself_is_mounted_as_it_is(app: object) -> None:
    assert as_asgi3(app, "/app") is app


def test_a_plain_wsgi_app_gets_no_recording_wrapper() -> None:
    adapter = as_asgi3(hello_wsgi, "/app")

    assert isinstance(adapter, WSGIAdapter)
    assert not any(isinstance(app, RaiseHandled) for app in asgi_chain(adapter.app))


@pytest.mark.parametrize("name", HOOKED_APPS)
def test_an_app_whose_framework_handles_exceptions_is_wrapped(name: str) -> None:
    mounted = as_asgi3(HOOKED_APPS[name], "/app")

    assert any(isinstance(app, RaiseHandled) for app in asgi_chain(mounted))


def test_mounting_a_plain_app_imports_no_framework() -> None:
    code = textwrap.dedent(
        """
        import sys
        from pytest_asgi_dispatch import Dispatcher

        async def asgi(scope, receive, send):
            pass

        def wsgi(environ, start_response):
            return []

        Dispatcher({"/asgi": asgi, "/wsgi": wsgi})
        frameworks = ("flask", "quart", "django", "litestar", "falcon", "werkzeug")
        print(sorted(name for name in frameworks if name in sys.modules))
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "[]"


# --- Installed once, however often the app is mounted ------------------------------------


def test_mounting_a_flask_app_twice_connects_one_receiver() -> None:
    app = flask.Flask("mounted_twice")
    before = len(list(flask_got_request_exception.receivers_for(app)))

    Dispatcher({"/a": app, "/b": app})
    Dispatcher({"/c": app})

    assert len(list(flask_got_request_exception.receivers_for(app))) == before + 1


def test_mounting_django_twice_connects_one_receiver() -> None:
    Dispatcher({"/a": get_asgi_application()})
    receivers = len(django_got_request_exception.receivers)

    Dispatcher({"/b": get_asgi_application(), "/c": exception_apps.django_wsgi})

    assert len(django_got_request_exception.receivers) == receivers


def test_mounting_a_litestar_app_twice_adds_one_hook() -> None:
    @litestar_get("/")
    async def index() -> str:
        return "index"

    app = Litestar([index])

    Dispatcher({"/a": app, "/b": app})

    assert len(app.after_exception) == 1


@pytest.mark.parametrize("app_class", [falcon.App, falcon.asgi.App], ids=["wsgi", "asgi"])
def test_mounting_a_falcon_app_twice_wraps_its_default_handler_once(app_class: Any) -> None:
    app = app_class()

    Dispatcher({"/a": app, "/b": app})

    handler = app._error_handlers[Exception]
    assert handler.args == (app._python_error_handler,)


# --- What the app does on its own is unchanged -------------------------------------------


def test_a_falcon_apps_own_handler_for_every_exception_is_kept() -> None:
    def on_any_error(req: Any, resp: Any, ex: Exception, params: Any) -> None:
        resp.status = 503
        resp.text = "the app's own page"

    app = falcon.App()
    app.add_route("/boom/{n:int}", exception_apps.FalconWsgiBoom())
    app.add_error_handler(Exception, on_any_error)

    mounted = as_asgi3(app, "/app")
    with dispatch_sync({"/app": app}) as client:
        response = client.get("/app/boom/1")

    assert app._error_handlers[Exception] is on_any_error
    assert not any(isinstance(inner, RaiseHandled) for inner in asgi_chain(mounted))
    assert (response.status_code, response.text) == (503, "the app's own page")


def test_outside_the_dispatcher_hooked_apps_answer_with_their_500_as_before() -> None:
    for app in HOOKED_APPS.values():
        assert install_hooks(app)

    statuses = {
        "flask": exception_apps.flask_app.test_client().get("/boom/1").status_code,
        "litestar": LitestarTestClient(exception_apps.litestar_app).get("/boom/1").status_code,
        "falcon-wsgi": falcon.testing.TestClient(exception_apps.falcon_wsgi_app)
        .simulate_get("/boom/1")
        .status_code,
        "falcon-asgi": asyncio.run(_falcon_asgi_status("/falcon/boom/1")),
        "django": django.test.Client(raise_request_exception=False).get("/boom/1/").status_code,
    }

    assert statuses == dict.fromkeys(statuses, 500)


async def _falcon_asgi_status(path: str) -> int:
    """Falcon's own ASGI test client, on a loop of its own: its sync `TestClient` asks
    for the thread's current loop, which Python 3.10 no longer has after `asyncio.run`."""
    async with falcon.testing.ASGIConductor(exception_apps.falcon_app) as conductor:
        return (await conductor.simulate_get(path)).status_code


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_outside_the_dispatcher_quart_answers_with_its_500_as_before(
    anyio_backend: str,
) -> None:
    install_hooks(exception_apps.quart_app)

    response = await exception_apps.quart_app.test_client().get("/boom/1")

    assert response.status_code == 500


def test_djangos_test_client_still_raises_the_views_exception_its_own_way() -> None:
    install_hooks(exception_apps.django_asgi)

    with pytest.raises(Boom, match="boom 2"):
        django.test.Client().get("/boom/2/")


# --- A custom 500 page: the exception is raised, and the page is what False returns ------


def custom_500_apps() -> dict[str, object]:
    flask_app = flask.Flask("custom_500")
    flask_app.get("/boom/<int:n>")(exception_apps.flask_boom)
    flask_app.register_error_handler(500, lambda exc: ("custom 500 page", 500))

    quart_app = quart.Quart("custom_500")
    quart_app.get("/boom/<int:n>")(exception_apps.quart_boom)

    @quart_app.errorhandler(500)
    async def quart_on_500(exc: Exception) -> tuple[str, int]:
        return "custom 500 page", 500

    def litestar_on_500(request: Any, exc: Exception) -> Any:
        from litestar import Response

        return Response("custom 500 page", status_code=500)

    litestar_app = Litestar(
        [exception_apps.litestar_boom], exception_handlers={500: litestar_on_500}
    )
    return {"/flask": flask_app, "/quart": quart_app, "/litestar": litestar_app}


@pytest.mark.parametrize("prefix", ["/flask", "/quart", "/litestar"])
def test_a_custom_500_page_does_not_hide_the_exception(prefix: str) -> None:
    apps = custom_500_apps()
    with dispatch_sync(apps) as client, pytest.raises(Boom, match="boom 3"):
        client.get(f"{prefix}/boom/3")

    with dispatch_sync(apps, raise_app_exceptions=False) as client:
        response = client.get(f"{prefix}/boom/3")

    assert (response.status_code, response.text) == (500, "custom 500 page")


def test_starlettes_handler_for_every_exception_still_raises() -> None:
    # Starlette's rule, not ours: ServerErrorMiddleware calls the handler, then re-raises.
    async def on_any_error(request: Any, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("custom 500 page", status_code=500)

    app = Starlette(
        routes=[Route("/boom/{n}", exception_apps.starlette_boom)],
        exception_handlers={Exception: on_any_error},
    )
    with dispatch_sync({"/app": app}) as client, pytest.raises(Boom, match="boom 3"):
        client.get("/app/boom/3")

    with dispatch_sync({"/app": app}, raise_app_exceptions=False) as client:
        response = client.get("/app/boom/3")

    assert (response.status_code, response.text) == (500, "custom 500 page")


# --- Framework apps inside wrappers ------------------------------------------------------


class PassThrough:
    """An ASGI middleware in the common shape: it keeps the app it wraps as `.app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    ("mounted", "url"),
    [
        (ProtocolTypeRouter({"http": exception_apps.django_asgi}), "/app/boom/4/"),
        (PassThrough(exception_apps.litestar_app), "/app/boom/4"),
    ],
    ids=["django-in-channels-router", "litestar-in-middleware"],
)
def test_a_framework_app_inside_a_wrapper_is_found_and_hooked(mounted: object, url: str) -> None:
    with dispatch_sync({"/app": mounted}) as client, pytest.raises(Boom, match="boom 4"):
        client.get(url)


# --- A WSGI app called directly, as the sync client's inline path does -------------------


@pytest.mark.parametrize(
    ("name", "path", "error_page"),
    [
        ("flask", "/boom/5", b"<h1>Internal Server Error</h1>"),
        ("falcon-wsgi", "/boom/5", b'"title": "500 Internal Server Error"'),
    ],
    ids=["flask", "falcon-wsgi"],
)
def test_a_wsgi_apps_hooks_fire_when_its_wsgi_callable_runs_in_a_slot(
    name: str, path: str, error_page: bytes
) -> None:
    adapter = as_asgi3(HOOKED_APPS[name], "/app")
    assert isinstance(adapter, WSGIAdapter)
    environ = EnvironBuilder(path=path, base_url="http://testserver/app").get_environ()
    statuses: list[str] = []

    with recording() as slot:
        body = b"".join(adapter.wsgi(environ, lambda status, headers: statuses.append(status)))

    assert [status[:3] for status in statuses] == ["500"]
    assert error_page in body
    assert isinstance(slot.exception, Boom)
    assert str(slot.exception) == "boom 5"


# --- Websockets --------------------------------------------------------------------------

websocket_apps = pytest.mark.parametrize(
    ("prefix", "close_code"),
    [("/quart", 1000), ("/litestar", 4500), ("/falcon", 1011)],
    ids=["quart", "litestar", "falcon"],
)


async def send_6_and_wait_for_the_close(
    client: httpx.AsyncClient, prefix: str, close_codes: list[int]
) -> None:
    """Send "6" to the `ws` route of `prefix`, which raises; keep the close code it sends."""
    async with aconnect_ws(f"{prefix}/ws", client) as ws:
        await ws.send_text("6")
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=5)
        close_codes.append(closed.value.code)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # Quart
@websocket_apps
async def test_a_websockets_exception_is_raised_once_the_block_is_left(
    prefix: str, close_code: int
) -> None:
    close_codes: list[int] = []
    async with dispatch(exception_apps.mount_table()) as client:
        with pytest.raises(Boom, match="boom 6") as raised:
            await send_6_and_wait_for_the_close(client, prefix, close_codes)

    assert close_codes == [close_code]  # the framework's own close, first
    assert "raise Boom(" in traceback.format_tb(raised.value.__traceback__)[-1]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@websocket_apps
async def test_without_raising_a_websocket_only_closes(prefix: str, close_code: int) -> None:
    close_codes: list[int] = []
    async with dispatch(exception_apps.mount_table(), raise_app_exceptions=False) as client:
        await send_6_and_wait_for_the_close(client, prefix, close_codes)

    assert close_codes == [close_code]


# --- Django's error handling and the database (issue 9, item 12) -------------------------


class RowPerError(logging.Handler):
    """Logs each error as an `Item` row, as projects that log errors to their database do."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            Item.objects.create(name=f"logged: {record.getMessage()}")
        except Exception as exc:  # logging must not raise into Django's error handling
            self.failures.append(f"{type(exc).__name__}: {exc}")


@pytest.fixture
def errors_logged_to_the_database() -> Iterator[RowPerError]:
    handler = RowPerError()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def a_row_written_by_the_test(db: None) -> Item:
    """A row in the test's open transaction: in-memory SQLite locks the table for others."""
    return Item.objects.create(name="written by the test")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_client_django_logs_errors_outside_the_tests_transaction(
    anyio_backend: str,
    a_row_written_by_the_test: Item,
    errors_logged_to_the_database: RowPerError,
    opened_on_other_threads: list[Any],
) -> None:
    # Documents a limit: Django's ASGI handler builds its 500 and logs the error in a
    # worker thread of its own (`sync_to_async(thread_sensitive=False)`), on a connection
    # outside the test's transaction. The view's exception still reaches the test.
    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        pytest.skip("only in-memory SQLite answers with a lock at once")
    # The handler made at import: get_asgi_application() would reset Django's loggers.
    async with dispatch({"/django": exception_apps.django_asgi}) as client:
        with pytest.raises(Boom, match="boom 7"):
            await client.get("/django/boom/7/")

    (failure,) = errors_logged_to_the_database.failures
    assert failure.startswith("OperationalError: database table is locked")
    # Django never closes the connection its logging opened in that worker thread, outside
    # the request; the client's exit does (else Python 3.13 warns when it is collected).
    (opened,) = opened_on_other_threads
    assert not is_open(opened)


@pytest.mark.parametrize(
    "mounted", [exception_apps.django_asgi, exception_apps.django_wsgi], ids=["asgi", "wsgi"]
)
def test_sync_client_django_logs_errors_in_the_tests_transaction(
    mounted: object,
    a_row_written_by_the_test: Item,
    errors_logged_to_the_database: RowPerError,
) -> None:
    # The sync client runs Django, its error handling included, on the test's thread and
    # connection: the row its logging writes is in the test's transaction (issue 9, 12).
    with dispatch_sync({"/django": mounted}) as client, pytest.raises(Boom, match="boom 8"):
        client.get("/django/boom/8/")

    assert errors_logged_to_the_database.failures == []
    logged = Item.objects.filter(name="logged: Internal Server Error: /django/boom/8/")
    assert logged.count() == 1
