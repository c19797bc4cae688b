"""dispatch() and dispatch_sync(): the httpx clients, and real frameworks mounted together."""

from __future__ import annotations

from typing import Any

import flask
import pytest
import quart
import sniffio
from django.core.asgi import get_asgi_application
from fastapi import FastAPI
from litestar import Litestar
from litestar import Request as LitestarRequest
from litestar import get as litestar_get
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch, dispatch_sync


async def show_request(request: Request) -> JSONResponse:
    """What the app was asked: URL, headers and cookies, and the event loop it runs on."""
    return JSONResponse(
        {
            "url": str(request.url),
            "host": request.headers["host"],
            "x_test": request.headers.get("x-test"),
            "cookies": request.cookies,
            "loop": sniffio.current_async_library(),
        }
    )


async def moved(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("show"))


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/show", show_request, name="show"), Route("/moved", moved)])


# Client options.


@pytest.mark.anyio
async def test_extra_keyword_arguments_reach_the_httpx_client() -> None:
    async with dispatch(
        {"/s": starlette_app()},
        headers={"X-Test": "from the client"},
        cookies={"session": "abc"},
        follow_redirects=True,
    ) as client:
        response = await client.get("/s/moved")

    assert response.history[0].status_code == 307
    assert response.json()["x_test"] == "from the client"
    assert response.json()["cookies"] == {"session": "abc"}


@pytest.mark.anyio
async def test_base_url_sets_scheme_and_host() -> None:
    async with dispatch({"/s": starlette_app()}, base_url="https://shop.test:8443") as client:
        seen = (await client.get("/s/show")).json()

    assert seen["url"] == "https://shop.test:8443/s/show"
    assert seen["host"] == "shop.test:8443"


@pytest.mark.anyio
async def test_default_base_url_is_testserver() -> None:
    async with dispatch({"/s": starlette_app()}) as client:
        seen = (await client.get("/s/show")).json()

    assert seen["url"] == "http://testserver/s/show"


@pytest.mark.anyio
async def test_starlette_runs_on_the_tests_event_loop(anyio_backend: str) -> None:
    async with dispatch({"/s": starlette_app()}) as client:
        seen = (await client.get("/s/show")).json()

    assert seen["loop"] == anyio_backend


@pytest.mark.anyio
async def test_fastapi_runs_on_the_tests_event_loop(anyio_backend: str) -> None:
    app = FastAPI()

    @app.get("/loop")
    async def loop() -> dict[str, str]:
        return {"loop": sniffio.current_async_library()}

    async with dispatch({"/api": app}) as client:
        seen = (await client.get("/api/loop")).json()

    assert seen == {"loop": anyio_backend}


def test_sync_client_works_from_a_plain_sync_test() -> None:
    with dispatch_sync({"/s": starlette_app()}, headers={"X-Test": "sync"}) as client:
        response = client.get("/s/show")

    assert response.json()["x_test"] == "sync"
    assert response.json()["loop"] == "asyncio"


def test_sync_client_runs_the_apps_on_trio_when_asked() -> None:
    with dispatch_sync({"/s": starlette_app()}, backend="trio") as client:
        seen = client.get("/s/show").json()

    assert seen["loop"] == "trio"


def test_sync_client_follows_redirects_when_asked() -> None:
    with dispatch_sync({"/s": starlette_app()}, follow_redirects=True) as client:
        response = client.get("/s/moved")

    assert response.url.path == "/s/show"


# Real frameworks mounted together.


def flask_app() -> flask.Flask:
    app = flask.Flask("billing")

    @app.get("/invoices")
    def invoices() -> dict[str, str]:
        return {"url": flask.url_for("invoices"), "script_root": flask.request.script_root}

    @app.get("/old")
    def old() -> Any:
        return flask.redirect(flask.url_for("invoices"))

    return app


def quart_app() -> quart.Quart:
    app = quart.Quart("reports")

    @app.get("/daily")
    async def daily() -> dict[str, str]:
        return {"url": quart.url_for("daily"), "root_path": quart.request.root_path}

    return app


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    return app


def litestar_app() -> Litestar:
    @litestar_get("/items")
    async def items(request: LitestarRequest[Any, Any, Any]) -> dict[str, str]:
        return {"url": str(request.url)}

    return Litestar([items])


def five_frameworks() -> dict[str, object]:
    return {
        "/": get_asgi_application(),
        "/billing": flask_app(),
        "/reports": quart_app(),
        "/api": fastapi_app(),
        "/store": litestar_app(),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_five_frameworks_build_their_urls_under_their_prefixes(anyio_backend: str) -> None:
    async with dispatch(five_frameworks()) as client:
        django = (await client.get("/where/")).json()
        flask_answer = (await client.get("/billing/invoices")).json()
        quart_answer = (await client.get("/reports/daily")).json()
        fastapi_answer = (await client.get("/api/users/7")).json()
        litestar_answer = (await client.get("/store/items")).json()

    assert (django["path"], django["reverse"]) == ("/where/", "/where/")
    assert flask_answer == {"url": "/billing/invoices", "script_root": "/billing"}
    assert quart_answer == {"url": "/reports/daily", "root_path": "/reports"}
    assert fastapi_answer == {"user_id": 7}
    assert litestar_answer == {"url": "http://testserver/store/items"}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_django_under_a_prefix_reverses_and_redirects_under_it(anyio_backend: str) -> None:
    async with dispatch({"/shop": get_asgi_application(), "/": fastapi_app()}) as client:
        where = (await client.get("/shop/where/")).json()
        redirect = await client.get("/shop/go/")

    assert where["path"] == "/shop/where/"
    assert where["path_info"] == "/where/"
    assert where["reverse"] == "/shop/where/"
    assert redirect.headers["location"] == "/shop/where/"


def test_flask_redirect_stays_under_its_prefix() -> None:
    with dispatch_sync({"/billing": flask_app()}) as client:
        redirect = client.get("/billing/old")
        followed = client.get("/billing/old", follow_redirects=True)

    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/billing/invoices"
    assert followed.json()["url"] == "/billing/invoices"


@pytest.mark.anyio
async def test_fastapi_docs_point_at_the_prefixed_openapi_schema() -> None:
    async with dispatch({"/api": fastapi_app()}) as client:
        docs = await client.get("/api/docs")
        schema = await client.get("/api/openapi.json")

    assert docs.status_code == 200
    assert "'/api/openapi.json'" in docs.text or '"/api/openapi.json"' in docs.text
    assert "/users/{user_id}" in schema.json()["paths"]


def test_five_frameworks_through_the_sync_client() -> None:
    with dispatch_sync(five_frameworks()) as client:
        answers = [
            client.get(path).status_code
            for path in ["/where/", "/billing/invoices", "/reports/daily", "/api/users/1"]
        ]
        litestar_answer = client.get("/store/items").json()

    assert answers == [200, 200, 200, 200]
    assert litestar_answer == {"url": "http://testserver/store/items"}
