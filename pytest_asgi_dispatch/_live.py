"""A real HTTP server for the combined app: uvicorn on 127.0.0.1, in a background thread.

For what an in-process client cannot reach: a browser, a subprocess, an SDK that only
speaks HTTP over the network, apps calling each other by URL. The port is the OS's
choice, so parallel test workers (pytest-xdist) never collide. We bind the listening
socket before uvicorn starts, so the URL is known at once and early connections wait
in the backlog; `start()` returns once uvicorn is accepting, without polling.

A browser reaches host mounts (`billing.test`) by their own names: `url_for()` keeps the
name in the URL and `chromium_args` tells Chromium to resolve it to the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._client import as_dispatcher
from ._errors import LifespanError, MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._routing import Dispatcher, _parse_key

if TYPE_CHECKING:
    import uvicorn

__all__ = ["LiveServer"]

# Seconds a request still running at shutdown gets before uvicorn cancels it, so that a
# test that left a request or websocket open does not hold up teardown.
_GRACEFUL_SHUTDOWN = 2
# What uvicorn itself needs on top of the apps' lifespan timeouts: creating its server
# at startup; at shutdown its tick (0.1 s), its pause (0.1 s) and the graceful period.
_UVICORN_MARGIN = 5.0 + _GRACEFUL_SHUTDOWN


class LiveServer:
    """uvicorn serving a mount table (or `Dispatcher`) on `host` at a port the OS chose.

        with LiveServer({"/": django_app, "/billing": flask_app}) as live:
            urllib.request.urlopen(f"{live.url}/billing/invoices")

    `start()` runs every app's lifespan and returns once the server accepts
    connections; `stop()` shuts it down, lifespans included, and joins its thread.
    Extra keyword arguments go to `uvicorn.Config`.
    """

    def __init__(
        self,
        mounts: Mapping[str, object] | Dispatcher,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
        **uvicorn_options: Any,
    ) -> None:
        try:
            import uvicorn
        except ImportError as exc:
            raise ImportError(
                "the live server needs uvicorn; install the extra: "
                "pip install 'pytest-asgi-dispatch[live]'"
            ) from exc
        self.dispatcher = as_dispatcher(mounts)
        self.host = host
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._config = uvicorn.Config(
            self.dispatcher,
            host=host,
            lifespan="off",  # we run the lifespans, to raise LifespanError naming the mount
            log_config=None,  # leave the test run's logging alone
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
            **uvicorn_options,
        )
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0
        self.url = ""

    def start(self) -> None:
        """Start serving; raise `LifespanError` naming the mount if an app fails to start."""
        if self._thread is not None:
            raise RuntimeError(f"the live server at {self.url} is running already")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, 0), family=family, backlog=128)
        self.port = int(self._socket.getsockname()[1])
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{host}:{self.port}"
        self._server = _uvicorn_server(self._config, self._ready.set)
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(self._server, self._socket),),
            name=f"pytest-asgi-dispatch live server {self.url}",
            daemon=True,  # a server that will not stop must not keep the process alive
        )
        self._thread.start()
        if not self._ready.wait(_bounded(self.startup_timeout)):
            self._server.should_exit = True
            self._join(_UVICORN_MARGIN)
            raise RuntimeError(
                f"the live server at {self.url} did not start within "
                f"{_bounded(self.startup_timeout)} s"
            )
        if self._error is not None:
            self._join(_bounded(self.shutdown_timeout))
            self._raise_error("start")

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            async with self.dispatcher.lifespans(
                startup_timeout=self.startup_timeout, shutdown_timeout=self.shutdown_timeout
            ):
                await server.serve(sockets=[sock])
        except BaseException as exc:  # kept for the test's thread: start() or stop() raise it
            self._error = exc
        finally:
            self._ready.set()
            sock.close()

    def stop(self) -> None:
        """Stop serving, shut the lifespans down and join the thread; the port is released."""
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        self._join(_bounded(self.shutdown_timeout))
        self._raise_error("stop")

    def _join(self, timeout: float | None) -> None:
        assert self._thread is not None
        assert self._socket is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(
                f"the live server at {self.url} did not stop within {timeout} s; "
                "does an app's shutdown or a request hang?"
            )
        self._thread = None
        self._socket.close()

    def _raise_error(self, during: str) -> None:
        error, self._error = self._error, None
        if error is None:
            return
        if isinstance(error, LifespanError):
            raise error
        raise RuntimeError(
            f"the live server at {self.url} failed to {during}: {type(error).__name__}: {error}"
        ) from error

    def url_for(self, mount: str) -> str:
        """The URL at which a browser reaches `mount`, a key of the mount table.

        A path mount is under the server's URL (`/billing` gives
        `http://127.0.0.1:PORT/billing/`); a host mount keeps its host name
        (`billing.test` gives `http://billing.test:PORT/`), which reaches the server
        through `chromium_args`. A mount of a nested table is named by joining the keys
        on the way to it: `/api/v1` for `{"/api": {"/v1": app}}`, `billing.test/v1` for
        `{"billing.test": {"/v1": app}}`.
        """
        if not self.port:
            raise RuntimeError(f"{self!r} is not running; start() it before asking for URLs")
        try:
            wanted = _parse_key(mount)
        except MountError as exc:
            raise MountError(f"url_for({mount!r}): {exc}") from None
        addresses = list(_addresses(self.dispatcher))
        if wanted not in addresses:
            known = ", ".join(repr(_describe(host, prefix)) for host, prefix in addresses)
            raise MountError(
                f"url_for({mount!r}): no such mount on the live server; its mounts are {known}"
            )
        host, prefix = wanted
        origin = self.url if host is None else f"http://{host}:{self.port}"
        return f"{origin}{prefix}/"

    @property
    def chromium_args(self) -> list[str]:
        """Chromium's launch arguments that send every host mount's name to this server.

        `--host-resolver-rules` maps each name (`MAP billing.test 127.0.0.1`) and nothing
        else: other names resolve as ever, and loopback names and IP addresses, which
        need no rule, are left alone. The URL's port is kept, so the rules do not depend
        on the port and a browser launched with them serves every test's server.
        """
        target = f"[{self.host}]" if ":" in self.host else self.host
        rules = [f"MAP {name} {target}" for name in _host_names(self.dispatcher)]
        return [f"--host-resolver-rules={', '.join(rules)}"] if rules else []

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LiveServer({self.url or 'not started'}, {self.dispatcher!r})"


def _addresses(
    dispatcher: Dispatcher, host: str | None = None, prefix: str = ""
) -> Iterator[tuple[str | None, str]]:
    """(host or None, path prefix) of every mount a request can reach, nested ones too."""
    for route in dispatcher.routes:
        if host is not None and route.host not in (None, host):
            continue  # a host mount inside another host's mount: no request reaches it
        address = (route.host or host, prefix + route.prefix)
        yield address
        if isinstance(route.app, Dispatcher):
            yield from _addresses(route.app, *address)


def _host_names(dispatcher: Dispatcher) -> list[str]:
    """The host names of the mounts that a browser must be told to resolve, in table order."""
    names = dict.fromkeys(host for host, _ in _addresses(dispatcher) if host is not None)
    return [name for name in names if not _resolves_by_itself(name)]


def _resolves_by_itself(host: str) -> bool:
    """An IP address, `localhost` or a `*.localhost` name: Chromium needs no rule for it."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _describe(host: str | None, prefix: str) -> str:
    return f"{host}{prefix}" if host else prefix or "/"


def _uvicorn_server(config: uvicorn.Config, on_started: Any) -> uvicorn.Server:
    """A uvicorn server that calls `on_started()` once it accepts connections."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            on_started()

    return Server(config)


def _bounded(timeout: float | None) -> float | None:
    """A wait for something bounded by `timeout` (None: no limit), plus uvicorn's margin."""
    return None if timeout is None else timeout + _UVICORN_MARGIN
