"""Outbound calls between mounted apps: HTTP calls to a mounted host, served in-process.

While a client opened with `outbound="mounted"` or `"strict"` is open, an HTTP request
made anywhere in the process with httpx (any `Client` or `AsyncClient` on its default
transports), httpx2 where installed, or requests (any `Session`) goes to the Dispatcher
when its host is the host of a host mount or the client's `base_url` host. Loopback hosts
are never diverted (live servers, local services). Under `"strict"` every other
non-loopback host is refused with the calling library's own connection error.

Where each client library is hooked: `_outbound_patches`, in place while a client with
outbound calls is open (the first entered installs them, the last to leave takes them
out), never at import.

Calls from any thread: a sync call goes through the sync client's transport on the
Dispatcher's loop (WSGI apps and Django run on the calling thread, the inline path);
an async call on the Dispatcher's loop is served there; a blocking call made on the
loop's own thread would wait for the loop it blocks, and raises instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from ._client_library import ClientLibrary
from ._django import serving_requests_here
from ._observe import current_caller
from ._outbound_patches import (
    activate,
    buffered_response,
    client_libraries,
    copy_request,
    deactivate,
)
from ._routing import Dispatcher
from ._threads import CallingThreadExecutor, run_thread_sensitive_here
from ._transport import StreamingTransport, SyncStreamingTransport, transports_for

__all__ = [
    "OUTBOUND_MODES",
    "Outbound",
    "OutboundMode",
    "check_outbound_mode",
    "serving_outbound_sync",
    "with_outbound",
]

T = TypeVar("T")

OutboundMode = Literal["off", "mounted", "strict"]
OUTBOUND_MODES: tuple[OutboundMode, ...] = ("off", "mounted", "strict")

# Names that resolve to the machine itself (RFC 6761 reserves `localhost` and its subdomains).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

_FIX_FOR_BLOCKING_CALL = (
    "From async code, call the other app with httpx.AsyncClient, or run the blocking "
    "call in a worker thread: `await anyio.to_thread.run_sync(...)` or "
    "`await asyncio.to_thread(...)`."
)


def check_outbound_mode(mode: object, where: str = "outbound") -> OutboundMode:
    """`mode` when it is one of `OUTBOUND_MODES`; a `ValueError` naming `where` if not."""
    if mode not in OUTBOUND_MODES:
        raise ValueError(
            f"{where} = {mode!r} is not one of {', '.join(map(repr, OUTBOUND_MODES))}: "
            "'mounted' serves HTTP calls to mounted hosts in-process, 'strict' also refuses "
            "every other non-loopback host, 'off' leaves HTTP calls alone"
        )
    return mode  # type: ignore[return-value,unused-ignore]


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: `localhost`, 127.0.0.0/8, ::1."""
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mounted_hosts(dispatcher: Dispatcher) -> set[str]:
    """The hosts of every host mount, nested tables included."""
    hosts: set[str] = set()
    for route in dispatcher.routes:
        if route.host is not None:
            hosts.add(route.host)
        if isinstance(route.app, Dispatcher):
            hosts |= mounted_hosts(route.app)
    return hosts


class Outbound:
    """Serves HTTP calls to mounted hosts in-process while entered (a context manager).

    Made on the Dispatcher's event loop thread, with a portal to that loop for calls
    made on other threads. One at a time per process: the newest entered serves.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        mode: OutboundMode,
        base_url: str,
        portal: BlockingPortal,
        home_thread: int,
    ) -> None:
        self.mode = mode
        base_host = httpx.URL(base_url).host
        self.hosts = frozenset(
            host for host in mounted_hosts(dispatcher) | {base_host} if not is_loopback(host)
        )
        # Each client library's requests and responses stay its own: a pair per library.
        self._transports = {
            http: _transports(http, dispatcher, portal, home_thread) for http in client_libraries()
        }
        self.loop_thread = threading.get_ident()

    def transports(self, http: ClientLibrary) -> _Transports:
        """The async and sync transports that serve `http`'s clients."""
        return self._transports[http]

    def diverts(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refuses(self, host: str) -> bool:
        return self.mode == "strict" and not is_loopback(host) and not self.diverts(host)

    def refusal(self, host: str, port: int | None) -> str:
        where = host if port is None else f"{host}:{port}"
        return (
            f"outbound = 'strict' refused a connection to {where}: it is not mounted, and "
            f"the tests reach no other host. Mounted hosts: {', '.join(sorted(self.hosts))}. "
            "Mount an app on that host, mock it (respx, pytest-httpx, responses), or use "
            "outbound = 'mounted' to let calls to other hosts through."
        )

    def check_not_on_loop(self, library: str, url: object) -> None:
        """Refuse a blocking call made on the loop's own thread: it would wait forever."""
        if threading.get_ident() == self.loop_thread:
            raise RuntimeError(
                f"a blocking {library} call to {url} was made on the event loop's thread "
                "(from an async view?); it waits for the app it calls, which runs on that "
                f"same loop, and would never return. {_FIX_FOR_BLOCKING_CALL}"
            )

    def __enter__(self) -> Outbound:
        activate(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        deactivate(self)

    async def aclose(self) -> None:
        """Close every response of an outbound call still open."""
        for transports in self._transports.values():
            await transports.async_.aclose()


class _Transports(NamedTuple):
    async_: StreamingTransport
    sync: SyncStreamingTransport


def _transports(
    http: ClientLibrary, dispatcher: Dispatcher, portal: BlockingPortal, home_thread: int
) -> _Transports:
    async_transport, sync_transport = transports_for(http)
    # The called app's exception answers the caller as a server's 500 would.
    transport = async_transport(dispatcher, raise_app_exceptions=False)
    sync_class = http.flavour(_SyncTransport, sync_transport)
    return _Transports(transport, sync_class(transport, portal, home_thread))


# The sync transport's methods, for the type checker; at run time the mixin is flavoured
# with each library's sync transport (`ClientLibrary.flavour`).
if TYPE_CHECKING:
    _SyncTransportBase = SyncStreamingTransport
else:
    _SyncTransportBase = object


class _SyncTransport(_SyncTransportBase):
    """The sync client's transport, with the caller (for the trace) carried to the loop.

    A call made on a worker thread of a request that the test's thread waits for (an
    async view's `to_thread`) sends Django's thread-sensitive work to the test's thread,
    where the request's own went, rather than run Django on the worker thread and on a
    connection of its own (which would not see the test's rows).
    """

    def __init__(
        self, transport: StreamingTransport, portal: BlockingPortal, home_thread: int
    ) -> None:
        super().__init__(transport, portal)
        self._outbound_transport = transport
        self._outbound_portal = portal
        self._home_thread = home_thread  # the test's: it serves its own executor's work

    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        result: T = super().call(_as_caller, current_caller.get(), function, *args)
        return result

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        home = self._executor_of_a_waiting_thread()
        if home is None:
            if threading.get_ident() != self._home_thread:
                serving_requests_here()  # a request's thread: the called app's connections close
            return super().handle_request(request)
        copy = copy_request(self.http, request, request.read())
        future = self._outbound_portal.start_task_soon(
            run_thread_sensitive_here,
            home,
            _buffered,
            self._outbound_transport,
            copy,
            current_caller.get(),
        )
        response: httpx.Response = future.result()
        return response

    def _executor_of_a_waiting_thread(self) -> CallingThreadExecutor | None:
        """The executor this context inherited from the thread waiting for its request,
        when this is another thread (a worker's); None on that thread itself."""
        if "asgiref.sync" not in sys.modules or threading.get_ident() == self._home_thread:
            return None
        from asgiref.sync import AsyncToSync

        executor = _inherited(AsyncToSync.executors, "current")
        if isinstance(executor, CallingThreadExecutor) and executor is not self._executor():
            return executor
        return None


def _inherited(local: Any, name: str) -> object:
    """`local.name` of an asgiref `Local` as this context inherited it from another thread.

    asgiref (3.10+) hides a `Local`'s values from a thread other than the one that set
    them, unless asgiref moved the work there itself; a worker thread of anyio's or
    asyncio's carries the context, and the executor in it, all the same.
    """
    storage = getattr(getattr(local, "_storage", None), "_data", None)
    value = storage.get(None) if isinstance(storage, contextvars.ContextVar) else None
    data = getattr(value, "data", value)
    return data.get(name) if isinstance(data, dict) else getattr(local, name, None)


async def _buffered(
    transport: StreamingTransport, request: httpx.Request, caller: str
) -> httpx.Response:
    current_caller.set(caller)
    response = await transport.handle_async_request(request)
    try:
        body = await response.aread()
    finally:
        await response.aclose()
    return buffered_response(transport.http, response, body)


async def _as_caller(caller: str, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    current_caller.set(caller)  # in the portal task's own context
    return await function(*args)


@contextlib.asynccontextmanager
async def with_outbound(
    running: AbstractAsyncContextManager[None],
    dispatcher: Dispatcher,
    mode: OutboundMode,
    base_url: str,
) -> AsyncIterator[None]:
    """For `dispatch()`: `async with running`, and outbound calls served on this loop
    inside it (after the apps' startup, before their shutdown).

    Enter and leave it in one task (a portal's task group is tied to the task).
    """
    async with running:
        if mode == "off":
            yield
            return
        async with _serving_outbound(dispatcher, mode, base_url):
            yield


@contextlib.asynccontextmanager
async def _serving_outbound(
    dispatcher: Dispatcher, mode: OutboundMode, base_url: str
) -> AsyncIterator[None]:
    async with BlockingPortal() as portal:
        outbound = Outbound(dispatcher, mode, base_url, portal, threading.get_ident())
        try:
            with outbound:
                yield
        finally:
            with anyio.CancelScope(shield=True):
                await outbound.aclose()


@contextlib.contextmanager
def serving_outbound_sync(
    dispatcher: Dispatcher, mode: OutboundMode, base_url: str, portal: BlockingPortal
) -> Iterator[None]:
    """For `dispatch_sync()`: outbound calls served on the portal's loop."""
    if mode == "off":
        yield
        return
    home = threading.get_ident()
    outbound = portal.call(_made_on_loop, dispatcher, mode, base_url, portal, home)
    try:
        with outbound:
            yield
    finally:
        portal.call(outbound.aclose)


async def _made_on_loop(
    dispatcher: Dispatcher, mode: OutboundMode, base_url: str, portal: BlockingPortal, home: int
) -> Outbound:
    return Outbound(dispatcher, mode, base_url, portal, home)
