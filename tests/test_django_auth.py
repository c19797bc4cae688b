"""Log in, log out and CSRF tokens on the httpx clients: `pytest_asgi_dispatch.django`.

A real Django project (auth, sessions, CSRF middleware on) beside a Flask app; the
helpers' cookies are compared with the ones the project's own views set. Sessions are
tried in the database and in signed cookies. The sync client runs Django on the test's
thread (a `django_db` test's rows are seen); the async client runs it on Django's
threads, so those tests commit (`transaction=True`).

This module is the URLconf of its own tests (`ROOT_URLCONF`, set by the `site` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from pytest_asgi_dispatch import dispatch, dispatch_sync
from pytest_asgi_dispatch.django import (
    acsrf_token,
    aforce_login,
    alogin,
    alogout,
    csrf_token,
    force_login,
    login,
    logout,
    pass_csrf_checks,
)
from tests.djangoapp.db_cases import is_open
from tests.djangoapp.db_cases import opened_on_other_threads as opened_on_other_threads  # fixture

# --- the site ---------------------------------------------------------------------------


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"user": request.user.get_username() or None, "visits": request.session.get("visits")}
    )


def visit(request: HttpRequest) -> JsonResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


@login_required
def private(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.user.get_username()}")


def form(request: HttpRequest) -> HttpResponse:
    """CSRF-protected: GET hands out the form's token, POST needs it back."""
    if request.method == "POST":
        return HttpResponse(f"posted {request.POST.get('name', '')}")
    return HttpResponse(get_token(request))


def api(request: HttpRequest) -> JsonResponse:
    """A CSRF-protected JSON endpoint, as an API's view is."""
    return JsonResponse({"got": json.loads(request.body)})


@csrf_exempt  # the app's own login, to compare its cookies with the helpers'
def app_login(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username=request.POST["username"], password="pw")
    django_login(request, user)
    return HttpResponse("in")


@csrf_exempt
def app_logout(request: HttpRequest) -> HttpResponse:
    django_logout(request)
    return HttpResponse("out")


urlpatterns = [
    path("whoami/", whoami),
    path("visit/", visit),
    path("private/", private),
    path("form/", form),
    path("api/", api),
    path("app-login/", app_login),
    path("app-logout/", app_logout),
]

SESSION_ENGINES = {
    "db": "django.contrib.sessions.backends.db",
    "signed-cookies": "django.contrib.sessions.backends.signed_cookies",
}


@pytest.fixture(params=SESSION_ENGINES.values(), ids=SESSION_ENGINES.keys())
def site(request: pytest.FixtureRequest) -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__, SESSION_ENGINE=request.param):
        yield


def flask_app() -> flask.Flask:
    app = flask.Flask("beside")
    app.add_url_rule("/", "index", lambda: "flask")
    return app


def table(prefix: str = "/shop") -> dict[str, Any]:
    return {prefix: get_asgi_application(), "/flaskr": flask_app()}


@pytest.fixture
def alice(site: None) -> User:
    return User.objects.create_user("alice", password="pw")


def session_cookies(client: httpx.Client | httpx.AsyncClient) -> list[Any]:
    return [c for c in client.cookies.jar if c.name == settings.SESSION_COOKIE_NAME]


def described(cookies: list[Any]) -> list[tuple[Any, ...]]:
    """What a cookie is apart from its value and expiry time: where and how it is sent."""
    return [
        (c.name, c.domain, c.path, c.secure, c.has_nonstandard_attr("HttpOnly"), c.discard)
        for c in cookies
    ]


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("site")]

# --- logging in and out, sync client: Django on the test's thread --------------------------


def test_force_login_logs_the_user_in_on_the_django_mount(alice: User) -> None:
    with dispatch_sync(table()) as client:
        force_login(client, alice)
        response = client.get("/shop/private/")

    assert response.text == "hello alice"


def test_login_checks_the_credentials(alice: User) -> None:
    with dispatch_sync(table()) as client:
        refused = login(client, username="alice", password="wrong")
        anonymous = client.get("/shop/whoami/").json()["user"]
        accepted = login(client, username="alice", password="pw")
        user = client.get("/shop/whoami/").json()["user"]

    assert (refused, anonymous) == (False, None)
    assert (accepted, user) == (True, "alice")


def test_the_session_cookie_is_the_one_the_app_sets(alice: User) -> None:
    with dispatch_sync(table()) as client:
        force_login(client, alice)
        ours = described(session_cookies(client))
    with dispatch_sync(table()) as client:
        client.post("/shop/app-login/", data={"username": "alice"})
        the_apps = described(session_cookies(client))

    assert ours == the_apps
    assert len(ours) == 1


@override_settings(
    SESSION_COOKIE_NAME="shop_session",
    SESSION_COOKIE_PATH="/shop/",
    SESSION_COOKIE_HTTPONLY=False,
    SESSION_EXPIRE_AT_BROWSER_CLOSE=True,
)
def test_the_session_cookie_follows_the_projects_settings(alice: User) -> None:
    with dispatch_sync(table()) as client:
        force_login(client, alice)
        ours = described(session_cookies(client))
        user = client.get("/shop/whoami/").json()["user"]
    with dispatch_sync(table()) as client:
        client.post("/shop/app-login/", data={"username": "alice"})
        the_apps = described(session_cookies(client))

    assert ours == the_apps == [("shop_session", "testserver.local", "/shop/", False, False, True)]
    assert user == "alice"


def test_session_data_set_before_login_is_kept(alice: User) -> None:
    with dispatch_sync(table()) as client:
        client.get("/shop/visit/")
        force_login(client, alice)
        after = client.get("/shop/visit/").json()
        whoami = client.get("/shop/whoami/").json()

    assert after == {"visits": 2}
    assert whoami == {"user": "alice", "visits": 2}


def test_the_apps_own_logout_deletes_the_helpers_cookie(alice: User) -> None:
    with dispatch_sync(table()) as client:
        force_login(client, alice)
        client.post("/shop/app-logout/")
        left = session_cookies(client)
        user = client.get("/shop/whoami/").json()["user"]

    assert left == []
    assert user is None


def test_logout_deletes_the_session_cookie_and_keeps_the_others(alice: User) -> None:
    with dispatch_sync(table()) as client:
        client.get("/shop/form/")  # the CSRF cookie
        force_login(client, alice)
        logout(client)
        names = [c.name for c in client.cookies.jar]
        user = client.get("/shop/whoami/").json()["user"]

    assert names == [settings.CSRF_COOKIE_NAME]
    assert user is None


def test_a_copy_set_by_hand_beside_the_apps_cookie_is_replaced_then_removed(
    alice: User,
) -> None:
    """The issue's failure: the docs' recipe set `sessionid` without the app's domain,
    both were sent, reading it raised CookieConflict, and logging out left the copy."""
    with dispatch_sync(table()) as client:
        client.get("/shop/visit/")  # the app's own session cookie
        client.cookies["sessionid"] = "set-by-hand"
        force_login(client, alice)
        after_login = len(session_cookies(client))
        value = client.cookies[settings.SESSION_COOKIE_NAME]  # no CookieConflict
        user = client.get("/shop/whoami/").json()["user"]
        logout(client)
        after_logout = session_cookies(client)

    assert (after_login, user) == (1, "alice")
    assert value != "set-by-hand"
    assert after_logout == []


def test_the_apps_next_cookie_replaces_the_helpers(alice: User) -> None:
    with dispatch_sync(table()) as client:
        force_login(client, alice)
        client.get("/shop/visit/")  # the app saves the session and sets its cookie again
        cookies = session_cookies(client)
        whoami = client.get("/shop/whoami/").json()

    assert len(cookies) == 1
    assert whoami == {"user": "alice", "visits": 1}


# --- which mount ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mounts", "url"),
    [
        pytest.param({"/": get_asgi_application()}, "/private/", id="root"),
        pytest.param({"/a": {"/shop": get_asgi_application()}}, "/a/shop/private/", id="nested"),
        pytest.param({"shop.test": get_asgi_application()}, "http://shop.test/private/", id="host"),
    ],
)
def test_the_cookie_is_set_for_the_mounts_url(alice: User, mounts: Any, url: str) -> None:
    with dispatch_sync({**mounts, "/flaskr": flask_app()}) as client:
        force_login(client, alice)
        response = client.get(url)

    assert response.text == "hello alice"


def test_mount_names_the_django_app_among_several(alice: User) -> None:
    mounts = {"/one": get_asgi_application(), "/two": get_asgi_application()}
    with dispatch_sync(mounts) as client:
        with pytest.raises(LookupError, match=r"several Django apps .*'/one', '/two'.*mount="):
            force_login(client, alice)
        force_login(client, alice, mount="/two/")
        response = client.get("/two/private/")

    assert response.text == "hello alice"


def test_a_table_without_django_is_named_in_the_error(alice: User) -> None:
    with (
        dispatch_sync({"/flaskr": flask_app()}) as client,
        pytest.raises(LookupError, match=r"login: no Django app is mounted.*'/flaskr'"),
    ):
        login(client, username="alice", password="pw")


def test_a_mount_that_is_not_django_is_named_in_the_error(alice: User) -> None:
    with dispatch_sync(table()) as client:
        with pytest.raises(LookupError, match=r"mount '/flaskr' is not a Django app but Flask"):
            force_login(client, alice, mount="/flaskr")
        with pytest.raises(LookupError, match=r"no mount '/nope'; the mounts are '/shop', "):
            force_login(client, alice, mount="/nope")


def test_a_client_of_another_kind_is_refused(alice: User) -> None:
    with httpx.Client() as client, pytest.raises(TypeError, match="not a client of pytest-asgi"):
        force_login(client, alice)


# --- CSRF -------------------------------------------------------------------------------


def test_csrf_checks_stay_on_by_default() -> None:
    with dispatch_sync(table()) as client:
        response = client.post("/shop/form/", data={"name": "x"})

    assert response.status_code == 403


def test_csrf_token_lets_a_json_post_through() -> None:
    with dispatch_sync(table()) as client:
        token = csrf_token(client)
        response = client.post("/shop/api/", json={"a": 1}, headers={"X-CSRFToken": token})

    assert response.json() == {"got": {"a": 1}}


def test_csrf_token_keeps_the_cookie_the_app_set() -> None:
    with dispatch_sync(table()) as client:
        client.get("/shop/form/")
        the_apps = client.cookies[settings.CSRF_COOKIE_NAME]
        token = csrf_token(client)
        ours = client.cookies[settings.CSRF_COOKIE_NAME]
        response = client.post("/shop/form/", data={"csrfmiddlewaretoken": token, "name": "x"})

    assert ours == the_apps
    assert response.text == "posted x"


def test_csrf_token_sets_the_cookie_as_the_app_does() -> None:
    with dispatch_sync(table()) as client:
        csrf_token(client)
        ours = described([c for c in client.cookies.jar])
    with dispatch_sync(table()) as client:
        client.get("/shop/form/")
        the_apps = described([c for c in client.cookies.jar])

    assert ours == the_apps


@override_settings(CSRF_USE_SESSIONS=True)
def test_csrf_token_with_the_secret_in_the_session() -> None:
    with dispatch_sync(table()) as client:
        token = csrf_token(client)
        response = client.post("/shop/api/", json=[1], headers={"X-CSRFToken": token})

    assert response.json() == {"got": [1]}


def test_pass_csrf_checks_lets_forms_and_json_through_on_that_client_only(
    alice: User,
) -> None:
    with dispatch_sync(table()) as client, dispatch_sync(table()) as other:
        pass_csrf_checks(client)
        form_post = client.post("/shop/form/", data={"name": "x"})
        json_post = client.post("/shop/api/", json={"a": 1})
        login(client, username="alice", password="pw")  # rotates the CSRF secret
        after_login = client.post("/shop/api/", json={"b": 2})
        elsewhere = other.post("/shop/form/", data={"name": "x"})
        flask_headers = client.post("/flaskr/").request.headers

    assert form_post.text == "posted x"
    assert json_post.json() == {"got": {"a": 1}}
    assert after_login.json() == {"got": {"b": 2}}
    assert elsewhere.status_code == 403
    assert "x-csrftoken" not in flask_headers


def test_pass_csrf_checks_over_https() -> None:
    with dispatch_sync(table(), base_url="https://testserver") as client:
        pass_csrf_checks(client)
        response = client.post("/shop/api/", json={"a": 1})

    assert response.json() == {"got": {"a": 1}}


def test_a_wrong_form_token_is_still_refused_with_pass_csrf_checks() -> None:
    with dispatch_sync(table()) as client:
        pass_csrf_checks(client)
        response = client.post("/shop/form/", data={"csrfmiddlewaretoken": "x" * 64})

    assert response.status_code == 403


# --- the async client: Django on its own threads -------------------------------------------


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # Django's async is asyncio's
async def test_the_async_helpers_on_the_async_client(alice: User) -> None:
    async with dispatch(table()) as client:
        await client.get("/shop/visit/")
        refused = await alogin(client, username="alice", password="wrong")
        await aforce_login(client, alice)
        logged_in = (await client.get("/shop/whoami/")).json()
        token = await acsrf_token(client)
        posted = await client.post("/shop/api/", json=[1], headers={"X-CSRFToken": token})
        await alogout(client)
        logged_out = (await client.get("/shop/whoami/")).json()

    assert refused is False
    assert logged_in == {"user": "alice", "visits": 1}
    assert posted.json() == {"got": [1]}
    assert logged_out == {"user": None, "visits": None}


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_helpers_close_the_connections_they_open_on_their_thread(
    alice: User, opened_on_other_threads: list[Any]
) -> None:
    # They run Django on asgiref's thread, not the test's: what they open there closes when
    # they end, as a request's does (Python 3.13 warns of one left to the collector).
    async with dispatch(table()) as client:
        await alogin(client, username="alice", password="pw")
        await acsrf_token(client)
        await alogout(client)

    assert opened_on_other_threads, "the helpers ran on the test's thread"
    assert [c for c in opened_on_other_threads if is_open(c)] == []


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_pass_csrf_checks_on_the_async_client() -> None:
    async with dispatch(table()) as client:
        pass_csrf_checks(client)
        response = await client.post("/shop/form/", data={"name": "x"})

    assert response.text == "posted x"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_sync_helpers_say_which_to_await_in_an_async_test(alice: User) -> None:
    async with dispatch(table()) as client:
        with pytest.raises(RuntimeError, match=r"await aforce_login\(client, \.\.\.\)"):
            force_login(client, alice)
