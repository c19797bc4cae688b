"""The plugin's ini options, read and checked: mount lines, base URL, scope, timeouts.

Kept apart from the pytest plugin so that the parsing and its error messages are plain
functions: every error names the option or the `asgi_apps` line at fault and says how
to write it instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._client import DEFAULT_BASE_URL
from ._errors import MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT

__all__ = ["DISPATCH_SCOPES", "AppLine", "Settings", "import_apps", "missing_apps_message"]

DISPATCH_SCOPES = ("function", "module", "session")


@dataclass(frozen=True)
class AppLine:
    """One `asgi_apps` line: `PREFIX = module:attribute`."""

    line: str
    prefix: str
    module: str
    attribute: str

    @classmethod
    def parse(cls, line: str) -> AppLine:
        prefix, equals, target = (part.strip() for part in line.partition("="))
        if not equals:
            raise MountError(
                f"asgi_apps line {line!r} has no '=': write each line as "
                "PREFIX = module:attribute, e.g. '/billing = billing.app:app'"
            )
        module, colon, attribute = (part.strip() for part in target.partition(":"))
        if not (colon and module and attribute):
            raise MountError(
                f"asgi_apps line {line!r}: {target!r} is not module:attribute; "
                "write e.g. '/billing = billing.app:app'"
            )
        return cls(line, prefix, module, attribute)

    def load(self) -> object:
        """Import the module and return the attribute (dotted paths allowed)."""
        try:
            value: object = importlib.import_module(self.module)
        except ImportError as exc:
            raise MountError(
                f"asgi_apps line {self.line!r}: cannot import module {self.module!r} "
                f"({type(exc).__name__}: {exc}); is it on sys.path (pytest's rootdir, or "
                "the `pythonpath` ini option)?"
            ) from exc
        except Exception as exc:
            raise MountError(
                f"asgi_apps line {self.line!r}: importing module {self.module!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for name in self.attribute.split("."):
            try:
                value = getattr(value, name)
            except AttributeError:
                raise MountError(
                    f"asgi_apps line {self.line!r}: module {self.module!r} has no "
                    f"attribute {self.attribute!r}; name the application object, "
                    "e.g. 'app' or 'application'"
                ) from None
        return value


@dataclass(frozen=True)
class Settings:
    """The plugin's ini options, checked."""

    apps: tuple[AppLine, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    scope: str = "function"
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT

    @classmethod
    def from_ini(cls, getini: Callable[[str], Any]) -> Settings:
        """Read and check every option; raise `ValueError` naming the one at fault."""
        scope = (getini("asgi_dispatch_scope") or "function").strip()
        if scope not in DISPATCH_SCOPES:
            raise ValueError(
                f"asgi_dispatch_scope = {scope!r} is not one of {', '.join(DISPATCH_SCOPES)}"
            )
        return cls(
            apps=tuple(AppLine.parse(line) for line in _lines(getini("asgi_apps"))),
            base_url=(getini("asgi_base_url") or DEFAULT_BASE_URL).strip(),
            scope=scope,
            startup_timeout=_timeout(getini, "asgi_startup_timeout", DEFAULT_STARTUP_TIMEOUT),
            shutdown_timeout=_timeout(getini, "asgi_shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT),
        )


def import_apps(lines: Iterable[AppLine]) -> dict[str, object]:
    """The mount table the `asgi_apps` lines describe, in their order."""
    return {line.prefix: line.load() for line in lines}


def missing_apps_message(scope: str) -> str:
    """What to write when no mount table was declared, in both ways one can declare it."""
    decorator = "@pytest.fixture" if scope == "function" else f'@pytest.fixture(scope="{scope}")'
    return f"""\
no apps to test: declare the mount table, either as a fixture in conftest.py

    {decorator}
    def asgi_apps():
        return {{"/": shop_app, "/billing": billing_app}}

or as the `asgi_apps` ini option, one `PREFIX = module:attribute` per line

    [pytest]
    asgi_apps =
        /        = shop.asgi:application
        /billing = billing.app:app

    # pyproject.toml, [tool.pytest.ini_options]
    asgi_apps = ["/ = shop.asgi:application", "/billing = billing.app:app"]"""


def _lines(value: object) -> list[str]:
    if isinstance(value, str):  # an option declared without a type
        value = value.splitlines()
    return [line.strip() for line in value or () if str(line).strip()]  # type: ignore[attr-defined]


def _timeout(getini: Callable[[str], Any], name: str, default: float) -> float | None:
    raw = str(getini(name) or "").strip()
    if not raw:
        return default
    if raw.lower() == "none":
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(
            f"{name} = {raw!r} is not a number of seconds; write e.g. '{default:g}', "
            "or 'none' to wait forever"
        )
    return seconds
