"""What a server refuses in a response body, checked alike on both of the sync client's paths.

The event-loop path checks each message an app sends (`_transport._Exchange`); the inline
path checks the chunks a WSGI app or Django produces on the calling thread (`_inline`,
`_inline_django`). Both take any bytes-like body, byte-exact, and hold a body to its
declared `content-length` as uvicorn does: httpx, given the response in-process, would
take a short or long body as it comes.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DeclaredLength", "as_bytes", "declared_length", "left_after", "length_error"]

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

    __slots__ = ("_declared", "left")

    def __init__(self, declared: int) -> None:
        self._declared = declared
        self.left = declared  # bytes still to come; 0 once the body is whole

    @classmethod
    def of(
        cls, status: int, headers: Iterable[tuple[bytes, bytes]], *, is_head: bool
    ) -> DeclaredLength | None:
        """The length a response declares for its body; None where nothing is to check."""
        declared = declared_length(status, headers, is_head=is_head)
        return None if declared < 0 else cls(declared)

    def take(self, size: int, *, more_body: bool) -> None:
        """Count `size` bytes of the body; raise once it is longer, or ends shorter."""
        self.left = left_after(self._declared, self.left, size, more_body=more_body)


def declared_length(status: int, headers: Iterable[tuple[bytes, bytes]], *, is_head: bool) -> int:
    """The length a response declares for its body, -1 where nothing is to check: the
    plain-int form of `DeclaredLength`, for the event-loop path that every request takes."""
    if is_head or status in _BODILESS_STATUSES:
        return -1
    if isinstance(headers, (list, tuple)):  # a one-shot iterable is left unread
        for name, value in headers:
            if name.lower() == b"content-length":
                return int(value) if value.isdigit() else -1
    return -1


def left_after(declared: int, left: int, size: int, *, more_body: bool) -> int:
    """What is left of a body of `declared` bytes once `size` more came, `left` to come
    before: the plain-int form of `DeclaredLength.take`. Raises once the body is longer,
    or ends shorter."""
    left -= size
    if left < 0 or (left and not more_body):
        raise length_error(declared, left)
    return left


def length_error(declared: int, left: int) -> RuntimeError:
    """The error for a body that went `left` bytes short of `declared` (negative: over)."""
    if left < 0:
        return RuntimeError(
            f"the app's response body is longer than its content-length of {declared} bytes"
        )
    return RuntimeError(
        "the app's response body is shorter than its content-length: "
        f"{declared - left} of {declared} bytes"
    )
