"""The hooks of outbound calls (`_outbound`) in each client library.

They are in place while an `Outbound` is active (`activate()`, `deactivate()`; the
newest active one serves): the first to enter puts them in place, the last to leave
takes them out, so that nothing stays patched between clients, nor at import. Each
asks the serving `Outbound` whether a host is mounted, and sends it what is.

Where, and why there:

- httpx and httpx2: `Client._transport_for_url` / `AsyncClient._transport_for_url`, the
  one place a client picks the transport for a URL. A mounted host gets our transport
  instead of the default one; everything else the client does (auth, redirects,
  cookies, timeouts, event hooks) stays its own. respx and pytest-httpx mock below this
  seam (httpcore's pool, `HTTPTransport.handle_request`), so their mocks keep serving
  the hosts they mock, whichever was entered first, and a client whose transport is not
  a default one (the test's own clients, a `MockTransport`) is never diverted.
- requests: `Session.get_adapter`, likewise: a mounted host gets our adapter instead of
  the default `HTTPAdapter` (`responses` mocks `HTTPAdapter.send`, below it).
- strict: where a connection would be opened, below every mock: httpcore's backends'
  `connect_tcp` (httpx's `ConnectError`) and urllib3's `create_connection` (requests'
  `ConnectionError`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import client as http_client
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import httpx

from ._client_library import HTTPX, ClientLibrary, client_library

if TYPE_CHECKING:
    from ._outbound import Outbound

__all__ = ["activate", "buffered_response", "client_libraries", "copy_request", "deactivate"]

_active: list[Outbound] = []


def activate(outbound: Outbound) -> None:
    """`outbound` serves the calls from now on; the hooks go in place with the first."""
    _active.append(outbound)
    if len(_active) == 1:
        _install_patches()


def deactivate(outbound: Outbound) -> None:
    """`outbound` serves no more; the hooks come out with the last."""
    _active.remove(outbound)
    if not _active:
        for patch in reversed(_patches_in_place):
            patch.undo()
        _patches_in_place.clear()


def _serving() -> Outbound | None:
    return _active[-1] if _active else None


def copy_request(http: ClientLibrary, request: httpx.Request, content: bytes) -> httpx.Request:
    """`request` with its body read, which either face of a transport can send."""
    copy: httpx.Request = http.module.Request(
        request.method,
        request.url,
        headers=request.headers,
        content=content,
        extensions=request.extensions,
    )
    return copy


def buffered_response(http: ClientLibrary, response: httpx.Response, body: bytes) -> httpx.Response:
    """`response`, whose `body` was read where it was served, for a caller elsewhere:
    its headers as the app sent them (none added), its extensions (what the app disclosed
    for tests), the body in one piece."""
    answer: httpx.Response = http.Response(
        response.status_code,
        headers=response.headers.raw,
        stream=http.ByteStream(body),
        extensions=response.extensions,
    )
    return answer


def client_libraries() -> list[ClientLibrary]:
    """httpx, and httpx2 where it is installed: the libraries whose clients are served."""
    return [client_library(name) for name in ("httpx", "httpx2") if _installed(name)]


# --- httpx (and httpx2): the transport picked for a URL ----------------------------


class _OutboundTransport:
    """A sync client's calls to a mounted host: through the sync client's transport.

    Flavoured with each library's `BaseTransport` (`_outbound_transports`)."""

    http: ClientLibrary  # the library's, set on each flavour

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outbound = _serving_or_refuse(self.http, request)
        outbound.check_not_on_loop(f"{self.http.name}.Client", request.url)
        return outbound.transports(self.http).sync.handle_request(request)


class _AsyncOutboundTransport:
    """An async client's calls to a mounted host: on the Dispatcher's loop if that is the
    caller's, else through the sync transport from a worker thread of the caller's loop.

    Flavoured with each library's `AsyncBaseTransport`."""

    http: ClientLibrary

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        http = self.http
        outbound = _serving_or_refuse(http, request)
        if threading.get_ident() == outbound.loop_thread:
            return await outbound.transports(http).async_.handle_async_request(request)
        # Another event loop (a thread the app started runs one): buffered, through a thread.
        copy = copy_request(http, request, await request.aread())

        def send() -> httpx.Response:
            response = outbound.transports(http).sync.handle_request(copy)
            try:
                body = b"".join(response.stream)  # type: ignore[arg-type]
            finally:
                response.close()
            return buffered_response(http, response, body)

        return await anyio.to_thread.run_sync(send)


def _serving_or_refuse(http: ClientLibrary, request: httpx.Request) -> Outbound:
    outbound = _serving()
    if outbound is None:  # closed while the client kept the transport
        connect_error: type[httpx.ConnectError] = http.module.ConnectError
        raise connect_error(f"no app serves {request.url.host} any more", request=request)
    return outbound


@functools.cache
def _outbound_transports(http: ClientLibrary) -> tuple[object, object]:
    """The transports a sync and an async client of `http` get for a mounted host."""
    return (
        http.flavour(_OutboundTransport, http.BaseTransport)(),
        http.flavour(_AsyncOutboundTransport, http.AsyncBaseTransport)(),
    )


def _choosing(
    genuine: Callable[[Any, httpx.URL], Any], default: type, ours: object
) -> Callable[[Callable[[Any, httpx.URL], Any]], Callable[[Any, httpx.URL], Any]]:
    """A client's `_transport_for_url` that picks `ours` for a mounted host where the
    client's own choice (`genuine`, the library's) would be a `default` transport."""

    def patch(previous: Callable[[Any, httpx.URL], Any]) -> Callable[[Any, httpx.URL], Any]:
        def _transport_for_url(client: Any, url: httpx.URL) -> Any:
            outbound = _serving()
            if (
                outbound is not None
                and outbound.diverts(url.host)
                and isinstance(genuine(client, url), default)
            ):
                return ours
            return previous(client, url)

        return _transport_for_url

    return patch


# --- requests: the adapter picked for a URL ------------------------------------------


def _requests_adapter_class() -> type:
    """`_RequestsAdapter`, made on first use: requests is imported only when installed."""
    import requests
    from requests.adapters import BaseAdapter, HTTPAdapter
    from urllib3 import HTTPHeaderDict, HTTPResponse

    class _RequestsAdapter(BaseAdapter):
        """Sends a `requests` call to a mounted host through the sync client's transport."""

        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: Any = None,
            verify: Any = True,
            cert: Any = None,
            proxies: Any = None,
        ) -> requests.Response:
            outbound = _serving()
            if outbound is None:
                raise requests.ConnectionError(f"no app serves {request.url} any more")
            outbound.check_not_on_loop("requests", request.url)
            call = httpx.Request(
                str(request.method),
                _httpx_url(str(request.url)),
                headers=[
                    (_latin_1(name), _latin_1(value)) for name, value in request.headers.items()
                ],
                content=_bytes_of(request.body),
                extensions={"timeout": _httpx_timeout(timeout).as_dict()},
            )
            try:
                response = outbound.transports(HTTPX).sync.handle_request(call)
            except httpx.TimeoutException as exc:
                raise requests.exceptions.ReadTimeout(exc, request=request) from exc
            except httpx.TransportError as exc:
                raise requests.ConnectionError(exc, request=request) from exc
            body: bytes | None = None
            if not stream:  # read now, as HTTPAdapter does; its errors as requests raises them
                try:
                    body = response.read()
                except httpx.TimeoutException as exc:
                    raise requests.ConnectionError(exc, request=request) from exc
                except httpx.TransportError as exc:
                    raise requests.exceptions.ChunkedEncodingError(exc, request=request) from exc
            headers = response.headers.multi_items()
            raw = HTTPResponse(
                body=_body_file(response, body),
                headers=HTTPHeaderDict(headers),
                status=response.status_code,
                reason=http_client.responses.get(response.status_code, ""),
                preload_content=False,
                decode_content=True,
                original_response=_cookie_headers(response, headers),  # type: ignore[arg-type]
                request_url=request.url,
            )
            # HTTPAdapter's own response building: headers, encoding, url, cookies.
            answer: requests.Response = HTTPAdapter.build_response(self, request, raw)  # type: ignore[arg-type]
            if not stream:
                answer.content  # noqa: B018 (in memory already: urllib3 hands it over)
            return answer

        def close(self) -> None:
            pass

    return _RequestsAdapter


def _bytes_of(body: object) -> bytes:
    """A prepared request's body (bytes, text, a file, chunks) as bytes: sent whole."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    read = getattr(body, "read", None)
    if read is not None:
        return _bytes_of(read())
    return b"".join(_bytes_of(chunk) for chunk in body)  # type: ignore[attr-defined]


def _latin_1(text: str | bytes) -> bytes:
    """A header name or value as http.client puts it on the wire (str as Latin-1)."""
    return text if isinstance(text, bytes) else text.encode("latin-1")


def _httpx_timeout(timeout: Any) -> httpx.Timeout:
    """requests' `timeout` (seconds, or (connect, read)) as httpx's."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(connect=connect, read=read, write=None, pool=None)
    return httpx.Timeout(timeout)


@functools.lru_cache(maxsize=1024)
def _httpx_url(url: str) -> httpx.URL:
    """`url` parsed by httpx, once for the calls to the same URL (httpx's URLs are immutable)."""
    return httpx.URL(url)


def _body_file(response: httpx.Response, body: bytes | None) -> io.RawIOBase | io.BytesIO:
    """The response body as urllib3 reads it: the bytes when they were read (without
    `stream`) or the app is done with the response, else read as the app sends them."""
    if body is None and isinstance(response.stream, httpx.ByteStream):
        body = b"".join(response.stream)
    return _RawBody(response) if body is None else io.BytesIO(body)


def _cookie_headers(response: httpx.Response, headers: list[tuple[str, str]]) -> _Headers | None:
    """What requests reads cookies from, when there are any: without a `Set-Cookie`
    (or `Set-Cookie2`) header, requests has nothing to read and skips it."""
    for name, _ in response.headers.raw:
        if name.lower().startswith(b"set-cookie"):
            return _Headers(headers)
    return None


class _Headers:
    """What requests reads of a urllib3 response's `_original_response`: `.msg`."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.msg = http_client.HTTPMessage()
        for name, value in headers:
            self.msg[name] = value

    def isclosed(self) -> bool:
        return True

    def close(self) -> None:
        pass


class _RawBody(io.RawIOBase):
    """The app's response body as a file, read as the app sends it (for urllib3, with
    `stream=True`)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = iter(response.stream)  # type: ignore[arg-type]
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                chunk = next(self._chunks, None)
            # What urllib3 knows from a socket, so that requests raises its own errors.
            except httpx.TimeoutException as exc:
                raise TimeoutError(str(exc)) from exc  # requests' ConnectionError
            except httpx.TransportError as exc:
                raise http_client.HTTPException(str(exc)) from exc  # its ChunkedEncodingError
            if chunk is None:
                return 0
            self._left = chunk
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


def _get_adapter_patch(previous: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    from requests.adapters import HTTPAdapter

    adapter = _requests_adapter_class()()

    def get_adapter(session: Any, url: str) -> Any:
        outbound = _serving()
        found = previous(session, url)
        if outbound is not None and type(found) is HTTPAdapter and outbound.diverts(_host(url)):
            return adapter
        return found

    return get_adapter


def _host(url: str) -> str:
    """The host of `url` as httpx reads it (IDNA decoded), parsed once per netloc."""
    return _host_of_netloc(urlsplit(url).netloc)


@functools.lru_cache(maxsize=256)
def _host_of_netloc(netloc: str) -> str:
    return httpx.URL(f"http://{netloc}/").host


# --- strict: where a connection would be opened -------------------------------------


def _refused(host: str, port: int | None) -> str | None:
    outbound = _serving()
    if outbound is None or not outbound.refuses(host):
        return None
    return outbound.refusal(host, port)


def _connect_tcp_patch(previous: Callable[..., Any], error: type[Exception]) -> Callable[..., Any]:
    def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        refusal = _refused(host, port)
        if refusal is not None:
            raise error(refusal)
        return previous(backend, host, port, *args, **kwargs)

    return connect_tcp


def _async_connect_tcp_patch(
    previous: Callable[..., Any], error: type[Exception]
) -> Callable[..., Any]:
    async def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        refusal = _refused(host, port)
        if refusal is not None:
            raise error(refusal)
        return await previous(backend, host, port, *args, **kwargs)

    return connect_tcp


def _create_connection_patch(previous: Callable[..., Any]) -> Callable[..., Any]:
    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        refusal = _refused(*address)
        if refusal is not None:
            raise OSError(refusal)  # urllib3's NewConnectionError, requests' ConnectionError
        return previous(address, *args, **kwargs)

    return create_connection


# --- putting patches in place, and taking them out -----------------------------------


@dataclass
class _Patch:
    owner: Any
    name: str
    previous: Any
    replacement: Any

    def undo(self) -> None:
        # Someone patched it after us and is still in place: ours stays in their chain,
        # and passes every call through now that no Outbound is active.
        if self.owner.__dict__.get(self.name) is self.replacement:
            setattr(self.owner, self.name, self.previous)


_patches_in_place: list[_Patch] = []


def _patch(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    previous = owner.__dict__[name] if name in owner.__dict__ else getattr(owner, name)
    replacement = make(previous)
    setattr(owner, name, replacement)
    _patches_in_place.append(_Patch(owner, name, previous, replacement))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _install_patches() -> None:
    for http in client_libraries():
        _patch_client_library(http)
    if _installed("requests"):
        import requests
        import urllib3.util.connection

        _patch(requests.Session, "get_adapter", _get_adapter_patch)
        _patch(urllib3.util.connection, "create_connection", _create_connection_patch)


def _patch_client_library(http: ClientLibrary) -> None:
    """httpx's or httpx2's seams (same names in each): one code path for both."""
    module, core = http.module, http.core
    ours, async_ours = _outbound_transports(http)
    for client, default, transport in (
        (http.Client, module.HTTPTransport, ours),
        (http.AsyncClient, module.AsyncHTTPTransport, async_ours),
    ):
        genuine = client.__dict__["_transport_for_url"]
        _patch(client, "_transport_for_url", _choosing(genuine, default, transport))
    backends = f"{core.__name__}._backends"
    sync_backend = importlib.import_module(f"{backends}.sync").SyncBackend
    auto_backend = importlib.import_module(f"{backends}.auto").AutoBackend
    _patch(
        sync_backend,
        "connect_tcp",
        lambda previous: _connect_tcp_patch(previous, core.ConnectError),
    )
    _patch(
        auto_backend,
        "connect_tcp",
        lambda previous: _async_connect_tcp_patch(previous, core.ConnectError),
    )
