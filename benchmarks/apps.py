"""The apps the benchmarks serve, importable by a uvicorn subprocess (`apps:small`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

Scope = dict[str, Any]

START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
BODY = {"type": "http.response.body", "body": b"ok"}


async def trivial(scope: Scope, receive: Any, send: Any) -> None:
    """The cheapest possible ASGI app: start and body, nothing else."""
    await send(START)
    await send(BODY)


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello, world")


# The Starlette app every client comparison serves: one route, a small response.
small = Starlette(routes=[Route("/hello", hello)])


def with_lifespan(name: str) -> Starlette:
    """A Starlette app whose lifespan puts its name in the state, as apps with pools do."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"name": name}

    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.name)

    return Starlette(routes=[Route("/whoami", whoami)], lifespan=lifespan)


first = with_lifespan("first")
second = with_lifespan("second")
third = with_lifespan("third")
