"""Running an app's task on the current event loop, asyncio or trio, for both transports.

HTTP exchanges (`_transport`) and websockets (`_websocket`) both run the app in a task
of their own and wait on it; this is what they share, so that neither imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import sys
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

import sniffio

__all__ = ["ClientDisconnected", "Runtime", "Waiter"]

T = TypeVar("T")


class ClientDisconnected(OSError):
    """Raised by `send` when the client closed the response (ASGI spec 2.4)."""


class Runtime:
    """Starting and cancelling the app's task, and yielding to it, on one event loop.

    Tasks are started detached rather than in a task group: a task group would tie every
    response to the task that opened the client, which pytest-asyncio's fixtures do not
    keep (setup and teardown run in different tasks). The function run must not raise:
    the exchange keeps the app's exception.
    """

    def __init__(self) -> None:
        self.is_trio = sniffio.current_async_library() == "trio"
        self.waiter: Callable[[], Waiter] = _TrioWaiter if self.is_trio else _AsyncioWaiter

    def spawn(self, function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], object]:
        """Run `function()` in a task of its own; return the task's cancel().

        The caller keeps the cancel(), and so the strong reference asyncio asks for.
        Python 3.12+ runs the task at once up to its first wait, as `spawn_now` does on
        every version; before, it starts on the next turn of the loop.
        """
        if self.is_trio:
            return self._spawn_on_trio(function)
        return asyncio.Task(function(), loop=asyncio.get_running_loop(), **_EAGER).cancel

    def spawn_now(self, function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], object]:
        """`spawn`, the task run at once up to its first wait on asyncio, whatever Python.

        For a request's app: a plain app has responded before the transport looks, which
        saves a turn of the event loop and, above all, suspending and resuming the whole
        stack of the client's calls. Python 3.12+ does it itself (`eager_start`).
        """
        if self.is_trio:
            return self._spawn_on_trio(function)
        loop = asyncio.get_running_loop()
        if sys.version_info >= (3, 12):
            return asyncio.Task(function(), loop=loop, eager_start=True).cancel
        task = asyncio.Task(function(), loop=loop)
        _start_now(loop, task)
        return task.cancel

    @staticmethod
    def _spawn_on_trio(function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], object]:
        import trio

        scope = trio.CancelScope()

        async def run_in_scope() -> None:
            with scope:
                await function()

        trio.lowlevel.spawn_system_task(run_in_scope, context=contextvars.copy_context())
        return scope.cancel

    async def yield_to_others(self) -> None:
        if self.is_trio:
            import trio

            await trio.lowlevel.checkpoint()
        else:
            await asyncio.sleep(0)

    async def result_of(self, future: Future[T]) -> T:
        """Wait, without blocking the loop, for `future`, which another thread completes."""
        if not self.is_trio:
            return await asyncio.wrap_future(future)
        import trio

        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: Future[T]) -> None:
            with contextlib.suppress(trio.RunFinishedError):  # nobody is waiting any more
                token.run_sync_soon(done.set)

        future.add_done_callback(wake)
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()


class Waiter(Protocol):
    """How one task waits for another's word, with a deadline: what an anyio Event in a
    cancel scope with a deadline does, at a fraction of the cost on asyncio.

    Made by `Runtime.waiter()` on the event loop. One task waits at a time, as often as
    it likes; `wake()` wakes the wait under way, if any (a wake-up with nobody waiting
    is not kept: check the condition before waiting). `close()` once no wait will come.
    """

    def wake(self) -> None: ...

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait to be woken (True), or for `timeout` seconds (False)."""
        ...

    def close(self) -> None: ...


class _AsyncioWaiter:
    """A future per wait; one deadline timer for all of them, moved on lazily, since a
    timer per wait (its handle, the heap, the cancelling) would cost more than the rest."""

    __slots__ = ("_deadline", "_future", "_loop", "_timer")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._future: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = math.inf

    def wake(self) -> None:
        future = self._future
        if future is not None and not future.done():  # done: cancelled with its waiter
            future.set_result(True)

    async def wait(self, timeout: float | None = None) -> bool:
        loop = self._loop
        future: asyncio.Future[bool] = loop.create_future()
        self._future = future
        if timeout is None:
            self._deadline = math.inf
        else:
            self._deadline = deadline = loop.time() + timeout
            timer = self._timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(deadline, self._expire)
        try:
            return await future
        finally:
            self._future = None

    def _expire(self) -> None:
        self._timer = None
        future = self._future
        if future is None or future.done() or self._deadline == math.inf:
            return  # nobody waits, or without a deadline: the next wait sets the timer
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._expire)
        else:
            future.set_result(False)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _TrioWaiter:
    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: Any = None

    def wake(self) -> None:
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float | None = None) -> bool:
        import trio

        self._event = event = trio.Event()
        try:
            with trio.move_on_after(math.inf if timeout is None else timeout):
                await event.wait()
                return True
            return False
        finally:
            self._event = None

    def close(self) -> None:
        pass


_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}


def _start_now(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    """Before Python 3.12: run `task`'s first step now, as `eager_start=True` does since.

    The step the task scheduled is the last callback of the loop's queue: it is taken
    from there and run here, with `task` as the current task meanwhile (its own context,
    as the loop would run it). On a loop that keeps no such queue (uvloop), or should the
    last callback be another's, the step is left to the loop.
    """
    ready = getattr(loop, "_ready", None)
    if ready.__class__ is not deque or not ready:
        return
    handle = ready[-1]
    if getattr(getattr(handle, "_callback", None), "__self__", None) is not task:
        return
    ready.pop()
    caller = _current_task(loop)
    if caller is None:
        handle._run()
        return
    _leave_task(loop, caller)
    try:
        handle._run()
    finally:
        _enter_task(loop, caller)


_current_task = asyncio.tasks.current_task
_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task
