"""pytest-django's `client` and `admin_client`, switched to the combined site in a conftest.

The two fixtures below are what a project puts in its conftest.py; the tests are as
they were, written against pytest-django's fixtures.
"""

import pytest
from django.contrib.auth.models import User

from tests.djangoshop.cases import ShopClient


@pytest.fixture
def client() -> ShopClient:
    return ShopClient()


@pytest.fixture
def admin_client(admin_user: User) -> ShopClient:
    client = ShopClient()
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_the_client_fixture_reaches_both_apps(client: ShopClient) -> None:
    assert b"<h1>Billing</h1>" in client.get("/flaskr/").content
    assert client.get("/api/products/").json() == {"products": []}


def test_the_admin_client_fixture_is_signed_in(admin_client: ShopClient) -> None:
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert "admin/index.html" in [t.name for t in response.templates]
