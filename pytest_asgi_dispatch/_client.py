"""`dispatch()` and `dispatch_sync()`: the combined app, lifespans up, behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
from anyio.from_thread import start_blocking_portal

from ._client_library import HttpClient, client_library
from ._django import closing_stray_connections
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._observe import Observer, observed_by
from ._outbound import OutboundMode, check_outbound_mode, serving_outbound_sync, with_outbound
from ._routing import Dispatcher
from ._transport import DEFAULT_CLIENT_ADDRESS, transports_for

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_CLIENT_ADDRESS", "dispatch", "dispatch_sync"]

# RFC 6761 reserves no name for this, but Django's and Starlette's test clients use it,
# so ALLOWED_HOSTS and cookie domains set up for them work unchanged.
DEFAULT_BASE_URL = "http://testserver"

Mounts = Mapping[str, object] | Dispatcher


@asynccontextmanager
async def dispatch(
    mounts: Mounts,
    *,
    base_url: str = DEFAULT_BASE_URL,
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    raise_app_exceptions: bool = True,
    http_client: HttpClient = "auto",
    trace: Observer | None = None,
    outbound: OutboundMode = "off",
    client_address: tuple[str, int] = DEFAULT_CLIENT_ADDRESS,
    **client_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Run every mounted app's lifespan and yield an `httpx.AsyncClient` for them all.

    `trace`: a `Trace` that records every exchange the apps serve while the client is
    open. `http_client`: "httpx", "httpx2", or "auto" (httpx2 when it is installed): the
    client is then that library's `AsyncClient`. `client_address`: the ASGI `client`
    (host, port) of every request (Django's `REMOTE_ADDR`, Starlette's `request.client`,
    Flask's `remote_addr`). `outbound`: "off", or "mounted" to serve the HTTP calls the
    apps make (httpx, httpx2, requests) to a mounted host or the `base_url` host
    in-process while the client is open, or "strict" to also refuse every other
    non-loopback host. Extra keyword arguments go to the client.
    """
    dispatcher = as_dispatcher(mounts)
    http = client_library(http_client)
    transport = transports_for(http)[0](
        dispatcher, raise_app_exceptions=raise_app_exceptions, client=client_address
    )
    lifespans = dispatcher.lifespans(
        startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout
    )
    # outbound: HTTP calls the apps make to mounted hosts, served in-process (_outbound).
    lifespans = with_outbound(lifespans, dispatcher, check_outbound_mode(outbound), base_url)
    with closing_stray_connections():  # Django's, opened outside the requests (_django)
        async with (
            _in_a_task_of_its_own(lifespans, transport.runtime.spawn),
            observed_by(dispatcher, trace),
            http.AsyncClient(transport=transport, base_url=base_url, **client_options) as client,
        ):
            yield client  # the client's exit closes every response, shielded (the transport's)


@asynccontextmanager
async def _in_a_task_of_its_own(
    manager: AbstractAsyncContextManager[None],
    spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], Callable[[], object]],
) -> AsyncIterator[None]:
    """`async with manager`, entered and exited by a task of its own.

    Cancelling the caller (a timeout around `dispatch()`) then cancels its body only:
    the tasks the manager started (the apps' lifespans) are not inside the cancelled
    scope, as they would be in a nursery of the caller's, and its exit still shuts every
    app down. The caller waits for that exit shielded; each wait in it is bounded by
    the shutdown timeout. A caller cancelled during the startup stops it at once.
    """
    entered, leave, left = anyio.Event(), anyio.Event(), anyio.Event()
    error: BaseException | None = None

    async def host() -> None:  # detached (see `spawn`): it keeps its errors for the caller
        nonlocal error
        try:
            await manager.__aenter__()
        except BaseException as exc:
            error = exc
            left.set()
            return
        finally:
            entered.set()
        try:
            await leave.wait()
        finally:  # cancelled too: the manager's nurseries close in the task that opened them
            try:
                await manager.__aexit__(None, None, None)
            except BaseException as exc:
                error = exc
            left.set()

    cancel_host = spawn(host)
    try:
        try:
            await entered.wait()
        except BaseException:
            if not entered.is_set():
                cancel_host()
            raise
        if error is not None:
            raise error  # the startup's
        yield
    finally:
        leave.set()
        with anyio.CancelScope(shield=True):
            await left.wait()
    if error is not None:
        raise error  # the shutdown's; one raised in the body wins over it


@contextmanager
def dispatch_sync(
    mounts: Mounts,
    *,
    base_url: str = DEFAULT_BASE_URL,
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    raise_app_exceptions: bool = True,
    http_client: HttpClient = "auto",
    backend: str = "asyncio",
    trace: Observer | None = None,
    outbound: OutboundMode = "off",
    client_address: tuple[str, int] = DEFAULT_CLIENT_ADDRESS,
    **client_options: Any,
) -> Iterator[httpx.Client]:
    """Like `dispatch()`, for sync code: yield an `httpx.Client` (httpx2's, per `http_client`).

    The apps run on an event loop in a background thread (an anyio blocking portal on
    `backend`); Django's thread-sensitive code runs on the calling thread.
    """
    dispatcher = as_dispatcher(mounts)
    http = client_library(http_client)
    async_transport, sync_transport = transports_for(http)
    with (
        start_blocking_portal(backend) as portal,
        closing_stray_connections(),  # before the portal's loop joins its worker threads
        portal.wrap_async_context_manager(
            dispatcher.lifespans(startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout)
        ),
        observed_by(dispatcher, trace),
        serving_outbound_sync(dispatcher, check_outbound_mode(outbound), base_url, portal),
    ):
        transport = async_transport(
            dispatcher, raise_app_exceptions=raise_app_exceptions, client=client_address
        )
        with http.Client(
            transport=sync_transport(transport, portal),
            base_url=base_url,
            **client_options,
        ) as client:
            yield client


def as_dispatcher(mounts: Mounts) -> Dispatcher:
    """A `Dispatcher` for a mount table; a `Dispatcher` as it is."""
    return mounts if isinstance(mounts, Dispatcher) else Dispatcher(mounts)
