"""What a server refuses in a response body, checked alike on both of the sync client's paths.

The event-loop path checks each message an app sends (`_transport._Exchange`); the inline
path checks the chunks a WSGI app or Django produces on the calling thread (`_inline`,
`_inline_django`). Both take any bytes-like body, byte-exact, and hold a body to its
declared `content-length` as uvicorn does: httpx, given the response in-process, would
take a short or long body as it comes.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DeclaredLength", "as_bytes"]

# Responses that carry no body whatever their `content-length` says (RFC 9110 6.4.1).
_BODILESS_STATUSES = (204, 304)


def as_bytes(body: object) -> bytes | None:
    """`body` as bytes, None if it is not bytes-like.

    A copy of a bytes-like body, since the app may refill its buffer as soon as it is
    handed on, as a server's socket write copies it.
    """
    if body.__class__ is bytes:
        return body
    try:
        return memoryview(body).tobytes()  # type: ignore[arg-type]
    except TypeError:
        return None


class DeclaredLength:
    """A response body's declared `content-length`, and how much of it is still to come."""

    __slots__ = ("_declared", "_left")

    def __init__(self, declared: int) -> None:
        self._declared = declared
        self._left = declared

    @classmethod
    def of(
        cls, status: int, headers: Iterable[tuple[bytes, bytes]], *, is_head: bool
    ) -> DeclaredLength | None:
        """The length a response declares for its body; None where nothing is to check."""
        if is_head or status in _BODILESS_STATUSES:
            return None
        declared = _content_length(headers)
        return None if declared is None else cls(declared)

    def take(self, size: int, *, more_body: bool) -> None:
        """Count `size` bytes of the body; raise once it is longer, or ends shorter."""
        self._left -= size
        if self._left < 0:
            raise RuntimeError(
                "the app's response body is longer than its content-length of "
                f"{self._declared} bytes"
            )
        if not more_body and self._left:
            raise RuntimeError(
                "the app's response body is shorter than its content-length: "
                f"{self._declared - self._left} of {self._declared} bytes"
            )


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared length, if any; headers given as a one-shot iterable are left unread."""
    if isinstance(headers, (list, tuple)):
        for name, value in headers:
            if name.lower() == b"content-length":
                return int(value) if value.isdigit() else None
    return None
