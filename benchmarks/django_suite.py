"""A real Django project's own test suite, stock and switched to the combined site.

    python benchmarks/django_suite.py CHECKOUT [--settings tests.settings]
        [--runner django|pytest] [--rounds 3] [-- ARGUMENT ...]

CHECKOUT is a project's source tree whose test requirements are installed in this
Python; the arguments after `--` go to the runner (`django-admin test`, or pytest).
Each round runs the suite twice, in fresh processes, interleaved: stock, and
switched to `pytest_asgi_dispatch.django.Client` by the one line a project would write
(here done from outside, before the suite is imported: `django.test.Client` and
`SimpleTestCase.client_class` become a `Client` subclass whose table mounts the project's
own ASGI handler at / beside a Flask app at /flaskr). It prints each round's wall time,
CPU time (user + system: less sensitive to other work on the machine) and test counts,
then the medians and their ratios.

The project's code is not changed or kept: only its checkout's path is given.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

MODES = ("stock", "switched")
# The summary lines of Django's runner and of pytest, for the counts of each round.
_COUNTS = re.compile(
    r"^(Ran \d+ tests?.*|(OK|FAILED)\b.*|=* ?\d+ (passed|failed)\b.*)$", re.MULTILINE
)


def switch_to_the_combined_site() -> None:
    """What `client_class = Client` does, for every TestCase and pytest-django's fixtures."""
    import django

    django.setup()
    import django.test
    import django.test.client
    from django.core.asgi import get_asgi_application
    from django.test.testcases import SimpleTestCase
    from flask import Flask

    from pytest_asgi_dispatch.django import Client

    billing = Flask("billing")
    billing.add_url_rule("/", "index", lambda: "billing")

    class CombinedSiteClient(Client):  # type: ignore[misc]
        mounts: ClassVar[dict[str, object]] = {"/": get_asgi_application(), "/flaskr": billing}

    django.test.Client = django.test.client.Client = CombinedSiteClient
    SimpleTestCase.client_class = CombinedSiteClient


def pytest_configure() -> None:
    """As a pytest plugin (`-p django_suite`): switch before the suite is collected."""
    switch_to_the_combined_site()


def child(mode: str, runner: str, labels: list[str]) -> int:
    """Run the suite in this process (the current folder is the checkout)."""
    if runner == "pytest":
        import pytest

        plugins = ["-p", "django_suite"] if mode == "switched" else []
        return int(pytest.main(["-q", "-p", "no:cacheprovider", *plugins, *labels]))
    from django.core.management import execute_from_command_line

    if mode == "switched":
        switch_to_the_combined_site()
    execute_from_command_line(["django-admin", "test", *labels])
    return 0


def run_once(args: argparse.Namespace, mode: str) -> tuple[float, float, str]:
    """Wall time, CPU time and the runner's summary lines of one run of the suite."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": args.settings,
        "PYTHONPATH": os.pathsep.join([str(args.checkout), str(Path(__file__).parent)]),
    }
    command = [sys.executable, __file__, "--child", mode, "--runner", args.runner, "--"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [*command, *args.arguments], cwd=args.checkout, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counts = " | ".join(
        match.group(0).strip("= ") for match in _COUNTS.finditer(done.stderr + done.stdout)
    )
    return elapsed, cpu, counts or f"exit {done.returncode}: {done.stderr[-500:]}"


def main() -> None:
    argv = sys.argv[1:]
    arguments = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, nargs="?")
    parser.add_argument("--settings", default="tests.settings")
    parser.add_argument("--runner", choices=("django", "pytest"), default="django")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.arguments = arguments
    if args.child:
        sys.exit(child(args.child, args.runner, arguments))
    if args.checkout is None:
        parser.error("give the checkout of a Django project")
    args.checkout = args.checkout.resolve()
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            elapsed, cpu, counts = run_once(args, mode)
            runs[mode].append((elapsed, cpu))
            print(
                f"round {round_} {mode:8} {elapsed:6.2f} s, CPU {cpu:6.2f} s  {counts}", flush=True
            )
    medians = {
        mode: tuple(statistics.median(run[i] for run in runs[mode]) for i in (0, 1))
        for mode in MODES
    }
    for mode in MODES:
        print(f"median {mode:8} {medians[mode][0]:6.2f} s, CPU {medians[mode][1]:6.2f} s")
    wall, cpu = (medians["switched"][i] / medians["stock"][i] for i in (0, 1))
    print(f"switched / stock: {wall:.2f}x wall, {cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
