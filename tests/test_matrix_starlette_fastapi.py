"""Starlette and FastAPI under a prefix, beside the others; FastAPI's docs and `root_path=`."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from pytest_asgi_dispatch import dispatch, dispatch_sync
from tests.matrix_apps import LIFESPAN_EVENTS, mount_table, set_cookie

starlette_apps = pytest.mark.parametrize(
    "prefix", ["/starlette", "/fastapi"], ids=["starlette", "fastapi"]
)


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    return mount_table()


@starlette_apps
def test_routes_on_the_path_below_the_prefix(asgi_sync_client: httpx.Client, prefix: str) -> None:
    response = asgi_sync_client.get(f"{prefix}/where")

    assert response.status_code == 200
    assert response.json()["path"] == f"{prefix}/where"  # request.url.path is the full path
    assert response.json()["root_path"] == prefix


@starlette_apps
def test_url_for_carries_the_prefix_and_url_path_for_does_not(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/where")

    assert response.json()["url_for"] == f"http://testserver{prefix}/where"
    assert response.json()["url_path_for"] == "/where"  # the app's own, prefix-less path


@starlette_apps
def test_redirect_slashes_stays_under_the_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/slash")

    assert response.status_code == 307
    assert response.headers["location"] == f"http://testserver{prefix}/slash/"


@starlette_apps
def test_lifespan_state_reaches_the_apps_requests(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/greeting")

    assert response.json() == {"greeting": f"hello from {prefix[1:]}'s lifespan"}


@starlette_apps
def test_lifespan_starts_before_requests_and_shuts_down_on_exit(prefix: str) -> None:
    name = prefix[1:]
    LIFESPAN_EVENTS.clear()
    with dispatch_sync(mount_table()) as client:
        client.get(f"{prefix}/where")
        events_while_serving = list(LIFESPAN_EVENTS)

    assert f"{name} startup" in events_while_serving
    assert f"{name} shutdown" not in events_while_serving
    assert f"{name} shutdown" in LIFESPAN_EVENTS


@pytest.mark.anyio
@starlette_apps
async def test_lifespan_state_reaches_the_async_clients_requests(
    anyio_backend: str, prefix: str
) -> None:
    apps = {key: app for key, app in mount_table().items() if key in ("/starlette", "/fastapi")}
    async with dispatch(apps) as client:
        response = await client.get(f"{prefix}/greeting")

    assert response.json() == {"greeting": f"hello from {prefix[1:]}'s lifespan"}


def test_starlette_session_round_trips_in_a_cookie_at_the_configured_path(
    asgi_sync_client: httpx.Client,
) -> None:
    first = asgi_sync_client.get("/starlette/visits")
    second = asgi_sync_client.get("/starlette/visits")

    assert (first.json(), second.json()) == ({"visits": 1}, {"visits": 2})
    cookie = set_cookie(first, "session")
    assert cookie["path"] == "/starlette"  # SessionMiddleware(path=...); the default is "/"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "lax"
    assert not cookie["secure"]


def test_fastapi_docs_page_loads_the_openapi_schema_under_the_prefix(
    asgi_sync_client: httpx.Client,
) -> None:
    response = asgi_sync_client.get("/fastapi/docs")

    assert response.status_code == 200
    assert "url: '/fastapi/openapi.json'" in response.text


def test_fastapi_openapi_servers_name_the_prefix(asgi_sync_client: httpx.Client) -> None:
    schema = asgi_sync_client.get("/fastapi/openapi.json").json()

    assert schema["servers"] == [{"url": "/fastapi"}]
    assert "/where" in schema["paths"]


def test_fastapi_root_path_argument_overwrites_the_prefix_instead_of_appending() -> None:
    # FastAPI(root_path=...) sets scope["root_path"] to its value, discarding the prefix
    # the server (here, an outer mount) already put there, so nothing routes. Do not pass
    # root_path= to FastAPI: the Dispatcher (or the server's --root-path) sets it.
    with pytest.warns(UserWarning, match="root_path"):  # FastAPIDeprecationWarning
        app = FastAPI(root_path="/api")

    @app.get("/where")
    async def where() -> str:
        return "found"

    with dispatch_sync({"/outer": {"/api": app}}) as client:
        nested = client.get("/outer/api/where")
    with dispatch_sync({"/api": app}) as client:
        alone = client.get("/api/where")

    assert nested.status_code == 404
    assert alone.text == '"found"'  # only right while root_path= equals the whole prefix
