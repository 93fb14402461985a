"""Workflows: task signatures composed into chains, groups and chords, or tied by
``depends_on``; fan-in decided atomically in storage. See docs/workflows.md."""

from gdw_core.workflow.canvas import Chain, Chord, Group, chain, chord, group
from gdw_core.workflow.errors import DependencyCycle, UnknownDependency, WorkflowError
from gdw_core.workflow.handle import WorkflowHandle
from gdw_core.workflow.signature import Signature, sig

__all__ = [
    "Chain",
    "Chord",
    "DependencyCycle",
    "Group",
    "Signature",
    "UnknownDependency",
    "WorkflowError",
    "WorkflowHandle",
    "chain",
    "chord",
    "group",
    "sig",
]
