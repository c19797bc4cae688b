"""Django's request signals versus the test's database connection.

Django connects `close_old_connections` to `request_started` and `request_finished`.
When a request's sync code runs on the test's thread (see `_threads`, `_inline`), that
receiver would close the test's own connection in the middle of pytest-django's
transaction (the next query fails with "the connection is closed"), so
`django.test.Client` disconnects it around each request. We spare the test's
connections too, around each call of the sync client, but not by rewiring the signals:

- `close_old_connections` asks each connection of the thread it runs on to
  `close_if_unusable_or_obsolete()`. While a thread serves a call, its connections
  answer with a no-op of their own (an instance attribute over the method), those open
  as the call starts and those it opens (`connection_created`). Other threads (a2wsgi's
  workers running Django's WSGI handler) still close their connections after each
  request, as Django intends. Which thread picks the receivers does not matter either
  (`Signal.asend` picks them on the event loop's thread, then runs sync ones here).
- Django's wiring is never touched, so `django.test.Client` works as ever, in between
  calls or not. Reconnecting Django's receivers around each call cost 8 signal
  operations and left two `weakref.finalize` objects behind per call, for good.

The other side: a request that runs on a thread other than the caller's (asgiref's
thread for each request under the async client, a2wsgi's worker threads for Django's
WSGI handler) opens a connection of its own there. `close_old_connections` closes it
when the request finishes, except on in-memory SQLite, where Django ignores `close()`
so as not to destroy the database; the connection then outlives its request and is
left to the garbage collector (Python 3.13 warns: "unclosed database"). So once an app
is mounted, `request_finished` also closes, on the thread that served the request, the
in-memory SQLite connections that the request opened there. The database lives on in
the test's connection, which was open before and is left alone.

Django also runs code outside any request on worker threads: its ASGI handler builds a
500 page and logs the error in `sync_to_async(thread_sensitive=False)`, on the event
loop's default executor, so a logging handler that writes to the database opens a
connection there that nothing closes (the thread outlives the request; Python 3.13 warns
when it is finally collected). Such connections, opened on a worker thread outside any
request, are "strays": `closing_stray_connections()`, around each client's life, closes
those its apps left open when the client exits, through Django's thread-sharing API.

A thread of a request's own (an app's worker thread calling another mounted app over
HTTP, see `_outbound`) serves calls too, but it is not the test's: `serving_requests_here()`
says so, and from then on its calls spare only the connections it had open before them
(its own request's); those the called app opens close when that app's request finishes,
as above.

The core imports this module, so Django is imported only inside its functions, and
only once the process has imported Django's database layer.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

__all__ = [
    "as_a_request_here",
    "close_what_requests_open",
    "closing_stray_connections",
    "django_serving",
    "serving_requests_here",
    "sparing_this_threads_connections",
]

_METHOD = "close_if_unusable_or_obsolete"  # what `close_old_connections` calls

_serving = threading.local()  # on a thread serving calls: their depth, the connections spared

_request = threading.local()  # on a thread serving requests: their depth, what they opened
_opened_here = threading.local()  # on a thread that served a call: its connections
_guest = threading.local()  # on a request's thread that serves calls: `here` is True
# Whether Django serves the request of the context: from its `request_started` to its
# `request_finished`, which Django sends in the request's context. Cheaper to read
# between a request's steps (`_inline`) than Django's URLconf, a `Local`.
django_serving: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_asgi_dispatch_django_serving", default=False
)
_strays: weakref.WeakSet[Any] = weakref.WeakSet()  # opened outside requests on workers
_receivers_lock = threading.Lock()
_receivers = False  # whether the receivers below are connected (once per process)


def sparing_this_threads_connections() -> AbstractContextManager[None]:
    """While entered, Django's request signals leave this thread's connections open.

    Reentrant (a call within a call spares nothing more); a no-op unless Django's
    database layer is loaded.
    """
    return _SPARING


class _Sparing:
    """The context manager itself: no state but the thread's (a class: cheaper than a generator)."""

    __slots__ = ()

    def __enter__(self) -> None:
        depth = getattr(_serving, "depth", 0)
        _serving.depth = depth + 1
        if depth:
            return
        _serving.spared = []
        if "django.db" not in sys.modules:
            return
        if not _receivers:
            _connect_receivers()
        for connection in _this_threads_connections():
            _spare(connection)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _serving.depth -= 1
        if _serving.depth:
            return
        spared, _serving.spared = getattr(_serving, "spared", ()), []
        for connection in spared:
            del connection.__dict__[_METHOD]


_SPARING = _Sparing()


def _this_threads_connections() -> list[Any]:
    """The connections of this thread that Django's request signals would look at.

    Asked of Django on the thread's first call (`connections.all(initialized_only=True)`
    costs more than the rest of sparing), then kept by `connection_created`, which adds
    those the thread connects later (one not connected yet needs no sparing:
    `close_if_unusable_or_obsolete` does nothing on it). A connection put in place by
    assignment after that (`connections[alias] = ...`) is not seen: Django's live
    server does that on its own thread only.
    """
    try:
        found: list[Any] = _opened_here.connections
    except AttributeError:
        from django.db import connections  # type: ignore[import-untyped]

        found = _opened_here.connections = connections.all(initialized_only=True)
    return found


def _spare(connection: Any) -> None:
    """Shadow the connection's `close_if_unusable_or_obsolete` until the call is over.

    Not one that a request on a thread of requests opened: it closes with that request.
    """
    if connection in getattr(_request, "opened", ()):
        return
    if _METHOD not in connection.__dict__:  # else shadowed already: not ours to undo
        setattr(connection, _METHOD, _keep_open)
        _serving.spared.append(connection)


def _keep_open() -> None:
    """`close_if_unusable_or_obsolete` on a connection whose thread serves a call."""


def _is_serving() -> bool:
    return bool(getattr(_serving, "depth", 0))


def serving_requests_here() -> None:
    """Mark this thread as a request's, not the test's: what its calls open, they close.

    For a thread that calls a mounted app with the sync client's transport on behalf of
    a request (`_outbound`); a no-op unless Django's database layer is loaded.
    """
    if "django.db" in sys.modules:
        _guest.here = True
        close_what_requests_open()


def _spares_what_calls_open() -> bool:
    """Whether this thread serves a call as the test's thread (see the module's notes)."""
    return _is_serving() and not getattr(_guest, "here", False)


def close_what_requests_open() -> None:
    """From now on, close the in-memory SQLite connections a request opens on a worker thread.

    Idempotent; a no-op unless Django's database layer is loaded.
    """
    if not _receivers and "django.db" in sys.modules:
        _connect_receivers()


def _connect_receivers() -> None:
    """Connect, once, the receivers of this module: not weak, so no `weakref.finalize`."""
    global _receivers
    from django.core.signals import request_finished, request_started  # type: ignore[import-untyped]
    from django.db.backends.signals import connection_created  # type: ignore[import-untyped]

    with _receivers_lock:
        if _receivers:
            return
        uid = "pytest_asgi_dispatch.close_what_requests_open"
        request_started.connect(_request_started, weak=False, dispatch_uid=uid)
        connection_created.connect(_connection_created, weak=False, dispatch_uid=uid)
        request_finished.connect(_request_finished, weak=False, dispatch_uid=uid)
        _receivers = True


def _request_started(**kwargs: Any) -> None:
    django_serving.set(True)
    _begin_request()


def _begin_request() -> None:
    # The test's thread keeps its connections: while it serves a call (the sync client),
    # and as the main thread, where pytest-django holds the test database open.
    if _spares_what_calls_open() or threading.current_thread() is threading.main_thread():
        return
    _request.depth = getattr(_request, "depth", 0) + 1


def _connection_created(connection: Any, **kwargs: Any) -> None:
    opened_here = getattr(_opened_here, "connections", None)  # None: not asked of Django yet
    if opened_here is not None and connection not in opened_here:
        opened_here.append(connection)
    if _spares_what_calls_open():
        _spare(connection)  # opened by the call: the test's thread keeps it, as the others
    elif getattr(_request, "depth", 0):
        _request.opened = [*getattr(_request, "opened", ()), connection]
    elif threading.current_thread() is not threading.main_thread():
        _strays.add(connection)


def _request_finished(**kwargs: Any) -> None:
    django_serving.set(False)
    _finish_request(every_database=False)  # the others, `close_old_connections` closes


def _finish_request(*, every_database: bool) -> None:
    """Close what the request ending on this thread opened: in-memory SQLite, or all."""
    depth = getattr(_request, "depth", 0)
    if not depth:
        return
    _request.depth = depth - 1
    if depth > 1:
        return  # a request within a request: the outer one may use them still
    opened, _request.opened = getattr(_request, "opened", ()), ()
    for connection in opened:
        if every_database or _is_in_memory_sqlite(connection):
            _close_for_real(connection)


@contextmanager
def as_a_request_here() -> Iterator[None]:
    """Run Django code outside a request as if it were one: on a worker thread, the
    connections it opens there close when it ends, since no request's end will close them.

    On the test's thread (the main thread, or one serving the sync client's call) it
    changes nothing. A no-op unless Django's database layer is loaded.
    """
    if "django.db" not in sys.modules:
        yield
        return
    close_what_requests_open()
    _begin_request()
    try:
        yield
    finally:
        _finish_request(every_database=True)


@contextmanager
def closing_stray_connections() -> Iterator[None]:
    """On exit, close the connections opened on worker threads outside any request.

    For the life of a client: no request of its runs any more then. Those in a
    transaction (a user's own thread's, say) are left alone.
    """
    try:
        yield
    finally:
        for connection in list(_strays):
            _strays.discard(connection)
            _close_for_real(connection)


def _is_in_memory_sqlite(connection: Any) -> bool:
    return bool(connection.vendor == "sqlite" and connection.is_in_memory_db())


def _close_for_real(connection: Any) -> None:
    """Close the connection, in-memory SQLite too, from any thread, unless in a transaction.

    Through Django's thread-sharing API, as a live server's thread shares the test's, and
    past `close()`'s `@async_unsafe` guard: a client's async exit closes no connection of
    its own thread, only those of threads no longer in use.
    """
    from django.db.backends.base.base import BaseDatabaseWrapper  # type: ignore[import-untyped]

    if connection.connection is None or connection.in_atomic_block:
        return
    connection.inc_thread_sharing()
    try:
        # Not sqlite's own close(), which skips in-memory databases.
        BaseDatabaseWrapper.close.__wrapped__(connection)
    finally:
        connection.dec_thread_sharing()
