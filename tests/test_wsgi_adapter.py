"""WSGI apps under the async client: a2wsgi's worker thread hands the response to the
event loop in batches (`_wsgi`), and streams, stops and fails as a server would."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from pytest_asgi_dispatch import dispatch
from pytest_asgi_dispatch._client_library import ClientLibrary

pytestmark = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # a2wsgi: asyncio only

Environ = dict[str, Any]
WAIT = 5.0  # seconds a thread waits for the other side before the test fails


@pytest.mark.anyio
async def test_a_generator_body_reaches_the_client_chunk_by_chunk() -> None:
    first_read = threading.Event()

    def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        yield b"data: 0\n\n"
        # Buffered until the body ends, the first chunk would never reach the client.
        assert first_read.wait(WAIT), "the first chunk was held back"
        yield b"data: 1\n\n"

    async with dispatch({"/events": app}) as client, client.stream("GET", "/events/") as response:
        chunks = response.aiter_raw()
        first = await anext(chunks)
        first_read.set()
        rest = b"".join([chunk async for chunk in chunks])

    assert (first, rest) == (b"data: 0\n\n", b"data: 1\n\n")


@pytest.mark.anyio
async def test_an_app_far_ahead_of_its_client_waits_for_it() -> None:
    produced = 0

    def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [])
        for n in range(10_000):
            produced += 1
            yield b"%d," % n

    async with dispatch({"/many": app}) as client, client.stream("GET", "/many/") as response:
        chunks = response.aiter_raw()
        first = await anext(chunks)
        await asyncio.sleep(0.1)  # time for a thread that does not wait to finish
        ahead = produced
        rest = b"".join([chunk async for chunk in chunks])

    assert ahead < 200
    assert first + rest == b"".join(b"%d," % n for n in range(10_000))


@pytest.mark.anyio
async def test_a_response_closed_early_stops_the_apps_thread() -> None:
    closed = threading.Event()

    def endless(environ: Environ, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"tick\n"
        finally:
            closed.set()

    async with dispatch({"/ticks": endless}) as client, client.stream("GET", "/ticks/") as response:
        await anext(response.aiter_raw())

    assert await asyncio.to_thread(closed.wait, WAIT)


@pytest.mark.anyio
async def test_a_reused_buffer_reaches_the_client_byte_exact() -> None:
    def refilling(environ: Environ, start_response: Any) -> Iterator[Any]:
        start_response("200 OK", [])
        buffer = bytearray(1024)
        for n in range(30):
            buffer[:] = bytes([n]) * 1024  # refilled at once: the thread does not wait
            yield memoryview(buffer) if n % 2 else buffer

    async with dispatch({"/app": refilling}) as client:
        response = await client.get("/app/")

    assert response.content == b"".join(bytes([n]) * 1024 for n in range(30))


@pytest.mark.anyio
async def test_an_app_raising_mid_body_cuts_the_response_short(http: ClientLibrary) -> None:
    class Failed(Exception):
        pass

    def failing_mid_body(environ: Environ, start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        raise Failed("mid body")

    async with dispatch({"/app": failing_mid_body}) as client:
        with pytest.raises(Failed, match="mid body"):
            await client.get("/app/")
    # The response had started when the app raised: no 500 can replace it any more.
    async with dispatch({"/app": failing_mid_body}, raise_app_exceptions=False) as client:
        with pytest.raises(http.RemoteProtocolError, match="raised Failed: mid body"):
            await client.get("/app/")


@pytest.mark.anyio
async def test_repeated_headers_and_a_whole_body_arrive_as_sent() -> None:
    def cookies(environ: Environ, start_response: Any) -> Iterable[bytes]:
        start_response(
            "201 Created",
            [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Length", "5")],
        )
        return [b"he", b"llo"]

    async with dispatch({"/app": cookies}) as client:
        response = await client.get("/app/")

    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.content == b"hello"


@pytest.mark.anyio
async def test_a_streamed_upload_of_known_length_reaches_wsgi_input_whole() -> None:
    lines: list[bytes] = []

    def reading_lines(environ: Environ, start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"]
        lines.append(body.readline())  # within the first chunk
        lines.append(body.readline())  # across the first chunk's end
        lines.append(body.read())
        start_response("200 OK", [])
        return [b"read"]

    async def upload() -> Any:
        for chunk in (b"one\ntw", b"o\nthr", b"ee"):
            yield chunk

    async with dispatch({"/app": reading_lines}) as client:
        response = await client.post("/app/", content=upload(), headers={"Content-Length": "13"})

    assert response.text == "read"
    assert lines == [b"one\n", b"two\n", b"three"]
