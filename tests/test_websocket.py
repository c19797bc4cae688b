"""WebSockets through the dispatcher: Starlette, FastAPI and Channels apps.

Through the client library's websocket API (the `websockets` fixture): httpx-ws on httpx,
httpx2's own (`client.websocket()`'s `aconnect_ws`) on httpx2.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import path
from fastapi import FastAPI
from fastapi import WebSocket as FastAPIWebSocket
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from pytest_asgi_dispatch import dispatch, dispatch_sync
from pytest_asgi_dispatch._client_library import ClientLibrary
from tests.conftest import WebSockets

# Every wait in these tests is bounded by this many seconds.
TIMEOUT = 5.0


class Boom(Exception):
    """What the apps raise on purpose."""


class Apps:
    """A mount table of websocket apps, with what they saw of each disconnect."""

    def __init__(self) -> None:
        self.disconnects: list[tuple[str, int]] = []
        self.table: dict[str, Any] = {
            "/live": self.starlette(),
            "/chat": self.fastapi(),
            "/shop": self.channels(),
            "/billing": Flask("billing"),
            "/raw": self.raw,
        }

    def starlette(self) -> Starlette:
        async def echo(websocket: WebSocket) -> None:
            await websocket.accept(subprotocol=(websocket.scope["subprotocols"] or [None])[0])
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    self.disconnects.append(("starlette", message["code"]))
                    return
                if message.get("bytes") is not None:
                    await websocket.send_bytes(message["bytes"])
                elif message["text"] == "close":
                    await websocket.close(4001, "bye")
                    return
                elif message["text"] == "boom":
                    raise Boom("the starlette endpoint failed")
                else:
                    root_path = websocket.scope["root_path"]
                    await websocket.send_text(f"{message['text']} at {root_path}")

        async def where(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_json(
                {
                    "path": websocket.scope["path"],
                    "root_path": websocket.scope["root_path"],
                    "url_for": str(websocket.url_for("where")),
                }
            )
            await websocket.close()

        async def refuse(websocket: WebSocket) -> None:
            await websocket.close(4403, "members only")

        async def deny(websocket: WebSocket) -> None:
            await websocket.send_denial_response(PlainTextResponse("log in first", 401))

        async def fail_early(websocket: WebSocket) -> None:
            raise Boom("failed before accepting")

        return Starlette(
            routes=[
                WebSocketRoute("/echo", echo),
                WebSocketRoute("/where", where, name="where"),
                WebSocketRoute("/refuse", refuse),
                WebSocketRoute("/deny", deny),
                WebSocketRoute("/fail-early", fail_early),
            ]
        )

    def fastapi(self) -> FastAPI:
        app = FastAPI()

        @app.websocket("/rooms/{room}")
        async def room(websocket: FastAPIWebSocket, room: str) -> None:
            await websocket.accept()
            text = await websocket.receive_text()
            await websocket.send_json({"room": room, "said": text})
            await websocket.close()

        return app

    def channels(self) -> URLRouter:
        disconnects = self.disconnects

        class Echo(AsyncWebsocketConsumer):  # type: ignore[misc]
            async def connect(self) -> None:
                if self.scope["url_route"]["kwargs"]["room"] == "closed":
                    await self.close(code=4004)
                else:
                    await self.accept()

            async def receive(
                self, text_data: str | None = None, bytes_data: bytes | None = None
            ) -> None:
                if bytes_data is not None:
                    await self.send(bytes_data=bytes_data[::-1])
                elif text_data == "close":
                    await self.close(code=4002)
                elif text_data == "boom":
                    raise Boom("the consumer failed")
                else:
                    room = self.scope["url_route"]["kwargs"]["room"]
                    await self.send(text_data=f"{text_data} in {room} at {self.scope['root_path']}")

            async def disconnect(self, code: int) -> None:
                disconnects.append(("channels", code))

        return URLRouter([path("ws/<str:room>/", Echo.as_asgi())])

    async def raw(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Plain ASGI: '/raw/silent' never answers, '/raw/returns' accepts and returns."""
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        if scope["path"] == "/raw/returns":
            await send({"type": "websocket.accept"})
            return
        await receive()  # waits for the client to leave, without accepting


@pytest.fixture
def apps() -> Apps:
    return Apps()


@pytest.fixture
def sync_client(apps: Apps) -> Iterator[Any]:
    with dispatch_sync(apps.table) as client:
        yield client


async def send_until_closed(
    websockets: WebSockets, client: httpx.AsyncClient, url: str, text: str, closes: list[Any]
) -> None:
    """Send `text`, then wait for the app to close the websocket; keep the close."""
    async with websockets.aconnect_ws(url, client) as ws:
        await ws.send_text(text)
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            await ws.receive_text(TIMEOUT)
        closes.append(closed.value)


def send_until_closed_sync(
    websockets: WebSockets, client: httpx.Client, url: str, text: str, closes: list[Any]
) -> None:
    with websockets.connect_ws(url, client) as ws:
        ws.send_text(text)
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            ws.receive_text(TIMEOUT)
        closes.append(closed.value)


def skip_channels_on_trio(anyio_backend: str) -> None:
    if anyio_backend == "trio":
        pytest.skip("Channels runs on asyncio only")


# Starlette and FastAPI, async client, both anyio backends.


@pytest.mark.anyio
async def test_text_frames_reach_a_starlette_endpoint_under_its_prefix(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/echo", client) as ws:
        await ws.send_text("hello")
        assert await ws.receive_text(TIMEOUT) == "hello at /live"


@pytest.mark.anyio
async def test_the_endpoint_sees_the_full_path_and_root_path_like_http(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/where", client) as ws:
        assert await ws.receive_json(TIMEOUT) == {
            "path": "/live/where",
            "root_path": "/live",
            "url_for": "ws://testserver/live/where",
        }


@pytest.mark.anyio
async def test_binary_frames_pass_byte_exact_even_larger_than_one_read(
    apps: Apps, websockets: WebSockets
) -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB, four times httpx-ws's read size
    async with (
        dispatch(apps.table) as client,
        websockets.aconnect_ws("/live/echo", client, max_message_size_bytes=len(payload)) as ws,
    ):
        await ws.send_bytes(payload)
        assert await ws.receive_bytes(TIMEOUT) == payload


@pytest.mark.anyio
async def test_a_fastapi_websocket_route_gets_its_path_parameters(
    apps: Apps, websockets: WebSockets
) -> None:
    async with (
        dispatch(apps.table) as client,
        websockets.aconnect_ws("/chat/rooms/lobby", client) as ws,
    ):
        await ws.send_text("hi")
        assert await ws.receive_json(TIMEOUT) == {"room": "lobby", "said": "hi"}


@pytest.mark.anyio
async def test_the_apps_close_code_and_reason_reach_the_client(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/echo", client) as ws:
        await ws.send_text("close")
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            await ws.receive_text(TIMEOUT)
    assert (closed.value.code, closed.value.reason) == (4001, "bye")


@pytest.mark.anyio
async def test_the_clients_close_code_reaches_the_app(apps: Apps, websockets: WebSockets) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/echo", client) as ws:
        await ws.close(4000)
    assert apps.disconnects == [("starlette", 4000)]


@pytest.mark.anyio
async def test_leaving_the_block_tells_the_app_the_client_closed_normally(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/echo", client):
        pass
    assert apps.disconnects == [("starlette", 1000)]


@pytest.mark.anyio
async def test_an_app_returning_after_accept_closes_with_1000(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/raw/returns", client) as ws:
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            await ws.receive_text(TIMEOUT)
    assert closed.value.code == 1000


@pytest.mark.anyio
async def test_the_negotiated_subprotocol_reaches_the_client(
    apps: Apps, websockets: WebSockets
) -> None:
    async with (
        dispatch(apps.table) as client,
        websockets.aconnect_ws("/live/echo", client, subprotocols=["chat.v2", "chat.v1"]) as ws,
    ):
        assert ws.subprotocol == "chat.v2"


@pytest.mark.anyio
async def test_a_ping_is_answered_with_a_pong(apps: Apps, websockets: WebSockets) -> None:
    async with dispatch(apps.table) as client, websockets.aconnect_ws("/live/echo", client) as ws:
        pong = await ws.ping()
        with anyio.fail_after(TIMEOUT):
            await pong.wait()


@pytest.mark.anyio
async def test_a_close_before_accept_raises_websocket_disconnect_with_the_apps_code(
    apps: Apps,
    websockets: WebSockets,
) -> None:
    async with dispatch(apps.table) as client:
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            async with websockets.aconnect_ws("/live/refuse", client):
                pass  # pragma: no cover
    assert (closed.value.code, closed.value.reason) == (4403, "members only")


@pytest.mark.anyio
async def test_the_apps_denial_response_reaches_the_client(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client:
        with pytest.raises(websockets.WebSocketUpgradeError) as denied:
            async with websockets.aconnect_ws("/live/deny", client):
                pass  # pragma: no cover
    assert (denied.value.response.status_code, denied.value.response.text) == (401, "log in first")


@pytest.mark.anyio
async def test_an_unmounted_path_is_refused_with_a_404_listing_the_routes(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client:
        with anyio.fail_after(TIMEOUT), pytest.raises(websockets.WebSocketUpgradeError) as denied:
            async with websockets.aconnect_ws("/nowhere", client):
                pass  # pragma: no cover
    response = denied.value.response
    assert response.status_code == 404
    assert "No app is mounted for /nowhere" in response.text
    assert "  /live\n" in response.text


@pytest.mark.anyio
async def test_an_app_that_never_accepts_fails_within_the_clients_timeout(
    apps: Apps, websockets: WebSockets, http: ClientLibrary
) -> None:
    async with dispatch(apps.table, timeout=0.2) as client:
        with anyio.fail_after(TIMEOUT), pytest.raises(http.ReadTimeout, match="call accept"):
            async with websockets.aconnect_ws("/raw/silent", client):
                pass  # pragma: no cover


@pytest.mark.anyio
async def test_an_app_exception_closes_with_1011_then_is_raised_as_the_block_exits(
    apps: Apps,
    websockets: WebSockets,
) -> None:
    closes: list[Any] = []
    async with dispatch(apps.table) as client:
        with pytest.raises(Boom, match="the starlette endpoint failed"):
            await send_until_closed(websockets, client, "/live/echo", "boom", closes)
    assert (closes[0].code, closes[0].reason) == (1011, "Boom: the starlette endpoint failed")


@pytest.mark.anyio
async def test_an_app_exception_before_accept_propagates_from_the_connect(
    apps: Apps, websockets: WebSockets
) -> None:
    async with dispatch(apps.table) as client:
        with pytest.raises(Boom, match="failed before accepting"):
            async with websockets.aconnect_ws("/live/fail-early", client):
                pass  # pragma: no cover


@pytest.mark.anyio
async def test_without_raise_app_exceptions_a_failure_is_only_a_close_or_a_500(
    apps: Apps,
    websockets: WebSockets,
) -> None:
    async with dispatch(apps.table, raise_app_exceptions=False) as client:
        async with websockets.aconnect_ws("/live/echo", client) as ws:
            await ws.send_text("boom")
            with pytest.raises(websockets.WebSocketDisconnect) as closed:
                await ws.receive_text(TIMEOUT)
        with pytest.raises(websockets.WebSocketUpgradeError) as denied:
            async with websockets.aconnect_ws("/live/fail-early", client):
                pass  # pragma: no cover
    assert closed.value.code == 1011
    assert denied.value.response.status_code == 500


# Django Channels, async client (asyncio only).

# A consumer closes Django's stale database connections before each message (Channels'
# `aclose_old_connections`), which pytest-django allows only in tests with a database.
CHANNELS_DB = pytest.mark.django_db(transaction=True)


@CHANNELS_DB
@pytest.mark.anyio
async def test_a_channels_consumer_echoes_text_under_its_prefix(
    apps: Apps,
    anyio_backend: str,
    websockets: WebSockets,
) -> None:
    skip_channels_on_trio(anyio_backend)
    async with (
        dispatch(apps.table) as client,
        websockets.aconnect_ws("/shop/ws/lobby/", client) as ws,
    ):
        await ws.send_text("hello")
        assert await ws.receive_text(TIMEOUT) == "hello in lobby at /shop"


@CHANNELS_DB
@pytest.mark.anyio
async def test_a_channels_consumer_gets_binary_frames(
    apps: Apps, anyio_backend: str, websockets: WebSockets
) -> None:
    skip_channels_on_trio(anyio_backend)
    async with (
        dispatch(apps.table) as client,
        websockets.aconnect_ws("/shop/ws/lobby/", client) as ws,
    ):
        await ws.send_bytes(b"\x00\x01\xff")
        assert await ws.receive_bytes(TIMEOUT) == b"\xff\x01\x00"


@CHANNELS_DB
@pytest.mark.anyio
async def test_close_codes_pass_both_ways_with_a_channels_consumer(
    apps: Apps,
    anyio_backend: str,
    websockets: WebSockets,
) -> None:
    skip_channels_on_trio(anyio_backend)
    async with dispatch(apps.table) as client:
        async with websockets.aconnect_ws("/shop/ws/lobby/", client) as ws:
            await ws.send_text("close")
            with pytest.raises(websockets.WebSocketDisconnect) as closed:
                await ws.receive_text(TIMEOUT)
        async with websockets.aconnect_ws("/shop/ws/lobby/", client) as ws:
            await ws.close(4010)
        with pytest.raises(websockets.WebSocketDisconnect) as refused:
            async with websockets.aconnect_ws("/shop/ws/closed/", client):
                pass  # pragma: no cover
    assert closed.value.code == 4002
    assert refused.value.code == 4004
    assert ("channels", 4010) in apps.disconnects


@CHANNELS_DB
@pytest.mark.anyio
async def test_a_channels_consumer_exception_is_raised(
    apps: Apps, anyio_backend: str, websockets: WebSockets
) -> None:
    skip_channels_on_trio(anyio_backend)
    closes: list[Any] = []
    async with dispatch(apps.table) as client:
        with pytest.raises(Boom, match="the consumer failed"):
            await send_until_closed(websockets, client, "/shop/ws/lobby/", "boom", closes)
    assert closes[0].code == 1011


# The sync client.


def test_the_sync_client_speaks_websocket_to_starlette(
    sync_client: Any, websockets: WebSockets
) -> None:
    with websockets.connect_ws("/live/echo", sync_client) as ws:
        ws.send_text("hello")
        assert ws.receive_text(TIMEOUT) == "hello at /live"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes(TIMEOUT) == b"\x00\xff"


@CHANNELS_DB
def test_the_sync_client_speaks_websocket_to_channels(
    sync_client: Any, websockets: WebSockets
) -> None:
    with websockets.connect_ws("/shop/ws/lobby/", sync_client) as ws:
        ws.send_text("hello")
        assert ws.receive_text(TIMEOUT) == "hello in lobby at /shop"


def test_the_sync_client_sees_close_codes_both_ways(
    apps: Apps, sync_client: Any, websockets: WebSockets
) -> None:
    with websockets.connect_ws("/live/echo", sync_client) as ws:
        ws.send_text("close")
        with pytest.raises(websockets.WebSocketDisconnect) as closed:
            ws.receive_text(TIMEOUT)
    with websockets.connect_ws("/live/echo", sync_client) as ws:
        ws.close(4000)
    assert closed.value.code == 4001
    assert apps.disconnects == [("starlette", 4000)]


def test_the_sync_client_is_refused_an_unmounted_path(
    sync_client: Any, websockets: WebSockets
) -> None:
    with (
        pytest.raises(websockets.WebSocketUpgradeError) as denied,
        websockets.connect_ws("/nowhere", sync_client),
    ):
        pass  # pragma: no cover
    assert denied.value.response.status_code == 404


def test_the_sync_client_raises_the_apps_exception_as_the_block_exits(
    sync_client: Any, websockets: WebSockets
) -> None:
    closes: list[Any] = []
    with pytest.raises(Boom):
        send_until_closed_sync(websockets, sync_client, "/live/echo", "boom", closes)
    assert closes[0].code == 1011


def test_the_sync_client_answers_httpx_ws_keepalive_pings(
    sync_client: Any, websockets: WebSockets
) -> None:
    with websockets.connect_ws("/live/echo", sync_client) as ws:
        assert ws.ping().wait(TIMEOUT)


# Without the extra.


def test_without_httpx_ws_a_websocket_request_names_the_extra_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["httpx_ws"] = None  # as if not installed
        from pytest_asgi_dispatch import dispatch_sync

        async def app(scope, receive, send):
            pass

        with dispatch_sync({"/": app}, http_client="httpx") as client:  # httpx-ws's path
            try:
                client.get("/", headers={"upgrade": "websocket", "connection": "upgrade"})
            except ImportError as exc:
                print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'pytest-asgi-dispatch[ws]'" in result.stdout
