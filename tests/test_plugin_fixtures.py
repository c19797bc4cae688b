"""The plugin's fixtures, run inside pytest through pytester."""

from __future__ import annotations

import pytest

from pytest_asgi_dispatch._client_library import ClientLibrary
from tests.plugin_support import APPS_FIXTURE, ASYNCIO_ONLY, lifespan_log, make_project, run


def test_asgi_client_reaches_every_mounted_app(
    pytester: pytest.Pytester, http: ClientLibrary
) -> None:
    make_project(
        pytester,
        conftest=APPS_FIXTURE + ASYNCIO_ONLY,
        test_it=f"""
        import pytest
        import {http.name} as library

        @pytest.mark.anyio
        async def test_both_apps(asgi_client):
            assert isinstance(asgi_client, library.AsyncClient)
            api = await asgi_client.get("/api/where")
            billing = await asgi_client.get("/billing/where")
            assert api.json() == {{"root_path": "/api", "starts": 1}}
            assert billing.json() == {{"url": "/billing/where"}}
        """,
    )

    result = run(pytester)

    result.assert_outcomes(passed=1)
    assert lifespan_log(pytester) == ["start", "stop"]


def test_asgi_sync_client_serves_sync_tests(pytester: pytest.Pytester, http: ClientLibrary) -> None:
    make_project(
        pytester,
        test_it=f"""
        import {http.name} as library

        def test_both_apps(asgi_sync_client):
            assert isinstance(asgi_sync_client, library.Client)
            assert asgi_sync_client.get("/api/where").json()["starts"] == 1
            assert asgi_sync_client.get("/billing/where").json() == {{"url": "/billing/where"}}
        """,
    )

    result = run(pytester)

    result.assert_outcomes(passed=1)
    assert lifespan_log(pytester) == ["start", "stop"]


def test_asgi_dispatcher_is_built_from_asgi_apps(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        test_it="""
        from pytest_asgi_dispatch import Dispatcher

        def test_routes(asgi_dispatcher):
            assert isinstance(asgi_dispatcher, Dispatcher)
            assert [route.key for route in asgi_dispatcher.routes] == ["/api", "/billing"]
        """,
    )

    run(pytester).assert_outcomes(passed=1)


def test_without_apps_a_client_errors_showing_both_ways_to_declare_them(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        conftest="",
        test_it="""
        def test_needs_apps(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*no apps to test: declare the mount table, either as a fixture in conftest.py",
            "    @pytest.fixture",
            "    def asgi_apps():",
            "*or as the `asgi_apps` ini option, one `PREFIX = module:attribute` per line, "
            "with `()`",
            "after a factory to call (once per test)",
            "    asgi_apps =",
            "        /        = shop.asgi:application",
            "        /billing = billing.app:create_app()",
            '    asgi_apps = ["/ = shop.asgi:application", "/billing = billing.app:create_app()"]',
        ]
    )


def test_a_bad_mount_table_errors_naming_the_key(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest="""
        import pytest

        @pytest.fixture
        def asgi_apps():
            return {"/api": "not an app"}
        """,
        test_it="""
        def test_it(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["asgi_apps: mount '/api': 'not an app' is not an ASGI 3*"])


def test_a_failed_startup_errors_naming_the_mount(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest="""
        import contextlib

        import pytest
        from starlette.applications import Starlette

        @contextlib.asynccontextmanager
        async def lifespan(app):
            raise RuntimeError("no database")
            yield

        @pytest.fixture
        def asgi_apps():
            return {"/broken": Starlette(lifespan=lifespan)}
        """,
        test_it="""
        def test_it(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["E  *LifespanError: mount '/broken': lifespan startup raised RuntimeError: no database"]
    )


def test_a_sync_test_asking_for_the_async_client_is_told_to_use_the_sync_one(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        test_it="""
        def test_it(asgi_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_it is a sync test but requests asgi_client, an httpx.AsyncClient; "
            "use asgi_sync_client*"
        ]
    )


def test_both_clients_in_one_scope_error_plainly(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest=APPS_FIXTURE + ASYNCIO_ONLY,
        ini="asgi_dispatch_scope = module\n",
        test_it="""
        import pytest

        @pytest.mark.anyio
        async def test_async(asgi_client):
            pass

        def test_sync(asgi_sync_client):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "asgi_sync_client cannot start while asgi_client runs the apps "
            "(asgi_dispatch_scope = module)*"
        ]
    )


def test_an_app_on_trio_that_needs_asyncio_fails_naming_the_mount(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        test_it="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"

        @pytest.mark.anyio
        async def test_flask_on_trio(asgi_client):
            await asgi_client.get("/billing/where")
        """,
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E  * RuntimeError: mount '/billing' is a WSGI app, which runs on asyncio only, but "
            "this test runs on another event loop (trio?)*anyio_backend*'asyncio'*"
        ]
    )
