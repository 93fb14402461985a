"""The flow-control tests run on every storage backend (the contract suite's fixtures)."""

from tests.contract.conftest import manual_clock, storage

__all__ = ["manual_clock", "storage"]
