"""The mount table and the Dispatcher: which app a request reaches, and what it sees."""

from __future__ import annotations

import copy
import json
from typing import Any

import anyio
import pytest
from litestar import Litestar, get

from pytest_asgi_dispatch import Dispatcher, MountError, dispatch

Scope = dict[str, Any]
Message = dict[str, Any]


def echo(name: str) -> Any:
    """A raw ASGI app answering with its name and the path and root_path it was given."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan support: the dispatcher skips it
        body = json.dumps(
            {"app": name, "path": scope["path"], "root_path": scope["root_path"]}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def where(mounts: Any, url: str) -> dict[str, str]:
    """The echo of the app that `url` reaches through `mounts`."""
    async with dispatch(mounts) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


async def call(app: Any, scope: Scope, *incoming: Message) -> list[Message]:
    """Call an ASGI app directly with `scope`; return what it sent."""
    pending = list(incoming)
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


def http_scope(path: str, *, root_path: str = "", host: str = "testserver") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [(b"host", host.encode())],
        "client": ("127.0.0.1", 123),
        "server": (host, 80),
    }


# Werkzeug's own DispatcherMiddleware cases.


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "mount"),
    [
        ("/test1", "/test1"),
        ("/test1/asfd", "/test1"),
        ("/test1/very", "/test1"),
        ("/test2/very", "/test2/very"),
        ("/test2/very/long/path/after/script/name", "/test2/very"),
    ],
)
async def test_werkzeug_dispatcher_cases_reach_their_mount(url: str, mount: str) -> None:
    mounts = {"/test1": echo("/test1"), "/test2/very": echo("/test2/very")}

    seen = await where(mounts, url)

    assert seen == {"app": mount, "path": url, "root_path": mount}


@pytest.mark.anyio
async def test_unmatched_path_is_a_plain_text_404_listing_the_routes() -> None:
    mounts = {"/test1": echo("/test1"), "/test2/very": echo("/test2/very")}

    async with dispatch(mounts) as client:
        response = await client.get("/missing")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    assert "/missing" in response.text
    assert "/test1" in response.text
    assert "/test2/very" in response.text


# Prefixes.


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["/billingx", "/billingx/invoices", "/billin"])
async def test_prefix_matches_only_at_segment_boundary(url: str) -> None:
    mounts = {"/billing": echo("billing"), "/": echo("root")}

    seen = await where(mounts, url)

    assert seen["app"] == "root"


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["/billing", "/billing/", "/billing/invoices/1"])
async def test_prefix_matches_itself_and_paths_below_it(url: str) -> None:
    mounts = {"/billing": echo("billing"), "/": echo("root")}

    seen = await where(mounts, url)

    assert seen["app"] == "billing"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "app"),
    [
        ("/api", "api"),
        ("/api/v1x", "api"),
        ("/api/v1", "v1"),
        ("/api/v1/users", "v1"),
        ("/api/v1/users/admin", "admin"),
    ],
)
async def test_longest_matching_prefix_wins(url: str, app: str) -> None:
    # Declared shortest last, so that table order cannot be what decides.
    mounts = {
        "/api/v1/users/admin": echo("admin"),
        "/api/v1": echo("v1"),
        "/api": echo("api"),
    }

    seen = await where(mounts, url)

    assert seen["app"] == app


@pytest.mark.anyio
@pytest.mark.parametrize("root_key", ["/", ""])
async def test_root_mount_serves_every_path_no_prefix_matches(root_key: str) -> None:
    mounts = {root_key: echo("root"), "/billing": echo("billing")}

    seen = await where(mounts, "/shop/cart")

    assert seen == {"app": "root", "path": "/shop/cart", "root_path": ""}


@pytest.mark.anyio
async def test_trailing_slash_on_a_key_is_ignored() -> None:
    mounts = {"/billing/": echo("billing"), "/": echo("root")}

    seen = await where(mounts, "/billing/invoices")

    assert seen == {"app": "billing", "path": "/billing/invoices", "root_path": "/billing"}


@pytest.mark.anyio
async def test_mounted_app_sees_full_path_and_root_path_extended_by_prefix() -> None:
    dispatcher = Dispatcher({"/billing": echo("billing")})

    sent = await call(dispatcher, http_scope("/srv/billing/invoices", root_path="/srv"))

    assert json.loads(sent[1]["body"]) == {
        "app": "billing",
        "path": "/srv/billing/invoices",
        "root_path": "/srv/billing",
    }


@pytest.mark.anyio
async def test_routes_correctly_among_a_thousand_mounts() -> None:
    mounts = {f"/app{i}": echo(f"app{i}") for i in range(1000)}
    mounts["/app500/deep/er"] = echo("deeper")

    async with dispatch(mounts) as client:
        first = (await client.get("/app0/x")).json()["app"]
        middle = (await client.get("/app500/x")).json()["app"]
        deeper = (await client.get("/app500/deep/er/x")).json()["app"]
        last = (await client.get("/app999")).json()["app"]

    assert (first, middle, deeper, last) == ("app0", "app500", "deeper", "app999")


# Hosts.


@pytest.mark.anyio
# Not `base_url`: pytest-base-url (with pytest-playwright) has a fixture of that name.
@pytest.mark.parametrize(
    "host_url", ["http://billing.test", "http://billing.test:8080", "http://Billing.TEST"]
)
async def test_host_mount_matches_host_ignoring_port_and_case(host_url: str) -> None:
    mounts = {"billing.test": echo("billing"), "/": echo("root")}

    async with dispatch(mounts, base_url=host_url) as client:
        seen = (await client.get("/invoices")).json()

    assert seen == {"app": "billing", "path": "/invoices", "root_path": ""}


@pytest.mark.anyio
async def test_host_mount_is_case_insensitive_in_the_key_too() -> None:
    mounts = {"Billing.Test": echo("billing"), "/": echo("root")}

    async with dispatch(mounts, base_url="http://billing.test") as client:
        seen = (await client.get("/")).json()

    assert seen["app"] == "billing"


@pytest.mark.anyio
async def test_host_mount_beats_a_longer_path_only_mount() -> None:
    mounts = {"/api/v1": echo("path"), "billing.test": echo("host")}

    async with dispatch(mounts, base_url="http://billing.test") as client:
        seen = (await client.get("/api/v1/invoices")).json()

    assert seen["app"] == "host"


@pytest.mark.anyio
async def test_host_mount_ignores_other_hosts() -> None:
    mounts = {"billing.test": echo("billing"), "/": echo("root")}

    async with dispatch(mounts, base_url="http://shop.test") as client:
        seen = (await client.get("/invoices")).json()

    assert seen["app"] == "root"


@pytest.mark.anyio
async def test_host_mount_with_path_adds_its_path_to_root_path() -> None:
    mounts = {"billing.test/v1": echo("billing"), "/": echo("root")}

    async with dispatch(mounts, base_url="http://billing.test") as client:
        seen = (await client.get("/v1/invoices")).json()

    assert seen == {"app": "billing", "path": "/v1/invoices", "root_path": "/v1"}


@pytest.mark.anyio
async def test_host_mount_with_path_leaves_other_paths_of_that_host_to_path_mounts() -> None:
    mounts = {"billing.test/v1": echo("billing"), "/": echo("root")}

    async with dispatch(mounts, base_url="http://billing.test") as client:
        seen = (await client.get("/v2/invoices")).json()

    assert seen["app"] == "root"


# Nesting.


@pytest.mark.anyio
async def test_nested_table_composes_root_path() -> None:
    mounts = {"/outer": {"/inner": echo("inner"), "/": echo("outer-root")}}

    inner = await where(mounts, "/outer/inner/x")
    outer_root = await where(mounts, "/outer/elsewhere")

    assert inner == {"app": "inner", "path": "/outer/inner/x", "root_path": "/outer/inner"}
    assert outer_root == {"app": "outer-root", "path": "/outer/elsewhere", "root_path": "/outer"}


@pytest.mark.anyio
async def test_nested_dispatcher_composes_root_path() -> None:
    mounts = {"/outer": Dispatcher({"/inner": echo("inner")})}

    seen = await where(mounts, "/outer/inner/x")

    assert seen == {"app": "inner", "path": "/outer/inner/x", "root_path": "/outer/inner"}


@pytest.mark.anyio
async def test_nested_dispatcher_without_a_match_is_a_404() -> None:
    mounts = {"/outer": Dispatcher({"/inner": echo("inner")})}

    async with dispatch(mounts) as client:
        response = await client.get("/outer/other")

    assert response.status_code == 404
    assert "/inner" in response.text


# The scope.


@pytest.mark.anyio
async def test_callers_scope_is_not_mutated() -> None:
    # Litestar rewrites scope["path"] in place, to the path below root_path.
    @get("/items")
    async def items() -> dict[str, int]:
        return {"count": 7}

    dispatcher = Dispatcher({"/shop": Litestar([items])})
    scope = http_scope("/shop/items")
    before = copy.deepcopy(scope)

    sent = await call(dispatcher, scope, {"type": "http.request", "body": b""})

    assert sent[0]["status"] == 200
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:])) == {"count": 7}
    assert scope == before


@pytest.mark.anyio
async def test_an_app_changing_its_headers_and_extensions_leaves_the_callers_scope_alone() -> None:
    # issue 9 item 11: the copy was shallow, so these writes reached the caller's scope.
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        scope["headers"].append((b"x-added-by", b"app"))
        scope["extensions"]["app.note"] = {"written": True}
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    dispatcher = Dispatcher({"/outer": {"/a": app}})
    scope = http_scope("/outer/a/x")
    scope["extensions"] = {"http.response.trailers": {}}
    before = copy.deepcopy(scope)

    await call(dispatcher, scope)

    assert scope == before
    assert (b"x-added-by", b"app") in seen[0]["headers"]
    assert seen[0]["extensions"]["app.note"] == {"written": True}


@pytest.mark.anyio
async def test_servers_state_is_not_passed_to_mounted_apps() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope("/a")
    scope["state"] = {"server": "secret"}

    await call(Dispatcher({"/a": app}), scope)

    assert "state" not in seen[0]


# resolve(): the route and scope a request reaches, without calling the app.


def test_resolve_walks_nested_tables_to_the_innermost_route() -> None:
    inner = echo("inner")
    dispatcher = Dispatcher({"/outer": Dispatcher({"/mid": {"/inner": inner}}), "/": echo("r")})
    scope = http_scope("/outer/mid/inner/x")
    scope["state"] = {"server": "secret"}
    scope["extensions"] = {"http.response.trailers": {}}
    before = copy.deepcopy(scope)

    resolved = dispatcher.resolve(scope)

    assert resolved is not None
    route, app_scope = resolved
    assert route.app is inner
    assert route.key == "/inner"
    assert app_scope["path"] == "/outer/mid/inner/x"
    assert app_scope["root_path"] == "/outer/mid/inner"
    assert "state" not in app_scope
    assert app_scope["headers"] == scope["headers"]
    assert app_scope["headers"] is not scope["headers"]
    assert app_scope["extensions"] is not scope["extensions"]
    assert scope == before


@pytest.mark.parametrize("path", ["/outer/elsewhere", "/nowhere"])
def test_resolve_is_none_where_the_dispatcher_would_answer_404(path: str) -> None:
    dispatcher = Dispatcher({"/outer": Dispatcher({"/inner": echo("inner")})})

    assert dispatcher.resolve(http_scope(path)) is None


def test_resolve_gives_a_wsgi_mount_its_adapter_with_the_wsgi_callable() -> None:
    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    resolved = Dispatcher({"/w": wsgi}).resolve(http_scope("/w/x"))

    assert resolved is not None
    assert resolved[0].app.wsgi is wsgi  # type: ignore[attr-defined]
    assert resolved[1]["root_path"] == "/w"


@pytest.mark.anyio
async def test_resolve_gives_the_scope_the_app_is_called_with() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            scope["state"]["pool"] = "up"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    dispatcher = Dispatcher({"/a": {"/b": app}})
    async with dispatcher.lifespans():
        scope = http_scope("/a/b/c", root_path="")
        resolved = dispatcher.resolve(scope)
        await call(dispatcher, scope)

    assert resolved is not None
    assert resolved[1] == seen[0]
    assert resolved[1]["state"] == {"pool": "up"}


@pytest.mark.anyio
async def test_websocket_without_a_route_is_closed_not_left_hanging() -> None:
    dispatcher = Dispatcher({"/ws": echo("ws")})
    scope = http_scope("/missing")
    scope["type"] = "websocket"

    sent = await call(dispatcher, scope, {"type": "websocket.connect"})

    assert len(sent) == 1
    assert sent[0]["type"] == "websocket.close"
    assert sent[0]["code"] >= 1000


@pytest.mark.anyio
async def test_websocket_without_a_route_gets_a_404_when_the_server_allows_it() -> None:
    dispatcher = Dispatcher({"/ws": echo("ws")})
    scope = http_scope("/missing")
    scope["type"] = "websocket"
    scope["extensions"] = {"websocket.http.response": {}}

    sent = await call(dispatcher, scope, {"type": "websocket.connect"})

    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 404
    assert b"/ws" in sent[1]["body"]


def test_repr_shows_the_routes() -> None:
    dispatcher = Dispatcher({"/billing": echo("billing"), "shop.test/v1": echo("shop")})

    text = repr(dispatcher)

    assert text.startswith("Dispatcher(")
    assert "/billing" in text
    assert "shop.test/v1" in text


def test_repr_names_the_frameworks_app_under_our_wrappers() -> None:
    from django.core.handlers.asgi import ASGIHandler
    from flask import Flask

    dispatcher = Dispatcher({"/": ASGIHandler(), "/billing": Flask("billing")})

    assert repr(dispatcher) == "Dispatcher({'/': ASGIHandler, '/billing': Flask})"


# Bad tables.


async def _asgi_app(scope: Scope, receive: Any, send: Any) -> None:
    pass


@pytest.mark.parametrize(
    ("mounts", "key"),
    [
        pytest.param({"/billing": 42}, "'/billing'", id="value-not-an-app"),
        pytest.param({"/billing": "billing.app:app"}, "'/billing'", id="value-a-string"),
        pytest.param({"/bill ing": _asgi_app}, "'/bill ing'", id="key-with-space"),
        pytest.param({"/billing?x=1": _asgi_app}, "'/billing?x=1'", id="key-with-query"),
        pytest.param({"/billing#top": _asgi_app}, "'/billing#top'", id="key-with-fragment"),
        pytest.param(
            {"/billing": _asgi_app, "/billing/": _asgi_app}, "'/billing/'", id="dup-trailing-slash"
        ),
        pytest.param({"/": _asgi_app, "": _asgi_app}, "''", id="dup-root"),
        pytest.param(
            {"Billing.test": _asgi_app, "billing.test:80": _asgi_app},
            "'billing.test:80'",
            id="dup-host",
        ),
        pytest.param({1: _asgi_app}, "1", id="key-not-a-string"),
        pytest.param({"/outer": {"/in ner": _asgi_app}}, "'/in ner'", id="nested-bad-key"),
    ],
)
def test_bad_mount_table_raises_mount_error_naming_the_key(mounts: Any, key: str) -> None:
    with pytest.raises(MountError) as raised:
        Dispatcher(mounts)

    assert f"mount {key}" in str(raised.value)


def test_duplicate_names_both_keys() -> None:
    with pytest.raises(MountError, match=r"'/billing/'.*'/billing'"):
        Dispatcher({"/billing": _asgi_app, "/billing/": _asgi_app})


def test_nested_bad_table_names_the_outer_key_too() -> None:
    with pytest.raises(MountError, match=r"'/outer'.*'/in ner'"):
        Dispatcher({"/outer": {"/in ner": _asgi_app}})


def test_mount_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="/billing"):
        Dispatcher({"/billing": None})


def test_mount_table_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(MountError, match="mapping"):
        Dispatcher([("/billing", _asgi_app)])  # type: ignore[arg-type]
