"""The live server: uvicorn serving the combined app on 127.0.0.1, for real clients."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.core.asgi import get_asgi_application
from fastapi import FastAPI, Request
from flask import Flask, request, url_for
from httpx_ws import aconnect_ws
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from pytest_asgi_dispatch import LifespanError, LiveServer, MountError

# Every wait in these tests is bounded by this many seconds.
TIMEOUT = 10.0


def billing_app() -> Flask:
    app = Flask("billing")

    @app.get("/invoices")
    def invoices() -> dict[str, Any]:
        return {"invoices": [1, 2, 3], "url": url_for("invoices")}

    return app


def api_app(events: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("api started")
        yield {"greeting": "hello from the lifespan"}
        events.append("api stopped")

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello(request: Request) -> dict[str, str]:
        return {"greeting": request.state.greeting, "root_path": request.scope["root_path"]}

    @app.get("/invoice-count")
    async def invoice_count(request: Request) -> dict[str, int]:
        """Calls the billing app over the network, as a separate service would."""
        async with httpx.AsyncClient(timeout=TIMEOUT) as billing:
            response = await billing.get(f"{request.app.state.billing_url}/invoices")
        return {"count": len(response.json()["invoices"])}

    return app


def echo_app() -> Starlette:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text} at {websocket.scope['root_path']}")
        await websocket.close()

    return Starlette(routes=[WebSocketRoute("/echo", echo)])


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def live(events: list[str]) -> Iterator[LiveServer]:
    api = api_app(events)
    mounts = {
        "/shop": get_asgi_application(),
        "/billing": billing_app(),
        "/api": api,
        "/live": echo_app(),
    }
    with LiveServer(mounts, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT) as server:
        api.state.billing_url = f"{server.url}/billing"
        yield server


def fetch_in_subprocess(urls: list[str]) -> list[Any]:
    """GET each URL from a separate Python process with urllib; their JSON bodies."""
    script = textwrap.dedent(
        """
        import json, sys, urllib.request
        bodies = [json.load(urllib.request.urlopen(url, timeout=10)) for url in sys.argv[1:]]
        print(json.dumps(bodies))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *urls],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(result.stdout))


def test_the_url_is_on_127_0_0_1_at_a_port_the_os_chose(live: LiveServer) -> None:
    assert live.url == f"http://127.0.0.1:{live.port}"
    assert live.port > 0


def test_a_request_from_another_process_reaches_each_mounted_app(live: LiveServer) -> None:
    shop, billing, api = fetch_in_subprocess(
        [f"{live.url}/shop/where/", f"{live.url}/billing/invoices", f"{live.url}/api/hello"]
    )
    assert shop["reverse"] == "/shop/where/"
    assert billing == {"invoices": [1, 2, 3], "url": "/billing/invoices"}
    assert api == {"greeting": "hello from the lifespan", "root_path": "/api"}


def test_one_mounted_app_calls_another_over_the_live_url(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=TIMEOUT) as client:
        response = client.get("/api/invoice-count")
    assert response.json() == {"count": 3}


@pytest.mark.anyio
async def test_a_websocket_reaches_a_mounted_app_over_the_network(
    live: LiveServer, anyio_backend: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=TIMEOUT) as client,
        aconnect_ws("/live/echo", client) as ws,
    ):
        await ws.send_text("hello")
        assert await ws.receive_text(TIMEOUT) == "hello at /live"


def test_an_unmounted_path_gets_the_dispatchers_404(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=TIMEOUT) as client:
        response = client.get("/nowhere")
    assert response.status_code == 404
    assert "  /billing\n" in response.text


def test_lifespans_run_while_the_server_serves(events: list[str]) -> None:
    with LiveServer({"/api": api_app(events)}, startup_timeout=TIMEOUT) as server:
        assert events == ["api started"]
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            assert client.get("/api/hello").json()["greeting"] == "hello from the lifespan"
    assert events == ["api started", "api stopped"]


def test_stop_joins_the_thread_and_releases_the_port() -> None:
    server = LiveServer({"/billing": billing_app()})
    server.start()
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert client.get("/billing/invoices").status_code == 200
    server.stop()
    assert not [t for t in threading.enumerate() if server.url in t.name]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT).close()


def test_two_servers_at_once_get_different_ports() -> None:
    with LiveServer({"/": billing_app()}) as one, LiveServer({"/": billing_app()}) as two:
        assert one.port != two.port


def test_a_startup_failure_raises_lifespan_error_naming_the_mount() -> None:
    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    server = LiveServer({"/billing": billing_app(), "/reports": Starlette(lifespan=broken)})
    with pytest.raises(LifespanError, match=r"(?s)mount '/reports'.*no database"):
        server.start()
    assert not [t for t in threading.enumerate() if server.url in t.name]


def test_a_shutdown_failure_is_raised_by_stop() -> None:
    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        yield
        raise RuntimeError("could not flush")

    server = LiveServer({"/reports": Starlette(lifespan=broken)})
    server.start()
    with pytest.raises(LifespanError, match=r"(?s)mount '/reports'.*could not flush"):
        server.stop()


def test_without_uvicorn_the_error_names_the_extra_to_install() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["uvicorn"] = None  # as if not installed
        from pytest_asgi_dispatch import LiveServer
        try:
            LiveServer({})
        except ImportError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'pytest-asgi-dispatch[live]'" in result.stdout


# What a browser gets: url_for() and chromium_args.


def where_app() -> Flask:
    """Answers with the host it was asked for and the URL Flask builds for itself."""
    app = Flask("where")

    @app.get("/")
    def where() -> dict[str, str]:
        return {"host": request.host, "self": url_for("where", _external=True)}

    return app


def resolver_rules(chromium_args: list[str]) -> dict[str, str]:
    """Chromium's `--host-resolver-rules=MAP name address, ...` as {name: address}."""
    rules: dict[str, str] = {}
    for arg in chromium_args:
        name, _, value = arg.partition("=")
        assert name == "--host-resolver-rules", arg
        for rule in value.split(","):
            verb, host, address = rule.split()
            assert verb == "MAP", rule
            rules[host] = address
    return rules


def get_as_chromium(url: str, chromium_args: list[str]) -> httpx.Response:
    """GET `url` as Chromium launched with `chromium_args` would: by the rules' address,
    the URL's host and port in the Host header; a name without a rule is not resolved."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    address = resolver_rules(chromium_args).get(parts.hostname, parts.hostname)
    with httpx.Client(timeout=TIMEOUT) as client:
        return client.get(
            parts._replace(netloc=f"{address}:{parts.port}").geturl(),
            headers={"host": parts.netloc},
        )


def test_url_for_a_path_mount_is_under_the_servers_url() -> None:
    with LiveServer({"/": billing_app(), "/where": where_app()}) as live:
        assert live.url_for("/") == f"{live.url}/"
        assert live.url_for("/where") == f"{live.url}/where/"
        assert live.url_for("/where/") == f"{live.url}/where/"
        assert get_as_chromium(live.url_for("/where"), live.chromium_args).json() == {
            "host": f"127.0.0.1:{live.port}",
            "self": f"{live.url}/where/",
        }


def test_url_for_a_host_mount_keeps_its_host_name_and_chromium_args_reach_it() -> None:
    with LiveServer({"/": billing_app(), "billing.test": where_app()}) as live:
        url = live.url_for("billing.test")
        response = get_as_chromium(url, live.chromium_args)

    assert url == f"http://billing.test:{live.port}/"
    assert response.json() == {"host": f"billing.test:{live.port}", "self": url}


def test_url_for_a_host_and_path_mount() -> None:
    with LiveServer({"billing.test/v1": where_app()}) as live:
        url = live.url_for("billing.test/v1")
        response = get_as_chromium(url, live.chromium_args)

    assert url == f"http://billing.test:{live.port}/v1/"
    assert response.json()["self"] == url


def test_url_for_a_mount_of_a_nested_table_joins_the_keys() -> None:
    mounts = {
        "/api": {"/v1": where_app(), "api.test": where_app()},
        "billing.test": {"/v2": where_app()},
    }
    with LiveServer(mounts) as live:
        urls = [live.url_for(m) for m in ("/api", "/api/v1", "api.test/api", "billing.test/v2")]
        selves = [get_as_chromium(url, live.chromium_args).json()["self"] for url in urls[1:]]

    assert urls == [
        f"{live.url}/api/",
        f"{live.url}/api/v1/",
        f"http://api.test:{live.port}/api/",
        f"http://billing.test:{live.port}/v2/",
    ]
    assert selves == urls[1:]


def test_url_for_an_unknown_mount_names_the_mounts() -> None:
    with (
        LiveServer({"/": billing_app(), "billing.test": where_app()}) as live,
        pytest.raises(MountError) as error,
    ):
        live.url_for("biling.test")

    assert str(error.value) == (
        "url_for('biling.test'): no such mount on the live server; "
        "its mounts are '/', 'billing.test'"
    )


def test_url_for_a_malformed_key_says_what_is_wrong_with_it() -> None:
    with (
        LiveServer({"/": billing_app()}) as live,
        pytest.raises(MountError, match=r"url_for\('/billing\?x'\): .*without spaces, query"),
    ):
        live.url_for("/billing?x")


def test_url_for_before_start_says_to_start_the_server() -> None:
    with pytest.raises(RuntimeError, match=r"not running; start\(\) it"):
        LiveServer({"/": billing_app()}).url_for("/")


def test_chromium_args_map_every_host_mount_to_the_server_and_nothing_else() -> None:
    mounts = {
        "/": billing_app(),
        "billing.test": where_app(),
        "shop.test/v1": where_app(),
        "/api": {"api.test": where_app(), "/v1": where_app()},
    }
    server = LiveServer(mounts)

    assert server.chromium_args == [
        "--host-resolver-rules="
        "MAP billing.test 127.0.0.1, MAP shop.test 127.0.0.1, MAP api.test 127.0.0.1"
    ]


def test_chromium_args_leave_loopback_names_and_addresses_alone() -> None:
    mounts = {
        "localhost": where_app(),
        "app.localhost": where_app(),
        "127.0.0.1/admin": where_app(),
        "10.1.2.3": where_app(),
        "[::1]": where_app(),
    }

    assert LiveServer(mounts).chromium_args == []


def test_chromium_args_map_to_the_servers_own_address() -> None:
    assert LiveServer({"billing.test": where_app()}, host="::1").chromium_args == [
        "--host-resolver-rules=MAP billing.test [::1]"
    ]


def test_a_host_name_without_a_rule_does_not_resolve() -> None:
    """What the rules are for: without them, a client cannot reach a host mount."""
    with LiveServer({"billing.test": where_app()}) as live, pytest.raises(httpx.ConnectError):
        get_as_chromium(live.url_for("billing.test"), chromium_args=[])


# The asgi_live_server fixture, through inner pytest runs.

INNER_CONFTEST = """
import pytest
from flask import Flask

billing = Flask("billing")


@billing.get("/ping")
def ping():
    return {"pong": True}


@pytest.fixture
def asgi_apps():
    return {"/billing": billing}
"""


def test_the_fixture_serves_the_asgi_apps_over_the_network(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        """
        import json, urllib.request

        def test_ping(asgi_live_server):
            url = asgi_live_server.url + "/billing/ping"
            assert json.load(urllib.request.urlopen(url, timeout=10)) == {"pong": True}
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)


def test_the_fixture_beside_an_in_process_client_fails_plainly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        """
        def test_both(asgi_sync_client, asgi_live_server):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*asgi_live_server cannot start while asgi_sync_client runs*"])


def test_without_uvicorn_the_fixture_fails_naming_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['uvicorn'] = None\n" + INNER_CONFTEST)
    pytester.makepyfile(
        """
        def test_live(asgi_live_server):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*asgi_live_server: the live server needs uvicorn; install the extra: pip install*"]
    )
    assert "pip install 'pytest-asgi-dispatch[live]'" in result.stdout.str()
