"""Outbound calls between mounted apps: each client library x each caller kind x each target.

The callers (a sync Django view, a Flask view, an async FastAPI endpoint, a plain thread
a Flask view starts) call a target host with requests, or the `Client` or `AsyncClient` of
httpx and of httpx2 (where installed: nox's httpx2 sessions); the targets are an ASGI app
(FastAPI), a WSGI app (Flask) and Django, whose view reads the test's `django_db` rows.
This module is the URLconf of its Django site.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import fastapi
import flask
import httpx
import pytest
import requests
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path

from pytest_asgi_dispatch import dispatch, dispatch_sync
from tests.djangoapp.db_cases import is_open
from tests.djangoapp.db_cases import opened_on_other_threads as opened_on_other_threads  # fixture
from tests.djangoapp.models import Item

needs_httpx2 = pytest.mark.skipif(
    importlib.util.find_spec("httpx2") is None, reason="httpx2 is not installed"
)
LIBRARIES = (
    "requests",
    "httpx",
    "httpx-async",
    pytest.param("httpx2", marks=needs_httpx2),
    pytest.param("httpx2-async", marks=needs_httpx2),
)
HTTPX_LIBRARIES = ("httpx", pytest.param("httpx2", marks=needs_httpx2))
TARGETS = {"asgi": "asgi.internal", "wsgi": "wsgi.internal", "django": "django.internal"}
CALL_TIMEOUT = 10.0  # every call in these tests answers within milliseconds


def client_module(library: str) -> Any:
    """httpx or httpx2, for a library of `LIBRARIES`."""
    return importlib.import_module(library.removesuffix("-async"))


def call_with(library: str, url: str) -> tuple[int, Any]:
    """`GET url` with `library`, from sync code: the status and the JSON body."""
    if library == "requests":
        response = requests.get(url, timeout=CALL_TIMEOUT)
        return response.status_code, response.json()
    if library.endswith("-async"):
        return asyncio.run(call_async(url, client_module(library)))
    with client_module(library).Client(timeout=CALL_TIMEOUT) as client:
        answer = client.get(url)
    return answer.status_code, answer.json()


async def call_async(url: str, module: Any = httpx) -> tuple[int, Any]:
    async with module.AsyncClient(timeout=CALL_TIMEOUT) as client:
        answer = await client.get(url)
    return answer.status_code, answer.json()


def answer(library: str, target: str) -> dict[str, Any]:
    status, body = call_with(library, f"http://{TARGETS[target]}/target/")
    return {"status": status, "body": body, "thread": threading.get_ident()}


# --- the targets ----------------------------------------------------------------------


def target_asgi() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/target/")
    async def target(request: fastapi.Request) -> dict[str, Any]:
        return {"served_by": "asgi", "host": request.headers["host"]}

    return app


def target_wsgi() -> flask.Flask:
    app = flask.Flask("target")

    @app.get("/target/")
    def target() -> dict[str, Any]:
        return {"served_by": "wsgi", "host": flask.request.host}

    return app


def django_target(request: HttpRequest) -> JsonResponse:
    names = sorted(Item.objects.values_list("name", flat=True))
    return JsonResponse(
        {"served_by": "django", "host": request.get_host(), "items": names},
    )


# --- the callers ----------------------------------------------------------------------


def django_caller(request: HttpRequest) -> JsonResponse:
    return JsonResponse(answer(request.GET["library"], request.GET["target"]))


def flask_caller() -> flask.Flask:
    app = flask.Flask("caller")

    @app.get("/call")
    def call() -> dict[str, Any]:
        return answer(flask.request.args["library"], flask.request.args["target"])

    @app.get("/thread")
    def in_a_thread() -> dict[str, Any]:
        library, target = flask.request.args["library"], flask.request.args["target"]
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(answer(library, target)))
        thread.start()
        thread.join(CALL_TIMEOUT)
        return result

    return app


def fastapi_caller() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/call")
    async def call(library: str, target: str) -> dict[str, Any]:
        if library.endswith("-async"):  # on the Dispatcher's loop
            url = f"http://{TARGETS[target]}/target/"
            status, body = await call_async(url, client_module(library))
            return {"status": status, "body": body}
        # A blocking call from async code belongs in a worker thread.
        return await anyio.to_thread.run_sync(answer, library, target)

    return app


urlpatterns = [path("call/", django_caller), path("target/", django_target)]


@pytest.fixture
def site() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"]):
        yield


def mounts() -> dict[str, object]:
    return {
        "/dj": get_asgi_application(),
        "/flask": flask_caller(),
        "/api": fastapi_caller(),
        TARGETS["asgi"]: target_asgi(),
        TARGETS["wsgi"]: target_wsgi(),
        TARGETS["django"]: get_asgi_application(),
    }


CALLERS = {
    "django-view": "/dj/call/",
    "flask-view": "/flask/call",
    "async-endpoint": "/api/call",
    "plain-thread": "/flask/thread",
}
# Where the Django target sees the test's rows: its code runs on the test's thread and
# connection when the caller runs there (the sync client's Django and WSGI apps) or on the
# event loop (Django's thread-sensitive code then goes back to the test's thread).
ROWS_VISIBLE = {
    ("django-view", "requests"),
    ("django-view", "httpx"),
    ("flask-view", "requests"),
    ("flask-view", "httpx"),
    ("async-endpoint", "httpx-async"),
    ("async-endpoint", "requests"),
    ("async-endpoint", "httpx"),
}


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("library", LIBRARIES)
def test_an_app_calls_another_mounted_app_over_http_in_process(
    library: str, caller: str, target: str
) -> None:
    # httpx2's clients take the paths httpx's take.
    rows_visible = target == "django" and (caller, library.replace("2", "")) in ROWS_VISIBLE
    if rows_visible:  # else Django reads on a connection of its own: SQLite's lock
        Item.objects.create(name="made by the test")
    with dispatch_sync(mounts(), outbound="mounted") as client:
        response = client.get(CALLERS[caller], params={"library": library, "target": target})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == 200
    assert result["body"]["served_by"] == target
    assert result["body"]["host"] == TARGETS[target]  # the Host header the caller sent
    if rows_visible:
        assert result["body"]["items"] == ["made by the test"]


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("caller", "library"),
    [("django-view", "httpx-async"), ("plain-thread", "requests"), ("plain-thread", "httpx")],
)
def test_the_connection_django_opens_on_a_callers_thread_closes_with_its_request(
    caller: str, library: str, opened_on_other_threads: list[Any]
) -> None:
    # The called Django app runs on the caller's thread (an AnyIO worker thread, a thread
    # the Flask view starts), not the test's: its request's connection closes with it, as
    # Django closes a worker thread's (Python 3.13 warns of one left to the collector).
    with dispatch_sync(mounts(), outbound="mounted") as client:
        response = client.get(CALLERS[caller], params={"library": library, "target": "django"})

    assert response.json()["body"]["served_by"] == "django"
    assert opened_on_other_threads, "the called app ran on the test's thread"
    assert [c for c in opened_on_other_threads if is_open(c)] == []


# --- which calls are served, which refused, which left alone ---------------------------


def billing_app() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.api_route("/charges", methods=["GET", "POST"])
    async def charges(request: fastapi.Request) -> dict[str, Any]:
        return {"host": request.headers["host"], "scheme": request.url.scheme}

    @app.get("/slow")
    async def slow() -> None:
        await anyio.sleep(CALL_TIMEOUT)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("billing is down")

    return app


# Made at import, long before any dispatch().
MODULE_LEVEL_CLIENTS = {
    "httpx": httpx.Client(),
    **({"httpx2": client_module("httpx2").Client()} if importlib.util.find_spec("httpx2") else {}),
}


def test_https_and_any_port_of_a_mounted_host_are_served_with_the_callers_host_header() -> None:
    with dispatch_sync({"billing.internal": billing_app()}, outbound="mounted"):
        answer = requests.post("https://billing.internal:8443/charges", timeout=CALL_TIMEOUT)

    assert answer.json() == {"host": "billing.internal:8443", "scheme": "https"}


@pytest.mark.parametrize("library", HTTPX_LIBRARIES)
def test_a_client_made_before_the_test_and_the_base_url_host_are_served(library: str) -> None:
    app = {"/billing": billing_app()}
    with dispatch_sync(app, base_url="http://shop.internal", outbound="mounted"):
        answer = MODULE_LEVEL_CLIENTS[library].get("http://shop.internal/billing/charges")

    assert answer.json()["host"] == "shop.internal"


def test_an_exception_in_the_called_app_answers_the_caller_with_a_500() -> None:
    with dispatch_sync({"billing.internal": billing_app()}, outbound="mounted"):
        answer = requests.get("http://billing.internal/boom", timeout=CALL_TIMEOUT)

    assert answer.status_code == 500


@pytest.mark.parametrize("library", ["requests", *HTTPX_LIBRARIES])
def test_the_calling_clients_timeout_applies(library: str) -> None:
    url = "http://billing.internal/slow"
    with dispatch_sync({"billing.internal": billing_app()}, outbound="mounted"):
        if library == "requests":
            with pytest.raises(requests.exceptions.ReadTimeout):
                requests.get(url, timeout=0.1)
        else:
            module = client_module(library)
            with pytest.raises(module.ReadTimeout):
                module.get(url, timeout=0.1)


MOUNTED = "Mounted hosts: billing.internal, testserver."


def test_strict_refuses_other_hosts_with_requests_connection_error() -> None:
    with (
        dispatch_sync({"billing.internal": billing_app()}, outbound="strict"),
        pytest.raises(requests.ConnectionError, match=r"example\.org:80") as refused,
    ):
        requests.get("http://example.org/", timeout=CALL_TIMEOUT)
    assert MOUNTED in str(refused.value)


@pytest.mark.parametrize("library", HTTPX_LIBRARIES)
def test_strict_refuses_other_hosts_with_the_httpx_librarys_connection_error(
    library: str,
) -> None:
    module = client_module(library)
    with dispatch_sync({"billing.internal": billing_app()}, outbound="strict"):
        with pytest.raises(module.ConnectError, match=r"example\.org:443") as refused:
            module.get("https://example.org/")
        assert MOUNTED in str(refused.value)
        with pytest.raises(module.ConnectError, match=MOUNTED):
            asyncio.run(call_async("http://example.org/", module))


@pytest.fixture
def loopback_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, answering "real server" to any GET."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "11")
            self.end_headers()
            self.wfile.write(b"real server")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(CALL_TIMEOUT)


def test_loopback_is_never_diverted_nor_refused(loopback_server: str) -> None:
    port = loopback_server.split(":")[1]
    app = {"localhost": billing_app(), "/": billing_app()}
    with dispatch_sync(app, base_url="http://localhost", outbound="strict"):
        by_address = requests.get(f"http://{loopback_server}/charges", timeout=CALL_TIMEOUT)
        by_name = httpx.get(f"http://localhost:{port}/charges")

    assert by_address.text == by_name.text == "real server"


@pytest.mark.parametrize("library", HTTPX_LIBRARIES)
def test_everything_is_undone_on_exit_also_when_the_body_raised(library: str) -> None:
    client = client_module(library).Client
    patched = (client._transport_for_url, requests.Session.get_adapter)
    inside = []
    with (  # noqa: PT012 (the body runs inside the client, then raises)
        pytest.raises(ZeroDivisionError),
        dispatch_sync({"billing.internal": billing_app()}, outbound="strict"),
    ):
        inside.append(client._transport_for_url)
        1 / 0  # noqa: B018

    assert inside[0] is not patched[0]

    assert (client._transport_for_url, requests.Session.get_adapter) == patched


def test_the_tests_own_client_is_not_intercepted_twice() -> None:
    seen: list[str] = []
    app = fastapi.FastAPI()

    @app.get("/")
    async def root() -> str:
        seen.append("served")
        return "ok"

    with dispatch_sync({"/": app}, outbound="mounted") as client:
        assert client.get("http://testserver/").json() == "ok"

    assert seen == ["served"]


def test_off_leaves_calls_alone() -> None:
    patched = httpx.Client._transport_for_url
    with dispatch_sync({"billing.internal": billing_app()}):
        assert httpx.Client._transport_for_url is patched


def test_a_bad_mode_is_refused_naming_the_option() -> None:
    with (
        pytest.raises(ValueError, match="outbound = 'sometimes' is not one of"),
        dispatch_sync({}, outbound="sometimes"),  # type: ignore[arg-type]
    ):
        pass


# --- the event loop's thread, and trio -------------------------------------------------


def test_a_blocking_call_on_the_event_loops_thread_says_what_to_do_instead() -> None:
    app = fastapi.FastAPI()

    @app.get("/blocking")
    async def blocking() -> None:
        requests.get("http://billing.internal/charges", timeout=CALL_TIMEOUT)

    mounts = {"/": app, "billing.internal": billing_app()}
    with (
        dispatch_sync(mounts, outbound="mounted") as client,
        pytest.raises(RuntimeError, match=r"event loop's thread.*httpx\.AsyncClient"),
    ):
        client.get("/blocking")


@pytest.mark.anyio
async def test_an_async_app_calls_another_on_the_dispatchers_loop_on_both_backends() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def charge(request: Any) -> JSONResponse:
        async with httpx.AsyncClient() as client:
            answer = await client.post("http://billing.internal/charges")
        return JSONResponse({"billing": answer.json(), "library": anyio_library()})

    shop = Starlette(routes=[Route("/checkout", charge, methods=["POST"])])
    billing = Starlette(routes=[Route("/charges", echo_host, methods=["POST"])])
    async with dispatch({"/": shop, "billing.internal": billing}, outbound="mounted") as client:
        response = await client.post("/checkout")

    assert response.json()["billing"] == {"host": "billing.internal"}


async def echo_host(request: Any) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"host": request.headers["host"]})


def anyio_library() -> str:
    import sniffio

    return sniffio.current_async_library()


# --- the called app's task: its own, streaming, cancelled with its caller ---------------
# On Python 3.11 the outbound transport starts it by hand as 3.12's eager tasks start.


@pytest.mark.anyio
async def test_the_called_app_runs_as_a_task_and_in_a_context_of_its_own() -> None:
    import contextvars

    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="nothing")
    tasks: dict[str, object] = {}

    async def billing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        tasks["billing"] = current_task()
        seen.set("billing")
        with anyio.CancelScope():  # entered and left by one task, across a wait
            await anyio.sleep(0)
        tasks["billing, after a wait"] = current_task()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": seen.get().encode()})

    async with dispatch({"billing.internal": billing}, outbound="mounted"):
        async with httpx.AsyncClient() as client:
            answer = await client.get("http://billing.internal/")
        tasks["caller"] = current_task()

    assert answer.text == "billing"
    assert seen.get() == "nothing"  # the called app's context is not the caller's
    assert tasks["billing"] is tasks["billing, after a wait"] is not tasks["caller"]


def current_task() -> object:
    if anyio_library() == "trio":
        import trio

        return trio.lowlevel.current_task()
    return asyncio.current_task()


@pytest.mark.anyio
async def test_a_called_apps_stream_reaches_the_caller_as_it_is_sent() -> None:
    read_first = anyio.Event()

    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        with anyio.fail_after(CALL_TIMEOUT):
            await read_first.wait()  # the caller has it before the app sends more
        await send({"type": "http.response.body", "body": b", then more"})

    async with (
        dispatch({"stream.internal": stream}, outbound="mounted"),
        httpx.AsyncClient(timeout=CALL_TIMEOUT) as client,
        client.stream("GET", "http://stream.internal/") as response,
    ):
        chunks = response.aiter_raw()
        first = await chunks.__anext__()
        read_first.set()
        rest = b"".join([chunk async for chunk in chunks])

    assert (first, rest) == (b"first", b", then more")


@pytest.mark.anyio
async def test_a_caller_that_gives_up_leaves_the_called_app_which_ends() -> None:
    ended = anyio.Event()

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await anyio.sleep(CALL_TIMEOUT)  # in its first step: waits before responding
        finally:
            ended.set()

    async with dispatch({"slow.internal": slow}, outbound="mounted"):
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("http://slow.internal/", timeout=0.05)
        with anyio.fail_after(CALL_TIMEOUT):
            await ended.wait()


# --- requests: what its adapter hands on, and back ----------------------------------------


async def headers_and_cookie(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the request's headers (as sent, as Latin-1) and sets a cookie."""
    if scope["type"] != "http":
        return
    import json

    sent = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"seen=yes")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(sent).encode()})


def test_requests_headers_reach_the_app_as_they_go_on_the_wire_and_its_cookies_come_back() -> None:
    with dispatch_sync({"echo.internal": headers_and_cookie}, outbound="mounted"):
        session = requests.Session()
        answer = session.get(
            "http://echo.internal/",
            headers={"X-Bytes": b"\xe9t\xe9", "X-Text": "caf\xe9"},
            timeout=CALL_TIMEOUT,
        )
        again = session.get("http://echo.internal/", timeout=CALL_TIMEOUT)

    assert ["x-bytes", "\xe9t\xe9"] in answer.json()  # bytes as they are, text as Latin-1
    assert ["x-text", "caf\xe9"] in answer.json()
    assert answer.cookies["seen"] == "yes"
    assert ["cookie", "seen=yes"] in again.json()


def test_a_requests_stream_reaches_the_caller_as_the_app_sends_it() -> None:
    read_first = threading.Event()

    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await anyio.to_thread.run_sync(read_first.wait, CALL_TIMEOUT)
        await send({"type": "http.response.body", "body": b", then more"})

    with (
        dispatch_sync({"stream.internal": stream}, outbound="mounted"),
        requests.get("http://stream.internal/", stream=True, timeout=CALL_TIMEOUT) as answer,
    ):
        chunks = answer.iter_content(chunk_size=5)
        first = next(chunks)
        read_first.set()
        rest = b"".join(chunks)

    assert (first, rest) == (b"first", b", then more")


# --- a response read where it was served, for a caller on another thread -----------------


async def chunked(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A response in two chunks, without a Content-Length, with a header in mixed case."""
    if scope["type"] != "http":
        return
    headers = [(b"X-Exact", b"As Sent")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"one, ", "more_body": True})
    await send({"type": "http.response.body", "body": b"two"})


def headers_seen(library: str) -> dict[str, Any]:
    """What the calling client got of `chunked`: its headers as they came, and the body."""
    url = "http://chunked.internal/"
    if library == "httpx-async":

        async def get() -> httpx.Response:
            async with httpx.AsyncClient(timeout=CALL_TIMEOUT) as client:
                return await client.get(url)

        answer = asyncio.run(get())  # an event loop of this thread's own
    else:
        with httpx.Client(timeout=CALL_TIMEOUT) as client:
            answer = client.get(url)
    raw = [[name.decode(), value.decode()] for name, value in answer.headers.raw]
    return {"headers": raw, "body": answer.text}


@pytest.mark.parametrize(
    ("path", "library"),
    [("/api/worker", "httpx"), ("/flask/own-loop", "httpx-async")],
    ids=["async-view-worker-thread", "flask-view-own-loop"],
)
def test_a_buffered_response_keeps_the_headers_the_app_sent(path: str, library: str) -> None:
    api = fastapi.FastAPI()

    @api.get("/worker")
    async def worker() -> dict[str, Any]:
        return await anyio.to_thread.run_sync(headers_seen, library)

    flask_app = flask.Flask("caller")

    @flask_app.get("/own-loop")
    def own_loop() -> dict[str, Any]:
        return headers_seen(library)

    mounts = {"/api": api, "/flask": flask_app, "chunked.internal": chunked}
    with dispatch_sync(mounts, outbound="mounted") as client:
        seen = client.get(path).json()

    assert seen == {"headers": [["X-Exact", "As Sent"]], "body": "one, two"}


@pytest.mark.parametrize("stream", [False, True], ids=["read-at-once", "streamed"])
def test_a_called_app_failing_half_way_through_its_body_raises_requests_own_error(
    stream: bool,
) -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        await anyio.sleep(0.05)  # the caller has the response by now, and reads on
        raise ValueError("billing fell over")

    def read_all() -> bytes:
        answer = requests.get("http://broken.internal/", stream=stream, timeout=CALL_TIMEOUT)
        return b"".join(answer.iter_content(chunk_size=4))

    with (
        dispatch_sync({"broken.internal": broken}, outbound="mounted"),
        pytest.raises(requests.exceptions.ChunkedEncodingError, match="billing fell over"),
    ):
        read_all()
