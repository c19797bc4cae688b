"""Load: a thousand requests at once over three frameworks, and nothing crosses over.

Every request carries a token of its own; its response must bring that token back in
its body, a header and a cookie, and must come from the app, with the lifespan state,
that its path was mounted for.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from flask import Flask, jsonify
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch, dispatch_sync

REQUESTS = 1_000
FRAMEWORKS = ("starlette", "fastapi", "flask")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Flask runs through a2wsgi, which needs asyncio


def answer(framework: str, token: str, lifespan: str | None) -> dict[str, Any]:
    return {"framework": framework, "token": token, "lifespan": lifespan}


def starlette_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"nonce": f"starlette-{uuid.uuid4()}"}

    async def echo(request: Request) -> JSONResponse:
        token = request.query_params["token"]
        await anyio.sleep(0)  # let the other requests interleave with this one
        body = answer("starlette", token, request.state.nonce)
        response = JSONResponse(body, headers={"x-token": request.headers["x-token"]})
        response.set_cookie("token", token)
        return response

    return Starlette(routes=[Route("/echo", echo)], lifespan=lifespan)


def fastapi_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        yield {"nonce": f"fastapi-{uuid.uuid4()}"}

    app = FastAPI(lifespan=lifespan)

    @app.get("/echo")
    async def echo(request: FastAPIRequest, token: str) -> JSONResponse:
        await anyio.sleep(0)
        body = answer("fastapi", token, request.state.nonce)
        response = JSONResponse(body, headers={"x-token": request.headers["x-token"]})
        response.set_cookie("token", token)
        return response

    return app


def flask_app() -> Flask:
    app = Flask("load")

    @app.get("/echo")
    def echo() -> Any:
        token = flask_request.args["token"]
        response = jsonify(answer("flask", token, None))
        response.headers["x-token"] = flask_request.headers["x-token"]
        response.set_cookie("token", token)
        return response

    return app


def mounts() -> dict[str, Any]:
    return {"/starlette": starlette_app(), "/fastapi": fastapi_app(), "/flask": flask_app()}


def check(response: httpx.Response, framework: str, token: str, nonces: dict[str, str]) -> None:
    """The response is this request's own, from the app its path is mounted for."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["framework"] == framework
    assert body["token"] == token
    assert response.headers["x-token"] == token
    [cookie] = response.headers.get_list("set-cookie")
    assert cookie.startswith(f"token={token};")
    if framework == "flask":
        assert body["lifespan"] is None
    else:
        nonces.setdefault(framework, body["lifespan"])
        assert body["lifespan"] == nonces[framework]
        assert body["lifespan"].startswith(f"{framework}-")


def request_for(number: int) -> tuple[str, str, dict[str, str], dict[str, str]]:
    framework = FRAMEWORKS[number % len(FRAMEWORKS)]
    token = f"{number}-{uuid.uuid4()}"
    return framework, token, {"token": token}, {"x-token": token}


@pytest.mark.anyio
async def test_a_thousand_concurrent_requests_over_three_apps_never_cross_over() -> None:
    nonces: dict[str, str] = {}
    checked = 0

    async def one(number: int) -> None:
        nonlocal checked
        framework, token, params, headers = request_for(number)
        response = await client.get(f"/{framework}/echo", params=params, headers=headers)
        check(response, framework, token, nonces)
        checked += 1

    with anyio.fail_after(60):
        async with dispatch(mounts()) as client, anyio.create_task_group() as group:
            for number in range(REQUESTS):
                group.start_soon(one, number)

    assert checked == REQUESTS
    assert set(nonces) == {"starlette", "fastapi"}


def test_a_thousand_requests_from_eight_threads_on_one_sync_client_never_cross_over() -> None:
    nonces: dict[str, str] = {}

    def one(number: int) -> None:
        framework, token, params, headers = request_for(number)
        response = client.get(f"/{framework}/echo", params=params, headers=headers)
        check(response, framework, token, nonces)

    def load() -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(REQUESTS)))

    with dispatch_sync(mounts(), timeout=30) as client:
        within(60, load)

    assert set(nonces) == {"starlette", "fastapi"}


def within(seconds: float, function: Callable[[], None]) -> None:
    """Run `function` in a daemon thread: a deadlock fails the test instead of hanging CI."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"the requests did not finish within {seconds} s: a deadlock?")
    if outcome[0] is not None:
        raise outcome[0]
