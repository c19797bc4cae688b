"""pytest-xdist: the live server in two workers at once, through an inner pytest run."""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest
from flask import Flask, request

billing = Flask("billing")


@billing.get("/host")
def host():
    return {"host": request.host}


@pytest.fixture(scope="session")
def asgi_apps():
    return {"/billing": billing}
"""

TESTS = """
import json
import pathlib
import urllib.request

import pytest

PORTS = pathlib.Path(__file__).with_name("ports.log")


@pytest.mark.parametrize("n", range(8))
def test_the_live_server_answers(asgi_live_server, worker_id, n):
    url = f"{asgi_live_server.url}/billing/host"
    body = json.load(urllib.request.urlopen(url, timeout=10))
    assert body["host"] == f"127.0.0.1:{asgi_live_server.port}"
    with PORTS.open("a") as log:
        log.write(f"{worker_id} {asgi_live_server.port}\\n")
"""


def test_live_servers_in_two_xdist_workers_use_ports_of_their_own(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        asgi_dispatch_scope = session
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TESTS)

    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", timeout=120)

    result.assert_outcomes(passed=8)
    served = {
        tuple(line.split()) for line in (pytester.path / "ports.log").read_text().splitlines()
    }
    workers = {worker for worker, _ in served}
    ports = {port for _, port in served}
    assert workers == {"gw0", "gw1"}
    assert len(ports) == 2  # one session-scoped server per worker, each on its own port
