"""Django's request signals versus the test's database connection.

Django connects `close_old_connections` to `request_started` and `request_finished`.
When a request's sync code runs on the test's thread (see `_threads`), that receiver
would close the test's own connection in the middle of pytest-django's transaction
(the next query fails with "the connection is closed"), so `django.test.Client`
disconnects it around each request. We do the same around each call of the sync
client, with two differences:

- The receiver is swapped, not removed, for one that skips only the threads serving
  the call: other threads (a2wsgi's workers running Django's WSGI handler) still close
  their connections after each request, as Django intends.
- The swap is in place before the call starts, because `Signal.asend` picks its
  receivers on the event loop's thread before it sends the sync ones to the test's.

Between calls Django's own wiring is back, so `django.test.Client` works as ever.

The other side: a request that runs on a thread other than the caller's (asgiref's
thread for each request under the async client, a2wsgi's worker threads for Django's
WSGI handler) opens a connection of its own there. `close_old_connections` closes it
when the request finishes, except on in-memory SQLite, where Django ignores `close()`
so as not to destroy the database; the connection then outlives its request and is
left to the garbage collector (Python 3.13 warns: "unclosed database"). So once an app
is mounted, `request_finished` also closes, on the thread that served the request, the
in-memory SQLite connections that the request opened there. The database lives on in
the test's connection, which was open before and is left alone.

The core imports this module, so Django is imported only inside its functions, and
only once the process has imported Django's database layer.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["close_what_requests_open", "sparing_this_threads_connections"]

_serving = threading.local()
_swap_lock = threading.Lock()
_callers = 0  # calls in flight, on any thread; the first swaps, the last swaps back
_swapped: list[Any] = []  # the signals whose receiver is swapped

_request = threading.local()  # on a thread serving requests: their depth, what they opened
_closing_lock = threading.Lock()
_closing = False  # whether the receivers below are connected (once per process)


@contextmanager
def sparing_this_threads_connections() -> Iterator[None]:
    """While entered, Django's request signals leave this thread's connections open.

    A no-op unless Django's database layer is loaded.
    """
    if "django.db" not in sys.modules:
        yield
        return
    _swap_in()
    serving_before = getattr(_serving, "requests", False)
    _serving.requests = True
    try:
        yield
    finally:
        _serving.requests = serving_before
        _swap_out()


def _swap_in() -> None:
    global _callers
    from django.core.signals import request_finished, request_started  # type: ignore[import-untyped]
    from django.db import close_old_connections  # type: ignore[import-untyped]

    with _swap_lock:
        _callers += 1
        if _callers > 1:
            return
        for signal in (request_started, request_finished):
            # Only where Django's receiver is connected: a project may have removed it.
            if signal.disconnect(close_old_connections):
                signal.connect(_close_old_connections_unless_serving, weak=False)
                _swapped.append(signal)


def _swap_out() -> None:
    global _callers
    from django.db import close_old_connections

    with _swap_lock:
        _callers -= 1
        if _callers > 0:
            return
        while _swapped:
            signal = _swapped.pop()
            signal.disconnect(_close_old_connections_unless_serving)
            signal.connect(close_old_connections)


def _close_old_connections_unless_serving(**kwargs: Any) -> None:
    if not getattr(_serving, "requests", False):
        from django.db import close_old_connections

        close_old_connections(**kwargs)


def close_what_requests_open() -> None:
    """From now on, close the in-memory SQLite connections a request opens on a worker thread.

    Idempotent; a no-op unless Django's database layer is loaded.
    """
    global _closing
    if _closing or "django.db" not in sys.modules:
        return
    from django.core.signals import request_finished, request_started
    from django.db.backends.signals import connection_created  # type: ignore[import-untyped]

    with _closing_lock:
        if _closing:
            return
        uid = "pytest_asgi_dispatch.close_what_requests_open"
        request_started.connect(_request_started, weak=False, dispatch_uid=uid)
        connection_created.connect(_connection_created, weak=False, dispatch_uid=uid)
        request_finished.connect(_request_finished, weak=False, dispatch_uid=uid)
        _closing = True


def _request_started(**kwargs: Any) -> None:
    # The test's thread keeps its connections: while it serves a call (the sync client),
    # and as the main thread, where pytest-django holds the test database open.
    if (
        getattr(_serving, "requests", False)
        or threading.current_thread() is threading.main_thread()
    ):
        return
    _request.depth = getattr(_request, "depth", 0) + 1


def _connection_created(connection: Any, **kwargs: Any) -> None:
    if getattr(_request, "depth", 0) and _is_in_memory_sqlite(connection):
        _request.opened = [*getattr(_request, "opened", ()), connection]


def _request_finished(**kwargs: Any) -> None:
    depth = getattr(_request, "depth", 0)
    if not depth:
        return
    _request.depth = depth - 1
    if depth > 1:
        return  # a request within a request: the outer one may use them still
    opened, _request.opened = getattr(_request, "opened", ()), ()
    for connection in opened:
        _close_in_memory_sqlite(connection)


def _is_in_memory_sqlite(connection: Any) -> bool:
    return bool(connection.vendor == "sqlite" and connection.is_in_memory_db())


def _close_in_memory_sqlite(connection: Any) -> None:
    """Close the connection for real, as `close()` does for any other database."""
    from django.db.backends.base.base import BaseDatabaseWrapper  # type: ignore[import-untyped]

    if connection.connection is not None and not connection.in_atomic_block:
        BaseDatabaseWrapper.close(connection)  # sqlite's own close() skips in-memory ones
