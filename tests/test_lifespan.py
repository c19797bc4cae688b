"""Every mounted app's lifespan: order, state, and each way it can fail."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from django.core.asgi import get_asgi_application
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pytest_asgi_dispatch import Dispatcher, LifespanError, StreamingTransport, dispatch
from pytest_asgi_dispatch._lifespan import LifespanFailedMessage

Scope = dict[str, Any]
Message = dict[str, Any]

# Every wait on a real server in these tests is bounded by this many seconds.
TIMEOUT = 10.0

pytestmark = pytest.mark.anyio


def lifespan_app(
    name: str,
    log: list[str],
    *,
    startup: str = "complete",
    shutdown: str = "complete",
    state: dict[str, Any] | None = None,
) -> Any:
    """A raw ASGI app that logs its lifespan events and answers each as told.

    `startup` and `shutdown` are "complete", "fail" (send `*.failed`), "raise" or "hang".
    Its HTTP answer is the sorted keys of the lifespan state its request carries.
    """

    async def answer(phase: str, how: str) -> Message | None:
        log.append(f"{name} {phase}")
        if how == "raise":
            raise RuntimeError(f"{name} cannot {phase}")
        if how == "hang":
            await anyio.sleep_forever()
        if how == "fail":
            return {"type": f"lifespan.{phase}.failed", "message": f"{name} refuses to {phase}"}
        return {"type": f"lifespan.{phase}.complete"}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            scope["state"].update(state or {})
            message = await answer("startup", startup)
            await send(message)
            if message and message["type"].endswith("failed"):
                return
            assert (await receive())["type"] == "lifespan.shutdown"
            await send(await answer("shutdown", shutdown))
            return
        body = json.dumps(sorted(scope.get("state", {}))).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


# Order.


async def test_startup_runs_in_table_order_and_shutdown_in_reverse() -> None:
    log: list[str] = []
    mounts = {
        "/b": lifespan_app("b", log),
        "/": lifespan_app("root", log),
        "/a": lifespan_app("a", log),
    }

    async with dispatch(mounts):
        log.append("body")

    assert log == [
        "b startup",
        "root startup",
        "a startup",
        "body",
        "a shutdown",
        "root shutdown",
        "b shutdown",
    ]


async def test_apps_are_shut_down_when_the_body_raises() -> None:
    log: list[str] = []
    mounts = {"/a": lifespan_app("a", log), "/b": lifespan_app("b", log)}

    with pytest.raises(KeyError, match="from the test"):
        async with dispatch(mounts):
            raise KeyError("from the test")

    assert log == ["a startup", "b startup", "b shutdown", "a shutdown"]


async def test_nested_table_lifespans_run_in_table_order() -> None:
    log: list[str] = []
    mounts = {
        "/a": lifespan_app("a", log),
        "/inner": {"/b": lifespan_app("b", log), "/c": lifespan_app("c", log)},
    }

    async with dispatch(mounts):
        pass

    assert log == [
        "a startup",
        "b startup",
        "c startup",
        "c shutdown",
        "b shutdown",
        "a shutdown",
    ]


# State.


def starlette_with_state(state: dict[str, Any]) -> Starlette:
    """A Starlette app whose lifespan yields `state`; `/state` shows it, `/mark` changes it."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield state

    async def show(request: Request) -> JSONResponse:
        return JSONResponse({key: repr(value) for key, value in request.scope["state"].items()})

    async def mark(request: Request) -> JSONResponse:
        request.state.marked = True
        request.state.shared.append("marked")
        return JSONResponse({})

    return Starlette(
        routes=[Route("/state", show), Route("/mark", mark, methods=["POST"])], lifespan=lifespan
    )


async def test_each_app_sees_only_its_own_lifespan_state() -> None:
    mounts = {
        "/a": starlette_with_state({"a_pool": "pool of a", "shared": []}),
        "/b": starlette_with_state({"b_pool": "pool of b", "shared": []}),
    }

    async with dispatch(mounts) as client:
        a = (await client.get("/a/state")).json()
        b = (await client.get("/b/state")).json()

    assert a == {"a_pool": "'pool of a'", "shared": "[]"}
    assert b == {"b_pool": "'pool of b'", "shared": "[]"}


async def test_an_app_without_lifespan_gets_no_state() -> None:
    log: list[str] = []

    async def stateless(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        log.append(repr(sorted(scope.get("state", {}))))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mounts = {"/a": starlette_with_state({"a_pool": 1, "shared": []}), "/b": stateless}

    async with dispatch(mounts) as client:
        await client.get("/b/")

    assert log == ["[]"]


async def test_each_request_gets_a_shallow_copy_of_the_state() -> None:
    mounts = {"/a": starlette_with_state({"shared": []})}

    async with dispatch(mounts) as client:
        await client.post("/a/mark")
        after = (await client.get("/a/state")).json()

    # A key set on one request's state does not reach the next request; the objects the
    # lifespan put in the state are the same ones (the ASGI spec's shallow copy).
    assert after == {"shared": "['marked']"}


async def test_nested_table_apps_get_their_own_state() -> None:
    mounts = {"/outer": {"/a": starlette_with_state({"nested": 1})}}

    async with dispatch(mounts) as client:
        seen = (await client.get("/outer/a/state")).json()

    assert seen == {"nested": "1"}


# Apps without lifespan support.


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_django_asgi_handler_is_skipped(anyio_backend: str) -> None:
    log: list[str] = []
    mounts = {"/shop": get_asgi_application(), "/a": lifespan_app("a", log)}

    with anyio.fail_after(5):
        async with dispatch(mounts, startup_timeout=30) as client:
            response = await client.get("/shop/where/")

    assert response.json()["reverse"] == "/shop/where/"
    assert log == ["a startup", "a shutdown"]


async def test_app_returning_without_receiving_is_skipped_at_once() -> None:
    async def no_lifespan(scope: Scope, receive: Any, send: Any) -> None:
        return  # answers nothing, not even receive()

    with anyio.fail_after(5):
        async with dispatch({"/a": no_lifespan}, startup_timeout=30):
            pass


async def test_app_returning_after_receiving_startup_without_answer_is_skipped_at_once() -> None:
    async def silent(scope: Scope, receive: Any, send: Any) -> None:
        await receive()

    with anyio.fail_after(5):
        async with dispatch({"/a": silent}, startup_timeout=30):
            pass


async def test_app_raising_on_lifespan_scope_before_receiving_is_skipped() -> None:
    async def http_only(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")

    async with dispatch({"/a": http_only}):
        pass


# Startup failures.


async def test_startup_failed_raises_at_once_with_the_apps_message() -> None:
    log: list[str] = []

    with anyio.fail_after(5), pytest.raises(LifespanError) as raised:
        async with dispatch(
            {"/billing": lifespan_app("b", log, startup="fail")}, startup_timeout=30
        ):
            pass

    assert "'/billing'" in str(raised.value)
    assert "b refuses to startup" in str(raised.value)


async def test_startup_raising_becomes_lifespan_error_naming_the_mount() -> None:
    log: list[str] = []

    with pytest.raises(
        LifespanError, match=r"'/billing'.*RuntimeError.*b cannot startup"
    ) as raised:
        async with dispatch({"/billing": lifespan_app("b", log, startup="raise")}):
            pass

    assert isinstance(raised.value.__cause__, RuntimeError)


async def test_hanging_startup_becomes_lifespan_error_after_startup_timeout() -> None:
    log: list[str] = []

    with anyio.fail_after(5), pytest.raises(LifespanError, match=r"'/billing'.*0\.2 s"):
        async with dispatch(
            {"/billing": lifespan_app("b", log, startup="hang")}, startup_timeout=0.2
        ):
            pass


async def test_starlette_startup_cut_off_by_the_timeout_is_reported_as_a_timeout() -> None:
    # Starlette answers the cancellation with lifespan.startup.failed and a traceback.
    @asynccontextmanager
    async def slow_startup(app: Starlette) -> AsyncIterator[None]:
        await anyio.sleep(30)
        yield

    with (
        anyio.fail_after(5),
        pytest.raises(
            LifespanError, match=r"'/slow': lifespan startup did not complete within 0\.2 s"
        ),
    ):
        async with dispatch({"/slow": Starlette(lifespan=slow_startup)}, startup_timeout=0.2):
            pass


@pytest.mark.parametrize("failure", ["fail", "raise", "hang"])
async def test_started_apps_are_shut_down_when_a_later_startup_fails(failure: str) -> None:
    log: list[str] = []
    mounts = {
        "/a": lifespan_app("a", log),
        "/b": lifespan_app("b", log, startup=failure),
        "/c": lifespan_app("c", log),
    }

    with anyio.fail_after(5), pytest.raises(LifespanError, match="'/b'"):
        async with dispatch(mounts, startup_timeout=0.2):
            pytest.fail("the body must not run")

    assert log == ["a startup", "b startup", "a shutdown"]


async def test_startup_failure_in_nested_table_names_the_inner_mount() -> None:
    log: list[str] = []
    mounts = {"/outer": {"/inner": lifespan_app("inner", log, startup="fail")}}

    with pytest.raises(LifespanError, match="'/inner'"):
        async with dispatch(mounts):
            pass


# Shutdown failures.


@pytest.mark.parametrize("failure", ["fail", "raise", "hang"])
async def test_shutdown_failure_raises_after_the_other_apps_shut_down(failure: str) -> None:
    log: list[str] = []
    mounts = {
        "/a": lifespan_app("a", log),
        "/b": lifespan_app("b", log, shutdown=failure),
        "/c": lifespan_app("c", log),
    }

    with anyio.fail_after(5), pytest.raises(LifespanError, match=r"'/b'.*shutdown"):
        async with dispatch(mounts, shutdown_timeout=0.2):
            pass

    assert log[3:] == ["c shutdown", "b shutdown", "a shutdown"]


async def test_shutdown_failure_gives_way_to_the_bodys_exception() -> None:
    log: list[str] = []
    mounts = {"/a": lifespan_app("a", log), "/b": lifespan_app("b", log, shutdown="fail")}

    with pytest.raises(KeyError, match="from the test"):
        async with dispatch(mounts):
            raise KeyError("from the test")

    assert log[2:] == ["b shutdown", "a shutdown"]


async def test_shutdown_failure_message_carries_the_apps_message() -> None:
    log: list[str] = []

    with pytest.raises(LifespanError, match="b refuses to shutdown"):
        async with dispatch({"/b": lifespan_app("b", log, shutdown="fail")}):
            pass


# The Dispatcher serving a server's lifespan scope.


async def test_dispatcher_answers_a_lifespan_scope_for_every_app() -> None:
    log: list[str] = []
    dispatcher = Dispatcher({"/a": lifespan_app("a", log), "/b": lifespan_app("b", log)})

    async with LifespanManager(dispatcher):
        log.append("serving")

    assert log == ["a startup", "b startup", "serving", "b shutdown", "a shutdown"]


async def test_dispatcher_serving_lifespan_gives_each_app_its_state() -> None:
    dispatcher = Dispatcher({"/a": starlette_with_state({"a_pool": 1})})
    transport = StreamingTransport(dispatcher)

    async with (
        LifespanManager(dispatcher),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        seen = (await client.get("/a/state")).json()

    assert seen == {"a_pool": "1"}


async def test_lifespans_of_one_dispatcher_run_once_at_a_time() -> None:
    dispatcher = Dispatcher({"/a": lifespan_app("a", [])})

    async with dispatch(dispatcher):
        with pytest.raises(RuntimeError, match="running already"):
            async with dispatch(dispatcher):
                pass


async def test_dispatcher_answers_startup_failed_naming_the_mount() -> None:
    log: list[str] = []
    dispatcher = Dispatcher(
        {"/a": lifespan_app("a", log), "/b": lifespan_app("b", log, startup="fail")}
    )

    sent = await serve_lifespan(dispatcher, [{"type": "lifespan.startup"}])

    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "'/b'" in sent[0]["message"]
    assert "b refuses to startup" in sent[0]["message"]
    assert log == ["a startup", "b startup", "a shutdown"]


async def test_dispatcher_answers_shutdown_failed_naming_the_mount() -> None:
    log: list[str] = []
    dispatcher = Dispatcher({"/a": lifespan_app("a", log, shutdown="raise")})

    sent = await serve_lifespan(
        dispatcher, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.failed"]
    assert "'/a'" in sent[1]["message"]


async def serve_lifespan(app: Any, incoming: list[Message]) -> list[Message]:
    """Play a server's side of the lifespan protocol: send `incoming`, collect the answers."""
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


# Apps that return early, stray from the protocol, or swallow cancellation (issue 9).


async def answers_startup_then_returns(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})


async def reads_shutdown_then_returns(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()


RETURNING_AFTER_STARTUP = [
    pytest.param(answers_startup_then_returns, id="returns-after-startup"),
    pytest.param(reads_shutdown_then_returns, id="returns-after-reading-shutdown"),
]


@pytest.mark.parametrize("app", RETURNING_AFTER_STARTUP)
async def test_app_returning_after_answering_startup_has_shut_down(app: Any) -> None:
    log: list[str] = []
    mounts = {"/a": lifespan_app("a", log), "/b": app, "/c": lifespan_app("c", log)}

    with anyio.fail_after(5):
        async with dispatch(mounts, shutdown_timeout=30):
            pass

    assert log == ["a startup", "c startup", "c shutdown", "a shutdown"]


@pytest.mark.parametrize("app", RETURNING_AFTER_STARTUP)
async def test_dispatcher_serving_lifespan_shuts_down_an_app_that_returned(app: Any) -> None:
    log: list[str] = []
    dispatcher = Dispatcher({"/a": lifespan_app("a", log), "/b": app})

    sent = await serve_lifespan(
        dispatcher, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert log == ["a startup", "a shutdown"]


async def test_stray_startup_complete_during_shutdown_leaves_the_deadline_standing() -> None:
    async def stray(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.startup.complete"})  # out of turn
        await anyio.sleep_forever()

    with (
        anyio.fail_after(5),
        pytest.raises(
            LifespanError,
            match=r"^mount '/stray': lifespan shutdown did not complete within 0\.3 s$",
        ),
    ):
        async with dispatch({"/stray": stray}, shutdown_timeout=0.3):
            pass


async def test_startup_timeout_is_reported_when_the_app_swallows_the_cancellation() -> None:
    ran: list[str] = []

    async def swallows(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            ran.append("request")
            return
        await receive()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return  # swallowed: it looks like an app without lifespan

    with (
        anyio.fail_after(5),
        pytest.raises(
            LifespanError, match=r"'/slow': lifespan startup did not complete within 0\.2 s"
        ),
    ):
        async with dispatch({"/slow": swallows}, startup_timeout=0.2) as client:
            await client.get("/slow/")

    assert ran == []


def counting_response(runs: list[str]) -> Response:
    """A Starlette response used as an app: it answers every scope, lifespan too."""

    async def count() -> None:
        runs.append("background task")

    return Response("hello", background=BackgroundTask(count))


async def test_app_sending_a_response_on_the_lifespan_scope_is_cancelled_there() -> None:
    runs: list[str] = []
    log: list[str] = []
    mounts = {"/a": lifespan_app("a", log), "/hello": counting_response(runs)}

    with anyio.fail_after(5):
        async with dispatch(mounts) as client:
            response = await client.get("/hello/")

    assert response.text == "hello"
    assert runs == ["background task"]  # for the request; never on the lifespan scope
    assert log == ["a startup", "a shutdown"]


async def test_dispatcher_serving_lifespan_cancels_an_app_sending_a_response() -> None:
    runs: list[str] = []
    dispatcher = Dispatcher({"/hello": counting_response(runs)})

    sent = await serve_lifespan(
        dispatcher, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert runs == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_app_sending_in_a_loop_without_yielding_does_not_hang_dispatch_sync(backend: str) -> None:
    # In a subprocess: before the fix the loop never yielded, so nothing in this process
    # could have stopped it.
    code = textwrap.dedent(
        """
        import sys

        from pytest_asgi_dispatch import dispatch_sync

        sends = []

        async def app(scope, receive, send):
            while True:  # ignores scope["type"], and never awaits anything but send
                sends.append(scope["type"])
                await send({"type": "http.response.start", "status": 200, "headers": []})
                if scope["type"] == "http":
                    await send({"type": "http.response.body", "body": b"ok"})
                    return

        with dispatch_sync({"/": app}, startup_timeout=2, backend=sys.argv[1]) as client:
            print(client.get("/").text, sends)
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", code, backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok ['lifespan', 'http']"


async def test_app_sending_a_response_after_its_startup_is_an_error_at_exit() -> None:
    runs: list[str] = []

    async def strays(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        runs.append("ran on after the stray message")

    with (
        anyio.fail_after(5),
        pytest.raises(LifespanError, match=r"^mount '/a': lifespan sent 'http.response.start'"),
    ):
        async with dispatch({"/a": strays}):
            pass

    assert runs == []


async def test_dispatcher_mounted_twice_runs_its_apps_lifespans_once() -> None:
    log: list[str] = []
    inner = Dispatcher({"/s": starlette_with_state({"pool": "one"}), "/l": lifespan_app("l", log)})

    async with dispatch({"/one": inner, "/two": inner}) as client:
        one = (await client.get("/one/s/state")).json()
        two = (await client.get("/two/s/state")).json()

    assert one == two == {"pool": "'one'"}
    assert log == ["l startup", "l shutdown"]


# The LifespanError message: one line; the app's own traceback is its cause.


def fastapi_whose_startup_raises() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database is unreachable")
        yield

    return FastAPI(lifespan=lifespan)


async def test_lifespan_error_is_one_line_with_the_apps_exception_as_cause() -> None:
    with pytest.raises(LifespanError) as raised:
        async with dispatch({"/api": fastapi_whose_startup_raises()}):
            pass

    # The message docs/how-to/scopes-and-lifespans.md shows.
    assert str(raised.value) == (
        "mount '/api': lifespan startup raised RuntimeError: database is unreachable"
    )
    cause = raised.value.__cause__
    assert isinstance(cause, RuntimeError)
    assert str(cause) == "database is unreachable"
    frames = [frame.name for frame in traceback.extract_tb(cause.__traceback__)]
    assert "lifespan" in frames  # the app's own frame, where it raised


async def test_failed_message_shows_its_last_line_and_keeps_the_whole_text() -> None:
    text = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: no config\n'

    async def failing(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": text})

    with pytest.raises(LifespanError) as raised:
        async with dispatch({"/a": failing}):
            pass

    assert str(raised.value) == "mount '/a': lifespan startup failed: ValueError: no config"
    assert isinstance(raised.value.__cause__, LifespanFailedMessage)
    assert str(raised.value.__cause__) == text


async def test_app_raising_between_startup_and_shutdown_is_reported_at_exit() -> None:
    log: list[str] = []

    async def crashes(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise OSError("connection pool lost")

    with (
        anyio.fail_after(5),
        pytest.raises(
            LifespanError,
            match=r"^mount '/b': lifespan between startup and shutdown raised OSError: "
            "connection pool lost$",
        ),
    ):
        async with dispatch({"/a": lifespan_app("a", log), "/b": crashes}):
            log.append("body ran to its end")

    assert log == ["a startup", "body ran to its end", "a shutdown"]


# uvicorn serving the Dispatcher, lifespan="on".


class UvicornInThread:
    """A real uvicorn server in a thread, on a socket bound beforehand; waits are bounded."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.url = f"http://{host}:{port}"
        self.started = threading.Event()
        started = self.started

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                started.set()

        config = uvicorn.Config(
            app, lifespan="on", log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.socket])), daemon=True
        )

    def __enter__(self) -> UvicornInThread:
        self.thread.start()
        assert self.started.wait(TIMEOUT), "uvicorn did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True  # what uvicorn's SIGTERM handler does
        self.thread.join(TIMEOUT)
        self.socket.close()


@pytest.mark.parametrize("app", RETURNING_AFTER_STARTUP)
def test_uvicorn_lifespan_on_serving_the_dispatcher_shuts_down(app: Any) -> None:
    log: list[str] = []
    dispatcher = Dispatcher({"/a": lifespan_app("a", log), "/b": app})

    with UvicornInThread(dispatcher) as running:
        answer = httpx.get(f"{running.url}/a/", timeout=TIMEOUT)

    assert not running.thread.is_alive(), "uvicorn did not finish shutting down"
    assert answer.status_code == 200
    assert log == ["a startup", "a shutdown"]
