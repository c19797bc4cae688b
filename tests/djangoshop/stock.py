"""The stock service: a Starlette app with a lifespan, mounted on the host stock.test."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

LIFESPAN: list[str] = []  # "startup" and "shutdown", as they happen in this process


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
    LIFESPAN.append("startup")
    yield {"warehouse": "Lyon"}
    LIFESPAN.append("shutdown")


async def level(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "warehouse": request.state.warehouse,
            "starts": LIFESPAN.count("startup"),
            "client": request.client.host if request.client else None,
            "host": request.headers["host"],
        }
    )


app = Starlette(routes=[Route("/level", level)], lifespan=lifespan)
