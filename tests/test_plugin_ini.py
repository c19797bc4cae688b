"""The plugin's ini options, run inside pytest through pytester."""

from __future__ import annotations

import pytest

from tests.plugin_support import APPS, lifespan_log, make_project, run

SYNC_TEST = """
def test_it(asgi_sync_client):
    assert asgi_sync_client.get("/api/where").json()["root_path"] == "/api"
    assert asgi_sync_client.get("/billing/where").json() == {"url": "/billing/where"}
"""

APP_LINES = """\
asgi_apps =
    /api     = apps:api
    /billing = apps:billing
"""


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    make_project(pytester)

    result = run(pytester, "--help")

    result.stdout.fnmatch_lines_random(
        [
            "  asgi_apps (linelist): pytest-asgi-dispatch: the apps to test together*",
            "  asgi_base_url (string):*",
            "  asgi_dispatch_scope (string):*",
            "  asgi_startup_timeout (string):*",
            "  asgi_shutdown_timeout (string):*",
        ]
    )


def test_ini_lines_declare_the_apps(pytester: pytest.Pytester) -> None:
    make_project(pytester, ini=APP_LINES, conftest="", test_it=SYNC_TEST)

    run(pytester).assert_outcomes(passed=1)
    assert lifespan_log(pytester) == ["start", "stop"]


def test_a_toml_list_in_pyproject_declares_the_apps(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=APPS, test_it=SYNC_TEST)
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        asyncio_default_fixture_loop_scope = "function"
        asgi_apps = ["/api = apps:api", "/billing = apps:billing"]
        """
    )

    run(pytester).assert_outcomes(passed=1)


def test_a_dotted_attribute_is_followed(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="asgi_apps =\n    /api = apps:api\n    /billing = apps:mounted.billing\n",
        conftest="",
        test_it=SYNC_TEST,
    )

    run(pytester).assert_outcomes(passed=1)


def test_a_fixture_in_conftest_wins_over_the_ini_lines(pytester: pytest.Pytester) -> None:
    make_project(pytester, ini="asgi_apps =\n    / = nowhere:app\n", test_it=SYNC_TEST)

    run(pytester).assert_outcomes(passed=1)


def test_base_url_sets_the_clients_host(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="asgi_base_url = http://shop.test:8000\n",
        test_it="""
        def test_it(asgi_sync_client):
            assert str(asgi_sync_client.base_url) == "http://shop.test:8000"
        """,
    )

    run(pytester).assert_outcomes(passed=1)


def test_default_base_url_is_testserver(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        test_it="""
        def test_it(asgi_sync_client):
            assert str(asgi_sync_client.base_url) == "http://testserver"
        """,
    )

    run(pytester).assert_outcomes(passed=1)


def test_startup_timeout_fails_a_hanging_startup_naming_the_mount(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        ini="asgi_startup_timeout = 0.2\n",
        conftest="""
        import anyio
        import pytest

        async def slow(scope, receive, send):
            await receive()
            await anyio.sleep(30)

        @pytest.fixture
        def asgi_apps():
            return {"/slow": slow}
        """,
        test_it="""
        def test_it(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*LifespanError: mount '/slow': lifespan startup did not complete within 0.2 s*"]
    )


def test_shutdown_timeout_fails_a_hanging_shutdown_naming_the_mount(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        ini="asgi_shutdown_timeout = 0.2\n",
        conftest="""
        import anyio
        import pytest

        async def slow(scope, receive, send):
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await anyio.sleep(30)

        @pytest.fixture
        def asgi_apps():
            return {"/slow": slow}
        """,
        test_it="""
        def test_it(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*LifespanError: mount '/slow': lifespan shutdown did not complete within 0.2 s*"]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "/api apps:api",
            "asgi_apps line '/api apps:api' has no '=': write each line as "
            "PREFIX = module:attribute, e.g. '/billing = billing.app:app'",
        ),
        (
            "/api = apps.api",
            "asgi_apps line '/api = apps.api': 'apps.api' is not module:attribute*",
        ),
    ],
)
def test_a_malformed_line_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    make_project(pytester, ini=f"asgi_apps =\n    {line}\n", conftest="", test_it=SYNC_TEST)

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-asgi-dispatch: {message}"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "/api = shop.asgi:application",
            "asgi_apps line '/api = shop.asgi:application': cannot import module 'shop.asgi' "
            "(ModuleNotFoundError: No module named 'shop'); is it on sys.path*",
        ),
        (
            "/api = apps:application",
            "asgi_apps line '/api = apps:application': module 'apps' has no attribute "
            "'application'; name the application object*",
        ),
        (
            "/api = broken:app",
            "asgi_apps line '/api = broken:app': importing module 'broken' raised "
            "RuntimeError: no settings",
        ),
    ],
)
def test_a_line_that_does_not_load_errors_naming_it(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    make_project(pytester, ini=f"asgi_apps =\n    {line}\n", conftest="", test_it=SYNC_TEST)
    pytester.makepyfile(broken="raise RuntimeError('no settings')")

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("asgi_dispatch_scope = class", "asgi_dispatch_scope = 'class' is not one of function*"),
        (
            "asgi_startup_timeout = soon",
            "asgi_startup_timeout = 'soon' is not a number of seconds; write e.g. '10', or 'none'*",
        ),
        ("asgi_shutdown_timeout = 0", "asgi_shutdown_timeout = '0' is not a number of seconds*"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    make_project(pytester, ini=option + "\n", test_it=SYNC_TEST)

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-asgi-dispatch: {message}"])
