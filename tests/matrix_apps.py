"""The framework matrix's apps: one small app per framework, all mounted side by side.

Each app answers the same questions under its prefix: where does it think it is (the
path it routes on, the URL it generates for itself), does its trailing-slash redirect
stay under the prefix, what cookies and sessions does it set, what did its lifespan do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import Morsel, SimpleCookie
from typing import Any

import falcon
import falcon.asgi
import flask
import httpx
import quart
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from litestar import Litestar
from litestar import Request as LitestarRequest
from litestar import get as litestar_get
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.params import FromPath
from litestar.response import Redirect as LitestarRedirect
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

SECRET = "matrix-tests-only-not-secret"
# What each lifespan did, in order, so that tests can see startups and shutdowns.
LIFESPAN_EVENTS: list[str] = []

# --- Django: the project in tests/djangoapp, through both of its handlers ----------------

django_asgi = get_asgi_application()
django_wsgi = get_wsgi_application()

# --- Flask ------------------------------------------------------------------------------

flask_app = flask.Flask("matrix_flask")
flask_app.secret_key = SECRET
# Flask's session cookie defaults to Path=/ whatever the mount: scope it to the prefix.
flask_app.config["SESSION_COOKIE_PATH"] = "/flask"


@flask_app.get("/where")
def flask_where() -> dict[str, str]:
    request = flask.request
    return {
        "path": request.path,
        "root_path": request.script_root,
        "url_for": flask.url_for("flask_where"),
        "external_url": flask.url_for("flask_where", _external=True),
    }


@flask_app.get("/slash/")
def flask_slash() -> str:
    return "slash"


@flask_app.get("/visits")
def flask_visits() -> dict[str, int]:
    flask.session["visits"] = flask.session.get("visits", 0) + 1
    return {"visits": flask.session["visits"]}


# --- Quart ------------------------------------------------------------------------------

quart_app = quart.Quart("matrix_quart")
quart_app.secret_key = SECRET
quart_app.config["SESSION_COOKIE_PATH"] = "/quart"


@quart_app.before_serving
async def quart_startup() -> None:
    LIFESPAN_EVENTS.append("quart startup")
    quart_app.config["GREETING"] = "hello from quart's startup"


@quart_app.after_serving
async def quart_shutdown() -> None:
    LIFESPAN_EVENTS.append("quart shutdown")


@quart_app.get("/")
async def quart_index() -> str:
    return "quart index"


@quart_app.get("/where")
async def quart_where() -> dict[str, str]:
    request = quart.request
    return {
        "path": request.path,
        "root_path": request.root_path,
        "url_for": quart.url_for("quart_where"),
        "external_url": quart.url_for("quart_where", _external=True),
    }


@quart_app.get("/echo/<path:rest>")
async def quart_echo(rest: str) -> dict[str, str]:
    return {"rest": rest, "path": quart.request.path}


@quart_app.get("/slash/")
async def quart_slash() -> str:
    return "slash"


@quart_app.get("/visits")
async def quart_visits() -> dict[str, int]:
    quart.session["visits"] = quart.session.get("visits", 0) + 1
    return {"visits": quart.session["visits"]}


@quart_app.get("/greeting")
async def quart_greeting() -> dict[str, str]:
    return {"greeting": quart.current_app.config["GREETING"]}


# --- Starlette --------------------------------------------------------------------------


@asynccontextmanager
async def starlette_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    LIFESPAN_EVENTS.append("starlette startup")
    yield {"greeting": "hello from starlette's lifespan"}
    LIFESPAN_EVENTS.append("starlette shutdown")


async def starlette_where(request: StarletteRequest) -> JSONResponse:
    return JSONResponse(
        {
            "path": request.url.path,
            "root_path": request.scope["root_path"],
            "url_path_for": str(request.app.url_path_for("starlette_where")),
            "url_for": str(request.url_for("starlette_where")),
        }
    )


async def starlette_slash(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("slash")


async def starlette_visits(request: StarletteRequest) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse({"visits": request.session["visits"]})


async def starlette_greeting(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"greeting": request.state.greeting})


starlette_app = Starlette(
    routes=[
        Route("/where", starlette_where, name="starlette_where"),
        Route("/slash/", starlette_slash),
        Route("/visits", starlette_visits),
        Route("/greeting", starlette_greeting),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=SECRET, path="/starlette")],
    lifespan=starlette_lifespan,
)

# --- FastAPI ----------------------------------------------------------------------------


@asynccontextmanager
async def fastapi_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    LIFESPAN_EVENTS.append("fastapi startup")
    yield {"greeting": "hello from fastapi's lifespan"}
    LIFESPAN_EVENTS.append("fastapi shutdown")


fastapi_app = FastAPI(lifespan=fastapi_lifespan)


@fastapi_app.get("/where", name="fastapi_where")
async def fastapi_where(request: FastAPIRequest) -> dict[str, str]:
    return {
        "path": request.url.path,
        "root_path": request.scope["root_path"],
        "url_path_for": str(request.app.url_path_for("fastapi_where")),
        "url_for": str(request.url_for("fastapi_where")),
    }


@fastapi_app.get("/slash/")
async def fastapi_slash() -> str:
    return "slash"


@fastapi_app.get("/greeting")
async def fastapi_greeting(request: FastAPIRequest) -> dict[str, str]:
    return {"greeting": request.state.greeting}


# --- Litestar ---------------------------------------------------------------------------


async def litestar_startup(app: Litestar) -> None:
    LIFESPAN_EVENTS.append("litestar startup")
    app.state.greeting = "hello from litestar's startup"


async def litestar_shutdown(app: Litestar) -> None:
    LIFESPAN_EVENTS.append("litestar shutdown")


@litestar_get("/where", name="litestar_where")
async def litestar_where(request: LitestarRequest[Any, Any, Any]) -> dict[str, str]:
    return {
        "path": request.url.path,
        "scope_path": request.scope["path"],
        "root_path": request.scope["root_path"],
        "route_reverse": request.app.route_reverse("litestar_where"),
        "url_for": request.url_for("litestar_where"),
    }


@litestar_get("/to-where/absolute")
async def litestar_redirect_absolute() -> LitestarRedirect:
    return LitestarRedirect(path="/where")


@litestar_get("/to-where/url-for")
async def litestar_redirect_url_for(request: LitestarRequest[Any, Any, Any]) -> LitestarRedirect:
    return LitestarRedirect(path=request.url_for("litestar_where"))


@litestar_get("/echo/{rest:path}")
async def litestar_echo(
    request: LitestarRequest[Any, Any, Any], rest: FromPath[str]
) -> dict[str, str]:
    return {"rest": rest, "scope_path": request.scope["path"]}


@litestar_get("/visits")
async def litestar_visits(request: LitestarRequest[Any, Any, Any]) -> dict[str, int]:
    visits = request.session.get("visits", 0) + 1
    request.set_session({"visits": visits})
    return {"visits": visits}


@litestar_get("/greeting")
async def litestar_greeting(request: LitestarRequest[Any, Any, Any]) -> dict[str, str]:
    return {"greeting": request.app.state.greeting}


litestar_app = Litestar(
    route_handlers=[
        litestar_where,
        litestar_redirect_absolute,
        litestar_redirect_url_for,
        litestar_echo,
        litestar_visits,
        litestar_greeting,
    ],
    # Server-side: the client-side backend needs the cryptography package.
    middleware=[ServerSideSessionConfig(path="/litestar").middleware],
    on_startup=[litestar_startup],
    on_shutdown=[litestar_shutdown],
)

# --- Falcon -----------------------------------------------------------------------------


class FalconWhere:
    """Where Falcon thinks it is; Falcon generates no URLs but reports its own."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {
            "path": req.path,
            "root_path": req.root_path,
            "relative_uri": req.relative_uri,
            "uri": req.uri,
        }


class FalconWsgiWhere:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "path": req.path,
            "root_path": req.root_path,
            "relative_uri": req.relative_uri,
            "uri": req.uri,
        }


class FalconCookie:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.set_cookie("flavour", "oat", path=req.root_path or "/")
        resp.media = {"flavour": req.get_cookie_values("flavour") or []}


def falcon_asgi_app() -> falcon.asgi.App:
    """Falcon's ASGI app routes on the full `scope["path"]`: its routes carry the prefix."""
    app = falcon.asgi.App()
    app.add_route("/falcon/where", FalconWhere())
    app.add_route("/falcon/cookie", FalconCookie())
    return app


falcon_app = falcon_asgi_app()
falcon_wsgi_app = falcon.App()
falcon_wsgi_app.add_route("/where", FalconWsgiWhere())


def set_cookie(response: httpx.Response, name: str) -> Morsel[str]:
    """The attributes of the cookie `name` that `response` sets."""
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name]
    raise AssertionError(f"no Set-Cookie for {name!r} in {response.headers}")


def mount_table() -> dict[str, object]:
    """Every framework under a prefix of its own, side by side."""
    return {
        "/django": django_asgi,
        "/django-wsgi": django_wsgi,
        "/flask": flask_app,
        "/quart": quart_app,
        "/starlette": starlette_app,
        "/fastapi": fastapi_app,
        "/litestar": litestar_app,
        "/falcon": falcon_app,
        "/falcon-wsgi": falcon_wsgi_app,
    }
