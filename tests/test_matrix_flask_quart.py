"""Flask (WSGI, through a2wsgi) and Quart (ASGI) under a prefix, beside the others.

Both build on Werkzeug's routing, so they are checked for the same things; Quart adds a
lifespan (`before_serving` / `after_serving`) and its own reading of `root_path`.
"""

from __future__ import annotations

import httpx
import pytest

from tests.matrix_apps import LIFESPAN_EVENTS, mount_table, set_cookie

werkzeug_apps = pytest.mark.parametrize("prefix", ["/flask", "/quart"], ids=["flask", "quart"])


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    return mount_table()


@werkzeug_apps
def test_routes_on_the_path_below_the_prefix(asgi_sync_client: httpx.Client, prefix: str) -> None:
    response = asgi_sync_client.get(f"{prefix}/where")

    assert response.json()["path"] == "/where"
    assert response.json()["root_path"] == prefix


@werkzeug_apps
def test_url_for_carries_the_prefix(asgi_sync_client: httpx.Client, prefix: str) -> None:
    response = asgi_sync_client.get(f"{prefix}/where")

    assert response.json()["url_for"] == f"{prefix}/where"
    assert response.json()["external_url"] == f"http://testserver{prefix}/where"


@werkzeug_apps
def test_strict_slashes_redirect_stays_under_the_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/slash")

    assert response.status_code == 308
    assert response.headers["location"] == f"http://testserver{prefix}/slash/"


@werkzeug_apps
def test_session_round_trips_in_a_cookie_scoped_by_session_cookie_path(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    first = asgi_sync_client.get(f"{prefix}/visits")
    second = asgi_sync_client.get(f"{prefix}/visits")

    assert (first.json(), second.json()) == ({"visits": 1}, {"visits": 2})
    cookie = set_cookie(first, "session")
    assert cookie["path"] == prefix  # SESSION_COOKIE_PATH; the default is "/"
    assert cookie["httponly"] is True
    assert not cookie["secure"]


def test_flask_and_quart_sessions_with_prefixed_cookie_paths_do_not_clobber_each_other(
    asgi_sync_client: httpx.Client,
) -> None:
    asgi_sync_client.get("/flask/visits")
    asgi_sync_client.get("/quart/visits")

    response = asgi_sync_client.get("/flask/visits")

    assert response.json() == {"visits": 2}


def test_quart_lifespan_runs_before_serving_and_after_serving() -> None:
    from pytest_asgi_dispatch import dispatch_sync

    LIFESPAN_EVENTS.clear()
    with dispatch_sync(mount_table()) as client:
        greeting = client.get("/quart/greeting").json()
        events_while_serving = list(LIFESPAN_EVENTS)

    assert greeting == {"greeting": "hello from quart's startup"}
    assert "quart startup" in events_while_serving
    assert "quart shutdown" not in events_while_serving
    assert "quart shutdown" in LIFESPAN_EVENTS


def test_quart_answers_404_at_its_bare_prefix(asgi_sync_client: httpx.Client) -> None:
    # Quart (0.22) maps a path equal to root_path to " ", a path no route matches;
    # "/quart/" reaches the "/" route. Link to the prefix with its trailing slash.
    bare = asgi_sync_client.get("/quart")
    with_slash = asgi_sync_client.get("/quart/")

    assert bare.status_code == 404
    assert with_slash.text == "quart index"


def test_quart_strips_only_the_leading_prefix_when_it_recurs_in_the_path(
    asgi_sync_client: httpx.Client,
) -> None:
    response = asgi_sync_client.get("/quart/echo/quart/where")

    assert response.json() == {"rest": "quart/where", "path": "/echo/quart/where"}
