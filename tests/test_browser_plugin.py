"""pytest_asgi_dispatch.playwright: pytest-playwright on the live server, through inner runs.

Each inner run is a pytest subprocess whose Playwright has no browsers of its own
(PLAYWRIGHT_BROWSERS_PATH is an empty folder), so a test that passes drove the system's
Chromium. The runs that launch a browser are skipped without one.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from pytest_asgi_dispatch._browser import ChromiumNotFound, find_chromium

PROJECT = Path(__file__).resolve().parent.parent

CONFTEST = """
import pytest
from flask import Flask, request

pytest_plugins = ["pytest_asgi_dispatch.playwright"]


def site(name):
    app = Flask(name)

    @app.get("/")
    def index():
        return f"<h1>{name}</h1><p id=host>{request.host}</p>"

    return app


@pytest.fixture
def asgi_apps():
    return {"/": site("shop"), "billing.test": site("billing")}
"""

INI = """
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def chromium() -> str:
    try:
        return find_chromium(os.environ, "")
    except ChromiumNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner project: the conftest above, and a Playwright without downloaded browsers."""
    no_browsers = pytester.mkdir("no-downloaded-browsers")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(no_browsers))
    monkeypatch.delenv("PYTEST_ASGI_DISPATCH_CHROMIUM", raising=False)
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", *args, timeout=180)


def test_page_browses_the_live_server_with_the_systems_chromium(
    inner: pytest.Pytester, chromium: str
) -> None:
    inner.makepyfile(
        f"""
        import subprocess

        BROWSERS = []


        def test_a_relative_url_goes_to_the_live_server(page, asgi_live_server, browser):
            page.goto("/")
            assert page.url == asgi_live_server.url + "/"
            assert page.inner_text("h1") == "shop"
            BROWSERS.append(browser)


        def test_a_host_mount_is_reached_by_its_name(page, asgi_live_server, browser):
            page.goto(asgi_live_server.url_for("billing.test"))
            assert page.inner_text("#host") == f"billing.test:{{asgi_live_server.port}}"
            BROWSERS.append(browser)


        def test_the_launch_options_name_the_system_chromium(browser_type_launch_args, browser):
            assert browser_type_launch_args["executable_path"] == {chromium!r}
            assert "--disable-background-networking" in browser_type_launch_args["args"]
            version = subprocess.run(
                [{chromium!r}, "--version"], capture_output=True, text=True, timeout=60
            ).stdout
            assert browser.version in version


        def test_a_context_may_name_its_own_base_url(new_context, asgi_live_server):
            context = new_context(base_url=asgi_live_server.url_for("billing.test"))
            page = context.new_page()
            page.goto("/")
            assert page.inner_text("h1") == "billing"


        def test_one_browser_serves_every_test_of_the_same_mount_table(browser):
            assert BROWSERS == [browser, browser]
        """
    )

    result = run(inner, "-p", "no:randomly")

    result.assert_outcomes(passed=5)


def test_the_browser_follows_asgi_dispatch_scope(inner: pytest.Pytester, chromium: str) -> None:
    inner.makeini(INI + "asgi_dispatch_scope = module\n")
    inner.makeconftest(CONFTEST.replace("@pytest.fixture\n", "@pytest.fixture(scope='module')\n"))
    inner.makepyfile(
        """
        SERVERS = []


        def test_one(page, asgi_live_server):
            page.goto("/")
            SERVERS.append(asgi_live_server)


        def test_two(page, asgi_live_server):
            page.goto("/")
            assert SERVERS == [asgi_live_server]
        """
    )

    run(inner).assert_outcomes(passed=2)


def test_a_base_url_given_on_the_command_line_is_kept(
    inner: pytest.Pytester, chromium: str
) -> None:
    inner.makepyfile(
        """
        import pytest
        from playwright.sync_api import Error


        def test_the_command_lines(page):
            with pytest.raises(Error, match="ERR_NAME_NOT_RESOLVED at http://elsewhere.invalid/"):
                page.goto("/")

        """
    )

    run(inner, "--base-url=http://elsewhere.invalid").assert_outcomes(passed=1)


def test_without_a_chromium_browser_tests_are_skipped_saying_how_to_get_one(
    inner: pytest.Pytester,
) -> None:
    # Stands for a machine without Chromium: the default places name none that exists.
    inner.makeconftest(
        "import pytest_asgi_dispatch._browser as browser\n"
        "browser._DEFAULT_CHROMIUMS = ('/nonexistent/chromium',)\n" + CONFTEST
    )
    inner.makepyfile(
        """
        def test_in_a_browser(page):
            page.goto("/")


        def test_without_a_browser(asgi_live_server):
            assert asgi_live_server.url
        """
    )

    result = run(inner)

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * no Chromium found (/nonexistent/chromium on PATH); install Debian's "
            "(apt-get install chromium), or name one with the asgi_chromium ini option or "
            "the PYTEST_ASGI_DISPATCH_CHROMIUM environment variable"
        ]
    )


def test_a_named_chromium_that_is_missing_fails_the_browser_tests_naming_it(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ASGI_DISPATCH_CHROMIUM", "/nonexistent/chromium")
    inner.makepyfile("def test_in_a_browser(page):\n    pass\n")

    result = run(inner)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*PYTEST_ASGI_DISPATCH_CHROMIUM names '/nonexistent/chromium', which is not an "
            "executable file or a command on PATH; point it at a Chromium, or unset it to use "
            "/usr/bin/chromium"
        ]
    )


def test_a_failing_test_leaves_a_screenshot_and_a_trace(
    inner: pytest.Pytester, chromium: str
) -> None:
    inner.makepyfile(
        """
        def test_passes(page):
            page.goto("/")


        def test_fails(page):
            page.goto("/")
            assert page.inner_text("h1") == "a page that is not there"
        """
    )

    result = run(
        inner,
        "--screenshot=only-on-failure",
        "--tracing=retain-on-failure",
        "--output=artifacts",
    )

    result.assert_outcomes(passed=1, failed=1)
    artifacts = inner.path / "artifacts"
    (folder,) = artifacts.iterdir()  # the passing test leaves nothing behind
    assert folder.name.endswith("-py-test-fails-chromium")
    assert sorted(p.name for p in folder.iterdir()) == ["test-failed-1.png", "trace.zip"]
    assert (folder / "test-failed-1.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with zipfile.ZipFile(folder / "trace.zip") as trace:
        network = b"".join(trace.read(n) for n in trace.namelist() if n.endswith(".network"))
    assert b"http://127.0.0.1:" in network  # the page came from the live server


def test_loaded_before_pytest_playwright_it_says_how_to_load_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest_subprocess("-p", "pytest_asgi_dispatch.playwright", timeout=120)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pytest_asgi_dispatch.playwright was loaded before pytest-playwright, whose "
            "fixtures would then replace its own: list it in conftest.py's pytest_plugins, or "
            "load both in order: -p playwright -p pytest_asgi_dispatch.playwright"
        ]
    )


def test_without_pytest_playwright_it_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest_subprocess(
        "-p", "no:playwright", "-p", "pytest_asgi_dispatch.playwright", timeout=120
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "pytest-playwright is not active: pip install 'pytest-asgi-dispatch[browser]'"
        in result.stderr.str()
    )


def test_another_browser_engine_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makeconftest("pytest_plugins = ['pytest_asgi_dispatch.playwright']\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest_subprocess("--browser", "firefox", timeout=120)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*drives the system's Chromium; --browser firefox is not*"])


def test_a_transactional_test_and_the_live_server_see_each_others_rows(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, chromium: str
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])
    )
    inner.makeconftest(
        """
        import os

        import pytest
        from django.core.asgi import get_asgi_application

        # Playwright's sync API keeps an event loop on the test's thread (Django's docs:
        # async safety; the answer Playwright's maintainers give).
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        pytest_plugins = ["pytest_asgi_dispatch.playwright"]


        @pytest.fixture
        def asgi_apps():
            return {"/": get_asgi_application()}
        """
    )
    inner.makepyfile(
        """
        import pytest

        from tests.djangoapp.models import Item


        @pytest.mark.django_db(transaction=True)
        def test_rows(page):
            Item.objects.create(name="teapot")

            page.goto("/items/")
            assert page.inner_text("body") == '{"names": ["teapot"]}'

            status = page.evaluate(
                '''async () => (await fetch("/items/add/", {
                    method: "POST", body: new URLSearchParams({name: "kettle"}),
                })).status'''
            )
            assert status == 200
            assert sorted(Item.objects.values_list("name", flat=True)) == ["kettle", "teapot"]
        """
    )

    run(inner, "--ds=tests.djangoapp.settings").assert_outcomes(passed=1)
