"""Small real apps and a runner for the plugin's pytester tests (tests/test_plugin_*.py)."""

from __future__ import annotations

# Imported here so that pytester's in-process runs find them loaded: it unloads the
# modules an inner run imported, and importing these again costs seconds per run.
import flask  # noqa: F401
import pytest
import starlette.applications  # noqa: F401
import trio  # noqa: F401

# Each lifespan startup and shutdown is logged to a file next to the apps, so that the
# outer test can count how often the inner session ran them.
APPS = """
import contextlib
import pathlib

from flask import Flask, url_for
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

LOG = pathlib.Path(__file__).with_name("lifespan.log")


@contextlib.asynccontextmanager
async def lifespan(app):
    with LOG.open("a") as log:
        log.write("start\\n")
    yield {"starts": LOG.read_text().count("start")}
    with LOG.open("a") as log:
        log.write("stop\\n")


async def where(request):
    return JSONResponse(
        {"root_path": request.scope["root_path"], "starts": request.state.starts}
    )


api = Starlette(routes=[Route("/where", where)], lifespan=lifespan)

billing = Flask("billing")


@billing.get("/where")
def billing_where():
    return {"url": url_for("billing_where")}


class mounted:
    billing = billing
"""

APPS_FIXTURE = """
import pytest

import apps


@pytest.fixture(scope="session")
def asgi_apps():
    return {"/api": apps.api, "/billing": apps.billing}
"""

ASYNCIO_ONLY = """

@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"
"""


def make_project(
    pytester: pytest.Pytester, ini: str = "", conftest: str = APPS_FIXTURE, **tests: str
) -> None:
    """The apps, a conftest, a pytest.ini with `ini` added, and the test modules."""
    pytester.makepyfile(apps=APPS, **tests)
    if conftest:
        pytester.makeconftest(conftest)
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n" + ini
    )


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner session in-process, without writing caches.

    Without pytest-django: it would configure Django for the inner session from the
    DJANGO_SETTINGS_MODULE the outer one exported. Without hypothesis and Faker: they
    cost seconds per inner session and play no part.
    """
    plugins_off = ("cacheprovider", "django", "hypothesispytest", "faker")
    return pytester.runpytest(*(f"-pno:{name}" for name in plugins_off), *args)


def lifespan_log(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "lifespan.log"
    return path.read_text().split() if path.exists() else []
