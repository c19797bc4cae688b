"""Running an app's task on the current event loop, asyncio or trio, for both transports.

HTTP exchanges (`_transport`) and websockets (`_websocket`) both run the app in a task
of their own and wait on it; this is what they share, so that neither imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import sniffio

__all__ = ["ClientDisconnected", "Runtime"]

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

    def spawn(self, function: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], object]:
        """Run `function()` in a task of its own; return the task's cancel().

        The caller keeps the cancel(), and so the strong reference asyncio asks for.
        """
        if self.is_trio:
            import trio

            scope = trio.CancelScope()

            async def run_in_scope() -> None:
                with scope:
                    await function()

            trio.lowlevel.spawn_system_task(run_in_scope, context=contextvars.copy_context())
            return scope.cancel
        loop = asyncio.get_running_loop()
        # Python 3.12+ runs the task at once up to its first wait: a plain app has
        # responded before we look, saving a turn of the event loop.
        return asyncio.Task(function(), loop=loop, **_EAGER).cancel

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


_EAGER: dict[str, Any] = {"eager_start": True} if sys.version_info >= (3, 12) else {}
