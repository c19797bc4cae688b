"""Starting and stopping every mounted app's lifespan, each with its own state.

asgi-lifespan runs one app's lifespan well; what it gets wrong for a mount table we
fix here: an app that does not support lifespan (Django's handler raises, others
return without answering) is skipped instead of failing or waiting out the timeout,
`lifespan.startup.failed` fails at once with the app's message, and every error
names the mount.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import anyio
from asgi_lifespan import LifespanManager

from ._errors import LifespanError
from ._types import ASGIApp, Message, Receive, Scope, Send

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "DEFAULT_STARTUP_TIMEOUT", "AppLifespan", "LifespanGroup"]

# Long enough for a Django or FastAPI startup that opens a database pool on a slow CI
# machine, short enough that a hung startup fails the test well before CI gives up.
DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 10.0

State = dict[str, Any]


class _Unsupported(Exception):
    """The app does not take part in the lifespan protocol."""


class _Failed(Exception):
    """The app sent `lifespan.startup.failed` or `lifespan.shutdown.failed`."""


class _TimedOut(Exception):
    """The app did not answer a lifespan event before its deadline."""


class _LifespanProbe:
    """Wraps an app for asgi-lifespan so that every anomaly ends the wait at once.

    asgi-lifespan stops waiting as soon as the app raises, so each outcome it would
    otherwise wait out (a `*.failed` message, a return without an answer, a deadline
    passed) is turned into an exception raised inside the app's task. The deadlines
    live here, in the app's task, rather than in asgi-lifespan: on trio, its startup
    timeout leaves the app's task running and then waits for it forever.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: State | None = None
        self.deadline = anyio.CancelScope()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.state = scope.get("state")
        if "asgi" not in scope:
            # asgi-lifespan leaves it out, which by the spec means ASGI 2.0: Falcon then
            # refuses to start ("Falcon requires ASGI version 3.x").
            scope = {**scope, "asgi": {"version": "3.0", "spec_version": "2.0"}}
        startup = await receive()  # so that asgi-lifespan never blames a silent app
        app_received = False
        started = False

        async def app_receive() -> Message:
            nonlocal app_received
            if not app_received:
                app_received = True
                return startup
            return await receive()

        async def app_send(message: Message) -> None:
            nonlocal started
            kind = message["type"]
            if kind in ("lifespan.startup.failed", "lifespan.shutdown.failed"):
                if self.deadline.cancel_called:
                    raise _TimedOut  # Starlette reports our cancellation as a failure
                raise _Failed(message.get("message") or "(no message)")
            if kind == "lifespan.startup.complete":
                started = True
                self.deadline.deadline = math.inf  # until the shutdown sets one
            await send(message)

        try:
            with self.deadline:
                await self.app(scope, app_receive, app_send)
        except (_Failed, _TimedOut):
            raise
        except Exception as exc:
            if not app_received:
                raise _Unsupported from exc  # e.g. Django: "can only handle ASGI/HTTP"
            raise
        if self.deadline.cancelled_caught:
            raise _TimedOut
        if not started:
            raise _Unsupported


class AppLifespan(AbstractAsyncContextManager["State | None"]):
    """One app's lifespan: yields its state, or None when it has no lifespan."""

    def __init__(
        self, app: ASGIApp, key: str, startup_timeout: float | None, shutdown_timeout: float | None
    ) -> None:
        self.key = key
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._probe = _LifespanProbe(app)
        self._manager = LifespanManager(self._probe, None, None)  # the probe keeps time
        self._running = False

    async def __aenter__(self) -> State | None:
        self._probe.deadline.deadline = _deadline(self.startup_timeout)
        try:
            await self._manager.__aenter__()
        except BaseException as raised:
            exc = _single(raised)
            if isinstance(exc, _Unsupported):
                return None
            if not isinstance(exc, Exception):
                raise
            raise self._error("startup", self.startup_timeout, exc) from exc
        self._running = True
        return self._probe.state

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._running:
            return
        self._running = False
        self._probe.deadline.deadline = _deadline(self.shutdown_timeout)
        try:
            # Always a clean exit: asgi-lifespan skips the shutdown when told of an error.
            await self._manager.__aexit__(None, None, None)
        except BaseException as raised:
            error = _single(raised)
            if not isinstance(error, Exception):
                raise
            raise self._error("shutdown", self.shutdown_timeout, error) from error

    def _error(self, phase: str, timeout: float | None, exc: Exception) -> LifespanError:
        if isinstance(exc, _Failed):
            return LifespanError(f"mount {self.key!r}: lifespan {phase} failed: {exc}")
        if isinstance(exc, _TimedOut):
            hint = (
                "; does its startup hang, or does it need a larger startup_timeout?"
                if phase == "startup"
                else ""
            )
            return LifespanError(
                f"mount {self.key!r}: lifespan {phase} did not complete within {timeout} s{hint}"
            )
        return LifespanError(
            f"mount {self.key!r}: lifespan {phase} raised {type(exc).__name__}: {exc}"
        )


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else anyio.current_time() + timeout


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) groups of one, as trio's nurseries raise it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class LifespanGroup(AbstractAsyncContextManager["list[State | None]"]):
    """Enters lifespans in order and exits them all in reverse, whatever fails.

    A startup failure shuts down the lifespans already started before it propagates.
    A shutdown failure is raised once every lifespan has been shut down, unless the
    body of the `async with` raised already (its exception wins).
    """

    def __init__(self, lifespans: Sequence[AbstractAsyncContextManager[State | None]]) -> None:
        self._lifespans = lifespans
        self._entered: list[AbstractAsyncContextManager[State | None]] = []

    async def __aenter__(self) -> list[State | None]:
        states = []
        for lifespan in self._lifespans:
            try:
                states.append(await lifespan.__aenter__())
            except BaseException:
                await self._exit_all()
                raise
            self._entered.append(lifespan)
        return states

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        error = await self._exit_all()
        if error is not None and exc is None:
            raise error

    async def _exit_all(self) -> BaseException | None:
        first_error: BaseException | None = None
        while self._entered:
            try:
                await self._entered.pop().__aexit__(None, None, None)
            except Exception as error:
                first_error = first_error or error
        return first_error
