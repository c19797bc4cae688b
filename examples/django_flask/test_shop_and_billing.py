"""The shop (Django, at /) and billing (Flask, at /billing) tested together, as a browser sees them.

`asgi_sync_client` is an httpx.Client for both apps at once, with one cookie jar; conftest.py
says which app is mounted where. With `django_db`, the shop's views run on the test's
thread and database connection, so they see the rows each test creates.
"""

import re

import httpx
import pytest
from django.contrib.auth.models import User

from orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="wonderland")


def log_in(client: httpx.Client, username: str, password: str, **extra: str) -> httpx.Response:
    """Post the shop's login form as a browser does: fetch it, send its CSRF token back."""
    page = client.get("/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, page.text
    form = {"username": username, "password": password, "csrfmiddlewaretoken": csrf[1]}
    return client.post("/accounts/login/", data=form | extra)


def test_shop_sends_anonymous_customers_to_its_login_page(asgi_sync_client: httpx.Client) -> None:
    response = asgi_sync_client.get("/orders/")

    assert response.status_code == 302
    assert response.headers["location"] == "/accounts/login/?next=/orders/"


def test_logged_in_customer_sees_own_orders(asgi_sync_client: httpx.Client, alice: User) -> None:
    bob = User.objects.create_user("bob", password="builder")
    Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)
    Order.objects.create(customer=bob, description="Hammer", amount_cents=1200)

    login = log_in(asgi_sync_client, "alice", "wonderland")
    orders = asgi_sync_client.get(login.headers["location"])

    assert login.headers["location"] == "/orders/"
    assert orders.status_code == 200
    assert "Teapot: 2500 cents" in orders.text
    assert "Hammer" not in orders.text


def test_wrong_password_stays_on_the_login_page(
    asgi_sync_client: httpx.Client, alice: User
) -> None:
    response = log_in(asgi_sync_client, "alice", "looking-glass")

    assert response.status_code == 200
    assert "billing_token" not in asgi_sync_client.cookies


def test_billing_sends_anonymous_customers_to_the_shop_and_gets_them_back(
    asgi_sync_client: httpx.Client, alice: User
) -> None:
    login_page = asgi_sync_client.get("/billing/invoices", follow_redirects=True)
    # Flask's url_for() knows billing is under /billing: `next` leads back to it.
    assert login_page.url == "http://testserver/accounts/login/?next=%2Fbilling%2Finvoices"
    assert "Log in to the shop" in login_page.text

    back = log_in(asgi_sync_client, "alice", "wonderland", next="/billing/invoices")
    assert back.headers["location"] == "/billing/invoices"

    invoices = asgi_sync_client.get(back.headers["location"])
    assert invoices.json() == {"customer": "alice", "invoices": []}


def test_billing_trusts_the_token_the_shop_issued_at_login(
    asgi_sync_client: httpx.Client, alice: User
) -> None:
    order = Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)
    log_in(asgi_sync_client, "alice", "wonderland")

    created = asgi_sync_client.post(
        "/billing/invoices", json={"order": order.pk, "amount_cents": order.amount_cents}
    )

    assert created.status_code == 201
    assert created.headers["location"] == "http://testserver/billing/invoices/1"
    assert created.json()["url"] == "/billing/invoices/1"
    assert asgi_sync_client.get(created.headers["location"]).json()["customer"] == "alice"


def test_billing_rejects_a_forged_token(asgi_sync_client: httpx.Client) -> None:
    asgi_sync_client.cookies["billing_token"] = "alice.forged"

    response = asgi_sync_client.get("/billing/invoices")

    assert response.status_code == 302
    assert response.headers["location"].startswith("/accounts/login/")


def test_logging_out_of_the_shop_locks_billing(asgi_sync_client: httpx.Client, alice: User) -> None:
    log_in(asgi_sync_client, "alice", "wonderland")
    assert asgi_sync_client.get("/billing/invoices").status_code == 200

    csrf = asgi_sync_client.cookies["csrftoken"]
    asgi_sync_client.post("/accounts/logout/", data={"csrfmiddlewaretoken": csrf})

    assert asgi_sync_client.get("/billing/invoices").status_code == 302


def test_staff_see_every_order_in_the_admin(
    asgi_sync_client: httpx.Client, alice: User, admin_user: User
) -> None:
    Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)
    log_in(asgi_sync_client, "admin", "password")

    changelist = asgi_sync_client.get("/admin/orders/order/")

    assert changelist.status_code == 200
    assert "Teapot" in changelist.text
