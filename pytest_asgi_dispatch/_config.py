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

from ._client import DEFAULT_BASE_URL, DEFAULT_CLIENT_ADDRESS
from ._client_library import HTTP_CLIENTS, HttpClient, is_installed
from ._errors import MountError
from ._lifespan import DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STARTUP_TIMEOUT
from ._outbound import OutboundMode, check_outbound_mode

__all__ = ["DISPATCH_SCOPES", "AppLine", "Settings", "import_apps", "missing_apps_message"]

DISPATCH_SCOPES = ("function", "module", "session")
# The fixtures serve the apps' calls to each other in-process; the library's default is
# "off", since dispatch() outside pytest should not change how the process makes calls.
PLUGIN_OUTBOUND: OutboundMode = "mounted"


_EXAMPLE_LINE = "/billing = billing.app:app"
_EXAMPLE_FACTORY_LINE = "/billing = billing.app:create_app()"

# `python -m pytest` puts the current folder on sys.path, `pytest` does not: pytest adds
# only the folders of conftest.py files and test modules outside packages (its default
# import mode). So the same project imports under one command and not the other.
_NOT_ON_SYS_PATH = (
    "Is the project folder on sys.path? `python -m pytest` puts the current folder there, "
    "`pytest` does not: add `pythonpath = .` to the [pytest] section of the ini file "
    '(pythonpath = ["."] in pyproject.toml), which puts its folder there for both.'
)


@dataclass(frozen=True)
class AppLine:
    """One `asgi_apps` line: `PREFIX = module:attribute`, or `module:factory()` to call.

    A factory is called with no arguments each time the plugin's `asgi_apps` fixture
    runs, that is once per `asgi_dispatch_scope` (per test by default), so that each
    test, module or session gets an app of its own, as a fixture that calls it would.
    """

    line: str
    prefix: str
    module: str
    attribute: str
    call: bool = False

    @classmethod
    def parse(cls, line: str) -> AppLine:
        prefix, equals, target = (part.strip() for part in line.partition("="))
        if not equals:
            raise MountError(
                f"asgi_apps line {line!r} has no '=': write each line as "
                f"PREFIX = module:attribute, e.g. {_EXAMPLE_LINE!r}"
            )
        module, colon, attribute = (part.strip() for part in target.partition(":"))
        call = attribute.endswith("()")
        if call:
            attribute = attribute[:-2].rstrip()
        if not (colon and module and attribute):
            raise MountError(
                f"asgi_apps line {line!r}: {target!r} is not module:attribute; "
                f"write e.g. {_EXAMPLE_LINE!r}, or {_EXAMPLE_FACTORY_LINE!r} to call a factory"
            )
        if "(" in attribute or ")" in attribute:
            raise MountError(
                f"asgi_apps line {line!r}: the ini calls a factory only with no arguments, "
                f"e.g. {_EXAMPLE_FACTORY_LINE!r}; to pass arguments, declare an asgi_apps "
                "fixture in conftest.py that calls it"
            )
        return cls(line, prefix, module, attribute, call)

    def load(self) -> object:
        """Import the module and return the attribute (dotted paths allowed), or call it."""
        value = self._import()
        for name in self.attribute.split("."):
            try:
                value = getattr(value, name)
            except AttributeError:
                raise MountError(
                    f"asgi_apps line {self.line!r}: module {self.module!r} has no "
                    f"attribute {self.attribute!r}; name the application object, "
                    "e.g. 'app' or 'application', or a factory to call, e.g. 'create_app()'"
                ) from None
        if not self.call:
            return value
        if not callable(value):
            raise MountError(
                f"asgi_apps line {self.line!r}: {self.module}:{self.attribute} is not "
                f"callable; drop the '()' to mount it as it is"
            )
        try:
            return value()
        except Exception as exc:
            raise MountError(
                f"asgi_apps line {self.line!r}: calling {self.module}:{self.attribute}() "
                f"raised {type(exc).__name__}: {exc}"
            ) from exc

    def _import(self) -> object:
        try:
            return importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if not _names_module_or_parent(exc, self.module):
                raise self._import_raised(exc) from exc
            raise MountError(
                f"asgi_apps line {self.line!r}: cannot import module {self.module!r} "
                f"({type(exc).__name__}: {exc}). {_NOT_ON_SYS_PATH}"
            ) from exc
        except Exception as exc:
            raise self._import_raised(exc) from exc

    def _import_raised(self, exc: Exception) -> MountError:
        return MountError(
            f"asgi_apps line {self.line!r}: importing module {self.module!r} raised "
            f"{type(exc).__name__}: {exc}"
        )


def _names_module_or_parent(exc: ModuleNotFoundError, module: str) -> bool:
    """Whether the missing module is the one named, or a package it is in (not a dependency)."""
    return exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))


@dataclass(frozen=True)
class Settings:
    """The plugin's ini options, checked."""

    apps: tuple[AppLine, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    scope: str = "function"
    startup_timeout: float | None = DEFAULT_STARTUP_TIMEOUT
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT
    outbound: OutboundMode = PLUGIN_OUTBOUND  # asgi_outbound
    client_address: tuple[str, int] = DEFAULT_CLIENT_ADDRESS
    http_client: HttpClient = "auto"  # asgi_http_client

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
            outbound=check_outbound_mode(
                (getini("asgi_outbound") or PLUGIN_OUTBOUND).strip(), "asgi_outbound"
            ),
            client_address=_client_address(str(getini("asgi_client_address") or "").strip()),
            http_client=_http_client(str(getini("asgi_http_client") or "auto").strip()),
        )


def import_apps(lines: Iterable[AppLine]) -> dict[str, object]:
    """The mount table the `asgi_apps` lines describe, in their order."""
    return {line.prefix: line.load() for line in lines}


def missing_apps_message(scope: str) -> str:
    """What to write when no mount table was declared, in both ways one can declare it."""
    decorator = "@pytest.fixture" if scope == "function" else f'@pytest.fixture(scope="{scope}")'
    per = "test" if scope == "function" else scope
    return f"""\
no apps to test: declare the mount table, either as a fixture in conftest.py

    {decorator}
    def asgi_apps():
        return {{"/": shop_app, "/billing": billing_app}}

or as the `asgi_apps` ini option, one `PREFIX = module:attribute` per line, with `()`
after a factory to call (once per {per})

    [pytest]
    asgi_apps =
        /        = shop.asgi:application
        /billing = billing.app:create_app()

    # pyproject.toml, [tool.pytest.ini_options]
    asgi_apps = ["/ = shop.asgi:application", "/billing = billing.app:create_app()"]"""


def _lines(value: object) -> list[str]:
    if isinstance(value, str):  # an option declared without a type
        value = value.splitlines()
    return [line.strip() for line in value or () if str(line).strip()]  # type: ignore[attr-defined]


def _client_address(raw: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) as the ASGI `client`; the default when empty."""
    if not raw:
        return DEFAULT_CLIENT_ADDRESS
    host, colon, port = raw.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    valid_host = bool(host) and (bracketed or ":" not in host) and " " not in host
    if not (colon and valid_host and port.isdigit() and int(port) <= 65535):
        raise ValueError(
            f"asgi_client_address = {raw!r} is not HOST:PORT; write e.g. "
            "'203.0.113.7:50000', or '[2001:db8::7]:50000' for IPv6"
        )
    return host, int(port)


def _http_client(raw: str) -> HttpClient:
    """`asgi_http_client`: the fixtures' client library, checked at start-up."""
    for name in HTTP_CLIENTS:
        if raw == name:
            if not is_installed(name):
                raise ValueError(
                    f"asgi_http_client = {raw!r}, but {raw} is not installed: "
                    "pip install 'pytest-asgi-dispatch[httpx2]', or use 'auto'"
                )
            return name
    raise ValueError(
        f"asgi_http_client = {raw!r} is not one of {', '.join(HTTP_CLIENTS)}; "
        "'auto' (the default) is httpx2 when it is installed, else httpx"
    )


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
