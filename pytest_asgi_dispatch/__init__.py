"""Test several web apps together, in one process, through one httpx client."""

from ._client import dispatch, dispatch_sync
from ._errors import LifespanError, MountError
from ._live import LiveServer
from ._routing import Dispatcher
from ._trace import Call, Trace
from ._transport import StreamingTransport, SyncStreamingTransport

__all__ = [
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
