"""What differs by Python version, and the versions the package claims.

Each test here holds on every Python; noxfile.py runs it on each of them, so that both
sides of every difference run somewhere: `Runtime.spawn` (a websocket's or a lifespan's
task) starts on the next turn of the loop on 3.10 and 3.11 and at once on 3.12+ (a
request's app starts at once on every Python, `Runtime.spawn_now`: see
tests/test_transport_eager.py); 3.10 has exceptiongroup's backport and 3.11+ the
built-in groups. (sqlite3's warning on an unclosed connection, 3.13+, is the third: see
the connection tests in tests/djangoapp/db_cases.py, which count open connections
rather than wait for the warning, so they hold on every Python.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from starlette.applications import Starlette

from pytest_asgi_dispatch import LifespanError, dispatch
from pytest_asgi_dispatch._runtime import Runtime

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
VERSION_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")


@pytest.mark.anyio
async def test_the_apps_task_starts_at_once_only_on_asyncio_from_python_3_12(
    anyio_backend: str,
) -> None:
    ran = anyio.Event()

    async def app_task() -> None:
        ran.set()

    Runtime().spawn(app_task)
    started_at_once = ran.is_set()
    with anyio.fail_after(5):
        await ran.wait()

    assert started_at_once is (anyio_backend == "asyncio" and sys.version_info >= (3, 12))


@pytest.mark.anyio
async def test_a_lifespan_error_inside_a_task_group_is_named_not_its_group(
    anyio_backend: str,
) -> None:
    groups: list[type[BaseException]] = []

    async def fail() -> None:
        raise ValueError("no database")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(fail)
                await anyio.sleep_forever()
        except BaseException as raised:
            groups.append(type(raised))
            raise
        yield

    with pytest.raises(LifespanError, match=r"'/api'.*startup raised ValueError: no database"):
        async with dispatch({"/api": Starlette(lifespan=lifespan)}):
            pass

    # Which kind of group the app raised: the built-in one, or before 3.11 the backport's.
    assert len(groups) == 1
    assert groups[0].__module__ == ("builtins" if sys.version_info >= (3, 11) else "exceptiongroup")


def test_the_classifiers_name_every_python_from_requires_python_up() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    classified = [
        match.group(1)
        for classifier in project["classifiers"]
        if (match := VERSION_CLASSIFIER.fullmatch(classifier))
    ]
    minors = [int(version.split(".")[1]) for version in classified]

    assert project["requires-python"] == f">={classified[0]}"
    assert minors == list(range(minors[0], minors[0] + len(minors)))  # in order, no gaps
