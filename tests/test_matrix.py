"""Every framework of the matrix mounted side by side in one table.

The framework-by-framework cells are in test_matrix_<framework>.py; docs/frameworks/
index.md maps each cell to its test. Here: all apps together, on both clients.
"""

from __future__ import annotations

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch, dispatch_sync
from tests.matrix_apps import LIFESPAN_EVENTS, mount_table

# Each mount and a URL it answers, with what its answer must contain.
WHERE = {
    "/django": ("/django/where/", '"reverse": "/django/where/"'),
    "/django-wsgi": ("/django-wsgi/where/", '"reverse": "/django-wsgi/where/"'),
    "/flask": ("/flask/where", '"url_for":"/flask/where"'),
    "/quart": ("/quart/where", '"url_for":"/quart/where"'),
    "/starlette": ("/starlette/where", '"url_for":"http://testserver/starlette/where"'),
    "/fastapi": ("/fastapi/where", '"url_for":"http://testserver/fastapi/where"'),
    "/litestar": ("/litestar/where", '"url_for":"http://testserver/litestar/where"'),
    "/falcon": ("/falcon/where", '"root_path": "/falcon"'),
    "/falcon-wsgi": ("/falcon-wsgi/where", '"root_path": "/falcon-wsgi"'),
}


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    return mount_table()


def test_the_matrix_mounts_every_framework() -> None:
    assert set(WHERE) == set(mount_table())


@pytest.mark.parametrize("mount", WHERE)
def test_each_app_answers_under_its_prefix_beside_the_others(
    asgi_sync_client: httpx.Client, mount: str
) -> None:
    url, expected = WHERE[mount]

    response = asgi_sync_client.get(url)

    assert response.status_code == 200
    assert expected in response.text


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # Django, a2wsgi and Quart
async def test_each_app_answers_the_async_client_beside_the_others(anyio_backend: str) -> None:
    async with dispatch(mount_table()) as client:
        responses = {mount: await client.get(url) for mount, (url, _) in WHERE.items()}

    for mount, (_, expected) in WHERE.items():
        assert expected in responses[mount].text, mount


def test_lifespans_start_in_table_order_and_shut_down_in_reverse() -> None:
    LIFESPAN_EVENTS.clear()
    with dispatch_sync(mount_table()):
        pass

    assert LIFESPAN_EVENTS == [
        "quart startup",
        "starlette startup",
        "fastapi startup",
        "litestar startup",
        "litestar shutdown",
        "fastapi shutdown",
        "starlette shutdown",
        "quart shutdown",
    ]


def test_apps_with_default_session_cookies_overwrite_each_others_sessions() -> None:
    # Flask, Quart, Starlette and Litestar all name their session cookie "session",
    # at Path=/, whatever the mount: side by side they share (and spoil) one cookie.
    # Give each a cookie path (or name) of its own, as tests/matrix_apps.py does.
    flask_app = flask.Flask("default_flask")
    flask_app.secret_key = "tests-only"

    @flask_app.get("/visits")
    def flask_visits() -> dict[str, int]:
        flask.session["visits"] = flask.session.get("visits", 0) + 1
        return {"visits": flask.session["visits"]}

    async def starlette_visits(request: Request) -> JSONResponse:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return JSONResponse({"visits": request.session["visits"]})

    starlette_app = Starlette(
        routes=[Route("/visits", starlette_visits)],
        middleware=[Middleware(SessionMiddleware, secret_key="tests-only")],
    )

    with dispatch_sync({"/flask": flask_app, "/starlette": starlette_app}) as client:
        client.get("/flask/visits")
        client.get("/flask/visits")
        client.get("/starlette/visits")
        response = client.get("/flask/visits")

    assert response.json() == {"visits": 1}  # Starlette's cookie replaced Flask's
