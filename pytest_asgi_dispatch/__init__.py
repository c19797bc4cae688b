"""Test several web apps together, in one process, through one httpx client."""

from ._client import dispatch, dispatch_sync
from ._errors import LifespanError, MountError
from ._live import LiveServer
from ._routing import Dispatcher
from ._transport import StreamingTransport, SyncStreamingTransport

__all__ = [
    "Dispatcher",
    "LifespanError",
    "LiveServer",
    "MountError",
    "StreamingTransport",
    "SyncStreamingTransport",
    "dispatch",
    "dispatch_sync",
]
