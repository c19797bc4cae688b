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
The core imports this module, so Django is imported only inside its functions, and
only once the process has imported Django's database layer.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["sparing_this_threads_connections"]

_serving = threading.local()
_swap_lock = threading.Lock()
_callers = 0  # calls in flight, on any thread; the first swaps, the last swaps back
_swapped: list[Any] = []  # the signals whose receiver is swapped


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
