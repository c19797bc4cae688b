from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_asgi_dispatch._client_library import ClientLibrary, client_library


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each `@pytest.mark.anyio` test on both of anyio's backends."""
    return str(request.param)


@pytest.fixture(scope="session")
def http() -> ClientLibrary:
    """The client library the suite runs on, as `auto` picks it: httpx2 where it is
    installed (CI's httpx2 session, see noxfile.py), else httpx. Tests that name a
    library's own types (`http.RemoteProtocolError`, `http.Response`) take them from here.
    """
    return client_library("auto")


@dataclass(frozen=True)
class WebSockets:
    """A library's websocket API as the tests use it, by httpx-ws's names."""

    aconnect_ws: Callable[..., Any]  # (url, client, **options): an async context manager
    connect_ws: Callable[..., Any]  # the same for the sync client
    WebSocketDisconnect: type[Exception]
    WebSocketUpgradeError: type[Exception]


@pytest.fixture(scope="session")
def websockets(http: ClientLibrary) -> WebSockets:
    """`http`'s websockets: httpx-ws's functions on httpx, `client.websocket()` on httpx2."""
    if http.name == "httpx":
        httpx_ws = pytest.importorskip("httpx_ws")
        return WebSockets(
            httpx_ws.aconnect_ws,
            httpx_ws.connect_ws,
            httpx_ws.WebSocketDisconnect,
            httpx_ws.WebSocketUpgradeError,
        )
    errors = importlib.import_module("httpx2.websockets")
    return WebSockets(
        lambda url, client, **options: client.websocket(url, **options),
        lambda url, client, **options: client.websocket(url, **options),
        errors.WebSocketDisconnect,
        errors.WebSocketUpgradeError,
    )
