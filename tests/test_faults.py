"""The fault matrix: every way an app can misbehave ends in a clear error, in time, clean.

Each lifespan fault and each request fault is tried through the async client (on
asyncio and trio) and the sync client. Every test is bounded (anyio.fail_after for the
async client, the library's own timeouts and a measured duration for the sync client),
and checks that no thread, and on the async client no task, outlives it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import sniffio
from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pytest_asgi_dispatch import LifespanError, dispatch, dispatch_sync
from pytest_asgi_dispatch._client_library import ClientLibrary

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

TIMEOUT = 0.2  # every timeout the library is given here
BOUND = 3.0  # what any test may take: timeouts, plus the 1 s grace for a lingering app


class AppCrashed(Exception):
    """What the faulty apps raise: its type must reach the test unchanged."""


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = {thread for thread in set(threading.enumerate()) - before if not _trios(thread)}
    assert not left, f"threads left running: {left}"


def _trios(thread: threading.Thread) -> bool:
    """Trio's idle thread cache, which anyio's test runner (trio in guest mode) waits in."""
    return thread.name.startswith("Trio thread")


def living_tasks() -> int:
    """How many tasks the running event loop has, whichever loop it is."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_statistics().tasks_living
    return len(asyncio.all_tasks())


def start(status: int = 200) -> Message:
    return {"type": "http.response.start", "status": status, "headers": []}


def body(data: bytes = b"ok", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    """A well-behaved app with no lifespan support, mounted beside the faulty ones."""
    if scope["type"] == "http":
        await send(start())
        await send(body(b"fine"))


# Lifespan faults.


async def _raises(receive: Receive, send: Send, phase: str) -> None:
    raise AppCrashed(f"{phase} crashed")


async def _hangs(receive: Receive, send: Send, phase: str) -> None:
    await anyio.sleep_forever()


async def _sends_failed(receive: Receive, send: Send, phase: str) -> None:
    await send({"type": f"lifespan.{phase}.failed", "message": f"{phase} refused"})


async def _completes(receive: Receive, send: Send, phase: str) -> None:
    await send({"type": f"lifespan.{phase}.complete"})


Fault = Callable[[Receive, Send, str], Awaitable[None]]


def lifespan_app(
    on_startup: Fault = _completes, on_shutdown: Fault = _completes, log: list[str] | None = None
) -> App:
    """An app whose lifespan answers each phase as told; it serves http with 200."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await ok(scope, receive, send)
            return
        await receive()  # lifespan.startup
        await on_startup(receive, send, "startup")
        await receive()  # lifespan.shutdown
        await on_shutdown(receive, send, "shutdown")
        if log is not None:
            log.append("shut down")

    return app


STARTUP_FAULTS = [
    pytest.param(_raises, r"mount '/faulty': lifespan startup raised AppCrashed", id="raises"),
    pytest.param(_hangs, r"mount '/faulty': lifespan startup did not complete", id="hangs"),
    pytest.param(
        _sends_failed, r"mount '/faulty': lifespan startup failed.*startup refused", id="failed"
    ),
]
SHUTDOWN_FAULTS = [
    pytest.param(_raises, r"mount '/faulty': lifespan shutdown raised AppCrashed", id="raises"),
    pytest.param(_hangs, r"mount '/faulty': lifespan shutdown did not complete", id="hangs"),
    pytest.param(
        _sends_failed, r"mount '/faulty': lifespan shutdown failed.*shutdown refused", id="failed"
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "message"), STARTUP_FAULTS)
async def test_startup_fault_raises_lifespan_error_naming_the_mount_and_shuts_down_the_rest(
    fault: Fault, message: str
) -> None:
    log: list[str] = []
    mounts = {"/healthy": lifespan_app(log=log), "/faulty": lifespan_app(on_startup=fault)}
    tasks = living_tasks()

    with anyio.fail_after(BOUND), pytest.raises(LifespanError, match=message):
        async with dispatch(mounts, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT):
            pytest.fail("the body must not run")

    assert log == ["shut down"]
    assert living_tasks() == tasks


@pytest.mark.parametrize(("fault", "message"), STARTUP_FAULTS)
def test_startup_fault_raises_lifespan_error_on_the_sync_client_too(
    fault: Fault, message: str
) -> None:
    log: list[str] = []
    mounts = {"/healthy": lifespan_app(log=log), "/faulty": lifespan_app(on_startup=fault)}
    began = time.monotonic()

    with (
        pytest.raises(LifespanError, match=message),
        dispatch_sync(mounts, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT),
    ):
        pytest.fail("the body must not run")

    assert time.monotonic() - began < BOUND
    assert log == ["shut down"]


@pytest.mark.anyio
async def test_startup_failed_message_fails_at_once_not_after_the_timeout() -> None:
    mounts = {"/faulty": lifespan_app(on_startup=_sends_failed)}

    with anyio.fail_after(1), pytest.raises(LifespanError, match="startup refused"):
        async with dispatch(mounts, startup_timeout=60):
            pass


@pytest.mark.anyio
async def test_app_returning_without_answering_startup_is_skipped_at_once() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await ok(scope, receive, send)
        # lifespan: returns without a word, as Django's ASGI handler does

    tasks = living_tasks()

    with anyio.fail_after(1):
        async with dispatch({"/silent": silent}, startup_timeout=60) as client:
            response = await client.get("/silent/")

    assert response.text == "fine"
    assert living_tasks() == tasks


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "message"), SHUTDOWN_FAULTS)
async def test_shutdown_fault_raises_lifespan_error_after_the_other_apps_shut_down(
    fault: Fault, message: str
) -> None:
    log: list[str] = []
    mounts = {"/healthy": lifespan_app(log=log), "/faulty": lifespan_app(on_shutdown=fault)}
    tasks = living_tasks()

    with anyio.fail_after(BOUND), pytest.raises(LifespanError, match=message):
        async with dispatch(mounts, shutdown_timeout=TIMEOUT) as client:
            assert (await client.get("/healthy/")).text == "fine"

    assert log == ["shut down"]
    assert living_tasks() == tasks


@pytest.mark.parametrize(("fault", "message"), SHUTDOWN_FAULTS)
def test_shutdown_fault_raises_lifespan_error_on_the_sync_client_too(
    fault: Fault, message: str
) -> None:
    log: list[str] = []
    mounts = {"/healthy": lifespan_app(log=log), "/faulty": lifespan_app(on_shutdown=fault)}
    began = time.monotonic()

    with (
        pytest.raises(LifespanError, match=message),
        dispatch_sync(mounts, shutdown_timeout=TIMEOUT) as client,
    ):
        assert client.get("/healthy/").text == "fine"

    assert time.monotonic() - began < BOUND
    assert log == ["shut down"]


@pytest.mark.anyio
async def test_shutdown_fault_does_not_hide_the_bodys_own_exception() -> None:
    mounts = {"/faulty": lifespan_app(on_shutdown=_raises)}

    with anyio.fail_after(BOUND), pytest.raises(KeyError, match="the test's own"):
        async with dispatch(mounts, shutdown_timeout=TIMEOUT):
            raise KeyError("the test's own")


# Request faults: the app misbehaves while answering.


def http_only(app: App) -> App:
    """The app as given for http; no lifespan support (it returns at once)."""

    async def on_http(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await app(scope, receive, send)

    return on_http


@http_only
async def raises_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    raise AppCrashed("before the response")


@http_only
async def raises_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    await send(start())
    raise AppCrashed("after the response started")


@http_only
async def raises_mid_stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send(start())
    await send(body(b"first chunk", more=True))
    raise AppCrashed("in the middle of the body")


@http_only
async def never_responds(scope: Scope, receive: Receive, send: Send) -> None:
    await anyio.sleep_forever()  # and ignores http.disconnect: it must be cancelled


@http_only
async def returns_without_responding(scope: Scope, receive: Receive, send: Send) -> None:
    pass


@http_only
async def returns_mid_stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send(start())
    await send(body(b"first chunk", more=True))  # then drops the connection


# An exception type, or the name of one the client library raises (`raised_type`).
Fault = type[Exception] | str


def raised_type(error: Fault, http: ClientLibrary) -> type[Exception]:
    """The type a fault raises: the client library's own, where it is named."""
    return getattr(http, error) if isinstance(error, str) else error


REQUEST_FAULTS = [
    pytest.param(raises_before_start, AppCrashed, "before the response", id="raises-first"),
    pytest.param(raises_after_start, AppCrashed, "after the response started", id="raises-late"),
    pytest.param(raises_mid_stream, AppCrashed, "in the middle of the body", id="raises-mid"),
    pytest.param(never_responds, "ReadTimeout", "sent nothing", id="never-responds"),
    pytest.param(
        returns_without_responding, RuntimeError, "without responding", id="returns-silent"
    ),
    pytest.param(returns_mid_stream, "RemoteProtocolError", "without completing", id="returns-mid"),
]


def malformed(*messages: Message) -> App:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return app


MALFORMED = [
    pytest.param(malformed(body()), "before 'http.response.start'", id="body-first"),
    pytest.param(malformed(start(), start(), body()), "start' twice", id="start-twice"),
    pytest.param(
        malformed({"type": "http.response.start", "headers": []}, body()),
        "without a status",
        id="no-status",
    ),
    pytest.param(
        malformed(start(), {"type": "http.response.body", "body": "text"}),
        "not bytes",
        id="str-body",
    ),
    pytest.param(malformed(start(), body(), body()), "after its last body", id="body-after-end"),
    pytest.param(
        malformed(start(), {"type": "http.response.trailers"}),
        "unexpected message 'http.response.trailers'",
        id="unknown-type",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("app", "error", "message"), REQUEST_FAULTS)
async def test_request_fault_ends_in_a_clear_error_and_leaves_no_task(
    app: App, error: Fault, message: str, http: ClientLibrary
) -> None:
    tasks = living_tasks()

    with anyio.fail_after(BOUND):
        async with dispatch({"/faulty": app, "/": ok}, timeout=TIMEOUT) as client:
            with pytest.raises(raised_type(error, http), match=message):
                await client.get("/faulty/")
            assert (await client.get("/healthy")).text == "fine"  # the client still works

    assert living_tasks() == tasks


@pytest.mark.parametrize(("app", "error", "message"), REQUEST_FAULTS)
def test_request_fault_ends_in_a_clear_error_on_the_sync_client_too(
    app: App, error: Fault, message: str, http: ClientLibrary
) -> None:
    began = time.monotonic()

    with dispatch_sync({"/faulty": app, "/": ok}, timeout=TIMEOUT) as client:
        with pytest.raises(raised_type(error, http), match=message):
            client.get("/faulty/")
        assert client.get("/healthy").text == "fine"

    assert time.monotonic() - began < BOUND


@pytest.mark.anyio
@pytest.mark.parametrize(("app", "message"), MALFORMED)
async def test_malformed_message_is_refused_with_a_runtime_error(app: App, message: str) -> None:
    tasks = living_tasks()

    with anyio.fail_after(BOUND):
        async with dispatch({"/": app}, timeout=TIMEOUT) as client:
            with pytest.raises(RuntimeError, match=message):
                await client.get("/")

    assert living_tasks() == tasks


@pytest.mark.parametrize(("app", "message"), MALFORMED)
def test_malformed_message_is_refused_on_the_sync_client_too(app: App, message: str) -> None:
    with (
        dispatch_sync({"/": app}, timeout=TIMEOUT) as client,
        pytest.raises(RuntimeError, match=message),
    ):
        client.get("/")


@pytest.mark.anyio
async def test_app_exception_before_start_is_a_500_when_asked() -> None:
    with anyio.fail_after(BOUND):
        async with dispatch({"/": raises_before_start}, raise_app_exceptions=False) as client:
            response = await client.get("/")

    assert response.status_code == 500


# The client leaves in the middle of an endless stream.
#
# The response is closed without iterating it: breaking out of `aiter_bytes()` leaves
# httpx's nested async generators to the garbage collector, which trio reports as a
# ResourceWarning and asyncio finalizes in a task of its own, whatever the transport.


@http_only
async def endless_sender(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams until `send` raises: the client has gone."""
    await send(start())
    while True:
        await send(body(b"tick\n", more=True))
        await anyio.sleep(0)


@http_only
async def disconnect_listener(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends one chunk, then waits for `http.disconnect`, as SSE apps do."""
    await send(start())
    await send(body(b"tick\n", more=True))
    while (await receive())["type"] != "http.disconnect":
        pass


STREAMS = [
    pytest.param(endless_sender, id="endless-sender"),
    pytest.param(disconnect_listener, id="disconnect-listener"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("app", STREAMS)
async def test_closing_a_stream_midway_stops_the_app_and_leaves_no_task(app: App) -> None:
    tasks = living_tasks()

    with anyio.fail_after(BOUND):
        async with dispatch({"/stream": app, "/": ok}) as client:
            serving = living_tasks()
            response = await client.send(client.build_request("GET", "/stream"), stream=True)
            assert response.status_code == 200
            await response.aclose()
            assert living_tasks() == serving  # the app's task ended with the response
            assert (await client.get("/healthy")).text == "fine"

    assert living_tasks() == tasks


@pytest.mark.parametrize("app", STREAMS)
def test_closing_a_stream_midway_stops_the_app_on_the_sync_client_too(app: App) -> None:
    began = time.monotonic()

    with dispatch_sync({"/stream": app, "/": ok}) as client:
        response = client.send(client.build_request("GET", "/stream"), stream=True)
        assert response.status_code == 200
        response.close()
        assert client.get("/healthy").text == "fine"

    assert time.monotonic() - began < BOUND


# The app raises, or returns, before the body it declared is complete: never a success.


@http_only
async def raises_after_part_of_a_declared_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({**start(), "headers": [(b"content-length", b"100")]})
    await send(body(b"x" * 10, more=True))
    raise AppCrashed("after 10 of its 100 bytes")


RAISES_MID_RESPONSE = [
    pytest.param(raises_after_start, id="raises-late"),
    pytest.param(raises_mid_stream, id="raises-mid"),
    pytest.param(raises_after_part_of_a_declared_body, id="raises-mid-declared"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("app", RAISES_MID_RESPONSE)
async def test_app_raising_mid_response_is_a_protocol_error_when_told_not_to_raise(
    app: App, http: ClientLibrary
) -> None:
    with anyio.fail_after(BOUND):
        async with dispatch({"/": app}, raise_app_exceptions=False) as client:
            with pytest.raises(http.RemoteProtocolError, match="AppCrashed") as raised:
                await client.get("/")

    assert isinstance(raised.value.__cause__, AppCrashed)


@pytest.mark.anyio
async def test_app_raising_mid_stream_fails_the_read_when_told_not_to_raise(
    http: ClientLibrary,
) -> None:
    streaming = anyio.Event()

    @http_only
    async def raises_while_streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({**start(), "headers": [(b"content-length", b"100")]})
        await send(body(b"x" * 10, more=True))
        await streaming.wait()  # the client holds the response, and reads it
        raise AppCrashed("after 10 of its 100 bytes")

    with anyio.fail_after(BOUND):
        async with (
            dispatch({"/": raises_while_streaming}, raise_app_exceptions=False) as client,
            client.stream("GET", "/") as response,
        ):
            streaming.set()
            with pytest.raises(http.RemoteProtocolError, match="AppCrashed"):
                await response.aread()


@pytest.mark.parametrize("app", RAISES_MID_RESPONSE)
def test_app_raising_mid_response_is_a_protocol_error_on_the_sync_client_too(
    app: App, http: ClientLibrary
) -> None:
    with (
        dispatch_sync({"/": app}, raise_app_exceptions=False) as client,
        pytest.raises(http.RemoteProtocolError, match="AppCrashed") as raised,
    ):
        client.get("/")

    assert isinstance(raised.value.__cause__, AppCrashed)


def content_length_lies(content: bytes) -> Starlette:
    """A Starlette app whose response declares 100 bytes, as a proxy view copying an
    upstream's headers might, and sends `content`."""

    async def page(request: Request) -> Response:
        return Response(content, headers={"content-length": "100"})

    return Starlette(routes=[Route("/", page)])


CONTENT_LENGTH_LIES = [
    pytest.param(b"x" * 10, "shorter than its content-length", id="shorter"),
    pytest.param(b"x" * 200, "longer than its content-length", id="longer"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("content", "message"), CONTENT_LENGTH_LIES)
async def test_body_not_matching_its_content_length_is_refused_as_uvicorn_does(
    content: bytes, message: str
) -> None:
    with anyio.fail_after(BOUND):
        async with dispatch({"/": content_length_lies(content)}) as client:
            with pytest.raises(RuntimeError, match=message):
                await client.get("/")


@pytest.mark.anyio
@pytest.mark.parametrize(("content", "message"), CONTENT_LENGTH_LIES)
async def test_body_not_matching_its_content_length_is_a_protocol_error_when_told_not_to_raise(
    content: bytes, message: str, http: ClientLibrary
) -> None:
    with anyio.fail_after(BOUND):
        async with dispatch({"/": content_length_lies(content)}, raise_app_exceptions=False) as c:
            with pytest.raises(http.RemoteProtocolError, match=message):
                await c.get("/")


@pytest.mark.parametrize(("content", "message"), CONTENT_LENGTH_LIES)
def test_body_not_matching_its_content_length_is_refused_on_the_sync_client_too(
    content: bytes, message: str
) -> None:
    with (
        dispatch_sync({"/": content_length_lies(content)}) as client,
        pytest.raises(RuntimeError, match=message),
    ):
        client.get("/")


@pytest.mark.anyio
async def test_head_and_304_responses_keep_their_content_length_without_a_body() -> None:
    async def page(request: Request) -> Response:
        return Response(b"x" * 100)

    async def cached(request: Request) -> Response:
        return Response(status_code=304, headers={"content-length": "100", "etag": '"v1"'})

    app = Starlette(routes=[Route("/page", page), Route("/cached", cached)])

    async with dispatch({"/": app}) as client:
        head = await client.head("/page")
        not_modified = await client.get("/cached")

    assert (head.status_code, head.headers["content-length"], head.content) == (200, "100", b"")
    assert (not_modified.status_code, not_modified.content) == (304, b"")


# The test abandons a request by cancellation (a cancel scope, not asyncio.wait_for).


class Numbers:
    """An endless body: 1, 2, 3, ... a line each. An iterator class rather than an async
    generator, which trio would report as garbage collected once the app stops reading."""

    def __init__(self) -> None:
        self.count = 0

    def __aiter__(self) -> Numbers:
        return self

    async def __anext__(self) -> bytes:
        await anyio.sleep(0)
        self.count += 1
        return f"{self.count}\n".encode()


def shutdown_logger(name: str, log: list[str]) -> Callable[[Any], Any]:
    """A lifespan that logs its app's shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        log.append(f"{name} shut down")

    return lifespan


def streaming_starlette(name: str, log: list[str]) -> Starlette:
    """A Starlette app with a lifespan, whose /numbers streams until the client leaves."""

    async def endless(request: Request) -> StreamingResponse:
        return StreamingResponse(Numbers(), media_type="text/plain")

    return Starlette(routes=[Route("/numbers", endless)], lifespan=shutdown_logger(name, log))


def streaming_fastapi(name: str, log: list[str]) -> FastAPI:
    """The same, as a FastAPI app."""
    app = FastAPI(lifespan=shutdown_logger(name, log))

    @app.get("/numbers")
    async def endless() -> StreamingResponse:
        return StreamingResponse(Numbers(), media_type="text/plain")

    return app


@pytest.mark.anyio
async def test_cancelling_a_dispatch_block_mid_stream_shuts_every_app_down_and_leaves_no_task() -> (
    None
):
    log: list[str] = []
    mounts = {
        "/starlette": streaming_starlette("starlette", log),
        "/fastapi": streaming_fastapi("fastapi", log),
    }
    tasks = living_tasks()

    with anyio.fail_after(BOUND), anyio.move_on_after(TIMEOUT) as scope:
        async with dispatch(mounts) as client:
            first = await client.send(
                client.build_request("GET", "/starlette/numbers"), stream=True
            )
            second = await client.send(client.build_request("GET", "/fastapi/numbers"), stream=True)
            assert (first.status_code, second.status_code) == (200, 200)
            async with aclosing(second.aiter_raw()) as chunks:
                async for _ in chunks:  # endless: the cancel scope ends it
                    pass

    assert scope.cancelled_caught
    assert log == ["fastapi shut down", "starlette shut down"]
    assert living_tasks() == tasks


def test_leaving_a_dispatch_sync_block_by_an_exception_mid_stream_shuts_every_app_down() -> None:
    log: list[str] = []
    mounts = {
        "/starlette": streaming_starlette("starlette", log),
        "/fastapi": streaming_fastapi("fastapi", log),
    }
    began = time.monotonic()

    def stream_both_then_fail(client: httpx.Client) -> None:
        for url in ("/starlette/numbers", "/fastapi/numbers"):
            response = client.send(client.build_request("GET", url), stream=True)
            assert next(response.iter_raw()).startswith(b"1\n")
        raise KeyError("the test's own")

    with pytest.raises(KeyError, match="the test's own"), dispatch_sync(mounts) as client:
        stream_both_then_fail(client)

    assert log == ["fastapi shut down", "starlette shut down"]
    assert time.monotonic() - began < BOUND


GRACE = 1.0  # how long an app that ignores `http.disconnect` has before it is cancelled


def sse_starlette_app(log: list[str]) -> Starlette:
    """An endless server-sent events stream (sse-starlette), which logs how it ended."""

    async def ticks() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                yield {"data": "tick"}
                await anyio.sleep(0)
        finally:
            log.append("stream ended")

    async def events(request: Request) -> EventSourceResponse:
        return EventSourceResponse(ticks(), client_close_handler_callable=disconnected)

    async def disconnected(message: Message) -> None:
        log.append(message["type"])

    return Starlette(routes=[Route("/events", events)])


async def read_everything(client: httpx.AsyncClient, url: str) -> None:
    await client.get(url)


async def read_a_stream(client: httpx.AsyncClient, url: str) -> None:
    async with client.stream("GET", url) as response:
        await response.aread()


ABANDONED_READS = [
    pytest.param(read_everything, id="get"),
    pytest.param(read_a_stream, id="stream"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("read", ABANDONED_READS)
async def test_request_abandoned_by_a_cancel_scope_tells_the_app_http_disconnect(
    read: Callable[[httpx.AsyncClient, str], Awaitable[None]],
) -> None:
    log: list[str] = []

    with anyio.fail_after(BOUND):
        async with dispatch({"/": sse_starlette_app(log)}) as client:
            with anyio.move_on_after(TIMEOUT) as scope:
                await read(client, "/events")
            after_cancel = list(log)

    assert scope.cancelled_caught
    assert after_cancel == ["http.disconnect", "stream ended"]


@pytest.mark.anyio
@pytest.mark.parametrize("read", ABANDONED_READS)
@pytest.mark.parametrize("app", [*STREAMS, pytest.param(never_responds, id="never-responds")])
async def test_request_abandoned_by_a_cancel_scope_leaves_no_task_past_the_grace_period(
    app: App, read: Callable[[httpx.AsyncClient, str], Awaitable[None]]
) -> None:
    with anyio.fail_after(BOUND):
        async with dispatch({"/stream": app}) as client:
            tasks = living_tasks()
            began = anyio.current_time()
            with anyio.move_on_after(TIMEOUT):
                await read(client, "/stream")
            took = anyio.current_time() - began
            assert living_tasks() == tasks

    assert took < TIMEOUT + 2 * GRACE


@pytest.mark.anyio
async def test_cancelling_a_dispatch_during_a_hanging_startup_stops_it_at_once() -> None:
    log: list[str] = []
    mounts = {"/healthy": lifespan_app(log=log), "/hanging": lifespan_app(on_startup=_hangs)}
    tasks = living_tasks()

    with anyio.fail_after(BOUND), anyio.move_on_after(TIMEOUT) as scope:
        async with dispatch(mounts, startup_timeout=60):
            pytest.fail("the body must not run")

    assert scope.cancelled_caught
    assert living_tasks() == tasks
