"""`client_address=(host, port)`: the ASGI `client` of every request, as each framework reads it.

On the sync client's inline path (Flask and Django on the test's thread) and on the
event loop alike; the plugin's fixtures take it from the `asgi_client_address` ini option.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import flask
import pytest
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch, dispatch_sync

ADDRESS = ("203.0.113.7", 50123)  # RFC 5737's documentation range


def django_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"address": request.META["REMOTE_ADDR"]})


urlpatterns = [path("address/", django_view)]


@pytest.fixture(autouse=True)
def django_urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__):
        yield


def flask_app() -> flask.Flask:
    app = flask.Flask("addressed")
    app.add_url_rule("/address", "address", lambda: {"address": flask.request.remote_addr})
    return app


async def starlette_view(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"address": request.client.host, "port": request.client.port})


def table() -> dict[str, Any]:
    return {
        "/django": get_asgi_application(),
        "/flask": flask_app(),
        "/starlette": Starlette(routes=[Route("/address", starlette_view)]),
    }


URLS = {"django": "/django/address/", "flask": "/flask/address", "starlette": "/starlette/address"}


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_the_sync_client_sends_the_address(url: str) -> None:
    with dispatch_sync(table(), client_address=ADDRESS) as client:
        response = client.get(url)

    assert response.json()["address"] == ADDRESS[0]


def test_starlette_sees_the_port_too() -> None:
    with dispatch_sync(table(), client_address=ADDRESS) as client:
        response = client.get("/starlette/address")

    assert response.json() == {"address": ADDRESS[0], "port": ADDRESS[1]}


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_without_it_requests_come_from_the_loopback_address(url: str) -> None:
    with dispatch_sync(table()) as client:
        response = client.get(url)

    assert response.json()["address"] == "127.0.0.1"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # Django and a2wsgi: asyncio only
@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
async def test_the_async_client_sends_the_address(url: str) -> None:
    async with dispatch(table(), client_address=ADDRESS) as client:
        response = await client.get(url)

    assert response.json()["address"] == ADDRESS[0]


@pytest.mark.anyio
async def test_the_async_client_sends_the_address_to_starlette_on_both_backends() -> None:
    async with dispatch(table(), client_address=ADDRESS) as client:
        response = await client.get("/starlette/address")

    assert response.json() == {"address": ADDRESS[0], "port": ADDRESS[1]}
