"""Storage: one protocol (:mod:`gdw_core.storage.protocol`), two backends (memory, Redis)."""

from gdw_core.storage.memory import MemoryStorage
from gdw_core.storage.protocol import (
    Ack,
    Command,
    HeartbeatReply,
    Lease,
    QueueInfo,
    Retention,
    Storage,
)

__all__ = [
    "Ack",
    "Command",
    "HeartbeatReply",
    "Lease",
    "MemoryStorage",
    "QueueInfo",
    "Retention",
    "Storage",
]
