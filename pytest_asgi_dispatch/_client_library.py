"""httpx or httpx2: the names our transports take from the client library in use.

httpx2 is httpx's maintained fork: the same public names in a module of its own, over
its own httpcore2, and its own copy of httpx-ws's websockets. So one transport is
written against a `ClientLibrary`, which reads those names off the module, and each
class that must be a subclass of the library's own (a response stream, a transport) is
one class of ours "flavoured" with that library's base, made once per library. A
client's requests, responses and exceptions are then all of its own library: the two
are never mixed, and httpx2's `alias_httpx()`, which would make `import httpx` return
httpx2 in the whole process, is never called.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache, cached_property
from types import ModuleType
from typing import Any, Literal, NamedTuple, TypeVar

import httpcore
import httpx

__all__ = [
    "HTTPX",
    "HTTP_CLIENTS",
    "ClientLibrary",
    "HttpClient",
    "WebSocketNames",
    "client_library",
    "is_installed",
]

T = TypeVar("T")

HttpClient = Literal["auto", "httpx", "httpx2"]
# `auto` takes httpx2 when it is installed, as Starlette's TestClient does since 1.10.
HTTP_CLIENTS: tuple[HttpClient, ...] = ("auto", "httpx", "httpx2")


class ClientLibrary:
    """One client library's names, typed as httpx's (httpx2 has the same shape)."""

    def __init__(self, name: str, module: Any, core: Any) -> None:
        self.name = name
        self.module: ModuleType = module
        self.core: ModuleType = core  # httpcore or httpcore2: the websocket's errors
        self.AsyncClient: type[httpx.AsyncClient] = module.AsyncClient
        self.Client: type[httpx.Client] = module.Client
        self.Response: type[httpx.Response] = module.Response
        self.ByteStream: type[httpx.ByteStream] = module.ByteStream
        self.AsyncByteStream: type[httpx.AsyncByteStream] = module.AsyncByteStream
        self.SyncByteStream: type[httpx.SyncByteStream] = module.SyncByteStream
        self.AsyncBaseTransport: type[httpx.AsyncBaseTransport] = module.AsyncBaseTransport
        self.BaseTransport: type[httpx.BaseTransport] = module.BaseTransport
        self.RemoteProtocolError: type[httpx.RemoteProtocolError] = module.RemoteProtocolError
        self.ReadTimeout: type[httpx.ReadTimeout] = module.ReadTimeout
        self._flavours: dict[tuple[type, type], type] = {}

    def flavour(self, neutral: type[T], base: type) -> type[T]:
        """`neutral`'s code on this library's `base` class (whose isinstance checks the
        library makes), with `http` set to this library; made once and kept."""
        key = (neutral, base)
        flavoured = self._flavours.get(key)
        if flavoured is None:
            namespace = {"http": self, "__module__": neutral.__module__}
            namespace["__qualname__"] = f"{neutral.__qualname__}[{self.name}]"
            flavoured = self._flavours[key] = type(neutral.__name__, (neutral, base), namespace)
        return flavoured

    @cached_property
    def websockets(self) -> WebSocketNames:
        """The library's websocket names: httpx-ws's for httpx, httpx2's own for httpx2."""
        package, transport = (
            ("httpx_ws", "httpx_ws.transport")
            if self.name == "httpx"
            else ("httpx2.websockets", "httpx2.websockets._transport")
        )
        try:
            exceptions, streams = (
                importlib.import_module(package),
                importlib.import_module(transport),
            )
        except ImportError as exc:  # pragma: no cover - tested in a subprocess without them
            extra = "ws" if self.name == "httpx" else "httpx2"
            raise ImportError(
                f"a websocket through pytest-asgi-dispatch on {self.name} needs "
                f"{'httpx-ws' if self.name == 'httpx' else 'wsproto'}; install the extra: "
                f"pip install 'pytest-asgi-dispatch[{extra}]'"
            ) from exc
        return WebSocketNames(
            streams.ASGIWebSocketAsyncNetworkStream, exceptions.WebSocketDisconnect
        )

    def __repr__(self) -> str:
        return f"<ClientLibrary {self.name}>"


class WebSocketNames(NamedTuple):
    """What a websocket takes from the library: httpx-ws's classes, or httpx2's copies."""

    network_stream: type  # the ASGI network stream we build on (`_websocket`)
    WebSocketDisconnect: type[Exception]


HTTPX = ClientLibrary("httpx", httpx, httpcore)


def is_installed(http_client: str) -> bool:
    """Whether the library `http_client` names can be imported (`auto` always can)."""
    return http_client in ("auto", "httpx") or importlib.util.find_spec(http_client) is not None


@cache
def client_library(http_client: str = "auto") -> ClientLibrary:
    """The library that `http_client` names; `auto` is httpx2 when it is installed."""
    if http_client == "auto":
        http_client = "httpx2" if is_installed("httpx2") else "httpx"
    if http_client == "httpx":
        return HTTPX
    if http_client == "httpx2":
        try:
            httpx2 = importlib.import_module("httpx2")
            httpcore2 = importlib.import_module("httpcore2")
        except ImportError as exc:
            raise ImportError(
                "http_client='httpx2' needs httpx2; install the extra: "
                "pip install 'pytest-asgi-dispatch[httpx2]'"
            ) from exc
        return ClientLibrary("httpx2", httpx2, httpcore2)
    raise ValueError(
        f"http_client={http_client!r} is not a client library we know; "
        f"use one of {', '.join(map(repr, HTTP_CLIENTS))}"
    )
