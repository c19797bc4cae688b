"""A Django view called in-process sees the test's database: in-memory SQLite, file, PostgreSQL.

The cases live in tests/djangoapp/db_cases.py. They run here on the root session's
in-memory SQLite, and in pytest subprocesses on a SQLite file and on PostgreSQL, since
Django is configured once per process.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.asgi import get_asgi_application
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created

from pytest_asgi_dispatch import dispatch_sync
from tests.djangoapp.db_cases import *  # noqa: F403  (the cases, on in-memory SQLite)

PROJECT = Path(__file__).resolve().parent.parent
POSTGRES_URL_VARIABLE = "PYTEST_ASGI_DISPATCH_POSTGRES"
CASES = 16  # the test functions in db_cases.py, each run once


def signal_state() -> tuple[int, int]:
    """The finalizers Django's signals keep for weak receivers, and their receivers."""
    signals = (request_started, request_finished, connection_created)
    finalizers = [
        info
        for info in weakref.finalize._registry.values()  # type: ignore[attr-defined]
        if getattr(info.func, "__self__", None) in signals  # a Signal's _remove_receiver
    ]
    return len(finalizers), sum(len(signal.receivers) for signal in signals)


@pytest.mark.django_db
@pytest.mark.parametrize("handler", [get_asgi_application, get_wsgi_application])
def test_sparing_the_tests_connections_leaves_nothing_behind_per_request(
    handler: object,
) -> None:
    # Each request spares the test's connections from Django's request signals; doing so
    # by reconnecting receivers left two finalizers per request (and GC work) for good.
    with dispatch_sync({"/shop": handler()}) as client:  # type: ignore[operator]
        assert client.get("/shop/items/").status_code == 200  # lazily connected ones, done
        before = signal_state()
        for _ in range(20):
            assert client.get("/shop/items/").json() == {"names": []}
        after = signal_state()

    assert after == before


def run_the_cases(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, databases: str
) -> pytest.RunResult:
    """Run db_cases.py in a pytest subprocess whose Django settings use `databases`."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])
    )
    pytester.makepyfile(
        db_settings=f"from tests.djangoapp.settings import *  # noqa\nDATABASES = {databases}\n",
        test_cases="from tests.djangoapp.db_cases import *  # noqa\n",
    )
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    # --ds: the root session exported DJANGO_SETTINGS_MODULE, which beats an ini option.
    return pytester.runpytest_subprocess("--ds=db_settings", "-p", "no:cacheprovider", "-rs")


def test_the_cases_pass_on_a_sqlite_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = str(pytester.path / "db.sqlite3")
    databases = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": database,
            "TEST": {"NAME": str(pytester.path / "test_db.sqlite3")},
        }
    }

    result = run_the_cases(pytester, monkeypatch, repr(databases))

    result.assert_outcomes(passed=CASES - 3, skipped=3)


def postgres_url() -> str:
    """The PostgreSQL server's URL, or skip saying how to get one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    how = (
        f"set {POSTGRES_URL_VARIABLE}=postgresql://user:password@host:port/db "
        '(eval "$(.ci/postgres)" starts a server and sets it)'
    )
    if not url:
        pytest.skip(f"no PostgreSQL server: {how}")
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at {url} is unreachable ({error}): {how}")
    return url


def test_the_cases_pass_on_postgresql(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = urlsplit(postgres_url())
    databases = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
        }
    }

    result = run_the_cases(pytester, monkeypatch, repr(databases))

    result.assert_outcomes(passed=CASES - 1, skipped=1)
