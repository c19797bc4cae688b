"""A view's exception reaches the test, for every framework, form and client.

The matrix: each framework (in its ASGI and its WSGI form where it has both) x the sync
and async clients x `raise_app_exceptions` True and False. With True the test gets the
view's own exception, with its traceback down to the view's `raise` line; with False,
the 500 page the framework built. Exceptions the framework answers on purpose (a 404,
one the app's own error handler answers) stay responses. And under load, from many
tasks or threads at once, each request gets its own view's exception, never a
neighbour's. The apps are in tests/exception_apps.py.
"""

from __future__ import annotations

import random
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anyio
import httpx
import pytest

from pytest_asgi_dispatch import dispatch, dispatch_sync
from pytest_asgi_dispatch._client_library import ClientLibrary
from tests import exception_apps
from tests.exception_apps import TEAPOT, Boom, mount_table


@dataclass(frozen=True)
class Framework:
    """One mount of the matrix: where it is, and what its own error answers look like."""

    name: str
    prefix: str
    error_page: str  # a line of the framework's own 500 page
    asyncio_only: bool  # Django, a2wsgi (WSGI apps) and Quart need asyncio
    hooked: bool = True  # it answers exceptions with its own 500, so it gets a hook
    handled_status: int = TEAPOT  # Django has no per-exception handlers: PermissionDenied
    slash: str = ""  # Django's routes end in a slash

    def url(self, route: str) -> str:
        return f"{self.prefix}/{route}{self.slash}"


FRAMEWORKS = [
    Framework("raw-asgi", "/raw", "", asyncio_only=False, hooked=False),
    Framework("starlette", "/starlette", "Internal Server Error", asyncio_only=False, hooked=False),
    Framework("fastapi", "/fastapi", "Internal Server Error", asyncio_only=False, hooked=False),
    Framework("flask-wsgi", "/flask", "<h1>Internal Server Error</h1>", asyncio_only=True),
    Framework("quart-asgi", "/quart", "<h1>Internal Server Error</h1>", asyncio_only=True),
    Framework("litestar", "/litestar", '"detail":"Internal Server Error"', asyncio_only=False),
    Framework("falcon-asgi", "/falcon", '"title": "500 Internal Server Error"', asyncio_only=False),
    Framework(
        "falcon-wsgi", "/falcon-wsgi", '"title": "500 Internal Server Error"', asyncio_only=True
    ),
    Framework(
        "django-asgi",
        "/django",
        "<h1>Server Error (500)</h1>",
        asyncio_only=True,
        handled_status=403,
        slash="/",
    ),
    Framework(
        "django-wsgi",
        "/django-wsgi",
        "<h1>Server Error (500)</h1>",
        asyncio_only=True,
        handled_status=403,
        slash="/",
    ),
]
HOOKED = [f for f in FRAMEWORKS if f.hooked]
WITH_ERROR_HANDLERS = [f for f in FRAMEWORKS if f.name != "raw-asgi"]

every_framework = pytest.mark.parametrize("framework", FRAMEWORKS, ids=lambda f: f.name)
every_framework_with_error_handlers = pytest.mark.parametrize(
    "framework", WITH_ERROR_HANDLERS, ids=lambda f: f.name
)
every_framework_on_each_backend = pytest.mark.parametrize(
    ("framework", "anyio_backend"),
    [
        (framework, backend)
        for framework in FRAMEWORKS
        for backend in (["asyncio"] if framework.asyncio_only else ["asyncio", "trio"])
    ],
    ids=lambda value: value.name if isinstance(value, Framework) else value,
)


pytestmark = pytest.mark.urls("tests.exception_apps")  # Django's views for these tests


def mounts_of(framework: Framework) -> dict[str, object]:
    return {framework.prefix: mount_table()[framework.prefix]}


def assert_raised_by_the_boom_view(exc: BaseException, n: int) -> None:
    """`exc` is the `boom` view's own exception, its traceback down to the view's line."""
    assert type(exc) is Boom
    assert str(exc) == f"boom {n}"
    innermost = traceback.extract_tb(exc.__traceback__)[-1]
    assert innermost.filename == exception_apps.__file__
    assert innermost.line is not None
    assert innermost.line.startswith("raise Boom(")


# --- raise_app_exceptions=True (the default): the view's exception ----------------------


@every_framework
def test_sync_client_raises_the_views_exception(framework: Framework) -> None:
    with dispatch_sync(mounts_of(framework)) as client, pytest.raises(Boom) as raised:
        client.get(framework.url("boom/7"))

    assert_raised_by_the_boom_view(raised.value, 7)


@pytest.mark.anyio
@every_framework_on_each_backend
async def test_async_client_raises_the_views_exception(framework: Framework) -> None:
    async with dispatch(mounts_of(framework)) as client:
        with pytest.raises(Boom) as raised:
            await client.get(framework.url("boom/7"))

    assert_raised_by_the_boom_view(raised.value, 7)


# --- raise_app_exceptions=False: the framework's own 500 page ---------------------------


@every_framework
def test_sync_client_without_raising_gets_the_frameworks_500_page(framework: Framework) -> None:
    with dispatch_sync(mounts_of(framework), raise_app_exceptions=False) as client:
        response = client.get(framework.url("boom/7"))

    assert response.status_code == 500
    assert framework.error_page in response.text


@pytest.mark.anyio
@every_framework_on_each_backend
async def test_async_client_without_raising_gets_the_frameworks_500_page(
    framework: Framework,
) -> None:
    async with dispatch(mounts_of(framework), raise_app_exceptions=False) as client:
        response = await client.get(framework.url("boom/7"))

    assert response.status_code == 500
    assert framework.error_page in response.text


# --- What the framework answers on purpose stays a response -----------------------------


@every_framework_with_error_handlers
def test_an_http_error_raised_on_purpose_stays_a_response(framework: Framework) -> None:
    with dispatch_sync(mounts_of(framework)) as client:
        missing = client.get(framework.url("missing"))
        fine = client.get(framework.url("fine/3"))

    assert missing.status_code == 404
    assert fine.text == "fine 3"


@every_framework_with_error_handlers
def test_an_exception_the_apps_own_handler_answers_stays_a_response(
    framework: Framework,
) -> None:
    with dispatch_sync(mounts_of(framework)) as client:
        response = client.get(framework.url("handled"))

    assert response.status_code == framework.handled_status


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_exception_the_apps_own_handler_answers_stays_a_response_async() -> None:
    async with dispatch(mount_table()) as client:
        statuses = {
            f.name: (await client.get(f.url("handled"))).status_code for f in WITH_ERROR_HANDLERS
        }

    assert statuses == {f.name: f.handled_status for f in WITH_ERROR_HANDLERS}


# --- Each request gets its own view's exception ------------------------------------------

CONCURRENT_REQUESTS = 1_000
LOAD_TIMEOUT = 120  # seconds: the load tests' bound, on a busy 2-core machine


def request_plan(count: int) -> list[tuple[int, Framework, str]]:
    """`count` requests over every hooked framework; one in three does not raise."""
    rng = random.Random(15)
    return [
        (n, HOOKED[n % len(HOOKED)], rng.choice(["boom", "boom", "fine"])) for n in range(count)
    ]


def check_outcome(
    n: int, route: str, outcome: httpx.Response | BaseException, http: ClientLibrary
) -> None:
    if route == "boom":
        assert isinstance(outcome, BaseException), f"request {n}: {outcome!r}"
        assert_raised_by_the_boom_view(outcome, n)
    else:
        assert isinstance(outcome, http.Response), f"request {n}: {outcome!r}"
        assert outcome.text == f"fine {n}"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_thousand_concurrent_requests_each_raise_their_own_views_exception(
    http: ClientLibrary,
) -> None:
    plan = request_plan(CONCURRENT_REQUESTS)
    outcomes: dict[int, httpx.Response | BaseException] = {}

    async def one(client: httpx.AsyncClient, n: int, framework: Framework, route: str) -> None:
        try:
            outcomes[n] = await client.get(framework.url(f"{route}/{n}"))
        except Boom as exc:
            outcomes[n] = exc

    # Queued behind the others, a request can wait longer than httpx's 5 s read timeout.
    with anyio.fail_after(LOAD_TIMEOUT):
        async with (
            dispatch(mount_table(), timeout=LOAD_TIMEOUT) as client,
            anyio.create_task_group() as tasks,
        ):
            for n, framework, route in plan:
                tasks.start_soon(one, client, n, framework, route)

    assert len(outcomes) == CONCURRENT_REQUESTS
    for n, _, route in plan:
        check_outcome(n, route, outcomes[n], http)


def test_threads_sharing_one_sync_client_each_get_their_own_views_exception(
    http: ClientLibrary,
) -> None:
    plan = request_plan(160)

    def one(client: httpx.Client, n: int, framework: Framework, route: str) -> object:
        try:
            return client.get(framework.url(f"{route}/{n}"))
        except Boom as exc:
            return exc

    with (
        dispatch_sync(mount_table(), timeout=LOAD_TIMEOUT) as client,
        ThreadPoolExecutor(8) as threads,
    ):
        futures = [threads.submit(one, client, n, f, route) for n, f, route in plan]
        outcomes = [future.result(timeout=LOAD_TIMEOUT) for future in futures]

    for (n, _, route), outcome in zip(plan, outcomes, strict=True):
        assert isinstance(outcome, (http.Response, BaseException))
        check_outcome(n, route, outcome, http)
