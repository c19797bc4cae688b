"""The plugin's traffic trace: `asgi_trace`, the "asgi traffic" section, --asgi-trace-dir.

Each test runs an inner pytest session on a real shop (Starlette) that charges through
a real billing service (Flask, on its own host, reached over HTTP in-process).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_asgi_dispatch import Trace
from tests.plugin_support import make_project, run

SHOP = """
import httpx
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


class Boom(Exception):
    pass


billing = Flask("billing")


@billing.post("/charges")
def charge():
    raise Boom("card declined")


async def checkout(request):
    async with httpx.AsyncClient() as client:
        charge = await client.post("http://billing.test/charges")
    return JSONResponse({"billing": charge.status_code}, status_code=502)


async def hello(request):
    return PlainTextResponse("hello")


shop = Starlette(routes=[Route("/checkout", checkout, methods=["POST"]), Route("/hello", hello)])
"""

CONFTEST = """
import pytest

import shop


@pytest.fixture(scope="session")
def asgi_apps():
    return {"/shop": shop.shop, "billing.test": shop.billing}
"""

FAILING_CHECKOUT = """
def test_checkout(asgi_sync_client):
    response = asgi_sync_client.post("/shop/checkout")
    assert response.status_code == 200
"""

PASSING_HELLO = """
def test_hello(asgi_sync_client):
    assert asgi_sync_client.get("/shop/hello").text == "hello"
"""

# The section as it prints for the failing checkout: the shop's call to billing, under
# the test's call to the shop.
CHECKOUT_SECTION = [
    "*- asgi traffic -*",
    "#  caller -> mount * method * path * status * time  exception",
    "1  test -> /shop * POST * /shop/checkout * 502 * ms",
    "2  /shop -> billing.test  POST * /charges * 500 * ms  Boom: card declined",
]


def project(pytester: pytest.Pytester, ini: str = "", **tests: str) -> None:
    make_project(pytester, ini, conftest=CONFTEST, **tests)
    pytester.makepyfile(shop=SHOP)


def test_a_failing_tests_report_shows_the_traffic_between_the_apps(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, test_shop=FAILING_CHECKOUT)

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([*CHECKOUT_SECTION, "*short test summary info*"])


def test_the_async_client_is_traced_on_both_backends(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_async="""
        import pytest

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_hello(asgi_client, anyio_backend):
            await asgi_client.get("/shop/hello?backend=" + anyio_backend)
            assert anyio_backend == "neither"
        """,
        ini="asgi_dispatch_scope = function",
    )

    result = run(pytester)

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*- asgi traffic -*",
            "1  test -> /shop * GET * /shop/hello?backend=asyncio * 200 * ms",
            "*- asgi traffic -*",
            "1  test -> /shop * GET * /shop/hello?backend=trio * 200 * ms",
        ]
    )


def test_passing_tests_get_no_section_unless_the_ini_says_always(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, test_hello=PASSING_HELLO)

    quiet = run(pytester, "-rP")
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
        "asgi_trace = always\n"
    )
    shown = run(pytester, "-rP")

    quiet.assert_outcomes(passed=1)
    assert "asgi traffic" not in quiet.stdout.str()
    shown.assert_outcomes(passed=1)
    shown.stdout.fnmatch_lines(
        [
            "*- asgi traffic -*",
            "*caller -> mount*",
            "1  test -> /shop * GET * /shop/hello * 200 * ms",
        ]
    )


def test_off_shows_nothing_and_asgi_trace_still_records(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        ini="asgi_trace = off",
        test_shop=FAILING_CHECKOUT
        + """

def test_the_fixture_records(asgi_sync_client, asgi_trace):
    asgi_sync_client.post("/shop/checkout")
    asgi_trace.assert_called("billing.test", "POST", "/charges", status=500)
    assert [call.caller for call in asgi_trace.calls] == ["test", "/shop"]
""",
    )

    result = run(pytester, "--asgi-trace-dir", "traces")

    result.assert_outcomes(failed=1, passed=1)
    assert "asgi traffic" not in result.stdout.str()
    assert len(list((pytester.path / "traces").glob("*.json"))) == 1  # asked for explicitly


def test_each_test_gets_its_own_calls_from_a_session_scoped_client(
    pytester: pytest.Pytester,
) -> None:
    project(
        pytester,
        ini="asgi_dispatch_scope = session",
        test_first="""
        def test_first(asgi_sync_client, asgi_trace):
            asgi_sync_client.get("/shop/hello?first")
            assert [call.url for call in asgi_trace.calls] == ["http://testserver/shop/hello?first"]
        """,
        test_second="""
        def test_second(asgi_sync_client, asgi_trace):
            assert asgi_trace.calls == []
            asgi_sync_client.get("/shop/hello?second")
            assert [call.query for call in asgi_trace.calls] == ["second"]
            assert False
        """,
    )

    result = run(pytester, "-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- asgi traffic -*",
            "*caller -> mount*",
            "1  test -> /shop * GET * /shop/hello?second * 200 *",
        ]
    )
    assert "?first" not in result.stdout.str()


def test_the_trace_dir_gets_json_and_markdown_for_each_failing_test(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, test_shop=FAILING_CHECKOUT + PASSING_HELLO)

    result = run(pytester, "--asgi-trace-dir", "traces")

    result.assert_outcomes(failed=1, passed=1)
    (json_file,) = (pytester.path / "traces").glob("*.json")
    (markdown_file,) = (pytester.path / "traces").glob("*.md")
    assert (
        json_file.stem == markdown_file.stem == f"test_shop.py__test_checkout-{json_file.stem[-8:]}"
    )
    data = json.loads(json_file.read_text())
    assert (data["test"], data["outcome"]) == ("test_shop.py::test_checkout", "failed")
    trace = Trace.from_json(json_file.read_text())
    assert [(call.caller, call.mount, call.status) for call in trace.calls] == [
        ("test", "/shop", 502),
        ("/shop", "billing.test", 500),
    ]
    assert str(trace.calls[1].error) == "card declined"
    markdown = markdown_file.read_text()
    assert markdown.startswith("# test_shop.py::test_checkout (failed)\n")
    assert f"```mermaid\n{trace.to_mermaid()}```\n" in markdown


def test_the_github_step_summary_gets_each_failing_tests_diagram(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text("# Earlier steps' summary\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    project(pytester, test_shop=FAILING_CHECKOUT + PASSING_HELLO)

    run(pytester).assert_outcomes(failed=1, passed=1)

    text = summary.read_text()
    assert text.startswith(
        "# Earlier steps' summary\n### asgi traffic of `test_shop.py::test_checkout`"
    )
    assert text.count("```mermaid\nsequenceDiagram\n") == 1
    assert "    P1->>P2: POST /charges\n    P2--xP1: 500, Boom: card declined\n" in text
    assert "test_hello" not in text


def test_under_xdist_each_failing_test_has_its_files_and_summary_entry(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    project(
        pytester,
        test_many="""
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_checkout(asgi_sync_client, n):
            asgi_sync_client.get(f"/shop/hello?n={n}")
            assert asgi_sync_client.post("/shop/checkout").status_code == 200
        """,
    )

    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--asgi-trace-dir", "traces", timeout=120
    )

    result.assert_outcomes(failed=6)
    files = sorted((pytester.path / "traces").glob("*.json"))
    assert len(files) == 6
    for n, file in enumerate(sorted(files, key=lambda f: json.loads(f.read_text())["test"])):
        calls = Trace.from_json(file.read_text()).calls
        assert calls[0].url == f"http://testserver/shop/hello?n={n}"
        assert len(calls) == 3  # this test's only, though each worker's client is shared
    text = summary.read_text()
    assert text.count("```mermaid\nsequenceDiagram\n") == 6
    assert text.count("\n```\n") == 6  # whole entries, none cut into another
    assert result.stdout.str().count("- asgi traffic -") == 6


def test_a_bad_asgi_trace_value_is_refused_naming_the_option(pytester: pytest.Pytester) -> None:
    project(pytester, ini="asgi_trace = sometimes", test_hello=PASSING_HELLO)

    result = run(pytester)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*asgi_trace = 'sometimes' is not one of failed, always, off*"])


def test_a_failing_fixture_shows_the_traffic_of_the_setup(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        test_setup="""
        import pytest

        @pytest.fixture
        def logged_in(asgi_sync_client):
            asgi_sync_client.get("/shop/hello?login")
            raise RuntimeError("login failed")

        def test_it(logged_in):
            pass
        """,
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*- asgi traffic -*",
            "*caller -> mount*",
            "1  test -> /shop * GET * /shop/hello?login * 200 * ms",
        ]
    )


def test_markdown_files_are_named_safely_for_any_test_id(tmp_path: Path) -> None:
    from pytest_asgi_dispatch._trace_report import file_stem

    stem = file_stem("tests/test_a.py::TestX::test_y[param/with:odd *chars]")

    assert stem.startswith("tests_test_a.py__TestX__test_y_param_with_odd_chars")
    assert stem != file_stem("tests/test_a.py::TestX::test_y[param/with:odd ?chars]")
    (tmp_path / f"{stem}.json").write_text("{}")  # a name every OS takes


def test_the_how_to_shows_the_report_section_as_it_prints(pytester: pytest.Pytester) -> None:
    from tests.docs_support import page_blocks

    page = "docs/how-to/trace.md"
    blocks = {block.title: block for block in page_blocks(page) if block.title}
    for name in ("billing.py", "shop.py", "conftest.py", "test_checkout.py"):
        pytester.path.joinpath(name).write_text(blocks[name].code)
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    (console,) = [block for block in page_blocks(page) if block.code.startswith("$ pytest\n")]
    shown = console.code.splitlines()
    section = shown[shown.index(next(line for line in shown if "- asgi traffic -" in line)) :]

    result = run(pytester)

    result.assert_outcomes(failed=1)
    # As printed, but for the times (and so the columns' widths), which vary from run to run.
    result.stdout.fnmatch_lines(
        [re.sub(r" {2,}", " * ", re.sub(r"\d+\.\d ms", "* ms", line)) for line in section]
    )
