"""What an app discloses about a response for tests: its template and context.

Two sources, one record per exchange (`ResponseDebug`), exposed on the httpx response:

- The ASGI `http.response.debug` extension, which the transports offer in every scope:
  an app that sees it sends `{"type": "http.response.debug", "info": {...}}` before its
  response (Starlette's `TemplateResponse` sends `template` and `context`). The info is
  `response.extensions["http.response.debug"]`, its `template` and `context` also
  `response.extensions["template"]` / `["context"]` and, as Starlette's TestClient sets
  them, `response.template` / `response.context`.
- Django's `template_rendered` signal, which Django sends for every template rendered
  once its test environment is set up (pytest-django does it; else
  `django.test.utils.setup_test_environment()`). As `django.test.Client` collects them:
  `response.extensions["templates"]` (and `response.templates`) lists every template,
  `response.extensions["context"]` (and `response.context`) is the context, or the
  `ContextList` of several; `response.extensions["template"]` is the first (the view's).
  A render belongs to the exchange whose task (or its threads: asgiref carries the
  context along) rendered it, through a context variable, so concurrent requests never
  see each other's.

The core imports this module: Django is touched only once the process loaded it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from copy import copy
from typing import Any

__all__ = ["DEBUG_EXTENSION", "ResponseDebug", "expose", "watching"]

DEBUG_EXTENSION = "http.response.debug"


class ResponseDebug:
    """One exchange's disclosures: the debug message's info, Django's renders."""

    __slots__ = ("contexts", "info", "templates")

    def __init__(self) -> None:
        self.info: dict[str, Any] | None = None
        self.templates: list[Any] = []
        self.contexts: list[Any] = []

    @classmethod
    def received(cls, debug: ResponseDebug | None, message: Mapping[str, Any]) -> ResponseDebug:
        """`debug` (or a new record) with the info of an `http.response.debug` message."""
        debug = debug or cls()
        debug.info = dict(message.get("info") or {})
        return debug


_current: ContextVar[ResponseDebug | None] = ContextVar(
    "pytest_asgi_dispatch_response_debug", default=None
)
_connect_lock = threading.Lock()
_connected = False


def watching() -> ResponseDebug | None:
    """A record for the exchange the current context serves, Django's renders going into it.

    Called where the app's task (or the inline path's context) begins; None, at no cost,
    while Django's test instrumentation is not loaded: there is nothing to watch.
    """
    if "django.test.signals" not in sys.modules:
        return None
    if not _connected:
        _connect_to_django()
    debug = ResponseDebug()
    _current.set(debug)
    return debug


def _connect_to_django() -> None:
    global _connected
    with _connect_lock:
        if not _connected:
            from django.test.signals import template_rendered  # type: ignore[import-untyped]

            template_rendered.connect(_rendered, dispatch_uid=__name__, weak=False)
            _connected = True


def _rendered(sender: object, template: Any, context: Any, **kwargs: Any) -> None:
    """As `django.test.client.store_rendered_templates`: the context copied as it was."""
    debug = _current.get()
    if debug is not None:
        debug.templates.append(template)
        debug.contexts.append(copy(context))


def expose(response: Any, debug: ResponseDebug | None) -> None:
    """Put what the app disclosed on the response (see the module's docstring)."""
    if debug is None:
        return
    extensions = response.extensions
    attributes: dict[str, Any] = {}
    if debug.templates:
        from django.test.utils import ContextList  # type: ignore[import-untyped]

        contexts = ContextList(debug.contexts)
        context = contexts[0] if len(contexts) == 1 else contexts  # as Django's client
        extensions.update(templates=debug.templates, template=debug.templates[0])
        extensions["context"] = context
        attributes.update(templates=debug.templates, context=context)
    if debug.info is not None:
        extensions[DEBUG_EXTENSION] = debug.info
        for key in ("template", "context"):
            if key in debug.info:
                extensions[key] = attributes[key] = debug.info[key]
    own = getattr(response, "__dict__", None)  # a response class with slots gets none
    if own is not None:
        own.update(attributes)
