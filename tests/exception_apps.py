"""The exception matrix's apps: every framework, each with the same four routes.

- `boom/<n>`: the view raises `Boom("boom <n>")`, which the framework answers with its
  500 page (or re-raises, for Starlette and FastAPI);
- `fine/<n>`: answers "fine <n>";
- `missing`: an HTTP error the view raises on purpose (a 404), answered by the framework;
- `handled`: the view raises `Handled`, which the app's own error handler answers with 418;
- `ws` (Quart, Litestar, Falcon's ASGI app): a websocket that accepts, reads one text
  message `<n>`, and raises `Boom("boom <n>")`.

Only `boom` must reach the test as an exception. Django's views are this module's
`urlpatterns`: the tests point `ROOT_URLCONF` here.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
import flask
import quart
from django.core.asgi import get_asgi_application
from django.core.exceptions import PermissionDenied
from django.core.wsgi import get_wsgi_application
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from fastapi import FastAPI
from fastapi import HTTPException as FastAPIHTTPException
from fastapi import Request as FastAPIRequest
from fastapi.responses import PlainTextResponse as FastAPIPlainTextResponse
from litestar import Litestar
from litestar import Request as LitestarRequest
from litestar import Response as LitestarResponse
from litestar import WebSocket as LitestarWebSocket
from litestar import get as litestar_get
from litestar import websocket as litestar_websocket
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pytest_asgi_dispatch._types import Receive, Scope, Send


class Boom(Exception):
    """Raised by every `boom` view; carries the request's number."""


class Handled(Exception):
    """Raised by every `handled` view; the app's own error handler answers it with 418."""


TEAPOT = 418

# --- raw ASGI ---------------------------------------------------------------------------


async def raw_asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    below_prefix = scope["path"][len(scope["root_path"]) :]
    name, _, n = below_prefix.strip("/").partition("/")
    if name == "boom":
        raise Boom(f"boom {n}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"fine {n}".encode()})


# --- Starlette --------------------------------------------------------------------------


async def starlette_boom(request: Request) -> PlainTextResponse:
    raise Boom(f"boom {request.path_params['n']}")


async def starlette_fine(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"fine {request.path_params['n']}")


async def starlette_missing(request: Request) -> PlainTextResponse:
    raise HTTPException(404)


async def starlette_handled(request: Request) -> PlainTextResponse:
    raise Handled("handled")


async def starlette_on_handled(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse("handled by the app", status_code=TEAPOT)


starlette_app = Starlette(
    routes=[
        Route("/boom/{n}", starlette_boom),
        Route("/fine/{n}", starlette_fine),
        Route("/missing", starlette_missing),
        Route("/handled", starlette_handled),
    ],
    exception_handlers={Handled: starlette_on_handled},
)

# --- FastAPI ----------------------------------------------------------------------------

fastapi_app = FastAPI()


@fastapi_app.get("/boom/{n}")
async def fastapi_boom(n: int) -> str:
    raise Boom(f"boom {n}")


@fastapi_app.get("/fine/{n}", response_class=FastAPIPlainTextResponse)
async def fastapi_fine(n: int) -> str:
    return f"fine {n}"


@fastapi_app.get("/missing")
async def fastapi_missing() -> str:
    raise FastAPIHTTPException(404)


@fastapi_app.get("/handled")
async def fastapi_handled() -> str:
    raise Handled("handled")


@fastapi_app.exception_handler(Handled)
async def fastapi_on_handled(request: FastAPIRequest, exc: Handled) -> FastAPIPlainTextResponse:
    return FastAPIPlainTextResponse("handled by the app", status_code=TEAPOT)


# --- Flask ------------------------------------------------------------------------------

flask_app = flask.Flask("exceptions_flask")


@flask_app.get("/boom/<int:n>")
def flask_boom(n: int) -> str:
    raise Boom(f"boom {n}")


@flask_app.get("/fine/<int:n>")
def flask_fine(n: int) -> str:
    return f"fine {n}"


@flask_app.get("/missing")
def flask_missing() -> str:
    flask.abort(404)


@flask_app.get("/handled")
def flask_handled() -> str:
    raise Handled("handled")


@flask_app.errorhandler(Handled)
def flask_on_handled(exc: Handled) -> tuple[str, int]:
    return "handled by the app", TEAPOT


# --- Quart ------------------------------------------------------------------------------

quart_app = quart.Quart("exceptions_quart")


@quart_app.get("/boom/<int:n>")
async def quart_boom(n: int) -> str:
    raise Boom(f"boom {n}")


@quart_app.get("/fine/<int:n>")
async def quart_fine(n: int) -> str:
    return f"fine {n}"


@quart_app.get("/missing")
async def quart_missing() -> str:
    quart.abort(404)


@quart_app.get("/handled")
async def quart_handled() -> str:
    raise Handled("handled")


@quart_app.websocket("/ws")
async def quart_ws() -> None:
    await quart.websocket.accept()
    n = await quart.websocket.receive()
    raise Boom(f"boom {n}")


@quart_app.errorhandler(Handled)
async def quart_on_handled(exc: Handled) -> tuple[str, int]:
    return "handled by the app", TEAPOT


# --- Litestar ---------------------------------------------------------------------------


@litestar_get("/boom/{n:int}")
async def litestar_boom(n: FromPath[int]) -> str:
    raise Boom(f"boom {n}")


@litestar_get("/fine/{n:int}")
async def litestar_fine(n: FromPath[int]) -> str:
    return f"fine {n}"


@litestar_get("/missing")
async def litestar_missing() -> str:
    raise NotFoundException()


@litestar_get("/handled")
async def litestar_handled() -> str:
    raise Handled("handled")


@litestar_websocket("/ws")
async def litestar_ws(socket: LitestarWebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    n = await socket.receive_text()
    raise Boom(f"boom {n}")


def litestar_on_handled(
    request: LitestarRequest[Any, Any, Any], exc: Exception
) -> LitestarResponse[str]:
    return LitestarResponse("handled by the app", status_code=TEAPOT)


litestar_app = Litestar(
    route_handlers=[litestar_boom, litestar_fine, litestar_missing, litestar_handled, litestar_ws],
    exception_handlers={Handled: litestar_on_handled},
)

# --- Falcon: its ASGI app routes on the full path, prefix included ----------------------


class FalconBoom:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, n: int) -> None:
        raise Boom(f"boom {n}")


class FalconFine:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, n: int) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"fine {n}"


class FalconMissing:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        raise falcon.HTTPNotFound()


class FalconHandled:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        raise Handled("handled")


class FalconWebSocket:
    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        n = await ws.receive_text()
        raise Boom(f"boom {n}")


async def falcon_on_handled(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: dict[str, Any]
) -> None:
    resp.status = TEAPOT
    resp.text = "handled by the app"


falcon_app = falcon.asgi.App()
falcon_app.add_route("/falcon/boom/{n:int}", FalconBoom())
falcon_app.add_route("/falcon/fine/{n:int}", FalconFine())
falcon_app.add_route("/falcon/missing", FalconMissing())
falcon_app.add_route("/falcon/handled", FalconHandled())
falcon_app.add_route("/falcon/ws", FalconWebSocket())
falcon_app.add_error_handler(Handled, falcon_on_handled)


class FalconWsgiBoom:
    def on_get(self, req: falcon.Request, resp: falcon.Response, n: int) -> None:
        raise Boom(f"boom {n}")


class FalconWsgiFine:
    def on_get(self, req: falcon.Request, resp: falcon.Response, n: int) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"fine {n}"


class FalconWsgiMissing:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPNotFound()


class FalconWsgiHandled:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise Handled("handled")


def falcon_wsgi_on_handled(
    req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
) -> None:
    resp.status = TEAPOT
    resp.text = "handled by the app"


falcon_wsgi_app = falcon.App()
falcon_wsgi_app.add_route("/boom/{n:int}", FalconWsgiBoom())
falcon_wsgi_app.add_route("/fine/{n:int}", FalconWsgiFine())
falcon_wsgi_app.add_route("/missing", FalconWsgiMissing())
falcon_wsgi_app.add_route("/handled", FalconWsgiHandled())
falcon_wsgi_app.add_error_handler(Handled, falcon_wsgi_on_handled)

# --- Django: this module is the urlconf of both handlers --------------------------------


def django_boom(request: HttpRequest, n: int) -> HttpResponse:
    raise Boom(f"boom {n}")


def django_fine(request: HttpRequest, n: int) -> HttpResponse:
    return HttpResponse(f"fine {n}", content_type="text/plain")


def django_missing(request: HttpRequest) -> HttpResponse:
    raise Http404()


def django_handled(request: HttpRequest) -> HttpResponse:
    # Django has no per-exception handlers: its "handled" exceptions are its own 4xx.
    raise PermissionDenied()


urlpatterns = [
    path("boom/<int:n>/", django_boom),
    path("fine/<int:n>/", django_fine),
    path("missing/", django_missing),
    path("handled/", django_handled),
]

django_asgi = get_asgi_application()
django_wsgi = get_wsgi_application()


def mount_table() -> dict[str, object]:
    """Every framework under a prefix of its own."""
    return {
        "/raw": raw_asgi_app,
        "/starlette": starlette_app,
        "/fastapi": fastapi_app,
        "/flask": flask_app,
        "/quart": quart_app,
        "/litestar": litestar_app,
        "/falcon": falcon_app,
        "/falcon-wsgi": falcon_wsgi_app,
        "/django": django_asgi,
        "/django-wsgi": django_wsgi,
    }
