"""Django under a prefix, through its ASGI handler and its WSGI handler, beside the others.

Each test runs once per handler: `/django` is `get_asgi_application()`, `/django-wsgi`
is `get_wsgi_application()` (wrapped by a2wsgi). The project is tests/djangoapp.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.matrix_apps import mount_table, set_cookie

handlers = pytest.mark.parametrize("prefix", ["/django", "/django-wsgi"], ids=["asgi", "wsgi"])


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    return mount_table()


@handlers
def test_django_routes_on_the_path_below_its_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/where/")

    assert response.json()["path_info"] == "/where/"
    assert response.json()["script_name"] == prefix
    assert response.json()["path"] == f"{prefix}/where/"


@handlers
def test_django_reverse_and_absolute_urls_carry_the_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/where/")

    assert response.json()["reverse"] == f"{prefix}/where/"
    assert response.json()["absolute"] == f"http://testserver{prefix}/where/"


@handlers
def test_django_append_slash_redirects_under_the_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/where")

    assert response.status_code == 301
    assert response.headers["location"] == f"{prefix}/where/"


@handlers
def test_django_redirect_to_a_view_name_stays_under_the_prefix(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    response = asgi_sync_client.get(f"{prefix}/go/")

    assert response.status_code == 302
    assert response.headers["location"] == f"{prefix}/where/"


@handlers
def test_django_session_round_trips_in_a_cookie_at_path_root(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    first = asgi_sync_client.get(f"{prefix}/visits/")
    second = asgi_sync_client.get(f"{prefix}/visits/")

    assert (first.json(), second.json()) == ({"visits": 1}, {"visits": 2})
    cookie = set_cookie(first, "sessionid")
    # SESSION_COOKIE_PATH, not the script prefix: Django does not scope its cookies.
    assert cookie["path"] == "/"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]


@handlers
def test_django_csrf_protected_form_post_succeeds_with_the_token(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    form = asgi_sync_client.get(f"{prefix}/form/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None

    response = asgi_sync_client.post(
        f"{prefix}/form/", data={"csrfmiddlewaretoken": token[1], "name": "plum"}
    )

    assert f'action="{prefix}/form/"' in form.text
    assert set_cookie(form, "csrftoken")["path"] == "/"
    assert response.status_code == 200
    assert response.text == "posted plum"


@handlers
def test_django_csrf_protected_form_post_is_refused_without_the_token(
    asgi_sync_client: httpx.Client, prefix: str
) -> None:
    asgi_sync_client.get(f"{prefix}/form/")  # the CSRF cookie, but no token in the form

    response = asgi_sync_client.post(f"{prefix}/form/", data={"name": "plum"})

    assert response.status_code == 403


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@handlers
async def test_django_answers_the_async_client_under_its_prefix(
    anyio_backend: str, prefix: str
) -> None:
    from pytest_asgi_dispatch import dispatch

    async with dispatch(mount_table()) as client:
        response = await client.get(f"{prefix}/where/")

    assert response.json()["reverse"] == f"{prefix}/where/"
