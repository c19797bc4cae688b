"""A real Chromium on the live server: url_for() and chromium_args as a browser uses them.

Playwright's sync API, started and stopped by this module (not pytest-playwright's
session-long fixtures: its event loop would stay on the test thread for the rest of
the run). Skipped without a Chromium; `.ci/chromium` installs Debian's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from flask import Flask, request, url_for
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from pytest_asgi_dispatch import LiveServer
from pytest_asgi_dispatch._browser import ChromiumNotFound, chromium_launch_options, find_chromium

# Every wait in these tests is bounded by this many milliseconds (Playwright's unit).
TIMEOUT_MS = 10_000


def chromium_path() -> str:
    try:
        return find_chromium(os.environ, "")
    except ChromiumNotFound as exc:
        pytest.skip(str(exc))


def site(name: str) -> Flask:
    """A page that says which site it is, the host it was asked for, and its cookies."""
    app = Flask(name)

    @app.get("/")
    def index() -> str:
        return (
            f"<h1>{name}</h1><p id=host>{request.host}</p>"
            f"<p id=self>{url_for('index', _external=True)}</p>"
            f"<p id=cookies>{sorted(request.cookies)}</p>"
        )

    @app.get("/set-cookie")
    def set_cookie() -> tuple[str, int, dict[str, str]]:
        return "set", 200, {"Set-Cookie": f"{name}_session=1; Path=/"}

    return app


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    mounts = {"/": site("shop"), "billing.test": site("billing"), "api.test/v1": site("api")}
    with LiveServer(mounts) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(live: LiveServer) -> Iterator[Browser]:
    """The system's Chromium, launched with the live server's resolver rules."""
    options = chromium_launch_options(chromium_path())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=options["executable_path"],
            args=[*options["args"], *live.chromium_args],
            timeout=TIMEOUT_MS,
        )
        yield browser
        browser.close()


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_the_browser_is_the_systems_chromium(chromium: Browser) -> None:
    version = subprocess.run(
        [chromium_path(), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout

    assert chromium.version in version


def test_a_path_mount_is_reached_at_its_url(live: LiveServer, tab: Page) -> None:
    tab.goto(live.url_for("/"))

    assert tab.inner_text("h1") == "shop"
    assert tab.inner_text("#host") == f"127.0.0.1:{live.port}"


def test_a_host_mount_is_reached_by_its_own_name(live: LiveServer, tab: Page) -> None:
    url = live.url_for("billing.test")

    tab.goto(url)

    assert tab.inner_text("h1") == "billing"
    assert tab.inner_text("#host") == f"billing.test:{live.port}"
    assert tab.inner_text("#self") == url


def test_a_host_and_path_mount_is_reached_under_its_path(live: LiveServer, tab: Page) -> None:
    url = live.url_for("api.test/v1")

    tab.goto(url)

    assert url == f"http://api.test:{live.port}/v1/"
    assert tab.inner_text("h1") == "api"
    assert tab.inner_text("#self") == url


def test_each_host_keeps_its_own_cookies(live: LiveServer, tab: Page) -> None:
    tab.goto(live.url_for("/") + "set-cookie")
    tab.goto(live.url_for("billing.test") + "set-cookie")

    tab.goto(live.url_for("/"))
    shop_cookies = tab.inner_text("#cookies")
    tab.goto(live.url_for("billing.test"))
    billing_cookies = tab.inner_text("#cookies")

    assert shop_cookies == "['shop_session']"
    assert billing_cookies == "['billing_session']"


def test_a_name_that_is_not_mounted_is_not_sent_to_the_server(live: LiveServer, tab: Page) -> None:
    with pytest.raises(PlaywrightError, match="ERR_NAME_NOT_RESOLVED"):
        tab.goto(f"http://elsewhere.test:{live.port}/")
