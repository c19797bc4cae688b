"""Property tests: the Dispatcher routes exactly as a simple reference model does.

The model is the contract written out naively: a host mount for the request's host
beats any path-only mount; among the candidates the longest prefix that matches on a
segment boundary wins; the root mount ("") matches everything. Mount tables and paths
are drawn from a small alphabet so that prefixes overlap, with dot segments, empty
segments, percent signs, unicode and trailing slashes.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_asgi_dispatch import Dispatcher, MountError, dispatch

Scope = dict[str, Any]
Route = tuple[str | None, str]  # (host or None, normalised prefix)

SEGMENTS = ["a", "b", "ab", "a.b", "é", "日本", "%41", "%2F", "a b", ".", "..", "", "~x"]
KEY_SEGMENTS = [s for s in SEGMENTS if s and s not in (".", "..") and " " not in s]
HOSTS = ["api.test", "billing.test", "b.test"]

# Modest, so that the file runs in seconds on CI; the model test gets the most.
MODEL = settings(max_examples=200, deadline=None)
PROPERTIES = settings(max_examples=60, deadline=None)
# A dispatch() per example on each anyio backend (the backend fixture is not reset).
CALLS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def mount_keys(draw: st.DrawFn) -> str:
    """A mount key: optional host (any case, maybe a port), path prefix, maybe a slash."""
    host = draw(st.none() | st.sampled_from(HOSTS))
    segments = draw(st.lists(st.sampled_from(KEY_SEGMENTS), max_size=3))
    path = "".join(f"/{segment}" for segment in segments)
    if draw(st.booleans()):
        path += "/"
    if host is None:
        return path or draw(st.sampled_from(["/", ""]))
    return draw(st.sampled_from([host, host.upper()])) + path


@st.composite
def mount_tables(draw: st.DrawFn) -> list[str]:
    """Keys that normalise to distinct routes (duplicates are a MountError, tested below)."""
    keys = draw(st.lists(mount_keys(), max_size=8))
    unique: dict[Route, str] = {}
    for key in keys:
        unique.setdefault(normalise(key), key)
    return list(unique.values())


paths = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(st.sampled_from(SEGMENTS), max_size=5),
    st.booleans(),
)
request_hosts = st.sampled_from([*HOSTS, "API.TEST:8080", "billing.test:443", "other.test"])


def normalise(key: str) -> Route:
    if key.startswith("/") or not key:
        return None, key.rstrip("/")
    host, slash, path = key.partition("/")
    return host.lower(), (slash + path).rstrip("/")


def prefix_matches(prefix: str, path: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def reference_route(keys: list[str], host: str, path: str) -> Route | None:
    """The contract, naively: host mounts first, then the longest matching prefix."""
    host = host.lower().partition(":")[0]
    routes = [normalise(key) for key in keys]
    for candidates in (
        [r for r in routes if r[0] == host],
        [r for r in routes if r[0] is None],
    ):
        matching = [r for r in candidates if prefix_matches(r[1], path)]
        if matching:
            return max(matching, key=lambda r: len(r[1]))
    return None


def echo(key: str) -> Any:
    """An app that answers with the key it is mounted at and the path and root_path it saw."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen = {"key": key, "path": scope["path"], "root_path": scope["root_path"]}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(seen).encode()})

    return app


def scope_for(host: str, path: str, root_path: str = "") -> Scope:
    return {
        "type": "http",
        "path": path,
        "root_path": root_path,
        "headers": [(b"host", host.encode())],
        "server": ("testserver", 80),
    }


@MODEL
@given(keys=mount_tables(), host=request_hosts, some_paths=st.lists(paths, min_size=1, max_size=4))
def test_route_for_equals_the_reference_model(
    keys: list[str], host: str, some_paths: list[str]
) -> None:
    dispatcher = Dispatcher({key: echo(key) for key in keys})

    # Twice over: the second time the dispatcher answers from the routes it remembers.
    found = [dispatcher.route_for(scope_for(host, path)) for path in some_paths * 2]

    expected = [reference_route(keys, host, path) for path in some_paths * 2]
    assert [None if r is None else (r.host, r.prefix) for r in found] == expected


@PROPERTIES
@given(keys=mount_tables(), host=request_hosts, path=paths, root=st.sampled_from(["/x", "/x/y"]))
def test_route_for_looks_only_below_the_servers_root_path(
    keys: list[str], host: str, path: str, root: str
) -> None:
    dispatcher = Dispatcher({key: echo(key) for key in keys})

    below = dispatcher.route_for(scope_for(host, root + path, root_path=root))

    assert below is dispatcher.route_for(scope_for(host, path))


@PROPERTIES
@given(keys=st.lists(mount_keys(), min_size=2, max_size=6, unique=True))
def test_keys_that_normalise_alike_are_a_mount_error_naming_the_key(keys: list[str]) -> None:
    mounts = {key: echo(key) for key in keys}

    if len({normalise(key) for key in keys}) == len(keys):
        Dispatcher(mounts)
        return
    with pytest.raises(MountError) as error:
        Dispatcher(mounts)
    assert any(repr(key) in str(error.value) for key in keys)


@pytest.mark.anyio
@CALLS
@given(keys=mount_tables(), host=request_hosts, path=paths)
async def test_a_real_call_reaches_the_models_app_with_its_prefix_in_root_path(
    keys: list[str], host: str, path: str
) -> None:
    """Through the client: httpx normalises the URL (dot segments, percent-encoding) first."""
    mounts = {key: echo(key) for key in keys}
    with anyio.fail_after(5):
        async with dispatch(mounts, base_url=f"http://{host}") as client:
            # Absolute: httpx refuses a relative URL whose path starts with "//".
            request = client.build_request("GET", f"http://{host}{path}")
            response = await client.send(request)
    sent_path = request.url.path
    expected = reference_route(keys, host, sent_path)

    if expected is None:
        assert response.status_code == 404
        return
    seen = response.json()
    assert normalise(seen["key"]) == expected
    assert seen["path"] == sent_path
    assert seen["root_path"] == expected[1]
