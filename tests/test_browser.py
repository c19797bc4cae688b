"""A real Chromium on the live server: url_for() and chromium_args as a browser uses them.

Playwright's sync API, started and stopped by this module (not pytest-playwright's
session-long fixtures: its event loop would stay on the test thread for the rest of
the run). Skipped without a Chromium; `.ci/chromium` installs Debian's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request, url_for
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from pytest_asgi_dispatch import LiveServer, _browser
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


# Which Chromium: the environment variable, the ini option, then the usual places.

ENV = "PYTEST_ASGI_DISPATCH_CHROMIUM"


def test_the_environment_variable_beats_the_ini_option() -> None:
    chromium = chromium_path()

    assert find_chromium({ENV: chromium}, "/nonexistent/chromium") == chromium


def test_the_ini_option_beats_the_usual_places(tmp_path: Path) -> None:
    mine = tmp_path / "my-chromium"
    mine.write_text("#!/bin/sh\n")
    mine.chmod(0o755)

    assert find_chromium({}, str(mine)) == str(mine)


def test_a_command_name_is_looked_up_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "google-chrome"
    mine.write_text("#!/bin/sh\n")
    mine.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert find_chromium({}, "google-chrome") == str(mine)


@pytest.mark.parametrize("named_by", [ENV, "asgi_chromium"])
def test_a_named_chromium_that_is_missing_is_an_error_naming_the_setting(named_by: str) -> None:
    environ, configured = (
        ({ENV: "nowhere/chromium"}, "") if named_by == ENV else ({}, "nowhere/chromium")
    )

    with pytest.raises(ValueError, match=f"^{named_by} names ") as error:
        find_chromium(environ, configured)

    assert str(error.value) == (
        f"{named_by} names 'nowhere/chromium', which is not an executable file or a command "
        "on PATH; point it at a Chromium, or unset it to use /usr/bin/chromium"
    )


def test_without_a_chromium_the_error_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stands for a machine without Chromium.
    monkeypatch.setattr(_browser, "_DEFAULT_CHROMIUMS", ("/nonexistent/chromium", "no-chromium"))

    with pytest.raises(ChromiumNotFound) as error:
        find_chromium({ENV: " "}, "")

    assert str(error.value) == (
        "no Chromium found (/nonexistent/chromium or no-chromium on PATH); install Debian's "
        "(apt-get install chromium), or name one with the asgi_chromium ini option or the "
        "PYTEST_ASGI_DISPATCH_CHROMIUM environment variable"
    )


@pytest.mark.parametrize(("uid", "sandbox"), [(0, False), (1000, True)])
def test_chromium_runs_without_its_sandbox_only_as_root(
    monkeypatch: pytest.MonkeyPatch, uid: int, sandbox: bool
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)  # both users, whoever runs the tests

    options = chromium_launch_options("/usr/bin/chromium")

    assert options["executable_path"] == "/usr/bin/chromium"
    assert ("--no-sandbox" not in options["args"]) is sandbox
    assert {"--disable-background-networking", "--no-first-run"} <= set(options["args"])


# url_for() and chromium_args in a real Chromium.


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
