"""Django's ASGI handler, served on the calling thread through Django's synchronous path.

`django.test.Client` runs a request through a `BaseHandler` whose middleware is loaded
for sync use; this does the same, with a copy of the mounted `ASGIHandler` (so that a
subclass's request class and error handling still apply), and otherwise does what the
ASGI handler does with a request: the body read whole first, `root_path` as the script
prefix, `request_started` with the scope, an `ASGIRequest` (so `request.META` and
`request.scope` are what the ASGI handler would build), its headers encoded as its
`send_response` encodes them, `request_finished` once the response is closed. Unlike
Django's test client, CSRF checks stay on: the site behaves as served.

Async views and async-only middleware are adapted by Django (`async_to_sync`), as under
its test client. A streaming response is iterated as the ASGI handler iterates it,
through `aiter(response)`, one part per call on the portal's event loop, in the
request's script prefix and URLconf.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import io
import sys
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any, TypeVar

import httpx
from django.conf import settings  # type: ignore[import-untyped]
from django.core import signals  # type: ignore[import-untyped]
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # type: ignore[import-untyped]
from django.http import FileResponse, HttpResponseBase  # type: ignore[import-untyped]
from django.urls import (  # type: ignore[import-untyped]
    get_script_prefix as current_script_prefix,
)
from django.urls import get_urlconf, set_script_prefix, set_urlconf

from ._inline import InlineCall, PortalCall
from ._response_checks import DeclaredLength
from ._types import Scope

__all__ = ["DjangoRunner"]

T = TypeVar("T")


class DjangoRunner:
    """Serves requests for one mounted `ASGIHandler` on the calling thread."""

    may_serve_django = True

    def __init__(self, handler: ASGIHandler, portal_call: PortalCall) -> None:
        self._handler = copy.copy(handler)  # the mounted one keeps its async middleware
        self._handler.load_middleware(is_async=False)
        self._portal_call = portal_call

    def __call__(self, request: httpx.Request, scope: Scope, call: InlineCall) -> httpx.Response:
        body_file = _read_body(request.stream)  # type: ignore[arg-type]
        try:
            response, body = call.step(self._respond, scope, body_file, call)
        except Exception as exc:
            body_file.close()
            call.fail(exc)
            return call.failed_before_responding()
        call.responded(response.status_code)
        headers = _headers_of(response)
        # Checked as the event-loop path checks what the ASGI handler sends.
        length = DeclaredLength.of(response.status_code, headers, is_head=call.is_head)
        if isinstance(body, bytes):
            complete = True
            if length is not None:
                try:
                    length.take(len(body), more_body=False)
                except RuntimeError as exc:
                    call.fail(exc)
                    complete = False
            call.finish(complete=complete)
            stream = call.http.ByteStream(b"" if call.is_head else body)
            return call.http.Response(response.status_code, headers=headers, stream=stream)
        body.length = length
        return call.http.Response(
            response.status_code, headers=headers, stream=call.streamed(b"", body)
        )

    def _respond(
        self, scope: Scope, body_file: Any, call: InlineCall
    ) -> tuple[HttpResponseBase, bytes | _StreamedBody]:
        """What `ASGIHandler.handle` does with a request, the sync way (in its context).

        The response's body: its content, the response closed; or the streamed parts.
        """
        handler = self._handler
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=handler.__class__, scope=scope)
        request, response = handler.create_request(scope, body_file)
        if request is None:
            body_file.close()  # `response` answers a request Django could not build
        else:
            response = handler.get_response(request)
            response._handler_class = handler.__class__
            if isinstance(response, FileResponse):
                response.block_size = handler.chunk_size  # as `ASGIHandler.run_get_response`
        if response.streaming:
            parts = _StreamedParts(response, handler.chunk_size, self._portal_call)
            return response, _StreamedBody(response, body_file, parts)
        content: bytes = response.content
        try:
            _close(response, body_file)
        except Exception as exc:
            call.fail(exc)  # raised by a `request_finished` receiver, the response complete
        return response, content


class _StreamedBody:
    """A streaming response's body, closed as the ASGI handler closes it.

    At the end, or when the client leaves, the parts' iterator is closed, then the
    response (`request_finished`). When the iterator raises, the response is left open:
    the ASGI handler raises before it gets to close it (the body file is closed all
    the same, where the ASGI handler leaves it to the garbage collector's warning).
    """

    def __init__(self, response: HttpResponseBase, body_file: Any, parts: _StreamedParts):
        self._response = response
        self._body_file = body_file
        self._parts = parts
        self.length: DeclaredLength | None = None  # the response's content-length, to check
        self.complete = False
        self._closed = False

    def next_chunk(self) -> bytes | None:
        try:
            chunk = self._parts.next_chunk()
            if self.length is not None:
                self.length.take(0 if chunk is None else len(chunk), more_body=chunk is not None)
        except BaseException:
            self._closed = True
            try:
                with contextlib.suppress(Exception):
                    self._parts.close()
            finally:
                self._body_file.close()
            raise
        if chunk is None:
            self.complete = True
            self.close()
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._parts.close()
        finally:
            _close(self._response, self._body_file)


def _close(response: HttpResponseBase, body_file: Any) -> None:
    """Close the response (`request_finished`), then the body, as the ASGI handler does."""
    try:
        response.close()
    finally:
        body_file.close()


def _read_body(chunks: Iterable[bytes]) -> Any:
    """The request body in a spooled file, as `ASGIHandler.read_body` keeps it.

    An empty body (most requests) in a `BytesIO`, which is what the spooled file holds
    until it rolls over to disk: a tenth of its cost, and nothing a view can tell apart.
    """
    chunks = iter(chunks)
    for first in chunks:
        if first:
            break
    else:
        return io.BytesIO()
    body_file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed with the response)
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
    )
    body_file.write(first)
    for chunk in chunks:  # one at a time: a large body rolls over to disk as it comes
        body_file.write(chunk)
    body_file.seek(0)
    return body_file


def _headers_of(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """The response's headers and cookies, encoded as `ASGIHandler.send_response` does."""
    headers = []
    for header, value in response.items():
        name = header.encode("ascii") if isinstance(header, str) else bytes(header)
        data = value.encode("latin1") if isinstance(value, str) else bytes(value)
        headers.append((name, data))
    if response.cookies:
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


class _StreamedParts:
    """A streaming response's body, read as `ASGIHandler.send_response` reads it.

    Through Django's own `aiter(response)`: an async iterator part by part, a sync one
    consumed whole (with Django's warning); each part cut to the handler's chunk size.
    Parts are awaited on the portal's event loop (thread-sensitive work served on this
    thread meanwhile), all in one context that has the request's script prefix and
    URLconf: asgiref's `Local` keeps them per thread, so they are set again there.
    """

    def __init__(
        self, response: HttpResponseBase, chunk_size: int, portal_call: PortalCall
    ) -> None:
        self._parts: AsyncIterator[bytes] = aiter(response)
        self._chunk_size = chunk_size
        self._portal_call = portal_call
        self._chunks: deque[bytes] = deque()
        # Made in the request's context, on this thread: its script prefix and URLconf.
        self._prefix = current_script_prefix()
        self._urlconf: str | None = get_urlconf()
        self._context: contextvars.Context | None = None

    def next_chunk(self) -> bytes | None:
        while not self._chunks:
            part: bytes | None = self._portal_call(
                self._in_request_context, _next_part, self._parts
            )
            if part is None:
                return None
            size = self._chunk_size
            self._chunks.extend(part[i : i + size] for i in range(0, len(part), size))
        return self._chunks.popleft()

    def close(self) -> None:
        self._portal_call(self._in_request_context, _aclose, self._parts)

    async def _in_request_context(
        self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any
    ) -> T:
        if self._context is None:
            set_script_prefix(self._prefix)
            set_urlconf(self._urlconf)
            self._context = contextvars.copy_context()
        return await _task_in(self._context, function(*args))


async def _next_part(parts: AsyncIterator[bytes]) -> bytes | None:
    return await anext(parts, None)


async def _aclose(parts: AsyncIterator[bytes]) -> None:
    aclose = getattr(parts, "aclose", None)
    if aclose is not None:
        await aclose()


def _task_in(context: contextvars.Context, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task running `coroutine` in `context` itself (before Python 3.11, in a copy)."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 11):
        return loop.create_task(coroutine, context=context)
    return context.run(loop.create_task, coroutine)
