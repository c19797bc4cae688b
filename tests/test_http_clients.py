"""`http_client=`: the same contract on httpx and on httpx2, each client of its own library.

Each test runs once per library; httpx2's runs where httpx2 is installed (CI's
httpx2 session, `nox -s tests`: see noxfile.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from contextlib import aclosing
from types import ModuleType
from typing import Any

import anyio
import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from pytest_asgi_dispatch import dispatch, dispatch_sync
from tests.plugin_support import APPS_FIXTURE, ASYNCIO_ONLY, make_project, run

pytestmark = pytest.mark.anyio

# What `auto` picks here: httpx2 where it is installed (CI's httpx2 session), else httpx.
AUTO = "httpx2" if importlib.util.find_spec("httpx2") else "httpx"


@pytest.fixture(params=["httpx", "httpx2"])
def library(request: pytest.FixtureRequest) -> ModuleType:
    """The client library under test, by the name `http_client=` takes."""
    return pytest.importorskip(request.param)


async def hello(request: Any) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def ticks(scope: Any, receive: Any, send: Any) -> None:
    """An endless stream: only a streaming transport returns its response."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"tick 1\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


async def short(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("echo: " + await websocket.receive_text())
    await websocket.close()


starlette_app = Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", echo)])
flask_app = Flask(__name__)
flask_app.add_url_rule("/hello", "hello", lambda: "hello from flask")


async def test_the_async_client_is_the_librarys_own(library: ModuleType) -> None:
    async with dispatch({"/": starlette_app}, http_client=library.__name__) as client:
        response = await client.get("/hello")
    assert type(client) is library.AsyncClient
    assert isinstance(response, library.Response)
    assert response.text == "hello"


# httpx's own async generators under the stream, left half read (as in test_transport).
@pytest.mark.filterwarnings("ignore:Async generator .* was garbage collected:ResourceWarning")
async def test_responses_stream_on_either_library(library: ModuleType) -> None:
    async with (
        dispatch({"/": ticks}, http_client=library.__name__) as client,
        client.stream("GET", "/") as response,
        aclosing(response.aiter_bytes()) as chunks,  # trio asks for it
    ):
        with anyio.fail_after(5):
            first = await anext(chunks)
    assert first == b"tick 1\n"


async def test_a_response_cut_short_raises_the_librarys_protocol_error(
    library: ModuleType,
) -> None:
    async with dispatch({"/": short}, http_client=library.__name__) as client:
        with pytest.raises(library.RemoteProtocolError, match="without completing"):
            await client.get("/")


@pytest.mark.parametrize("app", [starlette_app, flask_app], ids=["asgi", "wsgi-inline"])
def test_the_sync_client_is_the_librarys_own_on_either_path(library: ModuleType, app: Any) -> None:
    with dispatch_sync({"/": app}, http_client=library.__name__) as client:
        response = client.get("/hello")
    assert type(client) is library.Client
    assert isinstance(response, library.Response)
    assert response.text.startswith("hello")


async def test_httpx2_websockets_through_its_own_client_websocket() -> None:
    httpx2 = pytest.importorskip("httpx2")
    async with dispatch({"/": starlette_app}, http_client="httpx2") as client:
        assert isinstance(client, httpx2.AsyncClient)
        async with client.websocket("/ws") as websocket:
            await websocket.send_text("hi")
            assert await websocket.receive_text() == "echo: hi"


def test_httpx2_websockets_on_the_sync_client_too() -> None:
    pytest.importorskip("httpx2")
    with (
        dispatch_sync({"/": starlette_app}, http_client="httpx2") as client,
        client.websocket("/ws") as websocket,
    ):
        websocket.send_text("hi")
        assert websocket.receive_text() == "echo: hi"


async def test_auto_is_httpx2_when_it_is_installed_else_httpx() -> None:
    async with dispatch({"/": starlette_app}) as client:
        assert type(client).__module__.split(".")[0] == AUTO


async def test_an_unknown_client_library_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"http_client='requests'.*'auto', 'httpx', 'httpx2'"):
        async with dispatch({"/": starlette_app}, http_client="requests"):  # type: ignore[arg-type]
            pass


def test_without_httpx2_asking_for_it_names_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['httpx2'] = None\n"
        "from pytest_asgi_dispatch import dispatch_sync\n"
        "try:\n"
        "    dispatch_sync({'/': lambda *a: None}, http_client='httpx2').__enter__()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "pip install 'pytest-asgi-dispatch[httpx2]'" in output


# --- the plugin's fixtures: asgi_http_client ------------------------------------------

LIBRARY_TESTS = """
import pytest


def test_sync(asgi_sync_client):
    assert type(asgi_sync_client).__module__.split(".")[0] == "{LIBRARY}"
    assert asgi_sync_client.get("/api/where").json()["root_path"] == "/api"


@pytest.mark.anyio
async def test_async(asgi_client):
    assert type(asgi_client).__module__.split(".")[0] == "{LIBRARY}"
    assert (await asgi_client.get("/billing/where")).json() == {"url": "/billing/where"}
"""


@pytest.mark.parametrize(
    ("option", "library"),
    [
        pytest.param("asgi_http_client = httpx\n", "httpx", id="httpx"),
        pytest.param("asgi_http_client = httpx2\n", "httpx2", id="httpx2"),
        pytest.param("asgi_http_client = auto\n", AUTO, id="auto"),
        pytest.param("", AUTO, id="default"),
    ],
)
def test_the_ini_option_picks_the_fixtures_client_library(
    pytester: pytest.Pytester, option: str, library: str
) -> None:
    pytest.importorskip(library)
    make_project(pytester, ini=option, conftest=APPS_FIXTURE + ASYNCIO_ONLY)
    pytester.makepyfile(test_it=LIBRARY_TESTS.replace("{LIBRARY}", library))

    run(pytester).assert_outcomes(passed=2)


def test_an_unknown_ini_client_library_is_a_usage_error_naming_it(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester, ini="asgi_http_client = requests\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-asgi-dispatch: asgi_http_client = 'requests' is not one of "
            "auto, httpx, httpx2;*"
        ]
    )


def test_asking_the_ini_for_httpx2_without_it_is_a_usage_error_naming_the_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx2", None)  # as if not installed: find_spec raises
    make_project(pytester, ini="asgi_http_client = httpx2\n")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest-asgi-dispatch: asgi_http_client = 'httpx2', but httpx2 is not "
            "installed: pip install 'pytest-asgi-dispatch[[]httpx2]'*"
        ]
    )
