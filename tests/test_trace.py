"""The traffic trace: what each app served, recorded on every path, found, asserted, shown.

Recording is checked through real apps on both clients (the sync one runs Flask and
Django on the test's thread, the inline path) and both anyio backends; finding,
asserting and showing on traces read from JSON as well. The Mermaid diagrams are checked
against the rules of Mermaid's sequence-diagram grammar and, where `.ci/mermaid` has
installed it, by Mermaid's own parser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import requests
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path
from flask import Flask, request
from httpx_ws import aconnect_ws, connect_ws
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from pytest_asgi_dispatch import Call, Dispatcher, Trace, dispatch, dispatch_sync
from pytest_asgi_dispatch._observe import current_caller
from pytest_asgi_dispatch._trace import RecordedError

CLIENTS = ["async", "sync"]


class Boom(Exception):
    """What the apps raise on purpose."""


# --- the apps -------------------------------------------------------------------------


def shop() -> Starlette:
    """An async app: pages, an endpoint that raises, one that calls billing, websockets."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    async def crash(request: Request) -> PlainTextResponse:
        raise Boom("the shop fell over")

    async def checkout(request: Request) -> JSONResponse:
        async with httpx.AsyncClient() as service:  # served in-process: outbound="mounted"
            charge = await service.post("http://billing.internal/charges")
        return JSONResponse({"billing": charge.status_code}, status_code=502)

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():  # until the client disconnects
            await websocket.send_text(text)

    async def refuse(websocket: WebSocket) -> None:
        await websocket.close(code=4003)

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/crash", crash),
            Route("/checkout", checkout, methods=["POST"]),
            WebSocketRoute("/echo", echo),
            WebSocketRoute("/refuse", refuse),
        ]
    )


def billing_api() -> Starlette:
    """An async billing service whose charges fail (Starlette re-raises after its 500)."""

    async def charge(request: Request) -> PlainTextResponse:
        raise Boom("card declined")

    return Starlette(routes=[Route("/charges", charge, methods=["POST"])])


def billing() -> Flask:
    """A WSGI app whose exceptions Flask handles itself, with its own 500 page."""
    app = Flask("billing")

    @app.get("/invoices")
    def invoices() -> dict[str, object]:
        return {"invoices": [], "query": request.query_string.decode()}

    @app.post("/charges")
    def charge() -> dict[str, object]:
        raise Boom("card declined")

    return app


def django_crash(request: HttpRequest) -> HttpResponse:
    raise Boom("the Django view fell over")


def django_hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello")


urlpatterns = [path("crash/", django_crash), path("hello/", django_hello)]


@pytest.fixture
def django_site() -> Iterator[None]:
    """This module's Django views, over the test project's settings."""
    with override_settings(ROOT_URLCONF=__name__):
        yield


def skip_wsgi_on_trio(client: str, backend: str) -> None:
    """The event loop runs WSGI apps (through a2wsgi) on asyncio only."""
    if client == "async" and backend == "trio":
        pytest.skip("a WSGI app on the event loop needs asyncio")


def traced(
    mounts: Any,
    requests: list[tuple[str, str]],
    *,
    client: str,
    backend: str,
    **options: Any,
) -> tuple[Trace, list[httpx.Response | BaseException]]:
    """Send `requests` (method, URL) through the client of that kind, recording a trace;
    the answers in order (a response, or what the request raised)."""
    trace = Trace()
    answers: list[httpx.Response | BaseException] = []
    if client == "sync":
        with dispatch_sync(mounts, trace=trace, backend=backend, **options) as sync_client:
            for method, url in requests:
                try:
                    answers.append(sync_client.request(method, url))
                except Exception as exc:
                    answers.append(exc)
        return trace, answers

    async def send_all() -> None:
        async with dispatch(mounts, trace=trace, **options) as async_client:
            for method, url in requests:
                try:
                    answers.append(await async_client.request(method, url))
                except Exception as exc:
                    answers.append(exc)

    anyio.run(send_all, backend=backend)
    return trace, answers


# --- recording ------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_each_request_is_one_call_in_order_of_start(client: str, anyio_backend: str) -> None:
    skip_wsgi_on_trio(client, anyio_backend)
    mounts = {"/": shop(), "/billing": billing()}

    trace, _ = traced(
        mounts,
        [("GET", "/hello"), ("GET", "/billing/invoices?page=2"), ("DELETE", "/hello")],
        client=client,
        backend=anyio_backend,
    )

    assert [(c.caller, c.mount, c.kind, c.method, c.url, c.status) for c in trace.calls] == [
        ("test", "/", "http", "GET", "http://testserver/hello", 200),
        ("test", "/billing", "http", "GET", "http://testserver/billing/invoices?page=2", 200),
        ("test", "/", "http", "DELETE", "http://testserver/hello", 405),
    ]
    assert all(call.duration is not None and call.duration > 0 for call in trace.calls)
    assert [call.error for call in trace.calls] == [None, None, None]
    starts = [call.start for call in trace.calls]
    assert starts == sorted(starts)


@pytest.mark.parametrize("client", CLIENTS)
def test_a_request_no_mount_routes_is_a_call_to_none_answered_404(
    client: str, anyio_backend: str
) -> None:
    trace, _ = traced(
        {"/billing": billing()}, [("GET", "/nowhere")], client=client, backend=anyio_backend
    )

    (call,) = trace.calls
    assert (call.mount, call.status, call.error) == (None, 404, None)


@pytest.mark.parametrize("client", CLIENTS)
def test_an_exception_the_app_raised_is_kept_as_it_reached_the_test(
    client: str, anyio_backend: str
) -> None:
    trace, answers = traced(
        {"/": shop()}, [("GET", "/crash")], client=client, backend=anyio_backend
    )

    (raised,) = answers
    assert isinstance(raised, Boom)
    (call,) = trace.calls
    assert call.error is raised
    assert call.status == 500  # Starlette's own 500, sent before it re-raised
    assert call.duration is not None


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("raise_app_exceptions", [True, False])
def test_an_exception_flask_handled_is_kept_with_its_500(
    client: str, anyio_backend: str, raise_app_exceptions: bool
) -> None:
    skip_wsgi_on_trio(client, anyio_backend)
    trace, answers = traced(
        {"/billing": billing()},
        [("POST", "/billing/charges")],
        client=client,
        backend=anyio_backend,
        raise_app_exceptions=raise_app_exceptions,
    )

    (call,) = trace.calls
    assert call.status == 500
    assert isinstance(call.error, Boom)
    assert str(call.error) == "card declined"
    (answer,) = answers
    assert answer is call.error if raise_app_exceptions else answer.status_code == 500  # type: ignore[union-attr]


@pytest.mark.parametrize("client", CLIENTS)
def test_an_exception_django_handled_is_kept_with_its_500(client: str, django_site: None) -> None:
    trace, _ = traced(
        {"/shop": get_asgi_application()},
        [("GET", "/shop/hello/"), ("GET", "/shop/crash/")],
        client=client,
        backend="asyncio",  # Django's async side runs on asyncio only
        raise_app_exceptions=False,
    )

    assert [(call.mount, call.status) for call in trace.calls] == [("/shop", 200), ("/shop", 500)]
    assert trace.calls[0].error is None
    assert isinstance(trace.calls[1].error, Boom)


@pytest.mark.parametrize("client", CLIENTS)
def test_calls_between_apps_name_the_calling_mount(client: str, anyio_backend: str) -> None:
    mounts = {"/": shop(), "billing.internal": billing_api()}

    trace, answers = traced(
        mounts, [("POST", "/checkout")], client=client, backend=anyio_backend, outbound="mounted"
    )

    assert answers[0].json() == {"billing": 500}  # type: ignore[union-attr]
    checkout, charge = trace.calls
    assert (checkout.caller, checkout.mount, checkout.status) == ("test", "/", 502)
    assert (charge.caller, charge.mount, charge.method) == ("/", "billing.internal", "POST")
    assert (charge.url, charge.status) == ("http://billing.internal/charges", 500)
    assert isinstance(charge.error, Boom)
    assert checkout.error is None  # the shop handled billing's 500 itself
    assert checkout.start < charge.start
    assert charge.start + charge.duration <= checkout.start + checkout.duration  # type: ignore[operator]


def test_a_call_from_a_wsgi_view_on_the_tests_thread_names_its_mount() -> None:
    shop_on_flask = Flask("shop")

    @shop_on_flask.post("/checkout")
    def checkout() -> tuple[dict[str, int], int]:
        charge = requests.post("http://billing.internal/charges", timeout=10)
        return {"billing": charge.status_code}, 502

    trace = Trace()
    mounts = {"/shop": shop_on_flask, "billing.internal": billing_api()}
    with dispatch_sync(mounts, trace=trace, outbound="mounted") as client:
        client.post("/shop/checkout")  # Flask runs on this thread: the inline path

    assert [(call.caller, call.mount, call.status) for call in trace.calls] == [
        ("test", "/shop", 502),
        ("/shop", "billing.internal", 500),
    ]


@pytest.mark.anyio
async def test_a_websocket_session_is_one_call(anyio_backend: str) -> None:
    trace = Trace()
    async with dispatch({"/live": shop()}, trace=trace) as client:
        async with aconnect_ws("/live/echo", client) as websocket:
            await websocket.send_text("hi")
            assert await websocket.receive_text() == "hi"
            (open_call,) = trace.calls
            assert open_call.duration is None  # still open
        with pytest.raises(Exception, match="4003"):
            async with aconnect_ws("/live/refuse", client):
                pass  # pragma: no cover - refused

    accepted, refused = trace.calls
    assert (accepted.kind, accepted.method, accepted.url) == (
        "websocket",
        "GET",
        "ws://testserver/live/echo",
    )
    assert (accepted.mount, accepted.status, accepted.error) == ("/live", 101, None)
    assert accepted.duration is not None
    assert (refused.kind, refused.status) == ("websocket", 403)


def test_a_websocket_session_of_the_sync_client_is_one_call() -> None:
    trace = Trace()
    with (
        dispatch_sync({"/live": shop()}, trace=trace) as client,
        connect_ws("/live/echo", client) as websocket,
    ):
        websocket.send_text("hi")
        assert websocket.receive_text() == "hi"

    (call,) = trace.calls
    assert (call.kind, call.status, call.url) == ("websocket", 101, "ws://testserver/live/echo")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_host_mount_keeps_its_host_and_port_in_the_url(client: str, anyio_backend: str) -> None:
    trace, _ = traced(
        {"billing.test": shop()},
        [("GET", "http://billing.test:8080/hello")],
        client=client,
        backend=anyio_backend,
    )

    (call,) = trace.calls
    assert (call.mount, call.url, call.path) == (
        "billing.test",
        "http://billing.test:8080/hello",
        "/hello",
    )


@pytest.mark.parametrize("client", CLIENTS)
def test_a_nested_table_is_named_by_its_key_in_the_outer_table(
    client: str, anyio_backend: str
) -> None:
    mounts = {"/api": {"/v1": shop()}, "/live": shop()}

    trace, _ = traced(
        mounts,
        [("GET", "/api/v1/hello"), ("GET", "/live/hello")],
        client=client,
        backend=anyio_backend,
    )

    assert [(call.mount, call.status) for call in trace.calls] == [("/api", 200), ("/live", 200)]


def test_requests_from_several_threads_are_all_recorded() -> None:
    trace = Trace()
    with dispatch_sync({"/": shop(), "/billing": billing()}, trace=trace) as client:

        def send(url: str) -> None:
            for _ in range(25):
                client.get(url).raise_for_status()

        threads = [
            threading.Thread(target=send, args=(url,))
            for url in ("/hello", "/billing/invoices") * 2
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert len(trace.filter(mount="/")) == len(trace.filter(mount="/billing")) == 50
    assert all(call.status == 200 and call.duration is not None for call in trace.calls)


def test_the_trace_records_only_while_its_client_is_open() -> None:
    dispatcher = Dispatcher({"/": shop()})
    trace = Trace()
    with dispatch_sync(dispatcher, trace=trace) as client:
        client.get("/hello")
    with dispatch_sync(dispatcher) as client:
        client.get("/hello")

    assert len(trace.calls) == 1
    assert dispatcher.observer is None


def test_the_caller_outside_any_app_is_the_test() -> None:
    assert current_caller.get() == "test"


# --- finding calls --------------------------------------------------------------------


def call(
    mount: str | None,
    method: str,
    url: str,
    status: int | None = 200,
    *,
    caller: str = "test",
    kind: str = "http",
    error: BaseException | None = None,
    start: float = 0.0,
    duration: float | None = 0.001,
) -> Call:
    return Call(caller, mount, kind, method, url, status, duration, error, start)


@pytest.fixture
def shop_trace() -> Trace:
    """A checkout: the shop calls billing, which fails; then the shop's 502, and a page."""
    return Trace(
        [
            call("/", "POST", "http://testserver/checkout?cart=7", 502, start=0.0, duration=0.02),
            call(
                "billing.internal",
                "POST",
                "http://billing.internal/charges",
                500,
                caller="/",
                error=Boom("card declined"),
                start=0.005,
                duration=0.01,
            ),
            call("/billing/", "GET", "http://testserver/billing/invoices/42", start=0.03),
            call("/", "GET", "ws://testserver/live", 101, kind="websocket", start=0.04),
        ]
    )


def test_filter_with_nothing_given_is_every_call(shop_trace: Trace) -> None:
    assert shop_trace.filter() == shop_trace.calls


def test_filter_by_mount_reads_keys_as_the_dispatcher_does(shop_trace: Trace) -> None:
    assert shop_trace.filter(mount="/billing") == [shop_trace.calls[2]]
    assert shop_trace.filter(mount="/billing/") == [shop_trace.calls[2]]
    assert shop_trace.filter(mount="") == [shop_trace.calls[0], shop_trace.calls[3]]
    assert shop_trace.filter(mount="billing.*") == [shop_trace.calls[1]]


def test_filter_by_caller(shop_trace: Trace) -> None:
    assert shop_trace.filter(caller="/") == [shop_trace.calls[1]]
    assert len(shop_trace.filter(caller="test")) == 3


def test_a_path_wildcard_spans_segments(shop_trace: Trace) -> None:
    assert shop_trace.filter(path="/billing/*") == [shop_trace.calls[2]]
    assert shop_trace.filter(path="*/42") == [shop_trace.calls[2]]
    assert shop_trace.filter(path="/billing") == []  # whole paths only
    assert shop_trace.filter(path="/c*") == [shop_trace.calls[0], shop_trace.calls[1]]


def test_a_path_matches_the_query_only_when_the_pattern_holds_a_question_mark(
    shop_trace: Trace,
) -> None:
    assert shop_trace.filter(path="/checkout") == [shop_trace.calls[0]]  # query ignored
    assert shop_trace.filter(path="/checkout?cart=7") == [shop_trace.calls[0]]
    assert shop_trace.filter(path="/checkout?cart=*") == [shop_trace.calls[0]]
    assert shop_trace.filter(path="/checkout?cart=8") == []
    assert shop_trace.filter(path="/charges?*") == [shop_trace.calls[1]]  # an empty query


def test_filter_by_method_status_and_kind(shop_trace: Trace) -> None:
    assert shop_trace.filter(method="post") == shop_trace.calls[:2]
    assert shop_trace.filter(status=500) == [shop_trace.calls[1]]
    assert shop_trace.filter(status=range(500, 600)) == shop_trace.calls[:2]
    assert shop_trace.filter(kind="websocket") == [shop_trace.calls[3]]
    assert shop_trace.filter(method="POST", mount="/", status=502) == [shop_trace.calls[0]]


def test_assert_called_returns_the_matching_calls(shop_trace: Trace) -> None:
    assert shop_trace.assert_called("billing.internal", "POST", "/charges", status=500) == [
        shop_trace.calls[1]
    ]
    assert shop_trace.assert_called("/", times=2) == [shop_trace.calls[0], shop_trace.calls[3]]


def test_assert_called_lists_every_call_aligned_and_the_nearest_match(shop_trace: Trace) -> None:
    with pytest.raises(AssertionError) as failure:
        shop_trace.assert_called("billing.internal", "POST", "/charges", status=201)

    message = str(failure.value)
    lines = message.splitlines()
    assert lines[0] == (
        "expected a call to 'billing.internal' POST /charges status 201; none of the 4 "
        "recorded calls matches:"
    )
    table = lines[1:6]
    assert re.match(
        r"\s+#\s+caller -> mount\s+method\s+path\s+status\s+time\s+exception$", table[0]
    )
    assert re.match(r"\s+1\s+test -> /\s+POST\s+/checkout\?cart=7\s+502\s+20\.0 ms$", table[1])
    assert re.match(
        r"\s+2\s+/ -> billing\.internal\s+POST\s+/charges\s+500\s+10\.0 ms\s+"
        r"Boom: card declined$",
        table[2],
    )
    header, checkout, charge = table[:3]  # aligned: text columns start, numbers end, alike
    assert header.index("method") == checkout.index("POST") == charge.index("POST")
    assert header.index("path") == checkout.index("/checkout") == charge.index("/charges")
    assert header.index("status") + 6 == checkout.index("502") + 3 == charge.index("500") + 3
    assert header.index("exception") == charge.index("Boom")
    assert lines[6] == "Nearest match: #2 (status is 500, not 201)."


def test_assert_called_names_how_the_nearest_call_differs(shop_trace: Trace) -> None:
    with pytest.raises(
        AssertionError,
        match=re.escape(
            "Nearest match: #3 (method is GET, not DELETE; path is /billing/invoices/42, not "
            "/billing/invoices/7)."
        ),
    ):
        shop_trace.assert_called("/billing", "DELETE", "/billing/invoices/7")


def test_assert_called_times_says_which_calls_matched(shop_trace: Trace) -> None:
    with pytest.raises(
        AssertionError,
        match=re.escape(
            "expected a call to '/' once, got 2 times (#1, #4) of the 4 recorded calls:"
        ),
    ):
        shop_trace.assert_called("/", times=1)


def test_assert_called_on_an_empty_trace_asks_whether_it_was_given_to_the_client() -> None:
    with pytest.raises(AssertionError, match=r"no calls were recorded \(is this trace the one"):
        Trace().assert_called("/billing")


def test_clear_forgets_the_calls_and_recording_goes_on() -> None:
    trace = Trace()
    with dispatch_sync({"/": shop()}, trace=trace) as client:
        client.get("/hello")
        trace.clear()
        assert trace.calls == []
        client.get("/hello?again=1")

    assert [call.url for call in trace.calls] == ["http://testserver/hello?again=1"]


# --- JSON -----------------------------------------------------------------------------


def test_json_round_trips(shop_trace: Trace) -> None:
    text = shop_trace.to_json()

    again = Trace.from_json(text)

    assert again.to_json() == text
    error = again.calls[1].error
    assert isinstance(error, RecordedError)
    assert (error.type_name, str(error)) == ("tests.test_trace.Boom", "card declined")
    assert again.table() == shop_trace.table()


def test_json_names_every_field_of_the_contract(shop_trace: Trace) -> None:
    data = json.loads(shop_trace.to_json())

    charge = data["calls"][1]
    assert charge == {
        "caller": "/",
        "mount": "billing.internal",
        "kind": "http",
        "method": "POST",
        "url": "http://billing.internal/charges",
        "status": 500,
        "start": 0.005,
        "duration": 0.01,
        "error": {"type": "tests.test_trace.Boom", "message": "card declined"},
    }


def test_a_recorded_trace_round_trips_through_json(anyio_backend: str) -> None:
    trace, _ = traced(
        {"/": shop(), "/billing": billing()},
        [("GET", "/hello"), ("POST", "/billing/charges")],
        client="sync",
        backend=anyio_backend,
        raise_app_exceptions=False,
    )

    assert Trace.from_json(trace.to_json()).to_json() == trace.to_json()


# --- the Mermaid diagram --------------------------------------------------------------

# The statements of Mermaid's sequence-diagram grammar (sequenceDiagram.jison) that a
# trace's diagram uses. A message's text runs to the end of the line and may hold
# neither `;` nor `#` (statement ends, comments) except in entity codes such as `#59;`.
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_TEXT = r"(?:[^#;\n<>]|#\d+;)+"
_PARTICIPANT = re.compile(rf"    participant ({_ID}) as ({_TEXT})")
_MESSAGE = re.compile(rf"    ({_ID})(->>|-->>|-x|--x)({_ID}): ({_TEXT})")


def check_against_the_grammar(diagram: str) -> list[tuple[str, str, str, str]]:
    """Fail unless `diagram` holds only statements of the grammar, every participant
    declared once before use; return its messages (from, arrow, to, text)."""
    lines = diagram.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert diagram.endswith("\n")
    declared: dict[str, str] = {}
    messages = []
    for line in lines[1:]:
        participant = _PARTICIPANT.fullmatch(line)
        if participant:
            assert not messages, f"participant declared after the first message: {line!r}"
            assert participant[1] not in declared, f"declared twice: {line!r}"
            declared[participant[1]] = participant[2]
            continue
        message = _MESSAGE.fullmatch(line)
        assert message, f"not a statement of a sequence diagram: {line!r}"
        assert message[1] in declared, line
        assert message[3] in declared, line
        messages.append((declared[message[1]], message[2], declared[message[3]], message[4]))
    return messages


def test_the_diagram_has_a_participant_per_mount_and_arrows_in_time_order(
    shop_trace: Trace,
) -> None:
    diagram = shop_trace.to_mermaid()

    assert check_against_the_grammar(diagram) == [
        ("test", "->>", "/", "POST /checkout?cart=7"),
        ("/", "->>", "billing.internal", "POST /charges"),
        ("billing.internal", "--x", "/", "500, Boom: card declined"),  # the error, crossed
        ("/", "-->>", "test", "502"),
        ("test", "->>", "/billing/", "GET /billing/invoices/42"),
        ("/billing/", "-->>", "test", "200"),
        ("test", "->>", "/", "WS /live"),
        ("/", "-->>", "test", "101"),
    ]


def test_the_diagram_escapes_what_would_end_a_statement() -> None:
    trace = Trace(
        [
            call("/a;b", "GET", "http://t/a;b?x=<1>#frag", None, error=Boom("bad; worse\n#2")),
            call(None, "GET", "http://t/nowhere", 404, start=0.01, duration=None),  # still running
        ]
    )

    messages = check_against_the_grammar(trace.to_mermaid())

    assert messages == [
        ("test", "->>", "/a#59;b", "GET /a#59;b?x=#60;1#62;"),
        ("/a#59;b", "--x", "test", "no response, Boom: bad#59; worse"),
        ("test", "->>", "(no route)", "GET /nowhere"),
    ]


@pytest.fixture(scope="session")
def mermaid_parser() -> Path:
    """The folder where `.ci/mermaid` installed Mermaid's parser; skip without it."""
    folder = Path(
        os.environ.get("PYTEST_ASGI_DISPATCH_MERMAID")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "pytest-asgi-dispatch"
        / "mermaid"
    )
    if shutil.which("node") is None or not (folder / "node_modules" / "mermaid").is_dir():
        pytest.skip("Mermaid's parser is not installed: run .ci/mermaid (needs node and npm)")
    return folder


# Parses each diagram of a JSON list read from stdin with mermaid.parse(); prints the
# errors as a JSON list (null for a diagram that parses). Mermaid wants a DOM: jsdom's.
_PARSE_DIAGRAMS = """
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
const errors = [];
for (const diagram of JSON.parse(readFileSync(0, "utf8"))) {
  try {
    const parsed = await mermaid.parse(diagram);
    errors.push(parsed.diagramType === "sequence" ? null : parsed.diagramType);
  } catch (error) {
    errors.push(String(error.message));
  }
}
console.log(JSON.stringify(errors));
"""


def test_mermaids_own_parser_reads_the_diagrams(mermaid_parser: Path, shop_trace: Trace) -> None:
    escaped = Trace([call("/a;b", "GET", "http://t/a;b?x=<1>", None, error=Boom("bad; #2"))])
    diagrams = [shop_trace.to_mermaid(), escaped.to_mermaid(), Trace().to_mermaid()]
    broken = "sequenceDiagram\n    P0->>P1: GET ; bad\n  P0 -> : x\n"

    result = subprocess.run(
        ["node", "--input-type=module", "-e", _PARSE_DIAGRAMS],
        input=json.dumps([*diagrams, broken]),
        capture_output=True,
        text=True,
        cwd=mermaid_parser,
        timeout=60,
        check=True,
    )

    errors = json.loads(result.stdout)
    assert errors[:3] == [None, None, None]
    assert "Parse error" in errors[3]  # the parser does check
