"""The plugin's ini options, run inside pytest through pytester."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from fnmatch import fnmatch
from pathlib import Path

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
        (
            "/api = apps:make(debug=True)",
            "asgi_apps line '/api = apps:make(debug=True)': the ini calls a factory only with "
            "no arguments, e.g. '/billing = billing.app:create_app()'; to pass arguments, "
            "declare an asgi_apps fixture in conftest.py that calls it",
        ),
        (
            "/api = apps:()",
            "asgi_apps line '/api = apps:()': 'apps:()' is not module:attribute*",
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
            "(ModuleNotFoundError: No module named 'shop'). Is the project folder on sys.path?*"
            "add `pythonpath = .` to the ?pytest? section*",  # ? for fnmatch's [ and ]
        ),
        (
            "/api = apps:application",
            "asgi_apps line '/api = apps:application': module 'apps' has no attribute "
            "'application'; name the application object*",
        ),
        (
            "/api = needs_a_dependency:app",
            "asgi_apps line '/api = needs_a_dependency:app': importing module "
            "'needs_a_dependency' raised ModuleNotFoundError: No module named 'not_installed'",
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
    pytester.makepyfile(
        broken="raise RuntimeError('no settings')", needs_a_dependency="import not_installed"
    )

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


def test_a_configuration_error_stops_the_run_before_any_test(pytester: pytest.Pytester) -> None:
    make_project(pytester, ini="asgi_dispatch_scope = class\n", test_it=SYNC_TEST)

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_it" not in result.stdout.str()  # not collected, let alone run
    assert lifespan_log(pytester) == []


# A factory that counts its calls in a file, so that the outer test can count them.
FACTORIES = """
import pathlib

from flask import Flask

CALLS = pathlib.Path(__file__).with_name("calls.log")


def create_billing():
    with CALLS.open("a") as log:
        log.write("call\\n")
    app = Flask("billing")
    invoices = []

    @app.post("/invoices")
    def add_invoice():
        invoices.append(1)
        return {"invoices": len(invoices)}

    return app


class services:
    create_billing = create_billing


not_a_factory = 42


def failing_factory():
    raise RuntimeError("no database")
"""

ADD_AN_INVOICE = """
def test_{name}(asgi_sync_client):
    assert asgi_sync_client.post("/billing/invoices").json() == {{"invoices": {expected}}}
"""


def factory_calls(pytester: pytest.Pytester) -> int:
    path = pytester.path / "calls.log"
    return len(path.read_text().split()) if path.exists() else 0


def test_a_factory_line_is_called_for_each_test_under_the_default_scope(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(factories=FACTORIES)
    make_project(
        pytester,
        ini="asgi_apps =\n    /billing = factories:create_billing()\n",
        conftest="",
        test_it=ADD_AN_INVOICE.format(name="one", expected=1)
        + ADD_AN_INVOICE.format(name="two", expected=1),
    )

    run(pytester).assert_outcomes(passed=2)  # each test started with no invoices
    assert factory_calls(pytester) == 2


@pytest.mark.parametrize(("scope", "calls"), [("module", 2), ("session", 1)])
def test_a_factory_line_is_called_once_per_dispatch_scope(
    pytester: pytest.Pytester, scope: str, calls: int
) -> None:
    pytester.makepyfile(factories=FACTORIES)
    make_project(
        pytester,
        ini=f"asgi_dispatch_scope = {scope}\nasgi_apps =\n"
        "    /billing = factories:services.create_billing()\n",
        conftest="",
        test_a=ADD_AN_INVOICE.format(name="first", expected=1)
        + ADD_AN_INVOICE.format(name="second", expected=2),
        test_b=ADD_AN_INVOICE.format(name="third", expected=3 if scope == "session" else 1),
    )

    run(pytester).assert_outcomes(passed=3)
    assert factory_calls(pytester) == calls


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "/billing = factories:failing_factory()",
            "asgi_apps line '/billing = factories:failing_factory()': calling "
            "factories:failing_factory() raised RuntimeError: no database",
        ),
        (
            "/billing = factories:not_a_factory()",
            "asgi_apps line '/billing = factories:not_a_factory()': factories:not_a_factory "
            "is not callable; drop the '()' to mount it as it is",
        ),
    ],
)
def test_a_factory_line_that_does_not_give_an_app_errors_naming_it(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    pytester.makepyfile(factories=FACTORIES)
    make_project(pytester, ini=f"asgi_apps =\n    {line}\n", conftest="", test_it=SYNC_TEST)

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/api = shop.asgi:application", "asgi_apps line '/api = shop.asgi:application': *"),
        ("/api = factories:not_a_factory", "asgi_apps: mount '/api': *"),
    ],
)
def test_a_mount_that_does_not_load_is_reported_once(
    pytester: pytest.Pytester, line: str, message: str
) -> None:
    pytester.makepyfile(factories=FACTORIES)
    make_project(pytester, ini=f"asgi_apps =\n    {line}\n", conftest="", test_it=SYNC_TEST)

    result = run(pytester)

    result.assert_outcomes(errors=1)
    reports = [line for line in result.stdout.lines if fnmatch(line, message)]
    assert len(reports) == 1, result.stdout.str()


def test_pythonpath_dot_makes_the_project_importable_under_the_pytest_command(
    pytester: pytest.Pytester,
) -> None:
    """`pytest`, unlike `python -m pytest`, does not put the current folder on sys.path."""
    pytester.makepyfile(apps=APPS)
    pytester.mkdir("tests").joinpath("test_it.py").write_text(textwrap.dedent(SYNC_TEST))
    ini = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    pytester.makeini(ini + APP_LINES)

    without = run_the_pytest_command(pytester)
    pytester.makeini(ini + "pythonpath = .\n" + APP_LINES)
    with_it = run_the_pytest_command(pytester)

    assert "1 error" in without.stdout, without.stdout
    assert "cannot import module 'apps'" in without.stdout
    assert "add `pythonpath = .` to the [pytest] section" in without.stdout
    assert "1 passed" in with_it.stdout, with_it.stdout


def run_the_pytest_command(pytester: pytest.Pytester) -> subprocess.CompletedProcess[str]:
    """`pytest` as a user types it: pytester's own runners put the folder on PYTHONPATH."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS"}
    }
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("pytest")),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:django",
        ],
        cwd=pytester.path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
