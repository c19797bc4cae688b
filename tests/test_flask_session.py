"""`pytest_asgi_dispatch.flask.session_transaction`: a mounted Flask app's session, read and
changed through the httpx clients' cookie jar, as `FlaskClient.session_transaction()`."""

from __future__ import annotations

from typing import Any

import flask
import httpx
import pytest

from pytest_asgi_dispatch import dispatch, dispatch_sync
from pytest_asgi_dispatch.flask import session_transaction


def flask_app(**config: Any) -> flask.Flask:
    app = flask.Flask("flaskr")
    app.config.update(SECRET_KEY="tests-only", **config)

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return {"user": flask.session.get("user")}

    @app.get("/count")
    def count() -> dict[str, Any]:
        flask.session["count"] = flask.session.get("count", 0) + 1
        return {"count": flask.session["count"]}

    return app


def other_app(scope: Any, receive: Any, send: Any) -> Any:
    raise AssertionError("not reached")


def session_cookies(client: httpx.Client | httpx.AsyncClient, name: str = "session") -> list[Any]:
    return [c for c in client.cookies.jar if c.name == name]


def described(cookies: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (c.name, c.domain, c.path, c.secure, c.has_nonstandard_attr("HttpOnly")) for c in cookies
    ]


def test_a_value_set_in_the_transaction_reaches_the_app() -> None:
    with dispatch_sync({"/flaskr": flask_app(), "/other": other_app}) as client:
        with session_transaction(client, mount="/flaskr") as session:
            session["user"] = "bob"
        response = client.get("/flaskr/whoami")

    assert response.json() == {"user": "bob"}


def test_the_transaction_reads_the_session_the_app_set() -> None:
    with dispatch_sync({"/flaskr": flask_app()}) as client:
        client.get("/flaskr/count")
        client.get("/flaskr/count")
        with session_transaction(client, mount="/flaskr") as session:
            seen = dict(session)
            session["count"] = 10
        response = client.get("/flaskr/count")

    assert seen == {"count": 2}
    assert response.json() == {"count": 11}


def test_the_cookie_is_the_apps_own_and_replaces_it() -> None:
    with dispatch_sync({"/flaskr": flask_app()}) as client:
        client.get("/flaskr/count")
        the_apps = described(session_cookies(client))
        with session_transaction(client, mount="/flaskr") as session:
            session["user"] = "bob"
        ours = session_cookies(client)
        value = client.cookies["session"]  # one cookie: no CookieConflict

    assert described(ours) == the_apps
    assert len(ours) == 1
    assert value == ours[0].value


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"SESSION_COOKIE_NAME": "flaskr_session"}, id="name"),
        pytest.param({"SESSION_COOKIE_PATH": "/flaskr"}, id="path"),
        pytest.param({"APPLICATION_ROOT": "/flaskr"}, id="application-root"),
        pytest.param({"SESSION_COOKIE_DOMAIN": "testserver.local"}, id="domain"),
        pytest.param({"SESSION_COOKIE_HTTPONLY": False}, id="not-httponly"),
    ],
)
def test_the_cookie_follows_the_apps_config(config: dict[str, Any]) -> None:
    name = config.get("SESSION_COOKIE_NAME", "session")
    with dispatch_sync({"/flaskr": flask_app(**config)}) as client:
        with session_transaction(client, mount="/flaskr") as session:
            session["user"] = "bob"
        ours = described(session_cookies(client, name))
        user = client.get("/flaskr/whoami").json()["user"]
    with dispatch_sync({"/flaskr": flask_app(**config)}) as client:
        client.get("/flaskr/count")
        the_apps = described(session_cookies(client, name))

    assert ours == the_apps
    assert user == "bob"


def test_a_host_mount_gets_the_cookie_for_its_host() -> None:
    with dispatch_sync({"flask.test": flask_app(), "/": other_app}) as client:
        with session_transaction(client) as session:
            session["user"] = "bob"
        response = client.get("http://flask.test/whoami")
        domains = [c.domain for c in session_cookies(client)]

    assert response.json() == {"user": "bob"}
    assert domains == ["flask.test"]


def test_an_exception_in_the_block_saves_nothing() -> None:
    def change_then_fail(client: httpx.Client) -> None:
        with session_transaction(client, mount="/flaskr") as session:
            session["user"] = "bob"
            raise LookupError

    with dispatch_sync({"/flaskr": flask_app()}) as client:
        with pytest.raises(LookupError):
            change_then_fail(client)
        cookies = session_cookies(client)

    assert cookies == []


def test_an_app_without_a_secret_key_is_named_in_the_error() -> None:
    app = flask_app()
    app.config["SECRET_KEY"] = None
    with (
        dispatch_sync({"/flaskr": app}) as client,
        pytest.raises(RuntimeError, match=r"the Flask app at '/flaskr' opened no session"),
        session_transaction(client, mount="/flaskr"),
    ):
        pass


def test_the_mount_must_be_a_flask_app() -> None:
    with (
        dispatch_sync({"/flaskr": flask_app(), "/other": other_app}) as client,
        pytest.raises(LookupError, match=r"mount '/other' is not a Flask app but function"),
        session_transaction(client, mount="/other"),
    ):
        pass


def test_several_flask_apps_need_a_mount() -> None:
    with (
        dispatch_sync({"/a": flask_app(), "/b": flask_app()}) as client,
        pytest.raises(LookupError, match=r"several Flask apps are mounted \('/a', '/b'\)"),
        session_transaction(client),
    ):
        pass


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # a2wsgi runs WSGI apps on asyncio only
async def test_the_async_client() -> None:
    async with dispatch({"/flaskr": flask_app()}) as client:
        await client.get("/flaskr/count")
        with session_transaction(client, mount="/flaskr") as session:
            seen = dict(session)
            session["user"] = "bob"
        response = await client.get("/flaskr/whoami")

    assert seen == {"count": 1}
    assert response.json() == {"user": "bob"}
