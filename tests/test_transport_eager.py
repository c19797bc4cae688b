"""What makes a request cheap, and must not change what an app sees: the app starts at
once, in a task made only once it waits, the scope is routed in place, one deadline
serves every wait."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

import anyio
import httpx
import pytest

from pytest_asgi_dispatch import Dispatcher, Trace, dispatch
from pytest_asgi_dispatch._client_library import ClientLibrary
from pytest_asgi_dispatch._runtime import Runtime
from pytest_asgi_dispatch._transport import StreamingTransport

Scope = dict[str, Any]

pytestmark = pytest.mark.anyio

_request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="")


async def plain(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


# The app's task starts at once.


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_plain_app_has_answered_when_its_task_is_started() -> None:
    transport = StreamingTransport(plain)
    request = httpx.Request("GET", "http://testserver/now")
    exchange = transport._launch(request, request.stream)
    assert exchange.returned  # no turn of the event loop was needed
    assert exchange.take_now()["status"] == 200
    assert exchange.whole_body() == b"/now"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_app_runs_in_a_task_and_context_of_its_own_though_started_at_once() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen["task"] = asyncio.current_task()
        _request_var.set("the app's")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with dispatch({"/": app}) as client:
        test_task = asyncio.current_task()
        assert (await client.get("/")).status_code == 200
        assert asyncio.current_task() is test_task  # the test's task is current again
    assert seen["task"] is not test_task
    assert _request_var.get() == ""  # what the app set stayed in its own context


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_task_spawned_now_starts_at_once_on_every_python_and_goes_on_after() -> None:
    runtime = Runtime()
    steps: list[str] = []

    async def two_steps() -> None:
        steps.append(f"first, in {asyncio.current_task() is not test_task}")
        await asyncio.sleep(0)
        steps.append("second")

    test_task = asyncio.current_task()
    runtime.spawn_now(two_steps)
    assert steps == ["first, in True"]
    assert asyncio.current_task() is test_task
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert steps == ["first, in True", "second"]


async def test_an_app_entering_a_cancel_scope_before_it_waits_leaves_it_in_its_task() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        with anyio.move_on_after(5):  # entered in the app's first step, left after a wait
            await anyio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with dispatch({"/": app}) as client:
        assert (await client.get("/")).text == "ok"


# A plain app runs without a task made for it; one that waits goes on in the task it
# began in (the runtime's standby task).


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_plain_app_makes_no_task_yet_runs_as_a_task_other_than_the_callers() -> None:
    tasks_seen: list[asyncio.Task[Any] | None] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        tasks_seen.append(asyncio.current_task())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    tasks_at_start = asyncio.all_tasks()
    async with dispatch({"/": app}) as client:
        await client.get("/")  # the runtime's standby task is made by the first request
        tasks_before = asyncio.all_tasks()
        for _ in range(3):
            assert (await client.get("/")).text == "ok"
        assert asyncio.all_tasks() == tasks_before
    assert None not in tasks_seen
    assert asyncio.current_task() not in tasks_seen
    # No task was made for them: each ran as the same standby task, one after another.
    assert tasks_seen[1] is tasks_seen[2] is tasks_seen[3]
    assert asyncio.all_tasks() == tasks_at_start  # the standby went with the client


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_app_that_waits_goes_on_in_the_task_and_context_it_began_in() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen["first step"] = asyncio.current_task()
        _request_var.set(scope["path"])
        with anyio.CancelScope():  # left in the task it was entered in, or anyio raises
            await asyncio.sleep(0)
            await anyio.sleep(0.01)
        seen["after the waits"] = asyncio.current_task()
        body = _request_var.get().encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async with dispatch({"/": app}) as client:
        assert (await client.get("/kept")).text == "/kept"
        assert (await client.get("/again")).text == "/again"  # now in a task from the start

    assert seen["first step"] is seen["after the waits"] is not asyncio.current_task()
    assert _request_var.get() == ""


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_deadline_set_before_the_apps_first_wait_cancels_the_app_not_the_caller() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        with anyio.move_on_after(0.01) as waited:
            await anyio.sleep(10)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(waited.cancel_called).encode()})

    with anyio.fail_after(5):
        async with dispatch({"/": app}) as client:
            assert (await client.get("/")).text == "True"
            assert (await client.get("/")).text == "True"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("wait", ["a turn of the loop", "a timer"])
async def test_an_app_cancelling_its_own_task_in_its_first_step_is_cancelled_at_its_wait(
    wait: str,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0 if wait == "a turn of the loop" else 5)
        except asyncio.CancelledError:
            outcome = b"cancelled at its wait"
        else:
            outcome = b"not cancelled"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": outcome})

    with anyio.fail_after(5):
        async with dispatch({"/": app}) as client:
            assert (await client.get("/")).text == "cancelled at its wait"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_app_waiting_for_ever_from_its_first_step_is_cancelled_when_left() -> None:
    ended = anyio.Event()

    async def endless(scope: Scope, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await anyio.sleep_forever()
        finally:
            ended.set()

    tasks_at_start = asyncio.all_tasks()
    with anyio.fail_after(10):
        async with dispatch({"/": endless}) as client, client.stream("GET", "/") as response:
            assert response.status_code == 200
        assert ended.is_set()
    assert asyncio.all_tasks() == tasks_at_start


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_request_an_app_makes_to_the_same_client_in_its_first_step_is_served() -> None:
    async def inner(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})

    async def outer(scope: Scope, receive: Any, send: Any) -> None:
        answer = await client.get("/inner")  # the standby task is in use meanwhile
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"outer+" + answer.content})

    async with dispatch({"/inner": inner, "/": outer}) as client:
        for _ in range(2):
            assert (await client.get("/")).text == "outer+inner"


def test_a_transport_left_open_serves_an_app_that_waits_on_the_next_event_loop() -> None:
    async def waits_when_asked(scope: Scope, receive: Any, send: Any) -> None:
        if scope["path"] == "/wait":
            await asyncio.sleep(0)
        await plain(scope, receive, send)

    transport = StreamingTransport(waits_when_asked)

    async def get(path: str) -> str:
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return (await client.get(path)).text  # left open: the transport keeps its standby

    def on_a_loop_closed_without_cancelling_its_tasks(path: str) -> str:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(get(path))
        finally:
            loop.close()

    assert on_a_loop_closed_without_cancelling_its_tasks("/now") == "/now"
    assert on_a_loop_closed_without_cancelling_its_tasks("/wait") == "/wait"


# The scope, routed in place.


def test_route_in_place_gives_the_scope_a_copy_would_get() -> None:
    inner = Dispatcher({"/v1": plain})
    dispatcher = Dispatcher({"/api": inner, "/": plain})
    scope: Scope = {
        "type": "http",
        "path": "/api/v1/items",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "state": {"the server's": True},
    }
    resolved = dispatcher.resolve(dict(scope))
    assert resolved is not None
    route, copied = resolved

    app = dispatcher.route_in_place(scope)

    assert app is route.app is plain
    assert scope == copied
    assert scope["root_path"] == "/api/v1"
    assert "state" not in scope  # the server's state belongs to no mounted app


def test_route_in_place_leaves_a_404_to_the_dispatcher() -> None:
    dispatcher = Dispatcher({"/api": plain})
    unmatched: Scope = {"type": "http", "path": "/elsewhere", "root_path": "", "headers": []}

    assert dispatcher.route_in_place(unmatched) is dispatcher
    assert unmatched["root_path"] == ""


async def test_a_traced_request_routed_in_place_is_recorded_as_it_was_received() -> None:
    seen: list[tuple[str, str]] = []

    async def rewrites_its_scope(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append((scope["root_path"], scope["path"]))
        scope["path"] = "/rewritten"  # as Litestar does
        scope["query_string"] = b""
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    trace = Trace()
    async with dispatch({"/api": rewrites_its_scope}, trace=trace) as client:
        response = await client.get("/api/items?page=2")

    assert response.status_code == 201
    assert seen == [("/api", "/api/items")]
    (call,) = trace.calls
    assert (call.mount, call.url, call.status) == (
        "/api",
        "http://testserver/api/items?page=2",
        201,
    )


async def test_each_request_gets_a_scope_of_its_own_from_a_remembered_url() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        scopes.append(scope)
        scope["headers"].append((b"x-added-by", b"middleware"))  # apps write to scopes
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with dispatch({"/mount": app}) as client:
        for _ in range(2):
            await client.get("/mount/a%20b?q=1", headers={"X-Case": "Kept"})
        await client.get("https://other:8443/mount/c")

    first, second, third = scopes
    assert first is not second
    assert first["headers"] is not second["headers"]
    for scope in (first, second):
        assert scope["path"] == "/mount/a b"
        assert scope["raw_path"] == b"/mount/a%20b"
        assert scope["query_string"] == b"q=1"
        assert scope["root_path"] == "/mount"
        assert (b"x-case", b"Kept") in scope["headers"]
        assert scope["headers"].count((b"x-added-by", b"middleware")) == 1
    assert (third["scheme"], third["server"]) == ("https", ("other", 8443))
    assert third["path"] == "/mount/c"


# One deadline for every wait of an exchange.


async def test_a_body_sent_slower_than_the_read_timeout_in_all_but_not_per_chunk_is_read(
    http: ClientLibrary,
) -> None:
    async def slow(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(8):
            await anyio.sleep(0.1)
            await send({"type": "http.response.body", "body": b".", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    # Each wait has 0.4 s to spare, for a loaded machine; the whole takes 0.8 s.
    with anyio.fail_after(5):
        async with dispatch({"/": slow}, timeout=0.5) as client:
            assert (await client.get("/")).text == "........"


async def test_the_read_timeout_counts_from_the_last_chunk(http: ClientLibrary) -> None:
    async def stalls(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await anyio.sleep(0.1)
            await send({"type": "http.response.body", "body": b".", "more_body": True})
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with dispatch({"/": stalls}, timeout=0.5) as client:
            began = time.monotonic()
            with pytest.raises(http.ReadTimeout):
                await client.get("/")
            # 0.3 s of chunks, then 0.5 s; a timeout counted from the start would end at 0.5 s
            assert 0.75 <= time.monotonic() - began < 4
