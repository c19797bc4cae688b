"""Outbound calls through the plugin: `asgi_outbound`, mocks beside it, cleanup, xdist."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import fastapi, flask, pytest, requests

def billing():
    app = fastapi.FastAPI()

    @app.post("/charges")
    async def charges(request: fastapi.Request):
        return {"charged_by": request.headers["host"]}

    return app

def shop():
    app = flask.Flask("shop")

    @app.post("/checkout")
    def checkout():
        answer = requests.post("http://billing.test/charges", timeout=10)
        return {"billing": answer.json()}

    return app

@pytest.fixture
def asgi_apps():
    return {"/": shop(), "billing.test": billing()}
"""


def test_the_fixtures_serve_calls_to_mounted_hosts_by_default(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        def test_checkout(asgi_sync_client):
            answer = asgi_sync_client.post("/checkout")
            assert answer.json() == {"billing": {"charged_by": "billing.test"}}
        """
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=1)


def test_asgi_outbound_off_leaves_calls_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasgi_outbound = off\n")
    pytester.makepyfile(
        """
        import httpx

        def test_not_patched(asgi_sync_client):
            assert httpx.Client._transport_for_url is httpx._client.Client.__dict__[
                "_transport_for_url"] is GENUINE

        GENUINE = httpx.Client.__dict__["_transport_for_url"]
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_bad_asgi_outbound_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasgi_outbound = sometimes\n")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*asgi_outbound = 'sometimes' is not one of 'off', 'mounted'*"])


def test_everything_is_undone_after_a_failing_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import httpx, requests

        GENUINE = (httpx.Client._transport_for_url, requests.Session.get_adapter)

        def test_fails_while_outbound_is_on(asgi_sync_client):
            assert httpx.Client._transport_for_url is not GENUINE[0]
            assert False, "the test fails"

        def test_after_it(pytestconfig):
            assert (httpx.Client._transport_for_url, requests.Session.get_adapter) == GENUINE
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test fails*"])


def test_respx_and_pytest_httpx_mocks_work_beside_it_in_either_order(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import httpx, pytest, respx

        def calls(client):
            mocked = httpx.get("https://payments.example/ok").json()
            served = httpx.post("http://billing.test/charges").json()
            return mocked, served

        @pytest.fixture
        def respx_first():
            with respx.mock(assert_all_called=False) as router:
                router.get("https://payments.example/ok").respond(json="mocked")
                yield

        def test_respx_entered_first(respx_first, asgi_sync_client):
            assert calls(asgi_sync_client) == ("mocked", {"charged_by": "billing.test"})

        def test_respx_entered_after(asgi_sync_client):
            with respx.mock(assert_all_called=False) as router:
                router.get("https://payments.example/ok").respond(json="mocked")
                assert calls(asgi_sync_client) == ("mocked", {"charged_by": "billing.test"})

        def test_pytest_httpx_entered_first(httpx_mock, asgi_sync_client):
            httpx_mock.add_response(url="https://payments.example/ok", json="mocked")
            assert calls(asgi_sync_client) == ("mocked", {"charged_by": "billing.test"})

        def test_pytest_httpx_entered_after(asgi_sync_client, httpx_mock):
            httpx_mock.add_response(url="https://payments.example/ok", json="mocked")
            assert calls(asgi_sync_client) == ("mocked", {"charged_by": "billing.test"})
        """
    )
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=4)


def test_under_xdist_each_worker_serves_its_own_calls(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        **{
            f"test_worker_{n}": """
            def test_checkout(asgi_sync_client):
                answer = asgi_sync_client.post("/checkout")
                assert answer.json() == {"billing": {"charged_by": "billing.test"}}
            """
            for n in range(2)
        }
    )
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=2)
