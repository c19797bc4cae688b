"""The traffic trace: every exchange the Dispatcher served, to filter, assert and show.

`Trace` is an observer of the Dispatcher (see `_observe`, where an exchange begins and
ends): `dispatch(..., trace=trace)` sets it for as long as the client is open. Each
exchange becomes a `Call`, appended as it begins (so `calls` is in order of start) and
completed as it ends. Recording costs a few microseconds a request, a few percent of the
client's own cost (benchmarks/bench.py). Calls may be recorded from any thread: the
event loop's, the test's (the sync client's inline path), an app's worker thread.

Who called is `_observe.current_caller` ("test", or the mount key of the app whose
outbound call it was), re-exported here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from . import _trace_render
from ._observe import current_caller
from ._types import Scope

__all__ = ["Call", "RecordedError", "Trace", "current_caller"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# A websocket's URL reads ws:// or wss://, whichever scheme its scope names.
_WEBSOCKET_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


class RecordedError(Exception):
    """An app's exception read back from a trace's JSON: its type's name and message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"RecordedError({self.type_name}: {self.args[0]!r})"


class Call:
    """One exchange: who called which mount, what was asked and how it was answered.

    `caller` is "test" or the mount key of the app whose outbound call it was; `mount`
    the key that served it (None: no route); `kind` "http" or "websocket" (whose
    `method` is the handshake's GET); `url` the full URL; `status` None if no response
    started (101 for an accepted websocket, 403 for one closed before it was accepted);
    `duration` in seconds, None while the exchange runs; `error` the app's exception,
    including one its framework handled with its own 500. `start` is when it began, in
    seconds since the trace was made.
    """

    __slots__ = (
        "_began",
        "_scope",
        "_url",
        "caller",
        "duration",
        "error",
        "kind",
        "method",
        "mount",
        "start",
        "status",
    )

    def __init__(
        self,
        caller: str,
        mount: str | None,
        kind: str,
        method: str,
        url: str,
        status: int | None = None,
        duration: float | None = None,
        error: BaseException | None = None,
        start: float = 0.0,
    ) -> None:
        self.caller = caller
        self.mount = mount
        self.kind = kind
        self.method = method
        self._url = url
        self.status = status
        self.duration = duration
        self.error = error
        self.start = start
        self._scope: Scope | None = None  # the URL's source until it is first read
        self._began = 0.0  # perf_counter() at the start

    @classmethod
    def beginning(cls, caller: str, mount: str | None, scope: Scope, start: float) -> Call:
        """A call starting now, from the scope the Dispatcher got; its URL is built when
        first read, which recording a call need not wait for."""
        kind = scope["type"]
        call = cls(caller, mount, kind, scope.get("method", "GET"), "", start=start)
        call._scope = scope  # a websocket's method: its handshake's GET
        return call

    @property
    def url(self) -> str:
        """The full URL: scheme, host (and port) as the client sent them, path, query."""
        scope = self._scope
        if scope is not None:
            self._url = _url_of(scope, self.kind)
            self._scope = None
        return self._url

    def __repr__(self) -> str:
        return (
            f"Call(caller={self.caller!r}, mount={self.mount!r}, kind={self.kind!r}, "
            f"method={self.method!r}, url={self.url!r}, status={self.status!r}, "
            f"duration={self.duration!r}, error={self.error!r}, start={self.start!r})"
        )

    @property
    def path(self) -> str:
        """The URL's path (percent-encoded as sent)."""
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    def end(self, error: BaseException | None) -> None:
        """The exchange is over (the observer hook calls this)."""
        self.duration = time.perf_counter() - self._began
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        error = self.error
        return {
            "caller": self.caller,
            "mount": self.mount,
            "kind": self.kind,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "start": self.start,
            "duration": self.duration,
            "error": None if error is None else {"type": error_type(error), "message": str(error)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Call:
        error = data.get("error")
        return cls(
            caller=data["caller"],
            mount=data["mount"],
            kind=data["kind"],
            method=data["method"],
            url=data["url"],
            status=data["status"],
            duration=data["duration"],
            error=None if error is None else RecordedError(error["type"], error["message"]),
            start=data.get("start", 0.0),
        )


def error_type(error: BaseException) -> str:
    """The name an exception's type reads by: its qualified name, and its module unless
    it is a builtin (`ValueError`, `django.http.Http404`)."""
    if isinstance(error, RecordedError):
        return error.type_name
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class Trace:
    """The exchanges a Dispatcher served, in order of start: `dispatch(..., trace=trace)`.

    Records the test's own requests (async and sync clients, websockets) and the calls
    between mounted apps. `calls` is a plain list; `filter()` and `assert_called()` find
    calls by mount, caller, method, path and status, `to_json()` and `to_mermaid()` show
    them. `*` is the one wildcard of the patterns.
    """

    def __init__(self, calls: Iterable[Call] = ()) -> None:
        self.calls: list[Call] = list(calls)
        self._origin = time.perf_counter()

    # The observer hook (see _observe).

    def begin(self, caller: str, mount: str | None, scope: Scope) -> Call:
        began = time.perf_counter()
        call = Call.beginning(caller, mount, scope, began - self._origin)
        call._began = began
        self.calls.append(call)  # atomic: calls may come from several threads at once
        return call

    # Reading it.

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self.calls))

    def __len__(self) -> int:
        return len(self.calls)

    def __repr__(self) -> str:
        return f"<Trace of {len(self.calls)} call{'' if len(self.calls) == 1 else 's'}>"

    def filter(
        self,
        *,
        mount: str | None = None,
        caller: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | Container[int] | None = None,
        kind: str | None = None,
    ) -> list[Call]:
        """The calls that match every criterion given; None matches anything.

        `mount` and `caller` are mount keys ("/billing", "billing.test", "test" for the
        test itself), a trailing slash ignored; `path` is matched against the URL's path,
        and against its path and query (`path?query`) when the pattern holds a `?`.
        In all three, `*` stands for any run of characters, `/` included: "/billing/*",
        "*/invoices/*", "/search?q=*". `method` ignores case; `status` is a status or a
        collection of them (`range(500, 600)`); `kind` is "http" or "websocket".
        """
        criteria = _Criteria.of(mount, caller, method, path, status, kind)
        return [call for call in list(self.calls) if not criteria.misses(call)]

    def assert_called(
        self,
        mount: str,
        method: str | None = None,
        path: str | None = None,
        *,
        status: int | Container[int] | None = None,
        times: int | None = None,
    ) -> list[Call]:
        """Assert that `mount` served a matching call (exactly `times` of them, if given).

        Returns the matching calls. The `AssertionError` says what was expected, lists
        every recorded call, aligned and numbered, and names the nearest match and
        where it differs.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        criteria = _Criteria.of(mount, None, method, path, status, None)
        calls = list(self.calls)
        found = [call for call in calls if not criteria.misses(call)]
        if (len(found) >= 1) if times is None else (len(found) == times):
            return found
        raise AssertionError(_trace_render.not_called_message(criteria, calls, found, times))

    def clear(self) -> None:
        """Forget every call recorded so far."""
        self.calls.clear()

    # Showing it.

    def to_json(self, *, indent: int | None = 2) -> str:
        """The calls as JSON: `{"calls": [{caller, mount, kind, method, url, status,
        start, duration, error: {type, message} or null}, ...]}`; `Trace.from_json`
        reads it back."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return {"calls": [call.to_dict() for call in list(self.calls)]}

    @classmethod
    def from_json(cls, text: str) -> Trace:
        """A trace from `to_json()`'s output; each error becomes a `RecordedError`."""
        return cls(Call.from_dict(call) for call in json.loads(text)["calls"])

    def to_mermaid(self) -> str:
        """A Mermaid `sequenceDiagram`: the test and each mount a participant, each call
        an arrow labelled with method and path, its answer one with status (crossed, and
        naming the exception, when the app raised)."""
        return _trace_render.mermaid(list(self.calls))

    def table(self) -> str:
        """The calls as an aligned text table, one line each (the report's section)."""
        return _trace_render.table(list(self.calls))


@dataclass(frozen=True)
class _Criteria:
    """What `filter()` and `assert_called()` look for, patterns compiled."""

    mount: re.Pattern[str] | None
    caller: re.Pattern[str] | None
    method: str | None
    path: re.Pattern[str] | None
    path_has_query: bool
    status: int | Container[int] | None
    kind: str | None
    described: dict[str, object]  # as given, for messages

    @classmethod
    def of(
        cls,
        mount: str | None,
        caller: str | None,
        method: str | None,
        path: str | None,
        status: int | Container[int] | None,
        kind: str | None,
    ) -> _Criteria:
        given: dict[str, object] = {"mount": mount, "caller": caller, "method": method}
        given.update(path=path, status=status, kind=kind)
        return cls(
            mount=None if mount is None else _pattern(_normal_key(mount)),
            caller=None if caller is None else _pattern(_normal_key(caller)),
            method=None if method is None else method.upper(),
            path=None if path is None else _pattern(path),
            path_has_query=path is not None and "?" in path,
            status=status,
            kind=kind,
            described={name: value for name, value in given.items() if value is not None},
        )

    def misses(self, call: Call) -> list[str]:
        """The criteria `call` fails, by name (empty: it matches)."""
        missed = []
        if self.mount is not None and not (
            call.mount is not None and self.mount.fullmatch(_normal_key(call.mount))
        ):
            missed.append("mount")
        if self.caller is not None and not self.caller.fullmatch(_normal_key(call.caller)):
            missed.append("caller")
        if self.method is not None and call.method.upper() != self.method:
            missed.append("method")
        if self.path is not None:
            subject = f"{call.path}?{call.query}" if self.path_has_query else call.path
            if not self.path.fullmatch(subject):
                missed.append("path")
        if self.status is not None and not _status_matches(self.status, call.status):
            missed.append("status")
        if self.kind is not None and call.kind != self.kind:
            missed.append("kind")
        return missed


def _status_matches(expected: int | Container[int], status: int | None) -> bool:
    if isinstance(expected, int):
        return status == expected
    return status is not None and status in expected


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    """`*` for any run of characters; everything else literal."""
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _normal_key(key: str) -> str:
    """A mount key as the Dispatcher reads it: "/billing/" is "/billing", "" is "/"."""
    if key.startswith("/") or not key:
        return key.rstrip("/") or "/"
    return key.rstrip("/")


def _url_of(scope: Scope, kind: str) -> str:
    scheme = scope.get("scheme") or "http"
    if kind == "websocket":
        scheme = _WEBSOCKET_SCHEMES.get(scheme, scheme)
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server")
        host = "" if not server else _host_of(server, scheme)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    url = f"{scheme}://{host}{path}"
    query = scope.get("query_string")
    return f"{url}?{query.decode('latin-1')}" if query else url


def _host_of(server: tuple[str, int | None], scheme: str) -> str:
    host, port = server
    return host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
