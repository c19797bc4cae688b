"""`asgi_dispatch_scope`: the apps' lifespans run once per function, module or session.

The apps log each lifespan startup and shutdown to a file; each inner test also checks
which startup its client sees, through the app's lifespan state.
"""

from __future__ import annotations

import pytest

from tests.plugin_support import APPS_FIXTURE, ASYNCIO_ONLY, lifespan_log, make_project, run

ASYNC_TESTS = """
import pytest

@pytest.mark.anyio
async def test_first(asgi_client):
    assert (await asgi_client.get("/api/where")).json()["starts"] == {first}

@pytest.mark.anyio
async def test_second(asgi_client):
    assert (await asgi_client.get("/api/where")).json()["starts"] == {second}
"""

SYNC_TESTS = """
def test_first(asgi_sync_client):
    assert asgi_sync_client.get("/api/where").json()["starts"] == {first}

def test_second(asgi_sync_client):
    assert asgi_sync_client.get("/api/where").json()["starts"] == {second}
"""

# Two modules of two tests each: the startup each test sees, and the whole log.
EXPECTED = {
    "function": ((1, 2), (3, 4), ["start", "stop"] * 4),
    "module": ((1, 1), (2, 2), ["start", "stop"] * 2),
    "session": ((1, 1), (1, 1), ["start", "stop"]),
}


@pytest.mark.parametrize("tests", [ASYNC_TESTS, SYNC_TESTS], ids=["async", "sync"])
@pytest.mark.parametrize("scope", ["function", "module", "session"])
def test_lifespans_run_once_per_dispatch_scope(
    pytester: pytest.Pytester, scope: str, tests: str
) -> None:
    (a_first, a_second), (b_first, b_second), log = EXPECTED[scope]
    make_project(
        pytester,
        ini=f"asgi_dispatch_scope = {scope}\n",
        conftest=APPS_FIXTURE + ASYNCIO_ONLY,
        test_a=tests.format(first=a_first, second=a_second),
        test_b=tests.format(first=b_first, second=b_second),
    )

    result = run(pytester)

    result.assert_outcomes(passed=4)
    assert lifespan_log(pytester) == log


def test_default_scope_is_function(pytester: pytest.Pytester) -> None:
    make_project(
        pytester,
        conftest=APPS_FIXTURE + ASYNCIO_ONLY,
        test_a=SYNC_TESTS.format(first=1, second=2),
    )

    run(pytester).assert_outcomes(passed=2)
    assert lifespan_log(pytester) == ["start", "stop"] * 2


def test_an_asgi_apps_fixture_narrower_than_the_scope_is_a_scope_mismatch(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        ini="asgi_dispatch_scope = module\n",
        conftest=APPS_FIXTURE.replace('scope="session"', 'scope="function"'),
        test_a=SYNC_TESTS.format(first=1, second=1),
    )

    result = run(pytester)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*ScopeMismatch: You tried to access the function scoped fixture asgi_apps with a module*"]
    )
