"""Services that call each other over HTTP, served in-process: no server, no mock.

The shop's checkout view charges an order by posting to billing at
`settings.BILLING_URL` (`http://billing.internal`) with `requests`. Here billing is
mounted on that host too: the same app the customer's browser reaches under `/billing`.
While the test's client is open, the plugin serves HTTP calls to a mounted host
in-process (the ini option `asgi_outbound`, `mounted` by default), so billing's own code
answers the shop's call, on the test's thread, and the shop sees the test's rows.

A third service, `statements` (FastAPI), totals a customer's invoices by asking billing
with `httpx.AsyncClient`, from async code on the event loop the apps run on. (The tests
are sync: test_browser.py leaves Playwright's event loop running on the test's thread.)
"""

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from fastapi import FastAPI
from flask import Flask

from billing.app import create_app
from billing.tokens import TOKEN_COOKIE, issue_token
from orders.models import Order
from shop.asgi import application as shop
from test_shop_and_billing import log_in

BILLING_INTERNAL = "billing.internal"  # the host of shop.settings.BILLING_URL


def statements_service() -> FastAPI:
    """A FastAPI service that totals a customer's invoices, asking billing over HTTP."""
    app = FastAPI()

    @app.get("/{customer}")
    async def statement(customer: str) -> dict[str, Any]:
        token = {TOKEN_COOKIE: issue_token(customer)}
        async with httpx.AsyncClient(cookies=token, timeout=5) as client:
            answer = await client.get(f"http://{BILLING_INTERNAL}/invoices")
        invoices = answer.json()["invoices"]
        return {
            "customer": customer,
            "invoices": len(invoices),
            "total_cents": sum(invoice["amount_cents"] for invoice in invoices),
        }

    return app


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    """conftest.py's two apps, billing also on its internal host, and statements."""
    billing = create_app(shop_login_url="/accounts/login/")
    return {
        "/": shop,
        "/billing": billing,
        BILLING_INTERNAL: billing,
        "/statements": statements_service(),
    }


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="wonderland")


def check_out(client: httpx.Client, order: Order) -> httpx.Response:
    """Press the order's "Check out" button: a POST with the CSRF token."""
    csrf = client.cookies["csrftoken"]
    return client.post(f"/orders/{order.pk}/checkout/", data={"csrfmiddlewaretoken": csrf})


@pytest.mark.django_db
def test_checkout_charges_the_order_through_billing_and_shows_its_invoice(
    asgi_sync_client: httpx.Client, alice: User
) -> None:
    teapot = Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)
    log_in(asgi_sync_client, "alice", "wonderland")

    page = check_out(asgi_sync_client, teapot)

    assert page.status_code == 200, page.text
    assert "<h1>Invoice 1</h1>" in page.text
    assert "Teapot: 2500 cents, billed to alice." in page.text
    # Billing kept the invoice: the customer sees it at /billing, the shop's call made it.
    invoices = asgi_sync_client.get("/billing/invoices").json()["invoices"]
    assert [(i["order"], i["amount_cents"]) for i in invoices] == [(teapot.pk, 2500)]


@pytest.mark.django_db
def test_no_one_checks_out_another_customers_order(
    asgi_sync_client: httpx.Client, alice: User
) -> None:
    bob = User.objects.create_user("bob", password="builder")
    hammer = Order.objects.create(customer=bob, description="Hammer", amount_cents=1200)
    log_in(asgi_sync_client, "alice", "wonderland")

    assert check_out(asgi_sync_client, hammer).status_code == 404
    assert asgi_sync_client.get("/billing/invoices").json()["invoices"] == []


class TestWhenBillingFails:
    @pytest.fixture
    def asgi_apps(self) -> dict[str, object]:
        """A billing whose every charge fails: its exception answers the shop with a 500."""
        broken = Flask("broken_billing")

        @broken.post("/invoices")
        def create_invoice() -> None:
            raise RuntimeError("billing's database is down")

        return {"/": shop, BILLING_INTERNAL: broken}

    @pytest.mark.django_db
    def test_checkout_says_nothing_was_charged(
        self, asgi_sync_client: httpx.Client, alice: User
    ) -> None:
        teapot = Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)
        log_in(asgi_sync_client, "alice", "wonderland")

        page = check_out(asgi_sync_client, teapot)

        assert page.status_code == 502
        assert page.text == "Billing is unavailable; nothing was charged."


def test_statements_total_a_customers_invoices_asking_billing_over_http(
    asgi_sync_client: httpx.Client,
) -> None:
    asgi_sync_client.cookies[TOKEN_COOKIE] = issue_token("alice")
    for amount_cents in (2500, 1200):
        invoice = {"order": amount_cents, "amount_cents": amount_cents}
        assert asgi_sync_client.post("/billing/invoices", json=invoice).status_code == 201

    statement = asgi_sync_client.get("/statements/alice")

    assert statement.json() == {"customer": "alice", "invoices": 2, "total_cents": 3700}
