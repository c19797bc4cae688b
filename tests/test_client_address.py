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
from tests.plugin_support import APPS_FIXTURE, ASYNCIO_ONLY, make_project, run

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


# --- the plugin's fixtures: asgi_client_address -----------------------------------------

ADDRESS_TESTS = """
import flask
import pytest


def test_sync(asgi_sync_client):
    assert asgi_sync_client.get("/api/client").json() == {CLIENT}
    assert asgi_sync_client.get("/billing/client").json() == {"address": "{HOST}"}


@pytest.mark.anyio
async def test_async(asgi_client):
    assert (await asgi_client.get("/api/client")).json() == {CLIENT}
"""

ADDRESS_APPS = """
import flask
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def client(request):
    return JSONResponse({"address": request.client.host, "port": request.client.port})


api = Starlette(routes=[Route("/client", client)])
billing = flask.Flask("billing")
billing.add_url_rule("/client", "client", lambda: {"address": flask.request.remote_addr})
"""


@pytest.mark.parametrize(
    ("option", "client"),
    [
        pytest.param("asgi_client_address = 203.0.113.7:50123\n", ("203.0.113.7", 50123), id="v4"),
        pytest.param("asgi_client_address = [2001:db8::7]:8\n", ("2001:db8::7", 8), id="v6"),
        pytest.param("", ("127.0.0.1", 123), id="default"),
    ],
)
def test_the_ini_option_sets_the_fixtures_client_address(
    pytester: pytest.Pytester, option: str, client: tuple[str, int]
) -> None:
    make_project(pytester, ini=option, conftest=APPS_FIXTURE + ASYNCIO_ONLY)
    pytester.makepyfile(apps=ADDRESS_APPS)
    expected = repr({"address": client[0], "port": client[1]})
    pytester.makepyfile(
        test_it=ADDRESS_TESTS.replace("{CLIENT}", expected).replace("{HOST}", client[0])
    )

    run(pytester).assert_outcomes(passed=2)


@pytest.mark.parametrize("value", ["203.0.113.7", "host:port", "::1:80", "[::1]:99999", ":80"])
def test_a_malformed_client_address_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, value: str
) -> None:
    make_project(pytester, ini=f"asgi_client_address = {value}\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    quoted = value.replace("[", "[[]")  # fnmatch's way to match a bracket
    result.stderr.fnmatch_lines(
        [f"ERROR: pytest-asgi-dispatch: asgi_client_address = '{quoted}' is not HOST:PORT;*"]
    )
