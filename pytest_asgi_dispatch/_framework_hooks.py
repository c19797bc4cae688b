"""Hooks that hand a framework-handled exception to `record()`, installed at mount time.

Flask, Quart, Django, Litestar and Falcon catch a view's exception and answer with
their own 500 page. Each offers a hook that sees the exception first; `install_hooks`
connects one, for the app being mounted, and `with_handled_errors` wraps the app so
that each request opens a slot and raises what its hook recorded once the response is
complete. Outside a slot the hooks do nothing, so the app behaves as it always did.

Only frameworks already imported are looked for (through `sys.modules`): mounting an
app never imports a framework. Hooks are installed once per app, however often it is
mounted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from ._handled import RaiseHandled, record
from ._types import ASGIApp

__all__ = ["install_hooks", "with_handled_errors"]

# Attributes under which middleware keeps the app it wraps (Starlette's and our own
# `app`, asgiref's and Channels' `inner`, WhiteNoise's `application`), and Channels'
# ProtocolTypeRouter's table: enough to find a framework's app inside its wrappers.
_WRAPPED_APP_ATTRIBUTES = ("app", "inner", "application")
_WRAPPED_APP_TABLES = ("application_mapping",)
_MAX_WRAPPER_DEPTH = 8


def with_handled_errors(mounted: object, asgi: ASGIApp) -> ASGIApp:
    """`asgi` (the ASGI form of `mounted`), wrapped in `RaiseHandled` if it has hooks."""
    return RaiseHandled(asgi) if install_hooks(mounted) else asgi


def install_hooks(mounted: object) -> bool:
    """Hook the framework apps in `mounted` (itself or inside its wrappers); any found?"""
    hooked = False
    for app in _apps_within(mounted):
        hook = next((hook for is_framework_app, hook in _HOOKS if is_framework_app(app)), None)
        if hook is not None and hook(app):
            hooked = True
    return hooked


def _apps_within(mounted: object) -> list[object]:
    """`mounted` and the apps its wrappers keep, breadth first, each once."""
    found: list[object] = []
    seen: set[int] = set()
    level = [mounted]
    for _ in range(_MAX_WRAPPER_DEPTH):
        below: list[object] = []
        for app in level:
            if id(app) in seen:
                continue
            seen.add(id(app))
            found.append(app)
            below.extend(
                inner
                for name in _WRAPPED_APP_ATTRIBUTES
                if callable(inner := getattr(app, name, None))
            )
            for name in _WRAPPED_APP_TABLES:
                table = getattr(app, name, None)
                if isinstance(table, dict):
                    below.extend(inner for inner in table.values() if callable(inner))
        if not below:
            break
        level = below
    return found


def _instance_of(module: str, class_name: str) -> Callable[[object], bool]:
    """A check for `module.class_name` that is False, without importing, until it is imported."""

    def check(app: object) -> bool:
        loaded = sys.modules.get(module)
        cls = getattr(loaded, class_name, None) if loaded is not None else None
        return cls is not None and isinstance(app, cls)

    return check


# --- Flask and Quart: the `got_request_exception` signal --------------------------------
# Both send it for every exception that becomes a 500, whatever PROPAGATE_EXCEPTIONS
# says, before their 500 handler; under their own test setup (TESTING) they re-raise.


def _record_flask(sender: object, exception: BaseException, **extra: object) -> None:
    record(exception)


async def _record_quart(sender: object, exception: BaseException, **extra: object) -> None:
    # A coroutine: Quart runs a sync receiver in a worker thread, which would cost a hop.
    record(exception)


def _hook_flask(app: object) -> bool:
    from flask.signals import got_request_exception

    # Connecting the same receiver twice for one sender keeps one connection.
    got_request_exception.connect(_record_flask, sender=app, weak=False)
    return True


def _hook_quart(app: object) -> bool:
    from quart.signals import got_request_exception, got_websocket_exception

    got_request_exception.connect(_record_quart, sender=app, weak=False)
    got_websocket_exception.connect(_record_quart, sender=app, weak=False)
    return True


# --- Django: `got_request_exception`, as django.test.Client listens to it ---------------


def _record_django(sender: object, **extra: object) -> None:
    # Django sends the signal from inside its `except` block, without the exception:
    # its own test client reads sys.exc_info() too.
    exception = sys.exc_info()[1]
    if exception is not None:
        record(exception)


def _hook_django(app: object) -> bool:
    from django.core.signals import got_request_exception  # type: ignore[import-untyped]

    # One receiver for every Django handler: Django's signal has no sender.
    got_request_exception.connect(
        _record_django, weak=False, dispatch_uid="pytest_asgi_dispatch.record"
    )
    return True


# --- Litestar: an `after_exception` hook --------------------------------------------------
# Litestar calls it for every exception, before it picks a handler: record only those
# its default handling answers with a 500, as Flask's signal does.


async def _record_litestar(exception: Exception, scope: Any) -> None:
    from litestar.exceptions import HTTPException, WebSocketException

    if isinstance(exception, (HTTPException, WebSocketException)):
        return  # an HTTP error (or websocket close) raised on purpose
    route_handler = scope.get("route_handler")
    handlers = (
        route_handler.resolve_exception_handlers()
        if route_handler is not None
        else scope["litestar_app"].exception_handlers
    )
    if any(cls in handlers for cls in type(exception).__mro__):
        return  # the app answers this type with a handler of its own
    record(exception)


def _hook_litestar(app: Any) -> bool:
    if _record_litestar not in app.after_exception:
        app.after_exception.append(_record_litestar)
    return True


# --- Falcon: the error handler for `Exception` --------------------------------------------
# Falcon's default handler for `Exception` logs the error and composes its 500. Ours
# records the exception and calls that default, so the response is the one Falcon builds.
# An app that registered its own handler for `Exception` handles everything itself.


def _record_falcon_wsgi(
    default: Callable[..., None], req: Any, resp: Any, ex: Exception, params: Any
) -> None:
    record(ex)
    default(req, resp, ex, params)


async def _record_falcon_asgi(
    default: Callable[..., Any], req: Any, resp: Any, ex: Exception, params: Any, ws: Any = None
) -> None:
    record(ex)
    await default(req, resp, ex, params, ws=ws)


def _hook_falcon(app: Any) -> bool:
    # Falcon offers no public way to read a handler back: these two names have held
    # since Falcon 3.0. Should they go, the app is mounted without a hook, as before.
    handlers = getattr(app, "_error_handlers", None)
    default = getattr(app, "_python_error_handler", None)
    if not isinstance(handlers, dict) or default is None:
        return False
    current = handlers.get(Exception)
    if isinstance(current, partial) and current.func in _FALCON_RECORDERS:
        return True  # mounted before
    if current != default:
        return False  # the app's own handler answers every exception
    asgi = sys.modules.get("falcon.asgi")
    is_asgi = asgi is not None and isinstance(app, asgi.App)
    record_then_default = _record_falcon_asgi if is_asgi else _record_falcon_wsgi
    app.add_error_handler(Exception, partial(record_then_default, default))
    return True


_FALCON_RECORDERS = (_record_falcon_wsgi, _record_falcon_asgi)


# Which apps each hook is for, and the hook; a hook says whether it is in place.
_HOOKS: list[tuple[Callable[[object], bool], Callable[[Any], bool]]] = [
    (_instance_of("flask.app", "Flask"), _hook_flask),
    (_instance_of("quart.app", "Quart"), _hook_quart),
    (_instance_of("django.core.handlers.base", "BaseHandler"), _hook_django),
    (_instance_of("litestar.app", "Litestar"), _hook_litestar),
    (_instance_of("falcon.app", "App"), _hook_falcon),
]
