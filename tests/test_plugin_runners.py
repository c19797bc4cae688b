"""`asgi_client` under each async test runner: anyio's plugin and pytest-asyncio.

anyio's plugin is always there (anyio is a dependency); pytest-asyncio is installed in
this environment, so every inner session has both, as a user's would.
"""

from __future__ import annotations

import inspect

import anyio.pytest_plugin
import pytest

from tests.plugin_support import APPS, APPS_FIXTURE, ASYNCIO_ONLY, lifespan_log, make_project, run

STARLETTE_ONLY = """
import pytest

import apps


@pytest.fixture(scope="session")
def asgi_apps():
    return {"/api": apps.api}
"""

ASYNC_TESTS = """
import pytest
{mark}
async def test_first(asgi_client):
    assert (await asgi_client.get("/api/where")).json()["starts"] == {first}
{mark}
async def test_second(asgi_client):
    assert (await asgi_client.get("/api/where")).json()["starts"] == {second}
"""


def async_tests(mark: str = "", first: int = 1, second: int = 2) -> str:
    return ASYNC_TESTS.format(mark=mark, first=first, second=second)


# --- anyio's pytest plugin ---------------------------------------------------------


def test_anyio_marker_runs_the_client_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest=STARLETTE_ONLY,
        test_it="""
        import pytest

        @pytest.mark.anyio
        async def test_it(asgi_client, anyio_backend):
            assert (await asgi_client.get("/api/where")).status_code == 200
        """,
    )

    result = run(pytester, "-v")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(["*test_it?asyncio? PASSED*", "*test_it?trio? PASSED*"])


def test_anyio_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(apps=APPS, test_it=async_tests("@pytest.mark.anyio"))
    pytester.makeconftest(APPS_FIXTURE + ASYNCIO_ONLY)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")

    run(pytester, "-p", "no:asyncio").assert_outcomes(passed=2)


@pytest.mark.skipif(
    "anyio_mode" not in inspect.getsource(anyio.pytest_plugin),
    reason="this anyio has no auto mode",
)
def test_anyio_auto_mode_needs_no_marker(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="anyio_mode = auto\n",
        conftest=APPS_FIXTURE + ASYNCIO_ONLY,
        test_it=async_tests(),
    )

    run(pytester).assert_outcomes(passed=2)


def test_anyio_module_scope_starts_the_apps_once_per_backend(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="asgi_dispatch_scope = module\n",
        conftest=STARLETTE_ONLY,
        test_it="""
        import pytest

        @pytest.mark.anyio
        async def test_it(asgi_client, anyio_backend):
            starts = (await asgi_client.get("/api/where")).json()["starts"]
            assert starts == {"asyncio": 1, "trio": 2}[anyio_backend]

        @pytest.mark.anyio
        async def test_again(asgi_client, anyio_backend):
            starts = (await asgi_client.get("/api/where")).json()["starts"]
            assert starts == {"asyncio": 1, "trio": 2}[anyio_backend]
        """,
    )

    run(pytester).assert_outcomes(passed=4)
    assert lifespan_log(pytester) == ["start", "stop"] * 2


def test_anyio_session_scope_asks_for_a_session_scoped_backend(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        ini="asgi_dispatch_scope = session\n",
        conftest=STARLETTE_ONLY,
        test_it=async_tests("@pytest.mark.anyio", 1, 1),
    )

    result = run(pytester)

    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "ScopeMismatch: You tried to access the module scoped fixture anyio_backend*",
            "asgi_dispatch_scope = session: the async client lives for a session, so anyio "
            "must keep its event loop as long. Declare anyio_backend at that scope in "
            "conftest.py:",
            '    @pytest.fixture(scope="session")',
            "    def anyio_backend():",
        ]
    )


def test_django_on_trio_fails_naming_the_mount(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest="""
        import pytest
        from django.core.asgi import get_asgi_application

        @pytest.fixture(scope="session")
        def asgi_apps():
            return {"/shop": get_asgi_application()}
        """,
        test_it="""
        import pytest

        @pytest.mark.anyio
        async def test_it(asgi_client):
            assert (await asgi_client.get("/shop/where/")).status_code == 200
        """,
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E  *RuntimeError: mount '/shop' is Django, which runs on asyncio only*anyio_backend*"]
    )


# --- pytest-asyncio ----------------------------------------------------------------


def test_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    make_project(pytester, ini="asyncio_mode = auto\n", test_it=async_tests())

    run(pytester).assert_outcomes(passed=2)
    assert lifespan_log(pytester) == ["start", "stop"] * 2


def test_pytest_asyncio_strict_mode_with_marked_tests(pytester: pytest.Pytester) -> None:
    make_project(pytester, test_it=async_tests("@pytest.mark.asyncio"))

    # filterwarnings = error: no "requested async @pytest.fixture in strict mode" either
    run(pytester).assert_outcomes(passed=2)


def test_pytest_asyncio_strict_mode_unmarked_says_what_to_mark(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester, test_it=async_tests())

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "test_first requests asgi_client, an async fixture, but no async plugin runs this "
            "test. Mark it @pytest.mark.anyio (anyio's plugin; `anyio_mode = auto` in the ini "
            "marks every async test) or @pytest.mark.asyncio (pytest-asyncio; "
            "`asyncio_mode = auto` marks every async test)."
        ]
    )


@pytest.mark.parametrize("scope", ["module", "session"])
@pytest.mark.parametrize(
    ("mode", "mark"),
    [("auto", ""), ("strict", '@pytest.mark.asyncio(loop_scope="{scope}")')],
)
def test_pytest_asyncio_broad_scopes_share_one_loop_and_one_startup(
    pytester: pytest.Pytester, scope: str, mode: str, mark: str
) -> None:
    loop_scope = f"asyncio_default_test_loop_scope = {scope}\n" if mode == "auto" else ""
    make_project(
        pytester,
        ini=f"asyncio_mode = {mode}\nasgi_dispatch_scope = {scope}\n{loop_scope}",
        test_a=async_tests(mark.format(scope=scope), 1, 1),
        test_b=async_tests(mark.format(scope=scope), *((2, 2) if scope == "module" else (1, 1))),
    )

    run(pytester).assert_outcomes(passed=4)
    assert lifespan_log(pytester) == ["start", "stop"] * (2 if scope == "module" else 1)


def test_pytest_asyncio_loop_narrower_than_the_scope_says_how_to_widen_it(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        ini="asyncio_mode = auto\nasgi_dispatch_scope = module\n",
        test_it=async_tests(first=1, second=1),
    )

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "asgi_client lives for a module (asgi_dispatch_scope = module), on the event loop "
            "it started on, but this test runs on a function-scoped loop. With pytest-asyncio, "
            "run these tests on a module-scoped loop: `asyncio_default_test_loop_scope = "
            'module` in the ini, or @pytest.mark.asyncio(loop_scope="module").'
        ]
    )
    assert lifespan_log(pytester) == []


def test_sync_client_next_to_async_tests(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="asyncio_mode = auto\n",
        test_it=async_tests()
        + """
def test_sync(asgi_sync_client):
    assert asgi_sync_client.get("/api/where").json()["starts"] == 3
""",
    )

    run(pytester).assert_outcomes(passed=3)


def test_a_request_from_another_loop_fails_plainly(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        ini="asgi_dispatch_scope = session\n",
        test_a=async_tests('@pytest.mark.asyncio(loop_scope="session")', 1, 1),
        test_b=async_tests('@pytest.mark.asyncio(loop_scope="module")', 1, 1),
    )

    result = run(pytester)

    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E  *RuntimeError: asgi_client lives for a session (asgi_dispatch_scope = session), "
            "on the event loop it started on, but this test runs on another loop.*"
        ]
    )
