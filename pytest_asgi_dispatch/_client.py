"""`dispatch()` and `dispatch_sync()`: the combined app, lifespans up, behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal

from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._routing import Dispatcher
from ._transport import StreamingTransport, SyncStreamingTransport

__all__ = ["DEFAULT_BASE_URL", "dispatch", "dispatch_sync"]

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
    **client_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Run every mounted app's lifespan and yield an `httpx.AsyncClient` for them all.

    Extra keyword arguments go to `httpx.AsyncClient`.
    """
    dispatcher = as_dispatcher(mounts)
    transport = StreamingTransport(dispatcher, raise_app_exceptions=raise_app_exceptions)
    async with (
        dispatcher.lifespans(startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout),
        httpx.AsyncClient(transport=transport, base_url=base_url, **client_options) as client,
    ):
        yield client


@contextmanager
def dispatch_sync(
    mounts: Mounts,
    *,
    base_url: str = DEFAULT_BASE_URL,
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    raise_app_exceptions: bool = True,
    backend: str = "asyncio",
    **client_options: Any,
) -> Iterator[httpx.Client]:
    """Like `dispatch()`, for sync code: yield an `httpx.Client`.

    The apps run on an event loop in a background thread (an anyio blocking portal on
    `backend`); Django's thread-sensitive code runs on the calling thread.
    """
    dispatcher = as_dispatcher(mounts)
    with (
        start_blocking_portal(backend) as portal,
        portal.wrap_async_context_manager(
            dispatcher.lifespans(startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout)
        ),
    ):
        transport = StreamingTransport(dispatcher, raise_app_exceptions=raise_app_exceptions)
        with httpx.Client(
            transport=SyncStreamingTransport(transport, portal),
            base_url=base_url,
            **client_options,
        ) as client:
            yield client


def as_dispatcher(mounts: Mounts) -> Dispatcher:
    """A `Dispatcher` for a mount table; a `Dispatcher` as it is."""
    return mounts if isinstance(mounts, Dispatcher) else Dispatcher(mounts)
