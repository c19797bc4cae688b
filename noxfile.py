"""The test matrix: the suite on every Python the package supports, each in a fresh venv.

    nox                            # every session
    nox -s tests-3.12              # one Python
    nox -s tests-3.13 -- -k django # pytest's arguments after --

Two sessions run the whole suite: the oldest Python on httpx and the newest on httpx2;
every other session runs the library and plugin tests (CI's time, see `.ci/run`).
Between them the two ends cover each side of what differs by version:
asyncio's eager task start (3.12+), the built-in `ExceptionGroup` (3.11+) against the
`exceptiongroup` backport, sqlite3's warning on an unclosed connection (3.13+), and
the Django release each Python gets (6.x needs 3.12).

nox takes each `pythonX.Y` from PATH and never downloads one; `.ci/run` finds pyenv's
and puts them first on PATH (locally, with pyenv: `pyenv shell 3.10 3.11 3.12 3.13`),
and skips the session of the Python its README command has just run the whole suite on.
The second axis is the client library: each Python can run the suite on httpx (the
`test` extra alone) and on httpx2 (with the `httpx2` extra, so that `auto`, the default
of `http_client=` and of the fixtures, picks httpx2 in every test, and the tests take the
library's own types from tests/conftest.py's `http` fixture). `nox` runs both on every
Python; `.ci/run` runs httpx on every Python and httpx2 on the newest, to keep CI's time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox
from nox.command import CommandFailed

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # nox's own dependency before 3.11

nox.options.default_venv_backend = "uv|virtualenv"  # uv installs in seconds; pip otherwise
nox.options.error_on_missing_interpreters = True  # a Python missing fails, never skips
nox.options.download_python = "never"  # only the interpreters installed here


def _classified_pythons() -> list[str]:
    """The Python versions pyproject.toml's classifiers claim, oldest first."""
    project = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())["project"]
    versions = [
        match.group(1)
        for classifier in project["classifiers"]
        if (match := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier))
    ]
    return sorted(versions, key=lambda version: int(version.split(".")[1]))


# The versions the classifiers claim (a test holds them to requires-python): a new
# Python joins the matrix by its classifier.
PYTHONS = _classified_pythons()
WHOLE_SUITE = {(PYTHONS[0], "httpx"), (PYTHONS[-1], "httpx2")}
# What the Pythons between skip: the slow whole-stack tests (a browser, servers, the docs'
# examples, subprocess runs on each database, load), whose outcome depends on the other
# programs more than on the interpreter. The framework matrix stays: each Python gets
# its own releases of the frameworks.
WHOLE_STACK_ONLY = [
    "tests/test_browser*.py",
    "tests/test_django_client_suite.py",
    "tests/test_django_db.py",
    "tests/test_docs*.py",
    "tests/test_live.py",
    "tests/test_load.py",
    "tests/test_outbound_plugin.py",
    "tests/test_xdist.py",
]
# The client libraries, each with the extras its venv installs: `auto` picks httpx2
# wherever it is installed, so the venv decides which library the whole suite runs on.
CLIENT_EXTRAS = {"httpx": "test", "httpx2": "test,httpx2"}
NO_TESTS_RAN = 5  # pytest's exit code when nothing was collected or everything deselected


@nox.session(python=PYTHONS)
@nox.parametrize("client", list(CLIENT_EXTRAS))
def tests(session: nox.Session, client: str) -> None:
    """The suite on one Python and one client library; pytest's arguments after `--`."""
    session.install("-e", f".[{CLIENT_EXTRAS[client]}]")
    selection = [] if (session.python, client) in WHOLE_SUITE else _skipping(WHOLE_STACK_ONLY)
    arguments = session.posargs or ["-n", "auto"]
    try:
        session.run("python", "-m", "pytest", *selection, *arguments)
    except CommandFailed as failure:
        if failure.return_code == NO_TESTS_RAN:  # a failure, but say why
            session.error(
                f"pytest ran no test on Python {session.python} ({client}): nothing matches "
                f"{' '.join([*selection, *arguments])}; widen the selection"
            )
        raise


def _skipping(patterns: list[str]) -> list[str]:
    return [f"--ignore-glob={pattern}" for pattern in patterns]
