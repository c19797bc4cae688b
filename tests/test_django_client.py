"""`pytest_asgi_dispatch.django.Client`: Django's test client for every app of a mount table.

Here, in the root session (tests/djangoapp's settings), what the shop's suite
(tests/djangoshop, run by test_django_client_suite.py) does not show: a Django mount
under a prefix, environ keys, response conversion details, the running apps' life,
the errors. This module is also the URLconf of its own Django views (`urls` fixture).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.template import Context, Template
from django.test import override_settings
from django.urls import path, reverse
from flask import Flask, request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from pytest_asgi_dispatch import Dispatcher, MountError
from pytest_asgi_dispatch.django import Client, close_sites
from tests.djangoapp.models import Item

PROJECT = Path(__file__).resolve().parent.parent

# --- Django views, this module being the URLconf -------------------------------------


def meta(request: HttpRequest) -> JsonResponse:
    """What the view sees of its request."""
    keys = ("SCRIPT_NAME", "PATH_INFO", "REMOTE_ADDR", "SSL_CLIENT_S_DN", "HTTP_X_TRACE")
    return JsonResponse(
        {
            "meta": {key: request.META.get(key) for key in keys},
            "path": request.path,
            "reverse": reverse("meta"),
            "absolute": request.build_absolute_uri(reverse("meta")),
        }
    )


def greeting(request: HttpRequest) -> HttpResponse:
    return HttpResponse(Template("Hello {{ name }}").render(Context({"name": "Ann"})))


def to_meta(request: HttpRequest) -> HttpResponseBase:
    return redirect("meta")


def items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"names": sorted(Item.objects.values_list("name", flat=True))})


urlpatterns = [
    path("meta/", meta, name="meta"),
    path("greeting/", greeting),
    path("go/", to_meta),
    path("items/", items),
]


@pytest.fixture(autouse=True)
def urls() -> Iterator[None]:
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates"}]
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=templates):
        yield


@pytest.fixture(autouse=True)
def apps_shut_down_after_each_test() -> Iterator[None]:
    yield
    close_sites()


# --- the other apps ------------------------------------------------------------------

billing = Flask("billing")


@billing.route("/whoami", methods=["GET", "POST"])
def whoami() -> dict[str, Any]:
    return {
        "remote_addr": request.remote_addr,
        "root_path": request.root_path,
        "path": request.path,
        "trace": request.headers.get("X-Trace"),
        "host": request.host,
        "environ_has_custom_key": "SSL_CLIENT_S_DN" in request.environ,
        "form": request.form.to_dict(),
    }


def bare_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI app answering a 200 with no Content-Type, two cookies and a repeated header."""
    start_response(
        "200 OK",
        [
            ("Set-Cookie", "first=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
            ("Set-Cookie", "second=2; Max-Age=60; Secure"),
            ("Vary", "Accept"),
            ("Vary", "Cookie"),
            ("Content-Length", "4"),
        ],
    )
    return [b"\x00\xff\r\n"]


PRODUCED: list[int] = []


def slow_stream(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """A WSGI body of unknown length, produced chunk by chunk as it is read."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    for n in range(3):
        PRODUCED.append(n)
        yield f"part {n}\n".encode()


LIFESPAN_EVENTS: list[str] = []


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    LIFESPAN_EVENTS.append("startup")
    yield
    LIFESPAN_EVENTS.append("shutdown")


async def events(request: Request) -> PlainTextResponse:
    return PlainTextResponse(",".join(LIFESPAN_EVENTS))


async def client_address(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"client": [request.client.host, request.client.port]})


async def crash(request: Request) -> PlainTextResponse:
    raise LookupError("the api failed")


api = Starlette(
    routes=[Route("/events", events), Route("/client", client_address), Route("/crash", crash)],
    lifespan=lifespan,
)

SHOP = get_asgi_application()
TABLE = {
    "/shop": SHOP,
    "/billing": billing,
    "/bare": bare_wsgi,
    "/stream": slow_stream,
    "/api": api,
}


class ShopClient(Client):
    mounts = TABLE


# --- a Django mount under a prefix -------------------------------------------------------


def test_a_django_mount_under_a_prefix_gets_it_as_its_script_name() -> None:
    response = ShopClient().get("/shop/meta/")

    seen = response.json()
    assert seen["meta"]["SCRIPT_NAME"] == "/shop"
    assert seen["meta"]["PATH_INFO"] == "/meta/"
    assert seen["path"] == "/shop/meta/"
    assert seen["reverse"] == "/shop/meta/"
    assert seen["absolute"] == "http://testserver/shop/meta/"
    assert response.resolver_match.url_name == "meta"
    assert reverse("meta") == "/meta/"  # the test's own script prefix is left as it was


def test_a_redirect_under_the_prefix_is_followed_there() -> None:
    response = ShopClient().get("/shop/go/", follow=True)

    assert response.redirect_chain == [("/shop/meta/", 302)]
    assert response.json()["path"] == "/shop/meta/"


@pytest.mark.parametrize("handler", [get_asgi_application, get_wsgi_application])
def test_either_django_handler_runs_as_djangos_client_runs_it(handler: Any) -> None:
    client = Client(mounts={"/shop": handler()})

    response = client.get("/shop/greeting/")

    assert response.content == b"Hello Ann"
    assert response.context["name"] == "Ann"  # the template_rendered signal, on this thread
    assert [template.name for template in response.templates] == [None]
    assert type(response.wsgi_request).__name__ == "WSGIRequest"


@pytest.mark.django_db
def test_django_sees_the_rows_of_the_tests_transaction() -> None:
    Item.objects.create(name="teapot")

    assert ShopClient().get("/shop/items/").json() == {"names": ["teapot"]}


# --- environ keys ---------------------------------------------------------------------


def test_every_environ_key_reaches_django() -> None:
    response = ShopClient().get(
        "/shop/meta/", REMOTE_ADDR="198.51.100.4", SSL_CLIENT_S_DN="CN=alice", HTTP_X_TRACE="t1"
    )

    assert response.json()["meta"] == {
        "SCRIPT_NAME": "/shop",
        "PATH_INFO": "/meta/",
        "REMOTE_ADDR": "198.51.100.4",
        "SSL_CLIENT_S_DN": "CN=alice",
        "HTTP_X_TRACE": "t1",
    }


def test_environ_keys_with_an_http_meaning_reach_another_app() -> None:
    response = ShopClient().post(
        "/billing/whoami",
        {"amount": "3"},
        REMOTE_ADDR="198.51.100.4",
        HTTP_X_TRACE="t2",
        SERVER_NAME="billing.example",
        SERVER_PORT="8080",
        SSL_CLIENT_S_DN="CN=alice",
    )

    assert response.json() == {
        "remote_addr": "198.51.100.4",
        "root_path": "/billing",
        "path": "/whoami",
        "trace": "t2",
        "host": "billing.example:8080",
        "environ_has_custom_key": False,  # no HTTP meaning: cannot reach a non-Django app
        "form": {"amount": "3"},
    }
    assert response.wsgi_request.POST["amount"] == "3"  # the request the client sent
    assert response.resolver_match is None  # no Django view served it


def test_remote_addr_and_port_become_an_asgi_apps_client() -> None:
    client = ShopClient()

    assert client.get("/api/client").json() == {"client": ["127.0.0.1", 123]}
    answer = client.get("/api/client", REMOTE_ADDR="192.0.2.1", REMOTE_PORT="5000").json()
    assert answer == {"client": ["192.0.2.1", 5000]}


# --- another app's response as Django's ---------------------------------------------------


def test_another_apps_headers_cookies_and_body_come_back_as_they_were_sent() -> None:
    client = ShopClient()

    response = client.get("/bare/")

    assert response.content == b"\x00\xff\r\n"
    assert "Content-Type" not in response  # not Django's default text/html
    assert response["Vary"] == "Accept, Cookie"
    assert response["Content-Length"] == "4"
    assert response.cookies["first"]["expires"] == "Wed, 21 Oct 2037 07:28:00 GMT"
    assert response.cookies["second"]["max-age"] == "60"
    assert response.cookies["second"]["secure"] is True
    assert {name: morsel.value for name, morsel in client.cookies.items()} == {
        "first": "1",
        "second": "2",
    }


def test_a_body_of_unknown_length_streams_as_the_test_reads_it() -> None:
    PRODUCED.clear()

    response = ShopClient().get("/stream/")
    chunks = iter(response.streaming_content)
    first = next(chunks)

    assert (first, PRODUCED) == (b"part 0\n", [0])
    assert b"".join(chunks) == b"part 1\npart 2\n"
    response.close()


def test_an_asgi_apps_exception_reaches_the_test_or_becomes_its_500() -> None:
    client = ShopClient()
    with pytest.raises(LookupError, match="the api failed"):
        client.get("/api/crash")

    client.raise_request_exception = False

    assert client.get("/api/crash").status_code == 500


def test_a_path_no_mount_serves_gets_the_dispatchers_404() -> None:
    response = Client(mounts={"/billing": billing}).get("/nowhere/")

    assert response.status_code == 404
    assert b"No app is mounted for /nowhere/" in response.content


# --- the running apps -----------------------------------------------------------------


def test_an_apps_lifespan_starts_once_for_every_client_of_its_table() -> None:
    LIFESPAN_EVENTS.clear()

    ShopClient().get("/api/events")
    Client(mounts=dict(TABLE)).get("/api/events")  # another dict, the same apps

    assert ShopClient().get("/api/events").content == b"startup"


def test_close_sites_shuts_the_apps_down_and_the_next_request_starts_them() -> None:
    LIFESPAN_EVENTS.clear()
    ShopClient().get("/api/events")

    close_sites()

    assert LIFESPAN_EVENTS == ["startup", "shutdown"]
    assert ShopClient().get("/api/events").content == b"startup,shutdown,startup"


def test_a_request_for_django_starts_no_other_app() -> None:
    LIFESPAN_EVENTS.clear()

    ShopClient().get("/shop/meta/")

    assert LIFESPAN_EVENTS == []


def test_a_dispatcher_is_a_table_too() -> None:
    client = Client(mounts=Dispatcher({"/billing": billing}))

    assert client.get("/billing/whoami").json()["root_path"] == "/billing"


# --- errors ----------------------------------------------------------------------------


def test_a_bad_table_fails_on_construction_naming_the_mount() -> None:
    with pytest.raises(MountError, match="mount '/billing'"):
        Client(mounts={"/billing": 42})


def test_under_pytest_an_empty_ini_option_says_how_to_declare_a_table() -> None:
    with pytest.raises(MountError) as error:
        Client()

    assert "pass one, Client(mounts={" in str(error.value)
    assert "the `asgi_apps` ini option, which is empty" in str(error.value)


def test_outside_pytest_the_error_says_to_pass_mounts() -> None:
    script = textwrap.dedent(
        """
        import django
        from django.conf import settings

        settings.configure()
        django.setup()
        from pytest_asgi_dispatch.django import Client

        try:
            Client()
        except Exception as error:
            print(type(error).__name__, error)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.stdout.startswith("MountError no mount table"), result.stderr
    assert "Client(mounts={" in result.stdout
    assert "the `asgi_apps` ini option's table is the default" in result.stdout
