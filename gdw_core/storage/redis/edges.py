"""How a workflow node's edges and fields are kept in its task hash: ``par`` / ``ch`` hold
``"queue id;"`` entries (the queue tells the scripts where the other task's keys are)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def edge_ids(value: str | None) -> list[str]:
    """The ids of a ``"queue id;"`` edge list."""
    if not value:
        return []
    return [part.split(" ", 1)[1] for part in value.split(";") if " " in part]


def workflow_fields(h: Mapping[str, str]) -> dict[str, Any]:
    """The workflow fields of a task hash, as TaskRecord.from_dict takes them ({} outside one)."""
    if "par" not in h and "ch" not in h:
        return {}
    return {
        "workflow": h.get("wf") or None,
        "parents": edge_ids(h.get("par")),
        "children": edge_ids(h.get("ch")),
        "takes": h.get("tk") or "",
        "feeds": int(h.get("fd") or 0),
        "on_parent_failure": h.get("opf") or "cancel",
        "cancelled_by": h.get("cby") or None,
        "waiting": int(h.get("wait") or 0),
    }
