"""Litestar and Falcon under a prefix, beside the others, and the traps of each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_asgi_dispatch import Dispatcher, dispatch_sync
from tests.matrix_apps import LIFESPAN_EVENTS, litestar_app, mount_table, set_cookie


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    return mount_table()


# --- Litestar ---------------------------------------------------------------------------


def test_litestar_routes_on_the_path_below_the_prefix(asgi_sync_client: httpx.Client) -> None:
    response = asgi_sync_client.get("/litestar/where")

    assert response.status_code == 200
    assert response.json()["path"] == "/litestar/where"
    assert response.json()["root_path"] == "/litestar"


def test_litestar_url_for_carries_the_prefix_and_route_reverse_does_not(
    asgi_sync_client: httpx.Client,
) -> None:
    response = asgi_sync_client.get("/litestar/where")

    assert response.json()["url_for"] == "http://testserver/litestar/where"
    assert response.json()["route_reverse"] == "/where"


def test_litestar_redirect_to_url_for_stays_under_the_prefix(
    asgi_sync_client: httpx.Client,
) -> None:
    response = asgi_sync_client.get("/litestar/to-where/url-for")

    assert response.status_code == 302
    assert response.headers["location"] == "http://testserver/litestar/where"


def test_litestar_redirect_to_a_bare_path_leaves_the_prefix(
    asgi_sync_client: httpx.Client,
) -> None:
    # Redirect(path="/where") is taken as it is, as behind any proxy: build redirect
    # targets with request.url_for(...) to stay under the prefix.
    response = asgi_sync_client.get("/litestar/to-where/absolute")

    assert response.headers["location"] == "/where"


def test_litestar_rewrites_the_scope_path_it_is_given_but_not_the_callers(
    asgi_sync_client: httpx.Client,
) -> None:
    seen = asgi_sync_client.get("/litestar/where").json()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/litestar/where",
        "raw_path": b"/litestar/where",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 123),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    import anyio

    anyio.run(Dispatcher({"/litestar": litestar_app}), scope, receive, send)

    assert seen["scope_path"] == "/where"  # Litestar's own scope: the prefix is cut off
    assert sent[0]["status"] == 200
    assert scope["path"] == "/litestar/where"  # the Dispatcher passed on a copy
    assert scope["root_path"] == ""


def test_litestar_strips_only_the_leading_prefix_when_it_recurs_in_the_path(
    asgi_sync_client: httpx.Client,
) -> None:
    # Litestar splits the path on root_path wherever it occurs; the Dispatcher's path
    # always starts with it, so the first occurrence is the prefix itself.
    response = asgi_sync_client.get("/litestar/echo/litestar/where")

    assert response.json() == {"rest": "/litestar/where", "scope_path": "/echo/litestar/where"}


def test_litestar_session_round_trips_in_a_cookie_at_the_configured_path(
    asgi_sync_client: httpx.Client,
) -> None:
    first = asgi_sync_client.get("/litestar/visits")
    second = asgi_sync_client.get("/litestar/visits")

    assert (first.json(), second.json()) == ({"visits": 1}, {"visits": 2})
    cookie = set_cookie(first, "session")
    assert cookie["path"] == "/litestar"  # ServerSideSessionConfig(path=...); default "/"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "lax"
    assert not cookie["secure"]


def test_litestar_lifespan_hooks_run_and_app_state_reaches_requests() -> None:
    LIFESPAN_EVENTS.clear()
    with dispatch_sync(mount_table()) as client:
        greeting = client.get("/litestar/greeting").json()
        events_while_serving = list(LIFESPAN_EVENTS)

    assert greeting == {"greeting": "hello from litestar's startup"}
    assert "litestar startup" in events_while_serving
    assert "litestar shutdown" not in events_while_serving
    assert "litestar shutdown" in LIFESPAN_EVENTS


# --- Falcon -----------------------------------------------------------------------------


def test_falcon_asgi_routes_on_the_full_path_including_the_prefix(
    asgi_sync_client: httpx.Client,
) -> None:
    # falcon.asgi.App matches routes against scope["path"] as it is: its routes must
    # carry the prefix ("/falcon/where"), unlike every other framework here.
    response = asgi_sync_client.get("/falcon/where")

    assert response.status_code == 200
    assert response.json()["path"] == "/falcon/where"
    assert response.json()["root_path"] == "/falcon"


def test_falcon_asgi_relative_uri_repeats_the_prefix(asgi_sync_client: httpx.Client) -> None:
    # req.relative_uri and req.uri are root_path + path, and path holds the prefix
    # already: use req.path (or req.prefix + the route) to build links.
    response = asgi_sync_client.get("/falcon/where")

    assert response.json()["relative_uri"] == "/falcon/falcon/where"
    assert response.json()["uri"] == "http://testserver/falcon/falcon/where"


def test_falcon_wsgi_routes_and_builds_uris_below_the_prefix(
    asgi_sync_client: httpx.Client,
) -> None:
    response = asgi_sync_client.get("/falcon-wsgi/where")

    assert response.json() == {
        "path": "/where",
        "root_path": "/falcon-wsgi",
        "relative_uri": "/falcon-wsgi/where",
        "uri": "http://testserver/falcon-wsgi/where",
    }


def test_falcon_cookies_are_secure_by_default_so_plain_http_never_sends_them_back(
    asgi_sync_client: httpx.Client,
) -> None:
    first = asgi_sync_client.get("/falcon/cookie")
    second = asgi_sync_client.get("/falcon/cookie")

    cookie = set_cookie(first, "flavour")
    assert cookie["path"] == "/falcon"
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert second.json() == {"flavour": []}


def test_falcon_cookies_come_back_over_https() -> None:
    with dispatch_sync(mount_table(), base_url="https://testserver") as client:
        client.get("/falcon/cookie")
        response = client.get("/falcon/cookie")

    assert response.json() == {"flavour": ["oat"]}
