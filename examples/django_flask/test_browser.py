"""The shop and billing in a real browser: Chromium, driven by pytest-playwright, live.

Here billing has a host of its own, `billing.test`, as it would in production, so the
browser keeps separate cookies for the shop (127.0.0.1) and for billing. The browser
reaches `billing.test` through Chromium's resolver rules, which
`pytest_asgi_dispatch.playwright` sets from the mount table; `page.goto("/...")` goes to
the shop. Without a Chromium these tests are skipped, saying how to get one
(`apt-get install chromium`).

The live server handles the browser's requests on its own threads, with their own
database connections: `transaction=True` commits the rows a test creates, so that the
server sees them (a plain `django_db` test keeps them in a transaction that only the
test's connection can see).
"""

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_asgi_dispatch import LiveServer
from pytest_django import Settings

from billing.app import create_app
from orders.models import Order
from shop.asgi import application as shop

# Playwright's sync API runs an event loop on the test's thread from the first browser
# test to the end of the run, and Django refuses ORM calls on a thread with a running
# loop (SynchronousOnlyOperation). Set for the whole run, since the loop outlives this
# module; the test's thread and the server's threads keep their own connections.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytest_plugins = ["pytest_asgi_dispatch.playwright"]
pytestmark = pytest.mark.django_db(transaction=True)

BILLING = "billing.test/billing"


@pytest.fixture
def asgi_apps(settings: Settings) -> dict[str, object]:
    """The shop at the root of every host; billing at `billing.test`, under /billing.

    The shop's pages answer on `billing.test` too (its other paths), as a front proxy
    routes the login pages of every site to the shop: billing sends customers there.
    """
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "billing.test"]
    return {"/": shop, BILLING: create_app(shop_login_url="/accounts/login/")}


@pytest.fixture
def teapot() -> Order:
    """alice's order, in rows committed for the live server to see."""
    alice = User.objects.create_user("alice", password="wonderland")
    return Order.objects.create(customer=alice, description="Teapot", amount_cents=2500)


def log_in(page: Page, username: str, password: str) -> None:
    """Fill in and send the shop's login form, on whichever page the browser is."""
    expect(page).to_have_title("Log in to the shop")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture(autouse=True)
def billing_pages_on_their_host(settings: Settings, asgi_live_server: LiveServer) -> None:
    """The shop links to the billing pages on billing's own host, as in production."""
    settings.BILLING_PAGES_URL = asgi_live_server.url_for(BILLING) + "invoices"


def open_the_invoice(page: Page, live: LiveServer, order: Order) -> None:
    """Follow the shop's link to billing's host, log in there, invoice the order from the
    page's script, open the invoice."""
    page.goto("/orders/")
    page.get_by_role("link", name="Your invoices").click()
    assert page.url.startswith(live.url_for(BILLING).removesuffix("billing/"))
    log_in(page, "alice", "wonderland")  # billing's host has cookies of its own
    expect(page.locator("body")).to_contain_text('"invoices":[]')
    # The page's own fetch() goes through Chromium, which resolves billing.test; Playwright's
    # page.request would not (it resolves names itself, where billing.test does not exist).
    created = page.evaluate(
        """async (order) => {
            const response = await fetch("invoices", {
                method: "POST",
                headers: {"content-type": "application/json"},
                body: JSON.stringify(order),
            });
            return {status: response.status, location: response.headers.get("location")};
        }""",
        {"order": order.pk, "amount_cents": order.amount_cents},
    )
    assert created["status"] == 201, created
    page.goto(created["location"])


def test_a_customer_logs_in_through_the_shops_form_and_sees_their_orders(
    page: Page, teapot: Order
) -> None:
    page.goto("/orders/")

    log_in(page, "alice", "wonderland")

    expect(page.get_by_role("heading")).to_have_text("alice's orders")
    expect(page.get_by_text("Teapot: 2500 cents")).to_be_visible()


def test_billing_on_its_own_host_shows_the_invoice(
    page: Page, teapot: Order, asgi_live_server: LiveServer
) -> None:
    page.goto("/orders/")
    log_in(page, "alice", "wonderland")

    open_the_invoice(page, asgi_live_server, teapot)

    assert page.url == asgi_live_server.url_for(BILLING) + "invoices/1"
    expect(page.locator("body")).to_contain_text('"customer":"alice"')
    expect(page.locator("body")).to_contain_text('"amount_cents":2500')


def test_logging_out_of_the_shop_leaves_billing_logged_in(
    page: Page, teapot: Order, asgi_live_server: LiveServer
) -> None:
    page.goto("/orders/")
    log_in(page, "alice", "wonderland")
    open_the_invoice(page, asgi_live_server, teapot)
    invoice = page.url

    page.goto("/orders/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_title("Log in to the shop")
    page.goto("/orders/")
    expect(page).to_have_title("Log in to the shop")  # logged out of the shop

    page.goto(invoice)
    expect(page.locator("body")).to_contain_text('"customer":"alice"')


def test_logging_out_on_billings_host_leaves_the_shop_logged_in(
    page: Page, teapot: Order, asgi_live_server: LiveServer
) -> None:
    page.goto("/orders/")
    log_in(page, "alice", "wonderland")
    open_the_invoice(page, asgi_live_server, teapot)
    invoice = page.url

    billing_host = asgi_live_server.url_for(BILLING).removesuffix("billing/")
    page.goto(billing_host + "orders/")  # the shop's pages on billing's host
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_title("Log in to the shop")
    page.goto(invoice)
    expect(page).to_have_title("Log in to the shop")
    assert page.url.startswith(billing_host + "accounts/login/")

    page.goto("/orders/")
    expect(page.get_by_text("Teapot: 2500 cents")).to_be_visible()
