"""The sync client runs WSGI apps on the test's own thread, with a2wsgi's semantics.

Each behaviour is checked on the inline path; where the event-loop path (a2wsgi) is the
reference, the same app is also reached through it (an ASGI wrapper of our own making
hides the WSGI app from the inline path) and the two answers compared.
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import flask
import pytest
from a2wsgi.wsgi import build_environ
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pytest_asgi_dispatch import dispatch_sync
from pytest_asgi_dispatch._apps import WSGIAdapter
from pytest_asgi_dispatch._client_library import ClientLibrary
from pytest_asgi_dispatch._inline import wsgi_environ

Environ = dict[str, Any]
StartResponse = Any

# --- apps -------------------------------------------------------------------------------

flask_app = flask.Flask("inline")
flask_app.secret_key = "inline-tests-only"


@flask_app.get("/thread")
def flask_thread() -> dict[str, Any]:
    return {"thread": threading.get_ident(), "url_for": flask.url_for("flask_thread")}


@flask_app.post("/echo")
def flask_echo() -> flask.Response:
    return flask.Response(flask.request.get_data(), mimetype="application/octet-stream")


@flask_app.get("/cookies")
def flask_cookies() -> flask.Response:
    response = flask.Response("two cookies")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


@flask_app.get("/visits")
def flask_visits() -> dict[str, int]:
    flask.session["visits"] = flask.session.get("visits", 0) + 1
    return {"visits": flask.session["visits"]}


@flask_app.get("/crash")
def flask_crash() -> str:
    raise LookupError("the view failed")


ENVIRONS: list[Environ] = []


def environ_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Keeps the environ it was called with, and answers with its thread."""
    ENVIRONS.append(dict(environ))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(threading.get_ident()).encode()]


def via_event_loop(wsgi: Any) -> Any:
    """The WSGI app as a2wsgi serves it, behind an ASGI function the inline path won't enter."""
    adapter = WSGIAdapter(wsgi, "/loop")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await adapter(scope, receive, send)

    return app


async def starlette_thread(request: Request) -> JSONResponse:
    return JSONResponse({"thread": threading.get_ident()})


starlette_app = Starlette(routes=[Route("/thread", starlette_thread)])


# --- the path taken ---------------------------------------------------------------------


def test_a_flask_view_runs_on_the_tests_thread() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.get("/billing/thread")

    assert response.json()["thread"] == threading.get_ident()


def test_a_plain_wsgi_app_runs_on_the_tests_thread() -> None:
    with dispatch_sync({"/plain": environ_app}) as client:
        response = client.get("/plain/")

    assert response.text == str(threading.get_ident())


def test_an_asgi_app_still_runs_on_the_event_loops_thread() -> None:
    with dispatch_sync({"/api": starlette_app, "/billing": flask_app}) as client:
        asgi = client.get("/api/thread").json()["thread"]
        wsgi = client.get("/billing/thread").json()["thread"]

    assert asgi != threading.get_ident()
    assert wsgi == threading.get_ident()


def test_wsgi_apps_run_inline_even_when_the_portal_runs_trio() -> None:
    # a2wsgi needs asyncio; on the inline path no event loop is involved at all.
    with dispatch_sync({"/billing": flask_app}, backend="trio") as client:
        response = client.get("/billing/thread")

    assert response.json()["thread"] == threading.get_ident()


# --- the environ ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mounts", "url", "headers"),
    [
        pytest.param({"/plain": "app"}, "/plain/a/b?x=1&y=%20", {}, id="prefix"),
        pytest.param({"/": "app"}, "/a/b", {}, id="root"),
        pytest.param({"/outer": {"/inner": "app"}}, "/outer/inner/page", {}, id="nested"),
        pytest.param({"shop.test": "app"}, "/page", {"host": "shop.test"}, id="host"),
        pytest.param({"shop.test/v1": "app"}, "/v1/page", {"host": "shop.test"}, id="host+path"),
        pytest.param(
            {"/plain": "app"},
            "/plain/caf%C3%A9",
            {"cookie": "a=1", "content-type": "text/plain"},
            id="unicode-headers",
        ),
    ],
)
def test_the_environ_is_the_one_a2wsgi_builds(
    mounts: dict[str, Any], url: str, headers: dict[str, str]
) -> None:
    def mount(table: dict[str, Any], app: Any) -> dict[str, Any]:
        return {k: mount(v, app) if isinstance(v, dict) else app for k, v in table.items()}

    ENVIRONS.clear()
    request_headers = [*headers.items(), ("x-twice", "1"), ("x-twice", "2")]
    with dispatch_sync(mount(mounts, environ_app)) as inline:
        inline.get(url, headers=request_headers)
    with dispatch_sync(mount(mounts, via_event_loop(environ_app))) as loop:
        loop.get(url, headers=request_headers)

    inline_environ, loop_environ = ENVIRONS
    assert inline_environ.pop("wsgi.input") is not loop_environ.pop("wsgi.input")
    assert inline_environ == loop_environ
    assert inline_environ["HTTP_X_TWICE"] == "1,2"  # repeated headers joined


def http_scope(**changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/shop/items",
        "raw_path": b"/shop/items",
        "query_string": b"a=1&b=%20",
        "root_path": "/shop",
        "headers": [
            (b"host", b"shop.test:8443"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"3"),
            (b"x-twice", b"1"),
            (b"x-twice", b"2"),
            (b"x_twice", b"3"),  # the same environ key as x-twice: joined to it
            (b"accept-language", "fr-CH, café".encode("latin1")),
        ],
        "client": ("192.0.2.1", 5000),
        "server": ("shop.test", 8443),
        "extensions": {},
    }
    scope.update(changes)
    return scope


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(http_scope(), id="plain"),
        pytest.param(http_scope(path="/shop/café", root_path="/shop"), id="unicode-path"),
        pytest.param(http_scope(path="/café/x", root_path="/café"), id="unicode-root-path"),
        pytest.param(http_scope(path="/elsewhere", root_path="/shop"), id="path-outside-root"),
        pytest.param(http_scope(root_path=""), id="no-root-path"),
        pytest.param(http_scope(client=None, server=None), id="no-client-no-server"),
        pytest.param(http_scope(server=("shop.test", None)), id="no-server-port"),
        pytest.param(http_scope(server=["shop.test", 443], client=["192.0.2.1", 5000]), id="lists"),
        pytest.param(http_scope(scheme="http", http_version="2"), id="http2"),
        pytest.param(http_scope(headers=[(b"Content-Length", b"3")]), id="uppercase-name"),
        pytest.param(http_scope(headers=[]), id="no-headers"),
    ],
)
@pytest.mark.parametrize("script_name", ["", "/from-the-environment"])
def test_the_environ_is_a2wsgis_key_for_key_in_its_order(
    scope: dict[str, Any], script_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a2wsgi takes SCRIPT_NAME from the process's environment when it is set there.
    monkeypatch.setenv("SCRIPT_NAME", script_name)
    body = object()

    environ = wsgi_environ(scope)
    environ["wsgi.input"] = body

    assert list(environ.items()) == list(build_environ(scope, body).items())  # type: ignore[arg-type]
    assert environ["asgi.scope"] is scope


def test_the_environ_takes_script_name_from_a_replaced_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "environ", {"SCRIPT_NAME": "/replaced"})
    body = object()

    environ = wsgi_environ(http_scope())
    environ["wsgi.input"] = body

    assert environ["SCRIPT_NAME"] == "/replaced"
    assert list(environ.items()) == list(build_environ(http_scope(), body).items())  # type: ignore[arg-type]


def test_flask_builds_its_urls_under_its_prefix_in_a_nested_table() -> None:
    with dispatch_sync({"/outer": {"/billing": flask_app}}) as client:
        response = client.get("/outer/billing/thread")

    assert response.json()["url_for"] == "/outer/billing/thread"


# --- bodies -----------------------------------------------------------------------------


def test_bodies_pass_byte_exact_both_ways() -> None:
    body = os.urandom(3 * 2**20 + 7)
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.post("/billing/echo", content=body)

    assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()


def test_a_chunked_upload_reaches_an_app_that_reads_content_length_whole() -> None:
    def upload() -> Iterator[bytes]:
        yield b"first "
        yield b"second"

    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.post("/billing/echo", content=upload())

    assert response.content == b"first second"


def test_a_request_body_of_known_length_is_streamed_into_wsgi_input() -> None:
    events: list[str] = []

    def reading_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"]
        events.append(f"app read {body.read(5)!r}")
        events.append(f"app read {body.read()!r}")
        start_response("200 OK", [])
        return [b"read"]

    def upload() -> Iterator[bytes]:
        events.append("sent first")
        yield b"first"
        events.append("sent second")
        yield b"second"

    with dispatch_sync({"/upload": reading_app}) as client:
        client.post("/upload/", content=upload(), headers={"content-length": "11"})

    assert events == ["sent first", "app read b'first'", "sent second", "app read b'second'"]


def test_wsgi_input_reads_lines_as_a_file_does() -> None:
    lines: list[Any] = []

    def lines_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"]
        lines.append(body.readline())
        lines.append(body.readline(3))
        lines.append(body.readlines())
        start_response("200 OK", [])
        return []

    with dispatch_sync({"/lines": lines_app}) as client:
        client.post("/lines/", content=iter([b"one\ntw", b"o\nthree\nfour"]))

    assert lines == [b"one\n", b"two", [b"\n", b"three\n", b"four"]]


def test_the_response_is_streamed_from_the_wsgi_iterable() -> None:
    events: list[str] = []

    def streaming_app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        for n in range(3):
            events.append(f"app sent {n}")
            yield f"data: {n}\n\n".encode()

    with (
        dispatch_sync({"/events": streaming_app}) as client,
        client.stream("GET", "/events/") as response,
    ):
        chunks = response.iter_raw()
        events.append(f"client got {next(chunks)!r}")
        events.append(f"client got {next(chunks)!r}")

    assert events[:4] == [
        "app sent 0",
        "client got b'data: 0\\n\\n'",
        "app sent 1",
        "client got b'data: 1\\n\\n'",
    ]


def test_head_gets_the_headers_and_no_body() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.head("/billing/thread")

    assert response.status_code == 200
    assert int(response.headers["content-length"]) > 0
    assert response.content == b""


def test_chunks_written_through_start_responses_write_come_first() -> None:
    def writing_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"written, ")
        return [b"", b"returned"]

    with dispatch_sync({"/write": writing_app}) as client:
        response = client.get("/write/")

    assert response.text == "written, returned"


# --- headers and cookies ----------------------------------------------------------------


def test_repeated_set_cookie_headers_are_kept() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.get("/billing/cookies")

    assert response.headers.get_list("set-cookie") == ["first=1; Path=/", "second=2; Path=/"]
    assert dict(client.cookies) == {"first": "1", "second": "2"}


def test_a_flask_session_round_trips_in_the_clients_cookie_jar() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        visits = [client.get("/billing/visits").json()["visits"] for _ in range(3)]

    assert visits == [1, 2, 3]


# --- closing ----------------------------------------------------------------------------


class ClosingBody:
    """A WSGI iterable that notes its `close()`, PEP 3333's end-of-response signal."""

    def __init__(self, chunks: list[bytes], closed: list[bool]) -> None:
        self._chunks = chunks
        self._closed = closed

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        self._closed.append(True)


def test_the_iterables_close_is_called_once_the_body_is_read() -> None:
    closed: list[bool] = []

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [])
        return ClosingBody([b"a", b"b"], closed)

    with dispatch_sync({"/closing": app}) as client:
        response = client.get("/closing/")

    assert (response.content, closed) == (b"ab", [True])


def test_the_iterables_close_is_called_when_the_client_leaves_early() -> None:
    closed: list[bool] = []

    def endless(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"tick"
        finally:
            closed.append(True)

    with dispatch_sync({"/endless": endless}) as client:
        with client.stream("GET", "/endless/") as response:
            assert next(response.iter_raw()) == b"tick"
        assert closed == [True]


def test_a_body_whole_in_its_first_chunk_is_read_to_its_end_before_the_response() -> None:
    # As Flask's body is: a generator whose first chunk is all its content-length
    # declares. Its end is read, and its iterable closed, before the client gets it.
    events: list[str] = []

    def whole_at_once(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        try:
            yield b"whole"
        finally:
            events.append("closed")

    with (
        dispatch_sync({"/whole": whole_at_once}) as client,
        client.stream("GET", "/whole/") as response,
    ):
        events.append("response")
        assert response.read() == b"whole"

    assert events == ["closed", "response"]


def test_a_body_going_on_past_a_first_chunk_of_its_whole_length_still_raises() -> None:
    def overlong(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        yield b"whole"
        yield b", and more"

    with (
        dispatch_sync({"/overlong": overlong}) as client,
        pytest.raises(RuntimeError, match="longer than its content-length of 5 bytes"),
    ):
        client.get("/overlong/")


def test_a_response_read_to_its_end_keeps_nothing_of_the_app_alive() -> None:
    # httpx's response and its stream are garbage in a cycle, freed by the collector
    # only: what they still held of the request (its environ, the app's iterable) would
    # be too, at a cost to every later collection.
    closed: list[bool] = []
    bodies: list[weakref.ref[ClosingBody]] = []

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [])
        body = ClosingBody([b"a", b"b"], closed)
        bodies.append(weakref.ref(body))
        return body

    with dispatch_sync({"/closing": app}) as client:
        gc.disable()
        try:
            response = client.get("/closing/")
            assert (response.content, closed) == (b"ab", [True])
            assert bodies[0]() is None
        finally:
            gc.enable()


# --- exceptions -------------------------------------------------------------------------


def failing_before_responding(environ: Environ, start_response: StartResponse) -> list[bytes]:
    raise KeyError("no response at all")


def failing_mid_body(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [])
    yield b"half"
    raise ConnectionAbortedError("mid body")


def passing_exc_info(environ: Environ, start_response: StartResponse) -> list[bytes]:
    try:
        raise PermissionError("handled by the app")
    except PermissionError as exc:
        start_response("500 Internal Server Error", [], (type(exc), exc, exc.__traceback__))
    return [b"the app's own 500"]


def never_starting(environ: Environ, start_response: StartResponse) -> list[bytes]:
    return []


@pytest.mark.parametrize(
    ("app", "error", "message"),
    [
        (failing_before_responding, KeyError, "no response at all"),
        (failing_mid_body, ConnectionAbortedError, "mid body"),
        (passing_exc_info, PermissionError, "handled by the app"),
        (never_starting, RuntimeError, "mounted at '/app' returned without calling start_response"),
    ],
)
def test_what_the_wsgi_app_raises_reaches_the_test(app: Any, error: type, message: str) -> None:
    with dispatch_sync({"/app": app}) as client, pytest.raises(error, match=message):
        client.get("/app/")


@pytest.mark.parametrize(
    ("app", "status", "body"),
    [
        (failing_before_responding, 500, b""),
        (passing_exc_info, 500, b"the app's own 500"),
        (never_starting, 500, b""),
    ],
)
def test_without_raising_the_client_gets_what_a2wsgi_would_send(
    app: Any, status: int, body: bytes
) -> None:
    with dispatch_sync({"/app": app}, raise_app_exceptions=False) as client:
        inline = client.get("/app/")
    with dispatch_sync({"/app": via_event_loop(app)}, raise_app_exceptions=False) as client:
        loop = client.get("/app/")

    assert (inline.status_code, inline.content) == (loop.status_code, loop.content)
    assert (inline.status_code, inline.content) == (status, body)


@pytest.mark.parametrize("app", [failing_mid_body, via_event_loop(failing_mid_body)])
def test_without_raising_a_body_cut_short_by_the_app_is_a_protocol_error(
    app: Any, http: ClientLibrary
) -> None:
    # The 500 cannot be sent any more: a server would drop the connection.
    with (
        dispatch_sync({"/app": app}, raise_app_exceptions=False) as client,
        pytest.raises(http.RemoteProtocolError, match="raised ConnectionAbortedError"),
    ):
        client.get("/app/")


def test_a_flask_views_exception_reaches_the_test_with_its_traceback() -> None:
    with (
        dispatch_sync({"/billing": flask_app}) as client,
        pytest.raises(LookupError, match="the view failed") as raised,
    ):
        client.get("/billing/crash")

    assert raised.traceback[-1].name == "flask_crash"


def test_without_raising_flask_answers_with_its_own_500_page() -> None:
    with dispatch_sync({"/billing": flask_app}, raise_app_exceptions=False) as client:
        response = client.get("/billing/crash")

    assert response.status_code == 500
    assert "<h1>Internal Server Error</h1>" in response.text


def test_a_failed_request_leaves_the_next_one_unharmed() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        with pytest.raises(LookupError):
            client.get("/billing/crash")
        response = client.get("/billing/thread")

    assert response.status_code == 200


def test_requests_from_many_threads_each_run_on_their_own_thread() -> None:
    served: list[tuple[int, int]] = []
    all_alive = threading.Barrier(4)  # so that no thread's ident is reused by the next

    with dispatch_sync({"/billing": flask_app}) as client:

        def fetch() -> None:
            all_alive.wait(timeout=30)
            served.append((threading.get_ident(), client.get("/billing/thread").json()["thread"]))
            all_alive.wait(timeout=30)

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert len({caller for caller, _ in served}) == 4
    assert all(caller == view for caller, view in served)


# --- the response as a server checks it (one checker for both paths) -------------------


def declaring_100_bytes(content: bytes) -> Any:
    """A WSGI app whose response declares 100 bytes and sends `content`."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "100")])
        return [content]

    return app


CONTENT_LENGTH_LIES = [
    pytest.param(b"x" * 10, "shorter than its content-length: 10 of 100 bytes", id="shorter"),
    pytest.param(b"x" * 200, "longer than its content-length of 100 bytes", id="longer"),
]
PATHS = [pytest.param(lambda app: app, id="inline"), pytest.param(via_event_loop, id="loop")]


@pytest.mark.parametrize(("content", "message"), CONTENT_LENGTH_LIES)
@pytest.mark.parametrize("served", PATHS)
def test_a_body_not_matching_its_content_length_raises_on_both_paths(
    served: Any, content: bytes, message: str
) -> None:
    with (
        dispatch_sync({"/app": served(declaring_100_bytes(content))}) as client,
        pytest.raises(RuntimeError, match=message),
    ):
        client.get("/app/")


@pytest.mark.parametrize(("content", "message"), CONTENT_LENGTH_LIES)
@pytest.mark.parametrize("served", PATHS)
def test_without_raising_a_body_not_matching_its_content_length_is_a_protocol_error(
    served: Any, content: bytes, message: str, http: ClientLibrary
) -> None:
    app = served(declaring_100_bytes(content))
    with (
        dispatch_sync({"/app": app}, raise_app_exceptions=False) as client,
        pytest.raises(http.RemoteProtocolError, match=message),
    ):
        client.get("/app/")


def reusing_one_buffer(environ: Environ, start_response: StartResponse) -> Iterator[Any]:
    """40 chunks of 4 KiB, each filled into the same bytearray, sent as it or as a view."""
    start_response("200 OK", [("Content-Length", str(40 * 4096))])
    buffer = bytearray(4096)
    for n in range(40):
        buffer[:] = bytes([n]) * 4096
        yield buffer if n % 2 else memoryview(buffer)


@pytest.mark.parametrize("served", PATHS)
def test_bytearray_and_memoryview_chunks_pass_byte_exact_on_both_paths(served: Any) -> None:
    expected = b"".join(bytes([n]) * 4096 for n in range(40))

    with dispatch_sync({"/app": served(reusing_one_buffer)}) as client:
        whole = client.get("/app/").content
        with client.stream("GET", "/app/") as response:
            streamed = b"".join(response.iter_raw())

    assert whole == streamed == expected


def test_a_chunk_neither_bytes_nor_bytes_like_names_the_mount() -> None:
    def text(environ: Environ, start_response: StartResponse) -> Iterable[Any]:
        start_response("200 OK", [])
        return ["not bytes"]

    with (
        dispatch_sync({"/app": text}) as client,
        pytest.raises(RuntimeError, match="'/app' returned a body chunk that is not bytes or"),
    ):
        client.get("/app/")


async def last_message_without_body(scope: Any, receive: Any, send: Any) -> None:
    """Ends its response with a body message that has no "body" key, as Django's handler does."""
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok", "more_body": True})
    await send({"type": "http.response.body"})


def test_a_last_body_message_without_a_body_counts_as_empty_against_content_length() -> None:
    with dispatch_sync({"/app": last_message_without_body}) as client:
        response = client.get("/app/")

    assert response.content == b"ok"


def test_a_request_no_mount_matches_still_gets_the_dispatchers_404() -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.get("/nowhere")

    assert response.status_code == 404
    assert "/billing" in response.text


def test_the_response_knows_its_request(http: ClientLibrary) -> None:
    with dispatch_sync({"/billing": flask_app}) as client:
        response = client.get("/billing/thread")

    assert isinstance(response.request, http.module.Request)
    assert response.request.url == "http://testserver/billing/thread"
