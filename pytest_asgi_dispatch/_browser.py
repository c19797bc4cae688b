"""The system's Chromium for browser tests: where it is, and how to start it here.

Playwright can drive any Chromium through `executable_path`, so tests need no browser
download (which CI machines with a closed network cannot make): Debian's `chromium`
package will do. `pytest_asgi_dispatch.playwright` wires this to pytest-playwright.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHROMIUM_ENV",
    "CHROMIUM_INI",
    "ChromiumNotFound",
    "chromium_launch_options",
    "find_chromium",
]

# Where a project or a machine names its Chromium; the environment variable wins, since
# it belongs to the machine and the ini option to the project.
CHROMIUM_ENV = "PYTEST_ASGI_DISPATCH_CHROMIUM"
CHROMIUM_INI = "asgi_chromium"
# Looked for when neither names one: Debian's package, then any `chromium` on PATH.
_DEFAULT_CHROMIUMS = ("/usr/bin/chromium", "chromium")

# Chromium's own traffic (component updates, sync, safe browsing lists, first-run
# pages) is of no use to a test and fails on a closed network, many connections at a
# time; the tests' traffic goes to the live server only.
_QUIET_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# Chromium will not start its sandbox as root (containers, CI): it needs this flag there.
_ROOT_FLAGS = ("--no-sandbox",)

_HOW_TO_GET_ONE = (
    "install Debian's (apt-get install chromium), or name one with the "
    f"{CHROMIUM_INI} ini option or the {CHROMIUM_ENV} environment variable"
)


class ChromiumNotFound(LookupError):
    """No Chromium on this machine: browser tests are skipped, saying how to get one."""


def find_chromium(environ: Mapping[str, str], configured: str) -> str:
    """The path of the Chromium to drive: named by `environ`, `configured`, or found.

    A name (`chromium`, `google-chrome`) is looked up on PATH. A Chromium that is named
    but missing is an error, since the setting is wrong; one that is not named and not
    found raises `ChromiumNotFound`, whose message says how to get one.
    """
    for source, name in ((CHROMIUM_ENV, environ.get(CHROMIUM_ENV, "")), (CHROMIUM_INI, configured)):
        if name.strip():
            found = shutil.which(name.strip())
            if found is None:
                raise ValueError(
                    f"{source} names {name.strip()!r}, which is not an executable file "
                    "or a command on PATH; point it at a Chromium, or unset it to use "
                    "/usr/bin/chromium"
                )
            return found
    for candidate in _DEFAULT_CHROMIUMS:
        found = shutil.which(candidate)
        if found is not None:
            return found
    raise ChromiumNotFound(
        f"no Chromium found ({' or '.join(_DEFAULT_CHROMIUMS)} on PATH); {_HOW_TO_GET_ONE}"
    )


def chromium_launch_options(executable: str) -> dict[str, Any]:
    """Playwright's launch options for the Chromium at `executable` on this machine."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return {
        "executable_path": executable,
        "args": [*_QUIET_FLAGS, *(_ROOT_FLAGS if as_root else ())],
    }
