"""Outbound calls between mounted apps: each client library x each caller kind x each target.

The callers (a sync Django view, a Flask view, an async FastAPI endpoint, a plain thread
a Flask view starts) call a target host with requests, httpx's `Client` or httpx's
`AsyncClient`; the targets are an ASGI app (FastAPI), a WSGI app (Flask) and Django, whose
view reads the test's `django_db` rows. This module is the URLconf of its Django site.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import fastapi
import flask
import httpx
import pytest
import requests
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path

from pytest_asgi_dispatch import dispatch_sync
from tests.djangoapp.models import Item

LIBRARIES = ("requests", "httpx", "httpx-async")
TARGETS = {"asgi": "asgi.internal", "wsgi": "wsgi.internal", "django": "django.internal"}
CALL_TIMEOUT = 10.0  # every call in these tests answers within milliseconds


def call_with(library: str, url: str) -> tuple[int, Any]:
    """`GET url` with `library`, from sync code: the status and the JSON body."""
    if library == "requests":
        response = requests.get(url, timeout=CALL_TIMEOUT)
        return response.status_code, response.json()
    if library == "httpx":
        with httpx.Client(timeout=CALL_TIMEOUT) as client:
            answer = client.get(url)
        return answer.status_code, answer.json()
    return asyncio.run(call_async(url))


async def call_async(url: str) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=CALL_TIMEOUT) as client:
        answer = await client.get(url)
    return answer.status_code, answer.json()


def answer(library: str, target: str) -> dict[str, Any]:
    status, body = call_with(library, f"http://{TARGETS[target]}/target/")
    return {"status": status, "body": body, "thread": threading.get_ident()}


# --- the targets ----------------------------------------------------------------------


def target_asgi() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/target/")
    async def target(request: fastapi.Request) -> dict[str, Any]:
        return {"served_by": "asgi", "host": request.headers["host"]}

    return app


def target_wsgi() -> flask.Flask:
    app = flask.Flask("target")

    @app.get("/target/")
    def target() -> dict[str, Any]:
        return {"served_by": "wsgi", "host": flask.request.host}

    return app


def django_target(request: HttpRequest) -> JsonResponse:
    names = sorted(Item.objects.values_list("name", flat=True))
    return JsonResponse(
        {"served_by": "django", "host": request.get_host(), "items": names},
    )


# --- the callers ----------------------------------------------------------------------


def django_caller(request: HttpRequest) -> JsonResponse:
    return JsonResponse(answer(request.GET["library"], request.GET["target"]))


def flask_caller() -> flask.Flask:
    app = flask.Flask("caller")

    @app.get("/call")
    def call() -> dict[str, Any]:
        return answer(flask.request.args["library"], flask.request.args["target"])

    @app.get("/thread")
    def in_a_thread() -> dict[str, Any]:
        library, target = flask.request.args["library"], flask.request.args["target"]
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(answer(library, target)))
        thread.start()
        thread.join(CALL_TIMEOUT)
        return result

    return app


def fastapi_caller() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/call")
    async def call(library: str, target: str) -> dict[str, Any]:
        if library == "httpx-async":  # on the Dispatcher's loop
            status, body = await call_async(f"http://{TARGETS[target]}/target/")
            return {"status": status, "body": body}
        # A blocking call from async code belongs in a worker thread.
        return await anyio.to_thread.run_sync(answer, library, target)

    return app


urlpatterns = [path("call/", django_caller), path("target/", django_target)]


@pytest.fixture
def site() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"]):
        yield


def mounts() -> dict[str, object]:
    return {
        "/dj": get_asgi_application(),
        "/flask": flask_caller(),
        "/api": fastapi_caller(),
        TARGETS["asgi"]: target_asgi(),
        TARGETS["wsgi"]: target_wsgi(),
        TARGETS["django"]: get_asgi_application(),
    }


CALLERS = {
    "django-view": "/dj/call/",
    "flask-view": "/flask/call",
    "async-endpoint": "/api/call",
    "plain-thread": "/flask/thread",
}
# Where the Django target sees the test's rows: its code runs on the test's thread and
# connection when the caller runs there (the sync client's Django and WSGI apps) or on the
# event loop (Django's thread-sensitive code then goes back to the test's thread).
ROWS_VISIBLE = {
    ("django-view", "requests"),
    ("django-view", "httpx"),
    ("flask-view", "requests"),
    ("flask-view", "httpx"),
    ("async-endpoint", "httpx-async"),
    ("async-endpoint", "requests"),
    ("async-endpoint", "httpx"),
}


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("library", LIBRARIES)
def test_an_app_calls_another_mounted_app_over_http_in_process(
    library: str, caller: str, target: str
) -> None:
    rows_visible = target == "django" and (caller, library) in ROWS_VISIBLE
    if rows_visible:  # else Django reads on a connection of its own: SQLite's lock
        Item.objects.create(name="made by the test")
    with dispatch_sync(mounts(), outbound="mounted") as client:
        response = client.get(CALLERS[caller], params={"library": library, "target": target})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == 200
    assert result["body"]["served_by"] == target
    assert result["body"]["host"] == TARGETS[target]  # the Host header the caller sent
    if rows_visible:
        assert result["body"]["items"] == ["made by the test"]
