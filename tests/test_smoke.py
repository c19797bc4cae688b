import pytest
from django.core.asgi import get_asgi_application
from flask import Flask, url_for

from pytest_asgi_dispatch import dispatch, dispatch_sync

flask_app = Flask("billing")


@flask_app.get("/invoices")
def invoices() -> dict[str, str]:
    return {"url": url_for("invoices")}


@pytest.mark.anyio
async def test_django_and_flask_under_prefixes(anyio_backend: str) -> None:
    if anyio_backend == "trio":
        pytest.skip("Django and a2wsgi run on asyncio only")
    async with dispatch({"/shop": get_asgi_application(), "/billing": flask_app}) as client:
        assert (await client.get("/billing/invoices")).json() == {"url": "/billing/invoices"}
        assert (await client.get("/shop/where/")).json()["reverse"] == "/shop/where/"


def test_sync_client() -> None:
    with dispatch_sync({"/shop": get_asgi_application(), "/billing": flask_app}) as client:
        assert client.get("/billing/invoices").json() == {"url": "/billing/invoices"}
        assert client.get("/shop/where/").json()["path_info"] == "/where/"
