"""pytest plugin: options and fixtures, wired to the library."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx
import pytest

from . import _runners, _sites
from ._client import DEFAULT_BASE_URL, as_dispatcher, dispatch, dispatch_sync
from ._config import DISPATCH_SCOPES, Settings, import_apps, missing_apps_message
from ._errors import MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._live import LiveServer
from ._routing import Dispatcher
from ._trace import Trace
from ._trace_report import MODES, SECTION, TestTraces, TraceReports

_settings_key = pytest.StashKey[Settings]()
_current_item_key = pytest.StashKey["pytest.Item | None"]()
_running_client_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "asgi_apps",
        type="linelist",
        default=[],
        help="pytest-asgi-dispatch: the apps to test together, one 'PREFIX = module:attribute' "
        "per line (a list of such strings in pyproject.toml); an asgi_apps fixture overrides it",
    )
    parser.addini(
        "asgi_base_url",
        default="",
        help="pytest-asgi-dispatch: base URL of asgi_client and asgi_sync_client "
        f"(default {DEFAULT_BASE_URL})",
    )
    parser.addini(
        "asgi_client_address",
        default="",
        help="pytest-asgi-dispatch: HOST:PORT, the client address the apps see in every "
        "request of asgi_client and asgi_sync_client (default 127.0.0.1:123)",
    )
    parser.addini(
        "asgi_dispatch_scope",
        default="function",
        help="pytest-asgi-dispatch: how long the apps' lifespans and the clients live: "
        f"{', '.join(DISPATCH_SCOPES)} (default function)",
    )
    parser.addini(
        "asgi_startup_timeout",
        default="",
        help="pytest-asgi-dispatch: seconds each app's lifespan startup may take, or 'none' "
        f"(default {DEFAULT_STARTUP_TIMEOUT:g})",
    )
    parser.addini(
        "asgi_shutdown_timeout",
        default="",
        help="pytest-asgi-dispatch: seconds each app's lifespan shutdown may take, or 'none' "
        f"(default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = config.stash[_settings_key] = Settings.from_ini(config.getini)
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-asgi-dispatch: {exc}") from None
    # The table of pytest_asgi_dispatch.django.Client() when given none, imported on first use.
    config.add_cleanup(
        _sites.use_ini_table(
            settings.apps,
            startup_timeout=settings.startup_timeout,
            shutdown_timeout=settings.shutdown_timeout,
        )
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Shut down the apps that clients made per test (Django's) kept running."""
    _sites.close_sites()


def _settings(config: pytest.Config) -> Settings:
    return config.stash[_settings_key]


def _dispatch_scope(fixture_name: str, config: pytest.Config) -> Any:
    """The scope of the plugin's fixtures: the `asgi_dispatch_scope` ini option."""
    return _settings(config).scope


# --- the async runners' glue: see _runners for why -------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Remember the running test: a broad-scoped fixture's request does not name it."""
    item.config.stash[_current_item_key] = item
    try:
        return (yield)
    finally:
        item.config.stash[_current_item_key] = None


def _current_item(request: pytest.FixtureRequest) -> pytest.Item | None:
    return request.config.stash.get(_current_item_key, None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a sync test that asks for the async client before any fixture runs."""
    _runners.check_requested_from_async_test(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None]:
    """Hand `asgi_client` to the runner of the test, before any other plugin sees it."""
    if fixturedef.argname != "asgi_client":
        return (yield)
    try:
        _runners.hand_to_runner(fixturedef, request, _current_item(request), _asgi_client)
        return (yield)
    except (Exception, pytest.fail.Exception) as exc:
        failure = _runners.explained(exc, fixturedef.scope)
    # Cached like any fixture error, so that later tests in scope get it too.
    _runners.cache_failure(fixturedef, request, failure)
    raise failure


@pytest.hookimpl(specname="pytest_fixture_setup", tryfirst=True)
def pytest_fixture_setup_unhandled(fixturedef: Any, request: pytest.FixtureRequest) -> None:
    """After every plugin's wrapper ran: an async `asgi_client` left is one none took."""
    if fixturedef.argname == "asgi_client":
        _runners.fail_unless_handled(fixturedef, _current_item(request))


# --- fixtures --------------------------------------------------------------------


@pytest.fixture(scope=_dispatch_scope)
def asgi_apps(pytestconfig: pytest.Config) -> Mapping[str, object]:
    """The mount table, from the `asgi_apps` ini lines; override it in conftest.py.

    Calls each line's `factory()` every time it runs, that is once per
    `asgi_dispatch_scope`, so that each scope gets apps of its own.
    """
    settings = _settings(pytestconfig)
    if not settings.apps:
        pytest.fail(missing_apps_message(settings.scope), pytrace=False)
    try:
        return import_apps(settings.apps)
    except MountError as exc:
        error = str(exc)
    _fail_once(error)


@pytest.fixture(scope=_dispatch_scope)
def asgi_dispatcher(asgi_apps: Mapping[str, object] | Dispatcher) -> Dispatcher:
    """The `Dispatcher` that routes to every app of `asgi_apps`."""
    try:
        return as_dispatcher(asgi_apps)
    except MountError as exc:
        error = f"asgi_apps: {exc}"
    _fail_once(error)


def _fail_once(message: str) -> NoReturn:
    """Fail with the message alone, outside any `except`.

    Raised inside one, the failure would chain the error it reports, and pytest would
    print the message once for each link of the chain.
    """
    pytest.fail(message, pytrace=False)


async def _asgi_client(
    asgi_dispatcher: Dispatcher, pytestconfig: pytest.Config
) -> AsyncIterator[httpx.AsyncClient]:
    """An `httpx.AsyncClient` for the combined app, every lifespan up: httpx2's
    `AsyncClient` instead when `asgi_http_client` picks httpx2 (same API, typed as httpx's).
    """
    settings = _settings(pytestconfig)
    with _running_apps(pytestconfig, "asgi_client"):
        async with dispatch(
            asgi_dispatcher,
            **_client_options(pytestconfig),
            event_hooks={"request": [_runners.same_loop_guard(settings.scope)]},
        ) as client:
            yield client


# Declared plainly, then handed to anyio or pytest-asyncio per test (_runners).
asgi_client = pytest.fixture(scope=_dispatch_scope, name="asgi_client")(_asgi_client)


@pytest.fixture(scope=_dispatch_scope)
def asgi_sync_client(
    asgi_dispatcher: Dispatcher, pytestconfig: pytest.Config
) -> Iterator[httpx.Client]:
    """An `httpx.Client` for the combined app, every lifespan up, for sync tests: httpx2's
    `Client` instead when `asgi_http_client` picks httpx2 (same API, typed as httpx's).
    """
    with (
        _running_apps(pytestconfig, "asgi_sync_client"),
        dispatch_sync(asgi_dispatcher, **_client_options(pytestconfig)) as client,
    ):
        yield client


def _client_options(config: pytest.Config) -> dict[str, Any]:
    """What the ini options give both clients' `dispatch()` / `dispatch_sync()`."""
    settings = _settings(config)
    return {
        "base_url": settings.base_url,
        "outbound": settings.outbound,
        "client_address": settings.client_address,
        "http_client": settings.http_client,
        "startup_timeout": settings.startup_timeout,
        "shutdown_timeout": settings.shutdown_timeout,
        "trace": _test_traces(config),
    }


@contextmanager
def _running_apps(config: pytest.Config, client: str) -> Iterator[None]:
    """Fail plainly when both clients would run the apps' lifespans at once."""
    other = config.stash.get(_running_client_key, None)
    if other is not None:
        scope = _settings(config).scope
        pytest.fail(
            f"{client} cannot start while {other} runs the apps (asgi_dispatch_scope = "
            f"{scope}): each client runs every app's lifespan. Use one of the two in all "
            f"the tests that share a {scope}.",
            pytrace=False,
        )
    config.stash[_running_client_key] = client
    try:
        yield
    finally:
        del config.stash[_running_client_key]


# --- asgi_live_server (uvicorn, the `live` extra) ---------------------------------


@pytest.fixture(scope=_dispatch_scope)
def asgi_live_server(
    asgi_dispatcher: Dispatcher, pytestconfig: pytest.Config
) -> Iterator[LiveServer]:
    """uvicorn serving the combined app on 127.0.0.1, at a port the OS chose; `.url`."""
    settings = _settings(pytestconfig)
    try:
        server = LiveServer(
            asgi_dispatcher,
            startup_timeout=settings.startup_timeout,
            shutdown_timeout=settings.shutdown_timeout,
        )
    except ImportError as exc:  # uvicorn is an optional extra
        missing = str(exc)
    else:
        missing = ""
    if missing:
        pytest.fail(f"asgi_live_server: {missing}", pytrace=False)
    with _running_apps(pytestconfig, "asgi_live_server"), server:
        yield server


# --- outbound calls between mounted apps: asgi_outbound (see _outbound) --------------


@pytest.hookimpl(specname="pytest_addoption")
def pytest_addoption_outbound(parser: pytest.Parser) -> None:
    parser.addini(
        "asgi_outbound",
        default="",
        help="pytest-asgi-dispatch: HTTP calls the apps make (httpx, httpx2, requests) to a "
        "mounted host or the base URL's host: 'mounted' serves them in-process (default), "
        "'strict' also refuses every other non-loopback host, 'off' leaves them alone",
    )


# --- the traffic trace: asgi_trace, the "asgi traffic" section, --asgi-trace-dir ---

_test_traces_key = pytest.StashKey[TestTraces]()
_trace_reports_key = pytest.StashKey[TraceReports]()
_test_trace_key = pytest.StashKey[Trace]()
_test_failed_key = pytest.StashKey[bool]()


@pytest.hookimpl(specname="pytest_addoption")
def pytest_addoption_trace(parser: pytest.Parser) -> None:
    parser.addini(
        "asgi_trace",
        default="failed",
        help="pytest-asgi-dispatch: whose reports get an 'asgi traffic' section, the calls "
        f"between the test and the apps: {', '.join(MODES)} (default failed)",
    )
    parser.getgroup("pytest-asgi-dispatch").addoption(
        "--asgi-trace-dir",
        metavar="DIR",
        default=None,
        help="write the traffic of each failing test to DIR, as JSON and as Markdown with "
        "a Mermaid diagram",
    )


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_trace(config: pytest.Config) -> None:
    try:
        config.stash[_trace_reports_key] = TraceReports.from_options(
            config.getini("asgi_trace"),
            config.getoption("asgi_trace_dir"),
            os.environ.get("GITHUB_STEP_SUMMARY"),
        )
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-asgi-dispatch: {exc}") from None
    config.stash[_test_traces_key] = TestTraces()


def _test_traces(config: pytest.Config) -> TestTraces:
    """The observer the plugin's clients carry: it records into the running test's trace."""
    return config.stash[_test_traces_key]


def _start_trace(item: pytest.Item) -> Trace:
    trace = item.stash[_test_trace_key] = Trace()
    _test_traces(item.config).current = trace
    return trace


@pytest.hookimpl(wrapper=True, specname="pytest_runtest_protocol")
def pytest_runtest_protocol_trace(item: pytest.Item) -> Generator[None, object, object]:
    """Give the test a trace of its own, from its setup to its teardown."""
    requested = "asgi_trace" in getattr(item, "fixturenames", ())
    if item.config.stash[_trace_reports_key].records(requested):
        _start_trace(item)
    try:
        return (yield)
    finally:
        _test_traces(item.config).current = None


@pytest.hookimpl(wrapper=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_trace(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the traffic to the report as asked; after the teardown, write its files."""
    report = yield
    trace = item.stash.get(_test_trace_key, None)
    if trace is None:
        return report
    reports = item.config.stash[_trace_reports_key]
    failed = item.stash.get(_test_failed_key, False) or report.failed  # in any phase
    item.stash[_test_failed_key] = failed
    section = reports.section(trace, when=report.when, failed=report.failed)
    if section is not None:
        report.sections.append((SECTION, section))
    if report.when == "teardown":
        reports.finish(item.nodeid, trace, failed=failed)
    return report


@pytest.fixture
def asgi_trace(request: pytest.FixtureRequest) -> Trace:
    """The traffic of this test: every call the plugin's clients carried, in order of start.

    Whatever the clients' scope, it holds this test's calls only.
    """
    trace = request.node.stash.get(_test_trace_key, None)
    return trace if trace is not None else _start_trace(request.node)


# --- the clients' library: asgi_http_client (httpx or httpx2, see _client_library) ---


@pytest.hookimpl(specname="pytest_addoption")
def pytest_addoption_http_client(parser: pytest.Parser) -> None:
    parser.addini(
        "asgi_http_client",
        default="auto",
        help="pytest-asgi-dispatch: the library of asgi_client and asgi_sync_client: 'httpx', "
        "'httpx2', or 'auto' (default: httpx2 when it is installed, else httpx)",
    )
