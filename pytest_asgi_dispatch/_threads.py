"""Running thread-sensitive sync code on the thread that waits for the request.

`async_to_sync` runs the sync code that asgiref's thread-sensitive `sync_to_async`
schedules (Django's views, ORM and signals) on the thread that called it, so that it
shares that thread's database connection. The sync client waits on a portal instead,
so it does the same here: while a call is in flight, the waiting thread runs the work.

Only the sync client can do this: an async test's thread runs the event loop, and sync
code run there would block it (and Django refuses ORM calls from a thread with a running
loop), so there Django's sync code runs in asgiref's threads, on connections of their own.
"""

from __future__ import annotations

import queue
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from ._django import sparing_this_threads_connections

__all__ = ["CallingThreadExecutor", "run_thread_sensitive_here"]

T = TypeVar("T")


class CallingThreadExecutor(Executor):
    """Runs submitted work on whichever thread is inside `run_until()`.

    Unlike asgiref's `CurrentThreadExecutor` it outlives one call: work submitted
    between calls (a response body read later) waits for the next call.
    """

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._work.put(work)
        return future

    def serving(self) -> AbstractContextManager[None]:
        """Enter on the calling thread around a call whose work it will run.

        Enter it before the call starts: the work runs on this thread's database
        connections, which Django's request signals must then leave open, as under
        `django.test.Client` (see `_django`).
        """
        return sparing_this_threads_connections()

    def run_until(self, future: Future[T]) -> T:
        """Run submitted work on this thread until `future` is done; return its result."""
        finished = _Finished()
        future.add_done_callback(lambda _: self._work.put(finished))
        while (work := self._work.get()) is not finished:
            work()
        return future.result()


class _Finished:
    """Marks, in the work queue, the end of one `run_until()`."""

    def __call__(self) -> None:
        raise AssertionError("a finished marker is never run")


async def run_thread_sensitive_here(
    executor: CallingThreadExecutor,
    function: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
) -> T:
    """Await `function(*args)` with asgiref's thread-sensitive calls sent to `executor`.

    The setting lives in this task's context, and so in the app tasks it starts.
    """
    if "asgiref.sync" in sys.modules:
        from asgiref.sync import AsyncToSync

        AsyncToSync.executors.current = executor
    return await function(*args)
