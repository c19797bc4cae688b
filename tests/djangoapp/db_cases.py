"""The Django database cases, run on each database by tests/test_django_db.py.

They run in the root test session (in-memory SQLite, from tests.djangoapp.settings)
and in pytest subprocesses whose settings point at a SQLite file and at PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import django.test
import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.db.backends.signals import connection_created

from pytest_asgi_dispatch import dispatch, dispatch_sync
from tests.djangoapp.models import Item


def item_names() -> list[str]:
    return sorted(Item.objects.values_list("name", flat=True))


@pytest.mark.django_db
def test_a_view_sees_the_rows_a_django_db_test_created() -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/items/")

    assert response.json() == {"names": ["apple"]}


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    """The mount table of the plugin's clients."""
    return {"/shop": get_asgi_application()}


@pytest.mark.django_db
def test_a_view_reached_through_asgi_sync_client_sees_the_tests_rows(
    asgi_sync_client: httpx.Client,
) -> None:
    Item.objects.create(name="apple")

    response = asgi_sync_client.get("/shop/items/")

    assert response.json() == {"names": ["apple"]}


@pytest.mark.django_db
def test_the_tests_connection_and_transaction_survive_requests() -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        for _ in range(3):
            assert client.get("/shop/items/").json() == {"names": ["apple"]}
    Item.objects.create(name="pear")

    assert connection.in_atomic_block
    assert connection.connection is not None
    assert item_names() == ["apple", "pear"]


@pytest.mark.django_db
def test_a_row_a_view_writes_belongs_to_the_tests_transaction() -> None:
    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        client.post("/shop/items/add/", data={"name": "plum"})

    assert item_names() == ["plum"]


@pytest.mark.django_db
def test_rows_written_by_views_in_earlier_tests_were_rolled_back() -> None:
    # Runs after the test above: had its view written on a connection of its own,
    # "plum" would have been committed and still be here.
    assert item_names() == []


@pytest.mark.django_db
def test_djangos_test_client_and_the_sync_client_take_turns_in_one_test(
    client: django.test.Client,
) -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": get_asgi_application()}) as sync_client:
        before = sync_client.get("/shop/items/").json()
        djangos = client.get("/items/").json()
        after = sync_client.get("/shop/items/").json()
    Item.objects.create(name="pear")

    assert before == djangos == after == {"names": ["apple"]}
    assert item_names() == ["apple", "pear"]


@pytest.mark.django_db
def test_during_a_request_other_threads_still_close_their_connections() -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite connection")

    with dispatch_sync({"/shop": get_asgi_application()}) as client:
        response = client.get("/shop/request-finished-in-another-thread/")

    assert response.json() == {"other_thread_closed": True, "mine_open": True}


@pytest.mark.django_db(transaction=True)
def test_a_connection_a_view_opens_on_the_calling_thread_stays_open() -> None:
    # As under django.test.Client: the request's signals spare the connections of the
    # thread the sync client runs the view on, those the view opens too (on a new thread
    # of the test's, the view opens the first one; Django would close it at once).
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite connection")
    seen: list[object] = []

    def test_thread() -> None:
        try:
            with dispatch_sync({"/shop": get_asgi_application()}) as client:
                seen.append(client.get("/shop/items/").json())
            seen.append(connection.connection is not None)
        finally:
            connection.close()

    thread = threading.Thread(target=test_thread)
    thread.start()
    thread.join(timeout=30)

    assert seen == [{"names": []}, True]


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_handler_sees_committed_rows_with_transactional_db() -> None:
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": get_wsgi_application()}) as client:
        response = client.get("/shop/items/")

    assert response.json() == {"names": ["apple"]}


@pytest.fixture
def committed_apple(transactional_db: None) -> Item:
    """A row created on the test's thread and committed: transactional_db opens no transaction."""
    # Not with the async ORM: asgiref's shared thread would keep its connection for good.
    return Item.objects.create(name="apple")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_client_sees_committed_rows_with_transactional_db(
    anyio_backend: str, committed_apple: Item
) -> None:
    async with dispatch({"/shop": get_asgi_application()}) as client:
        response = await client.get("/shop/items/")

    assert response.json() == {"names": ["apple"]}


@pytest.mark.django_db
def test_the_wsgi_handler_under_the_sync_client_sees_the_tests_rows() -> None:
    # The sync client runs a WSGI app on the test's thread, on the test's connection.
    Item.objects.create(name="apple")

    with dispatch_sync({"/shop": get_wsgi_application()}) as client:
        response = client.get("/shop/items/")

    assert response.json() == {"names": ["apple"]}


@pytest.fixture
def uncommitted_apple(db: None) -> Item:
    """A row created on the test's thread, inside pytest-django's transaction."""
    return Item.objects.create(name="apple")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_wsgi_handler_under_the_async_client_does_not_see_uncommitted_rows_on_postgresql(
    anyio_backend: str, uncommitted_apple: Item
) -> None:
    # Documents a limit: under the async client a2wsgi runs WSGI apps in its worker
    # threads, so Django's WSGI handler queries on a connection outside the test's transaction.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the table instead of hiding the row: see docs")

    async with dispatch({"/shop": get_wsgi_application()}) as client:
        response = await client.get("/shop/items/")

    assert response.json() == {"names": []}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_client_does_not_see_uncommitted_rows_on_postgresql(
    anyio_backend: str, uncommitted_apple: Item
) -> None:
    # Documents a limit: the async test's thread runs the event loop, so the view runs
    # in a thread of asgiref's, on a connection outside the test's transaction.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the table instead of hiding the row: see docs")

    async with dispatch({"/shop": get_asgi_application()}) as client:
        response = await client.get("/shop/items/")

    assert response.json() == {"names": []}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_client_finds_the_table_locked_on_in_memory_sqlite(
    anyio_backend: str, uncommitted_apple: Item, caplog: pytest.LogCaptureFixture
) -> None:
    # Documents a limit: pytest-django's in-memory SQLite is one shared-cache database;
    # the test's open write transaction locks the table against the view's connection.
    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        pytest.skip("only in-memory SQLite answers with a lock at once")

    async with dispatch({"/shop": get_asgi_application()}, raise_app_exceptions=False) as client:
        response = await client.get("/shop/items/")

    assert response.status_code == 500  # Django's 500 page, kept rather than raised
    assert "database table is locked" in caplog.text


@pytest.fixture
def opened_on_other_threads() -> Iterator[list[Any]]:
    """The DB-API connections Django opens, while the test runs, on threads not the test's."""
    test_thread = threading.current_thread()
    opened: list[Any] = []

    def record(connection: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not test_thread:
            opened.append(connection.connection)

    connection_created.connect(record, weak=False)
    yield opened
    connection_created.disconnect(record)


def is_open(dbapi_connection: Any) -> bool:
    """Whether a sqlite3 or psycopg connection is still open."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        try:
            dbapi_connection.total_changes  # noqa: B018  (raises once closed)
        except sqlite3.ProgrammingError:
            return False
        return True
    return not dbapi_connection.closed


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_connection_a_view_opens_under_the_async_client_is_closed_with_its_request(
    anyio_backend: str, committed_apple: Item, opened_on_other_threads: list[Any]
) -> None:
    # The view runs in a thread asgiref starts for the request; the thread ends with it.
    async with dispatch({"/shop": get_asgi_application()}) as client:
        response = await client.get("/shop/items/")
        still_open = [c for c in opened_on_other_threads if is_open(c)]

    assert response.json() == {"names": ["apple"]}
    assert opened_on_other_threads, "the view ran on the test's thread"
    assert still_open == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_connections_a2wsgis_worker_threads_open_are_closed_with_each_request(
    anyio_backend: str, committed_apple: Item, opened_on_other_threads: list[Any]
) -> None:
    # a2wsgi's worker threads outlive the request: they serve the next one on a new connection.
    answers, still_open = [], []
    async with dispatch({"/shop": get_wsgi_application()}) as client:
        for _ in range(3):
            answers.append((await client.get("/shop/items/")).json())
            still_open += [c for c in opened_on_other_threads if is_open(c)]

    assert answers == [{"names": ["apple"]}] * 3
    assert len(opened_on_other_threads) == 3  # one per request
    assert still_open == []
