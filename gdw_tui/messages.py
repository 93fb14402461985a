"""What the app tells its screens. Storage changes reach screens as Textual messages (posted to the
screen on top), not as a counter they poll."""

from __future__ import annotations

from textual.message import Message

from gdw_core.events import Event


class StorageChanged(Message):
    """Something changed in storage: ``event`` is the transition when one was seen (None after a
    dashboard action whose event may not have arrived yet, or a connection change)."""

    def __init__(self, event: Event | None = None) -> None:
        super().__init__()
        self.event = event
