"""Running an app's task on the current event loop, asyncio or trio, for both transports.

HTTP exchanges (`_transport`) and websockets (`_websocket`) both run the app in a task
of their own and wait on it; this is what they share, so that neither imports the other.
A request's app starts at once, in the caller's call, and gets a task made for it only
if it waits (`Runtime.run_now`): on asyncio, making a task was most of what a request
cost over the app's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import sys
from collections import deque
from collections.abc import Callable, Coroutine, Generator
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
        self._standby: _Standby | None = None
        self._apps_that_wait: set[int] = set()

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

        A plain app has then responded before the caller looks, which saves a turn of
        the event loop and, above all, suspending and resuming the whole stack of the
        caller's calls. Python 3.12+ does it itself (`eager_start`).
        """
        if self.is_trio:
            return self._spawn_on_trio(function)
        return _task_started_now(function()).cancel

    def run_now(self, coroutine: Coroutine[Any, Any, None], app: object) -> Callable[[], object]:
        """`spawn_now` for a request's app, without a task made for it unless it waits.

        On asyncio, the coroutine's first step runs here, in a context of its own, with
        a task kept on standby as the current task (`_Standby`): what the app sees is
        what a task of its own would show. A plain app has finished by then, and no task
        was made for it, which is most of what a request costs on top of the app's own
        work. One that waits is taken over by the standby task, as its own, for good;
        apps (by identity) that have waited once get `spawn_now`'s task from then on,
        since a takeover costs a little more than a task.
        """
        if self.is_trio:
            return self._spawn_on_trio(lambda: coroutine)
        if id(app) in self._apps_that_wait:
            return _task_started_now(coroutine).cancel
        standby = self._standby
        if standby is None or standby.loop is not asyncio.get_running_loop():
            standby = _Standby()  # the first, or the first on this loop
        # Taken while it runs: a request the app makes meanwhile gets a standby of its own.
        self._standby = None
        cancel = standby.run(coroutine)
        if cancel is None:
            if self._standby is None and standby.is_idle():
                self._standby = standby
            else:
                standby.retire_soon()
            return _nothing
        if len(self._apps_that_wait) < _REMEMBERED_APPS:
            self._apps_that_wait.add(id(app))
        return cancel

    async def aclose(self) -> None:
        """Let the standby task go (a task pending at the loop's end is an error)."""
        standby, self._standby = self._standby, None
        if standby is not None:
            await standby.retire()

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


# How many apps that wait `run_now` remembers: every app of a test suite, as a rule.
_REMEMBERED_APPS = 1024


def _nothing() -> None:
    """The cancel() of an app that has returned."""


class _Standby:
    """A task parked to become the task of an app that waits, for `Runtime.run_now`.

    `run()` runs the app's first step with this task as the current task; should the
    app wait, the task wakes and goes on with the app's coroutine where it stopped
    (`_Resumed`), as if it had run it from the start. Until then it waits on a future of
    its own; a cancel meant for the app meanwhile reaches the app at its wait.
    """

    __slots__ = ("_job", "_wake", "loop", "task")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake: asyncio.Future[None] = self.loop.create_future()
        self._job: tuple[Coroutine[Any, Any, None], contextvars.Context, object] | None = None
        self.task = _task_started_now(self._serve())  # parked at its wait, at once

    def is_idle(self) -> bool:
        """Still parked, and for nobody yet (an app run here may have cancelled it)."""
        return not self._wake.done()

    def run(self, coroutine: Coroutine[Any, Any, None]) -> Callable[[], object] | None:
        """Run `coroutine`'s first step here, as this task; None if it returned, else
        the task's cancel(), the task now running it."""
        loop, task = self.loop, self.task
        context = contextvars.copy_context()
        caller = _current_task(loop)
        if caller is not None:
            _leave_task(loop, caller)
        _enter_task(loop, task)
        try:
            waiting = context.run(coroutine.send, None)
        except (StopIteration, asyncio.CancelledError):  # returned, or cancelled itself
            return None
        finally:
            _leave_task(loop, task)
            if caller is not None:
                _enter_task(loop, caller)
        self._job = (coroutine, context, waiting)
        if not self._wake.done():
            self._wake.set_result(None)
        return task.cancel

    async def _serve(self) -> None:
        try:
            await self._wake
        except asyncio.CancelledError as cancel:
            if self._job is None:
                raise  # cancelled while idle: retired
            await _Resumed(*self._job, cancel)  # the app cancelled its task, as it ran here
        else:
            assert self._job is not None
            await _Resumed(*self._job)

    def retire_soon(self) -> None:
        """End the task, if it is still idle, on the loop's next turn."""
        if self.is_idle():
            self._wake.cancel()

    async def retire(self) -> None:
        """End the task, if it is still idle."""
        if self.is_idle():
            self.retire_soon()
            await asyncio.wait([self.task])


class _Resumed:
    """Awaiting it goes on with a coroutine that already ran up to `waiting` (what it
    gave its task to wait for), in its own context: `yield from` for a coroutine begun
    elsewhere. With `cancel`, its wait ends with it, as a cancelled task's would."""

    __slots__ = ("_cancel", "_context", "_coroutine", "_waiting")

    def __init__(
        self,
        coroutine: Coroutine[Any, Any, None],
        context: contextvars.Context,
        waiting: object,
        cancel: asyncio.CancelledError | None = None,
    ) -> None:
        self._coroutine = coroutine
        self._context = context
        self._waiting = waiting
        self._cancel = cancel

    def __await__(self) -> Generator[Any, Any, None]:
        run, coroutine, waiting = self._context.run, self._coroutine, self._waiting
        try:
            if self._cancel is not None:
                if isinstance(waiting, asyncio.Future):
                    waiting.cancel()
                waiting = run(coroutine.throw, self._cancel)
            while True:
                try:
                    value = yield waiting
                except BaseException as exc:  # a cancel, or the task closed
                    waiting = run(coroutine.throw, exc)
                else:
                    waiting = run(coroutine.send, value)
        except StopIteration:
            return


_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}


def _task_started_now(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task for `coroutine`, run at once up to its first wait, whatever the Python."""
    loop = asyncio.get_running_loop()
    task = asyncio.Task(coroutine, loop=loop, **_EAGER)
    if not _EAGER:
        _start_now(loop, task)
    return task


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
