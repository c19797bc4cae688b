"""What an app discloses about a response for tests reaches the httpx response.

Starlette's (and FastAPI's) `TemplateResponse` sends `http.response.debug` when the
scope offers it; Django's `template_rendered` signal is collected per request, as
`django.test.Client` collects it. Both clients; the event loop and the inline path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.test import SimpleTestCase, override_settings
from django.test.utils import ContextList
from django.urls import path
from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates as FastAPITemplates
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pytest_asgi_dispatch import dispatch, dispatch_sync


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    (folder / "hello.html").write_text("hello {{ name }}")
    (folder / "base.html").write_text("<main>{% block main %}{% endblock %}</main>")
    (folder / "page.html").write_text(
        '{% extends "base.html" %}{% block main %}page {{ name }}{% endblock %}'
    )
    return folder


# --- Starlette and FastAPI: the http.response.debug message ------------------------------


def starlette_app(folder: Path) -> Starlette:
    templates = Jinja2Templates(directory=folder)

    async def hello(request: Any) -> Any:
        return templates.TemplateResponse(
            request, "hello.html", {"name": request.query_params["n"]}
        )

    return Starlette(routes=[Route("/hello", hello)])


def fastapi_app(folder: Path) -> FastAPI:
    templates = FastAPITemplates(directory=folder)
    app = FastAPI()

    @app.get("/hello")
    async def hello(request: Request, n: str) -> Any:
        return templates.TemplateResponse(request, "hello.html", {"name": n})

    return app


async def offered(scope: Any, receive: Any, send: Any) -> None:
    """Says which extensions its scope offers."""
    body = repr(sorted(scope.get("extensions", {}))).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def discloses(scope: Any, receive: Any, send: Any) -> None:
    """Sends a debug message of its own making, as the extension allows any info."""
    await send({"type": "http.response.debug", "info": {"template": "t", "version": 2}})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def table(folder: Path) -> dict[str, Any]:
    return {
        "/starlette": starlette_app(folder),
        "/fastapi": fastapi_app(folder),
        "/offered": offered,
        "/discloses": discloses,
    }


@pytest.mark.parametrize("prefix", ["/starlette", "/fastapi"])
def test_a_template_response_shows_its_template_and_context(templates: Path, prefix: str) -> None:
    with dispatch_sync(table(templates)) as client:
        response = client.get(f"{prefix}/hello?n=bob")

    assert response.text == "hello bob"
    assert response.extensions["template"].name == "hello.html"
    assert response.extensions["context"]["name"] == "bob"
    assert response.extensions["http.response.debug"]["template"].name == "hello.html"
    assert response.template.name == "hello.html"  # as Starlette's TestClient has it
    assert response.context["request"].url.path == f"{prefix}/hello"


@pytest.mark.anyio
async def test_the_async_client_too(templates: Path) -> None:
    async with dispatch(table(templates)) as client:
        response = await client.get("/starlette/hello?n=ann")

    assert response.extensions["template"].name == "hello.html"
    assert response.context["name"] == "ann"


@pytest.mark.anyio
async def test_concurrent_requests_each_get_their_own(templates: Path) -> None:
    names = [f"user{n}" for n in range(8)]
    seen: dict[str, Any] = {}

    async with dispatch(table(templates)) as client:

        async def get(name: str) -> None:
            seen[name] = (await client.get(f"/starlette/hello?n={name}")).context["name"]

        async with anyio.create_task_group() as tasks:
            for name in names:
                tasks.start_soon(get, name)

    assert seen == {name: name for name in names}


def test_the_scope_offers_the_extension(templates: Path) -> None:
    with dispatch_sync(table(templates)) as client:
        response = client.get("/offered")

    assert "'http.response.debug'" in response.text


def test_any_info_an_app_sends_is_kept_whole(templates: Path) -> None:
    with dispatch_sync(table(templates)) as client:
        response = client.get("/discloses")

    assert response.text == "ok"
    assert response.extensions["http.response.debug"] == {"template": "t", "version": 2}
    assert response.extensions["template"] == "t"
    assert "context" not in response.extensions


def test_a_response_without_disclosures_has_none(templates: Path) -> None:
    with dispatch_sync(table(templates)) as client:
        response = client.get("/offered")

    assert not {"http.response.debug", "template", "context"} & set(response.extensions)
    assert not hasattr(response, "template")


# --- Django: the template_rendered signal ------------------------------------------------


def django_hello(request: HttpRequest) -> HttpResponse:
    return render(request, "hello.html", {"name": request.GET["n"]})


def django_page(request: HttpRequest) -> HttpResponse:
    return render(request, "page.html", {"name": "pat"})


def django_plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no template")


urlpatterns = [
    path("hello/", django_hello),
    path("page/", django_page),
    path("plain/", django_plain),
]


@pytest.fixture
def django_site(templates: Path) -> Iterator[None]:
    backend = {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [templates]}
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=[backend]):
        yield


def django_table() -> dict[str, Any]:
    return {"/shop": get_asgi_application()}


@pytest.mark.usefixtures("django_site")
def test_django_shows_the_template_and_context_on_the_sync_client() -> None:
    with dispatch_sync(django_table()) as client:
        response = client.get("/shop/hello/?n=bob")

    assert response.extensions["template"].name == "hello.html"
    assert [t.name for t in response.extensions["templates"]] == ["hello.html"]
    assert response.extensions["context"]["name"] == "bob"
    assert response.context["name"] == "bob"  # as Django's client has it
    SimpleTestCase().assertTemplateUsed(response, "hello.html")


@pytest.mark.usefixtures("django_site")
def test_every_template_rendered_is_listed_with_its_context() -> None:
    with dispatch_sync(django_table()) as client:
        response = client.get("/shop/page/")

    assert [t.name for t in response.templates] == ["page.html", "base.html"]
    assert response.extensions["template"].name == "page.html"
    assert isinstance(response.context, ContextList)
    assert response.context["name"] == "pat"


@pytest.mark.usefixtures("django_site")
def test_django_without_a_template_discloses_nothing() -> None:
    with dispatch_sync(django_table()) as client:
        client.get("/shop/page/")
        response = client.get("/shop/plain/")

    assert "templates" not in response.extensions
    assert not hasattr(response, "templates")


@pytest.mark.usefixtures("django_site")
def test_a_template_the_test_renders_itself_goes_to_no_response() -> None:
    from django.template.loader import render_to_string

    with dispatch_sync(django_table()) as client:
        render_to_string("hello.html", {"name": "test"})
        response = client.get("/shop/hello/?n=view")

    assert response.context["name"] == "view"
    assert len(response.templates) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # Django's async is asyncio's
@pytest.mark.usefixtures("django_site")
async def test_django_on_the_event_loop_keeps_concurrent_requests_apart() -> None:
    names = [f"user{n}" for n in range(6)]
    seen: dict[str, Any] = {}

    async with dispatch(django_table()) as client:

        async def get(name: str) -> None:
            response = await client.get(f"/shop/hello/?n={name}")
            seen[name] = [t.name for t in response.templates] + [response.context["name"]]

        async with anyio.create_task_group() as tasks:
            for name in names:
                tasks.start_soon(get, name)

    assert seen == {name: ["hello.html", name] for name in names}
