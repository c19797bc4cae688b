"""Which kind of app a mount holds (ASGI 3, ASGI 2, WSGI), and running each kind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application
from flask import Flask, request, url_for
from httpx_ws import aconnect_ws
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from pytest_asgi_dispatch import Dispatcher, MountError, dispatch, dispatch_sync

Scope = dict[str, Any]


async def respond(send: Any, text: str) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": text.encode()})


# ASGI apps.


async def asgi3_function(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await respond(send, f"asgi3 function at {scope['root_path']}")


class ASGI3Instance:
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await respond(send, f"asgi3 instance at {scope['root_path']}")


class SyncCallReturningCoroutine:
    """A middleware shape: a plain `__call__` that hands back the inner app's coroutine."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        return self.app(scope, receive, send)


class ASGI2App:
    """The single-callable class style: `App(scope)` is the instance, awaited per request."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        if self.scope["type"] == "http":
            await respond(send, f"asgi2 at {self.scope['root_path']}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app", "answer"),
    [
        pytest.param(asgi3_function, "asgi3 function at /x", id="asgi3-function"),
        pytest.param(ASGI3Instance(), "asgi3 instance at /x", id="asgi3-instance"),
        pytest.param(
            SyncCallReturningCoroutine(asgi3_function),
            "asgi3 function at /x",
            id="asgi3-sync-call-returning-coroutine",
        ),
        pytest.param(ASGI2App, "asgi2 at /x", id="asgi2-class"),
    ],
)
async def test_asgi_apps_are_detected_and_served(app: Any, answer: str) -> None:
    async with dispatch({"/x": app}) as client:
        response = await client.get("/x/")

    assert response.text == answer


# Classes whose instances are awaitable: `await Cls(scope, receive, send)` is ASGI 3.


class Greeting(HTTPEndpoint):
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"endpoint at {request.scope['root_path']}")


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"echo {data} at {websocket.scope['root_path']}")


@pytest.mark.anyio
async def test_starlette_http_endpoint_class_is_served_as_asgi3() -> None:
    # issue 9 item 9: taken for ASGI 2, it failed with TypeError (Greeting(scope) call).
    async with dispatch({"/greet": Greeting}) as client:
        response = await client.get("/greet/")

    assert response.status_code == 200
    assert response.text == "endpoint at /greet"


@pytest.mark.anyio
async def test_starlette_websocket_endpoint_class_is_served_as_asgi3() -> None:
    async with dispatch({"/ws": Echo}) as client, aconnect_ws("/ws/", client) as ws:
        await ws.send_text("hi")
        answer = await ws.receive_text()

    assert answer == "echo hi at /ws"


# WSGI apps.

flask_app = Flask("billing")


@flask_app.get("/invoices")
def invoices() -> dict[str, str]:
    return {"url": url_for("invoices"), "script_root": request.script_root}


@flask_app.post("/upload")
def upload() -> dict[str, Any]:
    data = request.get_data()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def plain_wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"plain wsgi at {environ['SCRIPT_NAME']} for {environ['PATH_INFO']}".encode()]


def strict_wsgi_upload(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Reads exactly CONTENT_LENGTH bytes, as PEP 3333 says to (Django does the same)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()]


def test_flask_app_is_detected_as_wsgi_and_builds_urls_under_its_prefix() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.get("/billing/invoices")

    assert response.json() == {"url": "/billing/invoices", "script_root": "/billing"}


def test_django_wsgi_handler_is_detected_as_wsgi() -> None:
    with dispatch_sync({"/shop": get_wsgi_application()}) as client:
        response = client.get("/shop/where/")

    seen = response.json()
    assert (seen["path"], seen["path_info"]) == ("/shop/where/", "/where/")
    assert (seen["script_name"], seen["reverse"]) == ("/shop", "/shop/where/")


def test_plain_wsgi_function_is_detected_as_wsgi() -> None:
    with dispatch_sync({"/plain": plain_wsgi}) as client:
        response = client.get("/plain/page")

    assert response.text == "plain wsgi at /plain for /page"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_wsgi_app_on_trio_fails_with_a_clear_message(anyio_backend: str) -> None:
    async with dispatch({"/billing": flask_app}) as client:
        with pytest.raises(RuntimeError, match=r"'/billing'.*asyncio only"):
            await client.get("/billing/invoices")


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """The body as a generator, so that httpx sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_upload_reaches_flask_whole() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.post("/billing/upload", content=chunks(data, 65536))

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.json() == {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_chunked_upload_reaches_a_wsgi_app_that_reads_content_length_whole() -> None:
    data = b"0123456789abcdef" * 10000
    with dispatch_sync({"/strict": strict_wsgi_upload}) as client:
        response = client.post("/strict/", content=chunks(data, 7000))

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.text == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def test_upload_with_content_length_reaches_flask_whole() -> None:
    data = b"x" * 300_000
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.post("/billing/upload", content=data)

    assert response.json() == {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# Not apps.


class NotCallable:
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(NotCallable(), id="instance-without-call"),
        pytest.param(None, id="none"),
        pytest.param(b"app", id="bytes"),
        pytest.param(lambda: None, id="callable-taking-no-arguments"),
        pytest.param(lambda a, b, c, d: None, id="callable-taking-four-arguments"),
    ],
)
def test_value_that_is_not_an_app_raises_mount_error_naming_the_key(value: object) -> None:
    with pytest.raises(MountError, match=r"mount '/billing'.*not an ASGI 3, ASGI 2 or WSGI app"):
        Dispatcher({"/billing": value})
