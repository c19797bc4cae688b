"""Mount tables kept running for the rest of the process, for clients made per test.

`django.test.TestCase` makes a new `self.client` for every test, and a suite written
for it never enters or closes one. Starting every app's lifespan for each test would
cost a startup and a shutdown per test, and leave nothing to close them; so such a
client (`pytest_asgi_dispatch.django.Client`) asks here for its table's `Site`: the
apps' lifespans start once, at the first request that needs them, and run until
`close_sites()`. The plugin calls it at the end of the session; outside pytest it runs
at exit (`atexit`), or a user calls it.

The table a client gets without `mounts=` is the `asgi_apps` ini option's: the plugin
registers its lines at configure time (`use_ini_table`), and they are imported at the
first request, once per process.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import Mounts, as_dispatcher
from ._config import AppLine, import_apps
from ._errors import MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._routing import Dispatcher
from ._transport import StreamingTransport, SyncStreamingTransport

__all__ = ["SCOPE_EXTENSION", "Site", "close_sites", "ini_site", "site_for", "use_ini_table"]

# An httpx request extension: scope keys a request sets for itself (`client`, `root_path`,
# `http_version`), for what a WSGI environ says that a URL and headers cannot.
SCOPE_EXTENSION = "pytest_asgi_dispatch.scope"

_NO_TABLE = (
    "no mount table for pytest_asgi_dispatch.django.Client: pass one, "
    "Client(mounts={'/': django_asgi_app, '/billing': flask_app}), or set "
    "`mounts = {...}` on a subclass that you use as client_class"
)


class Site:
    """A mount table whose apps run, lifespans up, until `close()`; started on first use.

    `dispatcher` routes; `transport()` serves a request through the running apps as
    `dispatch_sync()`'s client does (WSGI apps and Django on the calling thread, ASGI
    apps on the site's event loop). After `close()` the next request starts it again.
    """

    def __init__(
        self,
        load: Callable[[], Dispatcher],
        *,
        startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self._load = load
        self._dispatcher: Dispatcher | None = None
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.RLock()
        self._running: ExitStack | None = None
        # One per `raise_app_exceptions`: Django's client may change its flag between requests.
        self._transports: dict[bool, SyncStreamingTransport] = {}

    @property
    def dispatcher(self) -> Dispatcher:
        """The table's `Dispatcher`, built (for the ini table: imported) on first use."""
        if self._dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    self._dispatcher = self._load()
        return self._dispatcher

    def transport(self, *, raise_app_exceptions: bool) -> httpx.BaseTransport:
        """The running apps' sync transport; the first call starts their lifespans."""
        transport = self._transports.get(raise_app_exceptions)
        if transport is not None:
            return transport
        with self._lock:
            if self._running is None:
                self._running, self._portal = self._start(self.dispatcher)
            transport = self._transports.get(raise_app_exceptions)
            if transport is None:
                scoped = _ScopedTransport(
                    self.dispatcher, raise_app_exceptions=raise_app_exceptions
                )
                transport = SyncStreamingTransport(scoped, self._portal)
                self._transports[raise_app_exceptions] = transport
            return transport

    def _start(self, dispatcher: Dispatcher) -> tuple[ExitStack, BlockingPortal]:
        """An event loop in a thread of its own, every app's lifespan started on it."""
        _close_sites_at_exit()
        stack = ExitStack()
        try:
            portal = stack.enter_context(start_blocking_portal("asyncio"))
            lifespans = dispatcher.lifespans(
                startup_timeout=self._startup_timeout, shutdown_timeout=self._shutdown_timeout
            )
            stack.enter_context(portal.wrap_async_context_manager(lifespans))
        except BaseException:
            stack.close()
            raise
        return stack, portal

    def close(self) -> None:
        """Close open responses, shut every app down, stop the event loop; idempotent."""
        with self._lock:
            running, self._running = self._running, None
            transports = list(self._transports.values())
            self._transports.clear()
        if running is None:
            return
        with running:
            for transport in transports:
                transport.close()


class _ScopedTransport(StreamingTransport):
    """A transport whose requests may set scope keys of their own (`SCOPE_EXTENSION`).

    A WSGI environ carries a client address, a script name and a protocol version per
    request, which a URL and headers cannot say. `client` is `(host, port)`, the port
    None for the transport's own.
    """

    def _scope_for(self, request: httpx.Request) -> dict[str, Any]:
        scope = super()._scope_for(request)
        overrides: dict[str, Any] | None = request.extensions.get(SCOPE_EXTENSION)
        if overrides:
            scope.update(overrides)
            host, port = scope["client"]
            if port is None:
                scope["client"] = (host, self.client[1])
        return scope


_sites_lock = threading.Lock()
_sites: dict[tuple[object, ...], tuple[Mounts, Site]] = {}
_ini_tables: list[Site | None] = []  # a stack: pytester runs pytest inside pytest
_closing_at_exit = False


def site_for(mounts: Mounts) -> Site:
    """The one `Site` of this table in this process.

    A table is the same when it is the same `Dispatcher`, or a mapping of the same keys
    to the same app objects: a client class's `mounts`, or a fixture's table rebuilt
    around the same apps, share the running apps rather than start them twice.
    """
    identity = _identity(mounts)
    with _sites_lock:
        known = _sites.get(identity)
        if known is None:
            dispatcher = as_dispatcher(mounts)  # a bad table fails here, on construction
            known = _sites[identity] = (mounts, Site(lambda: dispatcher))
        return known[1]


def _identity(mounts: Mounts) -> tuple[object, ...]:
    if isinstance(mounts, Dispatcher):
        return (id(mounts),)
    if not isinstance(mounts, Mapping):
        raise MountError(
            f"a mount table must be a mapping of prefix to app, or a Dispatcher, "
            f"not {type(mounts).__name__}"
        )
    return tuple((key, id(app)) for key, app in mounts.items())


def use_ini_table(
    lines: Sequence[AppLine],
    *,
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
) -> Callable[[], None]:
    """Make the `asgi_apps` ini lines the default table; return the undo.

    No lines registers "no table", so that the error says the option is empty.
    """
    site = (
        Site(
            lambda: Dispatcher(import_apps(lines)),
            startup_timeout=startup_timeout,
            shutdown_timeout=shutdown_timeout,
        )
        if lines
        else None
    )
    _ini_tables.append(site)

    def undo() -> None:
        _ini_tables.remove(site)
        if site is not None:
            site.close()

    return undo


def ini_site() -> Site:
    """The default table's `Site`; a `MountError` saying how to declare one if none is."""
    if not _ini_tables:
        raise MountError(
            f"{_NO_TABLE}. Under pytest, the `asgi_apps` ini option's table is the default."
        )
    site = _ini_tables[-1]
    if site is None:
        raise MountError(
            f"{_NO_TABLE}, or list the apps in the `asgi_apps` ini option, which is empty: "
            "asgi_apps = /  = shop.asgi:application  (one 'PREFIX = module:attribute' a line)"
        )
    return site


def close_sites() -> None:
    """Shut down the apps that `pytest_asgi_dispatch.django.Client` started.

    Every table's: their lifespans' shutdown runs, their event loop stops. A later
    request starts them again. The pytest plugin calls it when the session ends; outside
    pytest it runs at exit.
    """
    with _sites_lock:
        sites = [site for _, site in _sites.values()]
    for site in [*sites, *(site for site in _ini_tables if site is not None)]:
        site.close()


def _close_sites_at_exit() -> None:
    global _closing_at_exit
    if not _closing_at_exit:
        _closing_at_exit = True
        atexit.register(close_sites)
