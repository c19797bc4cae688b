"""The shop's own Django test suite (tests/djangoshop/cases.py), run against the combined site.

Each run is a pytest subprocess with pytest-django and the shop's settings (Django is
configured once per process): the suite switched by `client_class = ShopClient` (a
subclass that names its table), pytest-django's `client` fixture switched in a conftest,
and the same suite through the `asgi_apps` ini option (`client_class = Client`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SHOP_SETTINGS = "tests.djangoshop.settings"
INI = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"

# The test's own Python prints what the stock service's lifespan did, once pytest is done.
PRINT_STOCK_LIFESPAN = """
def pytest_unconfigure(config):
    from tests.djangoshop import stock

    print(f"stock lifespan: {stock.LIFESPAN}")
"""

# Every test of cases.py, by class: each must pass.
CASES = {
    "ShopTests": [
        "test_home_renders_its_template_with_the_products_in_context",
        "test_account_redirects_anonymous_visitors_to_the_login_page",
        "test_login_with_credentials_opens_the_account",
        "test_login_with_wrong_credentials_fails",
        "test_force_login_then_logout",
        "test_the_login_form_posts_without_a_csrf_token_by_default",
        "test_enforce_csrf_checks_refuses_a_post_without_the_token",
        "test_a_posted_form_leaves_a_message_for_the_next_page",
        "test_follow_shows_the_message_after_the_redirect",
        "test_the_session_carries_the_cart_between_requests",
        "test_session_data_set_by_the_test_reaches_the_view",
        "test_the_api_answers_json",
        "test_the_admin_lists_and_adds_products",
        "test_a_view_exception_reaches_the_test",
        "test_without_raise_request_exception_the_500_page_comes_back",
        "test_the_stock_client_and_this_one_agree_on_the_shop",
    ],
    "BillingTests": [
        "test_a_flask_page_works_with_djangos_assertions",
        "test_the_flask_session_cookie_round_trips",
        "test_flask_cookies_land_in_response_cookies_and_the_client",
        "test_a_django_redirect_to_flask_passes_assert_redirects",
        "test_follow_crosses_from_flask_to_django_and_back",
        "test_a_flask_login_then_checkout",
        "test_request_details_reach_flask",
        "test_json_and_other_methods_reach_flask",
        "test_a_body_reaches_flask_and_comes_back_byte_exact",
        "test_a_streamed_flask_response_stays_streaming",
        "test_a_head_request_and_a_204_have_no_body",
        "test_a_flask_view_exception_reaches_the_test",
        "test_without_raise_request_exception_flask_answers_500",
        "test_a_host_mount_is_reached_by_its_host",
        "test_the_stock_service_started_once_for_every_test",
    ],
    "ShopTransactionTests": [
        "test_rows_the_test_commits_are_on_the_page",
        "test_login_works_in_a_transaction_test_case_too",
    ],
}


def passed_lines(module: str, classes: dict[str, str]) -> list[str]:
    """The `-v` line of each case, run from `module` under the class names given."""
    return [
        f"{module}::{classes[cls]}::{name} PASSED*"
        for cls, names in CASES.items()
        for name in names
    ]


def run_the_shops_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ini: str = "", **files: str
) -> pytest.RunResult:
    """Run `files` as test modules in a pytest subprocess with the shop's settings."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])
    )
    pytester.makepyfile(**files)
    pytester.makeconftest(PRINT_STOCK_LIFESPAN)
    pytester.makeini(INI + ini)
    # --ds: the root session exported DJANGO_SETTINGS_MODULE, which beats an ini option.
    return pytester.runpytest_subprocess(
        f"--ds={SHOP_SETTINGS}", "-p", "no:cacheprovider", "-v", "-s"
    )


def test_the_shops_suite_passes_switched_by_client_class(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_the_shops_suite(
        pytester, monkeypatch, test_shop="from tests.djangoshop.cases import *  # noqa\n"
    )

    result.assert_outcomes(passed=sum(map(len, CASES.values())))
    result.stdout.fnmatch_lines_random(passed_lines("test_shop.py", {cls: cls for cls in CASES}))
    # Started at the first request for it, shut down when the session ended.
    result.stdout.fnmatch_lines(["stock lifespan: ['startup', 'shutdown']"])


def test_pytest_djangos_client_fixtures_switched_in_a_conftest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_the_shops_suite(
        pytester,
        monkeypatch,
        test_fixtures="from tests.djangoshop.fixture_cases import *  # noqa\n",
    )

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "test_fixtures.py::test_the_client_fixture_reaches_both_apps PASSED*",
            "test_fixtures.py::test_the_admin_client_fixture_is_signed_in PASSED*",
        ]
    )


# The suite's classes again, with Django's-style one line: `Client`, no table of its own.
THROUGH_THE_INI_TABLE = """
from pytest_asgi_dispatch.django import Client
from tests.djangoshop import cases


class TestShop(cases.ShopTests):
    client_class = Client


class TestBilling(cases.BillingTests):
    client_class = Client


class TestTransactions(cases.ShopTransactionTests):
    client_class = Client
"""

ASGI_APPS = """\
asgi_apps =
    /          = tests.djangoshop.asgi:application
    /flaskr    = tests.djangoshop.flaskr:app
    stock.test = tests.djangoshop.stock:app
"""


def test_without_mounts_the_client_uses_the_ini_table(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_the_shops_suite(
        pytester, monkeypatch, ini=ASGI_APPS, test_ini=THROUGH_THE_INI_TABLE
    )

    result.assert_outcomes(passed=sum(map(len, CASES.values())))
    renamed = {
        "ShopTests": "TestShop",
        "BillingTests": "TestBilling",
        "ShopTransactionTests": "TestTransactions",
    }
    result.stdout.fnmatch_lines_random(passed_lines("test_ini.py", renamed))
    result.stdout.fnmatch_lines(["stock lifespan: ['startup', 'shutdown']"])


def test_without_mounts_or_ini_table_each_test_says_how_to_declare_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_the_shops_suite(pytester, monkeypatch, test_ini=THROUGH_THE_INI_TABLE)

    outcomes = result.parseoutcomes()
    assert "passed" not in outcomes
    # Django reports an error in its `_pre_setup` as a failure of a TestCase's test.
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == sum(map(len, CASES.values()))
    result.stdout.fnmatch_lines(
        [
            "E*MountError: no mount table for pytest_asgi_dispatch.django.Client: pass one, "
            "Client(mounts={*}), or set `mounts = {...}` on a subclass that you use as "
            "client_class, or list the apps in the `asgi_apps` ini option, which is empty*"
        ]
    )
