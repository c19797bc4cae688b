"""The streaming transport under dispatch(): bodies, headers, errors, timeouts, concurrency."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import pytest
from anyio.lowlevel import checkpoint
from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch, dispatch_sync
from pytest_asgi_dispatch._client_library import ClientLibrary

Scope = dict[str, Any]
Message = dict[str, Any]

pytestmark = pytest.mark.anyio

TWENTY_MB = 20 * 1024 * 1024

# httpx reads a stream through async generators nested in one another (aiter_lines over
# aiter_text over ... over the transport's chunks); closing the outer one leaves the
# inner ones to the garbage collector, which trio reports with a ResourceWarning.
reads_part_of_a_stream = pytest.mark.filterwarnings(
    "ignore:Async generator .* was garbage collected:ResourceWarning"
)


class AppError(Exception):
    """Raised by the apps under test, so that nothing else can be mistaken for it."""


async def echo_body(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the whole request body, then sends it back in 64 KiB chunks."""
    if scope["type"] != "http":
        return
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(parts)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for start in range(0, len(body), 65536):
        chunk = body[start : start + 65536]
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


# Streaming responses.


@reads_part_of_a_stream
async def test_endless_server_sent_events_stream_and_close() -> None:
    async def ticks() -> AsyncIterator[dict[str, str]]:
        n = 0
        while True:
            n += 1
            yield {"data": f"tick {n}"}
            await checkpoint()

    async def events(request: Request) -> EventSourceResponse:
        return EventSourceResponse(ticks())

    app = Starlette(routes=[Route("/events", events)])
    received: list[str] = []

    with anyio.fail_after(10):
        async with (
            dispatch({"/sse": app}) as client,
            client.stream("GET", "/sse/events") as response,
            aclosing(response.aiter_lines()) as lines,
        ):
            async for line in lines:
                if line.startswith("data:"):
                    received.append(line)
                if len(received) == 3:
                    break

    assert response.headers["content-type"].startswith("text/event-stream")
    assert received == ["data: tick 1", "data: tick 2", "data: tick 3"]


@reads_part_of_a_stream
async def test_starlette_streaming_response_ends_when_the_client_closes() -> None:
    log: list[str] = []

    async def numbers() -> AsyncIterator[bytes]:
        n = 0
        while True:
            n += 1
            yield f"{n}\n".encode()
            await checkpoint()

    async def endless(request: Request) -> StreamingResponse:
        # Starlette runs the background task once the response is over.
        over = BackgroundTask(log.append, "response over")
        return StreamingResponse(numbers(), media_type="text/plain", background=over)

    app = Starlette(routes=[Route("/numbers", endless)])

    with anyio.fail_after(10):
        async with dispatch({"/": app}) as client:
            async with (
                client.stream("GET", "/numbers") as response,
                aclosing(response.aiter_lines()) as lines,
            ):
                first = await anext(lines)
            after_close = list(log)

    assert first == "1"
    assert after_close == ["response over"]


def test_a_sync_response_left_open_is_closed_by_the_clients_exit_and_closes_quietly_later() -> None:
    # As when it is garbage-collected after the test (requests' raw body closes it then):
    # the portal is gone, and the exit has ended its app already.
    async def endless(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            await send({"type": "http.response.body", "body": b".", "more_body": True})
            await anyio.sleep(0.01)

    with dispatch_sync({"/": endless}) as client:
        response = client.send(client.build_request("GET", "/"), stream=True)
        assert next(response.iter_raw()) == b"."

    response.close()

    assert response.is_closed


@reads_part_of_a_stream
async def test_closing_a_response_early_sends_http_disconnect_to_the_app() -> None:
    received: list[str] = []

    async def endless(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})

        async def stream() -> None:
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"x", "more_body": True})
                    await checkpoint()
            except OSError:  # the ASGI spec's way to say the client left
                pass

        async def listen() -> None:
            while True:
                message = await receive()
                received.append(message["type"])
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        async with anyio.create_task_group() as group:
            group.start_soon(stream)
            group.start_soon(listen)

    with anyio.fail_after(10):
        async with dispatch({"/": endless}) as client:
            async with (
                client.stream("GET", "/") as response,
                aclosing(response.aiter_raw()) as chunks,
            ):
                assert (await anext(chunks)).startswith(b"x")
            after_close = list(received)

    assert after_close == ["http.request", "http.disconnect"]


async def test_chunks_reach_the_client_as_the_app_sends_them() -> None:
    sent_second = anyio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await sent_second.wait()  # the client must see "first" before the app goes on
        await send({"type": "http.response.body", "body": b"second"})

    with anyio.fail_after(10):
        async with (
            dispatch({"/": app}) as client,
            client.stream("GET", "/") as response,
            aclosing(response.aiter_raw()) as chunks,
        ):
            first = await anext(chunks)
            sent_second.set()
            rest = b"".join([chunk async for chunk in chunks])

    assert (first, rest) == (b"first", b"second")


# Bodies and headers.


async def test_twenty_megabyte_bodies_pass_byte_exact_async() -> None:
    data = os.urandom(TWENTY_MB)

    async with dispatch({"/echo": echo_body}) as client:
        response = await client.post("/echo/", content=data)

    assert len(response.content) == TWENTY_MB
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()


def test_twenty_megabyte_bodies_pass_byte_exact_sync() -> None:
    data = os.urandom(TWENTY_MB)

    with dispatch_sync({"/echo": echo_body}) as client:
        response = client.post("/echo/", content=data)

    assert len(response.content) == TWENTY_MB
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()


async def test_twenty_megabyte_response_sent_in_one_message_passes_byte_exact() -> None:
    data = os.urandom(TWENTY_MB)

    async def big(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await Response(data)(scope, receive, send)

    async with dispatch({"/": big}) as client:
        response = await client.get("/")

    assert response.headers["content-length"] == str(TWENTY_MB)
    assert response.content == data


async def test_request_body_is_streamed_to_an_asgi_app() -> None:
    received: list[tuple[bytes, bool]] = []
    first_arrived = anyio.Event()

    async def upload(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            received.append((message["body"], more))
            first_arrived.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await first_arrived.wait()  # deadlocks unless "first" reaches the app on its own
        yield b"second"

    with anyio.fail_after(10):
        async with dispatch({"/": upload}) as client:
            response = await client.post("/", content=body())

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert b"".join(part for part, _ in received) == b"firstsecond"
    assert received[0] == (b"first", True)
    assert received[-1][1] is False


def test_chunked_upload_from_the_sync_client_reaches_the_app_whole() -> None:
    data = os.urandom(1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    with dispatch_sync({"/echo": echo_body}) as client:
        response = client.post("/echo/", content=chunks())

    assert response.content == data


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_generator_upload_streams_from_the_tests_thread(backend: str) -> None:
    chunk_size, chunks = 64 * 1024, 32
    received: list[int] = []
    first_received = threading.Event()

    async def upload(request: Request) -> PlainTextResponse:
        async for chunk in request.stream():
            if chunk:
                received.append(len(chunk))
                first_received.set()
        return PlainTextResponse(str(sum(received)))

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    test_thread = threading.local()
    test_thread.name = "the test's"
    producers: list[tuple[int, str | None]] = []
    ahead_of_the_app: list[int] = []
    app_had_a_chunk_before_the_last: list[bool] = []

    def body() -> Iterator[bytes]:
        for n in range(chunks):
            producers.append((threading.get_ident(), getattr(test_thread, "name", None)))
            ahead_of_the_app.append(n - len(received))
            if n == chunks - 1:
                app_had_a_chunk_before_the_last.append(first_received.wait(timeout=2))
            yield b"x" * chunk_size

    with dispatch_sync({"/": app}, backend=backend) as client:
        response = client.post("/upload", content=body())

    assert response.text == str(chunk_size * chunks)
    assert app_had_a_chunk_before_the_last == [True]
    assert set(producers) == {(threading.get_ident(), "the test's")}
    assert max(ahead_of_the_app) <= 1  # chunk by chunk: bounded memory, whatever the size


async def test_repeated_set_cookie_headers_are_kept() -> None:
    async def cookies(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark")
        return response

    app = Starlette(routes=[Route("/login", cookies)])

    async with dispatch({"/": app}) as client:
        response = await client.get("/login")

    assert [value.split(";")[0] for value in response.headers.get_list("set-cookie")] == [
        "session=abc",
        "theme=dark",
    ]
    assert dict(client.cookies) == {"session": "abc", "theme": "dark"}


async def test_head_response_has_no_body() -> None:
    async def page(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await Response("a body a HEAD must not carry")(scope, receive, send)

    async with dispatch({"/": page}) as client:
        response = await client.head("/")

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len("a body a HEAD must not carry"))
    assert response.content == b""


async def test_request_details_reach_the_app() -> None:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "url": str(request.url),
                "query": dict(request.query_params),
                "header": request.headers["x-test"],
            }
        )

    app = Starlette(routes=[Route("/show", show, methods=["PUT"])])

    async with dispatch({"/api": app}) as client:
        response = await client.put("/api/show?a=1&b=two", headers={"X-Test": "yes"})

    assert response.json() == {
        "method": "PUT",
        "url": "http://testserver/api/show?a=1&b=two",
        "query": {"a": "1", "b": "two"},
        "header": "yes",
    }


@pytest.mark.anyio
async def test_memoryview_chunks_from_a_starlette_streaming_response_pass_byte_exact() -> None:
    data = os.urandom(1024 * 1024)

    async def views() -> AsyncIterator[memoryview]:
        whole = memoryview(data)
        for start in range(0, len(data), 10_000):
            yield whole[start : start + 10_000]

    async def download(request: Request) -> StreamingResponse:
        return StreamingResponse(views(), media_type="application/octet-stream")

    app = Starlette(routes=[Route("/download", download)])

    async with dispatch({"/": app}) as client:
        response = await client.get("/download")

    assert response.content == data


async def reuses_one_buffer(scope: Scope, receive: Any, send: Any) -> None:
    """Sends `/`'s query (a count) of 4 KiB chunks, each filled into the same bytearray and
    sent as it or as a memoryview of it, as code that reads a file with `readinto` does."""
    if scope["type"] != "http":
        return
    buffer = bytearray(4096)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for n in range(int(scope["query_string"])):
        buffer[:] = bytes([n % 256]) * len(buffer)
        chunk = buffer if n % 2 else memoryview(buffer)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": bytearray(b"end")})


@pytest.mark.anyio
async def test_bytearray_and_memoryview_bodies_pass_byte_exact_though_the_app_reuses_them() -> None:
    expected = b"".join(bytes([n % 256]) * 4096 for n in range(40)) + b"end"

    async with dispatch({"/": reuses_one_buffer}) as client:
        response = await client.get("/?40")
        async with client.stream("GET", "/?40") as streamed:
            chunks = [chunk async for chunk in streamed.aiter_raw()]

    assert response.content == expected
    assert b"".join(chunks) == expected


def test_bytearray_and_memoryview_bodies_pass_byte_exact_on_the_sync_client_too() -> None:
    expected = b"".join(bytes([n % 256]) * 4096 for n in range(40)) + b"end"

    with dispatch_sync({"/": reuses_one_buffer}) as client:
        response = client.get("/?40")

    assert response.content == expected


# App exceptions.


async def raise_before_responding(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        raise AppError("before responding")


async def raise_mid_body(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise AppError("mid body")


async def test_app_exception_before_responding_propagates_with_its_type_and_traceback() -> None:
    async with dispatch({"/": raise_before_responding}) as client:
        with pytest.raises(AppError, match="before responding") as raised:
            await client.get("/")

    assert any(entry.name == "raise_before_responding" for entry in raised.traceback)


async def test_app_exception_mid_body_propagates_with_its_type() -> None:
    async with dispatch({"/": raise_mid_body}) as client:
        with pytest.raises(AppError, match="mid body"):
            await client.get("/")


def test_app_exception_propagates_through_the_sync_client() -> None:
    with dispatch_sync({"/": raise_before_responding}) as client, pytest.raises(AppError):
        client.get("/")


def starlette_raising() -> Starlette:
    async def boom(request: Request) -> Response:
        raise AppError("from starlette")

    return Starlette(routes=[Route("/boom", boom)])


def fastapi_raising() -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise AppError("from fastapi")

    return app


@pytest.mark.parametrize("make_app", [starlette_raising, fastapi_raising])
async def test_exception_a_framework_reraises_after_its_own_500_propagates(
    make_app: Any,
) -> None:
    async with dispatch({"/": make_app()}) as client:
        with pytest.raises(AppError, match="from"):
            await client.get("/boom")


@pytest.mark.parametrize(
    "app",
    [raise_before_responding, starlette_raising(), fastapi_raising()],
    ids=["raw-asgi", "starlette", "fastapi"],  # stable ids: pytest-xdist workers must agree
)
async def test_app_exception_becomes_a_500_when_told_not_to_raise(app: Any) -> None:
    async with dispatch({"/": app}, raise_app_exceptions=False) as client:
        response = await client.get("/boom")

    assert response.status_code == 500


async def test_app_returning_without_responding_is_a_clear_error() -> None:
    async def silent(scope: Scope, receive: Any, send: Any) -> None:
        pass

    with anyio.fail_after(5):
        async with dispatch({"/": silent}) as client:
            with pytest.raises(RuntimeError, match="returned without responding"):
                await client.get("/")


async def test_app_returning_before_its_last_body_is_a_protocol_error(http: ClientLibrary) -> None:
    async def unfinished(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"half", "more_body": True})

    with anyio.fail_after(5):
        async with dispatch({"/": unfinished}) as client:
            with pytest.raises(http.RemoteProtocolError):
                await client.get("/")


async def test_app_hanging_before_responding_times_out_within_the_clients_timeout(
    http: ClientLibrary,
) -> None:
    async def hanging(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with dispatch({"/": hanging}, timeout=0.2) as client:
            with pytest.raises(http.ReadTimeout):
                await client.get("/")


async def test_app_hanging_mid_body_times_out_within_the_clients_timeout(
    http: ClientLibrary,
) -> None:
    async def hanging(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"half", "more_body": True})
            await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with dispatch({"/": hanging}, timeout=0.2) as client:
            with pytest.raises(http.ReadTimeout):
                await client.get("/")


# Concurrency.


async def test_concurrent_requests_across_apps_get_their_own_answers() -> None:
    async def raw(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await checkpoint()
        body = f"raw {scope['query_string'].decode()}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def starlette_echo(request: Request) -> Response:
        await checkpoint()
        return Response(f"starlette n={request.query_params['n']}")

    fastapi = FastAPI()

    @fastapi.get("/")
    async def fastapi_echo(n: int) -> Response:
        await checkpoint()
        return Response(f"fastapi n={n}")

    mounts = {
        "/raw": raw,
        "/starlette": Starlette(routes=[Route("/", starlette_echo)]),
        "/fastapi": fastapi,
    }
    names = list(mounts)
    answers: dict[int, str] = {}

    async def ask(client: httpx.AsyncClient, n: int) -> None:
        response = await client.get(f"{names[n % 3]}/", params={"n": n})
        answers[n] = response.text

    with anyio.fail_after(30):
        async with dispatch(mounts) as client, anyio.create_task_group() as group:
            for n in range(200):
                group.start_soon(ask, client, n)

    assert answers == {n: f"{names[n % 3][1:]} n={n}" for n in range(200)}
