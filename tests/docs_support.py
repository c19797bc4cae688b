"""The code blocks of README.md and docs/, and real projects built from them (tests/test_docs.py).

pytest-codeblocks finds the blocks (and the `<!--pytest.mark.skip-->` comment that marks
a fragment); this module only sorts them into the files of a project: a titled block is
the file its title names, an ini or toml block goes into the project's pytest
configuration, an untitled Python block is a test module if it defines tests and a
script to run otherwise.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from pytest_codeblocks import extract_from_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "django_flask"
PAGES = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")))

# What runs: Python, and the pytest configuration it runs under. Shell blocks install
# packages or start servers, and text blocks show output: they are shown, not run.
RUN_LANGUAGES = frozenset({"python", "ini", "toml"})
FRAGMENT_MARK = "pytest.mark.skip"
# mkdocs' pymdownx.snippets include: the block is the named file of the repository.
SNIPPET = "--8<--"
# A block titled "shop/settings.py (excerpt)" shows some lines of that file of the example.
EXCERPT = " (excerpt)"

# Seconds an inner pytest run or a script may take, far above what they need.
RUN_TIMEOUT = 120
# Plugins of this project's own suite that the docs' projects do not use, off for speed.
UNUSED_PLUGINS = ("cacheprovider", "hypothesispytest", "faker", "xdist", "playwright")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int
    language: str
    title: str
    code: str
    fragment: bool
    section: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def included_file(self) -> str | None:
        """The repository file a snippet block shows, if it is one."""
        lines = self.code.strip().splitlines()
        if len(lines) == 3 and lines[0] == lines[2] == SNIPPET:
            return lines[1].strip()
        return None

    @property
    def runs(self) -> bool:
        return (
            self.language in RUN_LANGUAGES
            and not self.fragment
            and not self.included_file
            and not self.title.endswith(EXCERPT)
        )

    def test_names(self) -> list[str]:
        """The test functions the block defines (none for a conftest or a script)."""
        if self.language != "python" or not Path(self.title or "test_").name.startswith("test"):
            return []
        return test_functions(self.code)


def page_blocks(page: str) -> list[Block]:
    """Every fenced code block of the page, in order, with its heading."""
    text = (ROOT / page).read_text()
    found = extract_from_file(ROOT / page)
    inside = set()
    for block in found:
        inside.update(range(block.lineno, block.lineno + block.code.count("\n") + 2))
    headings = [
        (number, line.lstrip("#").strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith("#") and number not in inside
    ]
    blocks = []
    for block in found:
        language, _, attributes = (block.syntax or "").partition(" ")
        title = re.search(r'title="([^"]*)"', attributes)
        section = [heading for number, heading in headings if number < block.lineno]
        blocks.append(
            Block(
                page=page,
                line=block.lineno,
                language=language,
                title=title[1] if title else "",
                code=block.code,
                fragment=any(mark.strip().startswith(FRAGMENT_MARK) for mark in block.marks),
                section=section[-1] if section else "",
            )
        )
    return blocks


def section_blocks(page: str, sections: Iterable[str] = ()) -> list[Block]:
    """The blocks that run of the page's given sections (by heading), or of all of it."""
    wanted = set(sections)
    chosen = [b for b in page_blocks(page) if b.runs and (not wanted or b.section in wanted)]
    missing = wanted - {b.section for b in page_blocks(page)}
    assert not missing, f"{page} has no sections {sorted(missing)} with code blocks"
    return chosen


class Project:
    """A real project in pytester's folder: files, one pytest configuration, scripts."""

    def __init__(self, pytester: pytest.Pytester, *, example: bool) -> None:
        self.pytester = pytester
        self.path = pytester.path
        # pytest's options by name: the language they are written in, and their lines.
        self.config: dict[str, tuple[str, list[str]]] = {}
        self.config_file = "pytest.ini"
        self.scripts: list[str] = []
        self.test_names: list[str] = []
        self.written: dict[str, str] = {}
        if example:
            self.copy_example()
        else:
            self.configure("filterwarnings = error\nasyncio_default_fixture_loop_scope = function")

    def copy_example(self) -> None:
        """The example's apps and its pytest.ini; no conftest.py and no tests of its own."""
        for name in ("shop", "orders", "billing"):
            shutil.copytree(
                EXAMPLE / name, self.path / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        shutil.copy(EXAMPLE / "manage.py", self.path)
        self.configure(
            "\n".join(
                line
                for line in (EXAMPLE / "pytest.ini").read_text().splitlines()[1:]
                if line.strip() and not line.startswith("#")
            )
        )

    def write(self, name: str, text: str, *, by: str = "") -> None:
        if name in self.written:
            raise AssertionError(
                f"{by or name}: {name} is already written by {self.written[name]}; "
                "mark one of the two blocks as a fragment, or put them in two groups"
            )
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.written[name] = by or "the test"

    def configure(self, body: str, language: str = "ini") -> None:
        """Set options from `key = value` lines (continuation lines indented)."""
        key = ""
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[:1].isspace():
                assert key, f"a continuation line with no option before it: {line!r}"
                self.config[key][1].append(line)
            else:
                key = line.partition("=")[0].strip()
                self.config[key] = (language, [line])

    def add(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
            if block.language in ("ini", "toml"):
                self.add_config(block)
            elif block.title:
                self.write(block.title, block.code, by=block.where)
                self.test_names.extend(block.test_names())
            elif names := block.test_names():
                self.write(module_name(block, "test"), block.code, by=block.where)
                self.test_names.extend(names)
            else:
                self.write(module_name(block, "script"), block.code, by=block.where)
                self.scripts.append(module_name(block, "script"))

    def add_config(self, block: Block) -> None:
        header, _, body = block.code.partition("\n")
        expected = "[pytest]" if block.language == "ini" else "[tool.pytest.ini_options]"
        assert header.strip() == expected, f"{block.where}: a config block starts with {expected}"
        if block.language == "toml":
            self.config_file = "pyproject.toml"
        self.configure(body, block.language)

    def tests(self, name: str, code: str) -> None:
        """Tests of the project that the page takes for granted (its config blocks have none)."""
        self.write(name, code)
        self.test_names.extend(test_functions(code))

    def run(self, command: str = "python -m pytest") -> None:
        """The command in the project, then each script; every test must pass."""
        self.write_config()
        environ = self.environ()
        python = [sys.executable, "-m", "pytest"]
        pytest_command = {"python -m pytest": python, "pytest": [pytest_script()]}[command]
        result = subprocess.run(
            [*pytest_command, "-v", "-rfE", *unused_plugins()],
            cwd=self.path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert self.test_names, "a project with no tests"
        for name in self.test_names:
            assert any(fnmatch(line, f"*::{name}* PASSED*") for line in output.splitlines()), (
                f"{name} did not pass:\n{output}"
            )
        for script in self.scripts:
            ran = subprocess.run(
                [sys.executable, script],
                cwd=self.path,
                env=environ,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                check=False,
            )
            assert ran.returncode == 0, f"{script}:\n{ran.stdout}{ran.stderr}"

    def write_config(self) -> None:
        if self.config_file == "pytest.ini":
            assert all(language == "ini" for language, _ in self.config.values())
            lines = [line for _, option in self.config.values() for line in option]
            self.write("pytest.ini", "\n".join(["[pytest]", *lines]) + "\n")
        else:
            lines = [
                as_toml(option) if language == "ini" else "\n".join(option)
                for language, option in self.config.values()
            ]
            self.write("pyproject.toml", "\n".join(["[tool.pytest.ini_options]", *lines]) + "\n")

    def environ(self) -> Mapping[str, str]:
        """This process's environment, less what this project's own suite set in it."""
        ours = {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"}
        return {name: value for name, value in os.environ.items() if name not in ours}


def test_functions(code: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(code).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    ]


def module_name(block: Block, kind: str) -> str:
    """A file name that says where the block is: test_websockets_14.py."""
    stem = Path(block.page).stem.replace("-", "_").lower()
    return f"{kind}_{stem}_{block.line}.py"


def as_toml(option: list[str]) -> str:
    """An ini option in TOML: a string, or a list of strings for one of several lines."""
    key, _, value = option[0].partition("=")
    values = [v.strip() for v in [value, *option[1:]] if v.strip()]
    toml = f'"{values[0]}"' if len(option) == 1 else "[" + ", ".join(f'"{v}"' for v in values) + "]"
    return f"{key.strip()} = {toml}"


def pytest_script() -> str:
    """The `pytest` command installed next to this Python."""
    return str(Path(sys.executable).with_name("pytest"))


def unused_plugins() -> list[str]:
    return [f"-pno:{name}" for name in UNUSED_PLUGINS]
