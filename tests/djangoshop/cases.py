# ruff: noqa: PT009 (unittest assertions: the suite is written the ordinary Django way)
"""The shop's own test suite, written the ordinary Django way, run against the combined site.

The one line that differs from a stock Django suite is `client_class = ShopClient`: every
`self.client` request then goes through the mount table, so the same client reaches the
shop (Django, at /), billing (Flask, at /flaskr) and the stock service (Starlette, on the
host stock.test). `tests/test_django_client_suite.py` runs this module with pytest-django,
and through the `asgi_apps` ini option (`client_class = Client`, no `mounts`).
"""

from decimal import Decimal

from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client as DjangoClient
from django.test import TestCase, TransactionTestCase
from django.urls import reverse

from pytest_asgi_dispatch.django import Client
from tests.djangoshop import stock
from tests.djangoshop.models import Product
from tests.djangoshop.site import MOUNTS


class ShopClient(Client):
    mounts = MOUNTS


class ShopTests(TestCase):
    client_class = ShopClient

    @classmethod
    def setUpTestData(cls) -> None:
        cls.teapot = Product.objects.create(name="Teapot", price=Decimal("24.50"))
        Product.objects.create(name="Cup", price=Decimal("6.00"))
        cls.alice = User.objects.create_user("alice", password="wonderland")
        cls.admin = User.objects.create_superuser("root", "root@shop.test", "secret")

    def test_home_renders_its_template_with_the_products_in_context(self) -> None:
        response = self.client.get("/")

        self.assertEqual(response.status_code, 200)
        self.assertTemplateUsed(response, "shop/home.html")
        self.assertTemplateUsed(response, "shop/base.html")
        self.assertEqual([p.name for p in response.context["products"]], ["Cup", "Teapot"])
        self.assertContains(response, "<li>Teapot: 24.50</li>", html=True)
        self.assertEqual(response.resolver_match.url_name, "home")

    def test_account_redirects_anonymous_visitors_to_the_login_page(self) -> None:
        response = self.client.get("/account/")

        self.assertRedirects(response, "/accounts/login/?next=/account/")

    def test_login_with_credentials_opens_the_account(self) -> None:
        self.assertTrue(self.client.login(username="alice", password="wonderland"))

        response = self.client.get(reverse("account"))

        self.assertContains(response, "Account of alice")
        self.assertEqual(response.context["user"], self.alice)

    def test_login_with_wrong_credentials_fails(self) -> None:
        self.assertFalse(self.client.login(username="alice", password="looking-glass"))

    def test_force_login_then_logout(self) -> None:
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get("/account/").status_code, 200)

        self.client.logout()

        self.assertEqual(self.client.get("/account/").status_code, 302)

    def test_the_login_form_posts_without_a_csrf_token_by_default(self) -> None:
        response = self.client.post(
            "/accounts/login/",
            {"username": "alice", "password": "wonderland"},
            follow=True,
        )

        self.assertEqual(response.redirect_chain, [("/account/", 302)])
        self.assertTemplateUsed(response, "shop/account.html")
        self.assertEqual(int(self.client.session["_auth_user_id"]), self.alice.pk)

    def test_enforce_csrf_checks_refuses_a_post_without_the_token(self) -> None:
        client = self.client_class(enforce_csrf_checks=True)

        self.assertEqual(client.post("/contact/", {"name": "Ann"}).status_code, 403)

        form = client.get("/contact/")
        token = form.context["csrf_token"]
        response = client.post("/contact/", {"name": "Ann", "csrfmiddlewaretoken": str(token)})
        self.assertRedirects(response, "/")

    def test_a_posted_form_leaves_a_message_for_the_next_page(self) -> None:
        posted = self.client.post("/contact/", {"name": "Ann"})
        self.assertEqual([str(m) for m in get_messages(posted.wsgi_request)], ["Thanks, Ann!"])

        response = self.client.get(posted.url)

        self.assertContains(response, '<p class="message">Thanks, Ann!</p>', html=True)
        self.assertEqual([str(m) for m in response.context["messages"]], ["Thanks, Ann!"])
        self.assertNotContains(self.client.get("/"), "Thanks")  # shown once

    def test_follow_shows_the_message_after_the_redirect(self) -> None:
        response = self.client.post("/contact/", {"name": "Bo"}, follow=True)

        self.assertEqual(response.redirect_chain, [("/", 302)])
        self.assertContains(response, "Thanks, Bo!")

    def test_the_session_carries_the_cart_between_requests(self) -> None:
        self.client.post(reverse("add-to-cart", args=[self.teapot.pk]))
        response = self.client.post(reverse("add-to-cart", args=[self.teapot.pk]), follow=True)

        self.assertEqual(response.json()["cart"], ["Teapot", "Teapot"])
        self.assertEqual(self.client.session["cart"], ["Teapot", "Teapot"])

    def test_session_data_set_by_the_test_reaches_the_view(self) -> None:
        session = self.client.session
        session["coupon"] = "SPRING"
        session.save()

        self.assertEqual(self.client.get("/cart/").json()["coupon"], "SPRING")

    def test_the_api_answers_json(self) -> None:
        response = self.client.get("/api/products/", headers={"accept": "application/json"})

        self.assertEqual(response.json()["products"][1], {"name": "Teapot", "price": "24.50"})

    def test_the_admin_lists_and_adds_products(self) -> None:
        self.client.force_login(self.admin)

        listing = self.client.get("/admin/djangoshop/product/")
        self.assertContains(listing, "Teapot")
        self.assertTemplateUsed(listing, "admin/change_list.html")

        added = self.client.post(
            "/admin/djangoshop/product/add/", {"name": "Kettle", "price": "39.00"}
        )
        self.assertRedirects(added, "/admin/djangoshop/product/")
        self.assertTrue(Product.objects.filter(name="Kettle").exists())

    def test_a_view_exception_reaches_the_test(self) -> None:
        with self.assertRaisesMessage(ZeroDivisionError, "the shop's view failed"):
            self.client.get("/broken/")

    def test_without_raise_request_exception_the_500_page_comes_back(self) -> None:
        self.client.raise_request_exception = False

        response = self.client.get("/broken/")

        self.assertEqual(response.status_code, 500)
        self.assertIsInstance(response.exc_info[1], ZeroDivisionError)

    def test_the_stock_client_and_this_one_agree_on_the_shop(self) -> None:
        ours = self.client.get("/", {"page": "1"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
        theirs = DjangoClient().get("/", {"page": "1"}, HTTP_X_REQUESTED_WITH="XMLHttpRequest")

        self.assertEqual(ours.content, theirs.content)
        self.assertEqual(ours.headers, theirs.headers)
        self.assertEqual(ours.wsgi_request.META["QUERY_STRING"], "page=1")


class BillingTests(TestCase):
    """The Flask app, reached by the same `self.client`."""

    client_class = ShopClient

    @classmethod
    def setUpTestData(cls) -> None:
        cls.alice = User.objects.create_user("alice", password="wonderland")

    def test_a_flask_page_works_with_djangos_assertions(self) -> None:
        response = self.client.get("/flaskr/")

        self.assertContains(response, "<h1>Billing</h1>", html=True)
        self.assertEqual(response["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(response.templates, [])
        self.assertIsNone(response.context)

    def test_the_flask_session_cookie_round_trips(self) -> None:
        self.client.get("/flaskr/")

        response = self.client.get("/flaskr/")

        self.assertContains(response, "visit 2")
        self.assertIn("session", self.client.cookies)

    def test_flask_cookies_land_in_response_cookies_and_the_client(self) -> None:
        response = self.client.get("/flaskr/cookies")

        self.assertEqual(response.cookies["theme"].value, "dark")
        self.assertEqual(response.cookies["currency"]["path"], "/flaskr")
        self.assertTrue(response.cookies["currency"]["httponly"])
        self.assertEqual(response["Link"], "</a.css>; rel=preload, </b.js>; rel=preload")
        cookies = self.client.get("/flaskr/whoami").json()["cookies"]
        self.assertEqual(cookies, {"theme": "dark", "currency": "EUR"})

    def test_a_django_redirect_to_flask_passes_assert_redirects(self) -> None:
        response = self.client.get("/checkout/")

        # Fetches the target too: a 302 from Flask, since nobody signed in there.
        self.assertRedirects(response, "/flaskr/checkout", target_status_code=302)

    def test_follow_crosses_from_flask_to_django_and_back(self) -> None:
        self.client.post("/flaskr/login", {"username": "alice"})
        response = self.client.get("/flaskr/back-to-shop", follow=True)

        self.assertEqual(
            response.redirect_chain,
            [("/account/", 302), ("/accounts/login/?next=/account/", 302)],
        )
        self.assertTemplateUsed(response, "registration/login.html")

    def test_a_flask_login_then_checkout(self) -> None:
        response = self.client.post("/flaskr/login", {"username": "alice"}, follow=True)

        self.assertEqual(response.redirect_chain, [("/flaskr/checkout", 302)])
        self.assertContains(response, "Checkout for alice")

    def test_request_details_reach_flask(self) -> None:
        response = self.client.post(
            "/flaskr/whoami?source=test",
            {"amount": "12"},
            secure=True,
            REMOTE_ADDR="203.0.113.9",
            HTTP_USER_AGENT="Shop/1.0",
            headers={"X-Custom": "yes"},
        )

        seen = response.json()
        self.assertEqual(seen["remote_addr"], "203.0.113.9")
        self.assertEqual(seen["scheme"], "https")
        self.assertEqual(seen["root_path"], "/flaskr")
        self.assertEqual(seen["path"], "/whoami")
        self.assertEqual(seen["query"], "source=test")
        self.assertEqual(seen["agent"], "Shop/1.0")
        self.assertEqual(seen["custom"], "yes")
        self.assertEqual(seen["form"], {"amount": "12"})

    def test_json_and_other_methods_reach_flask(self) -> None:
        for method in ("put", "patch", "delete"):
            response = getattr(self.client, method)(
                "/flaskr/whoami", {"n": 1}, content_type="application/json"
            )
            self.assertEqual(response.json()["method"], method.upper())
            self.assertEqual(response.json()["json"], {"n": 1})

    def test_a_body_reaches_flask_and_comes_back_byte_exact(self) -> None:
        body = bytes(range(256)) * 300

        response = self.client.post("/flaskr/echo", body, content_type="application/octet-stream")

        self.assertEqual(response.content, body)
        self.assertEqual(response["Content-Length"], str(len(body)))

    def test_a_streamed_flask_response_stays_streaming(self) -> None:
        response = self.client.get("/flaskr/stream")

        self.assertTrue(response.streaming)
        self.assertEqual(b"".join(response.streaming_content), b"line 0\nline 1\nline 2\n")

    def test_a_head_request_and_a_204_have_no_body(self) -> None:
        self.assertEqual(self.client.head("/flaskr/").content, b"")
        nothing = self.client.get("/flaskr/nothing")
        self.assertEqual(nothing.status_code, 204)
        self.assertEqual(nothing.content, b"")

    def test_a_flask_view_exception_reaches_the_test(self) -> None:
        with self.assertRaisesMessage(KeyError, "the billing view failed"):
            self.client.get("/flaskr/boom")

    def test_without_raise_request_exception_flask_answers_500(self) -> None:
        self.client.raise_request_exception = False

        self.assertEqual(self.client.get("/flaskr/boom").status_code, 500)

    def test_a_host_mount_is_reached_by_its_host(self) -> None:
        response = self.client.get(
            "/level", headers={"host": "stock.test"}, REMOTE_ADDR="198.51.100.7"
        )

        self.assertEqual(response.json()["warehouse"], "Lyon")
        self.assertEqual(response.json()["host"], "stock.test")
        self.assertEqual(response.json()["client"], "198.51.100.7")

    def test_the_stock_service_started_once_for_every_test(self) -> None:
        first = self.client.get("/level", SERVER_NAME="stock.test").json()
        second = self.client_class().get("/level", SERVER_NAME="stock.test").json()

        self.assertEqual(first["starts"], 1)
        self.assertEqual(second["starts"], 1)
        self.assertEqual(stock.LIFESPAN, ["startup"])


class ShopTransactionTests(TransactionTestCase):
    client_class = ShopClient

    def test_rows_the_test_commits_are_on_the_page(self) -> None:
        Product.objects.create(name="Saucer", price=Decimal("3.00"))

        self.assertContains(self.client.get("/"), "Saucer")

    def test_login_works_in_a_transaction_test_case_too(self) -> None:
        user = User.objects.create_user("bob", password="builder")
        self.client.force_login(user)

        self.assertContains(self.client.get("/account/"), "Account of bob")
