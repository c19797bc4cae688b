"""pytest-playwright on the live server, with the system's Chromium: an opt-in plugin.

    # conftest.py
    pytest_plugins = ["pytest_asgi_dispatch.playwright"]

Then pytest-playwright's `page` (and `context`, `new_context`, `browser`) browse the
combined app that `asgi_live_server` serves: `page.goto("/orders/")` goes to the live
server, and host mounts (`billing.test`) reach it by name. The browser is the machine's
Chromium (Debian's `chromium`; the `asgi_chromium` ini option or the
PYTEST_ASGI_DISPATCH_CHROMIUM environment variable name another); without one, the
tests that use it are skipped, and the reason says how to get one.

Opt-in because it overrides pytest-playwright's fixtures: a project that drives
Playwright's own browsers, or browses other sites, keeps them as they were. Its
overrides keep pytest-playwright's scopes and options (`--headed`, `--slowmo`,
`--screenshot`, `--tracing`, user overrides of `browser_type_launch_args` and
`browser_context_args`):

- `browser_type_launch_args` (session) adds the Chromium's path and the flags that keep
  it off the network;
- `browser` lives at `asgi_dispatch_scope`, since the host names it must resolve come
  from the mount table; one browser is launched per set of host names and reused;
- `new_context` gives each context the live server's URL as `base_url`. pytest-
  playwright's `base_url` fixture is left alone: it is session-scoped, and
  pytest-base-url's session checks depend on it, while the live server lives per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import Browser, BrowserContext
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "pytest_asgi_dispatch.playwright needs pytest-playwright: "
        "pip install 'pytest-asgi-dispatch[browser]'"
    ) from exc

from ._browser import CHROMIUM_INI, ChromiumNotFound, chromium_launch_options, find_chromium
from ._live import LiveServer
from .plugin import _dispatch_scope

__all__: list[str] = []  # a pytest plugin: its hooks and fixtures are found by name

_PLAYWRIGHT_MODULE = "pytest_playwright.pytest_playwright"  # pytest-playwright's plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CHROMIUM_INI,
        default="",
        help="pytest-asgi-dispatch: the Chromium that browser tests drive, a path or a "
        "command on PATH (default /usr/bin/chromium, else chromium on PATH)",
    )


def pytest_configure(config: pytest.Config) -> None:
    order = [
        getattr(plugin, "__name__", None) for _, plugin in config.pluginmanager.list_name_plugin()
    ]
    if _PLAYWRIGHT_MODULE not in order:
        raise pytest.UsageError(
            "pytest_asgi_dispatch.playwright wires pytest-playwright to the live server, "
            "but pytest-playwright is not active: pip install "
            "'pytest-asgi-dispatch[browser]', and do not disable it with -p no:playwright"
        )
    if order.index(_PLAYWRIGHT_MODULE) > order.index(__name__):
        # Fixtures of the plugin registered last win: ours must come after pytest-playwright's.
        raise pytest.UsageError(
            "pytest_asgi_dispatch.playwright was loaded before pytest-playwright, whose "
            "fixtures would then replace its own: list it in conftest.py's pytest_plugins, "
            "or load both in order: -p playwright -p pytest_asgi_dispatch.playwright"
        )
    other = [name for name in config.getoption("--browser") if name != "chromium"]
    if other:
        raise pytest.UsageError(
            f"pytest_asgi_dispatch.playwright drives the system's Chromium; --browser "
            f"{other[0]} is not supported (host mounts reach the live server through "
            "Chromium's --host-resolver-rules)"
        )


@pytest.fixture(scope="session")
def asgi_chromium(pytestconfig: pytest.Config) -> str:
    """The path of the Chromium that the browser tests drive; skips them if there is none."""
    try:
        return find_chromium(os.environ, str(pytestconfig.getini(CHROMIUM_INI)))
    except ChromiumNotFound as exc:
        pytest.skip(str(exc))
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], asgi_chromium: str
) -> dict[str, Any]:
    """pytest-playwright's launch options, plus the system Chromium and its quiet flags."""
    ours = chromium_launch_options(asgi_chromium)
    return {
        **browser_type_launch_args,
        "executable_path": ours["executable_path"],
        "args": [*browser_type_launch_args.get("args", []), *ours["args"]],
    }


@pytest.fixture(scope="session")
def _asgi_browsers() -> Iterator[dict[tuple[str, ...], Browser]]:
    """The browsers launched in this session, one per set of resolver rules."""
    browsers: dict[tuple[str, ...], Browser] = {}
    yield browsers
    for browser in browsers.values():
        browser.close()


@pytest.fixture(scope=_dispatch_scope)
def browser(
    asgi_live_server: LiveServer,
    launch_browser: Callable[..., Browser],
    browser_type_launch_args: dict[str, Any],
    _asgi_browsers: dict[tuple[str, ...], Browser],
) -> Browser:
    """A Chromium whose resolver sends the host mounts' names to the live server."""
    rules = tuple(asgi_live_server.chromium_args)
    if rules not in _asgi_browsers:
        args = [*browser_type_launch_args.get("args", []), *rules]
        _asgi_browsers[rules] = launch_browser(args=args)
    return _asgi_browsers[rules]


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext],
    asgi_live_server: LiveServer,
    browser_context_args: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Callable[..., BrowserContext]:
    """pytest-playwright's `new_context`, with the live server's URL as `base_url`.

    A `base_url` given otherwise (`--base-url`, a `browser_context_args` override or
    marker, or the call's own argument) is kept.
    """
    marker = request.node.get_closest_marker("browser_context_args")
    given = {**browser_context_args, **(marker.kwargs if marker else {})}

    def new_context_on_the_live_server(**kwargs: Any) -> BrowserContext:
        if "base_url" not in given:
            kwargs.setdefault("base_url", asgi_live_server.url)
        return new_context(**kwargs)

    return new_context_on_the_live_server
