"""Every code block of README.md and docs/ runs, as written, in a real project.

How a page becomes a project (tests/docs_support.py): its `python`, `ini` and `toml`
blocks are gathered, per page or per section (heading) of it, into one project in a
temporary folder, most on top of the example's apps (`examples/django_flask`): a block
with `title="conftest.py"` (or any other name) is that file, `ini` and `toml` blocks are
the pytest configuration, an untitled block that defines tests is a test module, and an
untitled block without tests is a script run with `python`. Then `python -m pytest` runs
the project, and every test of the page must pass. `bash`, `console` and `text` blocks
are not run.

Writing docs:
- A block that cannot run on its own (an excerpt, one line of a larger file, names that
  stand for your own apps) is a fragment. Mark it with an HTML comment on the line
  above the fence, invisible on the page:

      <!--pytest.mark.skip-->
      ```python
      pytestmark = pytest.mark.asyncio(loop_scope="session")
      ```

  Fragments still have to compile (and an ini or toml fragment to parse).
- `<!--pytest-codeblocks:cont-->` above a block appends it to the block before.
- A new runnable block on a page listed in GROUPS runs with its section's group; on a
  section or page that no group covers, `test_every_block_that_runs_is_run` fails and
  says where: add a group below (its apps, the files the page takes for granted), or
  mark the block.
"""

from __future__ import annotations

import ast
import configparser
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from tests.docs_support import (
    EXAMPLE,
    EXCERPT,
    PAGES,
    ROOT,
    Block,
    Project,
    page_blocks,
    section_blocks,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@dataclass(frozen=True)
class Group:
    """Blocks of one page (or of some of its sections) that form one project."""

    id: str
    page: str
    sections: tuple[str, ...] = ()
    # Built on the example's apps (shop, orders, billing) and its pytest.ini.
    example: bool = True
    # The example's apps mounted by the tutorial's ini lines, for pages with no asgi_apps.
    apps_in_ini: bool = False
    # What the page takes for granted: the apps its tests talk to, for instance.
    files: Mapping[str, str] = field(default_factory=dict)
    config: str = ""
    # Tests of a page whose blocks are configuration only, and the folder they are in.
    tests: str = ""
    tests_in: str = "."
    # Of the sections' blocks, those in these languages (to keep tabs apart).
    languages: tuple[str, ...] = ("python", "ini", "toml")
    # `pytest` does not put the project's folder on sys.path, `python -m pytest` does.
    command: str = "python -m pytest"


ASYNC_RUNNERS = "docs/how-to/async-runners.md"
INI = "docs/how-to/ini-configuration.md"

# Both of the example's apps, where the tutorial's test shows them.
BOTH_APPS_MOUNTED = """
def test_the_shop_is_at_the_root(asgi_sync_client):
    response = asgi_sync_client.get("/orders/")
    assert response.headers["location"] == "/accounts/login/?next=/orders/"


def test_billing_is_under_its_prefix(asgi_sync_client):
    response = asgi_sync_client.get("/billing/invoices")
    assert response.headers["location"] == "/accounts/login/?next=%2Fbilling%2Finvoices"
"""

SCOPES = "docs/how-to/scopes-and-lifespans.md"

ONE_CLIENT_FOR_THE_SESSION = """
clients = []


def test_one(asgi_sync_client):
    clients.append(asgi_sync_client)
    assert asgi_sync_client.get("/billing/invoices").status_code == 302


def test_two(asgi_sync_client):
    assert asgi_sync_client is clients[0]
"""

THE_COMBINED_APP_SERVES_BOTH = """
from combined import app
from pytest_asgi_dispatch import dispatch_sync


def test_the_combined_app_serves_both():
    with dispatch_sync(app) as client:
        assert client.get("/orders/").headers["location"] == "/accounts/login/?next=/orders/"
        assert client.get("/billing/invoices").status_code == 302
"""

BILLING_ANSWERS_ASYNC_TESTS = """
import pytest


@pytest.mark.anyio
async def test_billing_answers_the_async_client(asgi_client):
    response = await asgi_client.get("/billing/invoices")
    assert response.status_code == 302
"""

# The Django project the Django page's examples assume: items, listed by name at /items/.
DJANGO_ITEMS = {
    "settings.py": """
SECRET_KEY = "docs-only"
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "items"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
""",
    "urls.py": """
from django.http import JsonResponse
from django.urls import path

from items.models import Item


def items(request):
    return JsonResponse({"names": [item.name for item in Item.objects.order_by("name")]})


urlpatterns = [path("items/", items)]
""",
    "items/__init__.py": "",
    "items/models.py": """
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)
""",
}

INI_OPTIONS_TAKE_EFFECT = """
clients = []


def test_the_base_url_is_the_one_configured(asgi_sync_client):
    clients.append(asgi_sync_client)
    assert str(asgi_sync_client.base_url) == "http://shop.test"


def test_the_client_lives_for_the_session(asgi_sync_client):
    assert asgi_sync_client is clients[0]
"""

GROUPS = [
    Group("readme", "README.md", sections=("Quick start",)),
    Group("index", "docs/index.md"),
    Group(
        "anyio",
        ASYNC_RUNNERS,
        sections=("With anyio", "Pin the backend to asyncio", "Django's database in async tests"),
        apps_in_ini=True,
    ),
    Group(
        "pytest-asyncio",
        ASYNC_RUNNERS,
        sections=("With pytest-asyncio", "Module- and session-scoped clients"),
        apps_in_ini=True,
    ),
    Group(
        "ini-apps-in-pyproject-toml",
        INI,
        sections=("Mount apps without writing a fixture",),
        languages=("toml",),
        tests=BOTH_APPS_MOUNTED,
    ),
    Group(
        "ini-pythonpath",
        INI,
        sections=("Mount apps without writing a fixture", "Where the apps are imported from"),
        languages=("ini",),
        tests=BOTH_APPS_MOUNTED,
        tests_in="tests",
        command="pytest",
    ),
    Group("ini-fixture", INI, sections=("Fixture or ini?",), tests=BOTH_APPS_MOUNTED),
    Group(
        "ini-options",
        INI,
        sections=(
            "Change the host the apps see",
            "Change the lifespan timeouts",
            "Run lifespans once per module or session",
        ),
        apps_in_ini=True,
        tests=INI_OPTIONS_TAKE_EFFECT,
    ),
    Group("live-server", "docs/how-to/live-server.md", apps_in_ini=True),
    Group(
        "session-scope",
        SCOPES,
        sections=("Choose the scope",),
        tests=ONE_CLIENT_FOR_THE_SESSION,
    ),
    Group(
        "sync-tests",
        "docs/how-to/sync-tests.md",
        sections=("Sync tests", "Django and the test database", "Outside pytest", "On trio"),
        apps_in_ini=True,
    ),
    Group(
        "login-sessions-csrf",
        "docs/how-to/login-sessions-csrf.md",
        sections=("Log in to a Django mount",),
        apps_in_ini=True,
    ),
    Group("http-clients", "docs/how-to/http-clients.md", apps_in_ini=True),
    Group("websockets", "docs/how-to/websockets.md"),
    Group(
        "django",
        "docs/frameworks/django.md",
        sections=("Mount it", "The test database", "What does not see the test's rows"),
        example=False,
        files=DJANGO_ITEMS,
        config="DJANGO_SETTINGS_MODULE = settings",
    ),
    Group(
        "flask",
        "docs/frameworks/flask.md",
        sections=("Mount it",),
        tests=BILLING_ANSWERS_ASYNC_TESTS,
    ),
    Group("django-test-suites", "docs/how-to/django-test-suites.md"),
    Group("trace", "docs/how-to/trace.md", example=False),
    Group("outbound", "docs/how-to/outbound.md", example=False),
    Group(
        "outside-fixtures",
        SCOPES,
        sections=("Outside pytest fixtures",),
        tests=THE_COMBINED_APP_SERVES_BOTH,
    ),
]


@pytest.mark.parametrize("group", GROUPS, ids=[group.id for group in GROUPS])
def test_the_page_runs_as_written(pytester: pytest.Pytester, group: Group) -> None:
    project = Project(pytester, example=group.example)
    if group.apps_in_ini:
        project.add(tutorial_ini_lines())
    for name, text in group.files.items():
        project.write(name, text)
    project.configure(group.config)
    if group.tests:
        project.tests(f"{group.tests_in}/test_what_the_page_configures.py", group.tests)
    project.add(
        block
        for block in section_blocks(group.page, group.sections)
        if block.language in group.languages
    )

    project.run(command=group.command)


def tutorial_ini_lines() -> list[Block]:
    """The tutorial's ini lines that mount the example's apps instead of its fixture."""
    return section_blocks("docs/tutorial.md", ["3. Mount them"])


def test_the_example_runs_as_the_tutorial_shows_it(pytester: pytest.Pytester) -> None:
    project = Project(pytester, example=True)
    project.write("conftest.py", (EXAMPLE / "conftest.py").read_text())
    project.tests("test_shop_and_billing.py", (EXAMPLE / "test_shop_and_billing.py").read_text())

    project.run()


def test_the_example_runs_with_the_tutorials_ini_lines_instead_of_its_fixture(
    pytester: pytest.Pytester,
) -> None:
    project = Project(pytester, example=True)
    project.write(
        "conftest.py", without_function((EXAMPLE / "conftest.py").read_text(), "asgi_apps")
    )
    project.tests("test_shop_and_billing.py", (EXAMPLE / "test_shop_and_billing.py").read_text())
    project.add(tutorial_ini_lines())

    project.run()


def without_function(source: str, name: str) -> str:
    module = ast.parse(source)
    kept = [node for node in module.body if getattr(node, "name", None) != name]
    assert len(kept) == len(module.body) - 1, f"no function {name} in the source"
    module.body = kept
    return ast.unparse(module)


# Runnable blocks that a test other than test_the_page_runs_as_written runs.
RUN_ELSEWHERE = {("docs/tutorial.md", "3. Mount them")}


@pytest.mark.parametrize("page", PAGES)
def test_every_block_that_runs_is_run(page: str) -> None:
    groups = [group for group in GROUPS if group.page == page]
    covered = {(page, section) for group in groups for section in group.sections}
    whole_page = any(not group.sections for group in groups)
    left_out = [
        block.where
        for block in page_blocks(page)
        if block.runs and not whole_page and (page, block.section) not in covered | RUN_ELSEWHERE
    ]
    assert not left_out, (
        f"code blocks that no test runs: {', '.join(left_out)}. Add a group for their "
        "page or section to GROUPS in tests/test_docs.py, or mark each fragment with "
        "<!--pytest.mark.skip--> on the line above it"
    )


@pytest.mark.parametrize("page", PAGES)
def test_fragments_compile(page: str) -> None:
    for block in page_blocks(page):
        if block.fragment and block.language == "python":
            compile(block.code, block.where, "exec")
        elif block.fragment and block.language == "ini":
            configparser.ConfigParser().read_string(block.code, block.where)
        elif block.fragment and block.language == "toml":
            tomllib.loads(block.code)


@pytest.mark.parametrize("page", PAGES)
def test_snippets_and_excerpts_are_the_files_they_name(page: str) -> None:
    for block in page_blocks(page):
        if block.included_file:
            assert (ROOT / block.included_file).is_file(), block.where
            assert block.included_file.startswith("examples/django_flask/"), (
                f"{block.where}: a snippet shows a file of the example project, which runs it"
            )
        if block.title.endswith(EXCERPT):
            name = block.title.removesuffix(EXCERPT)
            assert block.code in (EXAMPLE / name).read_text(), (
                f"{block.where}: not an excerpt of {name}"
            )
