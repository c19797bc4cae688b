"""The public surface: it changes only on purpose, and this test says when it does."""

from __future__ import annotations

import pytest_asgi_dispatch


def test_public_names_are_exactly_these() -> None:
    assert pytest_asgi_dispatch.__all__ == [
        "Call",
        "Dispatcher",
        "LifespanError",
        "LiveServer",
        "MountError",
        "StreamingTransport",
        "SyncStreamingTransport",
        "Trace",
        "dispatch",
        "dispatch_sync",
    ]


def test_every_public_name_is_importable_from_the_package_root() -> None:
    missing = [
        name for name in pytest_asgi_dispatch.__all__ if not hasattr(pytest_asgi_dispatch, name)
    ]

    assert missing == []


def test_errors_are_the_contracts_builtin_kinds() -> None:
    assert issubclass(pytest_asgi_dispatch.MountError, ValueError)
    assert issubclass(pytest_asgi_dispatch.LifespanError, RuntimeError)
