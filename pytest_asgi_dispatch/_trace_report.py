"""The plugin's traffic reports: a trace per test, its report section, its files.

The plugin's clients may live for a module or a session; each test gets a `Trace` of its
own all the same (`TestTraces`, the observer the clients carry, records into the running
test's). A failing test's report gets the "asgi traffic" section (`asgi_trace = failed`,
the default; `always`: every test's; `off`: none); with `--asgi-trace-dir`, its trace is
written as JSON and as Markdown with the Mermaid diagram, one pair of files per test (so
pytest-xdist's workers never write the same file); on GitHub Actions the diagrams are
appended to the job's step summary as well, each append one locked write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._trace import Call, Trace
from ._types import Scope

__all__ = ["MODES", "SECTION", "TestTraces", "TraceReports"]

MODES = ("failed", "always", "off")
SECTION = "asgi traffic"
# GitHub refuses a step summary over 1 MiB (and then shows none of it): stop short of it.
_STEP_SUMMARY_LIMIT = 1_000_000
# Mermaid draws a long diagram slowly and GitHub refuses one over 50,000 characters:
# the Markdown files and the summary show the first calls, the JSON keeps them all.
_DIAGRAM_CALLS = 100
# A file name from a test id: its safe characters, cut short, and a hash for uniqueness.
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_CHARS = 120


class TestTraces:
    """The observer the plugin's clients carry: it records into the running test's trace.

    `current` is set for the length of each test that records (None: nothing recorded).
    """

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(self) -> None:
        self.current: Trace | None = None

    def begin(self, caller: str, mount: str | None, scope: Scope) -> Call | None:
        trace = self.current
        return None if trace is None else trace.begin(caller, mount, scope)


@dataclass(frozen=True)
class TraceReports:
    """What the `asgi_trace` ini option, `--asgi-trace-dir` and the CI ask to be shown."""

    mode: str = "failed"
    directory: Path | None = None
    step_summary: Path | None = None

    @classmethod
    def from_options(
        cls, mode: str, directory: str | None, step_summary: str | None
    ) -> TraceReports:
        """Check the options; raise `ValueError` naming the one at fault."""
        mode = (mode or "failed").strip().lower()
        if mode not in MODES:
            raise ValueError(
                f"asgi_trace = {mode!r} is not one of {', '.join(MODES)}: 'failed' shows the "
                "traffic of failing tests in their reports, 'always' of every test, 'off' of none"
            )
        return cls(
            mode,
            Path(directory) if directory else None,
            Path(step_summary) if step_summary else None,
        )

    def records(self, requested: bool) -> bool:
        """Whether a test's traffic is recorded: it is shown, written, or asked for."""
        return requested or self.mode != "off" or self.directory is not None

    def section(self, trace: Trace, *, when: str, failed: bool) -> str | None:
        """The report section for one phase's report: the table of the calls so far.

        Failing reports get it unless the mode is off; with `always`, the call phase's
        report gets it too, so that `-rP` and report plugins show passing tests' traffic.
        A test that made no calls gets none: most of a suite's tests make none.
        """
        if not trace.calls or self.mode == "off":
            return None
        if failed or (self.mode == "always" and when == "call"):
            return trace.table()
        return None

    def finish(self, nodeid: str, trace: Trace, *, failed: bool) -> None:
        """After the test's last phase: write its files and the step summary, as asked."""
        if self.directory is not None and (failed or self.mode == "always"):
            write_files(self.directory, nodeid, trace, failed=failed)
        if self.step_summary is not None and failed and self.mode != "off":
            append_to_step_summary(self.step_summary, nodeid, trace)


def file_stem(nodeid: str) -> str:
    """A file name for a test: readable, safe on every OS, one per test id."""
    digest = hashlib.sha1(nodeid.encode(), usedforsecurity=False).hexdigest()[:8]
    readable = _UNSAFE_IN_NAME.sub("_", nodeid.replace("::", "__")).strip("_.")
    return f"{readable[:_NAME_CHARS]}-{digest}"


def write_files(directory: Path, nodeid: str, trace: Trace, *, failed: bool) -> list[Path]:
    """`<test>.json` (the calls, with the test's id and outcome) and `<test>.md` (the
    table and the Mermaid diagram) in `directory`, made if need be."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(nodeid)
    outcome = "failed" if failed else "passed"
    data = {"test": nodeid, "outcome": outcome, **trace.to_dict()}  # `Trace.from_json` reads it
    json_path, markdown_path = directory / f"{stem}.json", directory / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    markdown_path.write_text(
        f"# {nodeid} ({outcome})\n\n```text\n{trace.table()}\n```\n\n{_diagram(trace)}",
        encoding="utf-8",
    )
    return [json_path, markdown_path]


def append_to_step_summary(path: Path, nodeid: str, trace: Trace) -> None:
    """Append the test's diagram to GitHub's step summary, in one locked write, while
    the summary stays under GitHub's size limit."""
    entry = f"### {SECTION} of `{nodeid}` (failed)\n\n{_diagram(trace)}\n".encode()
    with _locked_for_append(path) as descriptor:
        if os.fstat(descriptor).st_size + len(entry) <= _STEP_SUMMARY_LIMIT:
            os.write(descriptor, entry)


@contextlib.contextmanager
def _locked_for_append(path: Path) -> Iterator[int]:
    """The file opened for appending, locked while it is written where the OS can lock
    (pytest-xdist's workers append to the one summary)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: appends of one write each, unlocked
            yield descriptor
            return
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield descriptor
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _diagram(trace: Trace) -> str:
    calls = list(trace.calls)
    shown = Trace(calls[:_DIAGRAM_CALLS])
    note = (
        f"The first {_DIAGRAM_CALLS} of {len(calls)} calls; the JSON file has them all.\n\n"
        if len(calls) > _DIAGRAM_CALLS
        else ""
    )
    return f"{note}```mermaid\n{shown.to_mermaid()}```\n"
