"""pytest-asgi-dispatch against what users would use instead, printed as a markdown table.

Run by hand, on a quiet machine:

    python benchmarks/bench.py            # the full run, a minute or two
    python benchmarks/bench.py --quick    # a smoke run of every case, a few seconds
    python benchmarks/bench.py --profile async   # pyinstrument profile of one case

Everything runs on loopback: the uvicorn servers are subprocesses on 127.0.0.1, on ports
the OS chose, polled until they answer 200 as a live-server fixture would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

with warnings.catch_warnings():  # Starlette 1.x would rather TestClient ran on httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `apps`, for this script and the uvicorn subprocesses

from apps import first, second, small, third, trivial  # noqa: E402

from pytest_asgi_dispatch import Dispatcher, Trace, dispatch, dispatch_sync  # noqa: E402
from pytest_asgi_dispatch._apps import WSGIAdapter  # noqa: E402
from pytest_asgi_dispatch._client import DEFAULT_BASE_URL  # noqa: E402
from pytest_asgi_dispatch._routing import _scope_for  # noqa: E402

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Settings:
    """Iteration counts: the full run, or a quick one that only checks every case works."""

    def __init__(self, quick: bool) -> None:
        scale = 20 if quick else 1
        # Many short rounds, the best taken: on a shared machine some rounds run unpreempted.
        self.raw_calls = 10_000 // scale  # per round, per table size
        self.raw_rounds = 3 if quick else 80
        self.requests = 500 // scale  # per round of the outbound comparison
        self.rounds = 3 if quick else 7
        # The clients over their floors: many short rounds, the best taken per client.
        self.client_requests = 100 // scale
        self.client_rounds = 3 if quick else 40
        self.trace_rounds = 4 if quick else 200  # pairs of 50 requests, without and with a trace
        # The sync client on Flask and Django: many short rounds, the best taken per client.
        self.framework_requests = 100 // scale
        self.framework_rounds = 3 if quick else 40
        self.plain_testclient_requests = 100 // scale  # a portal (thread) per request
        self.setup_rounds = 2 if quick else 5
        self.memory_requests = 10_000 // (scale if quick else 1)
        self.upload_chunks = 20 if quick else 200  # of 1 MB, in one sync upload


# Results: rows of the table.

Row = tuple[str, str, str, str, str, str]
rows: list[Row] = []
# The clients' decomposition: each client's time per request, and above its floor.
Layer = tuple[str, str, str, str]
layers: list[Layer] = []


def row(measure: str, ours: str, theirs: str, ratio: str, target: str, met: bool | None) -> None:
    verdict = "n/a" if met is None else ("**met**" if met else "**missed**")
    rows.append((measure, ours, theirs, ratio, target, verdict))
    print(f"  {measure}: ours {ours}, theirs {theirs}, {ratio} ({verdict})", file=sys.stderr)


# 1. The dispatcher's own cost, on a raw ASGI call.


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    pass


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 123),
        "server": ("testserver", 80),
    }


def _ns_per_call(app: Any, scope: dict[str, Any], calls: int) -> float:
    """Mean ns per call of `app`, driven without an event loop: it never suspends."""
    receive, send = _receive, _send
    start = time.perf_counter_ns()
    for _ in range(calls):
        coroutine = app(scope, receive, send)
        try:  # noqa: SIM105 (contextlib.suppress would cost more than the dispatcher)
            coroutine.send(None)
        except StopIteration:
            pass
    return (time.perf_counter_ns() - start) / calls


def bench_raw_dispatch(settings: Settings) -> None:
    sizes = (1, 10, 100, 1_000)
    dispatchers = {n: Dispatcher({f"/svc{i}": trivial for i in range(n)}) for n in sizes}
    scopes = {n: _scope(f"/svc{n // 2}/items/42") for n in sizes}
    for n in sizes:  # every table routes its scope to a mount, not to the 404
        assert dispatchers[n].route_for(scopes[n]) is not None
    direct: dict[int, list[float]] = {n: [] for n in sizes}
    dispatched: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(settings.raw_rounds):  # interleaved, so drift hits both alike
        for n in sizes:
            direct[n].append(_ns_per_call(trivial, scopes[n], settings.raw_calls))
            dispatched[n].append(_ns_per_call(dispatchers[n], scopes[n], settings.raw_calls))
    # The direct call is the same for every table: one baseline, the best of all rounds.
    baseline = min(min(times) for times in direct.values())
    added = {n: min(dispatched[n]) - baseline for n in sizes}
    for n in sizes:
        row(
            f"Dispatcher, raw ASGI call, {n:,} mount{'s' if n > 1 else ''}",
            f"{min(dispatched[n]) / 1000:.2f} µs",
            f"{baseline / 1000:.2f} µs (app called directly)",
            f"+{added[n] / 1000:.2f} µs ({min(dispatched[n]) / baseline:.1f}x the call)",
            "≤ 1 µs added",
            added[n] <= 1000,
        )
    growth = max(added.values()) / added[1] - 1
    row(
        "Dispatcher, growth of the added cost from 1 to 1,000 mounts",
        f"{growth:+.0%} at most",
        "",
        "",
        "≤ +10%",
        growth <= 0.10,
    )


# 2. Clients: requests per second, rounds interleaved, the median reported.


async def _requests_per_second(client: httpx.AsyncClient, url: str, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        response = await client.get(url)
        response.raise_for_status()
    return count / (time.perf_counter() - start)


def _sync_requests_per_second(get: Callable[[], httpx.Response], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        get().raise_for_status()
    return count / (time.perf_counter() - start)


def _compare(
    measure: str, ours: list[float], theirs: list[float], theirs_name: str, target: float
) -> None:
    ratio = statistics.median(ours) / statistics.median(theirs)
    row(
        measure,
        f"{statistics.median(ours):,.0f} req/s",
        f"{statistics.median(theirs):,.0f} req/s ({theirs_name})",
        f"{ratio:.2f}x",
        f"≥ {target:g}x",
        ratio >= target,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_200(url: str, deadline: float) -> None:
    """Poll `url` until it answers 200, as a live-server fixture has to."""
    while True:
        try:
            httpx.get(url, timeout=5).raise_for_status()
            return
        except httpx.ConnectError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.005)


@contextmanager
def uvicorn_servers(*apps: str) -> Iterator[list[str]]:
    """uvicorn subprocesses serving `apps` ("module:attribute"); yields their base URLs.

    Each gets a port the OS just handed out, by `--port` rather than a socket passed
    with `--fd`: uvicorn takes an inherited socket for a Unix socket, so asyncio never
    sets TCP_NODELAY on its connections and every response waits ~40 ms for Nagle.
    """
    ports = [_free_port() for _ in apps]
    processes = []
    try:
        for app, port in zip(apps, ports, strict=True):
            command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
            command += ["--app-dir", str(HERE), "--log-level", "warning", "--no-access-log"]
            processes.append(subprocess.Popen(command))
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


# The client libraries installed here: httpx always, httpx2 when it is (`pip install
# 'pytest-asgi-dispatch[httpx2]'`); each client is compared with its own library's.
LIBRARIES: dict[str, Any] = {"httpx": httpx}
with contextlib.suppress(ImportError):
    import httpx2

    LIBRARIES["httpx2"] = httpx2


def _prebuilt_transport(library: Any, sync: bool) -> Any:
    """`library`'s floor: a transport that runs no app and returns a prebuilt response,
    so a client over it costs only the client's own code (URL, headers, cookies, hooks)."""

    def response() -> Any:
        return library.Response(200, content=b"hello, world")

    if sync:

        class Prebuilt(library.BaseTransport):  # type: ignore[name-defined,misc]
            def handle_request(self, request: Any) -> Any:
                return response()

    else:

        class PrebuiltAsync(library.AsyncBaseTransport):  # type: ignore[name-defined,misc]
            async def handle_async_request(self, request: Any) -> Any:
                return response()

        return PrebuiltAsync()
    return Prebuilt()


async def _best_async_rates(clients: dict[str, Any], settings: Settings) -> dict[str, float]:
    """Requests per second of each client: the best of many short rounds, the clients
    interleaved round by round, since on a shared machine some rounds run unpreempted."""
    for client in clients.values():  # warm up, and check the answer
        assert (await client.get("/hello")).text == "hello, world"
    best = dict.fromkeys(clients, 0.0)
    for _ in range(settings.client_rounds):
        for name, client in clients.items():
            rate = await _requests_per_second(client, "/hello", settings.client_requests)
            best[name] = max(best[name], rate)
    return best


def _layer(name: str, rate: float, floor: float | None) -> None:
    """One line of the decomposition: a client's cost per request, and above its floor."""
    above = "" if floor is None else f"+{1e6 / rate - 1e6 / floor:,.1f} µs"
    layers.append((name, f"{1e6 / rate:,.1f} µs", above, f"{rate:,.0f} req/s"))
    print(f"  {name}: {1e6 / rate:,.1f} µs {above}", file=sys.stderr)


async def _bench_async_clients(settings: Settings) -> None:
    with uvicorn_servers("apps:small") as (server,):
        _wait_for_200(f"{server}/hello", time.perf_counter() + 30)
        async with contextlib.AsyncExitStack() as stack:
            clients: dict[str, Any] = {}
            for name, library in LIBRARIES.items():
                clients[f"{name} floor"] = await stack.enter_async_context(
                    library.AsyncClient(
                        transport=_prebuilt_transport(library, sync=False),
                        base_url=DEFAULT_BASE_URL,
                    )
                )
                clients[f"{name} ASGITransport"] = await stack.enter_async_context(
                    library.AsyncClient(
                        transport=library.ASGITransport(small), base_url=DEFAULT_BASE_URL
                    )
                )
                clients[f"ours on {name}"] = await stack.enter_async_context(
                    dispatch({"/": small}, http_client=name)
                )
            clients["uvicorn"] = await stack.enter_async_context(httpx.AsyncClient(base_url=server))
            rates = await _best_async_rates(clients, settings)
    for name in LIBRARIES:
        floor = rates[f"{name} floor"]
        _layer(
            f"{name} `AsyncClient` floor: a transport returning a prebuilt response", floor, None
        )
        _layer(f"{name} `ASGITransport`", rates[f"{name} ASGITransport"], floor)
        _layer(f"`dispatch()` on {name}", rates[f"ours on {name}"], floor)
    _layer(
        "uvicorn on loopback, keep-alive httpx `AsyncClient` (reference)",
        rates["uvicorn"],
        rates["httpx floor"],
    )
    for name in LIBRARIES:
        ours, theirs = rates[f"ours on {name}"], rates[f"{name} ASGITransport"]
        row(
            f"`dispatch()` on {name} vs {name} `ASGITransport` on the bare app",
            _rate(ours),
            f"{_rate(theirs)} (`ASGITransport`)",
            f"{ours / theirs:.2f}x ({1e6 / ours - 1e6 / theirs:+,.1f} µs)",
            "≥ 1x",
            ours >= theirs,
        )
    ours = rates["ours on httpx"]
    row(
        "`dispatch()` on httpx vs uvicorn on loopback, keep-alive httpx client",
        _rate(ours),
        f"{_rate(rates['uvicorn'])} (uvicorn subprocess)",
        f"{ours / rates['uvicorn']:.2f}x",
        "(reference)",
        None,
    )


def bench_async_clients(settings: Settings) -> None:
    asyncio.run(_bench_async_clients(settings))


def bench_sync_clients(settings: Settings) -> None:
    """The sync clients over their floors: Starlette's `TestClient` (on httpx2 when it is
    installed, as ours is by default), and ours on each library."""
    with contextlib.ExitStack() as stack:
        gets: dict[str, Callable[[], Any]] = {}
        for name, library in LIBRARIES.items():
            floor = stack.enter_context(
                library.Client(
                    transport=_prebuilt_transport(library, sync=True), base_url=DEFAULT_BASE_URL
                )
            )
            gets[f"{name} floor"] = functools.partial(floor.get, "/hello")
            ours = stack.enter_context(dispatch_sync({"/": small}, http_client=name))
            gets[f"ours on {name}"] = functools.partial(ours.get, "/hello")
        within = stack.enter_context(TestClient(small))
        gets["TestClient"] = functools.partial(within.get, "/hello")
        plain = TestClient(small)  # no `with`: an event loop thread for every request
        for get in (*gets.values(), functools.partial(plain.get, "/hello")):
            assert get().text == "hello, world"
        best = dict.fromkeys(gets, 0.0)
        best_plain = 0.0
        for _ in range(settings.client_rounds):  # interleaved; the best round of each
            for name, get in gets.items():
                best[name] = max(best[name], _ok_per_second(get, settings.client_requests))
            best_plain = max(
                best_plain,
                _ok_per_second(
                    functools.partial(plain.get, "/hello"), settings.plain_testclient_requests
                ),
            )
    testclient_library = next(
        name for name, library in LIBRARIES.items() if isinstance(within, library.Client)
    )
    for name in LIBRARIES:
        _layer(
            f"{name} `Client` floor: a transport returning a prebuilt response",
            best[f"{name} floor"],
            None,
        )
        _layer(f"`dispatch_sync()` on {name}", best[f"ours on {name}"], best[f"{name} floor"])
    floor = best[f"{testclient_library} floor"]
    _layer(
        f"Starlette `TestClient`, in `with` (on {testclient_library})", best["TestClient"], floor
    )
    _layer(f"Starlette `TestClient`, no `with` (on {testclient_library})", best_plain, floor)
    ours = best[f"ours on {testclient_library}"]
    for theirs, what in (
        (best["TestClient"], "`with TestClient(app) as client`"),
        (best_plain, "plain `TestClient(app)`"),
    ):
        row(
            f"`dispatch_sync()` vs {what}, both on {testclient_library}",
            _rate(ours),
            _rate(theirs),
            f"{ours / theirs:.2f}x",
            "≥ 3x",
            ours / theirs >= 3.0,
        )


# 2b. The sync client on Flask and Django, which run on the test's thread.


class _CannedResponse(httpx.BaseTransport):
    """httpx's floor: a transport that answers at once and runs no app at all."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"hello, world")


def _ok_per_second(get: Callable[[], Any], count: int) -> float:
    """Requests per second of `get()`, each checked for a 200 (any framework's response)."""
    start = time.perf_counter()
    for _ in range(count):
        if get().status_code != 200:
            raise AssertionError("the hello view did not answer 200")
    return count / (time.perf_counter() - start)


def _rate(rate: float) -> str:
    return f"{rate:,.0f} req/s ({1e6 / rate:,.0f} µs)"


def bench_sync_frameworks(settings: Settings) -> None:
    import django.test
    from frameworks import HELLO, django_handlers, flask_app

    django_asgi, django_wsgi = django_handlers()
    mounts = {"Flask": flask_app, "Django ASGI": django_asgi, "Django WSGI": django_wsgi}
    wsgi_of = {"Flask": flask_app, "Django ASGI": django_wsgi, "Django WSGI": django_wsgi}
    own_clients = {
        "Flask": ("Flask's `app.test_client()`", flask_app.test_client()),
        "Django": ("`django.test.Client`", django.test.Client()),
    }
    with contextlib.ExitStack() as stack:
        gets: dict[str, Callable[[], Any]] = {}
        floor = stack.enter_context(httpx.Client(transport=_CannedResponse()))
        gets["floor"] = lambda: floor.get("http://testserver/hello")
        for name, app in mounts.items():
            ours = stack.enter_context(dispatch_sync({"/": app}))
            wsgi = stack.enter_context(
                httpx.Client(
                    transport=httpx.WSGITransport(wsgi_of[name]), base_url="http://testserver"
                )
            )
            gets[f"ours on {name}"] = functools.partial(ours.get, "/hello")
            gets[f"{name} WSGITransport"] = functools.partial(wsgi.get, "/hello")
        for name, (_, client) in own_clients.items():
            gets[name] = functools.partial(client.get, "/hello")
        for get in gets.values():  # warm up, and check the answer
            response = get()
            body = response.data if hasattr(response, "data") else response.content  # Werkzeug's
            assert body == HELLO.encode(), body
        best = dict.fromkeys(gets, 0.0)
        # Interleaved, so drift hits all alike; the best round of each, since on a shared
        # machine some rounds run unpreempted.
        for _ in range(settings.framework_rounds):
            for name, get in gets.items():
                best[name] = max(best[name], _ok_per_second(get, settings.framework_requests))
    for name in mounts:
        ours, wsgi = best[f"ours on {name}"], best[f"{name} WSGITransport"]
        framework = name.split()[0]
        own_name, _ = own_clients[framework]
        row(
            f"`dispatch_sync()` on {name} vs httpx `WSGITransport`",
            _rate(ours),
            f"{_rate(wsgi)} (`WSGITransport` on the {framework} WSGI app)",
            f"{ours / wsgi:.2f}x",
            "≥ 0.9x",
            ours / wsgi >= 0.9,
        )
        row(
            f"`dispatch_sync()` on {name} vs {own_name} (reference)",
            _rate(ours),
            f"{_rate(best[framework])} ({own_name})",
            f"{ours / best[framework]:.2f}x",
            "(reference)",
            None,
        )
    row(
        "httpx `Client` floor: a transport returning a canned response",
        "",
        _rate(best["floor"]),
        "",
        "(floor)",
        None,
    )


async def _bench_async_frameworks(settings: Settings) -> None:
    from frameworks import django_handlers, flask_app

    django_asgi, _ = django_handlers()
    # What a user of httpx's transport would mount: Flask through the same WSGI adapter
    # (a2wsgi, which `dispatch()` wraps it in), Django's ASGI handler as it is.
    bare = {"Flask": WSGIAdapter(flask_app, "/"), "Django ASGI": django_asgi}
    mounted = {"Flask": flask_app, "Django ASGI": django_asgi}
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, Any] = {}
        for name in bare:
            clients[f"ours on {name}"] = await stack.enter_async_context(
                dispatch({"/": mounted[name]}, http_client="httpx")
            )
            clients[f"{name} ASGITransport"] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(bare[name]), base_url=DEFAULT_BASE_URL
                )
            )
        rates = await _best_async_rates(clients, settings)
    for name, adapter in (("Flask", "through `WSGIAdapter` (a2wsgi)"), ("Django ASGI", "as is")):
        ours, theirs = rates[f"ours on {name}"], rates[f"{name} ASGITransport"]
        row(
            f"`dispatch()` on {name} vs httpx `ASGITransport`, the app {adapter}",
            _rate(ours),
            f"{_rate(theirs)} (`ASGITransport`)",
            f"{ours / theirs:.2f}x ({1e6 / ours - 1e6 / theirs:+,.1f} µs)",
            "≥ 1x",
            ours >= theirs,
        )


def bench_async_frameworks(settings: Settings) -> None:
    asyncio.run(_bench_async_frameworks(settings))


# 2c. The traffic trace: what recording costs, and what the hook costs with no trace set.


# Calls a trace holds at most in the raw measure: as many as a busy test makes. Kept in
# the tens of thousands, they would measure the garbage collector's walks over them.
_CALLS_PER_TEST = 500


class _DispatcherBeforeTheHook(Dispatcher):
    """`Dispatcher.__call__` as it was before the observer hook (437c170^): the baseline
    for the hook's cost when no trace is set."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        route = self.route_for(scope)
        if route is None:
            await self._not_found(scope, receive, send)
            return
        await route.app(_scope_for(route, scope), receive, send)


async def _cpu_per_request(client: httpx.AsyncClient, url: str, count: int) -> float:
    """CPU seconds per request: the client, the transport and the app share this thread,
    and CPU time leaves out the waits for a core on a busy machine, which wall time counts."""
    start = time.process_time()
    for _ in range(count):
        (await client.get(url)).raise_for_status()
    return (time.process_time() - start) / count


async def _bench_trace_async(settings: Settings) -> tuple[float, float]:
    """Median CPU time per request without and with a trace, over many short rounds in
    pairs, each pair's order swapped from the last: a few-percent difference needs both
    to meet the same moments of a busy machine."""
    n = 50
    trace = Trace()
    async with dispatch({"/": small}) as plain, dispatch({"/": small}, trace=trace) as traced:
        for client in (plain, traced):  # warm up
            assert (await client.get("/hello")).text == "hello, world"
        costs: dict[httpx.AsyncClient, list[float]] = {plain: [], traced: []}
        for round_ in range(settings.trace_rounds):
            trace.clear()  # the list stays short, as a test's does
            for client in (plain, traced) if round_ % 2 else (traced, plain):
                costs[client].append(await _cpu_per_request(client, "/hello", n))
    return statistics.median(costs[plain]), statistics.median(costs[traced])


def bench_trace(settings: Settings) -> None:
    plain, traced = asyncio.run(_bench_trace_async(settings))
    row(
        "Trace: `dispatch()` client, each request recorded, vs no trace (CPU time)",
        f"{traced * 1e6:.1f} µs per request",
        f"{plain * 1e6:.1f} µs (no trace)",
        f"+{(traced / plain - 1) * 100:.1f}% (+{(traced - plain) * 1e6:.1f} µs)",
        "≤ +5%",
        traced / plain <= 1.05,
    )
    rounds, calls = settings.raw_rounds, settings.raw_calls
    scope = _scope("/svc/items/42")
    before = _DispatcherBeforeTheHook({"/svc": trivial})
    unobserved = Dispatcher({"/svc": trivial})
    observed = Dispatcher({"/svc": trivial})
    times: dict[str, list[float]] = {"before": [], "unobserved": [], "observed": []}
    for _ in range(rounds):  # interleaved, so drift hits all alike
        times["before"].append(_ns_per_call(before, scope, calls))
        times["unobserved"].append(_ns_per_call(unobserved, scope, calls))
        for _ in range(calls // _CALLS_PER_TEST):
            observed.observer = Trace()  # a test's own: a few hundred calls, not thousands
            times["observed"].append(_ns_per_call(observed, scope, _CALLS_PER_TEST))
    best = {name: min(values) for name, values in times.items()}
    row(
        "Trace hook, no trace set: raw Dispatcher call vs the Dispatcher before the hook",
        f"{best['unobserved'] / 1000:.3f} µs",
        f"{best['before'] / 1000:.3f} µs (before the hook)",
        f"{best['unobserved'] - best['before']:+.0f} ns",
        "≤ +20 ns",
        best["unobserved"] - best["before"] <= 20,
    )
    row(
        "Trace: raw Dispatcher call, recorded",
        f"{best['observed'] / 1000:.2f} µs",
        f"{best['unobserved'] / 1000:.2f} µs (no trace)",
        f"+{(best['observed'] - best['unobserved']) / 1000:.2f} µs per request",
        "",
        None,
    )


# 2c. Outbound: one app calling another over HTTP, in-process vs a uvicorn server.


def _calling(target: str) -> Any:
    """A Starlette app whose `/call` asks `target`'s `/hello` with one keep-alive
    `httpx.AsyncClient`, as a service calls another; `/local` answers without calling."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    client = httpx.AsyncClient()

    async def call(request: Any) -> PlainTextResponse:
        answer = await client.get(f"{target}/hello")
        return PlainTextResponse(answer.text)

    async def local(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello, world")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with client:
            yield

    return Starlette(routes=[Route("/call", call), Route("/local", local)], lifespan=lifespan)


async def _bench_outbound_async(settings: Settings) -> dict[str, list[float]]:
    n = settings.requests
    rates: dict[str, list[float]] = {"ours": [], "live": [], "local": []}
    with uvicorn_servers("apps:small") as (server,):
        _wait_for_200(f"{server}/hello", time.perf_counter() + 30)
        in_process = {"/": _calling("http://target.internal"), "target.internal": small}
        async with (
            dispatch(in_process, outbound="mounted") as ours,
            dispatch({"/": _calling(server)}) as live,
        ):
            for client in (ours, live):  # warm up, and check the answer
                assert (await client.get("/call")).text == "hello, world"
            for _ in range(settings.rounds):  # interleaved, so drift hits all alike
                rates["ours"].append(await _requests_per_second(ours, "/call", n))
                rates["live"].append(await _requests_per_second(live, "/call", n))
                rates["local"].append(await _requests_per_second(ours, "/local", n))
    return rates


def bench_outbound(settings: Settings) -> None:
    rates = asyncio.run(_bench_outbound_async(settings))
    _compare(
        "Outbound: an app's `httpx.AsyncClient` call to a mounted app vs to uvicorn on loopback",
        rates["ours"],
        rates["live"],
        "target on uvicorn, keep-alive",
        3.0,
    )
    # What the outbound call adds to the test's request, against that request alone.
    calling, local = 1e6 / statistics.median(rates["ours"]), 1e6 / statistics.median(rates["local"])
    row(
        "Outbound call's own cost vs the test's own in-process request",
        f"+{calling - local:,.0f} µs per call",
        f"{local:,.0f} µs (the test's request, no call)",
        f"{(calling - local) / local:.2f}x",
        "≈ 1x",
        None,
    )


# 3. Setup: three apps with lifespans up and answering.

THREE = {"/first": first, "/second": second, "/third": third}


async def _dispatch_setup() -> float:
    start = time.perf_counter()
    async with dispatch(THREE) as client:
        elapsed = time.perf_counter() - start
        assert (await client.get("/third/whoami")).text == "third"
    return elapsed


def _uvicorn_setup() -> float:
    start = time.perf_counter()
    with uvicorn_servers("apps:first", "apps:second", "apps:third") as urls:
        for url, name in zip(urls, ("first", "second", "third"), strict=True):
            _wait_for_200(f"{url}/whoami", start + 30)
            assert httpx.get(f"{url}/whoami").text == name
        elapsed = time.perf_counter() - start
    return elapsed


def bench_setup(settings: Settings) -> None:
    ours = [asyncio.run(_dispatch_setup()) for _ in range(settings.setup_rounds * 4)]
    sync_ours = []
    for _ in range(settings.setup_rounds * 4):
        start = time.perf_counter()
        with dispatch_sync(THREE) as client:
            sync_ours.append(time.perf_counter() - start)
            assert client.get("/first/whoami").text == "first"
    theirs = [_uvicorn_setup() for _ in range(settings.setup_rounds)]
    for name, values in (("`dispatch()`", ours), ("`dispatch_sync()`", sync_ours)):
        ratio = statistics.median(theirs) / statistics.median(values)
        row(
            f"Setup of three apps with lifespans: {name} enter",
            f"{statistics.median(values) * 1000:.2f} ms",
            f"{statistics.median(theirs) * 1000:.0f} ms (3 uvicorn processes to first 200)",
            f"{ratio:,.0f}x faster",
            "(no target)",
            None,
        )


# 4. Memory: resident set growth over many requests on one client.


def _rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


async def _async_memory(count: int) -> int:
    async with dispatch({"/": small}) as client:
        for _ in range(200):  # warm up: caches, the first allocations of each kind
            await client.get("/hello")
        before = _rss()
        for _ in range(count):
            (await client.get("/hello")).raise_for_status()
        return _rss() - before


def _sync_memory(count: int) -> int:
    with dispatch_sync({"/": small}) as client:
        for _ in range(200):
            client.get("/hello")
        before = _rss()
        for _ in range(count):
            client.get("/hello").raise_for_status()
        return _rss() - before


def bench_memory(settings: Settings) -> None:
    count = settings.memory_requests
    for name, growth in (
        ("`dispatch()`", asyncio.run(_async_memory(count))),
        ("`dispatch_sync()`", _sync_memory(count)),
    ):
        row(
            f"Resident memory growth, {count:,} requests on one {name} client",
            f"{growth / 2**20:+.2f} MB ({growth // 1024:+,} KiB)",
            "",
            "",
            "< 5 MB",
            growth < 5 * 2**20,
        )


def _resident() -> int:
    """Resident set size now, without the garbage collection `_rss` runs first."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def bench_upload_memory(settings: Settings) -> None:
    """A generator upload of `upload_chunks` x 1 MB through the sync client: its peak
    resident growth, sampled by the app at every chunk it receives, and how many
    chunks the generator had produced when the app received the first."""
    chunks = settings.upload_chunks
    produced = 0
    produced_at_first_chunk: int | None = None
    peak = 0

    async def sink(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal produced_at_first_chunk, peak
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            if produced_at_first_chunk is None and message.get("body"):
                produced_at_first_chunk = produced
            peak = max(peak, _resident())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def body() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(chunks):
            produced += 1
            yield b"x" * 2**20  # a fresh chunk each time, as reading a file gives

    with dispatch_sync({"/": sink}) as client:
        client.get("/").raise_for_status()  # warm up: no body, so nothing is counted
        before = _rss()
        client.post("/", content=body()).raise_for_status()
    growth = peak - before
    row(
        f"Resident memory growth (peak), a {chunks} MB generator upload "
        "on the `dispatch_sync()` client",
        f"{growth / 2**20:+.1f} MB",
        "",
        f"app's first chunk after {produced_at_first_chunk} of {chunks} produced",
        "< 20 MB",
        growth < 20 * 2**20,
    )


# The machine, and the table.


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = [
        "pytest-asgi-dispatch",
        "httpx",
        *(["httpx2"] if "httpx2" in LIBRARIES else []),
        "anyio",
        "starlette",
        "uvicorn",
        "h11",
        "asgi-lifespan",
    ]
    return [
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}, {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} available to this process)",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        "- Packages: " + ", ".join(f"{name} {version(name)}" for name in packages),
        "- uvicorn: default settings (`--loop auto --http auto`: asyncio and h11 here, "
        "uvloop and httptools are not installed), one worker, access log off",
    ]


def table() -> list[str]:
    header: Row = ("Measure", "pytest-asgi-dispatch", "Alternative", "Ratio", "Target", "Verdict")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def layers_table() -> list[str]:
    header = ("Client over its transport", "Per request", "Above its floor", "Rate")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in layers]
    return lines


# The cases that load Django and Flask come last: once they are loaded, every request of
# the process costs more (a bigger heap for the collector, a record of Django's renders
# per request: the trace's baseline measured 128.8 µs after them, 120.5 µs alone), which
# the Starlette-only cases are not meant to measure.
CASES: dict[str, Callable[[Settings], None]] = {
    "raw": bench_raw_dispatch,
    "async": bench_async_clients,
    "sync": bench_sync_clients,
    "trace": bench_trace,
    "outbound": bench_outbound,
    "setup": bench_setup,
    "memory": bench_memory,
    "upload": bench_upload_memory,
    "sync-frameworks": bench_sync_frameworks,
    "async-frameworks": bench_async_frameworks,
}


def profile(case: str, settings: Settings) -> None:
    """Profile one case with pyinstrument, our client only, and print where time goes."""
    from pyinstrument import Profiler

    async def async_ours() -> None:
        async with dispatch({"/": small}) as client:
            await _requests_per_second(client, "/hello", settings.requests * 5)

    def sync_ours() -> None:
        with dispatch_sync({"/": small}) as client:
            _sync_requests_per_second(lambda: client.get("/hello"), settings.requests * 5)

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    with profiler:
        if case == "async":
            asyncio.run(async_ours())
        elif case == "sync":
            sync_ours()
        else:
            CASES[case](settings)
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run")
    parser.add_argument("--only", choices=sorted(CASES), action="append", help="run only these")
    parser.add_argument("--profile", choices=sorted(CASES), help="profile one case instead")
    args = parser.parse_args()
    settings = Settings(args.quick)
    # Killed, still stop the uvicorn subprocesses (the `finally` of uvicorn_servers).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.profile:
        profile(args.profile, settings)
        return
    load_before = os.getloadavg()
    started = time.perf_counter()
    for name, case in CASES.items():
        if not args.only or name in args.only:
            print(f"{name} ...", file=sys.stderr)
            case(settings)
    load_after = os.getloadavg()
    print("\n".join(machine()))
    print(
        f"- Load average (1 min) before and after: {load_before[0]:.2f}, {load_after[0]:.2f}; "
        f"run took {time.perf_counter() - started:.0f} s"
    )
    if layers:
        print()
        print("\n".join(layers_table()))
    print()
    print("\n".join(table()))


if __name__ == "__main__":
    main()
