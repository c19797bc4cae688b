"""Handing the async `asgi_client` fixture to the plugin that runs the test.

anyio's plugin runs an async fixture whenever the test uses `anyio_backend`.
pytest-asyncio runs it in auto mode, in strict mode only when it was declared with
`@pytest_asyncio.fixture`, and on a loop whose scope comes from that declaration or
from an ini default (so a module-scoped client may land on a function-scoped loop and
be torn down after each test). One declaration cannot serve both plugins, so the
fixture is declared plainly and, for each test that pytest-asyncio runs, handed over
as a pytest-asyncio fixture on a loop that lives as long as the client and the test.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

__all__ = [
    "cache_failure",
    "check_requested_from_async_test",
    "explained",
    "fail_unless_handled",
    "hand_to_runner",
    "same_loop_guard",
]

_SCOPES = ("function", "class", "module", "package", "session")
_ORIGINAL = "_asgi_dispatch_original"


def check_requested_from_async_test(item: pytest.Item) -> None:
    """Fail a sync test that asks for the async client, before any fixture runs."""
    if "asgi_client" not in getattr(item, "fixturenames", ()) or _is_async_test(item):
        return
    pytest.fail(
        f"{item.name} is a sync test but requests asgi_client, an httpx.AsyncClient; "
        "use asgi_sync_client (an httpx.Client) here, or make the test `async def` "
        "and run it with anyio (@pytest.mark.anyio) or pytest-asyncio",
        pytrace=False,
    )


def hand_to_runner(
    fixturedef: Any,
    request: pytest.FixtureRequest,
    item: pytest.Item | None,
    client_function: object,
) -> None:
    """Declare `asgi_client` for the plugin that runs `item`, before its setup.

    The choice stays on the fixture after its setup: pytest-asyncio checks it again
    when it calls a strict-mode test.
    """
    if getattr(fixturedef.func, _ORIGINAL, fixturedef.func) is not client_function:
        return  # a user's own asgi_client: theirs to declare
    if item is None or not _runs_on_pytest_asyncio(item):
        fixturedef.func = client_function
        if "anyio_backend" in request.fixturenames:
            _finish_with_anyio_backend(fixturedef, request)
        return
    test_loop_scope = _test_loop_scope(item)
    if _SCOPES.index(test_loop_scope) < _SCOPES.index(fixturedef.scope):
        pytest.fail(
            _other_loop_message(fixturedef.scope, f"a {test_loop_scope}-scoped"), pytrace=False
        )
    fixturedef.func = _as_pytest_asyncio_fixture(client_function, test_loop_scope)


def fail_unless_handled(fixturedef: Any, item: pytest.Item | None) -> None:
    """Fail, saying what to change, when no plugin took the async `asgi_client`."""
    func = fixturedef.func
    if not (inspect.isasyncgenfunction(func) or inspect.iscoroutinefunction(func)):
        return
    name = item.name if item is not None else "this test"
    pytest.fail(
        f"{name} requests asgi_client, an async fixture, but no async plugin runs this "
        "test. Mark it @pytest.mark.anyio (anyio's plugin; `anyio_mode = auto` in the ini "
        "marks every async test) or @pytest.mark.asyncio (pytest-asyncio; "
        "`asyncio_mode = auto` marks every async test).",
        pytrace=False,
    )


def explained(error: BaseException, scope: str) -> BaseException:
    """`error`, with the fix added when it is pytest's ScopeMismatch on `anyio_backend`."""
    text = str(error)
    if "ScopeMismatch" not in text or "anyio_backend" not in text:
        return error
    return pytest.fail.Exception(
        f"{text}\n\nasgi_dispatch_scope = {scope}: the async client lives for a {scope}, so "
        "anyio must keep its event loop as long. Declare anyio_backend at that scope in "
        f'conftest.py:\n\n    @pytest.fixture(scope="{scope}")\n    def anyio_backend():\n'
        '        return "asyncio"',
        pytrace=False,
    )


def cache_failure(fixturedef: Any, request: pytest.FixtureRequest, error: BaseException) -> None:
    """Record a setup error as pytest does for one raised by the fixture function.

    An error raised before the function runs is not cached by pytest, and the next
    test in scope would then trip over the half-done setup.
    """
    if fixturedef.cached_result is None:
        fixturedef.cached_result = (
            None,
            fixturedef.cache_key(request),
            (error, error.__traceback__),
        )


def same_loop_guard(scope: str) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook that fails a request sent from another asyncio loop.

    The apps' lifespans, tasks and queues belong to the loop the client started on;
    used from another loop they fail in obscure ways, or hang.
    """
    home = _running_asyncio_loop()

    async def check_loop(request: httpx.Request) -> None:
        if _running_asyncio_loop() is not home:
            raise RuntimeError(_other_loop_message(scope, "another"))

    return check_loop


def _finish_with_anyio_backend(fixturedef: Any, request: pytest.FixtureRequest) -> None:
    """Tear the client down when anyio moves on to the next backend.

    anyio adds `anyio_backend` to the fixture's arguments only during its setup, too
    late for pytest to tie the two: a module-scoped client would stay on asyncio for the
    trio tests. pytest-asyncio reaches the active FixtureDef the same way.
    """
    backend = request._get_active_fixturedef("anyio_backend")
    backend.addfinalizer(functools.partial(fixturedef.finish, request=request))


def _other_loop_message(scope: str, test_loop: str) -> str:
    return (
        f"asgi_client lives for a {scope} (asgi_dispatch_scope = {scope}), on the event loop "
        f"it started on, but this test runs on {test_loop} loop. With pytest-asyncio, run "
        f"these tests on a {scope}-scoped loop: `asyncio_default_test_loop_scope = {scope}` "
        f'in the ini, or @pytest.mark.asyncio(loop_scope="{scope}").'
    )


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None  # trio: only anyio runs it, on one loop for a whole session


def _is_async_test(item: pytest.Item) -> bool:
    function = getattr(item, "obj", None)
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", function)
    return inspect.iscoroutinefunction(inner) or inspect.isasyncgenfunction(inner)


def _runs_on_pytest_asyncio(item: pytest.Item) -> bool:
    return (
        item.config.pluginmanager.has_plugin("asyncio")
        and item.get_closest_marker("asyncio") is not None
        and "anyio_backend" not in getattr(item, "fixturenames", ())
    )


def _test_loop_scope(item: pytest.Item) -> str:
    marker = item.get_closest_marker("asyncio")
    scope = marker and (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope"))
    if not scope:
        try:
            scope = item.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pytest-asyncio before 0.24: tests run on function loops
            scope = "function"
    return str(scope) if scope in _SCOPES else "function"


def _as_pytest_asyncio_fixture(function: Any, loop_scope: Any) -> Any:
    """A copy of `function`, declared as `@pytest_asyncio.fixture(loop_scope=...)`."""
    import pytest_asyncio

    copy: Any = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__module__ = function.__module__
    setattr(copy, _ORIGINAL, function)
    # The decorator marks the function it is given; the fixture object it returns is
    # not needed, the FixtureDef in use takes the marked copy.
    pytest_asyncio.fixture(copy, loop_scope=loop_scope)
    return copy
