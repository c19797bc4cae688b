"""Starting and stopping every mounted app's lifespan, each with its own state.

We speak the ASGI lifespan protocol to each app ourselves, on anyio, because a mount
table needs rules that a server running one app can leave out:

- An app without lifespan support is skipped at once: it raises before its first
  `receive()` (Django's handler), returns without answering `lifespan.startup`, or
  first sends a message that is not a lifespan message (uvicorn's "auto" rule: an app
  that ignores `scope["type"]`); it is cancelled right there, so nothing of it runs on.
- An app that returns after answering startup has shut down; the others still get
  their `lifespan.shutdown`.
- Every wait is bounded by its timeout, whatever the app sends or swallows: a deadline
  passed is a timeout even when the app catches the cancellation and returns, and a
  stray message settles nothing.
- Each error is one line naming the mount (what failed, the app's own last line); the
  app's exception, or its full `*.failed` message, is the error's `__cause__`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from ._errors import LifespanError
from ._types import ASGIApp, Message

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DEFAULT_STARTUP_TIMEOUT",
    "AppLifespan",
    "LifespanFailedMessage",
    "Lifespans",
    "State",
]

# Long enough for a Django or FastAPI startup that opens a database pool on a slow CI
# machine, short enough that a hung startup fails the test well before CI gives up.
DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 10.0

State = dict[str, Any]


class LifespanFailedMessage(Exception):
    """The whole message an app sent with `lifespan.*.failed`: its LifespanError's cause.

    Starlette and FastAPI put the app's entire traceback text in that message; the
    LifespanError shows its last line, and this keeps the rest.
    """


class AppLifespan:
    """One app's lifespan, run as a task: `start()` gives its state, `stop()` ends it.

    `start()` returns None for an app without lifespan support, and raises
    LifespanError when the startup fails, raises or times out (the app's task then
    has ended). `stop()` shuts a started app down within the shutdown timeout, ends
    its task whatever phase it is in, and raises LifespanError when the shutdown
    failed. Neither leaves the app's task running.
    """

    def __init__(
        self, app: ASGIApp, key: str, startup_timeout: float | None, shutdown_timeout: float | None
    ) -> None:
        self.app = app
        self.key = key
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.state: State = {}
        self._started = False  # start() returned the state: stop() owes it a shutdown
        self._scope = anyio.CancelScope()  # the app's task: cancelled to end it
        self._ended = anyio.Event()
        # Set by the app's answer, or by its task ending: what the waits wait for.
        self._startup_settled = anyio.Event()
        self._shutdown_settled = anyio.Event()
        self._shutdown_asked = anyio.Event()
        self._received = 0  # lifespan messages handed to the app
        self._startup: str | None = None  # "complete" or "failed", once answered
        self._shutdown: str | None = None
        self._failure_message = ""
        self._error: Exception | None = None  # raised by the app
        # The type of the first message it sent that is not a lifespan message, and when:
        # before answering startup it means no lifespan support, after it is an error.
        self._not_lifespan: str | None = None
        self._no_lifespan = False

    async def start(self, task_group: anyio.abc.TaskGroup) -> State | None:
        task_group.start_soon(self._run, name=f"lifespan of mount {self.key!r}")
        with anyio.move_on_after(self.startup_timeout):
            await self._startup_settled.wait()
        if not self._startup_settled.is_set():
            await self._end_task()
            raise self._timed_out("startup", self.startup_timeout)
        if self._startup == "complete":
            self._started = True
            return self.state
        await self._end_task()
        if self._no_lifespan:
            return None  # it serves requests only, as uvicorn's "auto" rule reads it
        if self._error is not None and self._received:
            raise self._raised("startup", self._error)
        if self._startup == "failed":
            raise self._failed("startup")
        return None  # raised before receiving, or returned without answering: no lifespan

    async def stop(self) -> None:
        # Shielded: stopping is the cleanup after a cancellation too; each wait is bounded.
        with anyio.CancelScope(shield=True):
            timed_out = False
            if self._started and not self._ended.is_set():
                self._shutdown_asked.set()
                with anyio.move_on_after(self.shutdown_timeout):
                    await self._shutdown_settled.wait()
                timed_out = not self._shutdown_settled.is_set()
            await self._end_task()
        if not self._started:
            return  # stopped while starting: start() or the interruption says why
        if self._not_lifespan is not None:
            raise LifespanError(
                f"mount {self.key!r}: lifespan sent {self._not_lifespan!r} after its "
                "startup; only lifespan messages belong on the lifespan scope"
            )
        if timed_out:
            raise self._timed_out("shutdown", self.shutdown_timeout)
        if self._shutdown == "complete":
            return
        if self._error is not None:
            when = "shutdown" if self._shutdown_asked.is_set() else "between startup and shutdown"
            raise self._raised(when, self._error)
        if self._shutdown == "failed":
            raise self._failed("shutdown")
        # It returned, with or without answering: it has shut down.

    async def _run(self) -> None:
        # Without "asgi" the spec means ASGI 2.0: Falcon then refuses to start.
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            with self._scope:
                await self.app(scope, self._receive, self._send)
        except Exception as exc:
            self._error = exc
        finally:
            self._ended.set()
            self._startup_settled.set()
            self._shutdown_settled.set()

    async def _end_task(self) -> None:
        """Cancel the app's task (a no-op once it has returned) and wait for its end."""
        self._scope.cancel()
        await self._ended.wait()

    async def _receive(self) -> Message:
        await anyio.lowlevel.checkpoint()  # an app looping on receive() cannot starve us
        self._received += 1
        if self._received == 1:
            return {"type": "lifespan.startup"}
        await self._shutdown_asked.wait()
        if self._received == 2:
            return {"type": "lifespan.shutdown"}
        # Nothing follows lifespan.shutdown: wait for the deadline's cancellation.
        await anyio.sleep_forever()
        raise AssertionError("sleep_forever() returned")

    async def _send(self, message: Message) -> None:
        await anyio.lowlevel.checkpoint()  # an app sending in a loop cannot starve the deadlines
        kind = message.get("type")
        if not (isinstance(kind, str) and kind.startswith("lifespan.")):
            if self._not_lifespan is None:
                self._not_lifespan = str(kind)
                self._no_lifespan = self._startup is None
            self._scope.cancel()
            await anyio.lowlevel.checkpoint()  # the cancellation lands here
            return
        phase, _, answer = kind.removeprefix("lifespan.").partition(".")
        shutting_down = self._shutdown_asked.is_set()
        in_turn = (phase == "startup" and self._startup is None and not shutting_down) or (
            phase == "shutdown" and self._shutdown is None and shutting_down
        )
        if answer not in ("complete", "failed") or not in_turn:
            # Out of turn, such as a stray startup.complete during the shutdown: it
            # settles nothing, and the deadline stands.
            return
        self._failure_message = str(message.get("message") or "")
        if phase == "startup":
            self._startup = answer
            self._startup_settled.set()
        else:
            self._shutdown = answer
            self._shutdown_settled.set()

    def _timed_out(self, phase: str, timeout: float | None) -> LifespanError:
        hint = (
            "; does its startup hang, or does it need a larger startup_timeout?"
            if phase == "startup"
            else ""
        )
        return LifespanError(
            f"mount {self.key!r}: lifespan {phase} did not complete within {timeout} s{hint}"
        )

    def _raised(self, when: str, exc: Exception) -> LifespanError:
        inner = _single(exc)
        line = _last_line(str(inner))
        error = LifespanError(
            f"mount {self.key!r}: lifespan {when} raised {type(inner).__name__}"
            + (f": {line}" if line else "")
        )
        error.__cause__ = exc
        return error

    def _failed(self, phase: str) -> LifespanError:
        message = self._failure_message
        error = LifespanError(
            f"mount {self.key!r}: lifespan {phase} failed: {_last_line(message) or '(no message)'}"
        )
        error.__cause__ = LifespanFailedMessage(message or "(no message)")
        return error


class Lifespans(AbstractAsyncContextManager["list[State | None]"]):
    """Every app's lifespan, in one task group: startup in order, shutdown in reverse.

    Entering yields each app's state (None for an app without lifespan). A startup
    failure shuts down the apps already started before it propagates. On exit every
    app is shut down; a shutdown failure is raised once all are, unless the body of
    the `async with` raised already (its exception wins).
    """

    def __init__(
        self,
        apps: Sequence[tuple[str, ASGIApp]],
        startup_timeout: float | None,
        shutdown_timeout: float | None,
    ) -> None:
        self._apps = apps
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._running: list[AppLifespan] = []

    async def __aenter__(self) -> list[State | None]:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        states = []
        try:
            for key, app in self._apps:
                lifespan = AppLifespan(app, key, self._startup_timeout, self._shutdown_timeout)
                self._running.append(lifespan)
                states.append(await lifespan.start(self._task_group))
        except BaseException:
            await self._stop_all()  # the startup's error is the one to report
            raise
        return states

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        error = await self._stop_all()
        if error is not None and exc is None:
            raise error

    async def _stop_all(self) -> LifespanError | None:
        first_error: LifespanError | None = None
        try:
            while self._running:
                try:
                    await self._running.pop().stop()
                except LifespanError as error:
                    first_error = first_error or error
        finally:
            # Every app's task has ended: this exit waits for nothing. The body's
            # exception stays out of it, so that it propagates as it is, not in a group.
            await self._task_group.__aexit__(None, None, None)
        return first_error


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) groups of one, as trio's nurseries raise it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _last_line(text: str) -> str:
    """The last non-blank line of `text`: for a traceback, the exception and its message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
